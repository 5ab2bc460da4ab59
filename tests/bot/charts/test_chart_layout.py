"""Chart text is laid out without overlap, gaps are shaded and named, a window is fitted to the data.

Every check here measures the drawn figure: the boxes matplotlib gives each text when drawing with the
same Agg renderer the PNG is made with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from bot.charts import draw as charts
from bot.charts.data import chart_spec_from_repo, event_chart_spec, stored_span
from bot.charts.draw import ChartSpec, build_figure, marker_groups
from bot.replay.backtest import UNNAMED_RULE_ID, backtest
from feeds.replay import parse_time
from storage.repo import Repo, RuleRow
from storage.rows import DAY_MS, HOUR_MS
from tests.bot.charts.test_charts import WEEK_END, WEEK_START, by_gid, scenario
from tests.bot.charts.text_layout import overlapping

__all__ = ["scenario"]  # the module-scoped fixture, shared with test_charts


def labelled_markers(fig: Figure) -> list[str]:
    return [a.get_text() for a in by_gid(fig, charts.GID_MARKER_LABEL) if isinstance(a, Text)]


def default_chart(repo: Repo) -> ChartSpec:
    """The chart /chart and `tripwire chart` draw by default: the last 7 days stored."""
    _, last = stored_span(repo, "BTCUSDT")
    return chart_spec_from_repo(repo, "BTCUSDT", None, last - 7 * DAY_MS, last)


def test_no_text_overlaps_on_the_bundled_week(scenario: Repo) -> None:
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END))
    assert overlapping(fig) == []
    # A control: the measure does find overlaps where there are some.
    fig.text(0.5, 0.5, "one label")
    fig.text(0.5, 0.5, "another label")
    assert ("one label", "another label") in overlapping(fig)


def test_every_marker_of_the_default_week_is_numbered_and_keyed(scenario: Repo) -> None:
    spec = default_chart(scenario)
    # The example rules fire 17 times in the bundled data's last week.
    assert len(marker_groups(spec)) > charts.MAX_NAMED_MARKER_GROUPS and len(spec.markers) >= 14
    fig = build_figure(spec)
    assert overlapping(fig) == []
    # Past a few groups of markers, each carries numbers and the key names each number's rule.
    keys = [a.get_text() for a in by_gid(fig, charts.GID_MARKER_KEY) if isinstance(a, Text)]
    rules = sorted({m.label for m in spec.markers})
    assert sorted(k.split(" ", 1)[1] for k in keys) == rules
    numbers = {n for text in labelled_markers(fig) for n in text.split(",")}
    assert numbers == {k.split(" ", 1)[0] for k in keys}
    assert len(labelled_markers(fig)) == len(marker_groups(spec, keyed=True))


def test_few_markers_are_named_beside_them(scenario: Repo) -> None:
    rule = scenario.rule("btc-95k")
    assert rule is not None
    events = [e for e in scenario.events(rule_id="btc-95k") if e.state == "firing"]
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END, [rule], events))
    assert labelled_markers(fig) == ["btc-95k"]
    assert not by_gid(fig, charts.GID_MARKER_KEY)
    assert overlapping(fig) == []


def test_level_prices_are_tagged_on_the_axis_clear_of_the_candles(scenario: Repo) -> None:
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END))
    price_ax = fig.axes[0]
    (tag,) = by_gid(fig, charts.GID_LEVEL_TAG)
    assert isinstance(tag, Text) and tag.get_text() == "95,000"
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    # Right of the panel, where no candle is drawn; the level's rules are named in the key.
    assert Text.get_window_extent(tag, canvas.get_renderer()).x0 >= price_ax.get_window_extent().x1
    (key,) = by_gid(fig, charts.GID_LEVEL_LABEL)
    assert (
        isinstance(key, Text)
        and "btc-95k, btc-95k-daily-close, btc-95k-weekly-close +1 95,000" in key.get_text()
    )


def test_close_levels_get_tags_that_do_not_overlap(scenario: Repo) -> None:
    rules = [
        RuleRow(
            id=f"lvl-{p}", origin="config", detector="level_cross", symbol="BTCUSDT", settings={"level": p}
        )
        for p in (94_900, 95_000, 95_050, 95_100)
    ]
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END, rules, []))
    assert len(by_gid(fig, charts.GID_LEVEL_TAG)) == 4
    assert overlapping(fig) == []


def test_alert_charts_have_no_overlapping_text(scenario: Repo) -> None:
    events = [
        e for e in scenario.events(limit=1000) if e.state == "firing" and e.symbol in ("BTCUSDT", "ETHUSDT")
    ]
    # Every fifth alert of the bundled replay (all detectors, both symbols), and the 95k break.
    chosen = events[::5] + [e for e in events if e.rule_id == "btc-95k"]
    assert len(chosen) >= 8
    for event in chosen:
        fig = build_figure(event_chart_spec(scenario, event))
        assert overlapping(fig) == [], f"alert {event.id} ({event.rule_id})"


def test_the_alert_test_chart_names_the_new_rule_and_has_no_overlaps(
    scenario: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[ChartSpec] = []
    real = charts.render_chart

    def render_and_keep(spec: ChartSpec) -> bytes:
        drawn.append(spec)
        return real(spec)

    # Observe the spec the backtest draws (it is still rendered by the real function).
    monkeypatch.setattr(charts, "render_chart", render_and_keep)
    rule = RuleRow(
        id=UNNAMED_RULE_ID,
        origin="discord",
        detector="level_cross",
        symbol="BTCUSDT",
        settings={"level": 95000, "direction": "up"},
    )
    result = backtest(scenario, rule, days=30)
    assert result.chart_png is not None
    (spec,) = drawn
    assert spec.title == "Backtest: a new level_cross alert on BTCUSDT would have fired 1 time"
    # The rule has no id yet: its level and marker say what it is, not the internal "backtest".
    assert [lv.label for lv in spec.levels] == ["new alert 95,000"]
    assert [m.label for m in spec.markers] == ["new alert"]
    assert overlapping(build_figure(spec)) == []


def test_a_window_longer_than_the_data_is_fitted_and_says_so(scenario: Repo) -> None:
    first, last = stored_span(scenario, "BTCUSDT")
    spec = chart_spec_from_repo(scenario, "BTCUSDT", None, last - 90 * DAY_MS, last)
    assert spec.start == first
    assert f"nothing stored before {_utc(first)}" in spec.subtitle
    assert f"asked from {_utc(last - 90 * DAY_MS)}" in spec.subtitle
    # The shown x-range starts at the data, not 70 empty days earlier.
    assert build_figure(spec).axes[0].get_xlim()[0] == pytest.approx(charts.to_x(first))


def _utc(ms: int) -> str:
    from bot.charts.data import utc_text

    return utc_text(ms)


@pytest.fixture
def gappy(scenario: Repo) -> Iterator[ChartSpec]:
    """The bundled week with six hours of candles taken out (synthetic gap) and a stale last day."""
    week = chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END)
    hole = (parse_time("2026-01-12T03:00Z"), parse_time("2026-01-12T09:00Z"))
    stale_from = WEEK_END - DAY_MS
    kept = tuple(b for b in week.candles if not hole[0] <= b.open_time < hole[1] and b.open_time < stale_from)
    yield replace(week, candles=kept)


def test_gaps_and_stale_data_are_shaded_and_named(gappy: ChartSpec) -> None:
    assert gappy.gaps() == [
        (parse_time("2026-01-12T03:00Z"), parse_time("2026-01-12T09:00Z")),
        (WEEK_END - DAY_MS, WEEK_END),
    ]
    fig = build_figure(gappy)
    # One shaded span per gap on each of the three panels.
    assert len(by_gid(fig, charts.GID_GAP)) == 2 * 3
    (note,) = by_gid(fig, charts.GID_GAP_LABEL)
    assert isinstance(note, Text) and note.get_text() == "░ no data in 2 shaded spans"
    assert overlapping(fig) == []
    day13 = parse_time("2026-01-13")
    stale = replace(gappy, start=day13, candles=tuple(b for b in gappy.candles if b.open_time >= day13))
    (note,) = by_gid(build_figure(stale), charts.GID_GAP_LABEL)
    assert isinstance(note, Text) and note.get_text() == "░ no data since Jan 16 00:00"


def test_the_close_line_breaks_at_a_gap(gappy: ChartSpec) -> None:
    line_spec = replace(gappy, line_threshold=10)
    (line,) = by_gid(build_figure(line_spec), charts.GID_PRICE_LINE)
    assert isinstance(line, Line2D)
    ys = list(line.get_ydata())
    assert sum(1 for y in ys if y != y) == 1  # one NaN: the line stops at the gap and starts again after it
    assert len(ys) == len(gappy.candles) + 1


def test_a_complete_week_has_no_gap(scenario: Repo) -> None:
    spec = chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END)
    assert spec.gaps() == []
    assert not by_gid(build_figure(spec), charts.GID_GAP)
    assert spec.candles[-1].close_time - spec.candles[0].open_time == 168 * HOUR_MS
