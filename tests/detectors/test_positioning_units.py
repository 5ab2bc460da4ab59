"""detectors.positioning: the summed open interest's change keeps each venue's units honest."""

from __future__ import annotations

import pytest

from detectors.positioning import Basis, MarketChange, dvol_line, oi_market_change
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS, ImpliedVol, OpenInterest
from tests.detectors.conftest import HOUR, T0, history_of


def summed_change(deribit_usd_after: float) -> tuple[MarketChange, Basis]:
    """SYNTHETIC: price 100,000 -> 110,000 in an hour; Binance holds 10 BTC (linear: its open interest is
    coins); Deribit's perpetual is inverse, a count of USD contracts: $1M before, ``deribit_usd_after`` after.

    Return the summed open interest's change over that hour.
    """
    rows = [
        OpenInterest("BTCUSDT", T0, "binance", 10.0, 10.0 * 100_000),
        OpenInterest("BTCUSDT", T0 + HOUR, "binance", 10.0, 10.0 * 110_000),
        OpenInterest("BTCUSDT", T0, "deribit", 1e6 / 100_000, 1e6),
        OpenInterest("BTCUSDT", T0 + HOUR, "deribit", deribit_usd_after / 110_000, deribit_usd_after),
    ]
    snapshot = history_of(rows).view("BTCUSDT", T0 + HOUR)
    found = oi_market_change(snapshot, T0, T0 + HOUR, HOUR)
    assert found is not None
    return found


def test_an_inverse_venue_holding_its_contracts_does_not_move_the_summed_change() -> None:
    """Price +10 %, nobody opens or closes anything, on a linear and an inverse venue.

    Binance's open interest stays 10 BTC; Deribit's stays $1M of contracts, whose coin worth usd/mark
    falls when the price rises. A summed change in coins must read 0 %, not Deribit "-9.1 %".
    """
    change, basis = summed_change(deribit_usd_after=1e6)
    assert basis == "contracts"
    assert change.pct == pytest.approx(0.0, abs=1e-9)
    assert {v.source: v.pct for v in change.venues} == pytest.approx({"binance": 0.0, "deribit": 0.0})


def test_an_inverse_venue_adding_contracts_is_counted_at_the_windows_end_price() -> None:
    """Deribit's USD contracts grow 20 % while the price rises 10 %: its own change is +20 %."""
    change, _ = summed_change(deribit_usd_after=1.2e6)
    assert {v.source: v.pct for v in change.venues}["deribit"] == pytest.approx(20.0)
    # In coins at the end price: binance 10 -> 10, deribit 1e6/110e3 -> 1.2e6/110e3.
    assert change.before == pytest.approx(10.0 + 1e6 / 110_000)
    assert change.after == pytest.approx(10.0 + 1.2e6 / 110_000)


def test_dvol_line_compares_hourly_and_minute_closes_at_the_times_they_hold() -> None:
    # SYNTHETIC: the hour that ended a day before now closed at 50, the one that started then at 45. The
    # newest reading is the minute opened now (its close holds a minute later). A day before that the
    # index stood at 50 (the hour that had ended), not at 45 (the close of the hour that had just begun).
    now = 1_768_392_000_000
    rows = [
        ImpliedVol("BTC", now - DAY_MS - 2 * HOUR_MS, "deribit", "1h", 40, 40, 40, 40.0),
        ImpliedVol("BTC", now - DAY_MS - HOUR_MS, "deribit", "1h", 50, 50, 50, 50.0),
        ImpliedVol("BTC", now - DAY_MS, "deribit", "1h", 45, 45, 45, 45.0),
        ImpliedVol("BTC", now, "deribit", "1m", 55, 55, 55, 55.0),
    ]
    line = dvol_line(rows)
    assert line is not None and line.at == now + MINUTE_MS
    assert line.change_24h_pct == pytest.approx(10.0)  # 50 -> 55; keyed by starts it read 45 -> 55


def test_figures_read_each_venues_funding_interval_from_its_instrument_list() -> None:
    # SYNTHETIC: Gate's running rate of an alt that settles every 4 h, no settlements to measure it from.
    from detectors.positioning import aggregate, figures_at
    from storage.rows import Funding

    now = T0 + 2 * DAY_MS
    history = history_of(
        [Funding("PEPEUSDT", now - HOUR_MS, "gate", 0.0004, settled=False)],
        [OpenInterest("PEPEUSDT", now - 60_000, "gate", None, 1e8)],
    )
    (assumed,) = figures_at(history.view("PEPEUSDT", now), now, HOUR_MS, 9 * HOUR_MS)
    assert assumed.interval_h == 8.0  # nothing says otherwise: 8 h, as in a replay
    history.stated_funding_interval = lambda source, symbol: (
        4.0 if (source, symbol) == ("gate", "PEPEUSDT") else None
    )
    (stated,) = figures_at(history.view("PEPEUSDT", now), now, HOUR_MS, 9 * HOUR_MS)
    assert stated.interval_h == 4.0 and stated.rate_per_8h == pytest.approx(0.0008)
    assert aggregate([stated]).rate_per_8h == pytest.approx(0.0008)
