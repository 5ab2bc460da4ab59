"""The market role's leadership: stand by for the lease, lead while holding it, commit nothing once lost.

One market process leads at a time: the holder of the ``market`` advisory lease (``storage.lease``) runs
the feeds, the engine and the outbox rows they queue; any other stands by, trying the lease every
``[roles] lease_poll_seconds``. PostgreSQL frees the lease when the leader's session ends (its process
died, its connection dropped, or its host went silent past the lease session's keepalives), so a standby
takes over within about one poll interval plus its start-up.

Fencing: a leader that lost its lease must not write, or two engines would fire the same alert. Every
outermost transaction of the leader's repository asks the lease first (``Repo.fence`` → ``fence``): the
lease's session is queried and, when it is gone, the transaction is rolled back and the process stops
(exit status ``EXIT_LEASE_LOST``; its supervisor starts it again, as a standby). A watcher does the same
every poll interval when nothing is being written. The window left is between that query's answer and the
COMMIT that follows it on the repository's connection (one round trip): a write can only land after a
standby took over if the lease is lost inside that window and the standby has acquired it, started and
read the stored state before the COMMIT arrives, which its start-up (hundreds of milliseconds at least)
makes far longer than the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from storage.db import DATABASE_ERRORS
from storage.lease import AdvisoryLease
from storage.postgres import redact

log = logging.getLogger(__name__)

LEASE_NAME = "market"
# The exit status of a leader that lost its lease: not a failure of its own, restart it (as a standby).
EXIT_LEASE_LOST = 3


class LeaseLost(RuntimeError):
    """The lease is no longer held: the write that asked was rolled back."""


class Leadership:
    """Hold the market lease: wait for it, check it before each commit, notice when it is gone."""

    def __init__(
        self,
        lease: AdvisoryLease,
        poll_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.lost = False
        self.leading_since: float | None = None
        self._on_lost: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def for_url(cls, url: str, poll_seconds: float) -> Leadership:
        """Return the leadership of the market role on the database at ``url``."""
        return cls(AdvisoryLease(url, LEASE_NAME), poll_seconds)

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Stand by until the lease is ours (True) or ``stop`` is set first (False)."""
        waited = self.clock()
        log.info(
            "market role: standing by for the lease on %s (tried every %g s)",
            redact(self.lease.url),
            self.poll_seconds,
        )
        while not stop.is_set():
            if await asyncio.to_thread(self.lease.try_acquire):
                self.leading_since = self.clock()
                log.info(
                    "market role: leading (pid %d; lease taken after %.1f s standing by, session %s)",
                    os.getpid(),
                    self.leading_since - waited,
                    self.lease.backend_pid(),
                )
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
        return False

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on this event loop once the lease is found lost (from any thread)."""
        self._loop = asyncio.get_running_loop()
        self._on_lost = callback

    def fence(self) -> None:
        """Raise LeaseLost unless the lease is held now (called before each commit of the leader)."""
        if self.lost or not self.lease.held():
            self._lose("the lease is lost (its database session ended)")
            raise LeaseLost("the market lease was lost: this write is rolled back and the process stops")

    async def watch(self, stop: asyncio.Event, *, database_ping: Callable[[], None] | None = None) -> None:
        """Check the lease (and, with ``database_ping``, the leader's own connection) every poll interval.

        Ends when ``stop`` is set or leading is lost: a leader that cannot write gives the lead away too.
        """
        while not stop.is_set() and not self.lost:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
            if stop.is_set():
                return
            if not await asyncio.to_thread(self.lease.held):
                self._lose("the lease is lost (its database session ended)")
                return
            if database_ping is not None:
                try:
                    database_ping()
                except DATABASE_ERRORS as exc:
                    self._lose(f"its database connection is gone ({str(exc).strip() or type(exc).__name__})")

    def release(self) -> None:
        """Give the lease back (a clean stop: the standby takes over at its next poll)."""
        self.lease.release()

    def _lose(self, why: str) -> None:
        if self.lost:
            return
        self.lost = True
        log.error(
            "market role: %s; no further write is committed and the process stops (exit %d) so its"
            " supervisor starts it again as a standby",
            why,
            EXIT_LEASE_LOST,
        )
        if self._on_lost is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._on_lost)
