"""The APScheduler jobs that post digests, rebuilt from SQLite at start.

One cron job per enabled digest (``digest-<id>``), its trigger the digest's schedule in UTC. Jobs live in
memory; the database is the truth. At start ``start()`` adds a job per stored digest and then catches up:
a digest whose latest slot passed while the bot was down is posted once, late and marked so (only the
latest slot: a bot down for a week posts one digest, not seven). The job itself does the same check at
its slot, so a job firing late (a blocked loop) or twice cannot post a slot twice: the slot is claimed in
the database in the transaction that queues the post.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from bot.digests.posting import post_due, schedule_of
from storage.repo import DigestRow, Repo

log = logging.getLogger(__name__)


def job_id(digest_id: int) -> str:
    """Return the APScheduler job id of a digest."""
    return f"digest-{digest_id}"


def trigger_of(row: DigestRow) -> CronTrigger:
    """Return the cron trigger of a digest's schedule (UTC)."""
    return CronTrigger(timezone=UTC, **schedule_of(row).cron_fields())


class DigestJobs:
    """Keep one APScheduler job per digest and post what is due."""

    def __init__(
        self,
        scheduler: Any,
        repo: Repo,
        symbols: Sequence[str],
        now_ms: Callable[[], int],
        *,
        late_after_ms: int,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.repo = repo
        self.symbols = list(symbols)
        self.now_ms = now_ms
        self.late_after_ms = late_after_ms
        self.on_queued = on_queued

    def start(self) -> list[int]:
        """Add a job for every stored digest, then post the missed ones; return the outbox ids queued."""
        rows = self.repo.digests()
        for row in rows:
            self._schedule(row)
        log.info("scheduled %d digest(s)", sum(1 for r in rows if r.enabled))
        return self.catch_up()

    def catch_up(self) -> list[int]:
        """Queue, once each, the digests whose latest slot passed unposted; return the outbox ids."""
        queued = [i for row in self.repo.digests() if (i := self.post(row.id)) is not None]
        if queued:
            log.info("posting %d digest(s) missed while Tripwire was offline", len(queued))
        return queued

    def refresh(self, digest_id: int) -> None:
        """Rebuild the job of a digest after it was set or removed."""
        if self.scheduler.get_job(job_id(digest_id)) is not None:
            # replace_existing only works once the scheduler runs; removing first works either way.
            self.scheduler.remove_job(job_id(digest_id))
        row = self.repo.digest(digest_id)
        if row is not None:
            self._schedule(row)

    def resync(self) -> list[int]:
        """Rebuild every digest's job from the database, then post what fell due; return the outbox ids.

        For a scheduler that may have missed changes (its change listener reconnected, issue 21): a job
        whose digest is gone or off is dropped, every stored one rebuilt.
        """
        rows = self.repo.digests()
        stored = {job_id(row.id) for row in rows}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest-") and job.id not in stored:
                self.scheduler.remove_job(job.id)
        for row in rows:
            self.refresh(row.id)
        return self.catch_up()

    def _schedule(self, row: DigestRow) -> None:
        if not row.enabled:
            return
        self.scheduler.add_job(
            self.run,
            trigger_of(row),
            args=(row.id,),
            id=job_id(row.id),
            name=f"digest {row.id} ({schedule_of(row).describe()})",
            replace_existing=True,
            # Run however late (the post says so); never run twice for one slot (post_due claims it).
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def post(self, digest_id: int) -> int | None:
        """Queue the digest's latest slot if it is still owed; return the outbox id."""
        try:
            queued = post_due(self.repo, self.symbols, digest_id, self.now_ms(), self.late_after_ms)
        except Exception:
            log.exception("digest %d could not be built; the next slot will try again", digest_id)
            return None
        if queued is not None and self.on_queued is not None:
            self.on_queued()
        return queued

    async def run(self, digest_id: int) -> None:
        """Post the digest of the slot that just came (the job APScheduler runs at each slot)."""
        self.post(digest_id)
