"""What the /digest commands do, as plain Python (no ``import discord``): set, list, remove, post now.

Like ``bot.services``: frozen views for a front end to render, ``UserError`` for the person who asked.
A change is written to the database and announced to the scheduler (``DigestJobs.refresh``), which
rebuilds that digest's APScheduler job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.digests.content import parse_contents
from bot.digests.posting import queue_digest, schedule_of
from bot.digests.schedule import Schedule, parse_days, parse_time
from bot.errors import UserError
from bot.parsing import check_quota
from storage.repo import DigestRow, Repo

log = logging.getLogger(__name__)


class DigestRefresher(Protocol):
    """The part of the scheduler the service needs: pick up a changed digest."""

    def refresh(self, digest_id: int) -> None:
        """Rebuild (or drop) the job of one digest from the database."""


@dataclass(frozen=True, slots=True)
class DigestView:
    """A digest as /digest list shows it."""

    id: int
    guild_id: int
    channel_id: int
    schedule: str
    contents: tuple[str, ...]
    next_at: int | None
    enabled: bool
    status_reason: str | None
    created_by: int | None


class DigestService:
    """Create, list, remove and post the scheduled digests of a guild."""

    def __init__(
        self,
        repo: Repo,
        symbols: Sequence[str],
        now_ms: Callable[[], int],
        *,
        max_per_guild: int,
        jobs: DigestRefresher | None = None,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.repo = repo
        self.symbols = list(symbols)
        self.now_ms = now_ms
        self.max_per_guild = max_per_guild
        self.jobs = jobs
        self.on_queued = on_queued

    def _view(self, row: DigestRow, now: int) -> DigestView:
        schedule = schedule_of(row)
        return DigestView(
            id=row.id,
            guild_id=row.guild_id,
            channel_id=row.channel_id,
            schedule=schedule.describe(),
            contents=row.contents,
            next_at=schedule.next_slot(now) if row.enabled else None,
            enabled=row.enabled,
            status_reason=row.status_reason,
            created_by=row.created_by,
        )

    def set_digest(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int,
        time: str,
        days: str | None = None,
        contents: str | None = None,
    ) -> DigestView:
        """Schedule the digest of a channel (replacing the channel's existing one) and return it."""
        minute, every = parse_time(time)
        schedule = Schedule(minute, every, parse_days(days))
        sections = parse_contents(contents)
        existing = {d.channel_id: d for d in self.repo.digests(guild_id)}
        if channel_id not in existing:  # setting a channel's digest again replaces it
            check_quota(len(existing), self.max_per_guild, "digests", "/digest remove")
        now = self.now_ms()
        old = existing.get(channel_id)
        row = DigestRow(
            id=0,
            guild_id=guild_id,
            channel_id=channel_id,
            minute_of_day=schedule.minute_of_day,
            every_hours=schedule.every_hours,
            weekdays=schedule.weekdays,
            contents=sections,
            # Slots before now are not owed: the first post is the next slot.
            last_slot_at=now,
            created_by=user_id,
            created_at=old.created_at if old else now,
            updated_at=now,
        )
        with self.repo.transaction():
            digest_id = self.repo.save_digest(row)
        self._refresh(digest_id)
        log.info(
            "digest %d in guild %s set by user %s: %s", digest_id, guild_id, user_id, schedule.describe()
        )
        stored = self.repo.digest(digest_id)
        assert stored is not None
        return self._view(stored, now)

    def list_digests(self, guild_id: int) -> list[DigestView]:
        """Return the guild's digests with their next posting time."""
        now = self.now_ms()
        return [self._view(row, now) for row in self.repo.digests(guild_id)]

    def _digest(self, guild_id: int, digest_id: int) -> DigestRow:
        row = self.repo.digest(digest_id)
        if row is None or row.guild_id != guild_id:
            raise UserError(f"There is no digest #{digest_id} in this server; /digest list shows them.")
        return row

    def remove_digest(self, guild_id: int, digest_id: int) -> DigestView:
        """Delete a digest of the guild and its job."""
        row = self._digest(guild_id, digest_id)
        with self.repo.transaction():
            self.repo.delete_digest(row.id)
        self._refresh(row.id)
        log.info("digest %d removed from guild %s", row.id, guild_id)
        return self._view(row, self.now_ms())

    def post_now(self, guild_id: int, digest_id: int) -> DigestView:
        """Queue the digest of the period up to now at once (its schedule is unchanged)."""
        row = self._digest(guild_id, digest_id)
        now = self.now_ms()
        with self.repo.transaction():
            queue_digest(self.repo, self.symbols, row, now, now, on_request=True)
        if self.on_queued is not None:
            self.on_queued()
        return self._view(row, now)

    def choices(self, guild_id: int, current: str) -> list[tuple[int, str]]:
        """Return (id, label) pairs of the guild's digests matching what was typed, at most 25."""
        typed = current.strip().lstrip("#").lower()
        found = []
        for view in self.list_digests(guild_id):
            label = f"#{view.id} · {view.schedule} · {', '.join(view.contents)}"
            if not typed or typed in label.lower():
                found.append((view.id, label[:100]))
        return found[:25]

    def _refresh(self, digest_id: int) -> None:
        if self.jobs is not None:
            self.jobs.refresh(digest_id)
