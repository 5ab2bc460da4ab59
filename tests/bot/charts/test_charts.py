"""Charts of the bundled January 2026 scenario, checked through the figure's artists (not pixels)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from bot.alerts.routing import AlertRouter
from bot.charts import draw as charts
from bot.charts.data import chart_spec_from_repo, event_chart_spec, load_candles
from bot.charts.draw import ChartSpec, build_figure, render_chart, render_png
from bot.config import load_config
from bot.errors import UserError
from bot.replay.pipeline import run_replay
from feeds.replay import load_directory, parse_time
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import Candle
from tests.conftest import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
H = 3_600_000
WEEK_START = parse_time("2026-01-10")
WEEK_END = parse_time("2026-01-17")  # 2026-01-10..16 inclusive: 168 hourly candles


def utc(*args: int) -> float:
    """Return matplotlib's own date number for a UTC time (independent of bot.charts.draw.to_x)."""
    return float(mdates.date2num(datetime(*args, tzinfo=UTC)))


@pytest.fixture(scope="module")
def scenario() -> Iterator[Repo]:
    """The bundled scenario replayed (rules of the bundled config) into an in-memory database."""
    config = load_config(ROOT / "bot" / "scenario" / "config.example.toml")
    db = open_database(":memory:")
    repo = Repo(db)
    asyncio.run(
        run_replay(
            config,
            load_directory(ROOT / "bot" / "scenario"),
            repo,
            [],
            lambda r: AlertRouter(r, config.routes, console=False, discord=False),
            start=parse_time("2026-01-01"),
        )
    )
    yield repo
    db.conn.close()


@pytest.fixture(scope="module")
def week(scenario: Repo) -> ChartSpec:
    return chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END)


@pytest.fixture(scope="module")
def week_figure(week: ChartSpec) -> Figure:
    return build_figure(week)


def by_gid(fig: Figure, gid: str) -> list[Artist]:
    return list(fig.findobj(lambda a: a.get_gid() == gid))


def one(fig: Figure, gid: str) -> Artist:
    (artist,) = by_gid(fig, gid)
    return artist


def bars_of(collection: Artist) -> list[tuple[float, float, float]]:
    """Return (x centre, bottom, height) of each rectangle of a PolyCollection."""
    assert isinstance(collection, PolyCollection)
    out = []
    for path in collection.get_paths():
        xs = [v[0] for v in path.vertices[:4]]
        ys = [v[1] for v in path.vertices[:4]]
        out.append(((min(xs) + max(xs)) / 2, ys[0], ys[2] - ys[0]))
    return out


def test_the_95k_level_is_a_labelled_line(week_figure: Figure) -> None:
    (line,) = [a for a in by_gid(week_figure, charts.GID_LEVEL) if isinstance(a, Line2D)]
    assert list(line.get_ydata()) == [95_000, 95_000]
    (label,) = by_gid(week_figure, charts.GID_LEVEL_LABEL)
    assert isinstance(label, Text)
    # Three rules of the bundled config watch 95,000: one line, their ids merged on its label.
    assert label.get_text() == "btc-95k, btc-95k-daily-close, btc-95k-weekly-close +1 95,000"


def test_one_rule_gives_the_plain_label(scenario: Repo) -> None:
    rule = scenario.rule("btc-95k")
    assert rule is not None
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END, rules=[rule]))
    (label,) = by_gid(fig, charts.GID_LEVEL_LABEL)
    assert isinstance(label, Text) and label.get_text() == "btc-95k 95,000"


def test_a_level_far_from_the_prices_is_listed_not_drawn(scenario: Repo) -> None:
    far = RuleRow(
        id="btc-150k", origin="config", detector="level_cross", symbol="BTCUSDT", settings={"level": 150000}
    )
    fig = build_figure(chart_spec_from_repo(scenario, "BTCUSDT", "1h", WEEK_START, WEEK_END, rules=[far]))
    assert not by_gid(fig, charts.GID_LEVEL)
    note = one(fig, charts.GID_LEVELS_OFF_CHART)
    assert isinstance(note, Text) and "↑ btc-150k 150,000" in note.get_text()


def test_alert_markers_sit_where_the_alerts_fired(week_figure: Figure) -> None:
    points = []
    for collection in by_gid(week_figure, charts.GID_MARKERS):
        assert isinstance(collection, PathCollection)
        points += [tuple(p) for p in collection.get_offsets()]
    # btc-95k fired at the close of the 22:00 breakout candle; the daily-close rule at the day's close.
    assert pytest.approx((utc(2026, 1, 13, 23), 95_757.21)) in points
    assert pytest.approx((utc(2026, 1, 14, 0), 95_414.0)) in points
    # Ten rules fired that week: markers carry numbers, the key above names each number's rule.
    keys = [a.get_text() for a in by_gid(week_figure, charts.GID_MARKER_KEY) if isinstance(a, Text)]
    number = {key.split(" ", 1)[1]: key.split(" ", 1)[0] for key in keys}
    labels = [
        a.get_text().split(",") for a in by_gid(week_figure, charts.GID_MARKER_LABEL) if isinstance(a, Text)
    ]
    assert any(number["btc-95k"] in group for group in labels)
    assert any(number["btc-95k-daily-close"] in group for group in labels)


def test_liquidation_bars_show_the_109m_of_shorts_in_the_breakout_hour(week_figure: Figure) -> None:
    shorts = bars_of(one(week_figure, charts.GID_LIQ_SHORTS))
    longs = bars_of(one(week_figure, charts.GID_LIQ_LONGS))
    assert len(shorts) == len(longs) == 168
    x, bottom, height = max(shorts, key=lambda bar: bar[2])
    assert x == pytest.approx(utc(2026, 1, 13, 22, 30))
    assert bottom == 0 and height == pytest.approx(109_000_000, rel=0.01)
    # Longs hang below zero; in the same hour $9.9M of them went.
    breakout_long = next(bar for bar in longs if bar[0] == pytest.approx(x))
    assert breakout_long[2] == pytest.approx(-9_900_000, rel=0.02)
    assert all(bar[2] <= 0 for bar in longs)


def test_one_volume_bar_per_candle(week: ChartSpec, week_figure: Figure) -> None:
    volume = bars_of(one(week_figure, charts.GID_VOLUME))
    assert len(volume) == len(week.candles) == 168
    tallest = max(volume, key=lambda bar: bar[2])
    assert tallest[0] == pytest.approx(utc(2026, 1, 13, 22, 30))
    assert tallest[2] == pytest.approx(3452, rel=0.001)


def test_candlesticks_up_to_the_threshold_then_a_line(scenario: Repo) -> None:
    start = parse_time("2026-01-01")
    at_threshold = build_figure(
        chart_spec_from_repo(scenario, "BTCUSDT", "1h", start, start + charts.LINE_THRESHOLD * H)
    )
    assert len(bars_of(one(at_threshold, charts.GID_CANDLE_BODIES))) == charts.LINE_THRESHOLD
    assert len(one(at_threshold, charts.GID_CANDLE_WICKS).get_segments()) == charts.LINE_THRESHOLD
    assert not by_gid(at_threshold, charts.GID_PRICE_LINE)

    beyond = build_figure(
        chart_spec_from_repo(scenario, "BTCUSDT", "1h", start, start + (charts.LINE_THRESHOLD + 1) * H)
    )
    assert not by_gid(beyond, charts.GID_CANDLE_BODIES)
    line = one(beyond, charts.GID_PRICE_LINE)
    assert isinstance(line, Line2D) and len(line.get_xdata()) == charts.LINE_THRESHOLD + 1


def test_png_is_small_and_a_real_png_in_both_themes(week: ChartSpec) -> None:
    for theme in ("dark", "light"):
        png = render_chart(replace(week, theme=theme))
        assert png.startswith(PNG_SIGNATURE)
        assert len(png) < 1_000_000
    assert build_figure(replace(week, theme="light")).get_facecolor()[:3] == (1.0, 1.0, 1.0)


def test_rendering_in_threads_gives_the_same_png(week: ChartSpec) -> None:
    alone = render_chart(week)
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(render_chart, [week] * 3))
    assert together == [alone] * 3


def test_coarser_intervals_are_aggregated_from_stored_candles(scenario: Repo) -> None:
    start, end = parse_time("2026-01-13"), parse_time("2026-01-14")
    hourly = scenario.candles("ETHUSDT", "1h", start, end)
    window = load_candles(scenario, "ETHUSDT", "4h", start, end)
    assert window.stored_interval == "1h" and len(window.bars) == 6
    last = window.bars[-1]
    group = hourly[-4:]
    assert last.open_time == parse_time("2026-01-13T20:00Z")
    assert (last.o, last.h, last.l, last.c) == (
        group[0].o,
        max(c.h for c in group),
        min(c.l for c in group),
        group[-1].c,
    )
    assert last.volume == pytest.approx(sum(c.volume for c in group))


def test_event_chart_ends_at_the_alert(scenario: Repo) -> None:
    (event,) = [e for e in scenario.events(rule_id="btc-95k") if e.state == "firing"]
    spec = event_chart_spec(scenario, event)
    assert spec.candles[-1].close_time == event.at == parse_time("2026-01-13T23:00Z")
    assert spec.title == "BTC broke above $95,000"
    assert event.at in [m.at for m in spec.markers] and all(m.at <= event.at for m in spec.markers)
    assert [lv.label for lv in spec.levels] == ["btc-95k 95,000"]
    fig = build_figure(spec)
    assert fig.axes[0].get_xlim()[1] == pytest.approx(utc(2026, 1, 13, 23, 30))
    assert render_png(fig).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    ("symbol", "interval", "start", "end", "message"),
    [
        (
            "DOGEUSDT",
            "1h",
            WEEK_START,
            WEEK_END,
            "no candles of DOGEUSDT are stored (symbols with candles: BTCUSDT",
        ),
        (
            "BTCUSDT",
            "1h",
            parse_time("2025-06-01"),
            parse_time("2025-06-02"),
            "no BTCUSDT candles between 2025-06-01",
        ),
        ("BTCUSDT", "1m", WEEK_START, WEEK_END, "no candles at 1m or finer in that window (stored: 1h)"),
        ("BTCUSDT", "7m", WEEK_START, WEEK_END, "unknown interval '7m'"),
        ("BTCUSDT", "1h", WEEK_END, WEEK_START, "before it starts"),
    ],
)
def test_unusable_requests_are_user_errors(
    scenario: Repo, symbol: str, interval: str, start: int, end: int, message: str
) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        chart_spec_from_repo(scenario, symbol, interval, start, end)


def test_a_spec_without_candles_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one candle"):
        ChartSpec("BTCUSDT", "1h", (), "empty")


def test_minute_candles_are_aggregated_over_days_with_the_partial_hour_last(repo: Repo) -> None:
    # Synthetic 1m candles (three days and 30 minutes of a made-up price): more than the two days of
    # 1m the in-memory history keeps by default, which a chart must not silently cut.
    t0 = parse_time("2026-01-10")
    minutes = 3 * 24 * 60 + 30
    repo.upsert_candles(
        [
            Candle("BTCUSDT", "1m", t0 + i * 60_000, "binance", 100 + i, 101 + i, 99 + i, 100.5 + i, 1.0)
            for i in range(minutes)
        ]
    )
    end = t0 + minutes * 60_000
    spec = chart_spec_from_repo(repo, "BTCUSDT", "1h", t0, end, rules=[], events=[])
    assert len(spec.candles) == 73
    assert spec.candles[0].open_time == t0 and spec.candles[-1].open_time == t0 + 72 * H
    first, last = spec.candles[0], spec.candles[-1]
    assert (first.o, first.h, first.l, first.c, first.volume) == (100, 160, 99, 159.5, 60)
    # The hour still forming at the end of the window holds its 30 minutes so far.
    assert last.volume == 30 and last.c == 100.5 + minutes - 1
    assert "candles: binance 1m, aggregated" in spec.subtitle
    # Without an interval: the finest one that fits the window in at most 200 candles (30m: 146 of them).
    assert chart_spec_from_repo(repo, "BTCUSDT", None, t0, end, rules=[], events=[]).interval == "30m"
