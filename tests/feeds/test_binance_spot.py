"""Binance spot candles: parser on a real payload, emulator integration, backfill, 451 fallback."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import aiohttp
import pytest

from feeds.binance_spot import BinanceKlines, SpotCandleFeed, parse_klines
from feeds.coinbase import CoinbaseCandles
from feeds.config import BinanceSpotFeedConfig
from feeds.context import FeedContext
from feeds.health import FeedState, HealthRegistry
from feeds.http import HttpClient, WeightBudget
from feeds.ingest import Ingest
from feeds.kraken import KrakenCandles
from feeds.logonce import FailureLog
from tests.conftest import DATA
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, ManualClock

FIXTURE = DATA / "fixtures" / "binance_api_v3_klines_1m_20241116_symbol_unrecorded.json"
H = 3_600_000


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


# No test here times a request out; a generous limit keeps a loaded CI machine (serving 1,000 candles
# per page) from failing them.
REQUEST_TIMEOUT_S = 5.0


def make_spot(
    url: str,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    *,
    interval: str = "1h",
    backfill_days: float = 2.0,
    fallback: str = "coinbase",
    fallback_url: str | None = None,
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
) -> SpotCandleFeed:
    """Build the spot feed the way the FeedManager does, against ``url``."""
    config = BinanceSpotFeedConfig(
        base_url=url,
        interval=interval,  # type: ignore[arg-type]
        backfill_days=backfill_days,
        fallback=fallback,  # type: ignore[arg-type]
        timeout_seconds=REQUEST_TIMEOUT_S,
        stale_after_seconds=60,
    )
    http = HttpClient(
        session,
        "binance_spot",
        url,
        timeout_s=REQUEST_TIMEOUT_S,
        now_ms=clock,
        budget=WeightBudget(5000, clock),
    )
    other = HttpClient(session, fallback, fallback_url or url, timeout_s=REQUEST_TIMEOUT_S, now_ms=clock)
    source = {"coinbase": CoinbaseCandles(other), "kraken": KrakenCandles(other)}.get(fallback)
    context = FeedContext(symbols, ingest, session, registry, failures, clock, FAST)
    return SpotCandleFeed(config, BinanceKlines(http), source, context)


# --- parser -------------------------------------------------------------------------------------------------


def test_parse_real_klines_payload_keeps_every_field() -> None:
    payload = json.loads(FIXTURE.read_text())
    last_open = payload[-1][0]
    parsed = parse_klines(payload, "XUSDT", "1m", now_ms=last_open + 60_000)
    assert parsed.skipped == [] and len(parsed.rows) == 500
    first = parsed.rows[0]
    assert first.open_time == payload[0][0] == 1731748020000
    assert (first.o, first.h, first.l, first.c) == (0.7227, 0.7256, 0.7227, 0.7244)
    assert first.volume == float(payload[0][5]) and first.quote_volume == float(payload[0][7])
    assert all(r.closed for r in parsed.rows) and {r.source for r in parsed.rows} == {"binance"}


def test_the_candle_still_running_is_not_closed() -> None:
    payload = json.loads(FIXTURE.read_text())
    last_open = payload[-1][0]
    parsed = parse_klines(payload, "XUSDT", "1m", now_ms=last_open + 59_999)
    assert [r.closed for r in parsed.rows[-2:]] == [True, False]


def test_bad_klines_are_skipped_and_the_rest_kept() -> None:
    payload = json.loads(FIXTURE.read_text())[:4]
    payload[1] = payload[1][:5]  # too short
    payload[2] = [payload[2][0], "abc", *payload[2][2:]]  # open is not a number
    payload[3] = [payload[3][0], "1", "0.5", "2", "1", *payload[3][5:]]  # high below low
    parsed = parse_klines(payload, "XUSDT", "1m", now_ms=payload[0][0] + 10 * 60_000)
    assert len(parsed.rows) == 1 and len(parsed.skipped) == 3
    assert "'o' is not a number" in parsed.skipped[1] and "high/low" in parsed.skipped[2]


# --- emulator integration -----------------------------------------------------------------------------------


def _recorded_btc_closes() -> dict[int, float]:
    with (DATA / "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv").open() as fh:
        return {_ms(r["timestamp"][:19]): float(r["close"]) for r in csv.DictReader(fh)}


async def test_backfill_from_emulator_into_sqlite_matches_the_recording(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, backfill_days=2)
    assert registry.get("binance_spot").state() is FeedState.STALE  # nothing yet
    await feed.backfill()
    rows = ingest.repo.candles("BTCUSDT", "1h", source="binance")
    assert (
        len(rows) == 49
        and rows[0].open_time == _ms("2026-01-18T23:00")
        and rows[-1].open_time == _ms("2026-01-20T23:00")
    )
    recorded = _recorded_btc_closes()
    assert all(r.c == recorded[r.open_time] for r in rows)
    # 2026-01-20 23:00 opens at 23:00 and the emulator's now is 23:59:59.999: still forming.
    assert [r.closed for r in rows[-2:]] == [True, False]
    eth = ingest.repo.candles("ETHUSDT", "1h", source="binance")
    assert eth[-1].open_time == _ms("2026-01-20T06:00") and len(eth) == 32  # the ETH recording ends there
    snap = registry.get("binance_spot").snapshot()
    assert snap.state is FeedState.OK and snap.lag_ms == clock() - _ms("2026-01-20T23:00")
    assert ingest.history.symbols() == ["BTCUSDT", "ETHUSDT"]


async def test_backfill_fetches_only_what_is_missing_since_the_last_stored_candle(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, symbols=("BTCUSDT",))
    clock.ms = _ms("2026-01-19T12:30")  # an earlier run stopped here
    await feed.backfill()
    assert ingest.repo.last_candle_time("BTCUSDT", "1h", "binance") == _ms("2026-01-19T11:00")
    emu.log.clear()
    clock.ms = 1_768_953_599_999  # restart the next day
    await feed.backfill()
    starts = [int(r.query["startTime"]) for r in emu.requests("/api/v3/klines")]
    assert starts == [_ms("2026-01-19T11:00")]  # from the last closed candle, not backfill_days back
    rows = ingest.repo.candles("BTCUSDT", "1h", _ms("2026-01-17T12:00"), source="binance")
    times = [r.open_time for r in rows]
    assert times == list(range(_ms("2026-01-17T12:00"), _ms("2026-01-20T23:00") + 1, H))  # no hole


async def test_backfill_is_bounded_by_backfill_days_and_pages_through_1m(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    feed = make_spot(
        emu.base_url,
        session,
        ingest,
        registry,
        failures,
        clock,
        interval="1m",
        backfill_days=1.0,
        symbols=("BTCUSDT",),
    )
    await feed.backfill()
    rows = ingest.repo.candles("BTCUSDT", "1m", source="binance")
    assert len(rows) == 1441  # 1440 minutes back (aligned) plus the forming one
    assert rows[0].open_time == _ms("2026-01-19T23:59") and not rows[-1].closed
    assert len(emu.requests("/api/v3/klines")) == 2  # 1000 + 441


async def test_poll_stores_the_forming_candle_then_its_closed_version(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    clock.ms = _ms("2026-01-20T22:30")  # the emulator follows the test clock
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, symbols=("BTCUSDT",))
    await feed.backfill()
    last = ingest.repo.latest_candles("BTCUSDT", "1h", 1)[0]
    assert last.open_time == _ms("2026-01-20T22:00") and not last.closed
    clock.ms = _ms("2026-01-20T23:00:30")
    assert await feed.poller.run()
    by_time = {c.open_time: c for c in ingest.repo.candles("BTCUSDT", "1h", _ms("2026-01-20T22:00"))}
    assert by_time[_ms("2026-01-20T22:00")].closed and not by_time[_ms("2026-01-20T23:00")].closed


# --- 451: switch to the fallback, say so once ---------------------------------------------------------------


@pytest.mark.parametrize("fallback", ["coinbase", "kraken"])
async def test_451_switches_to_the_fallback_once_and_says_so_once(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    fallback: str,
) -> None:
    emu.set_geo_block(True)
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, fallback=fallback)
    await feed.backfill()
    assert feed.switched and feed.active.source == fallback
    rows = ingest.repo.candles("BTCUSDT", "1h", source=fallback)
    recorded = _recorded_btc_closes()
    assert rows and all(r.c == pytest.approx(recorded[r.open_time]) for r in rows)
    for _ in range(3):
        clock.advance(15)
        assert await feed.poller.run()
    assert len(emu.requests("/api/v3/klines")) == 1  # Binance is asked once, then left alone
    said = [r for r in caplog.records if "HTTP 451" in r.getMessage() and "now come from" in r.getMessage()]
    assert len(said) == 1
    assert registry.get(fallback).state() is FeedState.OK and registry.get(fallback).active
    primary = registry.get("binance_spot").snapshot()
    assert not primary.active and "451" in (primary.note or "")
    assert registry.stale_kinds("BTCUSDT") >= {"liquidations"} and "candles" not in registry.stale_kinds(
        "BTCUSDT"
    )


async def test_451_without_fallback_is_an_error_said_once(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.set_geo_block(True)
    feed = make_spot(emu.base_url, session, ingest, registry, failures, clock, fallback="none")
    for _ in range(3):
        assert not await feed.poller.run()
        clock.advance(600)
    assert sum("fallback is 'none'" in r.getMessage() for r in caplog.records) == 1
    assert registry.get("binance_spot").state() is FeedState.STALE
    assert "candles" in registry.stale_kinds("BTCUSDT")
