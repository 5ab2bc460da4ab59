"""Stepping the liquidation-map rules over the real January 2026 data, rows added as they become known.

The live feeds and the replay add rows to the in-memory history as time passes; the history keeps 8 days
of open interest, and a rule's map remembers every position it opened since. Loading all of January at
once (``real_history``) would prune the first weeks' open interest before any rule read it.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Detector
from detectors.market_history import MarketHistory
from tests.detectors.conftest import HOUR, Run, ms, real_rows

START = ms("2026-01-02 00:00")
KINDS = ("candles", "liquidations", "open_interest")


def _time(row: Any) -> int:
    return int(row.open_time if hasattr(row, "open_time") else row.ts)


def step_live(detector: Detector, start: int, end: int, state: dict[str, Any] | None = None) -> Run:
    """Step ``detector`` hourly over [start, end], adding rows from 2026-01-01 once they are known."""
    rows = {kind: sorted(real_rows()[kind], key=_time) for kind in KINDS}
    history = MarketHistory()
    adders = {
        "candles": history.add_candles,
        "liquidations": history.add_liquidations,
        "open_interest": history.add_open_interest,
    }
    stepped = Run(detector, state=state or {})
    known = dict.fromkeys(KINDS, 0)
    for now in range(ms("2026-01-01 00:00"), end + 1, HOUR):
        for kind, add in adders.items():
            # Candles and hourly buckets are added by open time (the view hides them until they close).
            new = []
            for row in rows[kind][known[kind] :]:
                if _time(row) >= now + HOUR:
                    break
                new.append(row)
            add(new)
            known[kind] += len(new)
        if now >= start:
            stepped.at(history, now)
    return stepped
