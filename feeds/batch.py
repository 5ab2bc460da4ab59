"""Buffer liquidation events from a websocket and write them through Ingest in batches.

During a cascade Bybit alone can push thousands of events a second; one SQLite transaction per event
would make the database the bottleneck. Events are collected and written every ``interval_s`` or as soon
as ``max_events`` are waiting, whichever comes first. The stream's read loop calls ``due()`` to know
when to wake up, so no extra task or timer is needed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from feeds.ingest import Ingest
from storage.rows import Liquidation

log = logging.getLogger(__name__)


class LiquidationBuffer:
    """Collect liquidation rows and flush them to Ingest in batches."""

    def __init__(
        self,
        ingest: Ingest,
        *,
        interval_s: float,
        max_events: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ingest = ingest
        self.interval_s = interval_s
        self.max_events = max_events
        self.clock = clock
        self._rows: list[Liquidation] = []
        self._first_at: float | None = None
        self.flushed_batches = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: Iterable[Liquidation]) -> None:
        """Queue rows; flush at once when the batch is full."""
        pending = self._rows
        before = len(pending)
        pending.extend(rows)
        if self._first_at is None and len(pending) > before:
            self._first_at = self.clock()
        if len(pending) >= self.max_events:
            self.flush()

    def due(self) -> float | None:
        """Return the clock time the pending batch must be written by, or None if nothing waits."""
        return None if self._first_at is None else self._first_at + self.interval_s

    def flush_if_due(self) -> None:
        """Write the batch if its time has come."""
        deadline = self.due()
        if deadline is not None and self.clock() >= deadline:
            self.flush()

    def flush(self) -> int:
        """Write every pending row now; return how many were new."""
        if not self._rows:
            return 0
        rows, self._rows, self._first_at = self._rows, [], None
        new = self.ingest.liquidations(rows)
        self.flushed_batches += 1
        self.written += new
        return new
