"""Helpers for the noise-control tests: the bundled rules routed to the emulator's channels, a replay into
Discord with the config's grouping, and reading grouped messages."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from bot.alerts.routing import AlertRouter
from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.notify.grouping import GroupingPolicy
from bot.replay.pipeline import ReplaySummary, SimulatedClock, run_replay
from feeds.replay import parse_time
from storage.repo import OutboxRow, Repo
from tests.bot.discord.support import rows
from tests.bot.scenario import scenario_data
from tests.conftest import ROOT
from tests.emulators.discord_api import DiscordEmulator, RateLimitRule, StoredMessage
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID, MOD_ROLE_ID

BREAKOUT_FROM = parse_time("2026-01-13T22:00Z")
BREAKOUT_TO = parse_time("2026-01-13T23:00Z")
RESOLVED_BY = parse_time("2026-01-14T00:00Z")
BTC_LINES = [
    "$109.0M of BTC shorts liquidated in 1h",
    "BTC: mechanical short squeeze (+1.8% in 1h, $109.0M of shorts liquidated)",
    "BTC broke above $95,000",
]
FOLDED = [
    "BTC broke above $95,000 (round level)",
    "BTC volume spike: 3,452 BTC in 1h, 4.4× the 24h average (price +1.8% to $95,757.21)",
]
ETH_LINES = [
    "ETH +7.6% in 24h (to $3,331.18)",
    "ETH broke above $3,250 (round level)",
    "ETH volume spike: 119,773 ETH in 1h, 9.3× the 24h average (price +3.8% to $3,331.18)",
]


@pytest.fixture(name="roomy_rate_limits", autouse=True)
def roomy_message_limits(discord_emu: DiscordEmulator) -> None:
    """Let the emulator take a replay's bursts quickly, in every test of a module importing this fixture
    (the sink's own pacing is what is under test elsewhere)."""
    discord_emu.config.rate_limits.message_create = RateLimitRule(50, 1.0)


def scenario_config(rules: dict[str, dict[str, Any]] | None = None, **engine: Any) -> Config:
    """Return config.example.toml's rules with BTC routed to #alerts (pinging a role) and ETH to #general."""
    data = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    data["discord"]["guild_ids"] = [GUILD_ID]
    data["routes"] = [
        {
            "guild_id": GUILD_ID,
            "channel_id": ALERTS_CHANNEL_ID,
            "symbols": ["BTCUSDT"],
            "role_id": MOD_ROLE_ID,
        },
        {"guild_id": GUILD_ID, "channel_id": GENERAL_CHANNEL_ID, "symbols": ["ETHUSDT"]},
    ]
    data["engine"].update(engine)
    for rule in data["rules"]:
        rule.update((rules or {}).get(rule["id"], {}))
    return parse_config(data)


async def replay(
    tripwire: TripwireBot, repo: Repo, config: Config, start: int, end: int, **sink_options: Any
) -> ReplaySummary:
    """Replay the bundled data from ``start`` to ``end`` into Discord with the config's grouping policy."""
    clock = SimulatedClock(start)
    sink = DiscordSink(
        tripwire,
        repo,
        tripwire.service.engine,
        clock,
        grouping=GroupingPolicy.from_config(config.engine),
        **sink_options,
    )
    return await run_replay(
        config,
        scenario_data(),
        repo,
        [sink],
        lambda r: AlertRouter(r, config.routes, console=False, discord=True),
        start=start,
        end=end,
        clock=clock,
    )


def all_rows(repo: Repo) -> list[OutboxRow]:
    """Return every outbox row, oldest first."""
    return rows(repo, [i for (i,) in repo.conn.execute("SELECT id FROM outbox ORDER BY id")])


def listed(message: StoredMessage) -> list[str]:
    """Return the alert titles a grouped message lists (bold), in order."""
    return [line.split("**")[1] for line in message.embeds[0]["description"].splitlines() if "**" in line]


def folded_under(message: StoredMessage) -> list[str]:
    """Return the folded lines of a grouped message."""
    return [line.split("↳ ", 1)[1] for line in message.embeds[0]["description"].splitlines() if "↳" in line]
