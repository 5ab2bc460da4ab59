"""Binance USD-M: forceOrder side convention on real events, funding, open interest, backfills."""

from __future__ import annotations

import itertools
import json

import pytest

from feeds.binance_futures import (
    BinanceFuturesFeed,
    parse_force_order_frame,
    parse_funding_history,
    parse_open_interest,
    parse_premium_index,
)
from feeds.errors import PayloadError
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock
from tests.feeds.helpers import FIXTURES, csv_rows, jsonl, live_frames, ms, running, wait_for

FORCE_ORDERS_CSV = FIXTURES / "binance_forceOrder_liquidations_allsymbols_20251022_excerpt.csv"


def _event_from_csv(row: dict[str, str]) -> dict[str, object]:
    """Rebuild a forceOrder event from the collector's CSV columns (time, symbol, S, ap, z kept as sent)."""
    t = ms(row["timestamp"])
    order = {"s": row["symbol"], "S": row["side"], "o": "LIMIT", "f": "IOC", "q": row["filled_qty"]}
    order |= {"p": row["avg_price"], "ap": row["avg_price"], "X": "FILLED", "z": row["filled_qty"], "T": t}
    return {"e": "forceOrder", "E": t, "o": order}


# --- parsers on real payloads -------------------------------------------------------------------------------


def test_combined_stream_frame_sell_means_a_long_was_liquidated() -> None:
    (frame,) = jsonl(FIXTURES / "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl")
    parsed = parse_force_order_frame(frame, None)
    (row,) = parsed.rows
    assert (row.symbol, row.side, row.ts, row.source) == ("ILVUSDT", "long", 1791391082119, "binance")
    # Notional = cumulative filled quantity z x average price ap (not the last fill l).
    assert row.qty == 116.5 and row.price == 3.85642 and row.usd == pytest.approx(116.5 * 3.85642)


def test_testnet_frames_buy_means_a_short_was_liquidated() -> None:
    frames = [f for f in live_frames() if isinstance(f, dict) and f.get("e") == "forceOrder"]
    rows = [row for frame in frames for row in parse_force_order_frame(frame, None).rows]
    assert [(r.symbol, r.side) for r in rows] == [("COTIUSDT", "short"), ("PAIRUSDT", "long")]
    assert rows[1].qty == 28448 and rows[1].usd == pytest.approx(28448 * 0.0044461)


def test_234_recorded_events_keep_the_side_convention_and_notional() -> None:
    rows = csv_rows(FORCE_ORDERS_CSV)
    parsed = parse_force_order_frame([_event_from_csv(r) for r in rows], None)
    assert parsed.skipped == [] and len(parsed.rows) == len(rows) == 234
    for raw, row in zip(rows, parsed.rows, strict=True):
        assert row.side == {"SELL": "long", "BUY": "short"}[raw["side"]]
        assert row.usd == pytest.approx(float(raw["usd_value"]), rel=1e-9)
    assert "币安人生USDT" in {r.symbol for r in parsed.rows}  # non-ASCII symbols survive
    assert min(r.price for r in parsed.rows) == 5.9e-05  # exponent notation is parsed


def test_only_watched_symbols_are_kept() -> None:
    rows = csv_rows(FORCE_ORDERS_CSV)
    parsed = parse_force_order_frame([_event_from_csv(r) for r in rows], frozenset({"SOLUSDT"}))
    assert parsed.rows and {r.symbol for r in parsed.rows} == {"SOLUSDT"} and parsed.skipped == []


def test_bad_events_are_skipped_and_the_rest_kept() -> None:
    good = _event_from_csv(csv_rows(FORCE_ORDERS_CSV)[0])
    no_side = json.loads(json.dumps(good))
    del no_side["o"]["S"]
    bad_qty = json.loads(json.dumps(good))
    bad_qty["o"]["z"] = "lots"
    weird_side = json.loads(json.dumps(good))
    weird_side["o"]["S"] = "HOLD"
    parsed = parse_force_order_frame([no_side, good, bad_qty, weird_side, "noise"], None)
    assert len(parsed.rows) == 1 and len(parsed.skipped) == 4
    assert "missing field 'S'" in parsed.skipped[0] and "'z' is not a number" in parsed.skipped[1]


def test_premium_index_all_symbols_fixture() -> None:
    payload = json.loads((FIXTURES / "binance_fapi_v1_premiumIndex_all_symbols_20250617.json").read_text())
    assert len(payload) == 521
    parsed = parse_premium_index(payload, frozenset({"BTCUSDT", "ETHUSDT"}))
    btc = next(r for r in parsed.rows if r.symbol == "BTCUSDT")
    assert len(parsed.rows) == 2 and parsed.skipped == []
    assert (btc.rate, btc.mark_price, btc.next_funding_time, btc.ts) == (
        0.00004758,
        106599.9,
        1750176000000,
        1750149488000,
    )
    assert not btc.settled  # an estimate, replaced by the settled rate from fundingRate
    assert len(parse_premium_index(payload, None).rows) == 521


def test_open_interest_fixture_valued_with_the_mark_price() -> None:
    payload = json.loads((FIXTURES / "binance_fapi_v1_openInterest_BTCUSDT_20240604.json").read_text())
    row = parse_open_interest(payload, 70_000.0)
    assert (row.symbol, row.ts, row.contracts) == ("BTCUSDT", 1717514517019, 80579.225)
    assert row.usd == pytest.approx(80579.225 * 70_000)
    assert parse_open_interest(payload, None).usd is None
    with pytest.raises(PayloadError):
        parse_open_interest({"symbol": "BTCUSDT", "openInterest": "x", "time": 1717514517019}, None)


def test_funding_history_rows_from_the_recording() -> None:
    raw = csv_rows(FIXTURES.parent / "binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv")
    payload = [{"symbol": "BTCUSDT", **r} for r in raw]
    payload[0] = {**payload[0], "markPrice": ""}  # old rows carry an empty markPrice
    parsed = parse_funding_history(payload, "BTCUSDT")
    assert len(parsed.rows) == 336 and parsed.skipped == []
    assert parsed.rows[0].mark_price is None and all(r.settled for r in parsed.rows)
    assert parsed.rows[-1].rate == 0.00005652 and parsed.rows[-1].ts == 1768924800009


# --- emulator integration -----------------------------------------------------------------------------------


async def test_recorded_liquidations_stream_into_sqlite_with_position_sides(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    rows = csv_rows(FORCE_ORDERS_CSV)
    symbols = sorted({r["symbol"] for r in rows})
    feed: BinanceFuturesFeed = build("binance_futures", symbols=symbols)
    assert feed.stream is not None
    assert feed.stream.url == f"{emu.ws_url}/market/ws/!forceOrder@arr"
    async with running(feed.stream):
        await emu.wait_ws("binance", subscribed="!forceOrder@arr")
        emu.start_replay(400.0)  # the 234 recorded events, in order, then again (repeats are dropped)
        await wait_for(lambda: len(emu_rows(ingest)) == 234, what="234 liquidations in SQLite")
        await emu.stop_replay()
    stored = emu_rows(ingest)
    for raw in rows:
        key = (raw["symbol"], ms(raw["timestamp"]))
        side, usd = stored[key]
        assert side == {"SELL": "long", "BUY": "short"}[raw["side"]]
        assert usd == pytest.approx(float(raw["usd_value"]))
    assert feed.buffer.flushed_batches < 234  # written in batches, not one transaction per event
    assert registry.get("binance_futures.liquidations").state() is FeedState.OK


def emu_rows(ingest: Ingest) -> dict[tuple[str, int], tuple[str, float]]:
    """Return stored Binance liquidations by (symbol, ts)."""
    cur = ingest.repo.conn.execute("SELECT symbol, ts, side, usd FROM liquidations WHERE source = 'binance'")
    return {(s, t): (side, usd) for s, t, side, usd in cur}


async def test_funding_backfill_then_poll_estimate(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCUSDT"])
    await feed.backfill()
    settled = [r for r in ingest.repo.funding("BTCUSDT") if r.settled]
    recorded = [
        r for r in csv_rows(FIXTURES.parent / "binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv")
    ]
    expected = [(int(r["fundingTime"]), float(r["fundingRate"])) for r in recorded][-6:]  # 2 days of 8 h
    assert [(r.ts, r.rate) for r in settled] == expected
    assert await feed.funding_poller.run()
    (estimate,) = [r for r in ingest.repo.funding("BTCUSDT") if not r.settled]
    assert estimate.ts == clock() and estimate.next_funding_time == ms("2026-01-21T00:00")
    assert estimate.mark_price and feed.marks["BTCUSDT"] == estimate.mark_price
    # The settled history is asked for again only after the next funding time.
    before = len(emu.requests("/fapi/v1/fundingRate"))
    clock.advance(60)
    assert await feed.funding_poller.run()
    assert len(emu.requests("/fapi/v1/fundingRate")) == before
    assert registry.get("binance_futures.funding").state() is FeedState.OK


async def test_open_interest_backfill_and_poll_in_usd(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCUSDT"])
    await feed.backfill()
    history = ingest.repo.open_interest("BTCUSDT")
    assert len(history) == 2 * 288  # 2 days of 5-minute points
    assert history[0].ts == ms("2026-01-19T00:00") and history[-1].ts == ms("2026-01-20T23:55")
    assert len(emu.requests("/futures/data/openInterestHist")) == 2  # 500 + 76
    assert await feed.oi_poller.run()
    latest = ingest.repo.open_interest("BTCUSDT", clock())[-1]
    assert latest.ts == clock() and latest.usd == pytest.approx(latest.contracts * feed.marks["BTCUSDT"])


async def test_open_interest_backfill_resumes_after_the_last_stored_point(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCUSDT"])
    clock.ms = ms("2026-01-20T12:00")
    await feed.oi_poller.run(feed.backfill_open_interest)
    emu.log.clear()
    clock.ms = ms("2026-01-20T23:59:59")
    await feed.oi_poller.run(feed.backfill_open_interest)
    (request,) = emu.requests("/futures/data/openInterestHist")
    assert int(request.query["startTime"]) == ms("2026-01-20T12:00") + 1
    times = [r.ts for r in ingest.repo.open_interest("BTCUSDT")]
    assert times[0] == ms("2026-01-18T12:00") and times[-1] == ms("2026-01-20T23:55")
    assert {b - a for a, b in itertools.pairwise(times)} == {300_000}  # no hole, no repeat


async def test_a_symbol_without_a_perpetual_is_skipped_not_fatal(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry
) -> None:
    # BTCFDUSD is a spot pair only: USD-M answers "Invalid symbol" (400, -1121) for it.
    feed: BinanceFuturesFeed = build("binance_futures", symbols=["BTCFDUSD", "BTCUSDT"])
    assert await feed.oi_poller.run()
    assert [r.symbol for r in ingest.repo.open_interest("BTCUSDT")] == ["BTCUSDT"]
    assert ingest.repo.open_interest("BTCFDUSD") == []
    assert registry.get("binance_futures.open_interest").state() is FeedState.OK
