"""The peers' way, done well: recompute each rule from its window at every candle, vectorised (numpy, TA-Lib).

A bot built on pandas or TA-Lib keeps the history as arrays and, at each candle close, recomputes each
rule's condition over the rule's window: the window's max and min for a range, the closes' change for a
percentage move, hourly volume sums for a spike, sums of liquidated USD, and TA-Lib's RSI, MACD, Bollinger
bands, Stochastic RSI and moving averages on the window resampled to the rule's interval. Nothing is kept
between candles, and nothing is read from a database: the whole history sits in memory as numpy arrays,
loaded once, which is the most favourable setting such a bot can have. Each rule reads exactly the window
``rule_window_ms`` gives (what the rule's own decision reaches back over).

It decides nothing for the replay and is only timed: ``bench.replay`` prints Tripwire's time per candle
against this one's, measured in the same process on the same SYNTHETIC data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import talib

from feeds.replay import RecordedData
from storage.rows import MINUTE_MS, interval_ms

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(slots=True)
class SymbolArrays:
    """One symbol's history as arrays on the one-minute grid (liquidations summed per candle minute)."""

    t: Ints
    h: Floats
    low: Floats
    c: Floats
    v: Floats
    liq_long: Floats
    liq_short: Floats
    funding_t: Ints
    funding: Floats
    oi_t: Ints
    oi: Floats


@dataclass(slots=True)
class Market:
    """Every symbol's arrays and the market-wide Fear & Greed series."""

    symbols: dict[str, SymbolArrays]
    fng_t: Ints
    fng: Floats


def market_arrays(data: RecordedData) -> Market:
    """Load the recorded rows into arrays once (the peer bot's dataframe)."""
    rows: dict[str, dict[str, list[Any]]] = {}
    fng: list[tuple[int, int]] = []
    for _, batch in data.timeline():
        for candle in batch.candles:
            cols = rows.setdefault(candle.symbol, {k: [] for k in ("candles", "liq", "funding", "oi")})
            cols["candles"].append((candle.open_time, candle.h, candle.l, candle.c, candle.volume))
        for liq in batch.liquidations:
            rows.setdefault(liq.symbol, {k: [] for k in ("candles", "liq", "funding", "oi")})["liq"].append(
                (liq.ts, liq.side == "long", liq.usd)
            )
        for f in batch.funding:
            rows[f.symbol]["funding"].append((f.ts, f.rate))
        for oi in batch.open_interest:
            rows[oi.symbol]["oi"].append((oi.ts, oi.contracts if oi.contracts is not None else np.nan))
        fng.extend((g.ts, g.value) for g in batch.fear_greed)
    symbols = {symbol: _symbol_arrays(cols) for symbol, cols in rows.items()}
    fng_arr = np.array(fng, dtype=np.float64).reshape(-1, 2)
    return Market(symbols, fng_arr[:, 0].astype(np.int64), fng_arr[:, 1].copy())


def _symbol_arrays(cols: dict[str, list[Any]]) -> SymbolArrays:
    """Return one symbol's columns as arrays, liquidations summed per candle minute and side."""
    candles: Floats = np.array(cols["candles"], dtype=np.float64).reshape(-1, 5)
    t: Ints = candles[:, 0].astype(np.int64)
    events: Floats = np.array(cols["liq"], dtype=np.float64).reshape(-1, 3)
    minute: Ints = np.searchsorted(t, (events[:, 0] // MINUTE_MS * MINUTE_MS).astype(np.int64))
    inside = minute < len(t)
    is_long = events[:, 1] == 1.0
    long_usd: Floats = np.zeros(len(t))
    short_usd: Floats = np.zeros(len(t))
    np.add.at(long_usd, minute[inside & is_long], events[inside & is_long, 2])
    np.add.at(short_usd, minute[inside & ~is_long], events[inside & ~is_long, 2])
    funding: Floats = np.array(cols["funding"], dtype=np.float64).reshape(-1, 2)
    interest: Floats = np.array(cols["oi"], dtype=np.float64).reshape(-1, 2)
    return SymbolArrays(
        t,
        candles[:, 1].copy(),
        candles[:, 2].copy(),
        candles[:, 3].copy(),
        candles[:, 4].copy(),
        long_usd,
        short_usd,
        funding[:, 0].astype(np.int64),
        funding[:, 1].copy(),
        interest[:, 0].astype(np.int64),
        interest[:, 1].copy(),
    )


# A rule's recompute at candle index ``i`` (of its symbol's one-minute arrays): reads its window, returns
# a number (summed by ``time_per_candle``, so every result is used).
Recompute = Callable[[Market, int], float]


def _closes_of(a: SymbolArrays, i: int, minutes: int, step: int) -> Floats:
    """Return the closes of the ``step``-minute candles closed in the ``minutes`` before candle ``i``."""
    lo = max(0, i + 1 - minutes)
    window = a.c[lo : i + 1]
    # Resampled as pandas' resample().last() does: the last close of each interval, aligned to the grid.
    first = (step - (int(a.t[lo]) // MINUTE_MS) % step - 1) % step
    return window[first::step]


def recompute_for(detector: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Return the vectorised recompute of one rule at a candle index (the rule's window, its settings)."""
    build = _BUILDERS.get(detector, _indicator)
    return build(detector, settings, symbol, window_ms)


def _crossing(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Level and round-level rules: the last change of side over the window's closes."""
    minutes = max(2, window_ms // MINUTE_MS)
    step = float(getattr(settings, "step", 0.0) or 0.0)
    level = float(getattr(settings, "level", 0.0) or 0.0)

    def run(m: Market, i: int) -> float:
        c = m.symbols[symbol].c[max(0, i + 1 - minutes) : i + 1]
        side = np.floor(c / step) if step else (c >= level).astype(np.float64)
        changed = np.flatnonzero(np.diff(side))
        return float(changed[-1]) if len(changed) else -1.0

    return run


def _breakout(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Range rules: the window's high and low against the close."""
    minutes = max(2, window_ms // MINUTE_MS)

    def run(m: Market, i: int) -> float:
        a = m.symbols[symbol]
        lo = max(0, i - minutes)
        high, low = a.h[lo:i].max(initial=-np.inf), a.low[lo:i].min(initial=np.inf)
        return float(a.c[i] > high) - float(a.c[i] < low)

    return run


def _moved(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Percentage-move rules (one symbol, several, or with liquidations: a squeeze) over resampled closes."""
    minutes = max(2, window_ms // MINUTE_MS)
    peers = [symbol, *getattr(settings, "symbols", ())]
    step = interval_ms(getattr(settings, "interval", "1h") or "1h") // MINUTE_MS

    def run(m: Market, i: int) -> float:
        total = 0.0
        for peer in peers:
            closes = _closes_of(m.symbols[peer], i, minutes, step)
            if len(closes):
                total += float((closes[-1] - closes.min()) / closes.min() - (closes[-1] - closes.max()))
        if name == "squeeze":
            a = m.symbols[symbol]
            lo = max(0, i + 1 - minutes)
            total += float(a.liq_short[lo : i + 1].sum() - a.liq_long[lo : i + 1].sum())
        return total

    return run


def _spike(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Volume rules: the window's volumes summed per interval, the newest against the mean of the others."""
    minutes = max(2, window_ms // MINUTE_MS)
    step = interval_ms(getattr(settings, "interval", "1h") or "1h") // MINUTE_MS

    def run(m: Market, i: int) -> float:
        a = m.symbols[symbol]
        lo = max(0, i + 1 - minutes)
        first = (step - (int(a.t[lo]) // MINUTE_MS) % step) % step
        window = a.v[lo + first : i + 1]
        sums = np.add.reduceat(window, np.arange(0, len(window), step)) if len(window) else window
        return float(sums[-1] / sums[:-1].mean()) if len(sums) > 1 else 0.0

    return run


def _cascade(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Liquidation rules: the recent window's liquidated USD against the baseline window's."""
    minutes = max(2, window_ms // MINUTE_MS)
    recent = int(getattr(settings, "window_minutes", 60))

    def run(m: Market, i: int) -> float:
        a = m.symbols[symbol]
        lo = max(0, i + 1 - minutes)
        base = a.liq_long[lo : i + 1].sum() + a.liq_short[lo : i + 1].sum()
        now = a.liq_long[i + 1 - recent : i + 1].sum() + a.liq_short[i + 1 - recent : i + 1].sum()
        return float(now / base) if base else 0.0

    return run


def _funding(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Funding rules: the last twelve settlements."""

    def run(m: Market, i: int) -> float:
        a = m.symbols[symbol]
        hi = int(np.searchsorted(a.funding_t, a.t[i] + MINUTE_MS, side="right"))
        rates = a.funding[max(0, hi - 12) : hi]
        return float(rates[-1] - rates.mean()) if len(rates) else 0.0

    return run


def _interest(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Open-interest rules: the change over the window's points."""

    def run(m: Market, i: int) -> float:
        a = m.symbols[symbol]
        now = int(a.t[i]) + MINUTE_MS
        lo, hi = np.searchsorted(a.oi_t, [now - window_ms, now], side="right")
        points = a.oi[lo:hi]
        return float((points[-1] - points.min()) / points.min()) if len(points) else 0.0

    return run


def _fear_greed(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Fear & Greed rules: the newest value against the lookback's."""

    def run(m: Market, i: int) -> float:
        now = int(next(iter(m.symbols.values())).t[i]) + MINUTE_MS
        lo, hi = np.searchsorted(m.fng_t, [now - window_ms, now], side="right")
        values = m.fng[lo:hi]
        return float(values[-1] - values.max()) if len(values) else 0.0

    return run


def _indicator(name: str, settings: Any, symbol: str, window_ms: int) -> Recompute:
    """Return the TA-Lib recompute of an indicator rule over its window resampled to its interval.

    A rule of another detector (the liquidation-map ones) gets an RSI and an EMA over its window instead: a
    stand-in of the same order of work, not its own model.
    """
    step = interval_ms(getattr(settings, "interval", "1h") or "1h") // MINUTE_MS
    minutes = max(step * 2, window_ms // MINUTE_MS)
    period = int(getattr(settings, "period", 14) or 14)

    def run(m: Market, i: int) -> float:
        closes = _closes_of(m.symbols[symbol], i, minutes, step)
        if len(closes) < 3:
            return 0.0
        if name == "rsi":
            out = talib.RSI(closes, timeperiod=min(period, len(closes) - 1))
        elif name == "macd":
            out = talib.MACD(closes)[2]
        elif name == "bollinger":
            out = talib.BBANDS(closes, timeperiod=min(period, len(closes)))[0]
        elif name == "stoch_rsi":
            out = talib.STOCHRSI(closes, timeperiod=min(period, len(closes) - 1))[0]
        elif name == "ma_cross":
            out = talib.SMA(closes, timeperiod=min(50, len(closes))) - talib.SMA(
                closes, timeperiod=min(200, len(closes))
            )
        else:  # combo and other indicator rules: an RSI and an EMA over the same window
            out = talib.RSI(closes, timeperiod=min(14, len(closes) - 1)) + talib.EMA(
                closes, timeperiod=min(50, len(closes))
            )
        return float(np.nan_to_num(out[-1]))  # NaN while the indicator warms up

    return run


_BUILDERS: dict[str, Callable[[str, Any, str, int], Recompute]] = {
    "level_cross": _crossing,
    "round_levels": _crossing,
    "range_breakout": _breakout,
    "pct_move": _moved,
    "correlated_move": _moved,
    "squeeze": _moved,
    "volume_spike": _spike,
    "liquidation_cascade": _cascade,
    "funding": _funding,
    "open_interest": _interest,
    "fear_greed": _fear_greed,
}


def time_per_candle(
    market: Market,
    rules: Sequence[Recompute],
    start_index: int,
    closes: int,
    clock: Callable[[], float],
) -> tuple[float, float]:
    """Return seconds per candle to recompute every rule at ``closes`` instants from ``start_index``.

    Also return the sum of the rules' results, which the caller prints: the work is used, not discarded.
    """
    count = len(next(iter(market.symbols.values())).t)
    stop = min(count, start_index + closes)
    began = clock()
    sink = 0.0
    for i in range(start_index, stop):
        for rule in rules:
            sink += rule(market, i)
    seconds = clock() - began
    candles = (stop - start_index) * len(market.symbols)
    return seconds / max(candles, 1), sink
