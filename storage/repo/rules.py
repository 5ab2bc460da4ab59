"""Alert rules, detector state and alert state."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from storage.changes import RULE
from storage.repo.base import RepoBase
from storage.repo.bulk import INSERT_DETECTOR_STATES
from storage.repo.mapping import ALERT_STATES, RULES, dumps
from storage.rows import AlertStateRow, RuleRow


class RulesMixin(RepoBase):
    """Alert rules, each rule's detector state and each dedupe key's alert state."""

    # --- rules ---------------------------------------------------------------------------------------

    def save_rule(self, rule: RuleRow) -> None:
        """Insert or replace a rule (its id is the key)."""
        self.conn.execute(
            f"INSERT INTO rules ({RULES.columns}) VALUES ({RULES.marks})"
            " ON CONFLICT (id) DO UPDATE SET origin=excluded.origin, detector=excluded.detector,"
            " symbol=excluded.symbol, settings=excluded.settings, guild_id=excluded.guild_id,"
            " owner_id=excluded.owner_id, channel_id=excluded.channel_id, role_id=excluded.role_id,"
            " deliver=excluded.deliver, note=excluded.note, repeat=excluded.repeat,"
            " cooldown_s=excluded.cooldown_s, pending_s=excluded.pending_s, expires_at=excluded.expires_at,"
            " enabled=excluded.enabled, status_reason=excluded.status_reason,"
            " updated_at=excluded.updated_at, resolve_notice=excluded.resolve_notice,"
            " pending_evaluations=excluded.pending_evaluations",
            RULES.values(rule),
        )
        self.publish_change(RULE, rule.id)

    def rule(self, rule_id: str) -> RuleRow | None:
        """Return one rule by id."""
        row = self.conn.execute(f"SELECT {RULES.columns} FROM rules WHERE id = ?", (rule_id,)).fetchone()
        return RULES(row) if row else None

    def rules(
        self,
        *,
        guild_id: int | None = None,
        owner_id: int | None = None,
        origin: str | None = None,
        enabled_only: bool = False,
    ) -> list[RuleRow]:
        """Return rules filtered by guild, owner, origin and enabled flag, in id order."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("guild_id", guild_id), ("owner_id", owner_id), ("origin", origin)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if enabled_only:
            clauses.append("enabled = 1")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return [
            RULES(r)
            for r in self.conn.execute(f"SELECT {RULES.columns} FROM rules{where} ORDER BY id", params)
        ]

    def enabled_rules_after(self, after: str, limit: int) -> list[RuleRow]:
        """Return up to ``limit`` enabled rules with an id above ``after``, in id order (a page of them)."""
        return [
            RULES(r)
            for r in self.conn.execute(
                f"SELECT {RULES.columns} FROM rules WHERE enabled = 1 AND id > ? ORDER BY id LIMIT ?",
                (after, limit),
            )
        ]

    def count_rules(self, *, guild_id: int | None = None, owner_id: int | None = None) -> int:
        """Count rules of a guild and/or owner (for quotas)."""
        clauses = ["1 = 1"]
        params: list[Any] = []
        if guild_id is not None:
            clauses.append("guild_id = ?")
            params.append(guild_id)
        if owner_id is not None:
            clauses.append("owner_id = ?")
            params.append(owner_id)
        return int(
            self.conn.execute(f"SELECT COUNT(*) FROM rules WHERE {' AND '.join(clauses)}", params).fetchone()[
                0
            ]
        )

    def set_rule_enabled(self, rule_id: str, enabled: bool, reason: str | None, now: int) -> bool:
        """Enable or disable a rule with a reason; return False when no such rule exists."""
        cur = self.conn.execute(
            "UPDATE rules SET enabled = ?, status_reason = ?, updated_at = ? WHERE id = ?",
            (int(enabled), reason, now, rule_id),
        )
        self.publish_change(RULE, rule_id)
        return cur.rowcount > 0

    def delete_rule(self, rule_id: str) -> bool:
        """Delete a rule and (by cascade) its detector and alert state; keep its history."""
        deleted = self.conn.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount > 0
        self.publish_change(RULE, rule_id)
        return deleted

    def delete_config_rules_except(self, keep_ids: Iterable[str]) -> int:
        """Delete config-file rules that are no longer in the file; return how many went."""
        keep = list(keep_ids)
        placeholders = ",".join("?" * len(keep)) or "''"
        cur = self.conn.execute(
            f"DELETE FROM rules WHERE origin = 'config' AND id NOT IN ({placeholders})",
            keep,
        )
        return cur.rowcount

    # --- detector and alert state ------------------------------------------------------------------

    def detector_state(self, rule_id: str) -> tuple[dict[str, Any], int] | None:
        """Return (state, evaluated_at) for a rule, or None before its first evaluation."""
        row = self.conn.execute(
            "SELECT state, evaluated_at FROM detector_state WHERE rule_id = ?", (rule_id,)
        ).fetchone()
        return (json.loads(row[0]), int(row[1])) if row else None

    def all_detector_states(self) -> dict[str, tuple[dict[str, Any], int]]:
        """Return every rule's (state, evaluated_at)."""
        return {
            r[0]: (json.loads(r[1]), int(r[2]))
            for r in self.conn.execute("SELECT rule_id, state, evaluated_at FROM detector_state")
        }

    def detector_states_after(self, after: str, limit: int) -> list[tuple[str, dict[str, Any], int]]:
        """Return up to ``limit`` (rule id, state, evaluated_at) with a rule id above ``after``, in order."""
        return [
            (r[0], json.loads(r[1]), int(r[2]))
            for r in self.conn.execute(
                "SELECT rule_id, state, evaluated_at FROM detector_state WHERE rule_id > ?"
                " ORDER BY rule_id LIMIT ?",
                (after, limit),
            )
        ]

    def save_detector_state(
        self, rule_id: str, state: dict[str, Any], evaluated_at: int, *, text: str | None = None
    ) -> None:
        """Store a rule's detector state and the time it was evaluated at.

        ``text``: the state already encoded as ``dumps`` would (``storage.repo.state_json``).
        """
        self.conn.execute(
            "INSERT INTO detector_state (rule_id, state, evaluated_at) VALUES (?,?,?)"
            " ON CONFLICT (rule_id) DO UPDATE SET state=excluded.state, evaluated_at=excluded.evaluated_at",
            (rule_id, dumps(state) if text is None else text, evaluated_at),
        )

    def save_detector_states(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """Store many rules' detector states at once: (rule id, state encoded as ``dumps`` would, time)."""
        INSERT_DETECTOR_STATES.run(self.conn, rows)

    def alert_states(
        self, rule_id: str | None = None, *, include_resolved: bool = False
    ) -> list[AlertStateRow]:
        """Return alert states (of one rule, or all); resolved ones only when asked (cooldown needs them)."""
        sql = f"SELECT {ALERT_STATES.columns} FROM alert_state WHERE 1 = 1"
        params: list[Any] = []
        if not include_resolved:
            sql += " AND status != 'resolved'"
        if rule_id is not None:
            sql += " AND rule_id = ?"
            params.append(rule_id)
        return [ALERT_STATES(r) for r in self.conn.execute(sql, params)]

    def alert_states_after(self, after: str, limit: int) -> list[AlertStateRow]:
        """Return up to ``limit`` alert states (resolved too) with a dedupe key above ``after``, in order."""
        return [
            ALERT_STATES(r)
            for r in self.conn.execute(
                f"SELECT {ALERT_STATES.columns} FROM alert_state WHERE dedupe_key > ?"
                " ORDER BY dedupe_key LIMIT ?",
                (after, limit),
            )
        ]

    def alert_state(self, dedupe_key: str) -> AlertStateRow | None:
        """Return the state of one dedupe key, resolved ones included."""
        row = self.conn.execute(
            f"SELECT {ALERT_STATES.columns} FROM alert_state WHERE dedupe_key = ?",
            (dedupe_key,),
        ).fetchone()
        return ALERT_STATES(row) if row else None

    def save_alert_state(self, state: AlertStateRow) -> None:
        """Insert or replace the state of a dedupe key."""
        self.conn.execute(
            f"INSERT INTO alert_state ({ALERT_STATES.columns}) VALUES ({ALERT_STATES.marks})"
            " ON CONFLICT (dedupe_key)"
            " DO UPDATE SET status=excluded.status, since=excluded.since,"
            " pending_count=excluded.pending_count, fired_at=excluded.fired_at, last_seen=excluded.last_seen,"
            " last_event_id=excluded.last_event_id,"
            " fire_count=excluded.fire_count, stateful=excluded.stateful",
            ALERT_STATES.values(state),
        )
