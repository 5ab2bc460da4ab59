"""The delivery outbox, message groups, and the feed reports queued in it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.changes import OUTBOX_QUEUED
from storage.repo.base import RepoBase
from storage.repo.mapping import GROUPS, OUTBOX, dumps
from storage.rows import MessageGroupRow, OutboxRow
from storage.shards import ShardSlice


class OutboxMixin(RepoBase):
    """Queued deliveries and the message groups (one Discord message) that show them."""

    # --- outbox ----------------------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        event_id: int | None,
        sink: str,
        target: str,
        kind: str,
        payload: dict[str, Any],
        now: int,
    ) -> int:
        """Queue one delivery, due now; return its id."""
        cur = self.conn.execute(
            "INSERT INTO outbox (event_id, sink, target, kind, payload, next_attempt_at, created_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (event_id, sink, target, kind, dumps(payload), now, now),
        )
        assert cur.lastrowid is not None
        # Wakes the Discord clusters' delivery at once (PostgreSQL sends one per transaction: same payload).
        self.publish_change(OUTBOX_QUEUED, None)
        return cur.lastrowid

    def due_outbox(self, sink: str, now: int, limit: int = 100) -> list[OutboxRow]:
        """Return pending deliveries of a sink that are due, oldest first, each target's in order.

        A row queued behind an older row of its target that is still waiting for a retry is not due yet,
        so an alert queued as an outage ends cannot overtake the ones queued during it.
        """
        return [OUTBOX(r) for r in self.conn.execute(self._due_sql(), (sink, now, sink, now, limit))]

    def claim_due_outbox(
        self, sink: str, now: int, limit: int = 100, *, shards: ShardSlice | None = None
    ) -> list[OutboxRow]:
        """Return due deliveries like ``due_outbox``, locked until the caller's transaction ends.

        Call it inside ``transaction()``. On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: a
        second process claiming at the same time gets other rows, never these, and sees them again only if
        this transaction ends without marking them. Order within a target holds when one process claims a
        target's rows (a Discord cluster claims its own guilds' targets). On SQLite the transaction's write
        lock already keeps every other writer out. With ``shards`` only the rows of those shards' guilds
        (and, for shard 0, direct messages) are claimed (storage.shards).
        """
        if not self._depth:
            raise RuntimeError("claim_due_outbox() locks rows until the transaction ends; call it in one")
        lock = " FOR UPDATE OF outbox SKIP LOCKED" if self.is_postgres else ""
        where, extra = ("", ()) if shards is None else shards.outbox_predicate(self.dialect)
        sql = self._due_sql(f" AND {where}" if where else "") + lock
        params = (sink, now, sink, now, *extra, limit)
        return [OUTBOX(r) for r in self.conn.execute(sql, params)]

    @staticmethod
    def _due_sql(also: str = "") -> str:
        return (
            "WITH waiting AS (SELECT target, MIN(id) AS first FROM outbox"
            " WHERE sink = ? AND status = 'pending' AND next_attempt_at > ? GROUP BY target)"
            f" SELECT {OUTBOX.columns} FROM outbox WHERE sink = ? AND status = 'pending'"
            " AND next_attempt_at <= ?"
            " AND id < coalesce((SELECT first FROM waiting WHERE waiting.target = outbox.target), 1e18)"
            f"{also} ORDER BY id LIMIT ?"
        )

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """Return one outbox row."""
        row = self.conn.execute(f"SELECT {OUTBOX.columns} FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return OUTBOX(row) if row else None

    def mark_delivered(self, outbox_id: int, now: int, remote_id: str | None = None) -> None:
        """Mark a delivery done, remembering the remote message id (for later edits)."""
        self.conn.execute(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, remote_id = ?,"
            " attempts = attempts + 1, error = NULL WHERE id = ?",
            (now, remote_id, outbox_id),
        )

    def mark_retry(self, outbox_id: int, next_attempt_at: int, error: str, *, counted: bool = True) -> None:
        """Record a failed attempt (or, not ``counted``, a pass that could not try) and when to try again."""
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + ?, next_attempt_at = ?, error = ? WHERE id = ?",
            (1 if counted else 0, next_attempt_at, error[:500], outbox_id),
        )

    def mark_failed(self, outbox_id: int, error: str, *, status: str = "failed") -> None:
        """Give up on a delivery ('failed', or 'dropped' when it was deliberately not sent)."""
        self.conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, error = ? WHERE id = ?",
            (status, error[:500], outbox_id),
        )

    def outbox_depth(self, sink: str | None = None) -> int:
        """Count pending deliveries (of one sink, or all)."""
        if sink is None:
            return int(
                self.conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]
            )
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND sink = ?", (sink,)
            ).fetchone()[0]
        )

    def failed_outbox(self, guild_id: int | None = None) -> int:
        """Count deliveries that failed for good and are still kept (of one guild's alerts, or all)."""
        if guild_id is None:
            return int(self.conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'failed'").fetchone()[0])
        return int(
            self.conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status = 'failed'"
                f" AND {self.dialect.json_number('payload', '$.guild_id')} = ?",
                (guild_id,),
            ).fetchone()[0]
        )

    def next_outbox_due(self) -> int | None:
        """Return when the earliest pending delivery is due, or None when nothing is pending."""
        # A target's rows go in order (due_outbox), so only each target's oldest pending row decides.
        value = self.conn.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE id IN"
            " (SELECT MIN(id) FROM outbox WHERE status = 'pending' GROUP BY sink, target)"
        ).fetchone()[0]
        return int(value) if value is not None else None

    def outbox_targets(self, event_id: int) -> set[tuple[str, str]]:
        """Return the (sink, target) pairs an event was queued for."""
        return {
            (r[0], r[1])
            for r in self.conn.execute("SELECT sink, target FROM outbox WHERE event_id = ?", (event_id,))
        }

    # --- message groups (one Discord message holding several outbox rows) ----------------------------

    def create_message_group(
        self, *, sink: str, target: str, kind: str, group_key: str, window_ends_at: int, now: int
    ) -> int:
        """Store a new message group and return its id."""
        cur = self.conn.execute(
            "INSERT INTO message_groups (sink, target, kind, group_key, window_ends_at, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (sink, target, kind, group_key, window_ends_at, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def message_group(self, group_id: int) -> MessageGroupRow | None:
        """Return one message group."""
        row = self.conn.execute(
            f"SELECT {GROUPS.columns} FROM message_groups WHERE id = ?", (group_id,)
        ).fetchone()
        return GROUPS(row) if row else None

    def recent_message_groups(self, sink: str, target: str, since: int) -> list[MessageGroupRow]:
        """Return a target's message groups created at or after ``since``, oldest first."""
        return [
            GROUPS(r)
            for r in self.conn.execute(
                f"SELECT {GROUPS.columns} FROM message_groups"
                " WHERE sink = ? AND target = ? AND created_at >= ? ORDER BY id",
                (sink, target, since),
            )
        ]

    def assign_to_group(self, outbox_ids: Iterable[int], group_id: int | None) -> None:
        """Place pending outbox rows in a message group (None takes them out of it again)."""
        self.conn.executemany(
            "UPDATE outbox SET group_id = ? WHERE id = ? AND status = 'pending'",
            [(group_id, outbox_id) for outbox_id in outbox_ids],
        )

    def set_group_message(self, group_id: int, remote_id: str) -> None:
        """Record the message id Discord confirmed for a group's first send."""
        self.conn.execute("UPDATE message_groups SET remote_id = ? WHERE id = ?", (remote_id, group_id))

    def mark_group_attempted(self, group_id: int, at: int) -> None:
        """Record (once: the first attempt counts) that a group's first send is about to leave."""
        self.conn.execute(
            "UPDATE message_groups SET attempted_at = ? WHERE id = ? AND attempted_at IS NULL", (at, group_id)
        )

    def adopt_group_message(self, group_id: int, remote_id: str, at: int) -> None:
        """Record a message found in Discord as the group's (an earlier attempt created it)."""
        self.conn.execute(
            "UPDATE message_groups SET remote_id = ?, adopted_at = ? WHERE id = ?", (remote_id, at, group_id)
        )

    def mark_group_late(self, group_id: int) -> None:
        """Mark the rows of a group's first send as delivered late (its message says so, on every render)."""
        self.conn.execute(
            f"UPDATE outbox SET payload = {self.dialect.json_set('payload', '$.delivered_late', 'true')}"
            " WHERE group_id = ?",
            (group_id,),
        )

    def mark_group_gone(self, group_id: int) -> None:
        """Record that a group's message was deleted, so nothing is added to it any more."""
        self.conn.execute("UPDATE message_groups SET gone = 1 WHERE id = ?", (group_id,))

    def group_rows(self, group_id: int) -> list[OutboxRow]:
        """Return the pending and delivered outbox rows a group's message shows, oldest first."""
        return [
            OUTBOX(r)
            for r in self.conn.execute(
                f"SELECT {OUTBOX.columns} FROM outbox WHERE group_id = ?"
                " AND status IN ('pending', 'delivered') ORDER BY id",
                (group_id,),
            )
        ]

    def event_row(self, event_id: int, sink: str, target: str) -> OutboxRow | None:
        """Return the row showing an event on a target (its alert, or its line folded into another)."""
        row = self.conn.execute(
            f"SELECT {OUTBOX.columns} FROM outbox WHERE event_id = ? AND sink = ? AND target = ?"
            " AND kind IN ('alert', 'fold') ORDER BY id LIMIT 1",
            (event_id, sink, target),
        ).fetchone()
        return OUTBOX(row) if row else None

    def resolve_rows(self, event_ids: Iterable[int], sink: str, target: str) -> list[OutboxRow]:
        """Return the pending and delivered resolve rows of a target that end any of ``event_ids``."""
        wanted = sorted(set(event_ids))
        if not wanted:
            return []
        return [
            OUTBOX(r)
            for r in self.conn.execute(
                f"SELECT {OUTBOX.columns} FROM outbox WHERE sink = ? AND target = ? AND kind = 'resolve'"
                " AND status IN ('pending', 'delivered')"
                f" AND {self.dialect.json_number('payload', '$.fired_event_id')}"
                f" IN ({','.join('?' * len(wanted))})"
                " ORDER BY id",
                (sink, target, *wanted),
            )
        ]

    def count_feed_reports(self, feed: str, state: str, since: int) -> int:
        """Count the reports of ``feed`` turning ``state`` queued at or after ``since`` (one per change)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(DISTINCT created_at) FROM outbox WHERE kind = 'ops' AND created_at >= ?"
                f" AND {self.dialect.json_text('payload', '$.feed')} = ?"
                f" AND {self.dialect.json_text('payload', '$.feed_state')} = ?",
                (since, feed, state),
            ).fetchone()[0]
        )

    def last_feed_report(self, feed: str) -> str | None:
        """Return the feed state ('stale' or 'fresh') the last ops message about ``feed`` announced."""
        row = self.conn.execute(
            f"SELECT {self.dialect.json_text('payload', '$.feed_state')} FROM outbox WHERE kind = 'ops'"
            f" AND {self.dialect.json_text('payload', '$.feed')} = ? ORDER BY id DESC LIMIT 1",
            (feed,),
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else None
