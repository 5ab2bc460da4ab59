"""FeedManager: every source against the emulator into SQLite, APScheduler job rules, a clean stop."""

from __future__ import annotations

import asyncio
import itertools
import logging

import aiohttp
import pytest

from feeds.health import FeedState, StateChange
from feeds.ingest import Ingest
from feeds.scheduler import FeedManager
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, ManualClock
from tests.feeds.helpers import emulator_feeds_config, wait_for

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def _count(ingest: Ingest, table: str, where: str = "1") -> int:
    return int(ingest.repo.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])


def _per_symbol(ingest: Ingest, table: str, where: str = "1") -> dict[str, int]:
    sql = f"SELECT symbol, COUNT(*) FROM {table} WHERE {where} GROUP BY symbol"
    return {symbol: int(count) for symbol, count in ingest.repo.conn.execute(sql)}


async def test_every_source_lands_in_sqlite_and_stop_leaves_nothing_running(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock
) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url)
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    changes: list[StateChange] = []
    manager.health.subscribe(changes.append)
    await manager.start()
    session = manager.session
    assert session is not None and not session.closed
    try:
        # Backfill happened before start() returned.
        assert _count(ingest, "candles", "source = 'binance'") == 49 + 32
        # ETHUSDT's funding and open interest are the emulator's synthetic ones, which end with its
        # candle recording (at 2026-01-20 07:00): two settlements and 17 hours of 5m points fewer.
        assert _per_symbol(ingest, "funding", "source = 'binance' AND settled = 1") == {
            "BTCUSDT": 6,
            "ETHUSDT": 4,
        }
        assert _per_symbol(ingest, "open_interest", "source = 'binance'") == {"BTCUSDT": 576, "ETHUSDT": 372}
        assert _count(ingest, "fear_greed") == 60
        # Positioning: two days of hourly ratios from Binance (four kinds) and Bybit, and of DVOL, for both.
        assert _per_symbol(ingest, "long_short", "period = '1h' AND source = 'bybit'") == {
            "BTCUSDT": 48,
            "ETHUSDT": 31,
        }
        assert {r[0] for r in ingest.repo.conn.execute("SELECT DISTINCT currency FROM implied_vol")} == {
            "BTC",
            "ETH",
        }
        # Streams: the recorded frames replayed on all three venues (only BTC/ETH ones are kept).
        for venue, subscribed in (
            ("binance", "!forceOrder@arr"),
            ("bybit", None),
            ("okx", "liquidation-orders:SWAP"),
        ):
            await emu.wait_ws(venue, subscribed=subscribed)
        await emu.wait_ws("bybit", subscribed="allLiquidation.ETHUSDT")
        emu.start_replay(300.0)
        await wait_for(
            lambda: _count(ingest, "liquidations", "source = 'okx'") == 215, what="OKX liquidations"
        )
        await wait_for(
            lambda: _count(ingest, "liquidations", "source = 'binance'") == 11, what="Binance BTC/ETH"
        )
        # Bybit's BTC/ETH frames are OKX's recorded events re-expressed (the emulator's stand-in).
        await wait_for(
            lambda: (
                _per_symbol(ingest, "liquidations", "source = 'bybit'") == {"BTCUSDT": 113, "ETHUSDT": 102}
            ),
            what="Bybit BTC/ETH",
        )
        # The first polls ran at start (APScheduler next_run_time = now): current funding and OI.
        await wait_for(lambda: _count(ingest, "funding", "source = 'bybit'") == 2, what="Bybit tickers")
        assert _per_symbol(ingest, "open_interest", "source = 'bybit'") == {"BTCUSDT": 1, "ETHUSDT": 1}
        await wait_for(
            lambda: _count(ingest, "funding", "settled = 0 AND source = 'binance'") == 2, what="funding"
        )
        assert manager.health.stale_kinds("BTCUSDT") == {"etf_flow"}  # [feeds.etf] is off by default
        await wait_for(
            lambda: _count(ingest, "funding", "source = 'hyperliquid'") == 2, what="Hyperliquid contexts"
        )
        assert _per_symbol(ingest, "open_interest", "source = 'hyperliquid'") == {"BTCUSDT": 1, "ETHUSDT": 1}
        await wait_for(lambda: _count(ingest, "funding", "source = 'okx'") == 2, what="OKX funding")
        assert _per_symbol(ingest, "open_interest", "source = 'okx'") == {"BTCUSDT": 1, "ETHUSDT": 1}
        for venue in ("gate", "deribit"):
            await wait_for(lambda v=venue: _count(ingest, "funding", f"source = '{v}'") == 2, what=venue)
            assert _per_symbol(ingest, "open_interest", f"source = '{venue}'") == {"BTCUSDT": 1, "ETHUSDT": 1}
        await wait_for(lambda: _count(ingest, "long_short", "source = 'okx'") > 0, what="OKX rubik")
        await wait_for(lambda: _count(ingest, "predicted_funding") >= 6, what="predicted funding")
        venues = ingest.repo.conn.execute("SELECT DISTINCT symbol, venue FROM predicted_funding").fetchall()
        assert len(venues) == 6  # BTC and ETH on Hyperliquid, Binance and Bybit
        assert manager.health.stale_kinds("MARKET") == {
            "candles",
            "liquidations",
            "funding",
            "open_interest",
            "long_short",
            "implied_vol",
            "depth",
            "etf_flow",  # [feeds.etf] is off by default: nothing provides it
            "predicted_funding",
        }
        await wait_for(
            lambda: {c.name for c in changes if c.new is FeedState.OK} >= {"binance_spot", "fear_greed"},
            what="state changes announced",
        )
        jobs = {job.id: job for job in manager.scheduler.get_jobs()}  # type: ignore[union-attr]
        assert set(jobs) == {
            "binance_spot",
            "binance_futures.funding",
            "binance_futures.open_interest",
            "bybit.tickers",
            "okx.instruments",
            "fear_greed",
            "positioning.long_short",
            "positioning.dvol",
            "positioning.hyperliquid",
            "positioning.okx",
            "positioning.depth",
            "positioning.okx_rubik",
            "positioning.gate",
            "positioning.deribit_book",
            "positioning.hyperliquid_predicted",
            "health",
        }
        for name, job in jobs.items():
            assert job.max_instances == 1 and job.coalesce is True
            if name != "health":
                assert 0 < job.trigger.jitter <= FAST.jitter_max_s
        assert jobs["binance_spot"].trigger.interval.total_seconds() == config.binance_spot.poll_seconds
        assert len([t for t in asyncio.all_tasks() if _is_feed_task(t)]) >= 3  # the three streams
    finally:
        await emu.stop_replay()
        await manager.stop()
    assert session.closed and manager.session is None
    # The emulator is still up (its handlers are the fixture's to stop); nothing of the feeds may run.
    assert [t for t in asyncio.all_tasks() if _is_feed_task(t)] == []


def _is_feed_task(task: asyncio.Task[object]) -> bool:
    if task.done() or task is asyncio.current_task():
        return False
    return any(
        "/feeds/" in f.f_code.co_filename or "apscheduler" in f.f_code.co_filename for f in task.get_stack()
    )


async def test_a_slow_poll_never_overlaps_itself(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # Fear & Greed every 50 ms (below the config minimum, set directly) while each answer takes 300 ms.
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"fear_greed"})
    fast_fng = config.fear_greed.model_copy(update={"poll_seconds": 0.05})
    config = config.model_copy(update={"fear_greed": fast_fng})
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    await manager.start()  # the backfill request is not delayed
    emu.delay("/fng/", 0.3, times=None)
    try:
        await asyncio.sleep(1.0)
    finally:
        await manager.stop()  # cancels the poll in flight
    polls = emu.requests("/fng/")[1:]
    assert 2 <= len(polls) <= 4  # not 20: a run waits for the previous one
    gaps = [b.time - a.time for a, b in itertools.pairwise(polls)]
    assert all(gap >= 0.29 for gap in gaps), gaps
    # Stopping with a poll in flight is a normal end, not a failed job.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_given_session_is_shared_and_left_open(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock, session: aiohttp.ClientSession
) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"fear_greed", "binance_spot"})
    manager = FeedManager(config, SYMBOLS, ingest, session, clock, tuning=FAST)
    await manager.start()
    try:
        http_clients = [f.http for f in manager.feeds if hasattr(f, "http")]
        assert http_clients and all(c.session is session for c in http_clients)
    finally:
        await manager.stop()
    assert not session.closed  # the caller owns it


async def test_start_with_every_exchange_down_still_starts_and_reports(
    ingest: Ingest, clock: ManualClock
) -> None:
    from tests.emulators.exchanges import free_port

    port = free_port()
    config = emulator_feeds_config(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    await manager.start()  # backfills fail fast, pollers and streams start anyway
    try:
        snapshots = {s.name: s for s in manager.health.snapshots()}
        assert snapshots["binance_spot"].last_error and snapshots["binance_spot"].last_error.startswith(
            "connection:"
        )
        assert all(s.state is FeedState.STALE for s in snapshots.values() if s.active)
        assert manager.health.stale_kinds("BTCUSDT") == {
            "candles",
            "liquidations",
            "funding",
            "open_interest",
            "long_short",
            "implied_vol",
            "depth",
            "fear_greed",
            "etf_flow",  # [feeds.etf] is off by default: nothing provides it
            "predicted_funding",
        }
    finally:
        await manager.stop()


async def test_stop_twice_and_start_twice(emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"fear_greed"})
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    await manager.start()
    with pytest.raises(RuntimeError):
        await manager.start()
    await manager.stop()
    await manager.stop()


async def test_the_detectors_history_reads_funding_intervals_from_the_instrument_lists(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock
) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"gate"})
    assert ingest.history.stated_funding_interval is None  # nothing read yet: 8 h assumed, as in a replay
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST, instrument_lists=True)
    await manager.start()
    try:
        stated = ingest.history.stated_funding_interval
        assert stated is not None
        # Gate's contract list on the emulator: BTC_USDT's funding_interval is 28,800 s.
        assert stated("gate", "BTCUSDT") == 8.0 and stated("hyperliquid", "BTCUSDT") is None
        assert ingest.history.view("BTCUSDT", clock()).funding_interval_h("gate") == 8.0
    finally:
        await manager.stop()
