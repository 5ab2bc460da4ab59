"""Stochastic RSI crosses: %K crosses %D, in the oversold or overbought zone by default."""

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
    format_level,
)
from detectors.indicators import MAX_PERIOD, StochRSI
from detectors.latch import advance_edge

FORMULA = (
    "%K = SMA(100·(RSI − lowest RSI) / (highest RSI − lowest RSI) over the stochastic length, k); "
    "%D = SMA(%K, d); RSI is Wilder's"
)


TIE_DECIMALS = 9
# Closer than this, two values may compare otherwise once rounded to TIE_DECIMALS.
_NEAR = 2 * 10**-TIE_DECIMALS


class StochRsiSettings(IndicatorSettings):
    """Options of a stoch_rsi rule."""

    rsi_period: int = Field(14, ge=2, le=MAX_PERIOD, description="RSI length (candles).")
    stoch_period: int = Field(
        14, ge=1, le=MAX_PERIOD, description="Stochastic length over the RSI (candles)."
    )
    k: int = Field(3, ge=1, le=100, description="%K smoothing (candles).")
    d: int = Field(3, ge=1, le=100, description="%D smoothing of %K (candles).")
    lower: float = Field(20, ge=0, le=100, description="Oversold level: a bullish cross counts below it.")
    upper: float = Field(80, ge=0, le=100, description="Overbought level: a bearish cross counts above it.")
    zones: bool = Field(
        True,
        description=(
            "Only crosses from the zones: %K above %D while %D was at or below lower, %K below %D while "
            "%D was at or above upper; no: every %K/%D cross."
        ),
    )
    direction: Literal["up", "down", "either"] = Field(
        "either", description="Bullish crosses (up), bearish ones (down) or both."
    )

    @model_validator(mode="after")
    def _levels(self) -> Self:
        if self.lower >= self.upper:
            raise ValueError(f"lower ({self.lower:g}) must be below upper ({self.upper:g})")
        return self

    def candles_needed(self) -> int:
        """Return the Stoch RSI's warm-up and the candle before it."""
        return self.rsi_period + self.stoch_period + self.k + self.d - 1


class StochRsi(IndicatorDetector):
    """Stoch RSI %K crosses %D (from the oversold/overbought zones by default)."""

    name: ClassVar[str] = "stoch_rsi"
    description: ClassVar[str] = "Stochastic RSI %K crosses %D, from the oversold or overbought zone"
    formula: ClassVar[str] = FORMULA
    Settings: ClassVar[type[DetectorSettings]] = StochRsiSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "k": values.number("%K"),
        "d": values.number("%D"),
        "previous_k": values.number("%K a candle before"),
        "previous_d": values.number("%D a candle before"),
        "lower": values.number("Oversold below"),
        "upper": values.number("Overbought above"),
        **COMMON_INDICATOR_VALUES,
    }

    def build(self) -> Bundle:
        """Return the rule's Stoch RSI."""
        s: StochRsiSettings = self.settings
        return Bundle(StochRSI(s.rsi_period, s.stoch_period, s.k, s.d))

    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Advance the bullish and bearish %K/%D cross edges by one closed candle."""
        s: StochRsiSettings = self.settings
        stoch = bundle.indicators[0]
        k, d = stoch.value("k"), stoch.value("d")
        k_before, d_before = stoch.previous("k"), stoch.previous("d")
        if k is None or d is None or k_before is None or d_before is None:
            return
        # Rounded to 1e-9: at 0 or 100 the oscillator sits flat, and %D (a mean of equal %K values) differs
        # from %K only by summation noise, which is no cross. round() costs more than the rest of the
        # decision, and values further apart than rounding can move them (half of 1e-9 each) compare alike
        # rounded or not: only near a tie are they rounded.
        if (
            abs(k - d) <= _NEAR
            or abs(k_before - d_before) <= _NEAR
            or abs(d_before - s.lower) <= _NEAR
            or abs(d_before - s.upper) <= _NEAR
        ):
            k, d = round(k, TIE_DECIMALS), round(d, TIE_DECIMALS)
            k_before, d_before = round(k_before, TIE_DECIMALS), round(d_before, TIE_DECIMALS)
        direction = s.direction
        if direction != "down":
            crossed = k_before <= d_before and k > d and (not s.zones or d_before <= s.lower)
            advance_edge(state, "up", crossed, k <= d, learn, self._payload, True, bar, bundle)
        if direction != "up":
            crossed = k_before >= d_before and k < d and (not s.zones or d_before >= s.upper)
            advance_edge(state, "down", crossed, k >= d, learn, self._payload, False, bar, bundle)

    def _payload(self, up: bool, bar: Bar, bundle: Bundle) -> dict[str, Any]:
        s: StochRsiSettings = self.settings
        stoch = bundle.indicators[0]
        k, d = stoch.value("k"), stoch.value("d")
        assert k is not None and d is not None
        name = f"Stoch RSI({s.rsi_period}, {s.stoch_period}, {s.k}, {s.d}, {s.interval})"
        zone = ""
        if s.zones:
            zone = (
                f" from oversold (<{format_level(s.lower)})"
                if up
                else (f" from overbought (>{format_level(s.upper)})")
            )
        side = "above" if up else "below"
        return {
            "kind": f"stoch_rsi_{'up' if up else 'down'}",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} {name} %K crossed {side} %D{zone}: "
                f"{format_level(k)} vs {format_level(d)}"
            ),
            "values": {
                "indicator": name,
                "k": round(k, 4),
                "d": round(d, 4),
                "previous_k": _rounded(stoch.previous("k")),
                "previous_d": _rounded(stoch.previous("d")),
                "lower": s.lower,
                "upper": s.upper,
                "interval": s.interval,
                "close": bar.c,
                "candle_open_time": bar.open_time,
                **bundle.inputs(),
            },
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
