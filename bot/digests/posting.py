"""Queue a digest into the outbox: on schedule, late (once) for a missed slot, or on request.

A slot is missed while the bot was down. The outbox makes the digest durable and paced like an alert; the
Discord sink renders it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from bot.digests.content import build_digest, to_payload
from bot.digests.schedule import Schedule
from storage.repo import DigestRow, Repo

log = logging.getLogger(__name__)

DIGEST_KIND = "digest"
SINK = "discord"


def schedule_of(row: DigestRow) -> Schedule:
    """Return the schedule a stored digest follows."""
    return Schedule(row.minute_of_day, row.every_hours, row.weekdays)


def queue_digest(
    repo: Repo,
    symbols: Sequence[str],
    row: DigestRow,
    at: int,
    now: int,
    *,
    late_by_s: int | None = None,
    on_request: bool = False,
) -> int:
    """Build the digest of the period ending at ``at``, queue it for its channel and return the outbox id."""
    digest = build_digest(repo, symbols, at, schedule_of(row).period_ms, row.contents, guild_id=row.guild_id)
    payload = {
        **to_payload(replace(digest, late_by_s=late_by_s, on_request=on_request)),
        "digest_id": row.id,
        "guild_id": row.guild_id,
    }
    return repo.enqueue(
        event_id=None,
        sink=SINK,
        target=f"channel:{row.channel_id}",
        kind=DIGEST_KIND,
        payload=payload,
        now=now,
    )


def post_due(repo: Repo, symbols: Sequence[str], digest_id: int, now: int, late_after_ms: int) -> int | None:
    """Queue the digest of the latest slot at or before ``now`` unless it was queued already.

    However many slots passed since the last one queued (the bot was down for days), only the latest is
    owed: one post, built as of its slot and marked late when ``now`` is more than ``late_after_ms`` past
    it. Returns the outbox id, or None when nothing was due.
    """
    with repo.transaction():
        row = repo.digest(digest_id)
        if row is None or not row.enabled:
            return None
        slot = schedule_of(row).latest_slot(now)
        if slot is None or slot <= row.last_slot_at or not repo.claim_digest_slot(row.id, slot, now):
            return None
        late = now - slot > late_after_ms
        outbox_id = queue_digest(
            repo, symbols, row, slot, now, late_by_s=(now - slot) // 1000 if late else None
        )
    log.info(
        "digest %d of %d queued for channel %d%s",
        row.id,
        slot,
        row.channel_id,
        f", {(now - slot) // 1000}s late" if late else "",
    )
    return outbox_id
