"""The market role's leadership: stand by for the lease, lead while holding it, commit nothing once lost.

One market process leads at a time: the holder of the ``market`` advisory lease (``storage.lease``) runs
the feeds, the engine and the outbox rows they queue; any other stands by, trying the lease every
``[roles] lease_poll_seconds``. PostgreSQL frees the lease when the leader's session ends (its process
died, its connection dropped, or its host went silent past the lease session's keepalives), so a standby
takes over within about one poll interval plus its start-up.

Fencing: a leader that lost its lease must not write, or two engines would fire the same alert. A leader
names its repository's session after the lease (``name_session``), and the next leader, once it holds the
lease and before it reads anything, ends every session of that name (``AdvisoryLease.end_sessions_named``):
a transaction the old leader still has in flight is rolled back by the server, and its COMMIT fails, so
whatever the new leader reads is all the old one will ever have written. Besides, every
outermost transaction of the leader's repository asks the lease first (``Repo.fence`` → ``fence``): the
lease's session is queried and, when it is gone, the transaction is rolled back and the process stops
(exit status ``EXIT_LEASE_LOST``; its supervisor starts it again, as a standby). A watcher does the same
every poll interval when nothing is being written. That check alone would leave a window between its
answer and the COMMIT that follows on the repository's connection (one round trip), in which a lost
lease, a standby's takeover and its first read could all fit; ending the old leader's sessions closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable

from storage.db import database_errors
from storage.lease import AdvisoryLease
from storage.pg_url import redact
from storage.repo.base import RepoBase

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
                # The last leader's repository session may still be open (its host cut off, its process
                # not yet aware): end it, so a write of its still in flight is rolled back, not committed
                # after this leader read the state.
                try:
                    ended = await asyncio.to_thread(self.lease.end_sessions_named, self.session_name())
                except database_errors() as exc:
                    log.warning("market role: cannot end the previous leader's sessions (%s); retrying", exc)
                    await asyncio.to_thread(self.lease.release)
                    continue
                if ended:
                    log.warning("market role: ended %d session(s) of the previous leader", ended)
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

    def session_name(self) -> str:
        """Return the application_name of the leader's repository session (per schema, like the lease)."""
        key = self.lease.key
        assert key is not None, "the lease reached the server before a session is named after it"
        return f"tripwire-market-leader-{key & 0xFFFFFFFFFFFFFFFF:016x}"

    def name_session(self, repo: RepoBase) -> None:
        """Name the leader's repository session, so the next leader can end it (``acquire``)."""
        # SET takes no bound parameters; the name is hex digits.
        repo.conn.execute(f"SET application_name = '{self.session_name()}'")

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
                except database_errors() as exc:
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
