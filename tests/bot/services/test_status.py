"""/status lists the server's last alerts from the same list as /history (issue 22). All ids are synthetic."""

from __future__ import annotations

from bot.alerts.rules import sync_config_rules
from bot.config import Config, parse_config
from bot.services import Service
from bot.services.history import HistoryQuery, HistoryService
from bot.services.visibility import Viewer
from storage.repo import Repo
from tests.bot.support import Clock, FixedFeeds, discord_engine, record_firing

GUILD = 1001
OTHER_GUILD = 1002
MEMBER = 2002
ALERTS = 3001
OTHER_ALERTS = 3002
NOW = 1_768_300_000_000


def config() -> Config:
    """Return a config with a rule routed here, one routed to another server and one routed nowhere."""
    return parse_config(
        {
            "symbols": ["BTCUSDT", "ETHUSDT"],
            "routes": [
                {"guild_id": GUILD, "channel_id": ALERTS, "detectors": ["level_cross"]},
                {"guild_id": OTHER_GUILD, "channel_id": OTHER_ALERTS, "symbols": ["ETHUSDT"]},
            ],
            "rules": [
                {"id": "here", "detector": "level_cross", "symbol": "BTCUSDT", "level": 95000},
                {"id": "elsewhere", "detector": "pct_move", "symbol": "ETHUSDT", "pct": 3},
                {"id": "nowhere", "detector": "round_levels", "symbol": "BTCUSDT", "step": 5000},
            ],
        }
    )


def test_status_and_history_list_the_same_alerts_of_the_server(repo: Repo) -> None:
    cfg = config()
    sync_config_rules(repo, cfg, NOW - 1_000_000)
    service = Service(repo, discord_engine(repo), cfg, Clock(NOW), FixedFeeds([]))
    here = record_firing(repo, "here", "BTC broke above $95,000", NOW - 500_000, guild_id=None)
    # 250 newer alerts of config rules that never reached this server: one posted in another server (its
    # outbox row says where), the rest posted nowhere. /status used to read every config rule's alert and
    # filter the newest 200 afterwards, so it listed none of this server's; /history listed #here.
    for i in range(250):
        rule_id = "elsewhere" if i % 2 else "nowhere"
        event_id = record_firing(repo, rule_id, f"alert {i}", NOW - 400_000 + i, guild_id=None)
        if rule_id == "elsewhere":
            repo.enqueue(
                event_id=event_id,
                sink="discord",
                target=f"channel:{OTHER_ALERTS}",
                kind="alert",
                payload={"guild_id": OTHER_GUILD},
                now=NOW,
            )
    viewer = Viewer(MEMBER, GUILD, frozenset({ALERTS}), frozenset({ALERTS}))
    assert [a.event_id for a in service.status(GUILD, viewer).last_alerts] == [here]
    # A caller with no viewer (a service caller, the CLI) gets the server's list too, not every alert.
    assert [a.event_id for a in service.status(GUILD).last_alerts] == [here]
    history = HistoryService(service).history(HistoryQuery(GUILD, MEMBER, frozenset({ALERTS})))
    assert [line.event_id for line in history.items] == [here]
