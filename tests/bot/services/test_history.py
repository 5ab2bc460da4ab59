"""History, /why, charts and backtests as plain Python over the replayed January 2026 scenario: what a
guild may see, pinned pages, the evidence behind an alert, chart and backtest inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.charts.draw import build_figure
from bot.config import RouteConfig
from bot.errors import UserError
from bot.services import Service
from bot.services.backtest import BacktestService
from bot.services.history import HistoryQuery, HistoryService
from bot.services.rules import RuleOptions
from bot.services.visibility import Viewer
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import Repo, RuleRow
from tests.bot.charts.text_layout import overlapping
from tests.bot.history_support import CROSSING_AT, crossing_event_id, history_config, load_replayed
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.bot.support import Clock, record_firing
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID

OTHER_GUILD = 1_190_000_000_000_009_000
OTHER_CHANNEL = 1_190_000_000_000_009_101


@pytest.fixture
def replayed() -> Iterator[Repo]:
    """Yield a database holding the scenario and the alerts the example rules raised on it."""
    db = open_database(":memory:")
    repo = Repo(db)
    load_replayed(repo)
    yield repo
    db.conn.close()


@pytest.fixture
def service(replayed: Repo) -> Service:
    """Return the service on the replayed database, as of the day after the breakout."""
    engine = Engine(replayed, MarketHistory(), AlertRouter(replayed, [], console=False, discord=True))
    service = Service(replayed, engine, history_config(), Clock(BREAKOUT_DAY_NOON))
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID)
    return service


@pytest.fixture
def history(service: Service) -> HistoryService:
    """Return the history service."""
    return HistoryService(service)


def firing_before_now(repo: Repo) -> int:
    """Return how many firing events the replay recorded up to the test clock."""
    return len([e for e in repo.events(until=BREAKOUT_DAY_NOON + 1, limit=10_000) if e.state == "firing"])


def test_history_lists_the_guilds_alerts_newest_first_on_pinned_pages(
    history: HistoryService, replayed: Repo
) -> None:
    first = history.history(HistoryQuery(GUILD_ID, OWNER_ID))
    assert first.total == firing_before_now(replayed) > 100
    assert (first.page, first.pages) == (0, -(-first.total // first.page_size))
    assert not first.has_previous and first.has_next
    stamps = [(i.at, i.event_id) for i in first.items]
    assert stamps == sorted(stamps, reverse=True)
    assert all(i.at <= BREAKOUT_DAY_NOON for i in first.items)
    # An alert recorded while someone pages does not shift the pages they are turning.
    record_firing(replayed, "btc-95k", "a newer alert", BREAKOUT_DAY_NOON, guild_id=None, dedupe_key="new")
    second = history.history(first.query, 1)
    assert second.total == first.total and second.items[0].at <= first.items[-1].at
    assert history.history(first.query, 0).items == first.items
    assert history.history(HistoryQuery(GUILD_ID, OWNER_ID)).items[0].title == "a newer alert"
    # Pages beyond either end are clamped to it.
    assert history.history(first.query, 10_000).page == first.pages - 1
    assert history.history(first.query, -3).page == 0


def test_history_filters_and_marks_folded_silenced_and_late_alerts(
    history: HistoryService, replayed: Repo
) -> None:
    btc = history.history(HistoryQuery(GUILD_ID, OWNER_ID, rule_id="btc-95k"))
    assert [(i.rule_id, i.at, i.title) for i in btc.items] == [
        ("btc-95k", CROSSING_AT, "BTC broke above $95,000")
    ]
    eth = history.history(HistoryQuery(GUILD_ID, OWNER_ID, symbol="eth", since=CROSSING_AT))
    assert eth.query.symbol == "ETHUSDT" and eth.items and {i.symbol for i in eth.items} == {"ETHUSDT"}
    assert all(i.at >= CROSSING_AT for i in eth.items)
    # Every alert since the breakout on one page: how many come before the folded ones depends on the rules.
    since_breakout = HistoryQuery(GUILD_ID, OWNER_ID, since=CROSSING_AT)
    folded = [i for i in history.history(since_breakout, page_size=100).items]
    assert any(i.folded_into is not None for i in folded), "the replay folds round levels into the cascade"
    record_firing(
        replayed,
        "btc-95k",
        "late and muted",
        BREAKOUT_DAY_NOON - 7_200_000,
        guild_id=None,
        dedupe_key="muted",
        recorded_at=BREAKOUT_DAY_NOON,
        late=True,
        silenced_by=3,
    )
    [line] = [
        i for i in history.history(HistoryQuery(GUILD_ID, OWNER_ID)).items if i.title == "late and muted"
    ]
    assert line.silenced and line.late and line.recorded_at - line.at == 7_200_000
    with pytest.raises(UserError, match="Unknown symbol"):
        history.history(HistoryQuery(GUILD_ID, OWNER_ID, symbol="doge"))
    assert history.history(HistoryQuery(GUILD_ID, OWNER_ID, rule_id="no-such-rule")).total == 0


def test_a_guild_sees_only_the_alerts_posted_in_it(service: Service, replayed: Repo) -> None:
    history = HistoryService(service)
    assert history.history(HistoryQuery(OTHER_GUILD, OWNER_ID)).total == 0
    with pytest.raises(UserError, match=r"There is no alert #\d+ in this server"):
        history.why(OTHER_GUILD, OWNER_ID, crossing_event_id(replayed))
    # A route to the other guild for ETH warnings only: the router's own decision, severity included.
    routed = service.config.model_copy(
        update={
            "routes": [
                *service.config.routes,
                RouteConfig(
                    guild_id=OTHER_GUILD,
                    channel_id=OTHER_CHANNEL,
                    symbols=["ETHUSDT"],
                    min_severity="warning",
                ),
            ]
        }
    )
    service.config = routed
    history = HistoryService(service)
    # An alert is seen where it was posted (issue 17, finding 4): the ETH warnings posted in the first
    # guild before the route existed stay that guild's; the new route does not carry them over.
    items = history.history(HistoryQuery(OTHER_GUILD, OWNER_ID, symbol=None), page_size=500).items
    assert items == ()
    assert history.history(HistoryQuery(GUILD_ID, OWNER_ID)).total == firing_before_now(replayed)
    # Routes change; where an alert was delivered still counts: the route's guild, or a channel of it.
    service.config = service.config.model_copy(update={"routes": []})
    history = HistoryService(service)
    assert history.history(HistoryQuery(GUILD_ID, OWNER_ID)).total == firing_before_now(replayed)
    assert history.history(HistoryQuery(OTHER_GUILD, OWNER_ID)).total == 0
    event_id = crossing_event_id(replayed)
    with replayed.transaction():
        replayed.enqueue(
            event_id=event_id,
            sink="discord",
            target=f"channel:{OTHER_CHANNEL}",
            kind="alert",
            payload={"guild_id": None},
            now=CROSSING_AT,
        )
    assert history.history(HistoryQuery(OTHER_GUILD, OWNER_ID)).total == 0
    there = history.history(HistoryQuery(OTHER_GUILD, OWNER_ID, channel_ids=frozenset({OTHER_CHANNEL})))
    assert [i.event_id for i in there.items] == [event_id]


def test_another_members_direct_message_alerts_stay_private(service: Service, replayed: Repo) -> None:
    rule = service.add_rule(
        GUILD_ID,
        MEMBER_ID,
        "level_cross",
        "BTCUSDT",
        {"level": 95000},
        RuleOptions(deliver="dm"),
        is_admin=False,
    )
    event_id = record_firing(
        replayed,
        rule.id,
        "a personal alert",
        CROSSING_AT,
        guild_id=GUILD_ID,
        dedupe_key="dm",
        severity="info",
    )
    history = HistoryService(service)
    mine = history.history(HistoryQuery(GUILD_ID, MEMBER_ID, rule_id=rule.id))
    assert [i.title for i in mine.items] == ["a personal alert"]
    assert history.history(HistoryQuery(GUILD_ID, OWNER_ID, rule_id=rule.id)).total == 0
    with pytest.raises(UserError):
        history.why(GUILD_ID, OWNER_ID, event_id)
    assert rule.id not in [r for r, _ in history.rule_choices(Viewer(OWNER_ID, GUILD_ID), "")]


def test_why_shows_the_values_the_rule_then_and_now_the_data_and_the_delivery(
    service: Service, history: HistoryService, replayed: Repo
) -> None:
    event_id = crossing_event_id(replayed)
    why = history.why(GUILD_ID, OWNER_ID, event_id)
    assert (why.title, why.at, why.state, why.late) == (
        "BTC broke above $95,000",
        CROSSING_AT,
        "firing",
        False,
    )
    assert why.values["price"] == 95757.21 and why.values["level"] == 95000.0
    assert why.rule.origin == "config" and why.rule.cooldown_s == 900
    assert list(why.rule.settings)[:3] == ["level", "direction", "hysteresis_pct"]
    assert why.rule.summary.startswith("level=$95,000 direction=up hysteresis_pct=0.5")
    assert why.rule_now == "unchanged"
    [source] = why.sources
    assert (source.source, source.detail, source.newest_at, source.age_s) == (
        "binance",
        "1h candles",
        CROSSING_AT,
        0.0,
    )
    assert [(d.target, d.kind, d.status) for d in why.deliveries] == [
        (f"channel:{ALERTS_CHANNEL_ID}", "alert", "delivered")
    ]
    # The rule changed since, then went away: /why still shows the settings it fired with.
    old = replayed.rule("btc-95k")
    assert isinstance(old, RuleRow)
    with replayed.transaction():
        replayed.save_rule(RuleRow(**{**_fields(old), "settings": {**old.settings, "level": 96000.0}}))
    changed = history.why(GUILD_ID, OWNER_ID, event_id)
    assert changed.rule_now == "changed" and "level=$96,000" in (changed.rule_now_summary or "")
    assert changed.rule.settings["level"] == 95000.0
    with replayed.transaction():
        replayed.delete_rule("btc-95k")
    assert history.why(GUILD_ID, OWNER_ID, event_id).rule_now == "removed"


def _fields(row: RuleRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in RuleRow.__dataclass_fields__}


def test_why_of_a_liquidation_cascade_names_its_liquidation_source(
    history: HistoryService, replayed: Repo
) -> None:
    [cascade] = [e for e in replayed.events(rule_id="btc-liquidations", limit=100) if e.at == CROSSING_AT]
    why = history.why(GUILD_ID, OWNER_ID, cascade.id)
    assert {(s.kind, s.source) for s in why.sources} == {("liquidations", "coinglass")}
    assert why.values["usd"] == pytest.approx(108_990_315, rel=1e-6)


def test_chart_draws_the_guilds_levels_and_alerts_and_checks_its_options(
    history: HistoryService, service: Service
) -> None:
    viewer = Viewer(OWNER_ID, GUILD_ID)
    spec = history.chart("btc", "1h", 7 * 86_400, viewer=viewer)
    assert (spec.symbol, spec.interval, len(spec.candles)) == ("BTCUSDT", "1h", 168)
    assert spec.title == "BTCUSDT · 1h · last 7d"
    assert [line.price for line in spec.levels] == [95000.0]
    assert CROSSING_AT in {m.at for m in spec.markers}
    bare = history.chart("BTCUSDT", None, 86_400)
    assert (bare.levels, bare.markers, bare.interval) == ((), (), "1h")
    for symbol, interval, window, message in [
        ("doge", "1h", 86_400, "Unknown symbol"),
        ("BTCUSDT", "7m", 86_400, "Unknown interval `7m`"),
        ("BTCUSDT", "1h", 60, "The window must be between 1h and"),
        ("BTCUSDT", "1h", 365 * 86_400, "The window must be between 1h and"),
        ("BTCUSDT", "1w", 86_400, "A 1d window holds no whole 1w candle"),
        ("BTCUSDT", "1m", 7 * 86_400, "BTCUSDT has no candles at 1m or finer"),
    ]:
        with pytest.raises(UserError, match=message):
            history.chart(symbol, interval, window, viewer=viewer)


def test_backtest_of_btc_crossing_95000_up_fires_once_on_the_13th(service: Service) -> None:
    tester = BacktestService(service)
    draft = tester.draft("level_cross", "btc", {"level": 95000, "direction": "up"}, RuleOptions())
    assert (draft.symbol, draft.settings["level"]) == ("BTCUSDT", 95000.0)
    days = tester.check_period(None)
    result = tester.run(tester.draft_row(draft), days, BREAKOUT_DAY_NOON)
    assert [(at, title) for at, title, _ in result.firings()] == [(CROSSING_AT, "BTC broke above $95,000")]
    assert result.chart_png is not None and result.chart_png.startswith(b"\x89PNG\r\n\x1a\n")
    for call, message in [
        (
            lambda: tester.draft("level_cross", "BTCUSDT", {"level": -1}, RuleOptions()),
            "must be greater than 0",
        ),
        (lambda: tester.draft("level_cross", None, {"level": 1}, RuleOptions()), "needs a symbol"),
        (lambda: tester.draft("nope", "BTCUSDT", {}, RuleOptions()), "Unknown detector"),
        (
            lambda: tester.check_period(3600),
            "A backtest covers 1 to 90 days; you asked for 1h",
        ),
        (lambda: tester.check_period(91 * 86_400), "you asked for 13w"),
    ]:
        with pytest.raises(UserError, match=message):
            call()
    scope = HistoryService(service).scope(GUILD_ID, OWNER_ID)
    assert tester.existing(scope, "btc-95k").id == "btc-95k"
    with pytest.raises(UserError, match="There is no alert `btc-95k` in this server"):
        tester.existing(HistoryService(service).scope(OTHER_GUILD, OWNER_ID), "btc-95k")


def test_the_chart_a_guild_gets_has_no_overlapping_text_and_says_what_it_covers(
    history: HistoryService,
) -> None:
    viewer = Viewer(OWNER_ID, GUILD_ID)
    week = history.chart("btc", None, 7 * 86_400, viewer=viewer)
    assert overlapping(build_figure(week)) == []
    # 90 days asked, about 20 stored before the test's clock: the chart covers what is stored and says so.
    longest = history.chart("btc", None, 90 * 86_400, viewer=viewer)
    assert longest.title.endswith("stored of 90d asked")
    assert "nothing stored before 2026-01-01 00:00" in longest.subtitle
    assert overlapping(build_figure(longest)) == []
