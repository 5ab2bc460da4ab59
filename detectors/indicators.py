"""Streaming technical indicators on closed candles, computed the way TA-Lib and TradingView do.

Each indicator is fed one closed candle at a time (``add(bar)``, O(1) per candle: the arithmetic is
talipp's, a maintained streaming library, chosen over hand-written recurrences so the formulas are the
ones a community already checks) and keeps only a bounded tail of its inputs. The interface, stable for
the detectors and the ``combo`` grammar built on it:

``Indicator`` (abstract base)
    ``label``      "RSI(14)", "EMA(50)", "MACD(12, 26, 9)": how an alert names it.
    ``outputs``    names of the values it produces; the first is the primary one (``value()``).
    ``warmup``     closed candles needed before every output is defined and trusted: TA-Lib's documented
                   lookback plus one (the candle whose value is the first one), so from that candle on the
                   values equal TA-Lib's on the same candles.
    ``settle``     further candles after which the seed's weight in an exponential average is below 1e-3
                   (0 for windowed indicators): with ``warmup + settle`` candles of history a value agrees
                   with a chart that started much earlier (TradingView's) to about 0.1% of its range.
    ``add(bar)``   feed the next closed candle (a ``detectors.base.Bar``, oldest first, no repeats).
    ``count``      candles fed so far; ``ready`` is ``count >= warmup``.
    ``last_open_time``  open time of the last candle fed (None before any).
    ``value(output=None)``     the current value of ``output`` (default: primary), None before the warm-up.
    ``previous(output=None)``  its value one closed candle earlier, None when that candle was in the warm-up.

Indicators (``source`` is the candle field read: "close" by default, or "open", "high", "low", "volume"):

``SMA(period)``                  simple moving average; warm-up ``period``.
``EMA(period)``                  exponential moving average, alpha 2/(period+1), seeded with the SMA of
                                 the first ``period`` values (TA-Lib's and TradingView's ``ta.ema``);
                                 warm-up ``period``.
``RSI(period=14)``               Wilder's RSI: gains and losses smoothed with RMA (alpha 1/period), seeded
                                 with their plain mean over the first ``period`` changes; warm-up
                                 ``period + 1``.
``MACD(fast=12, slow=26, signal=9)``  outputs "macd" (EMA fast − EMA slow, both first defined on
                                 candle ``slow``, as TA-Lib's MACD), "signal" (EMA of the line, seeded
                                 with its SMA), "histogram" (line − signal); warm-up ``slow + signal − 1``.
``Bollinger(period=20, mult=2)``  outputs "middle" (SMA), "upper"/"lower" (middle ± mult × population
                                 standard deviation), "width" ((upper − lower) / middle, TradingView's BBW);
                                 warm-up ``period``.
``StochRSI(rsi_period=14, stoch_period=14, k=3, d=3)``  outputs "k" (SMA over ``k`` of the stochastic of
                                 RSI over ``stoch_period``, in 0..100) and "d" (SMA over ``d`` of k), as
                                 TradingView's Stoch RSI; warm-up ``rsi_period + stoch_period + k + d − 2``.

``make_indicator(name, *args)`` builds one by its lower-case name ("rsi", "sma", "ema", "macd",
"bollinger", "stoch_rsi") and raises ValueError with a readable message for a bad name or argument.
``docs/indicators.md`` gives each formula and how it compares with TradingView's built-in.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, Literal

from talipp.indicators import BB as _TalippBB
from talipp.indicators import EMA as _TalippEMA
from talipp.indicators import RSI as _TalippRSI
from talipp.indicators import SMA as _TalippSMA
from talipp.indicators import StochRSI as _TalippStochRSI
from talipp.indicators.Indicator import Indicator as _TalippIndicator

from detectors.base import Bar

Source = Literal["open", "high", "low", "close", "volume"]
SOURCES: tuple[Source, ...] = ("open", "high", "low", "close", "volume")
# attrgetter reads a field in C: this runs for every candle of every rule.
_READERS: dict[str, Callable[[Bar], float]] = {
    "open": attrgetter("o"),
    "high": attrgetter("h"),
    "low": attrgetter("l"),
    "close": attrgetter("c"),
    "volume": attrgetter("volume"),
}

# Periods a rule may ask for: a 1000-candle average is already four years of daily candles.
MAX_PERIOD = 1000
# The seed's weight below which an exponential average counts as settled (see ``settle``).
_SETTLED_WEIGHT = 1e-3


def _check_period(what: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_PERIOD:
        raise ValueError(f"{what} must be a whole number from {low} to {MAX_PERIOD}, not {value!r}")
    return value


def _settle_for(alpha: float) -> int:
    """Return the candles after which a seed weighted (1 - alpha)^n falls below _SETTLED_WEIGHT."""
    if alpha >= 1:
        return 0
    return math.ceil(math.log(_SETTLED_WEIGHT) / math.log(1 - alpha))


class Indicator(ABC):
    """A streaming indicator over closed candles (see the module docstring for the interface)."""

    outputs: ClassVar[tuple[str, ...]]

    def __init__(self, label: str, warmup: int, settle: int, source: Source) -> None:
        if source not in _READERS:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        self.label = label
        self.warmup = warmup
        self.settle = settle
        self.source: Source = source
        self._read = _READERS[source]
        self.count = 0
        self.last_open_time: int | None = None
        self._current: dict[str, float] | None = None
        self._previous: dict[str, float] | None = None
        # talipp keeps every input; trimming them to a tail of about two warm-ups keeps memory bounded (a
        # rule holds at most _keep + _chunk values per sequence) while leaving every sequence what its
        # recurrences read, and each longer than the window talipp checks to decide it is past its seed
        # (the sequences fed later, such as Stoch RSI's %K, are shorter by the warm-up before them).
        self._keep = 2 * warmup + 16
        self._chunk = max(32, self._keep // 4)

    @property
    def ready(self) -> bool:
        """Return whether enough candles were fed for every output to be defined."""
        return self.count >= self.warmup

    def add(self, bar: Bar) -> None:
        """Feed the next closed candle."""
        if self.last_open_time is not None and bar.open_time <= self.last_open_time:
            raise ValueError(
                f"{self.label}: candle {bar.open_time} is not after the last one fed ({self.last_open_time})"
            )
        self._feed(self._read(bar))
        self.count += 1
        self.last_open_time = bar.open_time
        self._previous = self._current
        self._current = self._outputs() if self.count >= self.warmup else None
        if self.count % self._chunk == 0:  # amortised: a trim every ``_chunk`` candles
            for engine in self._engines():
                if len(engine.input_values) > self._keep:
                    engine.purge_oldest(len(engine.input_values) - self._keep)

    def value(self, output: str | None = None) -> float | None:
        """Return the current value of ``output`` (default: the primary one), None before the warm-up."""
        return self._pick(self._current, output)

    def previous(self, output: str | None = None) -> float | None:
        """Return the value of ``output`` one closed candle ago, None if that candle was in the warm-up."""
        return self._pick(self._previous, output)

    def _pick(self, values: dict[str, float] | None, output: str | None) -> float | None:
        name = self.outputs[0] if output is None else output
        if values is not None and name in values:
            return values[name]  # the usual case, first
        if name not in self.outputs:
            raise ValueError(f"{self.label} has no output {name!r}; it has {', '.join(self.outputs)}")
        return None

    def _feed(self, x: float) -> None:
        """Pass the candle's value to the talipp indicators doing the arithmetic."""
        for engine in self._engines():
            engine.add(x)

    @abstractmethod
    def _engines(self) -> tuple[_TalippIndicator, ...]:
        """Return the talipp indicators doing the arithmetic."""

    @abstractmethod
    def _outputs(self) -> dict[str, float]:
        """Return every output of the newest candle (called only once warm).

        Read talipp's ``output_values`` list, not its ``__getitem__``: that is a Python call per value, for
        every output of every rule at every candle.
        """

    def __repr__(self) -> str:
        return f"<{self.label} n={self.count} value={self.value()}>"


class SMA(Indicator):
    """Simple moving average of ``period`` candles."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int, source: Source = "close") -> None:
        self.period = _check_period("SMA period", period)
        super().__init__(f"SMA({period})", period, 0, source)
        self._ta = _TalippSMA(period)

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._ta,)

    def _outputs(self) -> dict[str, float]:
        return {"value": float(self._ta.output_values[-1])}


class EMA(Indicator):
    """Exponential moving average of ``period`` candles, seeded with the SMA of the first ``period``."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int, source: Source = "close") -> None:
        self.period = _check_period("EMA period", period)
        super().__init__(f"EMA({period})", period, _settle_for(2 / (period + 1)), source)
        self._ta = _TalippEMA(period)

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._ta,)

    def _outputs(self) -> dict[str, float]:
        return {"value": float(self._ta.output_values[-1])}


class RSI(Indicator):
    """Wilder's relative strength index (RMA-smoothed gains and losses), 0 to 100."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int = 14, source: Source = "close") -> None:
        self.period = _check_period("RSI period", period, 2)
        super().__init__(f"RSI({period})", period + 1, _settle_for(1 / period), source)
        self._ta = _TalippRSI(period)

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._ta,)

    def _outputs(self) -> dict[str, float]:
        return {"value": float(self._ta.output_values[-1])}


class MACD(Indicator):
    """Moving average convergence divergence: EMA(fast) − EMA(slow), its EMA signal line and histogram.

    The fast EMA starts ``slow - fast`` candles late, so both averages give their first value on the same
    candle: TA-Lib's ``TA_MACD`` does this, and after the warm-up its values are equal to ours. (Started on
    the first candle, as TradingView's chart does over years of history, the two differ by a seed weight
    that decays as (1 - 2/(fast+1))^n: see ``settle``.)
    """

    outputs: ClassVar[tuple[str, ...]] = ("macd", "signal", "histogram")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9, source: Source = "close") -> None:
        self.fast = _check_period("MACD fast period", fast)
        self.slow = _check_period("MACD slow period", slow)
        self.signal = _check_period("MACD signal period", signal)
        if fast >= slow:
            raise ValueError(f"MACD fast period ({fast}) must be shorter than the slow one ({slow})")
        settle = max(_settle_for(2 / (slow + 1)), _settle_for(2 / (signal + 1)))
        super().__init__(f"MACD({fast}, {slow}, {signal})", slow + signal - 1, settle, source)
        self._fast, self._slow, self._signal = _TalippEMA(fast), _TalippEMA(slow), _TalippEMA(signal)
        self._line = 0.0

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._fast, self._slow, self._signal)

    def _feed(self, x: float) -> None:
        # self.count is the number of candles fed before this one.
        if self.count >= self.slow - self.fast:
            self._fast.add(x)
        self._slow.add(x)
        if self.count >= self.slow - 1:
            self._line = float(self._fast.output_values[-1]) - float(self._slow.output_values[-1])
            self._signal.add(self._line)

    def _outputs(self) -> dict[str, float]:
        signal = float(self._signal.output_values[-1])
        return {"macd": self._line, "signal": signal, "histogram": self._line - signal}


class Bollinger(Indicator):
    """Bollinger Bands: SMA ± mult × population standard deviation, and the band width."""

    outputs: ClassVar[tuple[str, ...]] = ("middle", "upper", "lower", "width")

    def __init__(self, period: int = 20, mult: float = 2.0, source: Source = "close") -> None:
        self.period = _check_period("Bollinger period", period, 2)
        if isinstance(mult, bool) or not isinstance(mult, int | float) or not 0 < mult <= 10:
            raise ValueError(f"Bollinger multiplier must be a number above 0 and at most 10, not {mult!r}")
        self.mult = float(mult)
        super().__init__(f"BB({period}, {self.mult:g})", period, 0, source)
        self._ta = _TalippBB(period, self.mult)

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._ta,)

    def _outputs(self) -> dict[str, float]:
        out = self._ta.output_values[-1]
        middle, upper, lower = float(out.cb), float(out.ub), float(out.lb)
        width = (upper - lower) / middle if middle else 0.0
        return {"middle": middle, "upper": upper, "lower": lower, "width": width}


class StochRSI(Indicator):
    """Stochastic RSI as TradingView draws it: %K (smoothed) and %D, 0 to 100."""

    outputs: ClassVar[tuple[str, ...]] = ("k", "d")

    def __init__(
        self, rsi_period: int = 14, stoch_period: int = 14, k: int = 3, d: int = 3, source: Source = "close"
    ) -> None:
        self.rsi_period = _check_period("Stoch RSI's RSI period", rsi_period, 2)
        self.stoch_period = _check_period("Stoch RSI's stochastic period", stoch_period)
        self.k = _check_period("Stoch RSI's K smoothing", k)
        self.d = _check_period("Stoch RSI's D smoothing", d)
        warmup = rsi_period + stoch_period + k + d - 2
        label = f"StochRSI({rsi_period}, {stoch_period}, {k}, {d})"
        super().__init__(label, warmup, _settle_for(1 / rsi_period), source)
        self._ta = _TalippStochRSI(rsi_period, stoch_period, k, d)

    def _engines(self) -> tuple[_TalippIndicator, ...]:
        return (self._ta,)

    def _outputs(self) -> dict[str, float]:
        out = self._ta.output_values[-1]
        return {"k": float(out.k), "d": float(out.d)}


INDICATORS: dict[str, Callable[..., Indicator]] = {
    "sma": SMA,
    "ema": EMA,
    "rsi": RSI,
    "macd": MACD,
    "bollinger": Bollinger,
    "stoch_rsi": StochRSI,
}


def make_indicator(name: str, *args: Any, **kwargs: Any) -> Indicator:
    """Build the indicator called ``name`` (see INDICATORS) or raise ValueError saying what is wrong."""
    factory = INDICATORS.get(name)
    if factory is None:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(INDICATORS)}")
    try:
        return factory(*args, **kwargs)
    except TypeError as exc:  # too many arguments, or an unknown keyword
        raise ValueError(f"{name}: {exc}") from None
