"""Changes committed in one process reach another's listener (LISTEN/NOTIFY, storage.changes)."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from storage.changes import RESYNC, RULE, SETTINGS, SILENCE, Change, ChangeListener, channel_name, parse
from storage.repo import Repo
from storage.rows import GuildSettingsRow, RuleRow
from tests.storage.test_postgres import _pg

# A second process writes through its own Repo: what another bot process does.
WRITER = """
import sys
from storage.db import open_database
from storage.repo import Repo
from storage.rows import RuleRow
repo = Repo(open_database(sys.argv[1]))
with repo.transaction():
    repo.save_rule(RuleRow("from-elsewhere", "discord", "price_level", "BTCUSDT", {"above": 1}))
repo.close()
"""


class Heard:
    """Collect what a listener hands over, and let a test wait for a change."""

    def __init__(self) -> None:
        self.changes: list[Change] = []
        self.arrived = asyncio.Event()

    def __call__(self, change: Change) -> None:
        self.changes.append(change)
        self.arrived.set()

    async def wait_for(self, wanted: Change, within: float) -> float:
        """Wait until ``wanted`` is heard; return how long it took (fail after ``within`` seconds)."""
        started = time.monotonic()
        while wanted not in self.changes:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), within - (time.monotonic() - started))
        return time.monotonic() - started


async def test_a_rule_added_by_another_process_is_heard_within_a_second(pg_url: str) -> None:
    heard, stop = Heard(), asyncio.Event()
    listener = ChangeListener(pg_url, heard)
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, pg_url, env=env)
        assert await proc.wait() == 0
        # The process started and wrote; from its commit the change arrives well within a second.
        await heard.wait_for(Change(RULE, "from-elsewhere"), within=1.0)
    finally:
        stop.set()
        await task


async def test_a_rolled_back_change_is_never_heard_and_a_committed_one_is(pg_url: str) -> None:
    heard, stop = Heard(), asyncio.Event()
    listener = ChangeListener(pg_url, heard)
    task = asyncio.create_task(listener.run(stop))
    writer = _pg(pg_url)
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        try:
            with writer.transaction():
                writer.add_silence(guild_id=1, starts_at=0, ends_at=10, now=0)
                raise RuntimeError("undo")
        except RuntimeError:
            pass
        with writer.transaction():
            writer.save_guild_settings(
                GuildSettingsRow(
                    guild_id=7, alert_channel_id=8, ops_channel_id=None, settings={}, updated_at=0
                )
            )
        await heard.wait_for(Change(SETTINGS, "7"), within=1.0)
        assert [c.kind for c in heard.changes] == [SETTINGS]  # the silence was rolled back: no news
    finally:
        stop.set()
        await task
        writer.close()


async def test_a_listener_that_lost_its_connection_comes_back_and_asks_for_a_resync(pg_url: str) -> None:
    heard, stop = Heard(), asyncio.Event()
    listener = ChangeListener(pg_url, heard, retry_seconds=0.05)
    task = asyncio.create_task(listener.run(stop))
    admin = _pg(pg_url)
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        channel = channel_name(str(admin.conn.execute("SELECT current_schema()").fetchone()[0]))
        admin.conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE ?",
            (f"LISTEN {channel}%",),
        )
        await heard.wait_for(Change(RESYNC), within=5.0)
        with admin.transaction():
            admin.add_silence(guild_id=None, starts_at=0, ends_at=10, now=0)
        await heard.wait_for(Change(SILENCE, "1"), within=1.0)
    finally:
        stop.set()
        await task
        admin.close()


def test_sqlite_publishes_nothing_and_an_unreadable_payload_is_ignored(repo: Repo) -> None:
    repo.save_rule(RuleRow("r", "discord", "price_level", "BTCUSDT", {}))  # no NOTIFY on SQLite: no error
    assert parse('{"kind": "rule", "key": "r"}') == Change(RULE, "r")
    assert parse("not json") is None and parse('{"key": 1}') is None
