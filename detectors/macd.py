"""MACD crosses: the MACD line crosses its signal line (the histogram changes sign) or zero."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from detectors import values
from detectors.base import Bar, DetectorSettings, short_symbol
from detectors.indicator_rule import (
    COMMON_INDICATOR_VALUES,
    Bundle,
    IndicatorDetector,
    IndicatorSettings,
    crossed_above,
    crossed_below,
    format_signed,
)
from detectors.indicators import MACD, MAX_PERIOD
from detectors.latch import advance_edge

FORMULA = (
    "MACD = EMA(fast) − EMA(slow); signal = EMA(MACD, signal); histogram = MACD − signal "
    "(EMAs seeded with the SMA of their first values)"
)


# What each ``watch`` steps, in this order: (output, what crosses, its up and down edge keys).
_WATCHED: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "signal": (("histogram", "signal", "signal_up", "signal_down"),),
    "zero": (("macd", "zero", "zero_up", "zero_down"),),
    "both": (
        ("histogram", "signal", "signal_up", "signal_down"),
        ("macd", "zero", "zero_up", "zero_down"),
    ),
}


class MacdSettings(IndicatorSettings):
    """Options of a macd rule."""

    fast: int = Field(12, ge=1, le=MAX_PERIOD, description="Fast EMA length (candles).")
    slow: int = Field(26, ge=2, le=MAX_PERIOD, description="Slow EMA length (candles).")
    signal: int = Field(9, ge=1, le=MAX_PERIOD, description="Signal line EMA length (candles).")
    watch: Literal["signal", "zero", "both"] = Field(
        "signal",
        description=(
            "signal: the MACD line crosses its signal line (the histogram changes sign); "
            "zero: the MACD line crosses zero; both."
        ),
    )
    direction: Literal["up", "down", "either"] = Field(
        "either", description="Bullish crosses (up), bearish ones (down) or both."
    )

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        return self

    def candles_needed(self) -> int:
        """Return the MACD's warm-up (slow + signal − 1) and the candle before it."""
        return self.slow + self.signal


class Macd(IndicatorDetector):
    """The MACD line crosses its signal line or zero, on closed candles of the rule's interval."""

    name: ClassVar[str] = "macd"
    description: ClassVar[str] = "MACD crosses its signal line (histogram sign change) or zero; 12/26/9"
    formula: ClassVar[str] = FORMULA
    Settings: ClassVar[type[DetectorSettings]] = MacdSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "macd": values.number("MACD"),
        "signal": values.number("Signal line"),
        "histogram": values.number("Histogram"),
        "previous_macd": values.number("MACD a candle before"),
        "previous_histogram": values.number("Histogram a candle before"),
        **COMMON_INDICATOR_VALUES,
    }

    def build(self) -> Bundle:
        """Return the rule's MACD."""
        s: MacdSettings = self.settings
        return Bundle(MACD(s.fast, s.slow, s.signal))

    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Advance the signal-line and zero-line edges by one closed candle."""
        s: MacdSettings = self.settings
        macd = bundle.indicators[0]
        direction = s.direction
        for output, what, key_up, key_down in _WATCHED[s.watch]:
            now, before = macd.value(output), macd.previous(output)
            if now is None:
                continue
            if direction != "down":
                active = crossed_above(before, now, 0.0)
                advance_edge(state, key_up, active, now <= 0, learn, self._payload, what, True, bar, bundle)
            if direction != "up":
                active = crossed_below(before, now, 0.0)
                advance_edge(
                    state, key_down, active, now >= 0, learn, self._payload, what, False, bar, bundle
                )

    def _payload(self, what: str, up: bool, bar: Bar, bundle: Bundle) -> dict[str, Any]:
        s: MacdSettings = self.settings
        macd = bundle.indicators[0]
        line, signal, histogram = macd.value("macd"), macd.value("signal"), macd.value("histogram")
        assert line is not None and signal is not None and histogram is not None
        name = f"MACD({s.fast}, {s.slow}, {s.signal}, {s.interval})"
        side = "above" if up else "below"
        asset = short_symbol(self.symbol)
        if what == "signal":
            title = (
                f"{asset} {name} crossed {side} its signal line: histogram {format_signed(histogram)} "
                f"(MACD {format_signed(line)})"
            )
        else:
            title = f"{asset} {name} crossed {side} zero: {format_signed(line)}"
        return {
            "kind": f"macd_{what}_{'up' if up else 'down'}",
            "severity": "info",
            "title": title,
            "values": {
                "indicator": name,
                "macd": round(line, 8),
                "signal": round(signal, 8),
                "histogram": round(histogram, 8),
                "previous_histogram": _rounded(macd.previous("histogram")),
                "previous_macd": _rounded(macd.previous("macd")),
                "interval": s.interval,
                "close": bar.c,
                "candle_open_time": bar.open_time,
                **bundle.inputs(),
            },
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 8)
