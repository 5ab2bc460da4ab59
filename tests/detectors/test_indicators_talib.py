"""The streaming indicators against TA-Lib on the real BTC and ETH candles, hourly and 4-hourly.

Every value is equal to TA-Lib's (``ta-lib``, the reference implementation) to 1e-6 from the first candle
TA-Lib gives one (its documented lookback, read from ``talib.abstract``), and the detectors fire at
exactly the candles where TA-Lib's series cross. The 4h candles are aggregated from the real hourly ones
by ``MarketHistory`` (UTC-aligned, as Binance's 4h klines). ETH is also compared over a longer real history
(871 hours from 2025-12-15, ``tests/data/history/``), where the slow averages have hundreds of values after
their warm-up instead of a dozen. Run with ``-s`` to see how many values were compared and the largest
difference found for each indicator.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
import pytest
import talib
from numpy.typing import NDArray
from talib import abstract

from detectors.base import Bar
from detectors.indicators import EMA, MACD, RSI, SMA, Bollinger, Indicator, StochRSI, make_indicator
from tests.conftest import DATA
from tests.detectors.conftest import HOUR, JANUARY, csv_candle, history_of, iso, make, real_rows, run

TOLERANCE = 1e-6
SERIES = [(symbol, interval) for symbol in ("BTCUSDT", "ETHUSDT") for interval in ("1h", "4h")]
Array = NDArray[np.float64]


@cache
def real_bars(symbol: str, interval: str) -> tuple[Bar, ...]:
    """Return the real closed candles of ``symbol`` at ``interval`` (4h aggregated from the hourly file)."""
    rows = [c for c in real_rows()["candles"] if c.symbol == symbol]
    view = history_of(rows).view(symbol, JANUARY[1] + 86_400_000)
    return tuple(view.candles(interval))


# Real ETH hourly candles from 2025-12-15 (source and checks in tests/data/README.md); kept out of DATA's top
# level so the replay and the emulators, which read every CSV there, still see one ETH file.
LONG_ETH = DATA / "history" / "binance_spot_ETHUSDT_1h_2025-12-15_2026-01-20.csv"


@cache
def long_eth_bars(interval: str) -> tuple[Bar, ...]:
    """Return the closed candles of the long real ETH history at ``interval`` (4h aggregated from hourly)."""
    with LONG_ETH.open(newline="") as f:
        rows = [csv_candle("ETHUSDT", r) for r in csv.DictReader(f)]
    view = history_of(rows).view("ETHUSDT", rows[-1].open_time + HOUR)
    return tuple(view.candles(interval))


def closes(symbol: str, interval: str) -> Array:
    return np.array([bar.c for bar in real_bars(symbol, interval)], dtype=float)


def stream(indicator: Indicator, bars: Sequence[Bar], output: str | None = None) -> Array:
    """Feed every bar and return the indicator's value after each (NaN before its warm-up)."""
    values = []
    for bar in bars:
        indicator.add(bar)
        value = indicator.value(output)
        values.append(np.nan if value is None else value)
    return np.array(values, dtype=float)


# (id, our indicator, its output, TA-Lib's series from the closes, TA-Lib's lookback for that series)
def _stoch_k(c: Array) -> Array:
    return np.asarray(talib.STOCHRSI(c, 14, 14, 3, 0)[1])  # TradingView's %K is TA-Lib's fastd


def _stoch_d(c: Array) -> Array:
    return np.asarray(talib.SMA(_stoch_k(c), 3))


CASES: list[tuple[str, Callable[[], Indicator], str | None, Callable[[Array], Array], int]] = [
    (
        "rsi14",
        lambda: RSI(14),
        None,
        lambda c: talib.RSI(c, 14),
        abstract.Function("RSI", timeperiod=14).lookback,
    ),
    (
        "rsi7",
        lambda: RSI(7),
        None,
        lambda c: talib.RSI(c, 7),
        abstract.Function("RSI", timeperiod=7).lookback,
    ),
    (
        "sma20",
        lambda: SMA(20),
        None,
        lambda c: talib.SMA(c, 20),
        abstract.Function("SMA", timeperiod=20).lookback,
    ),
    (
        "sma50",
        lambda: SMA(50),
        None,
        lambda c: talib.SMA(c, 50),
        abstract.Function("SMA", timeperiod=50).lookback,
    ),
    (
        "ema9",
        lambda: EMA(9),
        None,
        lambda c: talib.EMA(c, 9),
        abstract.Function("EMA", timeperiod=9).lookback,
    ),
    (
        "ema50",
        lambda: EMA(50),
        None,
        lambda c: talib.EMA(c, 50),
        abstract.Function("EMA", timeperiod=50).lookback,
    ),
    ("macd", MACD, "macd", lambda c: talib.MACD(c, 12, 26, 9)[0], abstract.Function("MACD").lookback),
    (
        "macd-signal",
        MACD,
        "signal",
        lambda c: talib.MACD(c, 12, 26, 9)[1],
        abstract.Function("MACD").lookback,
    ),
    (
        "macd-hist",
        MACD,
        "histogram",
        lambda c: talib.MACD(c, 12, 26, 9)[2],
        abstract.Function("MACD").lookback,
    ),
    (
        "bb-upper",
        Bollinger,
        "upper",
        lambda c: talib.BBANDS(c, 20, 2, 2, 0)[0],
        abstract.Function("BBANDS").lookback,
    ),
    (
        "bb-middle",
        Bollinger,
        "middle",
        lambda c: talib.BBANDS(c, 20, 2, 2, 0)[1],
        abstract.Function("BBANDS").lookback,
    ),
    (
        "bb-lower",
        Bollinger,
        "lower",
        lambda c: talib.BBANDS(c, 20, 2, 2, 0)[2],
        abstract.Function("BBANDS").lookback,
    ),
    (
        "stochrsi-k",
        StochRSI,
        "k",
        _stoch_k,
        abstract.Function("STOCHRSI", timeperiod=14, fastk_period=14, fastd_period=3).lookback,
    ),
    (
        "stochrsi-d",
        StochRSI,
        "d",
        _stoch_d,
        abstract.Function("STOCHRSI", timeperiod=14, fastk_period=14, fastd_period=3).lookback + 2,
    ),
]


def _compare(
    bars: Sequence[Bar],
    build: Callable[[], Indicator],
    output: str | None,
    reference: Callable[[Array], Array],
    lookback: int,
) -> tuple[int, float]:
    """Stream ``bars`` through a fresh indicator; return how many values were compared with TA-Lib's and the
    largest absolute difference."""
    indicator = build()
    ours = stream(indicator, bars, output)
    theirs = np.asarray(reference(np.array([bar.c for bar in bars], dtype=float)), dtype=float)
    assert len(bars) > lookback + 10, "enough real candles to compare"
    # TA-Lib's first value is at its lookback; ours come together once every output is defined (Stoch RSI's
    # %K waits for %D, two candles later), and never before TA-Lib's.
    first = indicator.warmup - 1
    assert first >= lookback
    assert np.isnan(theirs[:lookback]).all() and not np.isnan(theirs[lookback:]).any()
    assert np.isnan(ours[:first]).all() and not np.isnan(ours[first:]).any()
    difference = np.abs(ours[first:] - theirs[first:])
    return len(difference), float(difference.max())


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
@pytest.mark.parametrize(
    ("name", "build", "output", "reference", "lookback"), CASES, ids=[c[0] for c in CASES]
)
def test_values_equal_talib_after_its_lookback(
    symbol: str,
    interval: str,
    name: str,
    build: Callable[[], Indicator],
    output: str | None,
    reference: Callable[[Array], Array],
    lookback: int,
) -> None:
    compared, largest = _compare(real_bars(symbol, interval), build, output, reference, lookback)
    print(f"largest difference {name} {symbol} {interval}: {largest:.3g} over {compared} values")
    assert largest <= TOLERANCE


@pytest.mark.parametrize("interval", ["1h", "4h"])
@pytest.mark.parametrize(
    ("name", "build", "output", "reference", "lookback"), CASES, ids=[c[0] for c in CASES]
)
def test_values_equal_talib_over_the_long_eth_history(
    interval: str,
    name: str,
    build: Callable[[], Indicator],
    output: str | None,
    reference: Callable[[Array], Array],
    lookback: int,
) -> None:
    bars = long_eth_bars(interval)
    # The long file really is longer: every 4h indicator, SMA(50) included, has well over 100 values to
    # compare (the January file gives SMA(50) at 4h only 14).
    assert len(bars) >= (850 if interval == "1h" else 210)
    compared, largest = _compare(bars, build, output, reference, lookback)
    print(f"largest difference {name} ETHUSDT long {interval}: {largest:.3g} over {compared} values")
    assert compared >= len(bars) - 60
    assert largest <= TOLERANCE


def test_the_long_eth_file_is_whole_and_equals_the_january_one_where_they_overlap() -> None:
    hours = long_eth_bars("1h")
    assert all(b.open_time - a.open_time == HOUR for a, b in pairwise(hours))
    assert all(b.l <= min(b.o, b.c) and b.h >= max(b.o, b.c) and b.volume > 0 for b in hours)
    january = real_bars("ETHUSDT", "1h")
    assert len(january) == 258 and hours[-len(january) :] == january


@pytest.mark.parametrize(
    ("name", "build", "output", "reference", "lookback"), CASES, ids=[c[0] for c in CASES]
)
def test_warmup_is_talibs_lookback_plus_one(
    name: str,
    build: Callable[[], Indicator],
    output: str | None,
    reference: Callable[[Array], Array],
    lookback: int,
) -> None:
    indicator = build()
    # The warm-up covers every output; the primary one of a single-output indicator starts right there.
    assert indicator.warmup >= lookback + 1
    if len(indicator.outputs) == 1 or name in ("macd-hist", "stochrsi-d", "bb-upper"):
        assert indicator.warmup == lookback + 1


def test_previous_is_the_value_one_candle_earlier() -> None:
    bars = real_bars("BTCUSDT", "1h")
    rsi = RSI(14)
    reference = talib.RSI(closes("BTCUSDT", "1h"), 14)
    for i, bar in enumerate(bars):
        rsi.add(bar)
        if i > 14:
            assert rsi.previous() == pytest.approx(reference[i - 1], abs=TOLERANCE)
        elif i == 14:
            assert rsi.previous() is None and rsi.value() is not None


def test_a_long_stream_stays_equal_to_talib_with_bounded_memory() -> None:
    # Synthetic: 5,000 candles of a noisy sine wave. Each TA-Lib stream keeps the values before it opens,
    # and none after: once warm, an indicator holds no candle of its own.
    rng = np.random.default_rng(18)
    closes_ = 100 + 10 * np.sin(np.arange(5000) / 7) + rng.normal(0, 1, 5000)
    bars = [Bar(i * 60_000, 0, 0, 0, float(c), 1, 60_000) for i, c in enumerate(closes_)]
    for name, build, output, reference, _ in CASES:
        indicator = build()
        ours = stream(indicator, bars[: indicator.warmup - 1], output)
        assert sum(s.buffered for s in indicator._streams()) > 0, name  # still warming up: values kept
        ours = np.concatenate([ours, stream(indicator, bars[indicator.warmup - 1 :], output)])
        theirs = np.asarray(reference(closes_), dtype=float)
        first = indicator.warmup - 1
        assert float(np.abs(ours[first:] - theirs[first:]).max()) <= TOLERANCE, name
        assert [s.buffered for s in indicator._streams()] == [0] * len(indicator._streams()), name


def test_an_unmoving_series_reads_as_tradingview_does_not_as_talib() -> None:
    # Synthetic: a market that has not traded (one close repeated), then one that stops moving. TradingView's
    # ta.rsi is 100 when the average loss is 0; TA-Lib says 0 when gains and losses are both 0, the one case
    # where the two differ. Stoch RSI's raw value over an RSI flat for the whole window is 100.
    flat = [Bar(i * 60_000, 0, 0, 0, 5.0, 1, 60_000) for i in range(40)]
    rsi, stoch = RSI(14), StochRSI()
    for bar in flat:
        rsi.add(bar)
        stoch.add(bar)
    assert talib.RSI(np.full(40, 5.0), 14)[-1] == 0.0
    assert rsi.value() == 100.0 and rsi.previous() == 100.0
    assert stoch.value("k") == 100.0 and stoch.value("d") == 100.0
    # A rise, then no change: RSI stays where the rise left it (both averages decay alike), flat over the
    # window, so Stoch RSI's %K and %D go to 100; TA-Lib's fastd goes to 0 there.
    closes_ = np.concatenate([np.linspace(1, 2, 30), np.full(30, 2.0)])
    bars = [Bar(i * 60_000, 0, 0, 0, float(c), 1, 60_000) for i, c in enumerate(closes_)]
    rsi, stoch = RSI(14), StochRSI()
    for bar in bars:
        rsi.add(bar)
        stoch.add(bar)
    assert rsi.value() == pytest.approx(talib.RSI(closes_, 14)[-1], abs=TOLERANCE)
    assert stoch.value("k") == 100.0 and stoch.value("d") == 100.0
    assert talib.STOCHRSI(closes_, 14, 14, 3, 0)[1][-1] == 0.0


def test_a_market_that_stops_moving_reads_flat_to_stoch_rsi_not_rounding_noise() -> None:
    # Real BTC hourly candles, then SYNTHETIC ones: 40 hours at the last close, as an illiquid pair's 1m
    # candles do. The RSI keeps its level only to rounding (gains and losses decay alike, each rounded).
    bars = list(real_bars("BTCUSDT", "1h"))
    last = bars[-1]
    flat = [
        last._replace(open_time=last.open_time + (i + 1) * HOUR, o=last.c, h=last.c, l=last.c)
        for i in range(40)
    ]
    closes_ = np.array([bar.c for bar in bars + flat])
    rsi = talib.RSI(closes_, 14)
    assert len(set(rsi[len(bars) :])) > 1 and np.ptp(rsi[len(bars) :]) < 1e-12
    # From the first window of 14 RSI values from the last move on (the level the RSI keeps), TA-Lib's raw
    # stochastic reads it as flat (0) and ours does too (100): %K, and %D two candles later, sit at 100 (to
    # the sums' rounding, which the stoch_rsi rule's 1e-9 tie leaves uncrossed).
    first_flat = len(bars) + 12
    assert (np.asarray(talib.STOCHRSI(closes_, 14, 14, 1, 0)[0])[first_flat:] == 0.0).all()
    k, d = stream(StochRSI(), bars + flat, "k"), stream(StochRSI(), bars + flat, "d")
    assert np.abs(k[first_flat + 2 :] - 100.0).max() < 1e-9
    assert np.abs(d[first_flat + 4 :] - 100.0).max() < 1e-9
    # Before it, where a window still holds a move, ours are TA-Lib's.
    assert np.nanmax(np.abs(k[:first_flat] - _stoch_k(closes_)[:first_flat])) <= TOLERANCE
    assert np.nanmax(np.abs(d[:first_flat] - _stoch_d(closes_)[:first_flat])) <= TOLERANCE


def test_bad_arguments_are_readable_errors() -> None:
    with pytest.raises(ValueError, match="unknown indicator 'rsx'; known: sma, ema, rsi"):
        make_indicator("rsx", 14)
    with pytest.raises(ValueError, match="RSI period must be a whole number from 2 to 1000, not 1"):
        make_indicator("rsi", 1)
    with pytest.raises(ValueError, match=r"MACD fast period \(26\) must be shorter than the slow one \(12\)"):
        make_indicator("macd", 26, 12)
    with pytest.raises(ValueError, match="RSI\\(14\\) has no output 'k'"):
        RSI(14).value("k")
    with pytest.raises(ValueError, match="not after the last one fed"):
        sma = SMA(2)
        bar = real_bars("BTCUSDT", "1h")[0]
        sma.add(bar)
        sma.add(bar)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    ("name", "build", "output", "reference", "lookback"), CASES, ids=[c[0] for c in CASES]
)
def test_a_value_that_is_not_finite_is_a_clear_error_and_leaves_no_trace(
    bad: float,
    name: str,
    build: Callable[[], Indicator],
    output: str | None,
    reference: Callable[[Array], Array],
    lookback: int,
) -> None:
    # SYNTHETIC bad values put in real candles: one in the warm-up (where TA-Lib would open its stream on
    # it, undefined behaviour: an RSI stuck at 0, an SMA NaN for ever) and one after it (where TA-Lib's own
    # error says nothing useful).
    bars = real_bars("BTCUSDT", "1h")
    indicator = build()
    refused = (3, indicator.warmup + 20)
    for before, where in pairwise((-1, *refused)):
        for bar in bars[before + 1 : where]:
            indicator.add(bar)
        with pytest.raises(ValueError, match=r"the close of candle \d+ is .*, not a finite number"):
            indicator.add(bars[where]._replace(c=bad))
        assert indicator.last_open_time == bars[where - 1].open_time
    # The refused candles left no trace: the values are TA-Lib's over the closes without them.
    kept = [bar for i, bar in enumerate(bars) if i not in refused]
    ours = stream(indicator, bars[refused[-1] + 1 :], output)
    assert indicator.count == len(kept)
    theirs = np.asarray(reference(np.array([bar.c for bar in kept], dtype=float)), dtype=float)
    assert len(ours) > 100
    assert float(np.abs(ours - theirs[-len(ours) :]).max()) <= TOLERANCE, name


# --- alert times against TA-Lib's crossings ----------------------------------------------------------


def _crossings_up(a: Array, b: Array | float) -> list[int]:
    """Return indices i where a[i-1] <= b[i-1] and a[i] > b[i] (both defined).

    Both are rounded to 1e-9 first: where Stoch RSI sits at 100, TA-Lib's %D of three 100s is
    100.00000000000001 (summation order), a "cross" of %K that ours, exactly 100, rightly does not make.
    """
    a = np.round(a, 9)
    b_arr = np.broadcast_to(np.round(np.asarray(b, dtype=float), 9), a.shape)
    return [
        i
        for i in range(1, len(a))
        if not np.isnan([a[i - 1], a[i], b_arr[i - 1], b_arr[i]]).any()
        and a[i - 1] <= b_arr[i - 1]
        and a[i] > b_arr[i]
    ]


def _crossings_down(a: Array, b: Array | float) -> list[int]:
    return _crossings_up(-a, -np.asarray(b, dtype=float))


def _fired(name: str, symbol: str, **settings: Any) -> dict[str, list[str]]:
    """Step a rule hourly through the real January data; return its firing times by key."""
    result = run(make(name, symbol=symbol, **settings), history_of(real_rows()["candles"]), *JANUARY)
    fired: dict[str, list[str]] = {}
    for now, signal in result.activations:
        assert signal.at == now, "decided at the close of the crossing candle"
        fired.setdefault(signal.key, []).append(iso(signal.at))
    return fired


def _times(symbol: str, interval: str, indices: list[int]) -> list[str]:
    bars = real_bars(symbol, interval)
    return [iso(bars[i].close_time) for i in indices]


def _expect(symbol: str, interval: str, **keyed: list[int]) -> dict[str, list[str]]:
    return {key: _times(symbol, interval, idx) for key, idx in keyed.items() if idx}


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
def test_rsi_fires_at_talibs_crossings(symbol: str, interval: str) -> None:
    rsi = np.asarray(talib.RSI(closes(symbol, interval), 14))
    expected = _expect(symbol, interval, above=_crossings_up(rsi, 70.0), below=_crossings_down(rsi, 30.0))
    got = _fired("rsi", symbol, interval=interval, above=70, below=30, hysteresis=0)
    assert got == expected
    assert sum(map(len, expected.values())) >= (3 if interval == "1h" else 1), "the data has crossings"


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
@pytest.mark.parametrize("kind", ["sma", "ema"])
def test_ma_cross_fires_at_talibs_crossings(symbol: str, interval: str, kind: str) -> None:
    c = closes(symbol, interval)
    ma = talib.SMA if kind == "sma" else talib.EMA
    fast, slow, price = np.asarray(ma(c, 9)), np.asarray(ma(c, 21)), np.asarray(ma(c, 30))
    expected = _expect(
        symbol,
        interval,
        # Nothing is decided before the rule's longest MA (30) has a value and a previous one.
        golden=[i for i in _crossings_up(fast, slow) if i >= 30],
        death=[i for i in _crossings_down(fast, slow) if i >= 30],
        price_above=_crossings_up(c, price),
        price_below=_crossings_down(c, price),
    )
    got = _fired("ma_cross", symbol, interval=interval, fast=9, slow=21, kind=kind, price_vs=30)
    assert got == expected
    assert expected, "the data has crossings"


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
def test_macd_fires_at_talibs_crossings(symbol: str, interval: str) -> None:
    line, _, histogram = (np.asarray(s) for s in talib.MACD(closes(symbol, interval), 12, 26, 9))
    expected = _expect(
        symbol,
        interval,
        signal_up=_crossings_up(histogram, 0.0),
        signal_down=_crossings_down(histogram, 0.0),
        zero_up=[i for i in _crossings_up(line, 0.0) if not np.isnan(histogram[i - 1])],
        zero_down=[i for i in _crossings_down(line, 0.0) if not np.isnan(histogram[i - 1])],
    )
    assert _fired("macd", symbol, interval=interval, watch="both") == expected
    assert expected, "the data has crossings"


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
def test_bollinger_closes_outside_fire_at_talibs_bands(symbol: str, interval: str) -> None:
    c = closes(symbol, interval)
    upper, _, lower = (np.asarray(s) for s in talib.BBANDS(c, 20, 2, 2, 0))
    expected = _expect(symbol, interval, upper=_crossings_up(c, upper), lower=_crossings_down(c, lower))
    assert _fired("bollinger", symbol, interval=interval, watch="bands") == expected
    assert expected, "the data has closes outside the bands"


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
def test_bollinger_squeeze_is_talibs_narrowest_width(symbol: str, interval: str) -> None:
    c = closes(symbol, interval)
    upper, middle, lower = (np.asarray(s) for s in talib.BBANDS(c, 20, 2, 2, 0))
    width = (upper - lower) / middle
    lookback = 20
    got = _fired("bollinger", symbol, interval=interval, watch="squeeze", squeeze_lookback=lookback)
    # Replay TA-Lib's widths through the documented rule: a squeeze at the narrowest width of the last
    # `lookback`, held until the first close outside the bands (its release), which re-arms it.
    squeezed = False
    expected: dict[str, list[int]] = {"squeeze": [], "release_up": [], "release_down": []}
    for i in range(19 + lookback - 1, len(c)):
        broke = "up" if c[i] > upper[i] else "down" if c[i] < lower[i] else None
        if squeezed and broke:
            expected[f"release_{broke}"].append(i)
            squeezed = False
        elif not squeezed and width[i] <= width[i - lookback + 1 : i + 1].min():
            expected["squeeze"].append(i)
            squeezed = True
    assert got == _expect(symbol, interval, **expected)
    assert expected["squeeze"], "the data has a squeeze"


@pytest.mark.parametrize(("symbol", "interval"), SERIES)
def test_stoch_rsi_fires_at_talibs_crossings(symbol: str, interval: str) -> None:
    c = closes(symbol, interval)
    k, d = _stoch_k(c), _stoch_d(c)
    up = [i for i in _crossings_up(k, d) if d[i - 1] <= 20]
    down = [i for i in _crossings_down(k, d) if d[i - 1] >= 80]
    assert _fired("stoch_rsi", symbol, interval=interval) == _expect(symbol, interval, up=up, down=down)
    every = _fired("stoch_rsi", symbol, interval=interval, zones=False)
    assert every == _expect(symbol, interval, up=_crossings_up(k, d), down=_crossings_down(k, d))
