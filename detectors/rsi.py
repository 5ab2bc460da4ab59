"""Wilder's RSI of a candle interval crosses a level: "BTC RSI(14, 4h) crossed above 70: 71.3"."""

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
    format_level,
)
from detectors.indicators import MAX_PERIOD, RSI
from detectors.latch import advance_edge

FORMULA = "RSI = 100 − 100 / (1 + RMA(gains, n) / RMA(losses, n)), RMA seeded with the mean of the first n"


class RsiSettings(IndicatorSettings):
    """Options of an rsi rule."""

    period: int = Field(
        14, ge=2, le=MAX_PERIOD, description="RSI length in candles (Wilder's, as TradingView)."
    )
    above: float | None = Field(
        70,
        gt=0,
        lt=100,
        description=(
            "Fire when RSI closes above this level, having been at or below it the candle before "
            "(off: never)."
        ),
    )
    below: float | None = Field(
        None,
        gt=0,
        lt=100,
        examples=[30],
        description=(
            "Fire when RSI closes below this level, having been at or above it the candle before (e.g. 30)."
        ),
    )
    hysteresis: float = Field(
        2.0,
        ge=0,
        le=50,
        description="RSI points it must come back past the level before the same crossing can fire again.",
    )

    @model_validator(mode="after")
    def _a_level(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("set above, below or both (RSI levels, e.g. below=30; above is 70 unless off)")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError(f"below ({self.below:g}) must be lower than above ({self.above:g})")
        return self

    def candles_needed(self) -> int:
        """Return the RSI's warm-up and the candle before it (a crossing compares two values)."""
        return self.period + 2


class Rsi(IndicatorDetector):
    """RSI crosses above or below a level, on closed candles of the rule's interval."""

    name: ClassVar[str] = "rsi"
    description: ClassVar[str] = "Wilder's RSI of an interval crosses above or below a level (e.g. 70, 30)"
    formula: ClassVar[str] = FORMULA
    Settings: ClassVar[type[DetectorSettings]] = RsiSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "rsi": values.number("RSI"),
        "previous_rsi": values.number("RSI a candle before"),
        "level": values.number("Level"),
        "period": values.count("RSI length"),
        "hysteresis": values.number("Re-arms past the level by"),
        **COMMON_INDICATOR_VALUES,
    }

    def build(self) -> Bundle:
        """Return the rule's RSI."""
        return Bundle(RSI(self.settings.period))

    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Fire on a crossing of ``above``/``below``; re-arm once RSI is back beyond the hysteresis."""
        s: RsiSettings = self.settings
        rsi = bundle.indicators[0]
        current, previous = rsi.value(), rsi.previous()
        if current is None:
            return
        if s.above is not None:
            active = crossed_above(previous, current, s.above)
            rearm = current <= s.above - s.hysteresis
            advance_edge(state, "above", active, rearm, learn, self._payload, "above", s.above, bar, bundle)
        if s.below is not None:
            active = crossed_below(previous, current, s.below)
            rearm = current >= s.below + s.hysteresis
            advance_edge(state, "below", active, rearm, learn, self._payload, "below", s.below, bar, bundle)

    def _payload(
        self, side: Literal["above", "below"], level: float, bar: Bar, bundle: Bundle
    ) -> dict[str, Any]:
        s: RsiSettings = self.settings
        rsi = bundle.indicators[0]
        current, previous = rsi.value(), rsi.previous()
        assert current is not None and previous is not None  # a crossing compares two values
        name = f"RSI({s.period}, {s.interval})"
        return {
            "kind": f"rsi_{side}",
            "severity": "info",
            "title": (
                f"{short_symbol(self.symbol)} {name} crossed {side} {format_level(level)}: {current:.1f}"
            ),
            "values": {
                "indicator": name,
                "rsi": round(current, 4),
                "previous_rsi": round(previous, 4),
                "level": level,
                "period": s.period,
                "interval": s.interval,
                "hysteresis": s.hysteresis,
                "close": bar.c,
                "candle_open_time": bar.open_time,
                **bundle.inputs(),
            },
            "at": bar.close_time,
            "direction": "up" if side == "above" else "down",
        }
