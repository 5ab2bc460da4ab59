"""thin_liquidity: the book within a band of the price X% below its average of the day.

The depth rows are SYNTHETIC (two venues polled every 5 minutes); the real snapshot shapes are covered in
tests/feeds/test_corpus.py.
"""

from __future__ import annotations

import pytest

from storage.rows import DepthBand
from tests.detectors.conftest import HOUR, T0, history_of, make, run

M = 1_000_000.0
STEP = 5 * 60_000


def book(hours: int, thin_from: int, factor: float, *, complete: bool = True) -> list[DepthBand]:
    """Binance $60M and Bybit $40M (bids + asks) within ±1 %, times ``factor`` from hour ``thin_from``."""
    rows = []
    for k in range(hours * 12):
        ts = T0 + k * STEP
        scale = factor if ts >= T0 + thin_from * HOUR else 1.0
        for venue, usd in (("binance", 60 * M), ("bybit", 40 * M)):
            rows.append(
                DepthBand("BTCUSDT", ts, venue, 100, usd / 2 * scale, usd / 2 * scale, complete, True)
            )
    return rows


def test_fires_when_the_book_thins_and_recomputes_from_the_rows() -> None:
    rows = book(30, 28, 0.4)
    history = history_of(rows)
    result = run(make("thin_liquidity", drop_pct=40), history, T0 + 25 * HOUR, T0 + 30 * HOUR, STEP)
    ((at, signal),) = result.activations
    assert at == T0 + 28 * HOUR  # the first thin snapshot
    # Recomputed from the rows: the newest snapshot of each venue against its 24 h average.
    window = [r for r in rows if at - 24 * HOUR <= r.ts <= at]
    average = sum(
        sum(r.bid_usd + r.ask_usd for r in window if r.source == v)
        / len([r for r in window if r.source == v])
        for v in ("binance", "bybit")
    )
    assert signal.values["usd"] == pytest.approx(40 * M)
    assert signal.values["average_usd"] == pytest.approx(average)
    assert signal.values["venues"] == "binance, bybit"
    assert signal.title.startswith("BTC order book thin: $40.0M of bid and ask liquidity within ±1%, ")


def test_a_mild_thinning_and_an_incomplete_snapshot_do_not_fire() -> None:
    assert (
        run(
            make("thin_liquidity"), history_of(book(30, 28, 0.8)), T0 + 25 * HOUR, T0 + 30 * HOUR, STEP
        ).activations
        == []
    )
    # The venues' snapshots never reached the band's edge: a "thin" book there is fewer levels sent.
    shallow = history_of(book(30, 28, 0.4, complete=False))
    assert run(make("thin_liquidity"), shallow, T0 + 25 * HOUR, T0 + 30 * HOUR, STEP).activations == []


def test_quiet_until_new_depth_only_while_no_venue_can_be_read() -> None:
    detector = make("thin_liquidity")
    state: dict[str, object] = {}
    # No depth at all: only a new depth row can change the outcome, and the engine keeps "t" current.
    detector.evaluate(history_of(book(1, 99, 1.0)).view("BTCUSDT", T0 + 5 * HOUR), state)
    quiet = detector.quiet(state, T0 + 5 * HOUR)
    assert quiet is not None and quiet.until is None
    assert quiet.unchanged == ("depth",) and quiet.now_key == "t"
    # A venue read: the day's average slides with the clock, so it stays awake.
    detector.evaluate(history_of(book(30, 99, 1.0)).view("BTCUSDT", T0 + 29 * HOUR), state)
    assert detector.quiet(state, T0 + 29 * HOUR) is None
    # A latched thin book stays awake too, even once no venue is fresh any more.
    thin = history_of(book(30, 28, 0.4))
    run_state: dict[str, object] = {}
    fresh = make("thin_liquidity")
    for at in range(T0 + 25 * HOUR, T0 + 30 * HOUR, STEP):
        fresh.evaluate(thin.view("BTCUSDT", at), run_state)
    assert run_state.get("latch")
    fresh.evaluate(thin.view("BTCUSDT", T0 + 40 * HOUR), run_state)
    assert fresh.quiet(run_state, T0 + 40 * HOUR) is None


def test_the_average_leaves_out_snapshots_that_stopped_inside_the_band() -> None:
    """SYNTHETIC: Bybit's snapshots reached ±1 % only in the last 12 hours; before, they held $10M (a floor).

    The book then thins to 40 % of its complete level on both venues: a 60 % drop against the book as it
    was, which an average pulled down by the shallow snapshots (lower bounds, not the book) would hide.
    """
    rows = []
    for k in range(24 * 12):
        ts = T0 + k * STEP
        thin = 0.4 if k == 24 * 12 - 1 else 1.0
        shallow = ts < T0 + 12 * HOUR
        rows.append(DepthBand("BTCUSDT", ts, "binance", 100, 30 * M * thin, 30 * M * thin, True, True))
        bybit = 5 * M if shallow else 20 * M * thin
        rows.append(DepthBand("BTCUSDT", ts, "bybit", 100, bybit, bybit, not shallow, True))
    now = rows[-1].ts
    detector = make("thin_liquidity", drop_pct=40)
    reading = detector.read(history_of(rows).view("BTCUSDT", now))  # type: ignore[attr-defined]
    assert reading is not None
    usd, average, venues = reading
    assert venues == ("binance", "bybit")
    assert usd == pytest.approx(100 * M * 0.4)
    complete = [r for r in rows if r.source == "bybit" and r.bid_complete]
    bybit_average = sum(r.bid_usd + r.ask_usd for r in complete) / len(complete)
    binance = [r for r in rows if r.source == "binance"]
    binance_average = sum(r.bid_usd + r.ask_usd for r in binance) / len(binance)
    assert average == pytest.approx(binance_average + bybit_average)
