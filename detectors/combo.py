"""Conditions across intervals that must all hold: fire when they start to (``rsi(14, 4h) > 70 and ...``).

The rule's ``when`` is read by ``detectors.combo_grammar`` (a small strict language, never Python) and
computed by ``detectors.combo_eval`` on the same streaming indicators the other indicator detectors use.
The rule is checked at every close of the finest interval it reads; it fires on the check where it holds
after one where it did not, and re-arms on a check where it does not hold. A check where a value is not
known (warm-up, a missing candle) changes nothing, and the first check with every value known only
learns, so a rule never fires on a state it was created into or before its indicators are warm.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

from pydantic import Field, field_validator

from detectors import values
from detectors.bars import new_closed_bars, quiet_until_next_bar
from detectors.base import Detector, DetectorSettings, Quiet, Signal, Snapshot, short_symbol
from detectors.combo_eval import BoundRule, parsed, warmups
from detectors.combo_grammar import MAX_TEXT
from detectors.indicator_rule import Interval
from detectors.latch import edge, latched_signals
from detectors.values import ValueSpecs
from storage.rows import interval_ms


class ComboSettings(DetectorSettings):
    """Options of a combo rule."""

    when: str = Field(
        ...,
        min_length=1,
        max_length=MAX_TEXT,
        description=(
            "Conditions that must all hold: comparisons (< <= > >=) of close, open, high, low, volume, "
            "rsi, sma, ema, macd .line/.signal/.hist, bollinger .upper/.mid/.lower/.width, stoch_rsi .k/.d "
            "and numbers, joined by and/or; an interval in a call: rsi(14, 4h), close(1d)."
        ),
        examples=["rsi(14, 4h) > 70 and close > ema(50, 1d)"],
    )
    interval: Interval = Field(
        "1h", description="Interval of the values written without one (close, rsi(14))."
    )

    @field_validator("when")
    @classmethod
    def _readable(cls, value: str) -> str:
        """Refuse a rule the grammar or an indicator refuses, saying what and at which character."""
        warmups(parsed(value), "1h", value)  # builds each indicator once: its own checks apply too
        return value

    def history_needed(self) -> Mapping[str, int]:
        """Return the closed candles each interval the rule reads needs before it can fire."""
        return warmups(parsed(self.when), self.interval, self.when)

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads candles: the longest warm-up, and the candle before it."""
        reach = [(warm + 1) * interval_ms(name) for name, warm in self.history_needed().items()]
        return {"candles": max(reach)}


class Combo(Detector[ComboSettings]):
    """All of a rule's conditions started to hold."""

    name: ClassVar[str] = "combo"
    description: ClassVar[str] = (
        "Conditions across intervals all start to hold: rsi(14, 4h) > 70 and close > ema(50, 1d)"
    )
    Settings: ClassVar[type[DetectorSettings]] = ComboSettings
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    # The values a rule reads depend on its `when`, so they are one text for people ("readings") and one
    # mapping by label for programs ("numbers"), never keys of their own.
    value_specs: ClassVar[ValueSpecs] = {
        "when": values.text("Rule"),
        "checked_every": values.text("Checked at each close of"),
        "readings": values.text("Values"),
        "numbers": values.hidden(),
    }

    def __init__(self, rule_id: str, symbol: str, settings: DetectorSettings) -> None:
        super().__init__(rule_id, symbol, settings)
        s = self.settings
        # The indicators live on the instance, not in ``state`` (they are not JSON): ``state["fed"]`` says
        # which candle each interval got to, and a new instance (a restart, a backtest) rebuilds them from
        # the candles in memory up to there before its first check.
        self._rule = BoundRule(s.when, s.interval)
        self._step = self._rule.step

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Check the rule at every close of its finest interval since the last evaluation."""
        step = new_closed_bars(snapshot, state, self._step, 0)
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        rule = self._rule
        rule.load(snapshot, state.get("fed", {}))
        for bar in bars[step.first_new :]:
            at = bar.close_time
            rule.advance(at)
            state["fed"] = rule.fed()
            holds = rule.holds(at)
            state["t"] = bar.open_time
            if holds is None:
                continue  # a value is not known: neither fire nor re-arm
            edge(
                state,
                "combo",
                active=holds,
                rearm=not holds,
                build=partial(self._payload, at),
                # The first check with every value known only learns what already holds.
                learn=step.learn or not state.get("known"),
            )
            state["known"] = True
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the finest interval can close: nothing changes before it."""
        return quiet_until_next_bar(state, self._step)

    def _payload(self, at: int) -> dict[str, Any]:
        rule = self._rule
        numbers = {label: None if v is None else round(v, 6) for label, v in rule.values(at).items()}
        return {
            "kind": "combo",
            "severity": "info",
            "title": f"{short_symbol(self.symbol)} combo: {rule.describe(at)}",
            "values": {
                "when": self.settings.when,
                "checked_every": self._step,
                "readings": rule.readings(at),
                "numbers": numbers,
            },
            "at": at,
        }
