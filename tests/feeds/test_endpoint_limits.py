"""Binance USD-M history endpoints with limits of their own: a 429 there slows that endpoint, nothing else."""

from __future__ import annotations

from feeds.binance_futures import BinanceFuturesFeed
from feeds.health import HealthRegistry
from feeds.http import BINANCE_FUTURES_ENDPOINT_LIMITS, EndpointGate, EndpointLimit
from feeds.ingest import Ingest
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory

OI_HIST = "/futures/data/openInterestHist"
FUNDING = "/fapi/v1/fundingRate"
# 5-minute points of the two days backfilled: ETHUSDT's (synthetic) open interest follows its candle
# recording, which ends on 2026-01-20 at 07:00; the stand-ins (SOL, XRP) cover BTC's whole recording.
POINTS = {"BTCUSDT": 576, "ETHUSDT": 372, "SOLUSDT": 576, "XRPUSDT": 576}


def test_the_documented_limits_are_the_ones_applied() -> None:
    assert BINANCE_FUTURES_ENDPOINT_LIMITS[OI_HIST] == EndpointLimit(1000, 300.0)
    assert BINANCE_FUTURES_ENDPOINT_LIMITS[FUNDING] == EndpointLimit(500, 300.0)


async def test_a_429_on_open_interest_history_slows_it_and_the_funding_backfill_goes_on(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCUSDT", "ETHUSDT"])
    # The first two openInterestHist requests meet the endpoint's 429 (Retry-After 1 s).
    emu.fail(OI_HIST, 429, retry_after=1, times=2)
    await feed.backfill()
    statuses = [r.status for r in emu.requests(OI_HIST)]
    assert statuses[:2] == [429, 429] and set(statuses[2:]) == {200}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert len(ingest.repo.open_interest(symbol)) == POINTS[symbol], symbol  # all of it, late
        assert [r for r in ingest.repo.funding(symbol) if r.settled], symbol
    # Funding was never held back: every one of its requests was answered, none waited for the 429s.
    assert {r.status for r in emu.requests(FUNDING)} == {200}
    assert feed.http.blocked_until == 0  # the venue as a whole was never told to wait
    # Neither backfill failed (the 429s cost time, not a failure).
    for name in ("binance_futures.funding", "binance_futures.open_interest"):
        assert registry.get(name).consecutive_failures == 0, name
    assert feed.funding_poller.not_before == feed.oi_poller.not_before == 0


async def test_requests_wait_for_the_endpoints_own_limit_instead_of_meeting_its_429(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    feed: BinanceFuturesFeed = build("binance_futures", symbols=symbols)
    # The rule of 1,000 per 5 minutes, shrunk to 3 a second on both sides so the test is short.
    emu.binance.oi_hist_window.limit, emu.binance.oi_hist_window.window = 3, 1.0
    gate = EndpointGate(EndpointLimit(3, 1.0), margin_s=0.2)
    feed.http.gates[OI_HIST] = gate
    assert await feed.oi_poller.run(feed.backfill_open_interest)
    assert emu.binance.oi_hist_window.refused == 0
    assert gate.waits > 0
    assert len(emu.requests(OI_HIST)) == 7  # a page of 500 and the rest, ETHUSDT's 372 in one
    for symbol in symbols:
        assert len(ingest.repo.open_interest(symbol)) == POINTS[symbol], symbol


async def test_the_emulator_refuses_past_the_endpoints_limit_and_the_client_recovers(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCUSDT", "ETHUSDT"])
    # The client believes the documented limit, the venue allows 2 a second: its 429s slow the client.
    emu.binance.oi_hist_window.limit, emu.binance.oi_hist_window.window = 2, 1.0
    assert await feed.oi_poller.run(feed.backfill_open_interest)
    assert emu.binance.oi_hist_window.refused > 0
    assert 429 in {r.status for r in emu.requests(OI_HIST)}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert len(ingest.repo.open_interest(symbol)) == POINTS[symbol], symbol
