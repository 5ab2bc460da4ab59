"""Recorded alert events and the scope of what a guild may see of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.repo.base import RepoBase, event_matchers
from storage.repo.mapping import EVENTS, OUTBOX, dumps
from storage.rows import AlertEventRow, EventScope, OutboxRow


class AlertsMixin(RepoBase):
    """Recorded alert events, and the ones a guild may see."""

    # --- alert events --------------------------------------------------------------------------------

    def insert_event(
        self,
        *,
        dedupe_key: str,
        rule_id: str,
        detector: str,
        symbol: str,
        guild_id: int | None,
        state: str,
        kind: str,
        severity: str,
        title: str,
        values: dict[str, Any],
        rule: dict[str, Any],
        at: int,
        recorded_at: int,
        late: bool = False,
        silenced_by: int | None = None,
        inhibited_by: int | None = None,
    ) -> int | None:
        """Record an alert event; return its id, or None when the same (key, state, at) already exists."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO alert_events (dedupe_key, rule_id, detector, symbol, guild_id, state,"
            " kind, severity, title, values_json, rule_json, at, recorded_at, late, silenced_by,"
            " inhibited_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                dedupe_key,
                rule_id,
                detector,
                symbol,
                guild_id,
                state,
                kind,
                severity,
                title,
                dumps(values),
                dumps(rule),
                at,
                recorded_at,
                int(late),
                silenced_by,
                inhibited_by,
            ),
        )
        return cur.lastrowid if cur.rowcount else None

    def event(self, event_id: int) -> AlertEventRow | None:
        """Return one alert event by id."""
        row = self.conn.execute(
            f"SELECT {EVENTS.columns} FROM alert_events WHERE id = ?", (event_id,)
        ).fetchone()
        return EVENTS(row) if row else None

    def events(
        self,
        *,
        symbol: str | None = None,
        rule_id: str | None = None,
        guild_id: int | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[AlertEventRow]:
        """Return alert events filtered by symbol, rule, guild and time."""
        clauses: list[str] = []
        params: list[Any] = []
        event_matchers(
            clauses, params, (("symbol", symbol), ("rule_id", rule_id), ("guild_id", guild_id)), since, until
        )
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        params += [limit, offset]
        return [
            EVENTS(r)
            for r in self.conn.execute(
                f"SELECT {EVENTS.columns} FROM alert_events{where}"
                f" ORDER BY at {order}, id {order} LIMIT ? OFFSET ?",
                params,
            )
        ]

    def _scope_clause(self, scope: EventScope) -> tuple[str, list[Any]]:
        """Return a WHERE fragment (and its parameters) matching the events ``scope`` may see."""
        params: list[Any] = [scope.guild_id]
        # A config rule's event has no guild of its own: it is the guild's when the rule is routed there
        # now, or when it was queued for delivery there (routes change; the outbox remembers).
        shared: list[str] = []
        by_severities: dict[tuple[str, ...], list[str]] = {}
        for rule_id, severities in scope.routed.items():
            if severities:
                by_severities.setdefault(tuple(sorted(severities)), []).append(rule_id)
        for severities, rule_ids in sorted(by_severities.items()):
            shared.append(
                f"(rule_id IN ({','.join('?' * len(rule_ids))})"
                f" AND severity IN ({','.join('?' * len(severities))}))"
            )
            params += [*rule_ids, *severities]
        delivered = f"{self.dialect.json_number('payload', '$.guild_id')} = ?"
        params.append(scope.guild_id)
        if scope.targets:
            delivered = f"({delivered} OR target IN ({','.join('?' * len(scope.targets))}))"
            params += list(scope.targets)
        shared.append(f"id IN (SELECT event_id FROM outbox WHERE event_id IS NOT NULL AND {delivered})")
        clause = f"(guild_id = ? OR (guild_id IS NULL AND ({' OR '.join(shared)})))"
        if scope.hidden_rules:
            clause += f" AND rule_id NOT IN ({','.join('?' * len(scope.hidden_rules))})"
            params += list(scope.hidden_rules)
        return clause, params

    def _scoped_where(
        self,
        scope: EventScope,
        symbol: str | None,
        rule_id: str | None,
        since: int | None,
        until: int | None,
        max_id: int | None,
        state: str | None,
    ) -> tuple[str, list[Any]]:
        clause, params = self._scope_clause(scope)
        clauses = [clause]
        event_matchers(
            clauses, params, (("symbol", symbol), ("rule_id", rule_id), ("state", state)), since, until
        )
        if max_id is not None:
            clauses.append("id <= ?")
            params.append(max_id)
        return " AND ".join(clauses), params

    def scoped_events(
        self,
        scope: EventScope,
        *,
        symbol: str | None = None,
        rule_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        max_id: int | None = None,
        state: str | None = "firing",
        limit: int = 10,
        offset: int = 0,
    ) -> list[AlertEventRow]:
        """Return the events a guild may see, newest first; ``max_id`` pins a list being paged through."""
        where, params = self._scoped_where(scope, symbol, rule_id, since, until, max_id, state)
        return [
            EVENTS(r)
            for r in self.conn.execute(
                f"SELECT {EVENTS.columns} FROM alert_events WHERE {where}"
                " ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        ]

    def count_scoped_events(
        self,
        scope: EventScope,
        *,
        symbol: str | None = None,
        rule_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        max_id: int | None = None,
        state: str | None = "firing",
    ) -> tuple[int, int | None]:
        """Return how many events ``scoped_events`` would list in all, and the newest id among them."""
        where, params = self._scoped_where(scope, symbol, rule_id, since, until, max_id, state)
        count, newest = self.conn.execute(
            f"SELECT COUNT(*), MAX(id) FROM alert_events WHERE {where}", params
        ).fetchone()
        return int(count), int(newest) if newest is not None else None

    def scoped_event(self, event_id: int, scope: EventScope) -> AlertEventRow | None:
        """Return one event by id if the guild may see it, else None (whether or not it exists)."""
        clause, params = self._scope_clause(scope)
        row = self.conn.execute(
            f"SELECT {EVENTS.columns} FROM alert_events WHERE id = ? AND {clause}", [event_id, *params]
        ).fetchone()
        return EVENTS(row) if row else None

    def event_deliveries(self, event_ids: Iterable[int]) -> dict[int, list[tuple[str, int | None]]]:
        """Return, per event, the (target, guild id) of every delivery queued for it (who may see it)."""
        found: dict[int, list[tuple[str, int | None]]] = {}
        ids = sorted(set(event_ids))
        # SQLite allows 32,766 parameters per statement; a few hundred at a time stays far below.
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for event_id, target, guild_id in self.conn.execute(
                f"SELECT event_id, target, {self.dialect.json_value('payload', '$.guild_id')} FROM outbox"
                f" WHERE event_id IN ({','.join('?' * len(chunk))}) ORDER BY id",
                chunk,
            ):
                found.setdefault(int(event_id), []).append(
                    (str(target), int(guild_id) if isinstance(guild_id, int) else None)
                )
        return found

    def event_outbox(self, event_id: int) -> list[OutboxRow]:
        """Return every delivery queued for an event (alerts, folds and resolve notices), oldest first."""
        return [
            OUTBOX(r)
            for r in self.conn.execute(
                f"SELECT {OUTBOX.columns} FROM outbox WHERE event_id = ? ORDER BY id", (event_id,)
            )
        ]

    def channel_events(
        self, guild_id: int | None, start: int, end: int, *, limit: int = 10
    ) -> tuple[list[AlertEventRow], int]:
        """Return a guild's newest firing events in [start, end), and how many there were in all.

        The events are those posted for the guild: its channel rules' and the config file's rules', never
        members' personal alerts.
        """
        where = (
            "state = 'firing' AND at >= ? AND at < ? AND (guild_id = ? OR guild_id IS NULL)"
            f" AND COALESCE({self.dialect.json_text('rule_json', '$.deliver')}, 'channel') != 'dm'"
            " AND rule_id NOT IN (SELECT id FROM rules WHERE deliver = 'dm')"
        )
        params: list[Any] = [start, end, guild_id]
        total = int(
            self.conn.execute(f"SELECT COUNT(*) FROM alert_events WHERE {where}", params).fetchone()[0]
        )
        rows = [
            EVENTS(r)
            for r in self.conn.execute(
                f"SELECT {EVENTS.columns} FROM alert_events WHERE {where} ORDER BY at DESC, id DESC LIMIT ?",
                [*params, limit],
            )
        ]
        return rows, total
