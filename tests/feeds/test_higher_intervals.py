"""Intervals above the stored one that rules need: backfilled from the venue, refreshed after each close.

Against the exchange emulator (recorded BTCUSDT/ETHUSDT hours; its 4h/1d candles are exact aggregates of
them, opening at 00:00 UTC as Binance's do).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import aiohttp
import pytest

from detectors.market_history import MarketHistory
from feeds.binance_spot import SpotCandleFeed
from feeds.guard import RowGuard
from feeds.health import HealthRegistry
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.repo import Repo
from storage.rows import DAY_MS
from tests.conftest import DATA
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import ManualClock
from tests.feeds.test_binance_spot import make_spot

H = 3_600_000
KLINES = "/api/v3/klines"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def _recorded_hours() -> dict[int, dict[str, float]]:
    with (DATA / "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv").open() as fh:
        return {
            _ms(r["timestamp"][:19]): {k: float(r[k]) for k in ("open", "high", "low", "close")}
            for r in csv.DictReader(fh)
        }


def _feed(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    needs: Mapping[str, Mapping[str, int]],
    **kwargs: object,
) -> SpotCandleFeed:
    feed = make_spot(
        emu.base_url,
        session,
        ingest,
        registry,
        failures,
        clock,
        backfill_days=0.1,
        **kwargs,  # type: ignore[arg-type]
    )
    feed.higher.needs = lambda: needs
    return feed


def _klines(emu: ExchangeEmulator, interval: str) -> list[dict[str, str]]:
    return [r.query for r in emu.requests(KLINES) if r.query.get("interval") == interval]


async def test_backfill_covers_each_rules_warm_up_with_the_venues_own_candles(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    needs = {"BTCUSDT": {"4h": 30, "1d": 14, "1h": 500, "1m": 10}}
    feed = _feed(emu, session, ingest, registry, failures, clock, needs, symbols=("BTCUSDT",))
    await feed.backfill()
    # now is 2026-01-20 23:59:59.999: the 20:00 4h candle and the 20th's day are still forming. A request
    # weighs the same for 31 candles as for 1000, so a whole page is asked (the history before the warm-up
    # lets exponential averages settle): every 4h candle and day of the recording.
    four = ingest.repo.candles("BTCUSDT", "4h", source="binance")
    days = ingest.repo.candles("BTCUSDT", "1d", source="binance")
    assert (four[0].open_time, four[-1].open_time) == (_ms("2026-01-01T00:00"), _ms("2026-01-20T16:00"))
    assert len(four) == 19 * 6 + 5 and all(r.closed for r in four)
    assert len(days) == 19 and days[-1].open_time == _ms("2026-01-19T00:00")
    # The venue's 4h candle is its four recorded hours, opening at 00:00/04:00/... UTC.
    hours = _recorded_hours()
    for candle in four:
        part = [hours[candle.open_time + i * H] for i in range(4)]
        assert candle.open_time % (4 * H) == 0
        assert (candle.o, candle.c) == (part[0]["open"], part[-1]["close"])
        assert (candle.h, candle.l) == (max(p["high"] for p in part), min(p["low"] for p in part))
    # What the detectors read: 119 closed 4h candles, more than the warm-up of 30.
    view = ingest.history.view("BTCUSDT", clock())
    assert len(view.candles("4h")) == 119 and len(view.candles("1d")) == 19
    # One page each, 1000 4h candles and 800 days back (what memory keeps of days); the base interval (1h)
    # and finer ones are the base feed's, not fetched again.
    assert [q["startTime"] for q in _klines(emu, "4h")] == [str(_ms("2026-01-20T20:00") - 1000 * 4 * H)]
    assert [q["startTime"] for q in _klines(emu, "1d")] == [str(_ms("2026-01-20T00:00") - 800 * 24 * H)]
    assert not _klines(emu, "1m")
    assert all(int(q["limit"]) <= 1000 for q in (r.query for r in emu.requests(KLINES)))


async def test_refreshed_once_after_each_close_not_on_every_poll(
    make_emulator: object,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    clock.ms = _ms("2026-01-20T10:30")
    emu = await make_emulator()  # type: ignore[operator]
    feed = _feed(
        emu, session, ingest, registry, failures, clock, {"BTCUSDT": {"4h": 20}}, symbols=("BTCUSDT",)
    )
    await feed.backfill()
    assert ingest.repo.last_candle_time("BTCUSDT", "4h", "binance") == _ms("2026-01-20T04:00")
    for _ in range(3):  # polls while the 08:00 candle forms: no 4h request
        clock.advance(15 * 60)
        await feed.poller.run()
    assert len(_klines(emu, "4h")) == 1
    clock.ms = _ms("2026-01-20T12:00") + 5_000  # just after the 08:00 candle closed
    await feed.poller.run()
    await feed.poller.run()
    asked = _klines(emu, "4h")
    assert len(asked) == 2 and asked[-1]["startTime"] == str(_ms("2026-01-20T08:00"))
    assert ingest.repo.last_candle_time("BTCUSDT", "4h", "binance") == _ms("2026-01-20T08:00")


async def test_a_rule_needing_more_history_widens_the_backfill(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    needs: dict[str, dict[str, int]] = {"BTCUSDT": {"4h": 10}}
    feed = _feed(emu, session, ingest, registry, failures, clock, needs, symbols=("BTCUSDT",))
    await feed.backfill()
    await feed.poller.run()
    needs["BTCUSDT"]["4h"] = 600  # a rule with a warm-up within the page fetched: nothing more to ask
    await feed.poller.run()
    assert len(_klines(emu, "4h")) == 1
    needs["BTCUSDT"]["4h"] = 1100  # one beyond it: asked from further back
    await feed.poller.run()
    forming = _ms("2026-01-20T20:00")
    assert [q["startTime"] for q in _klines(emu, "4h")] == [
        str(forming - 1000 * 4 * H),
        str(forming - 1101 * 4 * H),
    ]


async def test_a_429_on_klines_slows_the_warm_up_and_does_not_abort_it(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    feed = _feed(
        emu, session, ingest, registry, failures, clock, {"BTCUSDT": {"4h": 30}}, symbols=("BTCUSDT",)
    )
    emu.fail(KLINES, 429, retry_after=30, query={"interval": "4h"})
    await feed.backfill()
    assert ingest.repo.candles("BTCUSDT", "4h") == []
    assert ingest.repo.last_candle_time("BTCUSDT", "1h", "binance") is not None  # the base candles came
    clock.advance(10)
    await feed.poller.run()  # within Retry-After: nothing is asked
    assert len(_klines(emu, "4h")) == 1
    clock.advance(21)
    await feed.poller.run()
    # The clock passed midnight meanwhile: the 20:00 candle closed too.
    assert len(ingest.repo.candles("BTCUSDT", "4h", source="binance")) == 19 * 6 + 6
    assert [r.status for r in emu.requests(KLINES) if r.query.get("interval") == "4h"] == [429, 200]


async def test_one_symbols_failure_never_stops_the_others(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    needs = {"BTCUSDT": {"4h": 10}, "ETHUSDT": {"4h": 10}}
    feed = _feed(emu, session, ingest, registry, failures, clock, needs)
    body = '{"code":-1000,"msg":"An unknown error occurred while processing the request."}'
    emu.fail(KLINES, 400, body=body, query={"symbol": "BTCUSDT", "interval": "4h"})
    await feed.backfill()
    assert ingest.repo.candles("BTCUSDT", "4h") == []
    eth = ingest.repo.candles("ETHUSDT", "4h", source="binance")
    # From the first whole 4h candle of the ETH recording (it starts 2026-01-09 13:00) to where it ends.
    assert eth[0].open_time == _ms("2026-01-09T16:00") and eth[-1].open_time == _ms("2026-01-20T04:00")
    await feed.poller.run()  # BTC's warm-up is asked again on the next poll
    assert len(ingest.repo.candles("BTCUSDT", "4h", source="binance")) == 19 * 6 + 5


async def test_a_restart_with_the_warm_up_stored_asks_only_for_what_closed_since(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    needs = {"BTCUSDT": {"1d": 12}}
    first = _feed(emu, session, ingest, registry, failures, clock, needs, symbols=("BTCUSDT",))
    await first.backfill()
    again = _feed(emu, session, ingest, HealthRegistry(clock), failures, clock, needs, symbols=("BTCUSDT",))
    await again.backfill()
    assert len(_klines(emu, "1d")) == 2
    assert _klines(emu, "1d")[-1]["startTime"] == str(_ms("2026-01-20T00:00"))


@pytest.mark.parametrize("fallback", ["coinbase", "kraken"])
async def test_the_fallback_venues_serve_4h_coinbase_builds_them_from_hours(
    fallback: str,
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.set_geo_block(True)
    feed = _feed(
        emu,
        session,
        ingest,
        registry,
        failures,
        clock,
        {"BTCUSDT": {"4h": 12}},
        symbols=("BTCUSDT",),
        fallback=fallback,
    )
    with caplog.at_level(logging.INFO, logger="feeds.coinbase"):
        await feed.backfill()
    rows = ingest.repo.candles("BTCUSDT", "4h", source=fallback)
    # Kraken answers its newest 720 4h candles (all of the recording); Coinbase answers by 300-hour
    # windows, and the one a page back (300 4h candles) is before the recording: then the need is asked.
    assert len(rows) == (19 * 6 + 5 if fallback == "kraken" else 13)
    assert rows[-1].open_time == _ms("2026-01-20T16:00")
    hours = _recorded_hours()
    # Kraken's prices carry one decimal for XBTUSD: compare to the cent's neighbourhood.
    assert all(abs(r.c - hours[r.open_time + 3 * H]["close"]) < 0.06 for r in rows)
    assert all(abs(r.o - hours[r.open_time]["open"]) < 0.06 for r in rows)
    said = "coinbase has no 4h candles; building them from its 1h candles" in caplog.text
    assert said == (fallback == "coinbase")


async def test_the_backfill_asks_no_further_back_than_storage_accepts(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    file_repo: Repo,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    # Candles kept 10 days (storage.retention): older rows would be refused by the guard, and logged.
    guard = RowGuard(clock, max_age_ms={"candles": 10 * DAY_MS})
    ingest = Ingest(file_repo, MarketHistory(), guard=guard)
    feed = _feed(
        emu, session, ingest, registry, failures, clock, {"BTCUSDT": {"1d": 5}}, symbols=("BTCUSDT",)
    )
    await feed.backfill()
    [asked] = _klines(emu, "1d")
    assert int(asked["startTime"]) >= clock() - 10 * DAY_MS
    assert not guard.refused and len(ingest.repo.candles("BTCUSDT", "1d", source="binance")) == 9
