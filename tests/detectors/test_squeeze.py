"""squeeze: which thing a sharp move is, from liquidations by side, open interest and funding."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from detectors.base import format_price
from detectors.open_interest import OiChange
from detectors.squeeze import Evidence, SqueezeSettings, classify, gather
from storage.rows import Funding, Liquidation, OpenInterest
from tests.detectors.conftest import HOUR, T0, Run, bars, history_of, make, ms, run

M = 1_000_000.0


def evidence(
    change: float,
    longs: float,
    shorts: float,
    oi_pct: float | None,
    before: float | None,
    after: float | None,
) -> Evidence:
    """Return synthetic window evidence (funding in percent per interval, as people write it)."""
    oi = None if oi_pct is None else OiChange(100.0, 100.0 * (1 + oi_pct / 100), oi_pct, "usd", 0, HOUR)
    return Evidence(
        start=0,
        end=HOUR,
        price_from=100.0,
        price_to=100.0 * (1 + change / 100),
        change=change,
        long_usd=longs * M,
        short_usd=shorts * M,
        oi=oi,
        funding_before=None if before is None else before / 100,
        funding_after=None if after is None else after / 100,
    )


CASES = [
    pytest.param(evidence(1.8, 9.9, 109, -0.8, -0.0074, -0.0039), "short_squeeze", id="jan-2026-shape"),
    pytest.param(evidence(2.0, 1, 30, 0.5, 0.010, 0.012), "short_squeeze", id="oi-flat-counts"),
    pytest.param(evidence(2.0, 1, 2, 3.0, 0.010, 0.020), "long_buildup", id="leveraged-longs"),
    pytest.param(evidence(2.0, 1, 30, 3.0, 0.010, 0.020), "long_buildup", id="build-up-beats-squeeze"),
    pytest.param(evidence(2.0, 1, 30, 1.5, 0.010, 0.012), None, id="oi-neither-flat-nor-building"),
    pytest.param(
        evidence(2.0, 1, 30, -1.0, 0.010, 0.050), None, id="funding-spiking-is-no-mechanical-squeeze"
    ),
    pytest.param(evidence(2.0, 1, 30, 3.0, 0.020, 0.010), None, id="oi-up-but-funding-falling"),
    pytest.param(evidence(1.2, 1, 30, -1.0, 0.010, 0.010), None, id="move-too-small"),
    pytest.param(evidence(2.0, 15, 20, -1.0, 0.010, 0.010), None, id="shorts-not-dominant"),
    pytest.param(evidence(2.0, 0, 5, -1.0, 0.010, 0.010), None, id="too-little-liquidated"),
    pytest.param(evidence(-2.5, 60, 3, -2.0, 0.010, 0.004), "long_squeeze", id="capitulation"),
    pytest.param(evidence(-2.5, 60, 3, -2.0, 0.010, -0.040), None, id="capitulation-funding-crashing"),
    pytest.param(evidence(-2.0, 1, 2, 4.0, 0.0, -0.010), "short_buildup", id="leveraged-shorts"),
    pytest.param(evidence(1.8, 9.9, 109, None, -0.0074, -0.0039), None, id="no-oi-no-label"),
    pytest.param(evidence(1.8, 9.9, 109, -0.8, None, None), None, id="no-funding-no-label"),
]


@pytest.mark.parametrize(("e", "label"), CASES)
def test_classify_table(e: Evidence, label: str | None) -> None:
    assert classify(e, SqueezeSettings()) == label


def synthetic_market(squeeze_hour: int = 5) -> list[Sequence[object]]:
    """Return SYNTHETIC rows: quiet hours, then an hour of +2% with $40M of shorts liquidated, OI dipping."""
    closes = [100.0] * squeeze_hour + [102.0, 102.0, 102.0]
    liquidations = [
        Liquidation(
            "BTCUSDT", T0 + h * HOUR, "agg", "short", 0.0, 0.0, (40 if h == squeeze_hour else 0.2) * M
        )
        for h in range(len(closes))
    ]
    oi = [
        OpenInterest("BTCUSDT", T0 + h * HOUR, "binance", None, 9e9 * (0.99 if h > squeeze_hour else 1.0))
        for h in range(len(closes) + 1)
    ]
    funding = [
        Funding("BTCUSDT", T0 + h * HOUR, "binance", -0.00004, settled=False) for h in range(len(closes) + 1)
    ]
    return [bars(closes), liquidations, oi, funding]


def test_labels_the_squeeze_hour_with_its_evidence_and_resolves() -> None:
    history = history_of(*synthetic_market())
    result = run(make("squeeze"), history, T0 + HOUR, T0 + 8 * HOUR)
    ((now, signal),) = result.activations
    assert now == signal.at == T0 + 6 * HOUR
    assert (signal.key, signal.kind, signal.stateful, signal.direction) == (
        "short_squeeze",
        "short_squeeze",
        True,
        "up",
    )
    assert signal.title == "BTC: mechanical short squeeze (+2.0% in 1h, $40.0M of shorts liquidated)"
    values = signal.values
    assert values["short_liquidated_usd"] == 40 * M and values["long_liquidated_usd"] == 0
    assert values["oi_change_pct"] == pytest.approx(-1.0)
    assert values["funding_before_pct"] == values["funding_after_pct"] == pytest.approx(-0.004)
    assert values["evidence"][0] == f"price +2.0% in 1h ({format_price(100)} → {format_price(102)})"
    # Stateful: active for the window that showed it, gone at the next close.
    assert [bool(signals) for _, signals in result.steps] == [False] * 5 + [True, False, False]


def test_first_evaluation_on_the_squeeze_hour_does_not_fire() -> None:
    history = history_of(*synthetic_market())
    assert run(make("squeeze"), history, T0 + 6 * HOUR, T0 + 8 * HOUR).activations == []


def test_real_squeeze_of_2026_01_13(january: dict[str, Run]) -> None:
    fired = {now: s for now, s in january["btc-squeeze"].activations}
    signal = fired[ms("2026-01-13 23:00")]
    assert signal.key == "short_squeeze"
    assert signal.title == "BTC: mechanical short squeeze (+1.8% in 1h, $109.0M of shorts liquidated)"
    v = signal.values
    assert (v["window_start"], v["window_end"]) == (ms("2026-01-13 22:00"), ms("2026-01-13 23:00"))
    assert (v["price_from"], v["price_to"]) == (94087.23, 95757.21)
    assert v["short_liquidated_usd"] == pytest.approx(109.0 * M, rel=0.001)
    assert v["long_liquidated_usd"] == pytest.approx(9.9 * M, rel=0.01)
    assert (v["oi_from"], v["oi_to"]) == (
        pytest.approx(9.155e9, rel=0.001),
        pytest.approx(9.083e9, rel=0.001),
    )
    assert -1.0 < v["oi_change_pct"] < 0  # slightly down
    assert v["funding_before_pct"] == pytest.approx(-0.0074, abs=0.00005)  # negative, and not spiking
    assert v["funding_after_pct"] == pytest.approx(-0.0039, abs=0.00005)
    assert len(v["evidence"]) == 4
    # The venues are cited (this fixture files CoinGlass's summed series under "binance"; the replay test
    # checks the name the replay loader gives it).
    assert v["oi_venues"] == "binance -0.8%"
    assert v["funding_venues"] == ["binance"]
    assert v["evidence"][2].endswith("; binance -0.8%)")


def test_sums_venues_weights_funding_by_open_interest_and_names_the_drivers() -> None:
    """SYNTHETIC: three venues; binance sheds $300M, bybit $20M, okx adds $10M: binance drove it."""
    candles, liquidations, _, _ = synthetic_market()
    hours = range(9)
    sizes = {"binance": 6e9, "bybit": 2e9, "okx": 1e9}
    drops = {"binance": -0.3e9, "bybit": -0.02e9, "okx": 0.01e9}
    oi = [
        OpenInterest("BTCUSDT", T0 + h * HOUR, venue, None, size + (drops[venue] if h > 5 else 0.0))
        for venue, size in sizes.items()
        for h in hours
    ]
    # bybit settles hourly: -0.0001 an hour is -0.0008 per 8 h.
    rates = {"binance": (-0.0001, 8), "bybit": (-0.0001, 1), "okx": (0.0002, 8)}
    funding = [
        Funding("BTCUSDT", T0 - k * every * HOUR, venue, rate, settled=True)
        for venue, (rate, every) in rates.items()
        for k in range(3)
    ] + [
        Funding("BTCUSDT", T0 + h * HOUR, venue, rate, settled=False)
        for venue, (rate, _every) in rates.items()
        for h in hours
    ]
    history = history_of(candles, liquidations, sorted(oi, key=lambda r: r.ts), funding)
    ((_, signal),) = run(make("squeeze"), history, T0 + HOUR, T0 + 8 * HOUR).activations
    v = signal.values
    before, after = sum(sizes.values()), sum(sizes.values()) + sum(drops.values())
    assert v["oi_from"] == pytest.approx(before) and v["oi_to"] == pytest.approx(after)
    assert v["oi_change_pct"] == round((after / before - 1) * 100, 3)
    assert v["oi_venues"] == "binance -5.0%"
    # OI-weighted funding per 8 h, recomputed by hand from the rows above (weights: USD OI after).
    weights = {venue: sizes[venue] + drops[venue] for venue in sizes}
    per_8h = {"binance": -0.0001, "bybit": -0.0008, "okx": 0.0002}
    expected = sum(per_8h[v_] * w for v_, w in weights.items()) / sum(weights.values())
    assert v["funding_after_pct"] == round(expected * 100, 6)
    assert sorted(v["funding_venues"]) == ["binance", "bybit", "okx"]


def test_funding_before_and_after_compare_the_same_venues() -> None:
    """SYNTHETIC: Binance steady at +0.01 % per 8 h; Hyperliquid (+0.05 % an hour) first reports mid-window.

    Nobody's funding moved: a venue that joined the aggregate between the window's ends must not read as
    a funding spike (the open interest's change already sums only the venues known at both ends).
    """
    end = T0 + 8 * HOUR
    oi = [OpenInterest("BTCUSDT", T0 + h * HOUR, "binance", None, 6e9) for h in range(9)] + [
        OpenInterest("BTCUSDT", T0 + h * HOUR, "hyperliquid", None, 1e9) for h in range(5, 9)
    ]
    funding = [
        Funding("BTCUSDT", T0 - k * 8 * HOUR, "binance", 0.0001, settled=True) for k in range(-1, 4)
    ] + [Funding("BTCUSDT", T0 + h * HOUR, "hyperliquid", 0.0005, settled=False) for h in range(5, 9)]
    history = history_of(sorted(oi, key=lambda r: r.ts), sorted(funding, key=lambda r: r.ts))
    e = gather(history.view("BTCUSDT", end), T0, end, 100.0, 102.0)
    assert e.funding_before == pytest.approx(0.0001)
    assert e.funding_after == pytest.approx(0.0001)
    assert e.funding_venues == ("binance",)
