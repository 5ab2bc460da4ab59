"""Issue 17, finding 6: another process holding the database's write lock never stalls the event loop.

A second process takes SQLite's write lock (``BEGIN IMMEDIATE``) and holds it; meanwhile an evaluation
pass wants to write, and a member asks ``/price`` through the Discord emulator. The pass waits for the
lock off the loop (``storage.writegate``), ``/price`` is answered at once, and the pass's writes are applied
when the lock is free.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.alerts.engine import Engine
from bot.alerts.live import LiveEvaluator
from bot.discord.client import TripwireBot
from bot.discord.tree import DATABASE_BUSY
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo
from storage.rows import Candle, Liquidation
from storage.writegate import WriteGate
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, OWNER_ID

HOLD_S = 2.0  # how long the other process holds the write lock
LIVE_BUSY_TIMEOUT_MS = 250  # as bot.app sets it for the live bot

# The other process: take the write lock, say so, hold it, let go.
HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    """Use a database file (WAL, as in production): another process must be able to lock it."""
    repo = Repo(open_database(tmp_path / "tripwire.db"))
    repo.set_busy_timeout(LIVE_BUSY_TIMEOUT_MS)
    yield repo
    repo.close()


class LoopLag:
    """Measure the longest time the event loop did not get to run a 10 ms timer."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _probe(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - started - 0.01)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._probe())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


def _rule_states(path: str) -> int:
    """Count the rule state rows another connection sees (what the evaluation pass committed)."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM detector_state").fetchone()[0])


async def test_finding_6_price_answers_and_writes_apply_while_another_process_holds_the_lock(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, engine: Engine, clock: Clock
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    added = await discord_emu.slash(
        "alert add",
        {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=95000"},
        user_id=OWNER_ID,
    )
    assert added.embeds, added.content
    evaluator = LiveEvaluator(engine, clock, interval_seconds=60, gate=WriteGate(repo, poll_seconds=0.02))
    before = _rule_states(repo.path)

    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, repo.path, str(HOLD_S), stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"locked"
    with LoopLag() as lag:
        evaluation = asyncio.create_task(evaluator.evaluate_when_free())
        await asyncio.sleep(0.2)
        assert evaluator.gate is not None and evaluator.gate.blocked_for() > 0  # it waits, the loop runs
        asked = time.perf_counter()
        reply = await discord_emu.slash("price", {"symbol": "btc"}, timeout=5)
        answered_in = time.perf_counter() - asked
        # A command that writes cannot: it says so at once instead of freezing the bot (nothing changed).
        asked = time.perf_counter()
        refused = await discord_emu.slash(
            "alert add",
            {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=99000"},
            user_id=OWNER_ID,
            timeout=5,
        )
        refused_in = time.perf_counter() - asked
        assert not evaluation.done()  # the lock is still held: the pass has not written yet
        await holder.wait()
        await asyncio.wait_for(evaluation, timeout=5)
    print(
        f"/price answered in {answered_in:.3f} s; worst loop stall {lag.worst:.3f} s under a {HOLD_S} s lock"
    )
    assert reply.embeds and reply.embeds[0]["title"].startswith("BTC is at $"), reply.content
    assert answered_in < 1.0
    assert refused.content == DATABASE_BUSY and refused_in < 1.0, refused.content
    assert len(repo.rules()) == 1
    assert lag.worst < 0.5
    # The pass ran once the lock was free and its writes are committed (seen by another connection).
    assert evaluator.evaluations == 1
    assert evaluator.gate.blocked_for() == 0
    assert _rule_states(repo.path) > before


async def test_finding_6_ingest_under_a_held_lock_loses_nothing(
    repo: Repo, engine: Engine, clock: Clock
) -> None:
    # Synthetic rows, an hour after the scenario's last stored minute so they are new.
    at = clock.now + 3_600_000
    candle = Candle("BTCUSDT", "1m", at, "binance_spot", 97_000.0, 97_100.0, 96_900.0, 97_050.0, 12.5)
    event = Liquidation("BTCUSDT", at + 1_000, "binance_futures", "long", 96_950.0, 0.5, 48_475.0)
    history = MarketHistory()
    ingest = Ingest(repo, history)
    told: list[int] = []
    ingest.subscribe_rows("liquidations", lambda rows: told.append(len(rows)))
    evaluator = LiveEvaluator(
        engine, clock, interval_seconds=60, gate=WriteGate(repo, poll_seconds=0.02), before=ingest.flush
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, repo.path, "1.0", stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    assert (await holder.stdout.readline()).strip() == b"locked"
    ingest.candles([candle])  # neither raises nor loses the rows: they wait in memory
    assert ingest.liquidations([event]) == 0  # only the database can say it is new: wait for it
    assert ingest.waiting_rows == 2 and told == []
    assert history.last_time("BTCUSDT") is not None  # the detectors see the candle at once
    await holder.wait()
    await asyncio.wait_for(evaluator.evaluate_when_free(), timeout=5)
    assert ingest.waiting_rows == 0 and told == [1]
    with sqlite3.connect(repo.path) as conn:
        stored = conn.execute(
            "SELECT c FROM candles WHERE symbol = 'BTCUSDT' AND interval = '1m' AND open_time = ?", (at,)
        ).fetchall()
        assert stored == [(97_050.0,)]
        assert (
            conn.execute("SELECT count(*) FROM liquidations WHERE ts = ?", (at + 1_000,)).fetchone()[0] == 1
        )
    # The same event again (a re-poll) is known to the database now: not new.
    assert ingest.liquidations([event]) == 0 and told == [1]
