"""Streaming technical indicators on closed candles, computed the way TA-Lib and TradingView do.

Each indicator is fed one closed candle at a time (``add(bar)``, O(1) per candle). The arithmetic is
TA-Lib's own streaming API (``talib.stream``, TA-Lib 0.8.1 and later): the reference implementation the
values are checked against, maintained, and its streams are bit-identical to its Function API over the
whole series, in C at about 0.1 us a value. (talipp, the pure-Python streaming library used before, cost
2 to 5 us per indicator and candle, half of a 1m indicator rule's evaluation: see ``bench.indicators``.)
A stream is opened on its first ``lookback + 1`` values, which are kept until then; after that TA-Lib
holds what its recurrence needs, so memory stays bounded. The interface, stable for the detectors and the
``combo`` grammar built on it:

``Indicator`` (abstract base)
    ``label``      "RSI(14)", "EMA(50)", "MACD(12, 26, 9)": how an alert names it.
    ``outputs``    names of the values it produces; the first is the primary one (``value()``).
    ``warmup``     closed candles needed before every output is defined and trusted: TA-Lib's documented
                   lookback plus one (the candle whose value is the first one), so from that candle on the
                   values equal TA-Lib's on the same candles.
    ``settle``     further candles after which the seed's weight in an exponential average is below 1e-3
                   (0 for windowed indicators): with ``warmup + settle`` candles of history a value agrees
                   with a chart that started much earlier (TradingView's) to about 0.1% of its range.
    ``add(bar)``   feed the next closed candle (a ``detectors.base.Bar``, oldest first, no repeats, the value
                   read finite): ValueError otherwise, the indicator left as it was.
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
                                 ``period + 1``. With no change at all since the first candle it is 100,
                                 as TradingView's ``ta.rsi`` (TA-Lib says 0).
``MACD(fast=12, slow=26, signal=9)``  outputs "macd" (EMA fast − EMA slow, both first defined on
                                 candle ``slow``, as TA-Lib's MACD), "signal" (EMA of the line, seeded
                                 with its SMA), "histogram" (line − signal); warm-up ``slow + signal − 1``.
``Bollinger(period=20, mult=2)``  outputs "middle" (SMA), "upper"/"lower" (middle ± mult × population
                                 standard deviation), "width" ((upper − lower) / middle, TradingView's BBW);
                                 warm-up ``period``.
``StochRSI(rsi_period=14, stoch_period=14, k=3, d=3)``  outputs "k" (SMA over ``k`` of the stochastic of
                                 RSI over ``stoch_period``, in 0..100) and "d" (SMA over ``d`` of k), as
                                 TradingView's Stoch RSI; warm-up ``rsi_period + stoch_period + k + d − 2``.
                                 An RSI flat over the whole window (to within 1e-14 of its level, as
                                 TA-Lib tells it) gives a raw value of 100 (TradingView leaves it
                                 undefined, TA-Lib's STOCHRSI says 0).

``make_indicator(name, *args)`` builds one by its lower-case name ("rsi", "sma", "ema", "macd",
"bollinger", "stoch_rsi") and raises ValueError with a readable message for a bad name or argument.
``docs/indicators.md`` gives each formula and how it compares with TradingView's built-in.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from detectors.base import Bar

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

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
# A window no wider than this times the size of its ends is flat: TA-Lib's scaled zero test (its
# TA_EPSILON), which its STOCHF applies to the range (see ``StochRSI``).
_FLAT_RANGE = 1e-14


def _check_period(what: str, value: int, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_PERIOD:
        raise ValueError(f"{what} must be a whole number from {low} to {MAX_PERIOD}, not {value!r}")
    return value


def _settle_for(alpha: float) -> int:
    """Return the candles after which a seed weighted (1 - alpha)^n falls below _SETTLED_WEIGHT."""
    if alpha >= 1:
        return 0
    return math.ceil(math.log(_SETTLED_WEIGHT) / math.log(1 - alpha))


def _ta() -> Any:
    """Return TA-Lib's streaming functions, imported when the first stream opens (see ``_Stream``)."""
    from talib import stream

    return stream


class _Stream:
    """One TA-Lib stream fed a value at a time from the first: its values, None until TA-Lib has one.

    TA-Lib opens a stream on history (at least its lookback plus one values) and then takes one value per
    candle. The values before that are kept here; ``update`` is this warm-up step first and the stream's
    own method once it is open, so a warm indicator calls TA-Lib's C code directly.
    """

    __slots__ = ("_history", "_needed", "_open", "update")

    def __init__(self, open_stream: Callable[[NDArray[np.float64]], Any], needed: int) -> None:
        self._open = open_stream
        self._needed = needed
        self._history: list[float] = []
        self.update: Callable[[float], Any] = self._warm_up

    @property
    def buffered(self) -> int:
        """Return how many values are kept here, waiting for the stream to open (0 once it is)."""
        return len(self._history)

    def _warm_up(self, x: float) -> Any:
        if not math.isfinite(x):
            # Refused as the open stream's update refuses it: a value that is not finite in the history a
            # stream opens on is undefined behaviour in TA-Lib (an RSI stuck at 0, an SMA NaN for ever).
            raise ValueError(f"{x!r} is not a finite number")
        history = self._history
        history.append(x)
        if len(history) < self._needed:
            return None
        # Imported here, at the first stream opened: TA-Lib's extension is about 5 MB resident, which a bot
        # without indicator rules need not carry (bench.memory; numpy is loaded anyway, by sqlite-utils).
        import numpy
        from talib import InsufficientHistory  # type: ignore[attr-defined]  # in talib's __all__, built at run time

        try:
            opened = self._open(numpy.array(history, dtype=numpy.float64))
        except InsufficientHistory:  # where a function's seeding wants more than its lookback + 1
            return None
        self._history = []
        self.update = opened.update
        return opened.value


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
        self._index = {name: i for i, name in enumerate(self.outputs)}
        self.count = 0
        self.last_open_time: int | None = None
        # The outputs of the newest candle and of the one before, in ``outputs`` order (None in warm-up).
        self._current: tuple[float, ...] | None = None
        self._previous: tuple[float, ...] | None = None

    @property
    def ready(self) -> bool:
        """Return whether enough candles were fed for every output to be defined."""
        return self.count >= self.warmup

    def add(self, bar: Bar) -> None:
        """Feed the next closed candle."""
        open_time = bar.open_time
        if self.last_open_time is not None and open_time <= self.last_open_time:
            raise ValueError(
                f"{self.label}: candle {open_time} is not after the last one fed ({self.last_open_time})"
            )
        x = self._read(bar)
        try:
            outputs = self._step(x)
        except Exception:
            if math.isfinite(x):
                raise
            # TA-Lib's open streams refuse it with a bare Exception ("Bad Parameter"), leaving each as it
            # was, and so does a stream still warming up: say which candle and value, as for a repeat.
            raise ValueError(
                f"{self.label}: the {self.source} of candle {open_time} is {x!r}, not a finite number"
            ) from None
        self.count += 1
        self.last_open_time = open_time
        self._previous = self._current
        self._current = outputs if self.count >= self.warmup else None

    def value(self, output: str | None = None) -> float | None:
        """Return the current value of ``output`` (default: the primary one), None before the warm-up."""
        return self._pick(self._current, output)

    def previous(self, output: str | None = None) -> float | None:
        """Return the value of ``output`` one closed candle ago, None if that candle was in the warm-up."""
        return self._pick(self._previous, output)

    def _pick(self, values: tuple[float, ...] | None, output: str | None) -> float | None:
        if output is None:
            return values[0] if values is not None else None  # the usual case, first
        i = self._index.get(output)
        if i is None:
            raise ValueError(f"{self.label} has no output {output!r}; it has {', '.join(self.outputs)}")
        return values[i] if values is not None else None

    @abstractmethod
    def _step(self, x: float) -> tuple[float, ...] | None:
        """Feed the candle's value to the streams; return every output (``outputs`` order) once defined."""

    @abstractmethod
    def _streams(self) -> tuple[_Stream, ...]:
        """Return the TA-Lib streams doing the arithmetic."""

    def __repr__(self) -> str:
        return f"<{self.label} n={self.count} value={self.value()}>"


class SMA(Indicator):
    """Simple moving average of ``period`` candles."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int, source: Source = "close") -> None:
        self.period = _check_period("SMA period", period)
        super().__init__(f"SMA({period})", period, 0, source)
        self._sma = _Stream(lambda h: _ta().SMA(h, timeperiod=period), period)

    def _step(self, x: float) -> tuple[float, ...] | None:
        value = self._sma.update(x)
        return None if value is None else (value,)

    def _streams(self) -> tuple[_Stream, ...]:
        return (self._sma,)


class EMA(Indicator):
    """Exponential moving average of ``period`` candles, seeded with the SMA of the first ``period``."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int, source: Source = "close") -> None:
        self.period = _check_period("EMA period", period)
        super().__init__(f"EMA({period})", period, _settle_for(2 / (period + 1)), source)
        self._ema = _ema(period)

    def _step(self, x: float) -> tuple[float, ...] | None:
        value = self._ema.update(x)
        return None if value is None else (value,)

    def _streams(self) -> tuple[_Stream, ...]:
        return (self._ema,)


def _ema(period: int) -> _Stream:
    return _Stream(lambda h: _ta().EMA(h, timeperiod=period), period)


class _WilderRsi:
    """TA-Lib's RSI stream, with TradingView's value for a series that has not moved at all: 100.

    TradingView's ``ta.rsi`` is 100 when the average loss is 0 and TA-Lib's is 100·gain/(gain + loss), which
    agree except when both averages are 0: nothing has moved since the first value, where TA-Lib says 0.
    """

    __slots__ = ("_first", "_moved", "_rsi")

    def __init__(self, period: int) -> None:
        self._rsi = _Stream(lambda h: _ta().RSI(h, timeperiod=period), period + 1)
        self._first: float | None = None
        self._moved = False

    def update(self, x: float) -> float | None:
        value: float | None = self._rsi.update(x)  # first: a value it refuses must leave no trace here
        if not self._moved:
            if self._first is None:
                self._first = x
            elif x != self._first:
                self._moved = True
        if value == 0.0 and not self._moved:
            return 100.0
        return value


class RSI(Indicator):
    """Wilder's relative strength index (RMA-smoothed gains and losses), 0 to 100."""

    outputs: ClassVar[tuple[str, ...]] = ("value",)

    def __init__(self, period: int = 14, source: Source = "close") -> None:
        self.period = _check_period("RSI period", period, 2)
        super().__init__(f"RSI({period})", period + 1, _settle_for(1 / period), source)
        self._rsi = _WilderRsi(period)

    def _step(self, x: float) -> tuple[float, ...] | None:
        value = self._rsi.update(x)
        return None if value is None else (value,)

    def _streams(self) -> tuple[_Stream, ...]:
        return (self._rsi._rsi,)


class MACD(Indicator):
    """Moving average convergence divergence: EMA(fast) − EMA(slow), its EMA signal line and histogram.

    The fast EMA starts ``slow - fast`` candles late, so both averages give their first value on the same
    candle: TA-Lib's ``TA_MACD`` does this, and after the warm-up its values are equal to ours. (Started on
    the first candle, as TradingView's chart does over years of history, the two differ by a seed weight
    that decays as (1 - 2/(fast+1))^n: see ``settle``.) Built from three EMA streams rather than TA-Lib's
    MACD stream, which refuses a fast period of 1 (an EMA(1) is the close itself, a setting rules allow).
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
        self._fast, self._slow, self._signal = _ema(fast), _ema(slow), _ema(signal)

    def _step(self, x: float) -> tuple[float, ...] | None:
        # self.count is the number of candles fed before this one.
        fast = self._fast.update(x) if self.count >= self.slow - self.fast else None
        slow = self._slow.update(x)
        if fast is None or slow is None:
            return None
        line: float = fast - slow
        signal = self._signal.update(line)
        return None if signal is None else (line, signal, line - signal)

    def _streams(self) -> tuple[_Stream, ...]:
        return (self._fast, self._slow, self._signal)


class Bollinger(Indicator):
    """Bollinger Bands: SMA ± mult × population standard deviation, and the band width."""

    outputs: ClassVar[tuple[str, ...]] = ("middle", "upper", "lower", "width")

    def __init__(self, period: int = 20, mult: float = 2.0, source: Source = "close") -> None:
        self.period = _check_period("Bollinger period", period, 2)
        if isinstance(mult, bool) or not isinstance(mult, int | float) or not 0 < mult <= 10:
            raise ValueError(f"Bollinger multiplier must be a number above 0 and at most 10, not {mult!r}")
        self.mult = float(mult)
        super().__init__(f"BB({period}, {self.mult:g})", period, 0, source)
        m = self.mult
        self._bands = _Stream(
            lambda h: _ta().BBANDS(h, timeperiod=period, nbdevup=m, nbdevdn=m, matype=0), period
        )

    def _step(self, x: float) -> tuple[float, ...] | None:
        bands = self._bands.update(x)
        if bands is None:
            return None
        upper, middle, lower = bands
        return (middle, upper, lower, (upper - lower) / middle if middle else 0.0)

    def _streams(self) -> tuple[_Stream, ...]:
        return (self._bands,)


class StochRSI(Indicator):
    """Stochastic RSI as TradingView draws it: %K (smoothed) and %D, 0 to 100.

    TA-Lib's streams of RSI, its lowest and highest over the window (MINMAX) and two SMAs: TA-Lib's own
    STOCHRSI stream gives %K (its fastd) but not TradingView's %D, and a raw 0 where the RSI is flat over the
    window, where this indicator has always given 100.
    """

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
        self._rsi = _WilderRsi(rsi_period)
        # A window of one RSI value has no range (TA-Lib's MINMAX refuses it): the raw value is always 100.
        self._range = (
            _Stream(lambda h: _ta().MINMAX(h, timeperiod=stoch_period), stoch_period)
            if stoch_period > 1
            else None
        )
        self._k = _Stream(lambda h: _ta().SMA(h, timeperiod=k), k)
        self._d = _Stream(lambda h: _ta().SMA(h, timeperiod=d), d)

    def _step(self, x: float) -> tuple[float, ...] | None:
        rsi = self._rsi.update(x)
        if rsi is None:
            return None
        if self._range is None:
            raw = 100.0
        else:
            window = self._range.update(rsi)
            if window is None:
                return None
            lowest, highest = window
            # As TA-Lib's STOCHF computes it, so the values are TA-Lib's to the last bit; like it, a range
            # within 1e-14 of the values' size is none. An RSI whose market stopped moving keeps its level
            # only to rounding (its gains and losses decay alike, each rounded), and that noise divided by
            # itself would swing %K anywhere in 0..100 and cross %D with no trade.
            if highest - lowest <= _FLAT_RANGE * (highest + lowest):  # RSI is never negative
                raw = 100.0
            else:
                raw = 100.0 * ((rsi - lowest) / (highest - lowest))
        k = self._k.update(raw)
        if k is None:
            return None
        d = self._d.update(k)
        return None if d is None else (k, d)

    def _streams(self) -> tuple[_Stream, ...]:
        opened = (self._rsi._rsi, self._k, self._d)
        return opened if self._range is None else (*opened, self._range)


INDICATORS: dict[str, Callable[..., Indicator]] = {
    "sma": SMA,
    "ema": EMA,
    "rsi": RSI,
    "macd": MACD,
    "bollinger": Bollinger,
    "stoch_rsi": StochRSI,
}


def make_indicator(name: str, *args: Any, **kwargs: Any) -> Indicator:
    """Build the indicator called ``name`` (see INDICATORS) or raise ValueError with a readable message."""
    factory = INDICATORS.get(name)
    if factory is None:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(INDICATORS)}")
    try:
        return factory(*args, **kwargs)
    except TypeError as exc:  # too many arguments, or an unknown keyword
        raise ValueError(f"{name}: {exc}") from None
