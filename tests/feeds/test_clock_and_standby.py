"""The host clock off by ten minutes either way, and fallbacks that wait instead of going stale.

Every test runs the FeedManager against the exchange emulator, whose clock (tests/emulators/exchanges/
clock.py, frozen at the test's ManualClock) stamps its Date headers and Bybit's ``time``; the host clock
the feeds are given is that clock plus the skew.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from bot.ops.instruments import FEED_STATE_VALUES
from bot.ops.watchdog import FeedWatchdog, watch
from detectors.market_history import MarketHistory
from feeds.clock import VenueClock, parse_http_date
from feeds.guard import RowGuard
from feeds.health import FeedState, StateChange
from feeds.ingest import Ingest
from feeds.scheduler import FeedManager
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, ManualClock
from tests.feeds.helpers import emulator_feeds_config, wait_for

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
TEN_MINUTES = 600_000


def _count(ingest: Ingest, table: str, where: str = "1") -> int:
    return int(ingest.repo.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])


def test_http_dates_are_read_as_the_middle_of_their_second() -> None:
    # RFC 9110 section 6.6.1: IMF-fixdate, GMT, one-second resolution.
    assert parse_http_date("Tue, 20 Jan 2026 12:00:00 GMT") == 1_768_910_400_500
    assert parse_http_date("not a date") is None
    assert parse_http_date("Tue, 20 Jan 2026 12:00:00") is None  # no zone: not an HTTP date


def test_one_venue_cannot_move_the_clock_and_a_huge_offset_is_not_applied() -> None:
    host = ManualClock(1_768_910_400_000)
    clock = VenueClock(host, alert_after_ms=30_000)
    told: list[int] = []
    clock.subscribe(lambda offset, venues: told.append(offset))
    for venue in ("binance_spot", "bybit"):
        clock.observe_server_time(venue, host() + 5_000, host(), host())
    clock.observe_server_time("okx", host() + 4_000_000_000, host(), host())  # a venue stamping 2099
    assert clock.offset_ms == 5_000 and clock.now_ms() == host() + 5_000
    assert told == []  # 5 s is under the alert threshold
    lone = VenueClock(host)
    lone.observe_server_time("okx", host() + 4_000_000_000, host(), host())
    assert lone.applied_ms == 0 and "too far to correct" in lone.describe()
    # Under a second is noise (Date headers have one-second resolution): never applied.
    quiet = VenueClock(host)
    quiet.observe_server_time("bybit", host() + 400, host(), host())
    assert quiet.now_ms() == host()


async def _start(
    emu: ExchangeEmulator,
    file_repo: Repo,
    clock: ManualClock,
    skew_ms: int,
    *,
    correct: bool,
) -> tuple[FeedManager, Ingest, VenueClock, list[int]]:
    def host() -> int:
        return clock() + skew_ms

    config = emulator_feeds_config(
        emu.base_url,
        emu.ws_url,
        only={"binance_spot", "binance_futures", "bybit", "fear_greed"},
        binance_futures={"liquidations": False},
        bybit={"liquidations": False},
        limits={"correct_clock": correct, "clock_skew_alert_seconds": 30},
    )
    venue_clock = VenueClock(host, correct=correct, alert_after_ms=30_000)
    told: list[int] = []
    venue_clock.subscribe(lambda offset, venues: told.append(offset))
    ingest = Ingest(file_repo, MarketHistory(), guard=RowGuard(venue_clock.now_ms))
    manager = FeedManager(config, SYMBOLS, ingest, None, host, tuning=FAST, clock=venue_clock)
    await manager.start()
    return manager, ingest, venue_clock, told


@pytest.mark.parametrize("skew_ms", [TEN_MINUTES, -TEN_MINUTES], ids=["host-ahead", "host-behind"])
async def test_ten_minutes_of_skew_is_measured_reported_once_and_corrected(
    emu: ExchangeEmulator,
    file_repo: Repo,
    clock: ManualClock,
    skew_ms: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        manager, ingest, venue_clock, told = await _start(emu, file_repo, clock, skew_ms, correct=True)
    try:
        await wait_for(lambda: _count(ingest, "funding", "source = 'bybit'") == 2, what="Bybit tickers")
        # The venues' time minus ours: -skew, to the Date header's second.
        assert abs(venue_clock.offset_ms + skew_ms) <= 1_500, venue_clock.venue_offsets()
        assert venue_clock.now_ms() - clock() in range(-1_500, 1_501)
        assert len(told) == 1  # said once, however many answers confirm it
        lines = [r.getMessage() for r in caplog.records if "clock skew" in r.getMessage()]
        way = "ahead of" if skew_ms > 0 else "behind"
        assert len(lines) == 1 and re.search(rf"host clock (599|600)\.\ds {way} the venues", lines[0]), lines

        # Nothing looks stale (once the first polls have reported), nothing fresh is refused as "future".
        def none_stale() -> bool:
            return all(s.state is not FeedState.STALE for s in manager.health.snapshots())

        await wait_for(none_stale, what="no stale feed")
        # Kinds no running feed provides count as stale: liquidations (their streams are off here) and the
        # positioning feed's (not started here), and the ETF flows ([feeds.etf] is off by default).
        off = {"liquidations", "depth", "long_short", "implied_vol", "predicted_funding", "etf_flow"}
        assert manager.health.stale_kinds("BTCUSDT") == off
        assert sum(ingest.guard.refused.values()) == 0
    finally:
        await manager.stop()


async def test_uncorrected_skew_is_what_the_issue_saw(
    emu: ExchangeEmulator, file_repo: Repo, clock: ManualClock
) -> None:
    # Ten minutes ahead without correction: funding and OI look stale. (The test above fails without it.)
    manager, ingest, venue_clock, told = await _start(emu, file_repo, clock, TEN_MINUTES, correct=False)
    try:
        await wait_for(lambda: _count(ingest, "funding", "source = 'bybit'") == 2, what="Bybit tickers")
        assert venue_clock.now_ms() == clock() + TEN_MINUTES and len(told) == 1  # still measured and said
        assert manager.health.get("bybit.tickers").state() is FeedState.STALE
    finally:
        await manager.stop()
    # Ten minutes behind without correction: the venues' fresh rows are "in the future" and refused.
    file_repo.conn.execute("DELETE FROM funding")
    manager, ingest, _, _ = await _start(emu, file_repo, clock, -TEN_MINUTES, correct=False)
    try:
        await wait_for(lambda: manager.health.get("bybit.tickers").last_success is not None, what="a poll")
        assert _count(ingest, "funding", "source = 'bybit'") == 0
        assert ingest.guard.refused["funding:bybit:time"] == 2
    finally:
        await manager.stop()


# --- standby ------------------------------------------------------------------------------------------------


def _all_zero(manager: FeedManager) -> Callable[[], bool]:
    def check() -> bool:
        return all(FEED_STATE_VALUES[str(s.state)] == 0 for s in manager.health.snapshots())

    return check


async def test_the_default_config_has_no_stale_feed_and_the_fallback_stands_by(
    emu: ExchangeEmulator, ingest: Ingest, file_repo: Repo, clock: ManualClock
) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url)
    assert config.binance_spot.fallback == "coinbase" and config.coinbase.enabled
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    changes: list[StateChange] = []
    manager.health.subscribe(changes.append)
    watchdog = FeedWatchdog(file_repo, clock, debounce_ms=120_000, ops_channel_id=1)
    watch(manager.health, watchdog)
    await manager.start()
    try:
        coinbase = manager.health.get("coinbase").snapshot()
        assert coinbase.state is FeedState.STANDBY and not coinbase.active
        # Streams connect within moments of start; then every feed reads 0 on tripwire_feed_state.
        await wait_for(_all_zero(manager), what="every feed ok or standby")
        manager.health.check()
        clock.advance(150)  # past the watchdog's debounce: what the ops channel got two minutes in
        emu_now = clock()
        assert watchdog.check(emu_now) == []
        assert not any(c.name == "coinbase" and c.new is FeedState.STALE for c in changes)
    finally:
        await manager.stop()
    rows = file_repo.conn.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'ops'").fetchone()[0]
    assert rows == 0


async def test_binance_futures_451_hands_funding_and_oi_to_bybit_said_once(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    emu.set_geo_block(True)
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"binance_futures", "bybit"})
    manager = FeedManager(config, SYMBOLS, ingest, None, clock, tuning=FAST)
    await manager.start()
    try:
        await wait_for(lambda: _count(ingest, "funding", "source = 'bybit'") == 2, what="Bybit tickers")
        for name in (
            "binance_futures.funding",
            "binance_futures.open_interest",
            "binance_futures.liquidations",
        ):
            await wait_for(
                lambda name=name: manager.health.get(name).state() is FeedState.STANDBY,  # type: ignore[misc]
                what=f"{name} on standby",
            )
        funding = manager.health.get("binance_futures.funding").snapshot()
        assert funding.note is not None and "HTTP 451" in funding.note and "bybit.tickers" in funding.note
        assert manager.health.stale_kinds("BTCUSDT") >= set() and "funding" not in manager.health.stale_kinds(
            "BTCUSDT"
        )
        assert "open_interest" not in manager.health.stale_kinds("BTCUSDT")
        # Later polls are refused too; it is said once per feed, not per poll.
        for job in manager.feeds[0].jobs():
            clock.advance(600)
            await job.run()
        said = [r.getMessage() for r in caplog.records if "standby" in r.getMessage()]
        assert sorted(m.split(":")[0] for m in said) == [
            "binance_futures.funding",
            "binance_futures.liquidations",
            "binance_futures.open_interest",
        ], said
        # Binance answers again: back in service on its first success.
        emu.set_geo_block(False)
        clock.advance(600)
        assert await manager.feeds[0].funding_poller.run()  # type: ignore[attr-defined]
        assert manager.health.get("binance_futures.funding").snapshot().active
    finally:
        await manager.stop()
