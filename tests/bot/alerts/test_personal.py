"""Personal (DM) alerts in the service, pausing them when their owner cannot be reached, and /privacy's
report and deletion, checked against the database rows."""

from __future__ import annotations

import pytest

from bot.alerts.engine import Engine
from bot.alerts.model import DMS_CLOSED_REASON
from bot.alerts.personal import (
    FORGOTTEN_REASON,
    MEMBER_LEFT_REASON,
    pause_for_closed_dms,
    pause_for_departure,
)
from bot.config import Config, parse_config
from bot.errors import UserError
from bot.liqfeed.settings import LiqFeedService
from bot.replay.backtest import backtest
from bot.services import Service
from bot.services.privacy import PrivacyService
from bot.services.rules import RuleOptions
from feeds.replay import load_directory, parse_time, store_recorded
from storage.repo import Repo
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.bot.support import Clock, discord_engine, numbered_ids, record_firing
from tests.conftest import ROOT

GUILD = 1001
OTHER_GUILD = 1002
ADMIN = 2001
MEMBER = 2002
OTHER_MEMBER = 2003
ALERTS = 3001
DM = RuleOptions(deliver="dm")


@pytest.fixture
def config() -> Config:
    return parse_config(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"max_rules_per_user": 3, "max_rules_per_guild": 6}}
    )


@pytest.fixture
def engine(repo: Repo) -> Engine:
    return discord_engine(repo)


@pytest.fixture
def service(repo: Repo, engine: Engine, config: Config) -> Service:
    return Service(repo, engine, config, Clock(BREAKOUT_DAY_NOON), new_suffix=numbered_ids())


def personal(service: Service, level: float, *, user: int = MEMBER, guild: int = GUILD) -> str:
    """Add a personal BTC level alert for ``user`` and return its id."""
    return service.add_rule(guild, user, "level_cross", "BTCUSDT", {"level": level}, DM, is_admin=False).id


def test_a_member_adds_personal_alerts_but_not_channel_ones(service: Service, repo: Repo) -> None:
    rule_id = personal(service, 95000)
    row = repo.rule(rule_id)
    assert row is not None and row.deliver == "dm" and row.owner_id == MEMBER and row.guild_id == GUILD
    with pytest.raises(UserError, match="use `deliver: dm`"):
        service.add_rule(GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 1}, is_admin=False)
    with pytest.raises(UserError, match="has no channel or role"):
        service.add_rule(
            GUILD,
            MEMBER,
            "level_cross",
            "BTCUSDT",
            {"level": 1},
            RuleOptions(ALERTS, deliver="dm"),
            is_admin=False,
        )


def test_the_personal_quota_counts_every_server(service: Service) -> None:
    personal(service, 1)
    personal(service, 2, guild=OTHER_GUILD)
    personal(service, 3)
    with pytest.raises(
        UserError, match=r"You already have 3 personal alerts, the most one member may have \(3\)"
    ):
        personal(service, 4, guild=OTHER_GUILD)
    # Another member has their own quota, and admins' server alerts are counted per server as before.
    personal(service, 4, user=OTHER_MEMBER)
    service.add_rule(GUILD, ADMIN, "level_cross", "BTCUSDT", {"level": 5}, RuleOptions(ALERTS), is_admin=True)


def test_a_member_changes_only_their_own_personal_alerts(service: Service) -> None:
    mine = personal(service, 95000)
    theirs = personal(service, 96000, user=OTHER_MEMBER)
    server = service.add_rule(
        GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 1}, RuleOptions(ALERTS), is_admin=True
    ).id
    assert service.pause_rule(GUILD, MEMBER, mine, is_admin=False).enabled is False
    with pytest.raises(UserError, match="belongs to someone else"):
        service.remove_rule(GUILD, MEMBER, theirs, is_admin=False)
    # Created while they had Manage Server: still the server's alert.
    with pytest.raises(UserError, match="needs the Manage Server permission"):
        service.pause_rule(GUILD, MEMBER, server, is_admin=False)
    assert [c[0] for c in service.rule_choices(GUILD, MEMBER, is_admin=False, current="")] == [mine]
    service.remove_rule(GUILD, ADMIN, theirs, is_admin=True)  # admins manage every alert of the server


def test_closed_dms_pause_every_personal_alert_of_the_member_once(service: Service, repo: Repo) -> None:
    first = personal(service, 95000)
    second = personal(service, 96000, guild=OTHER_GUILD)
    other = personal(service, 97000, user=OTHER_MEMBER)
    assert sorted(pause_for_closed_dms(repo, MEMBER, BREAKOUT_DAY_NOON)) == sorted([first, second])
    for rule_id in (first, second):
        row = repo.rule(rule_id)
        assert row is not None and not row.enabled and row.status_reason == DMS_CLOSED_REASON
    other_row = repo.rule(other)
    assert other_row is not None and other_row.enabled
    [notice] = repo.notices(MEMBER)
    assert f"`{first}`" in notice.text and f"`{second}`" in notice.text and "/alert resume" in notice.text
    # Told already: a second refusal pauses nothing and leaves one notice.
    assert pause_for_closed_dms(repo, MEMBER, BREAKOUT_DAY_NOON + 1) == []
    assert len(repo.notices(MEMBER)) == 1


def test_leaving_a_server_pauses_only_that_servers_personal_alerts(service: Service, repo: Repo) -> None:
    here = personal(service, 95000)
    elsewhere = personal(service, 96000, guild=OTHER_GUILD)
    assert pause_for_departure(repo, GUILD, MEMBER, BREAKOUT_DAY_NOON) == [here]
    here_row, elsewhere_row = repo.rule(here), repo.rule(elsewhere)
    assert here_row is not None and here_row.status_reason == MEMBER_LEFT_REASON and not here_row.enabled
    assert elsewhere_row is not None and elsewhere_row.enabled
    assert repo.notices(MEMBER) == []


def _count(repo: Repo, sql: str, *params: object) -> int:
    return int(repo.conn.execute(sql, params).fetchone()[0])


def _fired(repo: Repo, rule_id: str, at: int, *, deliver: str, owner: int | None, target: str | None) -> int:
    """Record a firing event of a rule (as the engine does) and queue it to ``target``."""
    with repo.transaction():
        event_id = record_firing(
            repo,
            rule_id,
            "BTC broke above $95,000",
            at,
            guild_id=GUILD,
            dedupe_key=rule_id,
            rule={"id": rule_id, "owner_id": owner, "deliver": deliver},
        )
        if target is not None:
            repo.enqueue(event_id=event_id, sink="discord", target=target, kind="alert", payload={}, now=at)
    return event_id


def test_privacy_reports_then_deletes_what_is_stored_about_a_member(
    service: Service, repo: Repo, engine: Engine
) -> None:
    privacy = PrivacyService(repo, engine, service.now_ms)
    kept = personal(service, 95000)
    removed_earlier = personal(service, 96000)
    other = personal(service, 97000, user=OTHER_MEMBER)
    server = service.add_rule(
        GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 1}, RuleOptions(ALERTS), is_admin=True
    ).id
    service.pause_rule(GUILD, MEMBER, server, is_admin=True)
    now = BREAKOUT_DAY_NOON
    _fired(repo, kept, now, deliver="dm", owner=MEMBER, target=f"user:{MEMBER}")
    _fired(repo, removed_earlier, now + 1, deliver="dm", owner=MEMBER, target=f"user:{MEMBER}")
    service.remove_rule(GUILD, MEMBER, removed_earlier, is_admin=False)  # its history stays...
    other_event = _fired(repo, other, now, deliver="dm", owner=OTHER_MEMBER, target=f"user:{OTHER_MEMBER}")
    server_event = _fired(repo, server, now, deliver="channel", owner=MEMBER, target=f"channel:{ALERTS}")
    with repo.transaction():
        repo.save_notice(MEMBER, "dms_closed", "closed", now)
        repo.add_silence(guild_id=GUILD, starts_at=now, ends_at=now + 60_000, created_by=MEMBER, now=now)
    liqfeeds = LiqFeedService(repo, ["BTCUSDT"], service.now_ms)
    liqfeeds.set(GUILD, MEMBER, ALERTS, 100_000)

    report = privacy.report(MEMBER)
    assert [r.id for r in report.personal_rules] == [kept]
    assert [r.id for r in report.created_rules] == [server]
    assert (report.personal_events, report.dm_deliveries, report.notices, report.silences_created) == (
        2,
        2,
        1,
        1,
    )
    assert (report.liqfeeds_set, report.server_events_naming) == (1, 1)

    gone = privacy.forget(MEMBER)

    assert gone.rules_removed == (kept,) and gone.deleted["alert_events"] == 2
    member = f"user:{MEMBER}"
    assert _count(repo, "SELECT COUNT(*) FROM rules WHERE owner_id = ?", MEMBER) == 0
    assert _count(repo, "SELECT COUNT(*) FROM outbox WHERE target = ?", member) == 0
    assert (
        _count(repo, "SELECT COUNT(*) FROM alert_events WHERE rule_id IN (?, ?)", kept, removed_earlier) == 0
    )
    assert _count(repo, "SELECT COUNT(*) FROM member_notices WHERE user_id = ?", MEMBER) == 0
    assert _count(repo, "SELECT COUNT(*) FROM silences WHERE created_by = ?", MEMBER) == 0
    assert _count(repo, "SELECT COUNT(*) FROM rules WHERE status_reason LIKE ?", f"%{MEMBER}%") == 0
    assert privacy.report(MEMBER).empty
    # What belongs to others or to the server stays: another member's alert, the server's paused alert and
    # its history, now without the member's id.
    assert repo.event(other_event) is not None and repo.event(server_event) is not None
    server_row = repo.rule(server)
    assert server_row is not None and server_row.owner_id is None
    kept_event = repo.event(server_event)
    assert kept_event is not None and kept_event.rule["owner_id"] is None and kept_event.rule["id"] == server
    feed = liqfeeds.settings(GUILD)  # the server's liquidation feed runs on, no longer naming its setter
    assert feed is not None and feed.set_by is None and feed.min_usd == 100_000
    assert server_row.status_reason == FORGOTTEN_REASON
    other_row = repo.rule(other)
    assert other_row is not None and other_row.owner_id == OTHER_MEMBER


def test_after_deleting_a_creators_data_the_running_server_alert_no_longer_names_them(
    service: Service, repo: Repo, engine: Engine
) -> None:
    server = service.add_rule(
        GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 1}, RuleOptions(ALERTS), is_admin=True
    ).id
    engine.load()
    assert [r.row.owner_id for r in engine.rules() if r.row.id == server] == [MEMBER]

    PrivacyService(repo, engine, service.now_ms).forget(MEMBER)

    # The engine's copy is what the next alert's stored rule copy is made from: it must not bring the id back.
    assert [r.row.owner_id for r in engine.rules() if r.row.id == server] == [None]


def test_notices_are_handed_out_once(service: Service, repo: Repo, engine: Engine) -> None:
    privacy = PrivacyService(repo, engine, service.now_ms)
    personal(service, 95000)
    pause_for_closed_dms(repo, MEMBER, BREAKOUT_DAY_NOON)
    [(notice_id, text)] = privacy.pending_notices(MEMBER)
    assert "could not send you a direct message" in text
    privacy.notices_shown([notice_id])
    assert privacy.pending_notices(MEMBER) == []


def test_a_personal_alert_backtests_like_a_channel_one_even_while_paused(
    service: Service, repo: Repo
) -> None:
    store_recorded(repo, load_directory(ROOT / "bot" / "scenario"))
    rule_id = service.add_rule(
        GUILD, MEMBER, "level_cross", "BTCUSDT", {"level": 95000, "direction": "up"}, DM, is_admin=False
    ).id
    pause_for_closed_dms(repo, MEMBER, BREAKOUT_DAY_NOON)
    result = backtest(repo, rule_id, chart=False)
    assert [a.at for a in result.fired] == [parse_time("2026-01-13T23:00Z")]
    assert result.rule.deliver == "dm" and result.rule.owner_id == MEMBER
