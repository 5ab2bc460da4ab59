"""A heartbeat file the running bot rewrites every few seconds, for health checks without ``[http]``.

Docker's HEALTHCHECK runs ``tripwire healthcheck`` in a separate process. With the HTTP server off (the
default) that process cannot ask the bot anything, and a readable database proves nothing: it stays
readable after the bot stopped. So the bot's event loop writes the time into ``<database>.heartbeat``
every ``EVERY_S`` seconds; the check reads it back and calls the bot healthy while the time is fresh.
Written by the loop itself, a fresh heartbeat also proves the loop is not stuck. A clean stop removes
the file; a killed bot leaves a heartbeat that turns stale after ``STALE_AFTER_S``.

A file beside the database, not a setting: the database's directory is the one volume the container is
sure to have, writable by the bot and readable by the check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

EVERY_S = 10.0
# Three missed beats and a margin: Docker checks every 30 s, a busy loop may be late by a beat.
STALE_AFTER_S = 45.0


def heartbeat_path(database: Path) -> Path | None:
    """Return the heartbeat file of a database (None for an in-memory database: nothing to check)."""
    if str(database) == ":memory:":
        return None
    return database.with_name(database.name + ".heartbeat")


def write_beat(path: Path, now_s: float) -> None:
    """Write the time of a beat (UTC seconds) into the file, replacing it whole."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(f"{now_s:.3f}\n", encoding="ascii")
    partial.replace(path)


def beat_age(path: Path, now_s: float) -> float | None:
    """Return how many seconds ago the last beat was written, or None when there is no readable beat."""
    try:
        return now_s - float(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


async def beat(path: Path, stop: asyncio.Event, every_s: float = EVERY_S) -> None:
    """Write a beat every ``every_s`` seconds until ``stop`` is set; then remove the file."""
    try:
        while not stop.is_set():
            try:
                # Off the loop like every other file write (a slow volume must not stall the bot).
                await asyncio.to_thread(write_beat, path, time.time())
            except OSError as exc:  # a full or read-only volume: the check will say unhealthy
                log.warning("cannot write the heartbeat file %s: %s", path, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
    finally:
        remove_beat(path)


def remove_beat(path: Path) -> None:
    """Remove the heartbeat: the bot stopped (the check must say so at once, not after it turns stale)."""
    path.unlink(missing_ok=True)
