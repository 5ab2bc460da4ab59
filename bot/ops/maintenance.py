"""Database upkeep the running bot schedules and ``tripwire db`` runs: retention pruning.

Pruning uses a connection of its own in a worker thread, never the live bot's: the bot's connection
belongs to the event loop (its transactions are not thread-safe), and a prune of months of rows must not
stall the loop. SQLite's WAL mode lets the two connections work side by side; the prune's chunks keep each
hold on the write lock short, and the pause between chunks lets a writer waiting in its busy handler in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from storage.db import open_database
from storage.repo import PruneResult, Repo, RetentionPolicy

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 5000
# SQLite's busy handler sleeps between retries; a pruner that took the lock again at once could starve the
# live writer, so it yields this long after every chunk.
CHUNK_PAUSE_S = 0.01
# When the daily job runs (UTC): a quiet hour for most markets, off the round hour when candles close.
DAILY_AT = (3, 17)
JOB_ID = "retention"


def prune_file(
    path: str | Path,
    policy: RetentionPolicy,
    now_ms: int,
    *,
    dry_run: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    pause_s: float = CHUNK_PAUSE_S,
) -> PruneResult:
    """Prune the database file at ``path`` on a connection of its own, pausing between chunks."""
    if str(path) == ":memory:":
        raise ValueError("an in-memory database cannot be pruned from another connection")

    def between_chunks(table: str, rows: int) -> None:
        log.debug("retention: deleted %d rows from %s", rows, table)
        if pause_s > 0:
            time.sleep(pause_s)

    db = open_database(path, migrate_schema=False)
    try:
        return Repo(db).prune(policy, now_ms, dry_run=dry_run, chunk_rows=chunk_rows, on_chunk=between_chunks)
    finally:
        db.conn.close()


def describe(result: PruneResult) -> str:
    """Return a one-line summary of a prune for the log."""
    tables = ", ".join(f"{table} {rows}" for table, rows in result.deleted.items() if rows) or "nothing"
    folded = ", ".join(f"{table} {rows}" for table, rows in result.downsampled.items() if rows)
    verb = "would delete" if result.dry_run else "deleted"
    text = f"{verb} {result.total_deleted} rows ({tables})"
    if folded:
        text += f", {'would fold' if result.dry_run else 'folded into'} hourly rows: {folded}"
    if not result.dry_run:
        text += f", in {result.chunks} chunks"
    return text


async def retention_job(
    path: str | Path,
    policy: RetentionPolicy,
    now_ms: Callable[[], int],
    *,
    on_result: Callable[[PruneResult], None] | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    pause_s: float = CHUNK_PAUSE_S,
) -> PruneResult | None:
    """Prune in a worker thread and log the outcome; a failure is logged, never raised (it runs daily)."""
    started = time.monotonic()
    try:
        result = await asyncio.to_thread(
            prune_file, path, policy, now_ms(), chunk_rows=chunk_rows, pause_s=pause_s
        )
    except Exception:
        log.exception("retention: pruning %s failed; the next daily run will try again", path)
        return None
    log.info("retention: %s in %.1f s", describe(result), time.monotonic() - started)
    if on_result is not None:
        on_result(result)
    return result


def schedule_retention(
    scheduler: Any,
    path: str | Path,
    policy: RetentionPolicy,
    now_ms: Callable[[], int],
    *,
    on_result: Callable[[PruneResult], None] | None = None,
) -> Any:
    """Add the daily retention job to an APScheduler ``AsyncIOScheduler`` and return the job."""
    from apscheduler.triggers.cron import CronTrigger

    hour, minute = DAILY_AT
    # replace_existing only works once the scheduler runs; before that a second add would queue a twin.
    if scheduler.get_job(JOB_ID) is not None:
        scheduler.remove_job(JOB_ID)
    return scheduler.add_job(
        retention_job,
        CronTrigger(hour=hour, minute=minute, timezone=UTC),
        args=(path, policy, now_ms),
        kwargs={"on_result": on_result},
        id=JOB_ID,
        name="daily retention prune",
        replace_existing=True,
        # A bot that was down at 03:17 prunes when it is back (within a day), once, not once per miss.
        misfire_grace_time=86_400,
        coalesce=True,
        max_instances=1,
    )
