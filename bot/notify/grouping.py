"""Decide which Discord message each due outbox row goes into: grouping, folding, resolve edits and the cap.

A *message group* is one Discord message and the outbox rows it shows (``message_groups`` and
``outbox.group_id``). For the due rows of one target, in order, the planner picks:

* **grouping**: an alert joins the latest message of its target (and ``[engine] group_by`` key) when it
  was queued within ``group_window_seconds`` of that message's first alert; otherwise it opens a new one.
  A row that pings a role joins only a message whose first send pinged that role (an edit pings nobody);
* **folds** (the engine's inhibition) go into the message of the alert they fold into, and **resolve
  notices** into the message of the alert that ended (``resolve_notice = "message"`` also posts a line);
* **the cap**: once a target has had ``channel_max_per_minute - 1`` messages in the last minute, further
  alerts go into one ``+N more alerts`` summary message, edited as more arrive, instead of new messages;
* **late alerts**: an alert row queued ``[outbox] late_after_seconds`` or more before it could be delivered
  (Discord was unreachable, rate limited, the gateway not ready, the bot down) goes into a *late* message
  with the target's other late alerts of the pass, up to ``max_lines`` a message, whatever the window or
  the group key: after an outage of hours a channel gets one message listing what it missed, each alert
  with the time it fired, instead of a flood. A late message pings nobody: its moment has passed. It is
  stored as a summary group keyed ``late``, and rendered from its rows like any other.

Exactly once rests on one invariant the executor (the Discord sink) keeps: **the rows a group is created
with never change until Discord confirmed its first send** (``remote_id``). A crash before that re-sends
the same rows under the same nonce, and Discord returns the message it already created (past Discord's
nonce window the sink first looks for that message and adopts it: ``bot.notify.discord.adoption``); rows are
added later only by editing the confirmed message, which shows every row of the group and so can be repeated.
Group membership is committed before each request, and a row is marked delivered only after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from storage.repo import MessageGroupRow, OutboxRow, Repo
from storage.rows import MINUTE_MS

# A message holding one row that is never grouped: the large-liquidation feed batches its own messages.
SINGLE = "single"
# Row kinds the planner groups, folds or edits in; any other kind is a message of its own.
GROUPED_KINDS = ("alert", "fold", "resolve", "ops")
# The group key of a late message (a summary group: the stored kinds are fixed by the schema).
LATE_KEY = "late"
# Alert lines one grouped message lists before a new message starts (a 4096-character embed description
# holds about this many lines with their folded alerts).
MAX_LINES = 25
# Where a group key value comes from in an alert payload.
_KEY_FIELDS = {"symbol": "symbol", "detector": "detector", "rule": "rule_id", "severity": "severity"}


class EngineSettings(Protocol):
    """The ``[engine]`` options grouping reads (``bot.config.EngineConfig`` is one)."""

    @property
    def group_window_seconds(self) -> float:
        """Return the window, in seconds, within which one channel's alerts become one message."""

    @property
    def group_by(self) -> Sequence[str]:
        """Return what alerts must share, besides the channel, to join one group."""

    @property
    def channel_max_per_minute(self) -> int:
        """Return how many messages one channel gets a minute before alerts are summarised."""


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    """How alerts of one target are grouped and capped."""

    window_ms: int = 20_000
    group_by: tuple[str, ...] = ()
    max_per_minute: int = 10
    max_lines: int = MAX_LINES
    # An alert row this old (ms since it was queued) when placed goes into a late message; 0: never.
    late_after_ms: int = 0

    @classmethod
    def from_config(cls, engine: EngineSettings, *, late_after_ms: int = 0) -> GroupingPolicy:
        """Build the policy from the ``[engine]`` config section (and ``[outbox] late_after_seconds``)."""
        return cls(
            window_ms=int(engine.group_window_seconds * 1000),
            group_by=tuple(engine.group_by),
            max_per_minute=engine.channel_max_per_minute,
            late_after_ms=late_after_ms,
        )


@dataclass(frozen=True, slots=True)
class Wait:
    """A row that must wait: the alert it folds into or resolves has not been placed yet."""

    row: OutboxRow
    reason: str


@dataclass(eq=False)
class Message:
    """One message this delivery pass touches, and the rows it sends or adds."""

    kind: str
    key: str
    window_ends_at: int
    # The stored group; None while it is still to be created (with ``initial`` as its rows).
    group: MessageGroupRow | None = None
    # Rows of its first send: a new group's rows, or the fixed rows of a group not yet confirmed.
    initial: list[OutboxRow] = field(default_factory=list)
    # Rows added by editing the message once it exists.
    added: list[OutboxRow] = field(default_factory=list)
    # Edit it even with nothing added (a resolve notice posted elsewhere ended one of its alerts).
    refresh: bool = False
    # Rows delivered only if this message's edit or send succeeds, besides its own rows.
    dependents: list[OutboxRow] = field(default_factory=list)
    roles: set[int] = field(default_factory=set)
    lines: int = 0
    created_at: int = 0

    @property
    def sent(self) -> bool:
        """Tell whether Discord already confirmed this message's first send."""
        return self.group is not None and self.group.remote_id is not None

    @property
    def render_kind(self) -> str:
        """Return how the message is drawn: its kind, or "late" for a summary of late alerts."""
        return "late" if self.kind == "summary" and self.key == LATE_KEY else self.kind

    @property
    def needs_send(self) -> bool:
        """Tell whether this pass must post the message (it is new, or its first send is unconfirmed)."""
        return not self.sent

    @property
    def needs_edit(self) -> bool:
        """Tell whether this pass must edit the message after it exists."""
        return bool(self.added) or self.refresh


@dataclass
class Plan:
    """The messages of one target's delivery pass, in the order to send them, and the rows that wait."""

    messages: list[Message] = field(default_factory=list)
    waiting: list[Wait] = field(default_factory=list)


def group_key(row: OutboxRow, group_by: Sequence[str]) -> str:
    """Return the grouping key of a row: the values of the configured ``group_by`` fields."""
    if row.kind == "ops":
        return ""
    return "|".join(f"{name}={row.payload.get(_KEY_FIELDS.get(name, name), '')}" for name in group_by)


def message_kind(row: OutboxRow) -> str:
    """Return the kind of message a row starts when it is on a line of its own."""
    if row.kind not in GROUPED_KINDS:
        return SINGLE
    return "ops" if row.kind == "ops" else "alerts"


def pinged_role(row: OutboxRow) -> int | None:
    """Return the role an alert row mentions (never @everyone, whose id is the guild's), or None."""
    role = row.payload.get("role_id")
    if row.kind != "alert" or not isinstance(role, int) or role == row.payload.get("guild_id"):
        return None
    return role


def resolve_mode(row: OutboxRow) -> str:
    """Return how a resolve row is told: "edit" (default) or "message"."""
    mode = row.payload.get("resolve_notice")
    return mode if mode in ("edit", "message") else "edit"


class GroupPlanner:
    """Plan one target's delivery pass from its due rows and the groups stored for it."""

    def __init__(self, repo: Repo, sink: str, policy: GroupingPolicy) -> None:
        self.repo = repo
        self.sink = sink
        self.policy = policy

    def plan(self, target: str, rows: Sequence[OutboxRow], now: int) -> Plan:
        """Return which message each row goes into (rows must be one target's, oldest first)."""
        state = _PassState(self, target, rows, now)
        for row in rows:
            state.place(row)
        return state.plan


class _PassState:
    """The planner's working state for one target's pass."""

    def __init__(self, planner: GroupPlanner, target: str, rows: Sequence[OutboxRow], now: int) -> None:
        self.repo = planner.repo
        self.sink = planner.sink
        self.policy = planner.policy
        self.target = target
        self.now = now
        self.plan = Plan()
        self.by_group: dict[int, Message] = {}
        # Where each row of this pass went (for folds and resolves of alerts delivered in the same pass).
        self.placed: dict[int, Message] = {}
        oldest = min((r.created_at for r in rows), default=now)
        since = min(now - MINUTE_MS, oldest - planner.policy.window_ms)
        self.recent = planner.repo.recent_message_groups(planner.sink, target, since)
        self._members: dict[int, list[OutboxRow]] = {}

    # --- placing one row ------------------------------------------------------------------------------

    def place(self, row: OutboxRow) -> None:
        """Decide the message of one row."""
        if row.group_id is not None:
            group = self.repo.message_group(row.group_id)
            if group is not None and not group.gone:
                self._into_existing(group, row)
                return
            # Its message was deleted: take it out and place it afresh below.
        if row.kind == "fold":
            parent = row.payload.get("parent_event_id")
            if isinstance(parent, int) and self._anchor(row, parent, attach=True):
                return
        elif row.kind == "resolve":
            fired = row.payload.get("fired_event_id")
            if isinstance(fired, int) and self._anchor(row, fired, attach=resolve_mode(row) == "edit"):
                return
        self._into_line(row)

    def _anchor(self, row: OutboxRow, event_id: int, *, attach: bool) -> bool:
        """Put a fold or resolve into the message of ``event_id``; return False to post it as a line.

        With ``attach`` False (a resolve told in a message of its own) the anchor message is only refreshed
        and the row still needs a line; the row then depends on that refresh too.
        """
        anchor = self.repo.event_row(event_id, self.sink, self.target)
        if anchor is None or anchor.status in ("failed", "dropped"):
            return False
        message = self.placed.get(anchor.id)
        if message is None and anchor.group_id is not None:
            group = self.repo.message_group(anchor.group_id)
            if group is None or group.gone:
                return False
            message = self._message_for(group)
        if message is None or (message.group is not None and not message.sent and not message.initial):
            if anchor.status == "pending":
                # The alert it belongs to is queued but not due yet (it waits for a retry): wait with it.
                reason = f"waiting for outbox {anchor.id}, the alert it belongs to"
                self.plan.waiting.append(Wait(row, reason))
                return True
            return False  # delivered before messages were grouped: nothing to edit
        if not attach:
            if message.group is not None:
                # A message sent in this pass already shows the end (it renders queued resolve rows).
                self._use(message)
                message.refresh = True
                message.dependents.append(row)
            return False
        self._use(message)
        if message.group is None:
            message.initial.append(row)
        else:
            message.added.append(row)
        self.placed[row.id] = message
        return True

    def _into_existing(self, group: MessageGroupRow, row: OutboxRow) -> None:
        """Deliver a row already placed in a group (by a pass that was interrupted or retried)."""
        message = self._use(self._message_for(group))
        if group.remote_id is None:
            message.initial.append(row)  # one of the rows the group was created with: re-sent as they were
        else:
            message.added.append(row)  # added by an edit that may or may not have happened: repeat it
        self.placed[row.id] = message

    def _into_line(self, row: OutboxRow) -> None:
        """Put a row on a line of its own: into the current group of its kind and key, or a new message."""
        kind = message_kind(row)
        if kind == SINGLE:
            # Its own message, whatever the window or the cap (the feed paces and summarises itself).
            self._join(self._new(SINGLE, f"row {row.id}", row.created_at), row, None)
            return
        if kind == "alerts" and self._late(row):
            late = self._latest("summary", LATE_KEY)
            if late is None or not self._summary_joinable(late) or late.lines >= self.policy.max_lines:
                late = self._new("summary", LATE_KEY, row.created_at)
            self._join(late, row, None)  # its moment has passed: a late message pings nobody
            return
        key = group_key(row, self.policy.group_by)
        role = pinged_role(row)
        current = self._latest(kind, key)
        if current is not None and self._joinable(current, row, role):
            self._join(current, row, role)
            return
        if kind == "alerts" and self._capped():
            summary = self._latest("summary", "")
            if summary is None or not self._summary_joinable(summary):
                summary = self._new("summary", "", row.created_at)
            self._join(summary, row, None)  # a summary never pings: it stands for what was not posted
            return
        self._join(self._new(kind, key, row.created_at + self.policy.window_ms), row, role)

    def _late(self, row: OutboxRow) -> bool:
        """Tell whether a row waited so long that it is posted as a late alert."""
        late_after = self.policy.late_after_ms
        return late_after > 0 and self.now - row.created_at >= late_after

    def _joinable(self, message: Message, row: OutboxRow, role: int | None) -> bool:
        if message.group is not None and message.group.gone:
            return False
        if row.created_at >= message.window_ends_at or message.lines >= self.policy.max_lines:
            return False
        if message.group is not None and not message.sent and not message.initial:
            return False  # created earlier and never confirmed, with none of its rows due: leave it be
        # A role can be pinged only by a message's first send.
        return role is None or role in message.roles or message.group is None

    def _summary_joinable(self, message: Message) -> bool:
        if message.created_at <= self.now - MINUTE_MS:
            return False  # the minute it summarised is over: a new one starts with a new message
        return message.group is None or (not message.group.gone and (message.sent or bool(message.initial)))

    def _join(self, message: Message, row: OutboxRow, role: int | None) -> None:
        self._use(message)
        if message.group is None:
            message.initial.append(row)
            if role is not None:
                message.roles.add(role)
        else:
            message.added.append(row)
        message.lines += 1
        self.placed[row.id] = message

    # --- messages ---------------------------------------------------------------------------------------

    def _latest(self, kind: str, key: str) -> Message | None:
        """Return the newest message of this kind and key: planned in this pass, or stored."""
        for message in reversed(self.plan.messages):
            if message.kind == kind and message.key == key and message.group is None:
                return message
        for group in reversed(self.recent):
            if group.kind == kind and group.group_key == key:
                return self._message_for(group)
        return None

    def _capped(self) -> bool:
        """Tell whether one more ordinary message would reach the target's per-minute cap."""
        if self.policy.max_per_minute <= 0:
            return False  # no cap
        since = self.now - MINUTE_MS
        stored = {g.id for g in self.recent if g.created_at > since}
        planned = sum(1 for m in self.plan.messages if m.group is None)
        return len(stored) + planned >= self.policy.max_per_minute - 1

    def _new(self, kind: str, key: str, window_ends_at: int) -> Message:
        return self._use(Message(kind, key, window_ends_at, created_at=self.now))

    def _use(self, message: Message) -> Message:
        """Add a message to the plan when the first row goes into it (the plan's order is send order)."""
        if not any(m is message for m in self.plan.messages):
            self.plan.messages.append(message)
        return message

    def _message_for(self, group: MessageGroupRow) -> Message:
        """Return the pass's message for a stored group (added to the plan once a row goes into it)."""
        message = self.by_group.get(group.id)
        if message is None:
            members = self._stored_members(group.id)
            message = Message(
                group.kind,
                group.group_key,
                group.window_ends_at,
                group=group,
                roles={r for r in (pinged_role(m) for m in members) if r is not None},
                lines=sum(1 for m in members if _is_line(m, members)),
                created_at=group.created_at,
            )
            self.by_group[group.id] = message
        return message

    def _stored_members(self, group_id: int) -> list[OutboxRow]:
        if group_id not in self._members:
            self._members[group_id] = self.repo.group_rows(group_id)
        return self._members[group_id]


def _is_line(row: OutboxRow, members: Sequence[OutboxRow]) -> bool:
    """Tell whether a member is a line of its own (not a fold or resolve shown under another line)."""
    events = {m.event_id for m in members if m.kind in ("alert", "fold")}
    if row.kind == "fold":
        return row.payload.get("parent_event_id") not in events
    if row.kind == "resolve":
        return row.payload.get("fired_event_id") not in events
    return True
