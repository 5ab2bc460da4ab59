"""Deliver queued alerts from the durable outbox to their sinks, exactly once where the sink allows.

The engine writes outbox rows in the same transaction as the alert state; this dispatcher only reads due
rows, hands them to the sink named in the row, and records the outcome: delivered (with the remote message
id, for later edits), retry later (transient error, with backoff), or failed (permanent: the channel is
gone, the bot lacks access).

There is no attempt cap: an alert is never dropped because Discord was unreachable for long (a 429 storm,
an outage of hours, a gateway that is not ready at start). A transient failure is retried with capped
exponential backoff for as long as it takes; a pass that could not even try (the gateway not ready, a
rate limit to wait out, a row queued behind one that must wait) is not counted as an attempt and does
not grow the backoff. How a row that waited long is shown is the sink's business (the Discord sink posts
alerts older than ``late_after`` marked late, several in one message: ``bot.notify.grouping``). Only a
permanent failure ends a row, and the sink reports it (the ops channel, ``/status``,
``tripwire_outbox_failed``). A row is marked delivered only after the sink confirmed it, so a crash in
between re-sends it; the Discord sink passes its message group's nonce with ``enforce_nonce`` so Discord
itself drops such a repeat, and past Discord's nonce window looks for the message first
(``bot.notify.discord.adoption``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from storage.repo import OutboxRow, Repo
from storage.rows import MINUTE_MS
from storage.shards import ShardSlice

log = logging.getLogger(__name__)

# The longest wait between two attempts of one row ([outbox] retry_max_backoff_seconds): after an outage
# ends, every queued alert goes out within this long.
MAX_BACKOFF_MS = 10 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Delivered:
    """The sink accepted the row; ``remote_id`` identifies what it created (a Discord message id)."""

    outbox_id: int
    remote_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure; try again after ``after_ms`` (None: the dispatcher's backoff).

    ``counted`` is False when the row was not really tried (the gateway was not ready, a rate limit was
    being waited out, it waited behind another row): such a pass neither adds an attempt nor grows the
    backoff.
    """

    outbox_id: int
    error: str
    after_ms: int | None = None
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Failed:
    """A permanent failure (or a deliberate drop); the row will not be tried again."""

    outbox_id: int
    error: str
    dropped: bool = False


Outcome = Delivered | Retry | Failed


class Sink(Protocol):
    """A delivery channel for outbox rows."""

    name: str

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Deliver due rows (all of this sink) and return one outcome per row handled."""


def backoff_ms(attempts: int, rng: random.Random, cap_ms: int = MAX_BACKOFF_MS) -> int:
    """Return an exponential backoff with jitter for the n-th failed attempt, capped at ``cap_ms``."""
    ceiling = min(cap_ms, 1000 * 2 ** min(max(attempts, 0), 30))
    return int(ceiling / 2 + rng.random() * ceiling / 2)


class OutboxDispatcher:
    """Move due outbox rows to their sinks and record each outcome."""

    def __init__(
        self,
        repo: Repo,
        sinks: Sequence[Sink],
        now_ms: Callable[[], int],
        *,
        batch: int = 100,
        max_backoff_ms: int = MAX_BACKOFF_MS,
        shards: ShardSlice | None = None,
        may_send: Callable[[], bool] | None = None,
    ) -> None:
        self.repo = repo
        # A Discord cluster delivers only its shards' rows, claimed (storage.shards, claim_due_outbox).
        self.shards = shards
        # Asked after each claim, before its rows are sent: a cluster whose shard leases are gone must not
        # send (the replacement that took them sends the same rows); its lease watcher only looks every
        # few seconds, and a backlog is drained in one pass.
        self.may_send = may_send
        self.sinks = {sink.name: sink for sink in sinks}
        self.now_ms = now_ms
        self.batch = batch
        self.max_backoff_ms = max_backoff_ms
        self.delivered = 0
        self.failed = 0
        self.retried = 0
        self._rng = random.Random()
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Ask the running loop to look for due rows now (called after the engine queued something)."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """Deliver every row that is due now; return how many rows were handled."""
        handled = 0
        for name, sink in self.sinks.items():
            while True:
                rows = self._due(name)
                if not rows:
                    break
                if self.may_send is not None and not self.may_send():
                    log.warning(
                        "outbox: %d claimed row(s) left unsent: this process may not send now", len(rows)
                    )
                    return handled
                outcomes = await sink.deliver(rows)
                self._record(rows, outcomes)
                handled += len(outcomes)
                if not outcomes or len(rows) < self.batch:
                    break
        return handled

    def _due(self, sink: str) -> list[OutboxRow]:
        """Return the due rows of a sink: all of them, or this cluster's shards' (claimed SKIP LOCKED).

        The claim's row locks end with its transaction, before the rows are sent: what keeps a second
        process off them while they are sent is the shards' leases (bot.roles.discord_cluster), and what
        makes a re-send after a crash harmless is the sink's nonce and adopt-before-resend rule.
        """
        if self.shards is None:
            return self.repo.due_outbox(sink, self.now_ms(), self.batch)
        with self.repo.transaction():
            return self.repo.claim_due_outbox(sink, self.now_ms(), self.batch, shards=self.shards)

    def _record(self, rows: Sequence[OutboxRow], outcomes: Sequence[Outcome]) -> None:
        attempts = {row.id: row.attempts for row in rows}
        now = self.now_ms()
        with self.repo.transaction():
            for outcome in outcomes:
                if isinstance(outcome, Delivered):
                    self.repo.mark_delivered(outcome.outbox_id, now, outcome.remote_id)
                    self.delivered += 1
                elif isinstance(outcome, Retry):
                    tried = attempts.get(outcome.outbox_id, 0) + (1 if outcome.counted else 0)
                    delay = outcome.after_ms
                    if delay is None:
                        delay = backoff_ms(tried, self._rng, self.max_backoff_ms)
                    self.repo.mark_retry(
                        outcome.outbox_id, now + delay, outcome.error, counted=outcome.counted
                    )
                    self.retried += 1
                else:
                    status = "dropped" if outcome.dropped else "failed"
                    self.repo.mark_failed(outcome.outbox_id, outcome.error, status=status)
                    self.failed += 1

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Deliver continuously until ``stop`` is set, sleeping when nothing is due."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("outbox delivery pass failed; retrying shortly")
                handled = 0
            if handled:
                continue
            self._wakeup.clear()
            waiters = [asyncio.ensure_future(self._wakeup.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
