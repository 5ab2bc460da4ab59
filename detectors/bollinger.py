"""Bollinger Bands: a close outside the bands, a squeeze (the narrowest bands in N candles), its release."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.base import Bar, DetectorSettings, format_price, short_symbol
from detectors.indicator_rule import COMMON_INDICATOR_VALUES, Bundle, IndicatorDetector, IndicatorSettings
from detectors.indicators import MAX_PERIOD, Indicator
from detectors.indicators import Bollinger as BollingerBands
from detectors.latch import advance_edge, is_armed

FORMULA = (
    "middle = SMA(close, n); upper/lower = middle ± mult × population standard deviation of the n closes; "
    "width = (upper − lower) / middle"
)

# A close is outside a band only by more than this fraction of the band: less is rounding. TA-Lib keeps its
# middle band as a running sum, a few units in the last place off the mean (5.8e-11 on BTC's $88,427), and
# the deviation of a window of equal closes as exactly 0; so the close of a market that stopped moving read
# above its upper band at every candle, a squeeze released and fired again every second candle. Far below
# any venue's tick (BTC's $0.01 is 1e-7 of it).
_ON_BAND = 1e-9


class BollingerSettings(IndicatorSettings):
    """Options of a bollinger rule."""

    period: int = Field(20, ge=2, le=MAX_PERIOD, description="Length of the middle SMA (candles).")
    mult: float = Field(2.0, gt=0, le=10, description="Band distance in standard deviations.")
    watch: Literal["bands", "squeeze", "both"] = Field(
        "both",
        description=(
            "bands: a close outside the bands; squeeze: the bands at their narrowest in squeeze_lookback "
            "candles, then its release (the first close outside them); both."
        ),
    )
    squeeze_lookback: int = Field(
        50, ge=2, le=MAX_PERIOD, description="Candles the band width must be the narrowest of (a squeeze)."
    )
    direction: Literal["up", "down", "either"] = Field(
        "either", description="Closes above the upper band (up), below the lower one (down), or both."
    )

    def candles_needed(self) -> int:
        """Return the candles before a band close can fire (or a squeeze, when watched)."""
        if self.watch == "bands":
            return self.period + 1
        return self.period + self.squeeze_lookback - 1


# The sides (up: True) each ``direction`` watches, up first.
_SIDES: dict[str, tuple[bool, ...]] = {"either": (True, False), "up": (True,), "down": (False,)}


class WidthWindow:
    """The band widths of the last N candles, to tell whether the newest is the narrowest."""

    def __init__(self, bands: Indicator, size: int) -> None:
        self.bands = bands
        self.widths: deque[float] = deque(maxlen=size)
        # The window's minimum, kept as it slides: (number of the width, width) of every width lower than
        # all after it, oldest first, so the first is the lowest. min() over the window at every candle
        # cost a 1m rule with a 120-candle lookback more than its bands did (issue 18's bench).
        self._lows: deque[tuple[int, float]] = deque()
        self._added = 0

    def add(self, bar: Bar) -> None:
        """Record the width the bands (fed just before) have after ``bar``."""
        width = self.bands.value("width")
        if width is None:
            return
        self.widths.append(width)
        lows = self._lows
        while lows and lows[-1][1] > width:
            lows.pop()
        lows.append((self._added, width))
        self._added += 1
        if lows[0][0] <= self._added - len(self.widths) - 1:  # slid out of the window
            lows.popleft()

    def narrowest(self) -> bool:
        """Return whether the newest width is the lowest of a full window."""
        widths = self.widths
        return len(widths) == widths.maxlen and widths[-1] <= self._lows[0][1]


class Bollinger(IndicatorDetector):
    """A close outside the Bollinger Bands; a squeeze and its release."""

    name: ClassVar[str] = "bollinger"
    description: ClassVar[str] = (
        "A close outside the Bollinger Bands, or a squeeze (narrowest bands in N candles) and its release"
    )
    formula: ClassVar[str] = FORMULA
    Settings: ClassVar[type[DetectorSettings]] = BollingerSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "middle": values.price("Middle band"),
        "upper": values.price("Upper band"),
        "lower": values.price("Lower band"),
        "width_pct": values.percent("Band width"),
        "squeeze_lookback": values.count("Narrowest in candles"),
        **COMMON_INDICATOR_VALUES,
    }

    def build(self) -> Bundle:
        """Return the bands and the window of their widths."""
        s: BollingerSettings = self.settings
        bands = BollingerBands(s.period, s.mult)
        return Bundle(bands, extra=(WidthWindow(bands, s.squeeze_lookback),))

    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Advance the band, squeeze and release edges by one closed candle."""
        s: BollingerSettings = self.settings
        bands = bundle.indicators[0]
        upper, lower = bands.value("upper"), bands.value("lower")
        if upper is None or lower is None:
            return
        # The bands as far as a close must pass to be outside them (see _ON_BAND).
        upper, lower = upper + _ON_BAND * abs(upper), lower - _ON_BAND * abs(lower)
        sides = _SIDES[s.direction]
        if s.watch in ("bands", "both"):
            closes = bundle.closes
            before_close = closes[-2] if len(closes) > 1 else None
            for up in sides:
                outside = bar.c > upper if up else bar.c < lower
                band_before = bands.previous("upper" if up else "lower")
                # A close outside that follows one inside (both against their own candle's bands).
                inside_before = (
                    before_close is not None
                    and band_before is not None
                    and (
                        before_close <= band_before + _ON_BAND * abs(band_before)
                        if up
                        else before_close >= band_before - _ON_BAND * abs(band_before)
                    )
                )
                key = "upper" if up else "lower"
                active = outside and inside_before
                advance_edge(state, key, active, not outside, learn, self._band_payload, up, bar, bundle)
        if s.watch in ("squeeze", "both"):
            self._squeeze(bar, bundle, state, learn, sides, upper, lower)

    def _squeeze(
        self,
        bar: Bar,
        bundle: Bundle,
        state: dict[str, Any],
        learn: bool,
        sides: tuple[bool, ...],
        upper: float,
        lower: float,
    ) -> None:
        """Fire on a squeeze; while squeezed, fire on the first close outside the bands (its release)."""
        window = bundle.extra[0]
        assert isinstance(window, WidthWindow)
        squeezed = not is_armed(state, "squeeze")
        broke = "up" if bar.c > upper else "down" if bar.c < lower else None
        released = squeezed and broke is not None
        for up in sides:
            side, key = ("up", "release_up") if up else ("down", "release_down")
            active = released and broke == side
            advance_edge(state, key, active, broke != side, learn, self._release_payload, up, bar, bundle)
        active = window.narrowest() and not released
        advance_edge(state, "squeeze", active, released, learn, self._squeeze_payload, bar, bundle, window)

    def _name(self) -> str:
        s: BollingerSettings = self.settings
        return f"Bollinger({s.period}, {s.mult:g}, {s.interval})"

    def _values(self, bar: Bar, bundle: Bundle) -> dict[str, Any]:
        s: BollingerSettings = self.settings
        bands = bundle.indicators[0]
        return {
            "indicator": self._name(),
            **{
                name: round(v, 8)
                for name in ("middle", "upper", "lower")
                if (v := bands.value(name)) is not None
            },
            "width_pct": round((bands.value("width") or 0.0) * 100, 4),
            "interval": s.interval,
            "close": bar.c,
            "candle_open_time": bar.open_time,
            **bundle.inputs(),
        }

    def _band_payload(self, up: bool, bar: Bar, bundle: Bundle) -> dict[str, Any]:
        bands = bundle.indicators[0]
        band = bands.value("upper" if up else "lower")
        assert band is not None
        side = "above the upper" if up else "below the lower"
        return {
            "kind": f"bollinger_{'upper' if up else 'lower'}",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} closed {side} {self._name()} band: "
                f"{format_price(bar.c)} vs {format_price(band)}"
            ),
            "values": self._values(bar, bundle),
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }

    def _squeeze_payload(self, bar: Bar, bundle: Bundle, window: WidthWindow) -> dict[str, Any]:
        s: BollingerSettings = self.settings
        width = values.format_percent(window.widths[-1] * 100)
        return {
            "kind": "bollinger_squeeze",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} {self._name()} squeeze: bands {width} "
                f"wide, the narrowest in {s.squeeze_lookback} candles"
            ),
            "values": {**self._values(bar, bundle), "squeeze_lookback": s.squeeze_lookback},
            "at": bar.close_time,
        }

    def _release_payload(self, up: bool, bar: Bar, bundle: Bundle) -> dict[str, Any]:
        bands = bundle.indicators[0]
        band = bands.value("upper" if up else "lower")
        assert band is not None
        side = "above the upper" if up else "below the lower"
        return {
            "kind": f"bollinger_release_{'up' if up else 'down'}",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} {self._name()} squeeze released "
                f"{'upward' if up else 'downward'}: closed {format_price(bar.c)}, {side} band "
                f"{format_price(band)}"
            ),
            "values": self._values(bar, bundle),
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }
