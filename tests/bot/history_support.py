"""A database holding the January 2026 scenario *and* the alerts the example config's rules raised on it,
routed to the emulator's guild: what /history, /why and /chart look back at.

The replay runs once per test session (about a second); each test gets its own copy of the result.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from typing import Any

import pytest

from bot.alerts.routing import AlertRouter
from bot.config import Config, parse_config
from bot.notify.outbox import Delivered, Outcome
from bot.replay.pipeline import run_replay
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import OutboxRow, Repo
from tests.bot.scenario import scenario_data
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID

# The btc-95k crossing: the hour BTC closed above $95,000 (95,757.21), 2026-01-13 23:00 UTC.
CROSSING_AT = 1_768_345_200_000


def history_config_data() -> dict[str, Any]:
    """Return the bundled example config as data, routed to the emulator's guild, with small quotas."""
    text = resources.files("bot.scenario").joinpath("config.example.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data["discord"] = {**data["discord"], "guild_ids": [GUILD_ID], "max_rules_per_user": 5}
    data["discord"]["max_rules_per_guild"] = 8
    data["routes"] = [{"guild_id": GUILD_ID, "channel_id": ALERTS_CHANNEL_ID}]
    return data


def history_config() -> Config:
    """Return the example config routed to the emulator's guild."""
    return parse_config(history_config_data())


class _Posted:
    """A Discord sink stand-in for the replay: every alert counts as posted (message id = outbox id)."""

    name = "discord"

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        return [Delivered(row.id, str(1_000_000 + row.id)) for row in rows]


@cache
def _replayed() -> Repo:
    repo = Repo(open_database(":memory:"))
    config = history_config()
    replay = run_replay(
        config,
        scenario_data(),
        repo,
        [_Posted()],
        lambda r: AlertRouter(r, config.routes, console=False, discord=True),
    )
    # A thread of its own: the first caller may be a fixture of a test whose event loop is running.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, replay).result()
    return repo


def load_replayed(repo: Repo) -> None:
    """Fill ``repo`` (a fresh database) with the replayed scenario: market data, rules, alerts, outbox."""
    _replayed().conn.backup(repo.conn)


# Fixtures for the modules that import them: ``config`` and ``history`` of the replayed scenario, in place of
# the plain ones of tests/bot/discord/conftest.py.


@pytest.fixture(name="config")
def replayed_config() -> Config:
    """Return the example config, its rules routed to the emulator's guild."""
    return history_config()


@pytest.fixture(name="history")
def replayed_history(repo: Repo) -> MarketHistory:
    """Fill the database with the replayed scenario: market data, the example rules and their alerts."""
    load_replayed(repo)
    return MarketHistory()


def crossing_event_id(repo: Repo) -> int:
    """Return the id of btc-95k's one alert."""
    [event] = [e for e in repo.events(rule_id="btc-95k") if e.state == "firing"]
    return event.id
