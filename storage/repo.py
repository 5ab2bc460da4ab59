"""Typed reads and writes: the only module that speaks SQL to Tripwire's database.

Writes of observations are idempotent upserts on each table's natural key, so a re-poll or a replay
restarted on the same file never duplicates a row. Every method that changes several tables takes part in
the caller's ``transaction()``, which is how the engine writes an alert's state and its outbox row together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Protocol

import sqlite_utils

from storage import hourly
from storage.rows import Candle, FearGreed, Funding, Liquidation, OpenInterest, interval_ms

HOUR_MS = 3_600_000
OBSERVATION_TABLES = (
    "candles",
    "liquidations",
    "liquidation_hourly",
    "funding",
    "open_interest",
    "fear_greed",
)
STATE_TABLES = (
    "rules",
    "detector_state",
    "alert_state",
    "alert_events",
    "outbox",
    "message_groups",
    "silences",
    "guild_settings",
    "digests",
    "member_notices",
)


DAY_MS = 86_400_000
# Outbox statuses that are final: such rows are only history and may be pruned.
FINAL_OUTBOX_STATUSES = ("delivered", "failed", "dropped")


# --- row types returned by reads -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiquidationTotals:
    """Liquidated USD by position side and source over a window."""

    long_usd: float = 0.0
    short_usd: float = 0.0
    count: int = 0
    by_source: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd


@dataclass(frozen=True, slots=True)
class SpanStat:
    """Row count and time span of one (table, source, symbol) slice, for ``tripwire db stats``."""

    table: str
    source: str
    symbol: str
    rows: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class CandleCoverage:
    """How many candles of one (interval, source) a symbol has in a window, and their open-time span."""

    interval: str
    source: str
    rows: int
    first_open: int
    last_open: int


@dataclass(frozen=True, slots=True)
class DatabaseStats:
    """Rows per table plus time spans per source and symbol."""

    rows_per_table: dict[str, int]
    spans: list[SpanStat]
    schema_version: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A stored alert rule; ``settings`` are the detector's own options, already validated."""

    id: str
    origin: str
    detector: str
    symbol: str
    settings: dict[str, Any]
    guild_id: int | None = None
    owner_id: int | None = None
    channel_id: int | None = None
    role_id: int | None = None
    deliver: str = "channel"
    note: str | None = None
    repeat: bool = True
    cooldown_s: int = 0
    pending_s: int = 0
    expires_at: int | None = None
    enabled: bool = True
    status_reason: str | None = None
    created_at: int = 0
    updated_at: int = 0
    # How the end of a state-like alert is told: "edit" its message, "message" (edit and post), "none".
    resolve_notice: str = "edit"
    # Consecutive evaluations a condition must be seen on before it fires (with pending_s, both must pass).
    pending_evaluations: int = 0


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """The lifecycle state of one dedupe key."""

    dedupe_key: str
    rule_id: str
    status: str
    since: int
    pending_count: int = 0
    fired_at: int | None = None
    last_seen: int | None = None
    last_event_id: int | None = None
    fire_count: int = 0
    stateful: bool = False


@dataclass(frozen=True, slots=True)
class AlertEventRow:
    """One recorded alert event (firing or resolved)."""

    id: int
    dedupe_key: str
    rule_id: str
    detector: str
    symbol: str
    guild_id: int | None
    state: str
    kind: str
    severity: str
    title: str
    values: dict[str, Any]
    rule: dict[str, Any]
    at: int
    recorded_at: int
    late: bool
    silenced_by: int | None
    inhibited_by: int | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued delivery."""

    id: int
    event_id: int | None
    sink: str
    target: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: int
    created_at: int
    delivered_at: int | None
    remote_id: str | None
    error: str | None
    # The message group (one Discord message) this row is shown in, once the sink placed it.
    group_id: int | None = None


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """A silence: alerts matching every non-null matcher between starts_at and ends_at are muted."""

    id: int
    guild_id: int | None
    symbol: str | None
    detector: str | None
    rule_id: str | None
    severity: str | None
    starts_at: int
    ends_at: int
    recurrence: str | None
    created_by: int | None
    reason: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class MessageGroupRow:
    """One delivered (or about to be delivered) message holding one or more outbox rows."""

    id: int
    sink: str
    target: str
    kind: str
    group_key: str
    window_ends_at: int
    created_at: int
    remote_id: str | None
    gone: bool
    # Wall-clock ms of the first send attempt (None: never tried) and of adopting a message found in Discord.
    attempted_at: int | None = None
    adopted_at: int | None = None


@dataclass(frozen=True, slots=True)
class GuildSettingsRow:
    """A guild's default alert and ops channels plus free-form settings."""

    guild_id: int
    alert_channel_id: int | None
    ops_channel_id: int | None
    settings: dict[str, Any]
    updated_at: int


@dataclass(frozen=True, slots=True)
class EventScope:
    """The alert events one guild may see: its own rules' events and those of config rules routed to it."""

    guild_id: int
    # Config-file rule id -> the severities of its alerts that are routed to the guild (a route's
    # min_severity can keep a guild's channel from getting a rule's info alerts).
    routed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Delivery targets inside the guild ("channel:<id>"): an event queued for one of them was sent there.
    targets: tuple[str, ...] = ()
    # Rules whose alerts stay private even in the guild: other members' direct-message alerts.
    hidden_rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestRow:
    """A scheduled market digest of a guild, posted in one channel (see migration 0002 for the schedule)."""

    id: int
    guild_id: int
    channel_id: int
    minute_of_day: int
    every_hours: int
    weekdays: int
    contents: tuple[str, ...]
    last_slot_at: int
    enabled: bool = True
    status_reason: str | None = None
    created_by: int | None = None
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class MemberNoticeRow:
    """Something to tell a member privately the next time they use a command."""

    id: int
    user_id: int
    kind: str
    text: str
    created_at: int


@dataclass(frozen=True, slots=True)
class MemberData:
    """What the database holds about one Discord user (what /privacy shows)."""

    personal_rules: list[RuleRow]
    created_rules: list[RuleRow]
    personal_events: int
    dm_deliveries: int
    notices: int
    digests_created: int
    silences_created: int
    liqfeeds_set: int  # servers whose liquidation feed they set up (their id is kept as "set by")
    server_events_naming: int  # past alerts of server rules they created (the rule copy keeps its owner)


class RetentionPolicy(Protocol):
    """How many days each kind of row is kept (``bot.config.RetentionConfig`` is one)."""

    @property
    def liquidations_days(self) -> int: ...
    @property
    def liquidations_hourly_days(self) -> int: ...
    @property
    def candles_1m_days(self) -> int: ...
    @property
    def candles_other_days(self) -> int: ...
    @property
    def funding_days(self) -> int: ...
    @property
    def open_interest_days(self) -> int: ...
    @property
    def alert_events_days(self) -> int: ...
    @property
    def delivered_outbox_days(self) -> int: ...
    @property
    def downsample(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune removed (or, in a dry run, would remove) and what it folded into coarser rows."""

    # Rows deleted per table; in a dry run, rows that would be deleted.
    deleted: dict[str, int]
    # Coarse rows written by downsampling ("candles": 1h candles, "liquidations": hourly totals); in a
    # dry run, hours that would be folded.
    downsampled: dict[str, int]
    dry_run: bool
    # Write transactions used; each held the write lock for at most one chunk.
    chunks: int

    @property
    def total_deleted(self) -> int:
        """Return the number of rows deleted over all tables."""
        return sum(self.deleted.values())


# Called after every committed chunk with (table, rows deleted in it); the write lock is free then.
ChunkListener = Callable[[str, int], None]


_RULE_COLUMNS = (
    "id, origin, detector, symbol, settings, guild_id, owner_id, channel_id, role_id, deliver, note, "
    "repeat, cooldown_s, pending_s, expires_at, enabled, status_reason, created_at, updated_at,"
    " resolve_notice, pending_evaluations"
)
_EVENT_COLUMNS = (
    "id, dedupe_key, rule_id, detector, symbol, guild_id, state, kind, severity, title, values_json, "
    "rule_json, at, recorded_at, late, silenced_by, inhibited_by"
)
_SILENCE_COLUMNS = (
    "id, guild_id, symbol, detector, rule_id, severity, starts_at, ends_at, recurrence, created_by, reason,"
    " created_at"
)
_GROUP_COLUMNS = (
    "id, sink, target, kind, group_key, window_ends_at, created_at, remote_id, gone, attempted_at, adopted_at"
)
_OUTBOX_COLUMNS = (
    "id, event_id, sink, target, kind, payload, status, attempts, next_attempt_at, created_at, "
    "delivered_at, remote_id, error, group_id"
)


def _candle(row: Sequence[Any]) -> Candle:
    symbol, interval, open_time, source, o, h, low, c, volume, quote_volume, closed = row
    return Candle(symbol, interval, open_time, source, o, h, low, c, volume, quote_volume, bool(closed))


def _alert_state(row: Sequence[Any]) -> AlertStateRow:
    key, rule_id, status, since, pending_count, fired_at, last_seen, last_event_id, fire_count, stateful = row
    return AlertStateRow(
        key,
        rule_id,
        status,
        since,
        pending_count,
        fired_at,
        last_seen,
        last_event_id,
        fire_count,
        bool(stateful),
    )


def _rule(row: Sequence[Any]) -> RuleRow:
    return RuleRow(
        id=row[0],
        origin=row[1],
        detector=row[2],
        symbol=row[3],
        settings=json.loads(row[4]),
        guild_id=row[5],
        owner_id=row[6],
        channel_id=row[7],
        role_id=row[8],
        deliver=row[9],
        note=row[10],
        repeat=bool(row[11]),
        cooldown_s=row[12],
        pending_s=row[13],
        expires_at=row[14],
        enabled=bool(row[15]),
        status_reason=row[16],
        created_at=row[17],
        updated_at=row[18],
        resolve_notice=row[19],
        pending_evaluations=row[20],
    )


def _event(row: Sequence[Any]) -> AlertEventRow:
    return AlertEventRow(
        id=row[0],
        dedupe_key=row[1],
        rule_id=row[2],
        detector=row[3],
        symbol=row[4],
        guild_id=row[5],
        state=row[6],
        kind=row[7],
        severity=row[8],
        title=row[9],
        values=json.loads(row[10]),
        rule=json.loads(row[11]),
        at=row[12],
        recorded_at=row[13],
        late=bool(row[14]),
        silenced_by=row[15],
        inhibited_by=row[16],
    )


def _outbox(row: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        id=row[0],
        event_id=row[1],
        sink=row[2],
        target=row[3],
        kind=row[4],
        payload=json.loads(row[5]),
        status=row[6],
        attempts=row[7],
        next_attempt_at=row[8],
        created_at=row[9],
        delivered_at=row[10],
        remote_id=row[11],
        error=row[12],
        group_id=row[13],
    )


def _group(row: Sequence[Any]) -> MessageGroupRow:
    return MessageGroupRow(
        id=row[0],
        sink=row[1],
        target=row[2],
        kind=row[3],
        group_key=row[4],
        window_ends_at=row[5],
        created_at=row[6],
        remote_id=row[7],
        gone=bool(row[8]),
        attempted_at=row[9],
        adopted_at=row[10],
    )


_DIGEST_COLUMNS = (
    "id, guild_id, channel_id, minute_of_day, every_hours, weekdays, contents, last_slot_at, enabled,"
    " status_reason, created_by, created_at, updated_at"
)


def _digest(row: Sequence[Any]) -> DigestRow:
    return DigestRow(
        id=row[0],
        guild_id=row[1],
        channel_id=row[2],
        minute_of_day=row[3],
        every_hours=row[4],
        weekdays=row[5],
        contents=tuple(part for part in str(row[6]).split(",") if part),
        last_slot_at=row[7],
        enabled=bool(row[8]),
        status_reason=row[9],
        created_by=row[10],
        created_at=row[11],
        updated_at=row[12],
    )


def _lo(start: int | None) -> int:
    return start if start is not None else -(2**62)


def _hi(end: int | None) -> int:
    return end if end is not None else 2**62


def _event_matchers(
    clauses: list[str],
    params: list[Any],
    equals: Iterable[tuple[str, Any]],
    since: int | None,
    until: int | None,
) -> None:
    """Add to an alert-event query ``column = ?`` for each given value and the bounds since <= at < until."""
    for column, value in equals:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("at < ?")
        params.append(until)


def _dumps(value: Any) -> str:
    # sort_keys makes stored JSON stable, so two runs of the same replay produce identical rows.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# Rows are written with multi-row INSERT statements of power-of-two sizes up to this: a statement per row
# (executemany) cost 40% more (bench.replay's storage floor), and a few fixed sizes keep every statement in
# the connection's cache. 1024 rows x 11 columns stays under the 32766 bound parameters SQLite allows by
# default since 3.32; an older or stricter build (999 before 3.32) gets smaller statements (see ``run``).
_ROWS_PER_STATEMENT = 1024


class _MultiRowInsert:
    """An INSERT whose VALUES list is repeated for many rows at once, prepared per power-of-two size."""

    def __init__(self, head: str, columns: int, tail: str = "") -> None:
        self.head = head
        self.tail = tail
        self.columns = columns
        self.group = "(" + ",".join("?" * columns) + ")"
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        """Return the statement inserting ``rows`` rows."""
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self.head + ",".join([self.group] * rows) + self.tail
        return text

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> int:
        """Insert ``rows`` in order, in as few statements as the fixed sizes allow; return rows changed."""
        changed = 0
        start, total = 0, len(rows)
        parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        largest = _ROWS_PER_STATEMENT
        while largest * self.columns > parameters and largest > 1:
            largest //= 2
        while start < total:
            size = largest
            while size > total - start:
                size //= 2
            chunk = rows[start : start + size]
            changed += conn.execute(self.sql(size), list(chain.from_iterable(chunk))).rowcount
            start += size
        return changed


_INSERT_CANDLES = _MultiRowInsert(
    "INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed)"
    " VALUES ",
    11,
    " ON CONFLICT (symbol, interval, open_time, source) DO UPDATE SET o=excluded.o, h=excluded.h,"
    " l=excluded.l, c=excluded.c, volume=excluded.volume, quote_volume=excluded.quote_volume,"
    " closed=excluded.closed",
)
_INSERT_LIQUIDATIONS = _MultiRowInsert(
    "INSERT OR IGNORE INTO liquidations (symbol, ts, source, side, price, qty, usd) VALUES ", 7
)
_INSERT_FUNDING = _MultiRowInsert(
    "INSERT INTO funding (symbol, ts, source, rate, mark_price, next_funding_time, settled) VALUES ",
    7,
    " ON CONFLICT (symbol, ts, source) DO UPDATE SET rate=excluded.rate, mark_price=excluded.mark_price,"
    " next_funding_time=excluded.next_funding_time, settled=excluded.settled",
)
_INSERT_OPEN_INTEREST = _MultiRowInsert(
    "INSERT INTO open_interest (symbol, ts, source, contracts, usd) VALUES ",
    5,
    " ON CONFLICT (symbol, ts, source) DO UPDATE SET contracts=excluded.contracts, usd=excluded.usd",
)


class _AlreadyStored(Exception):
    """Some rows of a liquidation batch were stored before (rolls the batch's insert back)."""


class Repo:
    """Typed access to one Tripwire database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn: sqlite3.Connection = db.conn
        self._depth = 0
        # Guild settings as stored, by guild (None: none stored). Every alert routed to a guild's default
        # channel and every alert delivery (charts on alerts?) asks for them, and only this Repo writes
        # them: forgotten on every save and on every rollback.
        self._guild_settings_rows: dict[int, tuple[Any, ...] | None] = {}

    # --- transactions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block atomically; nested calls join the outer transaction through a savepoint."""
        if self._depth == 0:
            self.conn.execute("BEGIN IMMEDIATE")
        else:
            self.conn.execute(f"SAVEPOINT sp{self._depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._guild_settings_rows.clear()  # they may hold a write that is being undone
            if self._depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{self._depth}")
                self.conn.execute(f"RELEASE sp{self._depth}")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute(f"RELEASE sp{self._depth}")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        self.conn.close()

    # --- observation writes ------------------------------------------------------------------------

    def upsert_candles(self, rows: Iterable[Candle]) -> int:
        """Insert or update candles on (symbol, interval, open_time, source); return rows written."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return _INSERT_CANDLES.run(self.conn, batch)

    def insert_liquidations(self, rows: Iterable[Liquidation]) -> int:
        """Insert liquidation events, ignoring exact repeats of an already stored event; return rows stored.

        The hourly totals move with the stored rows in the same transaction (storage.hourly).
        """
        return len(self.store_liquidations(rows))

    def store_liquidations(self, rows: Iterable[Liquidation]) -> list[Liquidation]:
        """Insert liquidation events like ``insert_liquidations``; return the rows that were stored.

        A row is stored unless an event with its primary key is stored already (or comes earlier in the
        batch), or SQLite refuses it (a NULL or NaN column, an unknown side): the database itself says
        which events are new, so callers need no memory of their own to drop repeats.
        """
        batch = rows if isinstance(rows, list) else list(rows)
        if not batch:
            return []
        conn = self.conn
        try:
            with self.transaction():
                # Repeats are rare (a re-poll, a replayed frame, a row SQLite refuses), so the batch is
                # inserted as it is and only sorted out when SQLite ignored some of it: checking every row
                # in Python first was a quarter of a stored event's cost (bench.ingest, py-spy). Outside any
                # transaction this one is simply rolled back then: the savepoint a nested attempt needs
                # copies every page it touches to a temporary file first (a fifth of the write's cost).
                before = conn.total_changes
                _INSERT_LIQUIDATIONS.run(conn, batch)
                if conn.total_changes - before != len(batch):
                    raise _AlreadyStored  # undone: which rows are new must be known for the totals
                self._count_hourly(batch)
            return batch
        except _AlreadyStored:
            pass
        with self.transaction():
            fresh = self._new_liquidations(batch)
            _INSERT_LIQUIDATIONS.run(conn, fresh)
            self._count_hourly(fresh)
        return fresh

    def _count_hourly(self, stored: list[Liquidation]) -> None:
        totals = hourly.HourlyTotals(self.conn)
        totals.inserted_all(stored)
        totals.save()

    def _new_liquidations(self, batch: list[Liquidation]) -> list[Liquidation]:
        """Return the rows of ``batch`` SQLite would store: storable, first of their key, not yet stored."""
        unique: set[hourly.PrimaryKey] = set()
        candidates: list[Liquidation] = []
        for row in batch:
            key = hourly.primary_key(row)
            if key not in unique and hourly.storable(row):
                unique.add(key)
                candidates.append(row)
        stored = hourly.stored_keys(self.conn, candidates)
        return [row for row in candidates if hourly.primary_key(row) not in stored]

    def upsert_liquidation_buckets(self, rows: Iterable[Liquidation]) -> int:
        """Insert or replace aggregated liquidation buckets (price = qty = 0), whose totals may be revised."""
        written = 0
        with self.transaction():
            totals = hourly.HourlyTotals(self.conn)
            for row in rows:
                old = self.conn.execute(
                    "SELECT usd FROM liquidations WHERE symbol = ? AND ts = ? AND source = ? AND side = ?"
                    " AND price = ? AND qty = ?",
                    hourly.primary_key(row),
                ).fetchone()
                cur = self.conn.execute(
                    "INSERT INTO liquidations (symbol, ts, source, side, price, qty, usd)"
                    " VALUES (?,?,?,?,?,?,?)"
                    " ON CONFLICT (symbol, ts, source, side, price, qty) DO UPDATE SET usd=excluded.usd",
                    row,
                )
                written += cur.rowcount
                if old is None:
                    totals.inserted(row)
                else:
                    totals.revised(row, old[0])
            totals.save()
        return written

    def upsert_funding(self, rows: Iterable[Funding]) -> int:
        """Insert or update funding rates on (symbol, ts, source)."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return _INSERT_FUNDING.run(self.conn, batch)

    def upsert_open_interest(self, rows: Iterable[OpenInterest]) -> int:
        """Insert or update open interest on (symbol, ts, source)."""
        batch = rows if isinstance(rows, list) else list(rows)
        with self.transaction():
            return _INSERT_OPEN_INTEREST.run(self.conn, batch)

    def upsert_fear_greed(self, rows: Iterable[FearGreed]) -> int:
        """Insert or update daily Fear & Greed values on their date."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO fear_greed (date, ts, value, classification, source) VALUES (?,?,?,?,?)"
                " ON CONFLICT (date) DO UPDATE SET value=excluded.value,"
                " classification=COALESCE(excluded.classification, fear_greed.classification),"
                " source=excluded.source",
                rows,
            )
        return cur.rowcount

    # --- observation reads -------------------------------------------------------------------------

    def candles(
        self,
        symbol: str,
        interval: str,
        start: int | None = None,
        end: int | None = None,
        *,
        source: str | None = None,
        limit: int | None = None,
    ) -> list[Candle]:
        """Return candles with start <= open_time < end, oldest first (one source, or all if None)."""
        sql = (
            "SELECT symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed"
            " FROM candles WHERE symbol = ? AND interval = ? AND open_time >= ? AND open_time < ?"
        )
        params: list[Any] = [symbol, interval, _lo(start), _hi(end)]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY open_time"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_candle(r) for r in self.conn.execute(sql, params)]

    def latest_candles(
        self, symbol: str, interval: str, count: int, *, source: str | None = None
    ) -> list[Candle]:
        """Return the newest ``count`` candles, oldest first."""
        sql = (
            "SELECT symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed"
            " FROM candles WHERE symbol = ? AND interval = ?"
        )
        params: list[Any] = [symbol, interval]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        sql += " ORDER BY open_time DESC LIMIT ?"
        params.append(count)
        rows = [_candle(r) for r in self.conn.execute(sql, params)]
        rows.reverse()
        return rows

    def last_candle_time(
        self, symbol: str, interval: str, source: str, *, closed_only: bool = True
    ) -> int | None:
        """Return the open time of the newest stored candle for a source, or None."""
        sql = "SELECT MAX(open_time) FROM candles WHERE symbol = ? AND interval = ? AND source = ?"
        if closed_only:
            sql += " AND closed = 1"
        value = self.conn.execute(sql, (symbol, interval, source)).fetchone()[0]
        return int(value) if value is not None else None

    def candle_symbols(self) -> list[str]:
        """Return every symbol that has stored candles, sorted."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT symbol FROM candles ORDER BY symbol")]

    def candle_coverage(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[CandleCoverage]:
        """Count a symbol's candles per (interval, source) with start <= open_time < end."""
        return [
            CandleCoverage(interval, source, int(rows), int(first), int(last))
            for interval, source, rows, first, last in self.conn.execute(
                "SELECT interval, source, COUNT(*), MIN(open_time), MAX(open_time) FROM candles"
                " WHERE symbol = ? AND open_time >= ? AND open_time < ? GROUP BY interval, source"
                " ORDER BY interval, source",
                (symbol, _lo(start), _hi(end)),
            )
        ]

    def candle_gaps(
        self, symbol: str, interval: str, start: int, end: int, longer_than: int
    ) -> list[tuple[int, int]]:
        """Return the holes in a symbol's candles of ``interval`` (open times in [start, end)) that last more
        than ``longer_than`` ms, as (end of the candle before, open of the candle after)."""
        length = interval_ms(interval)
        return [
            (int(before) + length, int(after))
            for before, after in self.conn.execute(
                "SELECT open_time, after FROM (SELECT open_time,"
                " LEAD(open_time) OVER (ORDER BY open_time) AS after FROM candles"
                " WHERE symbol = ? AND interval = ? AND open_time >= ? AND open_time < ?)"
                " WHERE after - open_time - ? > ?",
                (symbol, interval, start, end, length, longer_than),
            )
        ]

    def closed_candle_count(self, symbol: str, interval: str, start: int, end: int) -> int:
        """Count the open times with start <= open_time < end that have a closed candle of ``interval``.

        A minute stored by two sources counts once: it is one candle to whoever reads the series.
        """
        row = self.conn.execute(
            "SELECT COUNT(DISTINCT open_time) FROM candles WHERE symbol = ? AND interval = ?"
            " AND open_time >= ? AND open_time < ? AND closed = 1",
            (symbol, interval, start, end),
        ).fetchone()
        return int(row[0])

    def liquidations(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[Liquidation]:
        """Return liquidation rows of a symbol with start <= ts < end, oldest first."""
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                "SELECT symbol, ts, source, side, price, qty, usd FROM liquidations"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, _lo(start), _hi(end)),
            )
        ]

    def liquidation_totals(self, symbol: str | None, start: int, end: int) -> LiquidationTotals:
        """Sum liquidated USD by source and position side over [start, end).

        Whole hours come from the trigger-maintained hourly table; only the partial hours at either end
        read raw rows, so a 7-day window costs the same during a cascade as on a quiet day.
        """
        first_hour = -(-start // HOUR_MS) * HOUR_MS
        last_hour = end // HOUR_MS * HOUR_MS
        where, params = ("symbol = ? AND ", [symbol]) if symbol is not None else ("", [])
        raw_sql = (
            "SELECT source, SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
            " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END), COUNT(*)"
            f" FROM liquidations WHERE {where}ts >= ? AND ts < ? GROUP BY source"
        )
        parts: list[tuple[str, float, float, int]] = []
        if first_hour >= last_hour:
            parts += self.conn.execute(raw_sql, [*params, start, end]).fetchall()
        else:
            parts += self.conn.execute(
                "SELECT source, SUM(long_usd), SUM(short_usd), SUM(events) FROM liquidation_hourly"
                f" WHERE {where}hour >= ? AND hour < ? GROUP BY source",
                [*params, first_hour, last_hour],
            ).fetchall()
            if start < first_hour:
                parts += self.conn.execute(raw_sql, [*params, start, first_hour]).fetchall()
            if last_hour < end:
                parts += self.conn.execute(raw_sql, [*params, last_hour, end]).fetchall()
        by_source: dict[str, list[float]] = {}
        long_usd = short_usd = 0.0
        count = 0
        for source, long_part, short_part, n in parts:
            pair = by_source.setdefault(source, [0.0, 0.0])
            pair[0] += long_part or 0.0
            pair[1] += short_part or 0.0
            long_usd += long_part or 0.0
            short_usd += short_part or 0.0
            count += n or 0
        return LiquidationTotals(long_usd, short_usd, count, {k: (v[0], v[1]) for k, v in by_source.items()})

    def liquidation_buckets(
        self, symbol: str, start: int, end: int, bucket_ms: int, *, phase_ms: int = 0
    ) -> list[tuple[int, float, float]]:
        """Return (bucket_start, long_usd, short_usd) of each non-empty bucket with start <= ts < end.

        Buckets are ``bucket_ms`` long, aligned on multiples of it shifted by ``phase_ms`` (weeks start on
        a Monday, not on the epoch's Thursday). Buckets of whole hours are summed from the hourly rollup
        (a busy week is a few hundred rows, and it outlives pruned raw rows); finer ones from raw rows.
        """
        if bucket_ms % HOUR_MS == 0 and phase_ms % HOUR_MS == 0:
            sql = (
                "SELECT ((hour - :phase) / :b) * :b + :phase AS bucket, SUM(long_usd), SUM(short_usd)"
                " FROM liquidation_hourly WHERE symbol = :symbol AND hour >= :start AND hour < :end"
                " GROUP BY bucket ORDER BY bucket"
            )
        else:
            sql = (
                "SELECT ((ts - :phase) / :b) * :b + :phase AS bucket,"
                " SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
                " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END)"
                " FROM liquidations WHERE symbol = :symbol AND ts >= :start AND ts < :end"
                " GROUP BY bucket ORDER BY bucket"
            )
        rows = self.conn.execute(
            sql, {"phase": phase_ms, "b": bucket_ms, "symbol": symbol, "start": start, "end": end}
        )
        return [(int(b), float(long_usd), float(short_usd)) for b, long_usd, short_usd in rows]

    def liquidation_hours(self, symbol: str | None, start: int, end: int) -> list[tuple[int, float, float]]:
        """Return (hour, long_usd, short_usd) per hour in [start, end) across sources, oldest first."""
        where, params = ("symbol = ? AND ", [symbol]) if symbol is not None else ("", [])
        return [
            (int(r[0]), float(r[1]), float(r[2]))
            for r in self.conn.execute(
                "SELECT hour, SUM(long_usd), SUM(short_usd) FROM liquidation_hourly"
                f" WHERE {where}hour >= ? AND hour < ? GROUP BY hour ORDER BY hour",
                [*params, start, end],
            )
        ]

    def liquidation_minutes(self, symbol: str, start: int, end: int) -> list[tuple[str, int, float, float]]:
        """Return (source, minute, long_usd, short_usd) sums per one-minute bucket, oldest first."""
        return [
            (r[0], int(r[1]), float(r[2]), float(r[3]))
            for r in self.conn.execute(
                "SELECT source, ts - ts % 60000 AS minute,"
                " SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
                " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END)"
                " FROM liquidations WHERE symbol = ? AND ts >= ? AND ts < ?"
                " GROUP BY source, minute ORDER BY minute",
                (symbol, start, end),
            )
        ]

    def candle_intervals(self, symbol: str) -> list[str]:
        """Return the candle intervals stored for a symbol."""
        return [
            r[0]
            for r in self.conn.execute("SELECT DISTINCT interval FROM candles WHERE symbol = ?", (symbol,))
        ]

    def largest_liquidations(
        self, symbol: str | None, start: int, end: int, limit: int = 5
    ) -> list[Liquidation]:
        """Return the biggest single liquidation events in the window (aggregated buckets excluded)."""
        where = "ts >= ? AND ts < ? AND qty > 0"
        params: list[Any] = [start, end]
        if symbol is not None:
            where = "symbol = ? AND " + where
            params.insert(0, symbol)
        params.append(limit)
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                f"SELECT symbol, ts, source, side, price, qty, usd FROM liquidations WHERE {where}"
                " ORDER BY usd DESC LIMIT ?",
                params,
            )
        ]

    def largest_liquidation_buckets(
        self, symbol: str | None, start: int, end: int, limit: int = 5
    ) -> list[Liquidation]:
        """Return the biggest aggregated buckets (price = qty = 0, one per side) in the window, for sources
        that only publish totals (CoinGlass hourly), so "the largest" still means something there."""
        where = "ts >= ? AND ts < ? AND qty = 0 AND usd > 0"
        params: list[Any] = [start, end]
        if symbol is not None:
            where = "symbol = ? AND " + where
            params.insert(0, symbol)
        params.append(limit)
        return [
            Liquidation(*r)
            for r in self.conn.execute(
                f"SELECT symbol, ts, source, side, price, qty, usd FROM liquidations WHERE {where}"
                " ORDER BY usd DESC LIMIT ?",
                params,
            )
        ]

    def last_liquidation_time(self, symbol: str | None, before: int) -> int | None:
        """Return the time of the newest liquidation row (of a symbol, or any) before ``before``."""
        if symbol is None:
            value = self.conn.execute("SELECT MAX(ts) FROM liquidations WHERE ts < ?", (before,)).fetchone()[
                0
            ]
        else:
            value = self.conn.execute(
                "SELECT MAX(ts) FROM liquidations WHERE symbol = ? AND ts < ?", (symbol, before)
            ).fetchone()[0]
        return int(value) if value is not None else None

    def funding(self, symbol: str, start: int | None = None, end: int | None = None) -> list[Funding]:
        """Return funding rows with start <= ts < end, oldest first."""
        return [
            Funding(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]))
            for r in self.conn.execute(
                "SELECT symbol, ts, source, rate, mark_price, next_funding_time, settled FROM funding"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, _lo(start), _hi(end)),
            )
        ]

    def open_interest(
        self, symbol: str, start: int | None = None, end: int | None = None
    ) -> list[OpenInterest]:
        """Return open-interest rows with start <= ts < end, oldest first."""
        return [
            OpenInterest(*r)
            for r in self.conn.execute(
                "SELECT symbol, ts, source, contracts, usd FROM open_interest"
                " WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts",
                (symbol, _lo(start), _hi(end)),
            )
        ]

    def fear_greed(self, start: int | None = None, end: int | None = None) -> list[FearGreed]:
        """Return Fear & Greed rows with start <= ts < end, oldest first."""
        return [
            FearGreed(*r)
            for r in self.conn.execute(
                "SELECT date, ts, value, classification, source FROM fear_greed"
                " WHERE ts >= ? AND ts < ? ORDER BY ts",
                (_lo(start), _hi(end)),
            )
        ]

    def newest_observations(
        self, kind: str, symbol: str, since: int, until: int
    ) -> list[tuple[str, str, int]]:
        """Return (detail, source, newest time) per source of one kind of row with since <= time <= until.

        ``kind`` is candles (detail: the interval; time: the newest open), liquidations (detail "events" or
        "hourly"), funding, open_interest or fear_greed (symbol ignored).
        """
        queries = {
            "candles": "SELECT interval, source, MAX(open_time) FROM candles WHERE symbol = :symbol"
            " AND open_time >= :since AND open_time <= :until GROUP BY interval, source",
            "liquidations": "SELECT 'events', source, MAX(ts) FROM liquidations WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source"
            " UNION ALL SELECT 'hourly', source, MAX(hour) FROM liquidation_hourly WHERE symbol = :symbol"
            " AND hour >= :since AND hour <= :until GROUP BY source",
            "funding": "SELECT '', source, MAX(ts) FROM funding WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source",
            "open_interest": "SELECT '', source, MAX(ts) FROM open_interest WHERE symbol = :symbol"
            " AND ts >= :since AND ts <= :until GROUP BY source",
            "fear_greed": "SELECT '', source, MAX(ts) FROM fear_greed"
            " WHERE ts >= :since AND ts <= :until GROUP BY source",
        }
        sql = queries.get(kind)
        if sql is None:
            raise ValueError(f"unknown observation kind {kind!r}; use one of {', '.join(queries)}")
        rows = self.conn.execute(sql, {"symbol": symbol, "since": since, "until": until})
        return sorted((str(d), str(s), int(t)) for d, s, t in rows if t is not None)

    def latest_fear_greed(self) -> FearGreed | None:
        """Return the newest Fear & Greed row."""
        row = self.conn.execute(
            "SELECT date, ts, value, classification, source FROM fear_greed ORDER BY ts DESC LIMIT 1"
        ).fetchone()
        return FearGreed(*row) if row else None

    # --- rules ---------------------------------------------------------------------------------------

    def save_rule(self, rule: RuleRow) -> None:
        """Insert or replace a rule (its id is the key)."""
        self.conn.execute(
            f"INSERT INTO rules ({_RULE_COLUMNS}) VALUES ({','.join('?' * 21)})"
            " ON CONFLICT (id) DO UPDATE SET origin=excluded.origin, detector=excluded.detector,"
            " symbol=excluded.symbol, settings=excluded.settings, guild_id=excluded.guild_id,"
            " owner_id=excluded.owner_id, channel_id=excluded.channel_id, role_id=excluded.role_id,"
            " deliver=excluded.deliver, note=excluded.note, repeat=excluded.repeat,"
            " cooldown_s=excluded.cooldown_s, pending_s=excluded.pending_s, expires_at=excluded.expires_at,"
            " enabled=excluded.enabled, status_reason=excluded.status_reason,"
            " updated_at=excluded.updated_at, resolve_notice=excluded.resolve_notice,"
            " pending_evaluations=excluded.pending_evaluations",
            (
                rule.id,
                rule.origin,
                rule.detector,
                rule.symbol,
                _dumps(rule.settings),
                rule.guild_id,
                rule.owner_id,
                rule.channel_id,
                rule.role_id,
                rule.deliver,
                rule.note,
                int(rule.repeat),
                rule.cooldown_s,
                rule.pending_s,
                rule.expires_at,
                int(rule.enabled),
                rule.status_reason,
                rule.created_at,
                rule.updated_at,
                rule.resolve_notice,
                rule.pending_evaluations,
            ),
        )

    def rule(self, rule_id: str) -> RuleRow | None:
        """Return one rule by id."""
        row = self.conn.execute(f"SELECT {_RULE_COLUMNS} FROM rules WHERE id = ?", (rule_id,)).fetchone()
        return _rule(row) if row else None

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
            _rule(r)
            for r in self.conn.execute(f"SELECT {_RULE_COLUMNS} FROM rules{where} ORDER BY id", params)
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
        return cur.rowcount > 0

    def delete_rule(self, rule_id: str) -> bool:
        """Delete a rule and (by cascade) its detector and alert state; keep its history."""
        return self.conn.execute("DELETE FROM rules WHERE id = ?", (rule_id,)).rowcount > 0

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

    def save_detector_state(self, rule_id: str, state: dict[str, Any], evaluated_at: int) -> None:
        """Store a rule's detector state and the time it was evaluated at."""
        self.conn.execute(
            "INSERT INTO detector_state (rule_id, state, evaluated_at) VALUES (?,?,?)"
            " ON CONFLICT (rule_id) DO UPDATE SET state=excluded.state, evaluated_at=excluded.evaluated_at",
            (rule_id, _dumps(state), evaluated_at),
        )

    def alert_states(
        self, rule_id: str | None = None, *, include_resolved: bool = False
    ) -> list[AlertStateRow]:
        """Return alert states (of one rule, or all); resolved ones only when asked (cooldown needs them)."""
        sql = (
            "SELECT dedupe_key, rule_id, status, since, pending_count, fired_at, last_seen, last_event_id,"
            " fire_count, stateful FROM alert_state WHERE 1 = 1"
        )
        params: list[Any] = []
        if not include_resolved:
            sql += " AND status != 'resolved'"
        if rule_id is not None:
            sql += " AND rule_id = ?"
            params.append(rule_id)
        return [_alert_state(r) for r in self.conn.execute(sql, params)]

    def alert_state(self, dedupe_key: str) -> AlertStateRow | None:
        """Return the state of one dedupe key, resolved ones included."""
        row = self.conn.execute(
            "SELECT dedupe_key, rule_id, status, since, pending_count, fired_at, last_seen, last_event_id,"
            " fire_count, stateful FROM alert_state WHERE dedupe_key = ?",
            (dedupe_key,),
        ).fetchone()
        return _alert_state(row) if row else None

    def save_alert_state(self, state: AlertStateRow) -> None:
        """Insert or replace the state of a dedupe key."""
        self.conn.execute(
            "INSERT INTO alert_state (dedupe_key, rule_id, status, since, pending_count, fired_at, last_seen,"
            " last_event_id, fire_count, stateful) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (dedupe_key)"
            " DO UPDATE SET status=excluded.status, since=excluded.since,"
            " pending_count=excluded.pending_count, fired_at=excluded.fired_at, last_seen=excluded.last_seen,"
            " last_event_id=excluded.last_event_id,"
            " fire_count=excluded.fire_count, stateful=excluded.stateful",
            (
                state.dedupe_key,
                state.rule_id,
                state.status,
                state.since,
                state.pending_count,
                state.fired_at,
                state.last_seen,
                state.last_event_id,
                state.fire_count,
                int(state.stateful),
            ),
        )

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
                _dumps(values),
                _dumps(rule),
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
            f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE id = ?", (event_id,)
        ).fetchone()
        return _event(row) if row else None

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
        _event_matchers(
            clauses, params, (("symbol", symbol), ("rule_id", rule_id), ("guild_id", guild_id)), since, until
        )
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        params += [limit, offset]
        return [
            _event(r)
            for r in self.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events{where}"
                f" ORDER BY at {order}, id {order} LIMIT ? OFFSET ?",
                params,
            )
        ]

    def guild_events(
        self, guild_id: int, *, limit: int = 5, before: int | None = None
    ) -> list[AlertEventRow]:
        """Return the newest firing events of a guild's rules and of config-file rules (guild NULL)."""
        return [
            _event(r)
            for r in self.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE (guild_id = ? OR guild_id IS NULL)"
                " AND state = 'firing' AND at < ? ORDER BY at DESC, id DESC LIMIT ?",
                (guild_id, _hi(before), limit),
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
        delivered = "json_extract(payload, '$.guild_id') = ?"
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
        _event_matchers(
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
            _event(r)
            for r in self.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE {where}"
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
            f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE id = ? AND {clause}", [event_id, *params]
        ).fetchone()
        return _event(row) if row else None

    def event_outbox(self, event_id: int) -> list[OutboxRow]:
        """Return every delivery queued for an event (alerts, folds and resolve notices), oldest first."""
        return [
            _outbox(r)
            for r in self.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE event_id = ? ORDER BY id", (event_id,)
            )
        ]

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
            (event_id, sink, target, kind, _dumps(payload), now, now),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def due_outbox(self, sink: str, now: int, limit: int = 100) -> list[OutboxRow]:
        """Return pending deliveries of a sink that are due, oldest first."""
        return [
            _outbox(r)
            for r in self.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE sink = ? AND status = 'pending'"
                " AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (sink, now, limit),
            )
        ]

    def outbox_row(self, outbox_id: int) -> OutboxRow | None:
        """Return one outbox row."""
        row = self.conn.execute(f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return _outbox(row) if row else None

    def mark_delivered(self, outbox_id: int, now: int, remote_id: str | None = None) -> None:
        """Mark a delivery done, remembering the remote message id (for later edits)."""
        self.conn.execute(
            "UPDATE outbox SET status = 'delivered', delivered_at = ?, remote_id = ?,"
            " attempts = attempts + 1, error = NULL WHERE id = ?",
            (now, remote_id, outbox_id),
        )

    def mark_retry(self, outbox_id: int, next_attempt_at: int, error: str) -> None:
        """Record a failed attempt and when to try again."""
        self.conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, error = ? WHERE id = ?",
            (next_attempt_at, error[:500], outbox_id),
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

    def next_outbox_due(self) -> int | None:
        """Return when the earliest pending delivery is due, or None when nothing is pending."""
        value = self.conn.execute(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'"
        ).fetchone()[0]
        return int(value) if value is not None else None

    def outbox_targets(self, event_id: int) -> set[tuple[str, str]]:
        """Return the (sink, target) pairs an event was queued for."""
        return {
            (r[0], r[1])
            for r in self.conn.execute("SELECT sink, target FROM outbox WHERE event_id = ?", (event_id,))
        }

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
        return cur.lastrowid

    def active_silences(self, now: int, guild_id: int | None = None) -> list[SilenceRow]:
        """Return silences in force at ``now`` (of one guild plus global ones, or all when None).

        A recurring mute window is in force when ``now`` falls within its length of the latest repetition
        of ``starts_at`` (every day or every week).
        """
        sql = (
            f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE starts_at <= ? AND ("
            " (recurrence IS NULL AND ends_at > ?)"
            " OR (recurrence = 'daily' AND (? - starts_at) % 86400000 < ends_at - starts_at)"
            " OR (recurrence = 'weekly' AND (? - starts_at) % 604800000 < ends_at - starts_at))"
        )
        params: list[Any] = [now, now, now, now]
        if guild_id is not None:
            sql += " AND (guild_id = ? OR guild_id IS NULL)"
            params.append(guild_id)
        return [SilenceRow(*r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def silences(self, guild_id: int | None, now: int) -> list[SilenceRow]:
        """Return a guild's silences that have not ended (recurring ones always), for listing."""
        return [
            SilenceRow(*r)
            for r in self.conn.execute(
                f"SELECT {_SILENCE_COLUMNS} FROM silences WHERE guild_id IS ? AND (recurrence IS NOT NULL"
                " OR ends_at > ?) ORDER BY id",
                (guild_id, now),
            )
        ]

    def delete_silence(self, silence_id: int, guild_id: int | None) -> bool:
        """Delete a silence of a guild; return False when it does not exist there."""
        cur = self.conn.execute("DELETE FROM silences WHERE id = ? AND guild_id IS ?", (silence_id, guild_id))
        return cur.rowcount > 0

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
            f"SELECT {_GROUP_COLUMNS} FROM message_groups WHERE id = ?", (group_id,)
        ).fetchone()
        return _group(row) if row else None

    def recent_message_groups(self, sink: str, target: str, since: int) -> list[MessageGroupRow]:
        """Return a target's message groups created at or after ``since``, oldest first."""
        return [
            _group(r)
            for r in self.conn.execute(
                f"SELECT {_GROUP_COLUMNS} FROM message_groups"
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

    def mark_group_gone(self, group_id: int) -> None:
        """Record that a group's message was deleted, so nothing is added to it any more."""
        self.conn.execute("UPDATE message_groups SET gone = 1 WHERE id = ?", (group_id,))

    def group_rows(self, group_id: int) -> list[OutboxRow]:
        """Return the pending and delivered outbox rows a group's message shows, oldest first."""
        return [
            _outbox(r)
            for r in self.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE group_id = ?"
                " AND status IN ('pending', 'delivered') ORDER BY id",
                (group_id,),
            )
        ]

    def event_row(self, event_id: int, sink: str, target: str) -> OutboxRow | None:
        """Return the row showing an event on a target (its alert, or its line folded into another)."""
        row = self.conn.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE event_id = ? AND sink = ? AND target = ?"
            " AND kind IN ('alert', 'fold') ORDER BY id LIMIT 1",
            (event_id, sink, target),
        ).fetchone()
        return _outbox(row) if row else None

    def resolve_rows(self, event_ids: Iterable[int], sink: str, target: str) -> list[OutboxRow]:
        """Return the pending and delivered resolve rows of a target that end any of ``event_ids``."""
        wanted = sorted(set(event_ids))
        if not wanted:
            return []
        return [
            _outbox(r)
            for r in self.conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE sink = ? AND target = ? AND kind = 'resolve'"
                " AND status IN ('pending', 'delivered')"
                f" AND json_extract(payload, '$.fired_event_id') IN ({','.join('?' * len(wanted))})"
                " ORDER BY id",
                (sink, target, *wanted),
            )
        ]

    def count_feed_reports(self, feed: str, state: str, since: int) -> int:
        """Count the reports of ``feed`` turning ``state`` queued at or after ``since`` (one per change)."""
        return int(
            self.conn.execute(
                "SELECT COUNT(DISTINCT created_at) FROM outbox WHERE kind = 'ops' AND created_at >= ?"
                " AND json_extract(payload, '$.feed') = ? AND json_extract(payload, '$.feed_state') = ?",
                (since, feed, state),
            ).fetchone()[0]
        )

    def last_feed_report(self, feed: str) -> str | None:
        """Return the feed state ('stale' or 'fresh') the last ops message about ``feed`` announced."""
        row = self.conn.execute(
            "SELECT json_extract(payload, '$.feed_state') FROM outbox WHERE kind = 'ops'"
            " AND json_extract(payload, '$.feed') = ? ORDER BY id DESC LIMIT 1",
            (feed,),
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else None

    # --- guild settings ------------------------------------------------------------------------------

    def guild_settings(self, guild_id: int) -> GuildSettingsRow | None:
        """Return a guild's settings, or None if never set."""
        if guild_id in self._guild_settings_rows:
            row = self._guild_settings_rows[guild_id]
        else:
            row = self.conn.execute(
                "SELECT guild_id, alert_channel_id, ops_channel_id, settings, updated_at FROM guild_settings"
                " WHERE guild_id = ?",
                (guild_id,),
            ).fetchone()
            self._guild_settings_rows[guild_id] = row
        # Built afresh from the stored row each time: callers get a settings dict of their own.
        return GuildSettingsRow(row[0], row[1], row[2], json.loads(row[3]), row[4]) if row else None

    def all_guild_settings(self) -> list[GuildSettingsRow]:
        """Return the settings of every guild."""
        return [
            GuildSettingsRow(r[0], r[1], r[2], json.loads(r[3]), r[4])
            for r in self.conn.execute(
                "SELECT guild_id, alert_channel_id, ops_channel_id, settings, updated_at FROM guild_settings"
            )
        ]

    def save_guild_settings(self, row: GuildSettingsRow) -> None:
        """Insert or replace a guild's settings."""
        self.conn.execute(
            "INSERT INTO guild_settings (guild_id, alert_channel_id, ops_channel_id, settings, updated_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (guild_id) DO UPDATE SET"
            " alert_channel_id=excluded.alert_channel_id, ops_channel_id=excluded.ops_channel_id,"
            " settings=excluded.settings, updated_at=excluded.updated_at",
            (row.guild_id, row.alert_channel_id, row.ops_channel_id, _dumps(row.settings), row.updated_at),
        )
        self._guild_settings_rows.pop(row.guild_id, None)

    def update_guild_settings(
        self,
        guild_id: int,
        now: int,
        *,
        alert_channel_id: int | None = None,
        ops_channel_id: int | None = None,
        settings: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
    ) -> GuildSettingsRow:
        """Change part of a guild's settings in one transaction and return them: a channel given replaces
        the stored one (None keeps it), ``settings`` keys are set and ``drop`` keys removed."""
        with self.transaction():
            current = self.guild_settings(guild_id)
            merged = {**(current.settings if current else {}), **(settings or {})}
            for key in drop:
                merged.pop(key, None)
            row = GuildSettingsRow(
                guild_id=guild_id,
                alert_channel_id=alert_channel_id
                if alert_channel_id is not None
                else (current.alert_channel_id if current else None),
                ops_channel_id=ops_channel_id
                if ops_channel_id is not None
                else (current.ops_channel_id if current else None),
                settings=merged,
                updated_at=now,
            )
            self.save_guild_settings(row)
        return row

    # --- personal data, notices and digests (issue 9) ------------------------------------------------

    def personal_event_ids(self, user_id: int) -> list[int]:
        """Return the ids of the alert events of a member's personal (DM) rules, removed rules included."""
        return [
            int(r[0])
            for r in self.conn.execute(
                "SELECT id FROM alert_events WHERE rule_id IN"
                " (SELECT id FROM rules WHERE owner_id = ? AND deliver = 'dm')"
                " OR (json_extract(rule_json, '$.owner_id') = ?"
                " AND json_extract(rule_json, '$.deliver') = 'dm')"
                " OR id IN (SELECT event_id FROM outbox WHERE target = ? AND event_id IS NOT NULL)"
                " ORDER BY id",
                (user_id, user_id, f"user:{user_id}"),
            )
        ]

    def member_data(self, user_id: int) -> MemberData:
        """Return what is stored about a Discord user: their rules, alert history, DMs and other traces."""
        owned = self.rules(owner_id=user_id)

        def count(sql: str, *params: Any) -> int:
            return int(self.conn.execute(sql, params).fetchone()[0])

        return MemberData(
            personal_rules=[r for r in owned if r.deliver == "dm"],
            created_rules=[r for r in owned if r.deliver != "dm"],
            personal_events=len(self.personal_event_ids(user_id)),
            dm_deliveries=count("SELECT COUNT(*) FROM outbox WHERE target = ?", f"user:{user_id}"),
            notices=count("SELECT COUNT(*) FROM member_notices WHERE user_id = ?", user_id),
            digests_created=count("SELECT COUNT(*) FROM digests WHERE created_by = ?", user_id),
            silences_created=count("SELECT COUNT(*) FROM silences WHERE created_by = ?", user_id),
            liqfeeds_set=count(
                "SELECT COUNT(*) FROM guild_settings WHERE json_extract(settings, '$.liqfeed.set_by') = ?",
                user_id,
            ),
            server_events_naming=count(
                "SELECT COUNT(*) FROM alert_events WHERE json_extract(rule_json, '$.owner_id') = ?"
                " AND json_extract(rule_json, '$.deliver') IS NOT 'dm'",
                user_id,
            ),
        )

    def forget_member(
        self, user_id: int, replacement_reason: str
    ) -> tuple[list[str], list[str], dict[str, int]]:
        """Delete a user's personal rules, their history, DMs and notices; clear their id from the rest.

        Server rules, digests and silences they created belong to the server and stay, without their id;
        a pause reason naming them becomes ``replacement_reason``. Returns the removed rule ids, the ids of
        the rules that stay without their id (whoever holds them in memory must reload them, or the next
        alert's rule copy names the member again) and the rows changed per kind. Run it inside
        ``transaction()``.
        """
        events = self.personal_event_ids(user_id)
        target = f"user:{user_id}"
        owned = self.rules(owner_id=user_id)
        removed = [r.id for r in owned if r.deliver == "dm"]
        unowned = [r.id for r in owned if r.deliver != "dm"]
        counts: dict[str, int] = {}
        marks = ",".join("?" * len(events))
        outbox = self.conn.execute("DELETE FROM outbox WHERE target = ?", (target,)).rowcount
        if events:
            outbox += self.conn.execute(f"DELETE FROM outbox WHERE event_id IN ({marks})", events).rowcount
            self.conn.execute(f"DELETE FROM alert_events WHERE id IN ({marks})", events)
        counts["alert_events"] = len(events)
        counts["outbox"] = outbox
        counts["rules"] = self.conn.execute(
            "DELETE FROM rules WHERE owner_id = ? AND deliver = 'dm'", (user_id,)
        ).rowcount
        counts["member_notices"] = self.conn.execute(
            "DELETE FROM member_notices WHERE user_id = ?", (user_id,)
        ).rowcount
        counts["rules_unowned"] = self.conn.execute(
            "UPDATE rules SET owner_id = NULL WHERE owner_id = ?", (user_id,)
        ).rowcount
        naming = f"%<@{user_id}>%"
        unowned += [
            r[0]
            for r in self.conn.execute("SELECT id FROM rules WHERE status_reason LIKE ?", (naming,))
            if r[0] not in unowned
        ]
        self.conn.execute(
            "UPDATE rules SET status_reason = ? WHERE status_reason LIKE ?", (replacement_reason, naming)
        )
        counts["digests_unowned"] = self.conn.execute(
            "UPDATE digests SET created_by = NULL WHERE created_by = ?", (user_id,)
        ).rowcount
        counts["silences_unowned"] = self.conn.execute(
            "UPDATE silences SET created_by = NULL WHERE created_by = ?", (user_id,)
        ).rowcount
        # The copy of a server rule each of its past alerts keeps (for /why) names its creator too.
        counts["alert_events_unowned"] = self.conn.execute(
            "UPDATE alert_events SET rule_json = json_set(rule_json, '$.owner_id', NULL)"
            " WHERE json_extract(rule_json, '$.owner_id') = ?",
            (user_id,),
        ).rowcount
        counts["liqfeeds_unowned"] = self.conn.execute(
            "UPDATE guild_settings SET settings = json_set(settings, '$.liqfeed.set_by', NULL)"
            " WHERE json_extract(settings, '$.liqfeed.set_by') = ?",
            (user_id,),
        ).rowcount
        self._guild_settings_rows.clear()  # the cached rows may hold the old "set by"
        return removed, unowned, counts

    def save_notice(self, user_id: int, kind: str, text: str, now: int) -> None:
        """Store (or replace) the notice of one kind owed to a member."""
        self.conn.execute(
            "INSERT INTO member_notices (user_id, kind, text, created_at) VALUES (?,?,?,?)"
            " ON CONFLICT (user_id, kind) DO UPDATE SET text = excluded.text,"
            " created_at = excluded.created_at",
            (user_id, kind, text, now),
        )

    def notices(self, user_id: int) -> list[MemberNoticeRow]:
        """Return the notices owed to a member, oldest first."""
        return [
            MemberNoticeRow(*r)
            for r in self.conn.execute(
                "SELECT id, user_id, kind, text, created_at FROM member_notices WHERE user_id = ?"
                " ORDER BY id",
                (user_id,),
            )
        ]

    def delete_notices(self, ids: Iterable[int]) -> int:
        """Delete notices (once shown); return how many went."""
        wanted = list(ids)
        if not wanted:
            return 0
        marks = ",".join("?" * len(wanted))
        return self.conn.execute(f"DELETE FROM member_notices WHERE id IN ({marks})", wanted).rowcount

    def channel_events(
        self, guild_id: int | None, start: int, end: int, *, limit: int = 10
    ) -> tuple[list[AlertEventRow], int]:
        """Return the newest firing events in [start, end) posted for a guild (its channel rules and the
        config file's rules; never members' personal alerts), and how many there were in all."""
        where = (
            "state = 'firing' AND at >= ? AND at < ? AND (guild_id = ? OR guild_id IS NULL)"
            " AND COALESCE(json_extract(rule_json, '$.deliver'), 'channel') != 'dm'"
            " AND rule_id NOT IN (SELECT id FROM rules WHERE deliver = 'dm')"
        )
        params: list[Any] = [start, end, guild_id]
        total = int(
            self.conn.execute(f"SELECT COUNT(*) FROM alert_events WHERE {where}", params).fetchone()[0]
        )
        rows = [
            _event(r)
            for r in self.conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM alert_events WHERE {where} ORDER BY at DESC, id DESC LIMIT ?",
                [*params, limit],
            )
        ]
        return rows, total

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
        return int(found[0])

    def digest(self, digest_id: int) -> DigestRow | None:
        """Return one digest by id."""
        row = self.conn.execute(
            f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE id = ?", (digest_id,)
        ).fetchone()
        return _digest(row) if row else None

    def digests(self, guild_id: int | None = None) -> list[DigestRow]:
        """Return the digests of a guild (or of all guilds), in id order."""
        if guild_id is None:
            rows = self.conn.execute(f"SELECT {_DIGEST_COLUMNS} FROM digests ORDER BY id")
        else:
            rows = self.conn.execute(
                f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE guild_id = ? ORDER BY id", (guild_id,)
            )
        return [_digest(r) for r in rows]

    def delete_digest(self, digest_id: int) -> bool:
        """Delete a digest; return False when it does not exist."""
        return self.conn.execute("DELETE FROM digests WHERE id = ?", (digest_id,)).rowcount > 0

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
        return cur.rowcount > 0

    # --- statistics ----------------------------------------------------------------------------------

    def size_bytes(self) -> int:
        """Return the database size (pages in use times page size; the WAL file is not counted)."""
        page_count = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        return page_count * page_size

    def stats(self) -> DatabaseStats:
        """Count rows per table and the time span per (table, source, symbol) of observations."""
        rows_per_table = {
            table: int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in OBSERVATION_TABLES + STATE_TABLES
        }
        spans: list[SpanStat] = []
        span_queries = {
            "candles": "SELECT source, symbol || ' ' || interval, COUNT(*), MIN(open_time), MAX(open_time)"
            " FROM candles GROUP BY source, symbol, interval",
            "liquidations": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM liquidations"
            " GROUP BY source, symbol",
            "funding": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM funding"
            " GROUP BY source, symbol",
            "open_interest": "SELECT source, symbol, COUNT(*), MIN(ts), MAX(ts) FROM open_interest"
            " GROUP BY source, symbol",
            "fear_greed": "SELECT source, '-', COUNT(*), MIN(ts), MAX(ts) FROM fear_greed GROUP BY source",
        }
        for table, sql in span_queries.items():
            for source, symbol, count, first, last in self.conn.execute(sql):
                spans.append(SpanStat(table, source, symbol, int(count), first, last))
        page_count = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        return DatabaseStats(rows_per_table, spans, version, page_count * page_size)

    # --- retention and maintenance -------------------------------------------------------------------

    def prune(
        self,
        policy: RetentionPolicy,
        now: int,
        *,
        dry_run: bool = False,
        chunk_rows: int = 5000,
        on_chunk: ChunkListener | None = None,
    ) -> PruneResult:
        """Delete rows older than the policy allows, in chunks of about ``chunk_rows`` per transaction.

        Rules, detector and alert state, Fear & Greed values (one row a day) and pending deliveries are
        never touched. Liquidation rows need no folding: the trigger-kept ``liquidation_hourly`` rollup
        already holds their hourly totals and has its own, longer, retention. With ``policy.downsample``,
        1m candles are folded into 1h candles in the same transaction that deletes them, so no moment
        exists where the hour is missing.
        """
        if chunk_rows < 1:
            raise ValueError("chunk_rows must be at least 1")
        if self._depth:
            # Inside a caller's transaction every chunk would join it and hold the write lock throughout.
            raise RuntimeError("prune() runs its own short transactions; call it outside transaction()")
        pruner = _Pruner(self, now, dry_run, chunk_rows, on_chunk)
        # Whole hours only: liquidation_totals() reads whole hours from the rollup and the partial hours at
        # a window's ends from raw rows, so an hour must never be half pruned.
        pruner.delete_per_symbol(
            "liquidations", "ts < ?", _floor_hour(now - policy.liquidations_days * DAY_MS)
        )
        pruner.delete_per_symbol(
            "liquidation_hourly", "hour < ?", _floor_hour(now - policy.liquidations_hourly_days * DAY_MS)
        )
        pruner.fold_candles(_floor_hour(now - policy.candles_1m_days * DAY_MS), policy.downsample)
        pruner.delete_other_candles(now - policy.candles_other_days * DAY_MS)
        pruner.delete_per_symbol("funding", "ts < ?", now - policy.funding_days * DAY_MS)
        pruner.delete_per_symbol("open_interest", "ts < ?", now - policy.open_interest_days * DAY_MS)
        # The outbox goes before the events, so an event's delivery rows are gone before the event is.
        pruner.delete_outbox(now - policy.delivered_outbox_days * DAY_MS)
        pruner.delete_message_groups(now - policy.delivered_outbox_days * DAY_MS)
        pruner.delete_events(now - policy.alert_events_days * DAY_MS)
        if not dry_run and pruner.chunks:
            # Lets SQLite refresh its planner statistics after large deletions (cheap when nothing to do).
            self.conn.execute("PRAGMA optimize")
        return PruneResult(pruner.deleted, pruner.downsampled, dry_run, pruner.chunks)

    def vacuum(self) -> tuple[int, int]:
        """Rebuild the database file to return free pages to the disk; return (bytes before, after)."""
        before = self._used_bytes()
        # VACUUM cannot run inside a transaction; Repo.transaction() is never open here.
        self.conn.execute("VACUUM")
        # In WAL mode VACUUM writes the whole new file through the WAL: checkpoint and truncate it, or the
        # -wal file would keep the size that was just freed.
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self._used_bytes()

    def free_bytes(self) -> int:
        """Return the bytes in free pages (reused by new rows; only VACUUM gives them back to the disk)."""
        free = int(self.conn.execute("PRAGMA freelist_count").fetchone()[0])
        return free * int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def _used_bytes(self) -> int:
        pages = int(self.conn.execute("PRAGMA page_count").fetchone()[0])
        return pages * int(self.conn.execute("PRAGMA page_size").fetchone()[0])

    def ping(self) -> None:
        """Run a trivial read, raising sqlite3.Error when the database cannot be read."""
        self.conn.execute("SELECT 1 FROM rules LIMIT 1").fetchall()


def _floor_hour(ts: int) -> int:
    return ts - ts % HOUR_MS


# Primary-key columns of the tables pruned row by row (WITHOUT ROWID tables have no rowid to delete by).
_KEYS = {
    "candles": "symbol, interval, open_time, source",
    "liquidations": "symbol, ts, source, side, price, qty",
    "liquidation_hourly": "symbol, hour, source",
    "funding": "symbol, ts, source",
    "open_interest": "symbol, ts, source",
}


class _Pruner:
    """One prune pass: chunked deletes and folds, each chunk its own short write transaction."""

    def __init__(
        self, repo: Repo, now: int, dry_run: bool, chunk_rows: int, on_chunk: ChunkListener | None
    ) -> None:
        self.repo = repo
        self.conn = repo.conn
        self.now = now
        self.dry_run = dry_run
        self.chunk_rows = chunk_rows
        self.on_chunk = on_chunk
        self.deleted: dict[str, int] = {
            t: 0
            for t in (
                "candles",
                "liquidations",
                "liquidation_hourly",
                "funding",
                "open_interest",
                "outbox",
                "message_groups",
                "alert_events",
            )
        }
        self.downsampled: dict[str, int] = {"candles": 0}
        self.chunks = 0

    def _committed(self, table: str, rows: int) -> None:
        self.chunks += 1
        self.deleted[table] += rows
        if self.on_chunk is not None:
            self.on_chunk(table, rows)

    def _distinct(
        self, table: str, column: str, where: str = "1 = 1", params: Sequence[Any] = ()
    ) -> list[str]:
        """Return the distinct values of a leading key column by index seeks, not a full scan."""
        values: list[str] = []
        last = ""
        while True:
            row = self.conn.execute(
                f"SELECT MIN({column}) FROM {table} WHERE {where} AND {column} > ?", (*params, last)
            ).fetchone()
            if row[0] is None:
                return values
            last = row[0]
            values.append(last)

    def _delete_limited(self, table: str, where: str, params: Sequence[Any]) -> None:
        """Delete matching rows ``chunk_rows`` at a time (SQLite here has no DELETE ... LIMIT)."""
        key = _KEYS.get(table, "id")
        if self.dry_run:
            count = self.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0]
            self.deleted[table] += int(count)
            return
        sql = f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {where} LIMIT ?)"
        while True:
            with self.repo.transaction():
                removed = self.conn.execute(sql, (*params, self.chunk_rows)).rowcount
            if removed == 0:
                return
            self._committed(table, removed)
            if removed < self.chunk_rows:
                return

    def delete_per_symbol(self, table: str, where: str, cutoff: int) -> None:
        """Delete old rows symbol by symbol, so each chunk is a range scan of the primary key."""
        for symbol in self._distinct(table, "symbol"):
            self._delete_limited(table, f"symbol = ? AND {where}", (symbol, cutoff))

    def delete_other_candles(self, cutoff: int) -> None:
        """Delete candles of every interval but 1m older than ``cutoff``."""
        for symbol in self._distinct("candles", "symbol"):
            for interval in self._distinct("candles", "interval", "symbol = ?", (symbol,)):
                if interval != "1m":
                    self._delete_limited(
                        "candles", "symbol = ? AND interval = ? AND open_time < ?", (symbol, interval, cutoff)
                    )

    def _fold_windows(
        self, table: str, time_col: str, where: str, symbol: str, cutoff: int
    ) -> Iterator[tuple[int, int]]:
        """Yield [start, end) windows of whole hours before ``cutoff`` that hold rows, oldest first."""
        # About chunk_rows one-minute rows per window (more when several sources write the same symbol).
        span = max(1, self.chunk_rows // 60) * HOUR_MS
        start_from = -(2**62)
        while True:
            first = self.conn.execute(
                f"SELECT MIN({time_col}) FROM {table} WHERE symbol = ? AND {where}"
                f" AND {time_col} >= ? AND {time_col} < ?",
                (symbol, start_from, cutoff),
            ).fetchone()[0]
            if first is None:
                return
            start = _floor_hour(int(first))
            end = min(cutoff, start + span)
            yield start, end
            start_from = end

    def fold_candles(self, cutoff: int, downsample: bool) -> None:
        """Delete 1m candles before ``cutoff`` (an hour boundary), first writing their 1h candles."""
        minute = "symbol = ? AND interval = '1m'"
        for symbol in self._distinct("candles", "symbol"):
            if self.dry_run:
                count = self.conn.execute(
                    f"SELECT COUNT(*) FROM candles WHERE {minute} AND open_time < ?", (symbol, cutoff)
                )
                self.deleted["candles"] += int(count.fetchone()[0])
                if downsample:
                    folds = self.conn.execute(_COUNT_CANDLE_FOLDS, (symbol, cutoff)).fetchone()[0]
                    self.downsampled["candles"] += int(folds)
                continue
            delete = f"DELETE FROM candles WHERE {minute} AND open_time >= ? AND open_time < ?"
            for start, end in list(
                self._fold_windows("candles", "open_time", "interval = '1m'", symbol, cutoff)
            ):
                with self.repo.transaction():
                    if downsample:
                        self.downsampled["candles"] += self.conn.execute(
                            _FOLD_CANDLES, (symbol, start, end)
                        ).rowcount
                    removed = self.conn.execute(delete, (symbol, start, end)).rowcount
                self._committed("candles", removed)

    def delete_outbox(self, cutoff: int) -> None:
        """Delete final deliveries older than ``cutoff``, keeping pending ones and open alerts' messages."""
        statuses = ",".join(f"'{s}'" for s in FINAL_OUTBOX_STATUSES)
        open_alerts = (
            "SELECT last_event_id FROM alert_state WHERE status != 'resolved' AND last_event_id IS NOT NULL"
        )
        self._delete_limited(
            "outbox",
            f"status IN ({statuses}) AND COALESCE(delivered_at, created_at) < ?"
            # A firing alert's message is edited when it resolves: keep the row holding its message id.
            f" AND (event_id IS NULL OR event_id NOT IN ({open_alerts}))"
            # An edit re-renders every row a grouped message holds: keep a group's rows while one is kept.
            " AND (group_id IS NULL OR NOT EXISTS (SELECT 1 FROM outbox k WHERE k.group_id = outbox.group_id"
            f" AND (k.status NOT IN ({statuses}) OR COALESCE(k.delivered_at, k.created_at) >= ?"
            f" OR k.event_id IN ({open_alerts}))))",
            (cutoff, cutoff),
        )

    def delete_message_groups(self, cutoff: int) -> None:
        """Delete message groups older than ``cutoff`` that no longer hold any outbox row."""
        self._delete_limited(
            "message_groups",
            "created_at < ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.group_id = message_groups.id)",
            (cutoff,),
        )

    def delete_events(self, cutoff: int) -> None:
        """Delete alert events older than ``cutoff``, keeping each alert's last event and undelivered ones."""
        self._delete_limited(
            "alert_events",
            "at < ? AND id NOT IN (SELECT last_event_id FROM alert_state WHERE last_event_id IS NOT NULL)"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = alert_events.id"
            " AND o.status = 'pending')",
            (cutoff,),
        )


# One 1h candle per (source, hour) from that hour's 1m candles: first open, last close, extremes, summed
# volumes. An hour with missing minutes (the bot was down) is folded from what exists. A 1h candle the
# source already provided is kept as it is (DO NOTHING): the exchange's own bar is the better one.
_FOLD_CANDLES = """
INSERT INTO candles (symbol, interval, open_time, source, o, h, l, c, volume, quote_volume, closed)
SELECT g.symbol, '1h', g.hour, g.source,
    (SELECT o FROM candles f WHERE f.symbol = g.symbol AND f.interval = '1m' AND f.open_time = g.first_t
        AND f.source = g.source),
    g.h, g.l,
    (SELECT c FROM candles f WHERE f.symbol = g.symbol AND f.interval = '1m' AND f.open_time = g.last_t
        AND f.source = g.source),
    g.volume, g.quote_volume, 1
FROM (
    SELECT symbol, source, open_time - open_time % 3600000 AS hour, MIN(open_time) AS first_t,
        MAX(open_time) AS last_t, MAX(h) AS h, MIN(l) AS l, SUM(volume) AS volume,
        SUM(quote_volume) AS quote_volume
    FROM candles
    WHERE symbol = ? AND interval = '1m' AND open_time >= ? AND open_time < ?
    GROUP BY source, hour
) AS g
WHERE true
ON CONFLICT (symbol, interval, open_time, source) DO NOTHING
"""

# Dry run: the hours a fold would write (candle hours the source has no 1h candle for yet).
_COUNT_CANDLE_FOLDS = """
SELECT COUNT(*) FROM (
    SELECT 1 FROM candles m
    WHERE m.symbol = ? AND m.interval = '1m' AND m.open_time < ?
        AND NOT EXISTS (SELECT 1 FROM candles x WHERE x.symbol = m.symbol AND x.interval = '1h'
            AND x.open_time = m.open_time - m.open_time % 3600000 AND x.source = m.source)
    GROUP BY m.source, m.open_time / 3600000
)
"""
