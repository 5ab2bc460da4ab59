"""Moving-average crosses: golden and death crosses, price crossing an MA, and MA alignment."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from detectors import values
from detectors.base import Bar, DetectorSettings, format_price, short_symbol
from detectors.indicator_rule import COMMON_INDICATOR_VALUES, Bundle, IndicatorDetector, IndicatorSettings
from detectors.indicators import EMA, MAX_PERIOD, SMA, Indicator
from detectors.latch import advance_edge

FORMULAS = {
    "sma": "SMA(n) = mean of the last n closes",
    "ema": "EMA(n) = α·close + (1 − α)·EMA, α = 2/(n + 1), seeded with the SMA of the first n closes",
}


class MaCrossSettings(IndicatorSettings):
    """Options of an ma_cross rule."""

    fast: int = Field(50, ge=1, le=MAX_PERIOD, description="Fast moving average length (candles).")
    slow: int = Field(200, ge=2, le=MAX_PERIOD, description="Slow moving average length (candles).")
    kind: Literal["sma", "ema"] = Field("sma", description="Simple or exponential moving averages.")
    crosses: bool = Field(
        True, description="Fire on golden (fast crosses above slow) and death (below) crosses."
    )
    price_vs: int | None = Field(
        None,
        ge=1,
        le=MAX_PERIOD,
        examples=[200],
        description="Also fire when the close crosses the MA of this length (e.g. 200).",
    )
    alignment: list[int] = Field(
        [],
        max_length=5,
        description=(
            "MA lengths, shortest first (e.g. 20,50,200): fire when price > MA20 > MA50 > MA200 forms or is "
            "lost (and the bearish mirror); empty: off."
        ),
    )
    direction: Literal["up", "down", "either"] = Field(
        "either", description="Bullish events (up), bearish ones (down) or both."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.crosses and self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be shorter than slow ({self.slow})")
        if not self.crosses and self.price_vs is None and not self.alignment:
            raise ValueError("nothing to watch: set crosses=yes, price_vs or alignment")
        if self.alignment:
            if len(self.alignment) < 2:
                raise ValueError("alignment needs at least two MA lengths (e.g. 20,50,200)")
            if any(not 1 <= p <= MAX_PERIOD for p in self.alignment):
                raise ValueError(f"alignment lengths must be from 1 to {MAX_PERIOD}")
            if any(a >= b for a, b in pairwise(self.alignment)):
                raise ValueError("alignment lengths must be given shortest first, each longer than the last")
        return self

    def periods(self) -> list[int]:
        """Return every MA length the rule computes, without repeats."""
        wanted = [*([self.fast, self.slow] if self.crosses else [])]
        if self.price_vs is not None:
            wanted.append(self.price_vs)
        wanted.extend(self.alignment)
        return sorted(set(wanted))

    def candles_needed(self) -> int:
        """Return the longest MA's warm-up and the candle before it (a cross compares two candles)."""
        return max(self.periods()) + 1


def _aligned(price: float, values: Sequence[float], up: bool) -> bool:
    pairs = list(pairwise([price, *values]))
    return all(a > b for a, b in pairs) if up else all(a < b for a, b in pairs)


class MaCross(IndicatorDetector):
    """Golden/death crosses, price crossing an MA, MA alignment forming or lost."""

    name: ClassVar[str] = "ma_cross"
    description: ClassVar[str] = (
        "Moving averages cross (golden/death), price crosses an MA, or price and MAs line up (alignment)"
    )
    formula: ClassVar[str] = f"{FORMULAS['sma']}; {FORMULAS['ema']}"
    Settings: ClassVar[type[DetectorSettings]] = MaCrossSettings
    value_specs: ClassVar[values.ValueSpecs] = {
        "line": values.price("Crossing line"),
        "ma": values.price("Moving average"),
        "kind": values.text("Average"),
        # The alignment's averages by name, for programs; the title lists them for people.
        "mas": values.hidden(),
        **COMMON_INDICATOR_VALUES,
    }

    def build(self) -> Bundle:
        """Return one MA per length the rule uses."""
        s: MaCrossSettings = self.settings
        make = SMA if s.kind == "sma" else EMA
        return Bundle(*(make(p) for p in s.periods()))

    def _ma(self, bundle: Bundle, period: int) -> Indicator:
        # The bundle holds one MA per length of settings.periods(), in that order.
        where: dict[int, int] | None = self.__dict__.get("_ma_index")
        if where is None:
            s: MaCrossSettings = self.settings
            where = self.__dict__["_ma_index"] = {p: i for i, p in enumerate(s.periods())}
        return bundle.indicators[where[period]]

    def decide(self, bar: Bar, bundle: Bundle, state: dict[str, Any], *, learn: bool) -> None:
        """Advance the golden/death, price and alignment edges by one closed candle."""
        s: MaCrossSettings = self.settings
        closes = bundle.closes
        previous_close = closes[-2] if len(closes) > 1 else None
        if s.crosses:
            fast = self._ma(bundle, s.fast)
            line = (fast.previous(), fast.value())
            self._pair(state, ("golden", "death"), line, s.slow, bar, bundle, learn)
        if s.price_vs is not None:
            line = (previous_close, bar.c)
            self._pair(state, ("price_above", "price_below"), line, s.price_vs, bar, bundle, learn)
        if s.alignment:
            self._alignment(state, bar, bundle, learn)

    def _pair(
        self,
        state: dict[str, Any],
        keys: tuple[str, str],
        line: tuple[float | None, float | None],
        period: int,
        bar: Bar,
        bundle: Bundle,
        learn: bool,
    ) -> None:
        """Advance the up/down crossing edges of ``line`` over ``ma`` (each re-arms on the other side)."""
        before, now = line
        ma = self._ma(bundle, period)
        ma_before, ma_now = ma.previous(), ma.value()
        if before is None or now is None or ma_before is None or ma_now is None:
            return
        direction = self.settings.direction
        if direction != "down":
            key, crossed = keys[0], before <= ma_before and now > ma_now
            advance_edge(
                state,
                key,
                crossed,
                now <= ma_now,
                learn,
                self._cross_payload,
                key,
                True,
                now,
                period,
                bar,
                bundle,
            )
        if direction != "up":
            key, crossed = keys[1], before >= ma_before and now < ma_now
            advance_edge(
                state,
                key,
                crossed,
                now >= ma_now,
                learn,
                self._cross_payload,
                key,
                False,
                now,
                period,
                bar,
                bundle,
            )

    def _alignment(self, state: dict[str, Any], bar: Bar, bundle: Bundle, learn: bool) -> None:
        s: MaCrossSettings = self.settings
        mas = [self._ma(bundle, p) for p in s.alignment]
        now = [m.value() for m in mas]
        before = [m.previous() for m in mas]
        previous_close = bundle.closes[-2] if len(bundle.closes) > 1 else None
        if previous_close is None or any(v is None for v in (*now, *before)):
            return
        now_v = [float(v) for v in now if v is not None]
        before_v = [float(v) for v in before if v is not None]
        for up in (True, False):
            was = _aligned(previous_close, before_v, up)
            is_ = _aligned(bar.c, now_v, up)
            side = "up" if up else "down"
            if self._wanted(up):
                active = is_ and not was
                payload = self._alignment_payload
                advance_edge(
                    state, f"aligned_{side}", active, not is_, learn, payload, up, True, now_v, bar, bundle
                )
            if self._wanted(not up):
                active = was and not is_
                payload = self._alignment_payload
                advance_edge(
                    state, f"lost_{side}", active, is_, learn, payload, up, False, now_v, bar, bundle
                )

    def _wanted(self, up: bool) -> bool:
        direction: str = self.settings.direction
        return direction == "either" or (direction == "up") == up

    def _name(self, period: int) -> str:
        s: MaCrossSettings = self.settings
        return f"{s.kind.upper()}({period})"

    def _cross_payload(
        self, key: str, up: bool, line_now: float, period: int, bar: Bar, bundle: Bundle
    ) -> dict[str, Any]:
        s: MaCrossSettings = self.settings
        asset = short_symbol(self.symbol)
        ma_now = self._ma(bundle, period).value()
        assert ma_now is not None
        slow_name = self._name(period)
        side = "above" if up else "below"
        if key in ("golden", "death"):
            fast_name = self._name(s.fast)
            title = (
                f"{asset} {'golden' if up else 'death'} cross ({s.interval}): {fast_name} crossed {side} "
                f"{slow_name}: {format_price(line_now)} vs {format_price(ma_now)}"
            )
        else:
            title = (
                f"{asset} closed {side} its {slow_name}, {s.interval}: {format_price(bar.c)} "
                f"vs {format_price(ma_now)}"
            )
        return {
            "kind": key,
            "severity": "info",
            "title": title,
            "values": {
                "indicator": f"{slow_name}, {s.interval}",
                "line": round(line_now, 8),
                "ma": round(ma_now, 8),
                "interval": s.interval,
                "kind": s.kind.upper(),
                "close": bar.c,
                "candle_open_time": bar.open_time,
                **bundle.inputs(),
            },
            "at": bar.close_time,
            "direction": "up" if up else "down",
        }

    def _alignment_payload(
        self, up: bool, formed: bool, values: list[float], bar: Bar, bundle: Bundle
    ) -> dict[str, Any]:
        s: MaCrossSettings = self.settings
        sign = " > " if up else " < "
        chain = sign.join(
            [f"price {format_price(bar.c)}"]
            + [f"{self._name(p)} {format_price(v)}" for p, v in zip(s.alignment, values, strict=True)]
        )
        asset = short_symbol(self.symbol)
        trend = "bullish" if up else "bearish"
        if formed:
            title = f"{asset} {s.interval} MAs aligned {trend}: {chain}"
        else:
            title = f"{asset} lost its {trend} {s.interval} MA alignment: close {format_price(bar.c)}"
        return {
            "kind": f"{'aligned' if formed else 'lost'}_{'up' if up else 'down'}",
            "severity": "info",
            "title": title,
            "values": {
                "mas": {self._name(p): round(v, 8) for p, v in zip(s.alignment, values, strict=True)},
                "interval": s.interval,
                "close": bar.c,
                "candle_open_time": bar.open_time,
                **bundle.inputs(),
            },
            "at": bar.close_time,
            "direction": ("up" if up else "down") if formed else ("down" if up else "up"),
        }
