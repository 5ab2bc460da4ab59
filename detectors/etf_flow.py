"""US spot ETF daily net flows beyond a threshold, or a streak of same-sign days ("+$646M, third inflow day").

The rule reads the flows of its symbol's base currency (BTCUSDT reads the US spot BTC ETFs, ETHUSDT the ETH
ones), one row per US trading day, visible from the end of that day (UTC): the funds report after the US
close. A day fires when its net flow is at least ``above_usd``, at most ``below_usd`` (a negative number
is an outflow), or when it makes ``streak_days`` days in a row of the same sign. One alert per day, whose
title says all that holds; it lasts until the next day's figure arrives. Needs ``[feeds.etf]`` (off by
default: the source needs a free API key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from detectors import values
from detectors.base import (
    MAX_USD,
    Detector,
    DetectorSettings,
    EtfFlowPoint,
    Quiet,
    Signal,
    Snapshot,
    format_usd,
    short_symbol,
)
from detectors.latch import latched_signals, latches_settled, release_latch, set_latch
from storage.rows import DAY_MS

# Consecutive trading days are at most a long weekend apart (Friday to Tuesday after a Monday holiday);
# a longer gap in the rows is days the feed did not read, so a streak cannot be told across it.
MAX_TRADING_GAP_MS = 4 * DAY_MS
MAX_STREAK_DAYS = 20
# A day whose figure became known longer ago than this when first read does not fire (it is not news).
STALE_DAY_MS = 2 * DAY_MS
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


class EtfFlowSettings(DetectorSettings):
    """Options of an etf_flow rule: at least one of above_usd, below_usd and streak_days."""

    above_usd: float | None = Field(
        None,
        gt=0,
        le=MAX_USD,
        description="Fire on a day's net inflow of at least this many USD.",
        examples=[500_000_000],
    )
    below_usd: float | None = Field(
        None,
        ge=-MAX_USD,
        le=MAX_USD,
        description="Fire on a day's net flow at or below this (negative: an outflow, -300000000 for $300M).",
    )
    streak_days: int | None = Field(
        None, ge=2, le=MAX_STREAK_DAYS, description="Fire when this many trading days in a row share a sign."
    )
    streak_direction: Literal["inflow", "outflow", "either"] = Field(
        "either", description="Which streaks fire."
    )

    @model_validator(mode="after")
    def _something_fires(self) -> Self:
        if self.above_usd is None and self.below_usd is None and self.streak_days is None:
            raise ValueError("set above_usd, below_usd or streak_days (else the rule can never fire)")
        if self.above_usd is not None and self.below_usd is not None and self.below_usd >= self.above_usd:
            raise ValueError("below_usd must be below above_usd")
        return self

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads flows: the streak's days plus their weekends."""
        return {"etf_flow": ((self.streak_days or 1) * 2 + 7) * DAY_MS}


def streak(points: Sequence[EtfFlowPoint], end: int) -> int:
    """Return how many trading days in a row up to ``points[end]`` have its sign (0 for a flat day)."""
    last = points[end]
    if last.net_usd == 0:
        return 0
    count, i = 1, end
    while i > 0:
        before = points[i - 1]
        same = (before.net_usd > 0) == (last.net_usd > 0) and before.net_usd != 0
        if not same or points[i].ts - before.ts > MAX_TRADING_GAP_MS:
            break
        count, i = count + 1, i - 1
    return count


def ordinal(n: int) -> str:
    """Return "third" for 3 ("11th" past ten)."""
    return ORDINALS[n - 1] if n <= len(ORDINALS) else f"{n}th"


class EtfFlows(Detector[EtfFlowSettings]):
    """A day's ETF net flow beyond a threshold, or a streak of inflow or outflow days."""

    name: ClassVar[str] = "etf_flow"
    # The label of /alert's detector choices is the description up to " (": kept short, as the choices
    # of every detector share one size budget.
    description: ClassVar[str] = (
        "ETF net flow (US spot BTC, ETH) beyond a threshold, or N inflow/outflow days in a row"
    )
    Settings: ClassVar[type[DetectorSettings]] = EtfFlowSettings
    uses: ClassVar[tuple[str, ...]] = ("etf_flow",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "net_usd": values.usd("Net flow"),
        "day": values.date("Trading day"),
        "days_in_a_row": values.count("Days in a row"),
        "threshold_usd": values.usd("Threshold"),
        "source": values.text("Source"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Judge every day that became known since the last evaluation; the newest day's alert stays."""
        last = state.get("ts")
        lookback = self.settings.lookback_ms()["etf_flow"]
        points = list(snapshot.etf_flows(since=snapshot.now - lookback))
        if last is None:
            # A new rule learns the newest known day and fires from the next one: never on a day it was made
            # after (0 when it knows none yet, so the first day to arrive is news).
            state["ts"] = points[-1].ts if points else 0
            return []
        start = len(points)
        while start > 0 and points[start - 1].ts > last:
            start -= 1
        if start == len(points):
            return latched_signals(self, state)
        for i in range(start, len(points)):
            for key in list(state.get("latch", {})):
                release_latch(state, key)  # a new day ends the previous day's alert
            # A day read long after it was known (a first backfill, a feed down for a week) is history.
            payload = self._judge(points, i) if snapshot.now - points[i].known_at <= STALE_DAY_MS else None
            if payload is not None:
                # Keyed by the day: each day that fires is an alert of its own.
                set_latch(state, points[i].date, {"signal": payload})
        state["ts"] = points[-1].ts
        return latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until new flows arrive: evaluate reads nothing else."""
        return Quiet(unchanged=("etf_flow",)) if latches_settled(state) else None

    def _judge(self, points: Sequence[EtfFlowPoint], i: int) -> dict[str, Any] | None:
        s = self.settings
        day = points[i]
        net = day.net_usd
        threshold: float | None = None
        if s.above_usd is not None and net >= s.above_usd:
            threshold = s.above_usd
        elif s.below_usd is not None and net <= s.below_usd:
            threshold = s.below_usd
        run = streak(points, i)
        wanted = s.streak_direction == "either" or (s.streak_direction == "inflow") == (net > 0)
        streak_fires = s.streak_days is not None and run == s.streak_days and wanted
        if threshold is None and not streak_fires:
            return None
        return self._payload(day, run, threshold)

    def _payload(self, day: EtfFlowPoint, run: int, threshold: float | None) -> dict[str, Any]:
        asset = short_symbol(self.symbol)
        inflow = day.net_usd > 0
        word = "inflow" if inflow else "outflow"
        amount = ("+" if inflow else "-") + format_usd(abs(day.net_usd))
        title = f"{asset} ETFs: {amount} on {day.date}"
        if run >= 2:
            title += f", {ordinal(run)} {word} day in a row"
        elif day.net_usd != 0:
            title += f", net {word}"
        big = threshold is not None and abs(day.net_usd) >= 2 * abs(threshold)
        payload_values: dict[str, Any] = {"net_usd": day.net_usd, "day": day.date, "days_in_a_row": run}
        if threshold is not None:
            payload_values["threshold_usd"] = threshold
        payload_values["source"] = day.source
        return {
            "kind": f"etf_{word}",
            "severity": "warning" if big else "info",
            "title": title,
            "values": payload_values,
            "at": day.known_at,
            "direction": "up" if inflow else "down",
        }
