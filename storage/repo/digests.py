"""Scheduled market digests.

Every change a scheduler must hear of (set, removed, switched off) is published (storage.changes) so the
process running the digests' jobs (the market role) rebuilds the job; claiming a slot is the scheduler's own
write and is not published.
"""

from __future__ import annotations

from storage.changes import DIGEST
from storage.repo.base import RepoBase
from storage.repo.mapping import DIGESTS
from storage.rows import DigestRow


class DigestsMixin(RepoBase):
    """Scheduled market digests."""

    def save_digest(self, row: DigestRow) -> int:
        """Insert a digest, or replace the one of the same channel (keeping its id); return the id."""
        self.conn.execute(
            "INSERT INTO digests (guild_id, channel_id, minute_of_day, every_hours, weekdays, contents,"
            " last_slot_at, enabled, status_reason, created_by, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (guild_id, channel_id) DO UPDATE SET"
            " minute_of_day = excluded.minute_of_day, every_hours = excluded.every_hours,"
            " weekdays = excluded.weekdays, contents = excluded.contents,"
            " last_slot_at = excluded.last_slot_at, enabled = excluded.enabled,"
            " status_reason = excluded.status_reason, created_by = excluded.created_by,"
            " updated_at = excluded.updated_at",
            (
                row.guild_id,
                row.channel_id,
                row.minute_of_day,
                row.every_hours,
                row.weekdays,
                ",".join(row.contents),
                row.last_slot_at,
                int(row.enabled),
                row.status_reason,
                row.created_by,
                row.created_at,
                row.updated_at,
            ),
        )
        found = self.conn.execute(
            "SELECT id FROM digests WHERE guild_id = ? AND channel_id = ?", (row.guild_id, row.channel_id)
        ).fetchone()
        self.publish_change(DIGEST, int(found[0]))
        return int(found[0])

    def digest(self, digest_id: int) -> DigestRow | None:
        """Return one digest by id."""
        row = self.conn.execute(
            f"SELECT {DIGESTS.columns} FROM digests WHERE id = ?", (digest_id,)
        ).fetchone()
        return DIGESTS(row) if row else None

    def digests(self, guild_id: int | None = None) -> list[DigestRow]:
        """Return the digests of a guild (or of all guilds), in id order."""
        if guild_id is None:
            rows = self.conn.execute(f"SELECT {DIGESTS.columns} FROM digests ORDER BY id")
        else:
            rows = self.conn.execute(
                f"SELECT {DIGESTS.columns} FROM digests WHERE guild_id = ? ORDER BY id", (guild_id,)
            )
        return [DIGESTS(r) for r in rows]

    def delete_digest(self, digest_id: int) -> bool:
        """Delete a digest; return False when it does not exist."""
        deleted = self.conn.execute("DELETE FROM digests WHERE id = ?", (digest_id,)).rowcount > 0
        if deleted:
            self.publish_change(DIGEST, digest_id)
        return deleted

    def claim_digest_slot(self, digest_id: int, slot: int, now: int) -> bool:
        """Record that the digest of ``slot`` is being queued; False when it (or a later one) already was.

        The compare-and-set is what keeps a slot from being posted twice (a job firing while the catch-up
        after a restart runs, or two processes on one database).
        """
        cur = self.conn.execute(
            "UPDATE digests SET last_slot_at = ?, updated_at = ? WHERE id = ? AND last_slot_at < ?",
            (slot, now, digest_id, slot),
        )
        return cur.rowcount > 0

    def set_digest_enabled(self, digest_id: int, enabled: bool, reason: str | None, now: int) -> bool:
        """Switch a digest on or off with a reason; return False when no such digest exists."""
        cur = self.conn.execute(
            "UPDATE digests SET enabled = ?, status_reason = ?, updated_at = ? WHERE id = ?",
            (int(enabled), reason, now, digest_id),
        )
        if cur.rowcount > 0:
            self.publish_change(DIGEST, digest_id)
        return cur.rowcount > 0
