"""Silences (one-off and recurring mute windows)."""

from __future__ import annotations

from typing import Any

from storage.changes import SILENCE
from storage.repo.base import RepoBase
from storage.repo.mapping import SILENCES
from storage.rows import DAY_MS, WEEK_MS, SilenceRow


class SilencesMixin(RepoBase):
    """Silences and recurring mute windows."""

    # --- silences ------------------------------------------------------------------------------------

    def add_silence(
        self,
        *,
        guild_id: int | None,
        starts_at: int,
        ends_at: int,
        symbol: str | None = None,
        detector: str | None = None,
        rule_id: str | None = None,
        severity: str | None = None,
        recurrence: str | None = None,
        created_by: int | None = None,
        reason: str | None = None,
        now: int,
    ) -> int:
        """Store a silence (or a recurring mute window) and return its id."""
        cur = self.conn.execute(
            "INSERT INTO silences (guild_id, symbol, detector, rule_id, severity, starts_at, ends_at,"
            " recurrence, created_by, reason, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                guild_id,
                symbol,
                detector,
                rule_id,
                severity,
                starts_at,
                ends_at,
                recurrence,
                created_by,
                reason,
                now,
            ),
        )
        assert cur.lastrowid is not None
        self.publish_change(SILENCE, cur.lastrowid)
        return cur.lastrowid

    def active_silences(self, now: int, guild_id: int | None = None) -> list[SilenceRow]:
        """Return silences in force at ``now`` (of one guild plus global ones, or all when None).

        A recurring mute window is in force when ``now`` falls within its length of the latest repetition
        of ``starts_at`` (every day or every week).
        """
        sql = (
            f"SELECT {SILENCES.columns} FROM silences WHERE starts_at <= ? AND ("
            " (recurrence IS NULL AND ends_at > ?)"
            f" OR (recurrence = 'daily' AND (? - starts_at) % {DAY_MS} < ends_at - starts_at)"
            f" OR (recurrence = 'weekly' AND (? - starts_at) % {WEEK_MS} < ends_at - starts_at))"
        )
        params: list[Any] = [now, now, now, now]
        if guild_id is not None:
            sql += " AND (guild_id = ? OR guild_id IS NULL)"
            params.append(guild_id)
        return [SILENCES(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def silences(self, guild_id: int | None, now: int) -> list[SilenceRow]:
        """Return a guild's silences that have not ended (recurring ones always), for listing."""
        return [
            SILENCES(r)
            for r in self.conn.execute(
                f"SELECT {SILENCES.columns} FROM silences WHERE guild_id IS NOT DISTINCT FROM ?"
                " AND (recurrence IS NOT NULL"
                " OR ends_at > ?) ORDER BY id",
                (guild_id, now),
            )
        ]

    def delete_silence(self, silence_id: int, guild_id: int | None) -> bool:
        """Delete a silence of a guild; return False when it does not exist there."""
        cur = self.conn.execute(
            "DELETE FROM silences WHERE id = ? AND guild_id IS NOT DISTINCT FROM ?", (silence_id, guild_id)
        )
        self.publish_change(SILENCE, silence_id)
        return cur.rowcount > 0
