"""Take SQLite's write lock for a block of work without ever waiting for it on the event loop.

SQLite waits for another connection's write lock inside the statement (``busy_timeout``), on the calling
thread. On the event loop's thread that froze the whole bot: another process holding the lock for 20 s
stalled the loop up to 10 s at a time and no slash command was answered (issue 17, finding 6). The gate
tries the lock without waiting and, while someone else holds it, sleeps asynchronously and tries again:
the loop stays free, commands that only read answer (WAL readers are not blocked by a writer), and the
gated work (the evaluation pass, which writes alert state and outbox rows) is only postponed, never lost.
Once the lock is ours nothing else blocks: in WAL mode a commit does not wait for readers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from storage.repo.base import RepoBase

log = logging.getLogger(__name__)


class WriteGate:
    """Run synchronous database writes once the write lock is free, waiting for it asynchronously."""

    def __init__(
        self, repo: RepoBase, *, poll_seconds: float = 0.05, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.repo = repo
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.blocked_since: float | None = None  # when the gated work began waiting (None: not waiting)
        self.waits = 0  # how many times gated work had to wait, for /metrics and tests

    def blocked_for(self) -> float:
        """Return how long gated writes have been waiting for the lock (0 when they are not)."""
        return 0.0 if self.blocked_since is None else self.clock() - self.blocked_since

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold the write lock for the block, which must not await (others would run inside it)."""
        while not self.repo.try_begin_write():
            if self.blocked_since is None:
                self.blocked_since = self.clock()
                self.waits += 1
                log.warning("database write lock held by another connection; writes wait (loop stays free)")
            await asyncio.sleep(self.poll_seconds)
        if self.blocked_since is not None:
            log.info("database write lock free again after %.1f s; queued writes applied", self.blocked_for())
            self.blocked_since = None
        try:
            yield
        except BaseException:
            self.repo.end_write(commit=False)
            raise
        self.repo.end_write(commit=True)
