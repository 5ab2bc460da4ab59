"""Issue 17, finding 1: one bad rule never hurts the others.

On the bundled January 2026 data (BTC's 1h close first above $95,000 is the 22:00 candle of 2026-01-13):
settings are checked at every entry point, and a rule whose detector fails is quarantined on its own while
every other rule's pass commits.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.alerts import engine as engine_module
from bot.alerts.engine import Engine
from bot.alerts.model import BROKEN_PREFIX
from bot.alerts.routing import AlertRouter
from bot.config import Config, ConfigError, parse_config
from bot.errors import UserError
from bot.services import Service
from bot.services.backtest import BacktestService
from bot.services.rules import RuleOptions
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from feeds.ingest import Ingest
from feeds.replay import parse_time
from storage.repo import Repo, RuleRow
from storage.rows import GuildSettingsRow
from tests.bot.scenario import scenario_data, seed
from tests.bot.support import Clock, numbered_ids

GUILD = 1001
ADMIN = 2001
MEMBER = 2002
ALERTS = 3001
OPS = 3002
START = parse_time("2026-01-13T12:00Z")
END = parse_time("2026-01-14T03:00Z")
SUBNORMAL = 5e-324  # the smallest positive float: it passed `gt=0`, and price / step overflows


def play(repo: Repo, history: MarketHistory, engine: Engine, start: int, end: int) -> None:
    """Ingest the scenario's rows that arrive in (start, end] and evaluate at each arrival, as replay does."""
    ingest = Ingest(repo, history)
    for available_at, batch in scenario_data().timeline():
        if available_at <= start:
            continue
        if available_at > end:
            break
        with repo.transaction():
            ingest.candles(batch.candles)
            ingest.liquidation_buckets(batch.liquidation_buckets)
            ingest.liquidations(batch.liquidations)
            ingest.funding(batch.funding)
            ingest.open_interest(batch.open_interest)
            ingest.fear_greed(batch.fear_greed)
        engine.evaluate(available_at)


def unchecked_instantiate(row: RuleRow, retention: object = None) -> Any:
    """Build a rule's detector without validating its settings, as main did for a subnormal step."""
    cls = detector_classes()[row.detector]
    return cls(row.id, row.symbol, cls.Settings.model_construct(**row.settings))


@pytest.fixture
def config() -> Config:
    return parse_config({"symbols": ["BTCUSDT", "ETHUSDT"]})


@pytest.fixture
def history(repo: Repo) -> MarketHistory:
    repo.save_guild_settings(GuildSettingsRow(GUILD, ALERTS, OPS, {}, START))
    return seed(repo, until=START)


@pytest.fixture
def engine(repo: Repo, history: MarketHistory) -> Engine:
    router = AlertRouter(repo, [], console=False, discord=True)
    engine = Engine(repo, history, router)
    engine.load()
    return engine


@pytest.fixture
def service(repo: Repo, engine: Engine, config: Config) -> Service:
    return Service(repo, engine, config, Clock(START), new_suffix=numbered_ids())


def admin_level(service: Service) -> str:
    """Add the admin's $95,000 level alert in the alerts channel; return its id."""
    view = service.add_rule(
        GUILD,
        ADMIN,
        "level_cross",
        "BTCUSDT",
        {"level": 95000, "direction": "up"},
        RuleOptions(channel_id=ALERTS),
        is_admin=True,
    )
    return view.id


def stored_subnormal_rule(repo: Repo) -> RuleRow:
    """Store the member's personal round_levels rule as main's /alert add stored it."""
    row = RuleRow(
        id="btc-round-bad",
        origin="discord",
        detector="round_levels",
        symbol="BTCUSDT",
        settings={"step": SUBNORMAL, "direction": "either", "hysteresis_pct": 0.5},
        guild_id=GUILD,
        owner_id=MEMBER,
        deliver="dm",
        created_at=START,
        updated_at=START,
    )
    with repo.transaction():
        repo.save_rule(row)
    return row


def fired_titles(repo: Repo, rule_id: str) -> list[str]:
    return [e.title for e in repo.events(rule_id=rule_id, newest_first=False) if e.state == "firing"]


def notices(repo: Repo) -> list[tuple[str, str]]:
    """Return the (target, title) of every quarantine notice queued."""
    rows = repo.due_outbox("discord", 2**62)
    return [(r.target, r.payload["title"]) for r in rows if r.kind == "ops"]


def test_finding_1_subnormal_step_is_refused_by_alert_add_and_alert_test(service: Service) -> None:
    with pytest.raises(UserError, match=r"`step`: must be a price between 1e-09 and 1e\+09"):
        service.add_rule(GUILD, MEMBER, "round_levels", "btc", {"step": SUBNORMAL}, RuleOptions(deliver="dm"))
    with pytest.raises(UserError, match=r"`step`: must be a price between"):
        BacktestService(service).draft("round_levels", "btc", {"step": SUBNORMAL}, RuleOptions())
    for settings in ({"step": float("inf")}, {"step": "nan"}, {"step": 1e300}):
        with pytest.raises(UserError, match=r"Invalid round_levels options: `step`"):
            service.validate_rule("round_levels", "btc", settings)


def test_finding_1_subnormal_step_quarantined_in_the_pass_and_the_admins_crossing_fires(
    repo: Repo,
    history: MarketHistory,
    engine: Engine,
    service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The rule as main stored and built it (no bound on the step): its first quiet() raises OverflowError.
    monkeypatch.setattr(engine_module, "instantiate", unchecked_instantiate)
    engine.ops_channel_id = None  # the server's own ops channel (guild settings) is used
    admin = admin_level(service)
    bad = stored_subnormal_rule(repo)
    engine.refresh_rule(bad.id)
    assert bad.id in {r.id for r in engine.rules()}
    play(repo, history, engine, START, END)
    # The admin's crossing, in the pass the bad rule first failed or later, is recorded and queued.
    assert fired_titles(repo, admin) == ["BTC broke above $95,000"]
    assert any(r.payload.get("rule_id") == admin for r in repo.due_outbox("discord", 2**62))
    # The bad rule is quarantined: switched off with the error, not deleted, its state kept.
    stored = repo.rule(bad.id)
    assert stored is not None and not stored.enabled
    assert stored.status_reason is not None and stored.status_reason.startswith(BROKEN_PREFIX)
    assert "OverflowError" in stored.status_reason
    assert repo.detector_state(bad.id) is not None
    assert bad.id not in {r.id for r in engine.rules()}
    # Its owner (by DM) and the server's ops channel are told once, however many passes followed.
    title = f"Alert {bad.id} is switched off"
    assert notices(repo) == [(f"user:{MEMBER}", title), (f"channel:{OPS}", title)]


def test_finding_1_stored_invalid_rule_is_loaded_quarantined_not_dropped(
    repo: Repo, history: MarketHistory, engine: Engine, service: Service
) -> None:
    admin = admin_level(service)
    bad = stored_subnormal_rule(repo)
    restarted = Engine(repo, history, AlertRouter(repo, [], console=False, discord=True), ops_channel_id=OPS)
    restarted.load()
    stored = repo.rule(bad.id)
    assert stored is not None and not stored.enabled
    assert stored.status_reason == (
        f"{BROKEN_PREFIX}its settings no longer validate (invalid settings: step: must be a price between "
        "1e-09 and 1e+09)"
    )
    assert [r.id for r in restarted.rules()] == [admin]
    assert len(notices(repo)) == 2
    restarted.load()  # a second start does not tell anyone again: the rule is already switched off
    assert len(notices(repo)) == 2
    play(repo, history, restarted, START, END)
    assert fired_titles(repo, admin) == ["BTC broke above $95,000"]
    # /alert resume validates the rule again and refuses it.
    with pytest.raises(UserError, match=r"cannot run with its settings: .*`step`: must be a price between"):
        service.resume_rule(GUILD, MEMBER, bad.id, is_admin=False)


def test_resume_of_a_rule_quarantined_at_run_time_checks_it_and_runs_it_again(
    repo: Repo, engine: Engine, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = service.add_rule(
        GUILD, MEMBER, "round_levels", "BTCUSDT", {"step": 5000}, RuleOptions(deliver="dm")
    )
    rule = next(r for r in engine.rules() if r.id == view.id)

    def explode(state: dict[str, Any], now: int) -> None:
        raise ZeroDivisionError("synthetic failure")

    monkeypatch.setattr(rule.detector, "quiet", explode)
    engine.evaluate(START)
    stored = repo.rule(view.id)
    assert stored is not None and not stored.enabled
    assert (
        stored.status_reason == f"{BROKEN_PREFIX}its detector failed (ZeroDivisionError: synthetic failure)"
    )
    resumed = service.resume_rule(GUILD, MEMBER, view.id, is_admin=False)
    assert resumed.enabled and view.id in {r.id for r in engine.rules()}


def test_config_file_refuses_extreme_settings_and_windows_longer_than_retention() -> None:
    base: dict[str, Any] = {"symbols": ["BTCUSDT"]}
    with pytest.raises(ConfigError, match=r"rules\[0\]\.step: .*must be a price between"):
        parse_config(
            {
                **base,
                "rules": [{"id": "r", "detector": "round_levels", "symbol": "BTCUSDT", "step": SUBNORMAL}],
            }
        )
    with pytest.raises(ConfigError, match=r"rules\[0\]\.level: Input should be a finite number"):
        parse_config(
            {
                **base,
                "rules": [{"id": "r", "detector": "level_cross", "symbol": "BTCUSDT", "level": float("inf")}],
            }
        )
    oi = {"id": "oi", "detector": "open_interest", "symbol": "BTCUSDT", "window_hours": 24 * 7}
    parse_config({**base, "rules": [oi]})  # a week of open interest: kept for 90 days by default
    short = {"storage": {"retention": {"open_interest_days": 3}}}
    with pytest.raises(ConfigError, match=r"rules\[0\]: its window reaches back 7 days, but open interest"):
        parse_config({**base, **short, "rules": [oi]})


def test_alert_add_refuses_a_window_longer_than_retention(repo: Repo, engine: Engine) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "storage": {"retention": {"liquidations_days": 1}}})
    service = Service(repo, engine, config, Clock(START))
    with pytest.raises(UserError, match=r"reaches back 1\.04167 days, but liquidations are kept for 1 days"):
        service.validate_rule("liquidation_cascade", "btc", {"window_minutes": 60, "baseline_hours": 24})
    service.validate_rule("liquidation_cascade", "btc", {"window_minutes": 60, "baseline_hours": 23})


def test_stored_rule_outliving_retention_is_quarantined_on_load(repo: Repo, history: MarketHistory) -> None:
    config = parse_config({"symbols": ["BTCUSDT"], "storage": {"retention": {"open_interest_days": 1}}})
    row = RuleRow(
        id="oi-week",
        origin="discord",
        detector="open_interest",
        symbol="BTCUSDT",
        settings={"window_hours": 48},
        guild_id=GUILD,
        channel_id=ALERTS,
        created_at=START,
        updated_at=START,
    )
    repo.save_rule(row)
    engine = Engine(
        repo, history, AlertRouter(repo, [], console=False, discord=True), retention=config.storage.retention
    )
    engine.load()
    stored = repo.rule(row.id)
    assert (
        stored is not None
        and not stored.enabled
        and "open interest are kept for 1 days" in (stored.status_reason or "")
    )
    assert notices(repo) == [(f"channel:{OPS}", f"Alert {row.id} is switched off")]  # no DM: a channel rule
