"""The service layer on the bundled real data: market queries, rule management and their user errors."""

from __future__ import annotations

import pytest

from bot.alerts.engine import Engine
from bot.alerts.model import DMS_CLOSED_REASON
from bot.alerts.routing import AlertRouter
from bot.config import Config, parse_config
from bot.errors import UserError
from bot.services import Service
from bot.services.base import FeedStatusView
from bot.services.market import next_funding_time
from bot.services.rules import RuleOptions
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.scenario import BREAKOUT_DAY_NOON, FNG_61_DAY, seed
from tests.bot.support import Clock, FixedFeeds, discord_engine, numbered_ids

GUILD = 1001
OTHER_GUILD = 1002
ADMIN = 2001
MEMBER = 2002
ALERTS = 3001


@pytest.fixture
def config() -> Config:
    return parse_config(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"max_rules_per_user": 3, "max_rules_per_guild": 4}}
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(BREAKOUT_DAY_NOON)


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


@pytest.fixture
def service(repo: Repo, engine: Engine, config: Config, clock: Clock) -> Service:
    seed(repo)
    feeds = FixedFeeds([FeedStatusView("binance_spot", "ok", BREAKOUT_DAY_NOON - 5_000, 5.0)])
    return Service(repo, engine, config, clock, feeds, new_suffix=numbered_ids())


def test_price_is_the_last_close_as_of_now_with_its_24h_range(service: Service) -> None:
    view = service.price("btc")
    assert view.symbol == "BTCUSDT" and view.source == "binance" and view.interval == "1h"
    # The 11:00 candle of 2026-01-14 closed at 94,792.99; rows after "now" are not visible.
    assert view.price == pytest.approx(94792.99)
    assert view.high_24h == pytest.approx(96495.0) and view.low_24h < view.price < view.high_24h
    assert view.change_24h_pct is not None and 2 < view.change_24h_pct < 4
    assert view.age_s == 0 and not view.stale


def test_price_of_a_stale_feed_says_so(service: Service, clock: Clock) -> None:
    clock.now = parse_time("2026-01-21T06:00Z")  # hours after the last recorded candle
    view = service.price("BTCUSDT")
    assert view.stale and view.age_s > 3600


def test_liquidations_compare_the_squeeze_day_with_the_week_before(service: Service) -> None:
    view = service.liquidations("BTCUSDT", 86_400)
    assert view.short_usd > 100_000_000 > view.long_usd  # the short squeeze of 2026-01-13/14
    assert [s.source for s in view.by_source] == ["coinglass"]
    assert view.largest[0].side == "short" and view.largest[0].aggregated
    assert view.ratio_to_usual is not None and view.ratio_to_usual > 3


@pytest.mark.parametrize("window", [0, 60, 8 * 86_400])
def test_liquidation_window_out_of_bounds_is_a_user_error(service: Service, window: int) -> None:
    with pytest.raises(UserError, match="window must be between 5m and 1w"):
        service.liquidations(None, window)


def test_funding_shows_the_venue_with_a_settled_history_and_says_which(
    service: Service, repo: Repo, clock: Clock
) -> None:
    view = service.funding()
    # Not whichever source wrote last (CoinGlass's hourly snapshots): Binance, whose settlements the
    # 24h change and 7-day average are computed from.
    assert view.symbol == "BTCUSDT" and view.source == view.history_source == "binance" and view.settled
    assert view.interval_h == 8 and view.interval_from == "settlements"  # stamps a few ms late: still 8 h
    assert view.annualized_pct == pytest.approx(view.rate * 3 * 365 * 100)
    assert {s.source for s in view.by_source} == {"binance", "coinglass"}
    assert view.next_funding_at == parse_time("2026-01-14T16:00Z") and view.next_funding_estimated
    week = [
        r.rate
        for r in repo.funding("BTCUSDT", clock.now - 8 * 86_400_000, clock.now + 1)
        if r.source == "binance" and r.settled and r.ts > clock.now - 7 * 86_400_000
    ]
    assert view.history_settlements >= 21 and view.average_7d == pytest.approx(sum(week) / len(week))
    assert view.change_24h is not None
    assert view.cross_venue_per_8h is not None


def test_open_interest_changes(service: Service) -> None:
    view = service.open_interest("BTCUSDT")
    assert view.usd is not None and view.usd > 8e9
    assert view.change_24h_pct is not None and view.change_1h_pct is not None


def test_symbols_without_derivatives_data_are_user_errors(service: Service) -> None:
    with pytest.raises(UserError, match="No funding data for ETHUSDT"):
        service.funding("ETHUSDT")
    with pytest.raises(UserError, match="No open-interest data for ETHUSDT"):
        service.open_interest("eth")


def test_fear_greed_61_is_the_highest_since_october(service: Service, clock: Clock) -> None:
    clock.now = FNG_61_DAY
    view = service.fear_greed()
    assert (view.value, view.classification, view.date) == (61, "Greed", "2026-01-15")
    assert view.change_1d == 13  # 48 the day before
    assert view.highest_since.date is not None and view.highest_since.date.startswith("2025-10")
    assert view.lowest_since.date == "2026-01-14"


def test_unknown_symbols_are_named_with_the_known_ones(service: Service) -> None:
    with pytest.raises(UserError, match=r"Unknown symbol `DOGE`\. Tripwire watches: BTCUSDT, ETHUSDT"):
        service.price("DOGE")


def test_add_rule_validates_stores_and_hands_the_rule_to_the_engine(
    service: Service, repo: Repo, engine: Engine
) -> None:
    service.setup(GUILD, ALERTS, None)
    view = service.add_rule(
        GUILD,
        ADMIN,
        "level_cross",
        "btc",
        {"level": 95000, "direction": "up"},
        RuleOptions(role_id=77, note="watch it", cooldown_s=600),
        is_admin=True,
    )
    assert view.id == "btc-level-0000"
    assert view.summary == "level=$95,000 direction=up"
    assert view.distance_pct == pytest.approx((95000 - 94792.99) / 94792.99 * 100)
    stored = repo.rule(view.id)
    assert stored is not None and stored.origin == "discord" and stored.role_id == 77
    assert stored.cooldown_s == 600 and stored.note == "watch it"
    assert view.id in [r.id for r in engine.rules()]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"level": -5}, "`level`: Input should be greater than 0"),
        ({"level": 1, "direction": "sideways"}, "`direction`: Input should be 'up', 'down' or 'either'"),
        ({}, "`level`: Field required"),
        ({"level": 1, "colour": "red"}, "`colour`: is not an option of this alert"),
        ({"level": float("nan")}, "`level` must be a finite number"),
    ],
)
def test_bad_settings_become_one_message_naming_the_option(
    service: Service, settings: dict[str, object], message: str
) -> None:
    service.setup(GUILD, ALERTS, None)
    with pytest.raises(UserError, match="Invalid level_cross options") as caught:
        service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", settings, is_admin=True)
    assert message in caught.value.message


def test_rule_management_is_scoped_to_the_guild_and_the_owner(service: Service) -> None:
    service.setup(GUILD, ALERTS, None)
    rule = service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 90000}, is_admin=True)
    with pytest.raises(UserError, match="no alert `btc-level-0000` in this server"):
        service.pause_rule(OTHER_GUILD, ADMIN, rule.id, is_admin=True)
    with pytest.raises(UserError, match="belongs to someone else"):
        service.remove_rule(GUILD, MEMBER, rule.id, is_admin=False)
    assert service.list_rules(GUILD, MEMBER, is_admin=False) == []
    paused = service.pause_rule(GUILD, ADMIN, rule.id, is_admin=True)
    assert not paused.enabled and paused.status_reason == f"paused by <@{ADMIN}>"
    with pytest.raises(UserError, match="already paused"):
        service.pause_rule(GUILD, ADMIN, rule.id, is_admin=True)
    assert service.resume_rule(GUILD, ADMIN, rule.id, is_admin=True).enabled
    service.remove_rule(GUILD, ADMIN, rule.id, is_admin=True)
    assert service.list_rules(GUILD, ADMIN, is_admin=True) == []


def test_channel_alerts_need_a_channel_and_an_admin(service: Service) -> None:
    with pytest.raises(UserError, match="Manage Server"):
        service.add_rule(GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 1}, is_admin=False)
    with pytest.raises(UserError, match="set the server's default alert channel with /setup"):
        service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 1}, is_admin=True)
    with pytest.raises(UserError, match="never ping @everyone"):
        service.add_rule(
            GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 1}, RuleOptions(ALERTS, GUILD), is_admin=True
        )


def test_quotas_per_user_and_per_guild(service: Service) -> None:
    service.setup(GUILD, ALERTS, None)
    for level in (1, 2, 3):
        service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": level}, is_admin=True)
    with pytest.raises(UserError, match=r"already have 3 alerts here, the most one member may have \(3\)"):
        service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 4}, is_admin=True)
    service.add_rule(GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 4}, is_admin=True)
    with pytest.raises(UserError, match=r"already has 4 alerts, the most allowed \(4\)"):
        service.add_rule(GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 5}, is_admin=True)


def test_a_duplicate_rule_is_refused(service: Service) -> None:
    service.setup(GUILD, ALERTS, None)
    first = service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 95000}, is_admin=True)
    with pytest.raises(UserError, match=f"`{first.id}` already does exactly this"):
        service.add_rule(GUILD, ADMIN, "level_cross", "btc", {"level": 95000.0}, is_admin=True)


def test_resume_of_a_rule_paused_for_closed_dms(service: Service, repo: Repo, clock: Clock) -> None:
    service.setup(GUILD, ALERTS, None)
    rule = service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 1}, is_admin=True)
    with repo.transaction():
        repo.set_rule_enabled(rule.id, False, DMS_CLOSED_REASON, clock.now)
    assert service.list_rules(GUILD, ADMIN, is_admin=True)[0].status_reason == DMS_CLOSED_REASON
    assert service.resume_rule(GUILD, ADMIN, rule.id, is_admin=True).enabled


def test_rule_choices_match_what_was_typed(service: Service) -> None:
    service.setup(GUILD, ALERTS, None)
    service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 95000}, is_admin=True)
    service.add_rule(GUILD, ADMIN, "level_cross", "ETHUSDT", {"level": 3500}, is_admin=True)
    assert [c[0] for c in service.rule_choices(GUILD, ADMIN, is_admin=True, current="eth")] == [
        "eth-level-0001"
    ]
    assert service.rule_choices(GUILD, MEMBER, is_admin=False, current="") == []


def test_rule_choices_read_no_market_data_while_someone_types(
    service: Service, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.setup(GUILD, ALERTS, None)
    service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 95000}, is_admin=True)

    def no_candles(*args: object, **kwargs: object) -> None:
        raise AssertionError("autocomplete read candles")

    monkeypatch.setattr(repo, "candles", no_candles)
    monkeypatch.setattr(repo, "candle_intervals", no_candles)
    [(rule_id, label)] = service.rule_choices(GUILD, ADMIN, is_admin=True, current="btc")
    assert label == f"{rule_id} · BTCUSDT level=$95,000"


def test_guild_settings_are_read_once_and_every_change_is_seen_at_once(service: Service, repo: Repo) -> None:
    router = AlertRouter(repo, [], console=False, discord=True)
    service.setup(GUILD, ALERTS - 1, None)
    rule = service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 95000}, is_admin=True)
    row = repo.rule(rule.id)
    assert row is not None
    queries: list[str] = []
    repo.conn.set_trace_callback(queries.append)
    try:
        service.setup(GUILD, ALERTS, None)
        queries.clear()
        for _ in range(3):  # three alerts routed to the server's default channel: one read
            assert [t.address for t in router.targets(row, "warning")] == [f"channel:{ALERTS}"]
        assert sum("FROM guild_settings" in q for q in queries) == 1
        service.setup(GUILD, ALERTS + 1, None, chart_alerts=True)
        assert [t.address for t in router.targets(row, "warning")] == [f"channel:{ALERTS + 1}"]
        with pytest.raises(RuntimeError), repo.transaction():
            repo.update_guild_settings(GUILD, 0, alert_channel_id=ALERTS + 2)
            assert [t.address for t in router.targets(row, "warning")] == [f"channel:{ALERTS + 2}"]
            raise RuntimeError("undo the change")
        assert [t.address for t in router.targets(row, "warning")] == [f"channel:{ALERTS + 1}"]
    finally:
        repo.conn.set_trace_callback(None)
    # A change keeps what it does not name: the channel and the liquidation feed's key beside the charts.
    repo.update_guild_settings(GUILD, 0, settings={"liqfeed": {"channel_id": 1}})
    repo.update_guild_settings(GUILD, 0, drop=["liqfeed"])
    assert service.guild_setup(GUILD) == service.setup(GUILD)
    assert (
        service.guild_setup(GUILD).chart_alerts and service.guild_setup(GUILD).alert_channel_id == ALERTS + 1
    )


def test_setup_keeps_what_is_not_given_and_status_reports_it(service: Service, clock: Clock) -> None:
    assert service.setup(GUILD, ALERTS, None).changed
    view = service.setup(GUILD, None, 3002)
    assert (view.alert_channel_id, view.ops_channel_id) == (ALERTS, 3002)
    clock.now += 90_000
    status = service.status(GUILD)
    assert status.uptime_s == 90 and status.db_size_bytes > 100_000
    assert status.feeds[0].name == "binance_spot" and status.version
    assert (status.alert_channel_id, status.ops_channel_id) == (ALERTS, 3002)


def test_next_funding_time_is_the_next_8h_boundary() -> None:
    assert next_funding_time(parse_time("2026-01-14T15:59:59Z")) == parse_time("2026-01-14T16:00Z")
    assert next_funding_time(parse_time("2026-01-14T16:00Z")) == parse_time("2026-01-15T00:00Z")
