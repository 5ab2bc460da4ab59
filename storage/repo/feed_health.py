"""The feed health a role reports for the processes that run no feeds (one row per role, overwritten)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from storage.repo.base import RepoBase
from storage.rows import FeedHealthReport


class FeedHealthMixin(RepoBase):
    """The latest feed-health report of each role (``feed_health``, ephemeral: never copied)."""

    def save_feed_health(
        self, role: str, writer: str, written_at: int, statuses: Sequence[Mapping[str, Any]]
    ) -> None:
        """Replace the report of ``role`` with the feeds' states now, written by ``writer`` ("host:pid")."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO feed_health (role, writer, written_at, statuses) VALUES (?,?,?,?)"
                " ON CONFLICT (role) DO UPDATE SET writer = excluded.writer,"
                " written_at = excluded.written_at, statuses = excluded.statuses",
                (role, writer, written_at, json.dumps([dict(s) for s in statuses])),
            )

    def feed_health(self, role: str) -> FeedHealthReport | None:
        """Return the latest report of ``role``, or None when it never wrote one."""
        row = self.conn.execute(
            "SELECT role, writer, written_at, statuses FROM feed_health WHERE role = ?", (role,)
        ).fetchone()
        if row is None:
            return None
        return FeedHealthReport(str(row[0]), str(row[1]), int(row[2]), tuple(json.loads(row[3])))
