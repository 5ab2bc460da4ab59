"""Drive the engine in live mode: on a timer, and at once when new data arrives for a symbol.

The timer catches time-based conditions (a candle closing with no new trade, an expiring rule); the
data-driven path keeps the delay from a liquidation arriving to its alert being queued at a few
milliseconds, which is what matters during a cascade. Bursts of ingest notifications are coalesced into
one evaluation per event-loop turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.alerts.engine import Engine
from bot.alerts.model import RecordedEvent
from storage.writegate import WriteGate

log = logging.getLogger(__name__)


class LiveEvaluator:
    """Evaluate rules periodically and whenever ingest reports new rows."""

    def __init__(
        self,
        engine: Engine,
        now_ms: Callable[[], int],
        *,
        interval_seconds: float,
        on_recorded: Callable[[list[RecordedEvent]], None] | None = None,
        on_duration: Callable[[float], None] | None = None,
        gate: WriteGate | None = None,
        before: Callable[[], None] | None = None,
        after: Callable[[set[str] | None], None] | None = None,
    ) -> None:
        self.engine = engine
        self.now_ms = now_ms
        self.interval_seconds = interval_seconds
        self.on_recorded = on_recorded
        self.on_duration = on_duration  # told each pass's seconds (the evaluation-duration histogram)
        self.evaluations = 0
        self.last_duration_s = 0.0
        self._pending: set[str] = set()
        self._all_pending = False
        self._scheduled = False
        self._last_now = 0
        self._task: asyncio.Task[None] | None = None
        # With a gate each pass waits for the database's write lock off the loop (storage.writegate);
        # without one (tests, embedding) it runs at once, as before.
        self.gate = gate
        # Run first inside each gated pass: the ingest's rows that met a held lock are written then.
        self.before = before
        # Told the symbols of each pass that evaluated (all: None): a gap's rows held for it can go.
        self.after = after
        self._passes: set[asyncio.Task[list[RecordedEvent]]] = set()

    def notify(self, kind: str, symbols: frozenset[str]) -> None:
        """Ingest listener: schedule an evaluation of the rules of ``symbols`` (all rules if empty)."""
        if symbols:
            self._pending |= symbols
        else:
            self._all_pending = True
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run_pending)

    def _take_pending(self) -> set[str] | None:
        self._scheduled = False
        symbols = None if self._all_pending else set(self._pending)
        self._pending.clear()
        self._all_pending = False
        return symbols

    def _run_pending(self) -> None:
        if self.gate is None:
            self.evaluate(self._take_pending())
            return
        # Notifications that arrive while the pass waits for the lock join it (still _scheduled).
        task = asyncio.get_running_loop().create_task(self._gated_pending(), name="evaluate-pending")
        self._passes.add(task)
        task.add_done_callback(self._passes.discard)

    async def _gated_pending(self) -> list[RecordedEvent]:
        assert self.gate is not None
        async with self.gate.writing():
            self._before()
            return self.evaluate(self._take_pending())

    def _before(self) -> None:
        if self.before is not None:
            try:
                self.before()
            except Exception:
                log.exception("writing the rows that waited for the database failed; the next pass retries")

    async def evaluate_when_free(self, symbols: set[str] | None = None) -> list[RecordedEvent]:
        """Evaluate once the database's write lock is free, waiting for it without blocking the loop."""
        if self.gate is None:
            return self.evaluate(symbols)
        async with self.gate.writing():
            self._before()
            return self.evaluate(symbols)

    def evaluate(self, symbols: set[str] | None = None) -> list[RecordedEvent]:
        """Evaluate now (the rules of ``symbols``, or all) and hand what was recorded to the callback."""
        # Two evaluations within the same millisecond would be skipped by the engine's per-rule
        # evaluated_at guard; nudge the clock forward so a second batch of data is still evaluated.
        now = max(self.now_ms(), self._last_now + 1)
        self._last_now = now
        started = time.perf_counter()
        try:
            recorded = self.engine.evaluate(now, symbols)
        except Exception:
            log.exception("evaluation at %d failed; the next one will retry", now)
            return []
        self.last_duration_s = time.perf_counter() - started
        self.evaluations += 1
        if self.after is not None:
            self.after(symbols)
        if self.on_duration is not None:
            self.on_duration(self.last_duration_s)
        if recorded and self.on_recorded is not None:
            self.on_recorded(recorded)
        return recorded

    async def run(self, stop: asyncio.Event) -> None:
        """Evaluate every rule on the configured interval until ``stop`` is set."""
        while not stop.is_set():
            await self.evaluate_when_free(None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
