"""One side of the market crowded: funding off its month, open interest building, long/short at an extreme.

"longs crowded: funding 2.1σ above its month, OI +8% in 24h, top traders 2.4 long per short". Each part
alone is common; all three together describe leverage piling onto one side, the setup a squeeze unwinds.

- funding: the market's rate per 8 h weighted by each venue's USD open interest now
  (``detectors.positioning``), against the same weighting of the venues' rates every 8 h over the last
  ``history_days`` (today's weights over the month: open interest is kept in memory for days, funding for
  months, and a weighting that changed with the sample would mix two questions);
- open interest: the venues' sum now against ``oi_hours`` ago (the venues known at both ends);
- long/short: the newest reading of ``metric`` on each venue that publishes it, averaged geometrically
  (2.0 on one venue and 0.5 on another balance at 1.0, as 2 longs per short and 2 shorts per long do;
  an arithmetic mean would call that 1.25, longs ahead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.base import Detector, DetectorSettings, FundingPoint, Quiet, Signal, Snapshot, short_symbol
from detectors.latch import edge, latched_signals
from detectors.positioning import (
    BASE_INTERVAL_H,
    aggregate,
    figures_at,
    interval_hours,
    oi_market_change,
    zscore,
)
from detectors.series import point_at
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

# A funding point older than this is no evidence of the rate at a time (venues settle at most every 8 h).
FUNDING_MAX_AGE_MS = 9 * HOUR_MS
# How often the month of funding is sampled, and how often the rule looks again.
SAMPLE_MS = 8 * HOUR_MS
STEP_MS = 15 * MINUTE_MS
METRIC_WORDS = {
    "accounts": "accounts",
    "top_accounts": "top-trader accounts",
    "top_positions": "top traders",
    "taker_volume": "taker volume",
}


class CrowdingSettings(DetectorSettings):
    """Options of a crowding rule."""

    funding_z: float = Field(2.0, gt=0, le=20, description="Funding at least this many σ from its month.")
    history_days: int = Field(30, ge=7, le=90, description="Days of funding the z-score compares with.")
    oi_build_pct: float = Field(5.0, gt=0, le=1000, description="Open interest up at least this (%)...")
    oi_hours: float = Field(24, gt=0, le=24 * 7, description="...within this many hours.")
    long_short_ratio: float = Field(
        2.0, gt=1, le=100, description="Longs per short at least this (or shorts per long, for shorts)."
    )
    metric: Literal["accounts", "top_accounts", "top_positions", "taker_volume"] = Field(
        "top_positions", description="Which long/short reading to use."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {
            "funding": self.history_days * DAY_MS + FUNDING_MAX_AGE_MS,
            "open_interest": int(self.oi_hours * HOUR_MS) + HOUR_MS,
            "long_short": 2 * HOUR_MS,
        }


def funding_history(
    by_source: Mapping[str, Sequence[FundingPoint]],
    weights: Mapping[str, float],
    start: int,
    end: int,
    stated: Mapping[str, float | None] | None = None,
) -> list[float]:
    """Return the weighted rate per 8 h every SAMPLE_MS in [start, end), venues weighted by ``weights``.

    ``stated``: each venue's funding interval as its instrument list gives it (Snapshot.funding_interval_h).
    """
    given = stated or {}
    hours = {s: interval_hours(points, s, given.get(s)) for s, points in by_source.items()}
    samples: list[float] = []
    for t in range(start, end, SAMPLE_MS):
        total = weight = 0.0
        for source, points in by_source.items():
            point = point_at(points, t, FUNDING_MAX_AGE_MS)
            w = weights.get(source, 0.0)
            if point is None or w <= 0:
                continue
            total += point.rate * BASE_INTERVAL_H / hours[source] * w
            weight += w
        if weight > 0:
            samples.append(total / weight)
    return samples


def long_short_mean(ratios: Sequence[float]) -> float | None:
    """Return the geometric mean of long/short ratios: symmetric, so 2.0 and 0.5 make 1.0.

    A ratio of 0 or less (no longs at all) or not finite has no logarithm and is left out.
    """
    logs = [math.log(r) for r in ratios if 0 < r < math.inf]
    return math.exp(math.fsum(logs) / len(logs)) if logs else None


class Crowding(Detector[CrowdingSettings]):
    """Longs (or shorts) crowded: funding z-score, open-interest build-up and long/short extreme together."""

    name: ClassVar[str] = "crowding"
    description: ClassVar[str] = (
        "One side crowded: funding far from its month, open interest building, long/short at an extreme"
    )
    Settings: ClassVar[type[DetectorSettings]] = CrowdingSettings
    uses: ClassVar[tuple[str, ...]] = ("funding", "open_interest", "long_short")
    value_specs: ClassVar[values.ValueSpecs] = {
        "funding_z": values.number("Funding z-score (σ)"),
        "funding_pct": values.funding("Funding now (per 8h, OI-weighted)"),
        "oi_change_pct": values.change("Open interest change"),
        "oi_hours": values.duration("Over", unit="hours"),
        "long_short": values.ratio("Long/short"),
        "metric": values.text("Long/short reading"),
        "venues": values.text("Venues"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Look again every quarter hour; latch a crowded side while all three conditions hold."""
        now = snapshot.now
        last = state.get("t")
        if last is not None and now < last + STEP_MS:
            return latched_signals(self, state)
        reading = self.read(snapshot)
        for side in ("longs", "shorts"):
            active = reading is not None and reading["side"] == side
            edge(
                state,
                side,
                active=active,
                rearm=not active,
                build=partial(self._payload, reading or {}),
                learn=last is None,
            )
        state["t"] = now
        return [] if last is None else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until the next quarter-hour look (evaluate's own step)."""
        last = state.get("t")
        return Quiet(until=int(last) + STEP_MS) if last is not None else None

    def read(self, snapshot: Snapshot) -> dict[str, Any] | None:
        """Return the crowded side with its evidence, or None when the three conditions do not all hold.

        The cheap conditions are checked first (a long/short extreme, then the open-interest build-up):
        the month of funding is read only when both hold.
        """
        s = self.settings
        now = snapshot.now
        ratio = self._long_short(snapshot)
        if ratio is None or 1 / s.long_short_ratio < ratio < s.long_short_ratio:
            return None
        summed = oi_market_change(snapshot, now - int(s.oi_hours * HOUR_MS), now, HOUR_MS)
        if summed is None or summed[0].pct < s.oi_build_pct:
            return None
        figures = figures_at(snapshot, now, HOUR_MS, FUNDING_MAX_AGE_MS)
        market = aggregate(figures)
        if market.rate_per_8h is None or not market.weighted:
            return None
        weights = {f.source: f.oi_usd for f in figures if f.oi_usd}
        by_source = snapshot.funding_by_source(since=now - s.history_days * DAY_MS - FUNDING_MAX_AGE_MS)
        history = funding_history(
            by_source,
            weights,
            now - s.history_days * DAY_MS,
            now,
            {source: snapshot.funding_interval_h(source) for source in by_source},
        )
        z = zscore(market.rate_per_8h, history)
        side = "longs" if ratio >= s.long_short_ratio else "shorts"
        if z is None or (z if side == "longs" else -z) < s.funding_z:
            return None
        return {
            "side": side,
            "z": z,
            "rate": market.rate_per_8h,
            "oi_pct": summed[0].pct,
            "ratio": ratio,
            "venues": ", ".join(f.source for f in market.venues if f.rate is not None and f.oi_usd),
            "at": now,
        }

    def _long_short(self, snapshot: Snapshot) -> float | None:
        newest: dict[str, float] = {}
        for point in snapshot.long_short(self.settings.metric, since=snapshot.now - 2 * HOUR_MS):
            newest[point.source] = point.ratio
        return long_short_mean(list(newest.values()))

    def _payload(self, r: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        longs = r["side"] == "longs"
        who = METRIC_WORDS[s.metric]
        per = f"{r['ratio']:.1f} long per short" if longs else f"{1 / r['ratio']:.1f} short per long"
        hours = f"{s.oi_hours:g}h"
        title = (
            f"{short_symbol(self.symbol)} {r['side']} crowded: funding {abs(r['z']):.1f}σ "
            f"{'above' if longs else 'below'} its month, OI {r['oi_pct']:+.1f}% in {hours}, {who} {per}"
        )
        return {
            "kind": f"{r['side']}_crowded",
            "severity": "warning",
            "title": title,
            "values": {
                "funding_z": round(r["z"], 2),
                "funding_pct": round(r["rate"] * 100, 6),
                "oi_change_pct": round(r["oi_pct"], 3),
                "oi_hours": s.oi_hours,
                "long_short": round(r["ratio"], 3),
                "metric": who,
                "venues": r["venues"],
            },
            "at": r["at"],
            "stateful": True,
            "direction": "up" if longs else "down",
        }
