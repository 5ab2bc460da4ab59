"""Implied volatility jumps or is crushed: Deribit's DVOL moves by at least X% within a window.

DVOL is the 30-day implied volatility of BTC or ETH options (annualised %). A jump says the options market
prices a move ahead (or is paying up after one); a crush says the expected move has passed. The rule reads
the index of its symbol's base currency (BTCUSDT reads BTC's DVOL).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors import values
from detectors.base import Detector, DetectorSettings, ImpliedVolPoint, Quiet, Signal, Snapshot, short_symbol
from detectors.latch import edge, latched_signals, latches_settled
from detectors.series import point_at
from detectors.text import format_window
from storage.rows import HOUR_MS


class DvolSettings(DetectorSettings):
    """Options of a dvol rule."""

    pct: float = Field(
        15.0, gt=0, le=1000, description="Smallest change of DVOL that fires (% of its level)."
    )
    window_hours: float = Field(24, gt=0, le=24 * 30, description="Window the change is measured over.")
    direction: Literal["jump", "crush", "either"] = Field("either", description="Which changes fire.")
    rearm_ratio: float = Field(
        0.5, ge=0, lt=1, description="Fire again only after the change shrinks below this fraction of pct."
    )

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back evaluation reads each data kind (ms)."""
        return {"implied_vol": int(self.window_hours * HOUR_MS) + HOUR_MS}


class Dvol(Detector[DvolSettings]):
    """Implied volatility (DVOL) jumps or is crushed by X% within a window."""

    name: ClassVar[str] = "dvol"
    description: ClassVar[str] = "Implied volatility (Deribit DVOL) jumps or is crushed by X% within a window"
    Settings: ClassVar[type[DetectorSettings]] = DvolSettings
    uses: ClassVar[tuple[str, ...]] = ("implied_vol",)
    value_specs: ClassVar[values.ValueSpecs] = {
        "change_pct": values.change("Change"),
        "from": values.number("DVOL before (%/yr)"),
        "to": values.number("DVOL now (%/yr)"),
        "from_time": values.time("Since"),
        "source": values.text("Source"),
    }

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Measure the change at every DVOL point since the last evaluation."""
        s = self.settings
        last = state.get("ts")
        window = int(s.window_hours * HOUR_MS)
        since = snapshot.now - window - HOUR_MS if last is None else int(last) - window - HOUR_MS
        points = snapshot.implied_vol(since=since)
        new = [p for p in points if last is None or p.ts > last]
        if last is None:
            new = new[-1:]
        if not new:
            return [] if last is None else latched_signals(self, state)
        max_age = max(window // 4, HOUR_MS)
        for p in new:
            before = point_at(points, p.ts - window, max_age)
            if before is None:
                if last is None:
                    return []
                continue
            pct = (p.close / before.close - 1) * 100
            for key, sign in (("jump", 1.0), ("crush", -1.0)):
                if s.direction not in ("either", key):
                    continue
                edge(
                    state,
                    key,
                    active=sign * pct >= s.pct,
                    rearm=sign * pct < s.pct * s.rearm_ratio,
                    build=partial(self._payload, before, p, pct),
                    learn=last is None,
                )
        state["ts"] = new[-1].ts
        return [] if last is None else latched_signals(self, state)

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return quiet until new DVOL rows arrive: evaluate reads nothing else."""
        return Quiet(unchanged=("implied_vol",)) if latches_settled(state) else None

    def _payload(self, before: ImpliedVolPoint, after: ImpliedVolPoint, pct: float) -> dict[str, Any]:
        jump = pct > 0
        asset = short_symbol(self.symbol)
        window = format_window(after.ts - before.ts)
        return {
            "kind": "dvol_jump" if jump else "dvol_crush",
            "severity": "warning" if abs(pct) >= 2 * self.settings.pct else "info",
            "title": (
                f"{asset} implied volatility {'jumped' if jump else 'crushed'}: DVOL {before.close:.1f} → "
                f"{after.close:.1f} ({pct:+.1f}% in {window})"
            ),
            "values": {
                "change_pct": round(pct, 3),
                "from": before.close,
                "to": after.close,
                "from_time": before.ts,
                "source": after.source,
            },
            "at": after.ts,
            "direction": "up" if jump else "down",
        }
