"""Say *which* thing a sharp move is: price, liquidations by side, open interest and funding together.

- mechanical short squeeze: price up, mostly shorts liquidated, open interest flat or falling, funding not
  spiking (shorts forced out, no new leveraged longs: the January 2026 case);
- leveraged long build-up: price up while open interest and funding rise (new leveraged longs);
- long squeeze / capitulation and leveraged short build-up: the mirror cases for falls.
The alert's values state the evidence for its label. Open interest is every venue's summed (the venues
known at both ends of the window) and funding is weighted by each venue's USD open interest
(``detectors.positioning``); the alert names the venues that drove the open-interest move.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import Field

from detectors import values
from detectors.bars import bar_closing_at, new_closed_bars, quiet_until_next_bar
from detectors.base import (
    MAX_FUNDING_PCT,
    MAX_USD,
    Detector,
    DetectorSettings,
    Quiet,
    Signal,
    Snapshot,
    format_price,
    format_usd,
    short_symbol,
)
from detectors.latch import edge, latched_signals
from detectors.open_interest import OiChange
from detectors.pct_move import change_pct
from detectors.positioning import aggregate, describe_drivers, figures_at, oi_market_change
from detectors.text import format_pct, format_rate, format_window
from storage.rows import HOUR_MS, interval_ms

LABELS: dict[str, str] = {
    "short_squeeze": "mechanical short squeeze",
    "long_buildup": "leveraged long build-up",
    "long_squeeze": "long squeeze / capitulation",
    "short_buildup": "leveraged short build-up",
}
# Funding settles every 8h on most venues; a point older than this is no evidence of the rate now.
FUNDING_MAX_AGE_MS = 9 * HOUR_MS


class SqueezeSettings(DetectorSettings):
    """Options of a squeeze rule."""

    interval: Literal["15m", "1h", "4h"] = Field(
        "1h", description="Candle size the window is made of (also how often it is checked)."
    )
    window: int = Field(1, ge=1, le=48, description="How many candles the move is measured over.")
    move_pct: float = Field(1.5, gt=0, le=100, description="Smallest price move (%) worth a label.")
    # Upper bounds: beyond them the condition can never hold (more USD than any market liquidates, a side a
    # million times the other is "no other side", open interest does not move 1000 % in a window, funding
    # rates are clamped to a few percent): such a rule is a typo that would never fire.
    min_liquidated_usd: float = Field(
        10_000_000,
        ge=0,
        le=MAX_USD,
        description="A squeeze needs at least this much USD of one side liquidated.",
    )
    dominance: float = Field(
        2.0, ge=1, le=1e6, description="...and that side at least this × the other side's liquidations."
    )
    oi_flat_pct: float = Field(
        1.0, ge=0, le=1000, description="Open interest rising less than this (%) counts as flat or falling."
    )
    oi_build_pct: float = Field(
        2.0, gt=0, le=1000, description="Open interest rising at least this (%) is a build-up."
    )
    funding_spike_pct: float = Field(
        0.03,
        gt=0,
        le=MAX_FUNDING_PCT,
        description="Funding beyond this (% per funding interval, the move's way) counts as spiking.",
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        window = (self.window + 1) * interval_ms(self.interval)
        return {"candles": window, "liquidations": window, "open_interest": window}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return what evaluation reads: the window's candles, liquidations, open interest and funding."""
        length = interval_ms(self.interval)
        span = (self.window + 2) * length
        # ``gather``: open interest up to max(1h, window) before the window, funding 25 hours before it.
        return {
            self.interval: span,
            "liquidations": span,
            "open_interest": span + max(HOUR_MS, self.window * length),
            "funding": span + max(FUNDING_MAX_AGE_MS, 25 * HOUR_MS),
        }


class Evidence(NamedTuple):
    """What the window shows."""

    start: int
    end: int
    price_from: float
    price_to: float
    change: float
    long_usd: float
    short_usd: float
    oi: OiChange | None
    funding_before: float | None
    funding_after: float | None
    # "binance +2.1%, bybit +0.4%": the venues whose open interest drove the summed move.
    venues: str = ""
    funding_venues: tuple[str, ...] = ()


def classify(e: Evidence, s: SqueezeSettings) -> str | None:
    """Return the label key the evidence supports, or None."""
    if abs(e.change) < s.move_pct or e.oi is None or e.funding_after is None:
        return None
    up = e.change > 0
    sign = 1.0 if up else -1.0
    forced, other = (e.short_usd, e.long_usd) if up else (e.long_usd, e.short_usd)
    before = e.funding_before if e.funding_before is not None else e.funding_after
    funding_moving_with_price = sign * (e.funding_after - before) > 0
    if e.oi.pct >= s.oi_build_pct and funding_moving_with_price:
        return "long_buildup" if up else "short_buildup"
    funding_spiking = sign * e.funding_after * 100 >= s.funding_spike_pct
    if (
        forced >= s.min_liquidated_usd
        and forced >= s.dominance * other
        and e.oi.pct <= s.oi_flat_pct
        and not funding_spiking
    ):
        return "short_squeeze" if up else "long_squeeze"
    return None


class Squeeze(Detector[SqueezeSettings]):
    """Label a sharp move: mechanical squeeze, leveraged build-up, or their mirror cases."""

    name: ClassVar[str] = "squeeze"
    description: ClassVar[str] = (
        "Labels a sharp move from liquidations, open interest and funding: squeeze or leveraged build-up"
    )
    Settings: ClassVar[type[DetectorSettings]] = SqueezeSettings
    uses: ClassVar[tuple[str, ...]] = ("candles", "liquidations", "open_interest", "funding")
    value_specs: ClassVar[values.ValueSpecs] = {
        "label": values.text("Reading"),
        "price_change_pct": values.change("Price change"),
        "price_from": values.price("From"),
        "price_to": values.price("To"),
        "short_liquidated_usd": values.usd("Shorts liquidated"),
        "long_liquidated_usd": values.usd("Longs liquidated"),
        "oi_change_pct": values.change("Open interest change"),
        "oi_from": values.open_interest("Open interest before", basis_key="oi_basis"),
        "oi_to": values.open_interest("Open interest after", basis_key="oi_basis"),
        "oi_basis": values.hidden(),
        "funding_before_pct": values.funding("Funding before"),
        "funding_after_pct": values.funding("Funding after"),
        "oi_venues": values.text("Open interest by venue"),
        "funding_venues": values.hidden(),
        "window_start": values.time("Window start"),
        "window_end": values.time("Window end"),
        # The title and the fields above say it in words; the list is for programs.
        "evidence": values.hidden(),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Label every window ending at a candle closed since the last evaluation; return the active label."""
        s = self.settings
        step = new_closed_bars(snapshot, state, s.interval, s.window)
        if step is None:
            return latched_signals(self, state)
        bars = step.bars
        length = interval_ms(s.interval)
        for i in range(step.first_new, len(bars)):
            bar = bars[i]
            span = s.window * max(length, bar.interval_ms)
            ref = bar_closing_at(bars, i - span // bar.interval_ms, bar.close_time - span)
            if ref is None:
                if step.learn:
                    return []
                state["t"] = bar.open_time
                continue
            evidence = gather(snapshot, ref.close_time, bar.close_time, ref.c, bar.c)
            label = classify(evidence, s)
            for key in LABELS:
                edge(
                    state,
                    key,
                    active=label == key,
                    rearm=label != key,
                    build=partial(self._payload, evidence, label or ""),
                    learn=step.learn,
                )
            state["t"] = bar.open_time
        return [] if step.learn else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return the time the next candle of the rule's interval can close: nothing changes before it."""
        s = self.settings
        return quiet_until_next_bar(state, s.interval)

    def _payload(self, e: Evidence, label: str) -> dict[str, Any]:
        up = e.change > 0
        window = format_window(e.end - e.start)
        forced_side = "shorts" if up else "longs"
        forced = e.short_usd if up else e.long_usd
        evidence = [
            f"price {format_pct(e.change)} in {window} ({format_price(e.price_from)} → "
            f"{format_price(e.price_to)})",
            f"{format_usd(e.short_usd)} of shorts and {format_usd(e.long_usd)} of longs liquidated",
        ]
        if e.oi is not None:
            evidence.append(f"open interest {format_pct(e.oi.pct)} ({e.oi.describe()}; {e.venues})")
        if e.funding_after is not None:
            before = format_rate(e.funding_before) if e.funding_before is not None else "?"
            evidence.append(f"funding {before} → {format_rate(e.funding_after)}")
        squeeze = label in ("short_squeeze", "long_squeeze")
        headline = (
            f"{format_pct(e.change)} in {window}, {format_usd(forced)} of {forced_side} liquidated"
            if squeeze
            else f"{format_pct(e.change)} in {window}, open interest {format_pct(e.oi.pct) if e.oi else '?'}"
        )
        return {
            "kind": label,
            "severity": "warning" if squeeze else "info",
            "title": f"{short_symbol(self.symbol)}: {LABELS[label]} ({headline})",
            "values": {
                "label": LABELS[label],
                "price_change_pct": round(e.change, 3),
                "price_from": e.price_from,
                "price_to": e.price_to,
                "short_liquidated_usd": round(e.short_usd, 2),
                "long_liquidated_usd": round(e.long_usd, 2),
                "oi_change_pct": round(e.oi.pct, 3) if e.oi else None,
                "oi_from": e.oi.before if e.oi else None,
                "oi_to": e.oi.after if e.oi else None,
                "oi_basis": e.oi.basis if e.oi else None,
                "funding_before_pct": _pct(e.funding_before),
                "funding_after_pct": _pct(e.funding_after),
                "oi_venues": e.venues or None,
                "funding_venues": list(e.funding_venues),
                "window_start": e.start,
                "window_end": e.end,
                "evidence": evidence,
            },
            "at": e.end,
            "stateful": True,
            "direction": "up" if up else "down",
        }


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 6)


def gather(snapshot: Snapshot, start: int, end: int, price_from: float, price_to: float) -> Evidence:
    """Collect the price, liquidation, open-interest and funding evidence for the window [start, end)."""
    liquidated = snapshot.liquidations(start, end)
    oi_age = max(HOUR_MS, end - start)
    summed = oi_market_change(snapshot, start, end, oi_age)
    oi: OiChange | None = None
    venues = ""
    if summed is not None:
        change, basis = summed
        oi = OiChange(change.before, change.after, change.pct, basis, start, end)
        venues = describe_drivers(change)
    at_start = figures_at(snapshot, start, oi_age, FUNDING_MAX_AGE_MS)
    at_end = figures_at(snapshot, end, oi_age, FUNDING_MAX_AGE_MS)
    # Funding is compared over the venues with a rate at both ends, as open interest is: a venue that
    # joins in between (a feed switched on, a poll back) would otherwise read as a funding move.
    both = {f.source for f in at_start if f.rate is not None} & {
        f.source for f in at_end if f.rate is not None
    }
    if both:
        at_start = [f for f in at_start if f.source in both]
        at_end = [f for f in at_end if f.source in both]
    before, after = aggregate(at_start), aggregate(at_end)
    return Evidence(
        start=start,
        end=end,
        price_from=price_from,
        price_to=price_to,
        change=change_pct(price_to, price_from),
        long_usd=liquidated.long_usd,
        short_usd=liquidated.short_usd,
        oi=oi,
        funding_before=before.rate_per_8h,
        funding_after=after.rate_per_8h,
        venues=venues,
        funding_venues=tuple(v.source for v in after.venues if v.rate is not None),
    )
