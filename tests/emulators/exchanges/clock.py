"""The emulator's clock: what "now" is, and how recorded times map to served times."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

DAY_MS = 86_400_000

ShiftTo = Literal["now"] | int | None


def floor_to(ms: int, step_ms: int) -> int:
    """Return ms rounded down to a multiple of step_ms."""
    return ms - ms % step_ms


@dataclass
class Clock:
    """Map recorded times to served times and tell the emulated "now".

    Bucketed series (candles, funding every 8 h, daily Fear & Greed) are shifted by a whole number of
    days so that an hourly candle still opens on the hour and alternative.me's values still sit at
    00:00 UTC, which clients rely on. `recorded_last_day_ms` (the last recorded day) is served as the
    day of `anchor_ms`; anything whose served time lies after "now" is hidden, so while the emulator runs
    the rest of that day's recorded hours appear as time passes.
    """

    anchor_ms: int
    offset_ms: int = 0
    frozen: bool = True
    shifted: bool = False
    _t0: float = field(default_factory=time.monotonic)

    @classmethod
    def create(cls, shift_to: ShiftTo, recorded_end_ms: int, *, frozen: bool | None = None) -> Clock:
        """Build the clock for a shift option: None (recorded times), "now", or an epoch in ms."""
        if shift_to is None:
            # Unshifted: time stands still at the last recorded instant, so snapshots are deterministic.
            return cls(anchor_ms=recorded_end_ms, offset_ms=0, frozen=True if frozen is None else frozen)
        anchor = int(time.time() * 1000) if shift_to == "now" else int(shift_to)
        offset = floor_to(anchor, DAY_MS) - floor_to(recorded_end_ms, DAY_MS)
        return cls(
            anchor_ms=anchor, offset_ms=offset, frozen=False if frozen is None else frozen, shifted=True
        )

    def now_ms(self) -> int:
        """Return the emulated current time (served timeline), epoch ms."""
        if self.frozen:
            return self.anchor_ms
        return self.anchor_ms + int((time.monotonic() - self._t0) * 1000)

    def recorded_now_ms(self) -> int:
        """Return "now" expressed on the recorded timeline."""
        return self.now_ms() - self.offset_ms

    def served(self, recorded_ms: int) -> int:
        """Convert a recorded epoch ms into the time the emulator serves."""
        return recorded_ms + self.offset_ms

    def recorded(self, served_ms: int) -> int:
        """Convert a client-supplied (served) epoch ms back to the recorded timeline."""
        return served_ms - self.offset_ms

    def event_offset(self, last_recorded_ms: int) -> int:
        """Return the shift for an event recording (liquidations) so its last event lands on the anchor.

        Events are not bucketed, so they shift by the exact distance instead of whole days; the
        recorded liquidation excerpts come from other dates than the January series anyway.
        """
        return self.anchor_ms - last_recorded_ms if self.shifted else 0
