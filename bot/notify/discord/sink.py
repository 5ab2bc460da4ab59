"""Deliver outbox rows to Discord channels (``channel:<id>``) and direct messages (``user:<id>``).

* **Grouped**: ``bot.notify.grouping`` decides which message each row goes into: alerts of a channel
  arriving within the group window share one message, edited as more arrive; folded lesser alerts and
  resolve notices are edited into the message of their alert; past the channel's per-minute cap, alerts
  go into one "+N more alerts" summary. A message is rendered from the rows it holds, so every edit can
  be repeated.
* **Once**: a message's rows are recorded (``outbox.group_id``) before it is sent and do not change until
  Discord confirmed the send; the send carries a nonce derived from that group and discord.py sets
  ``enforce_nonce``, so a group re-sent after a crash makes Discord return the message it already created
  instead of posting a second one. Discord keeps a nonce only "in the past few minutes": a group whose
  first attempt was started (``attempted_at``) more than ``nonce_window_s`` ago and never confirmed is
  first looked for in the channel or DM (``bot.notify.discord.adoption``, by the reference every message
  shows in its footer) and adopted when found (``adopted_at``). Rows added later go in by editing the
  confirmed message, and a row is marked delivered only after the request showing it succeeded.
* **Paced**: at most one request in flight per channel, so discord.py's per-route buckets, learnt from
  each response's ``X-RateLimit-*`` headers, pace a channel: a new bucket lets one request through until
  the first response tells its limit, and an exhausted one is waited out for ``X-RateLimit-Reset-After``.
  Per-route limits are not hard-coded here: Discord says they change and must be read from the headers
  (developers/topics/rate-limits.mdx). The global limit has no headers before a 429, so a ceiling below
  Discord's documented 50 requests/s keeps a burst across many channels (a cascade across many symbols)
  from meeting one.
* **Classified**: transient failures (5xx, timeouts, a 429 discord.py gave up on) become ``Retry``;
  permanent ones become ``Failed``. A channel that is gone (10003) or that the bot may no longer use
  (50001, 50013) marks the rule broken (disabled with the reason) and tells the guild's ops channel once,
  instead of retrying forever; so does a channel whose cached permissions lack Embed Links, found before
  the send (Discord would post the alert without its embed). Closed DMs (50007) pause the member's
  personal alerts and leave them a notice (``bot.alerts.personal``); a personal alert whose owner left
  its server is not sent (``member_check``). Any other row that fails for good (a message Discord refused,
  a payload that cannot be drawn) is told in the ops channel, one notice per target and pass: nothing
  fails silently. Waiting out a rate limit or a gateway that is not ready is not counted as an attempt.
* Digests (kind ``digest``) are posted with their chart; a broken channel switches the digest off.
* ``Delivered`` carries the Discord message id, so later edits (resolve notices) can find the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import discord
import discord.abc

from bot.alerts.model import BROKEN_PREFIX, RuleRefresher
from bot.alerts.personal import pause_for_closed_dms
from bot.digests.posting import DIGEST_KIND
from bot.liqfeed.feed import LIQFEED_KIND
from bot.notify.alert_charts import Attachment, AttachmentHook
from bot.notify.discord.adoption import DEFAULT_NONCE_WINDOW_S, find_sent, mark
from bot.notify.discord.digests import digest_message, switch_off_digest
from bot.notify.discord.member_check import MemberCheck
from bot.notify.discord.render import alerts as render
from bot.notify.discord.render import groups as render_groups
from bot.notify.discord.render import liqfeed as render_liq
from bot.notify.grouping import SINGLE, GroupingPolicy, GroupPlanner, Message, Plan, message_kind, pinged_role
from bot.notify.outbox import MAX_BACKOFF_MS, Delivered, Failed, Outcome, Retry, backoff_ms
from storage.repo import MessageGroupRow, OutboxRow, Repo
from storage.rows import MINUTE_MS

log = logging.getLogger(__name__)

# Discord JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_CHANNEL = 10003
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
MISSING_ACCESS = 50001
CANNOT_DM_USER = 50007
MISSING_PERMISSIONS = 50013
_BROKEN_CODES = {
    UNKNOWN_CHANNEL: "the channel no longer exists (Unknown Channel)",
    UNKNOWN_USER: "the member's account no longer exists (Unknown User)",
    MISSING_ACCESS: "Tripwire cannot see the channel (Missing Access)",
    MISSING_PERMISSIONS: "Tripwire may not post there (Missing Permissions: it needs Send Messages and "
    "Embed Links)",
}
# Checked before a send or edit (see _lacks_embed_links): without Embed Links Discord keeps the message but
# not its embed, so the alert would show nothing and the adoption look-up could not recognise it.
NO_EMBED_LINKS = (
    "Tripwire may not post embeds there (Missing Permissions: it needs Embed Links, without which the "
    "alert would be posted empty)"
)
UNKNOWN_MESSAGE_ERROR = "Unknown Message"
# A fold or resolve waiting for the alert it belongs to is tried again this soon.
FOLLOW_RETRY_MS = 2_000
# Discord accepts a nonce of at most 25 characters.
NONCE_LIMIT = 25
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
# What a delivery request can fail with that is Discord's or the network's doing, not a bug of ours.
_REQUEST_ERRORS = (discord.HTTPException, discord.RateLimited, aiohttp.ClientError, TimeoutError, OSError)


def error_kind(exc: BaseException) -> str:
    """Return the metric label of a failed Discord request: forbidden, not_found, rate_limited, ..."""
    if isinstance(exc, discord.Forbidden):
        return "forbidden"
    if isinstance(exc, discord.NotFound):
        return "not_found"
    if isinstance(exc, discord.RateLimited):
        return "rate_limited"
    if isinstance(exc, discord.DiscordServerError):
        return "server_error"
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return "rate_limited"
        if exc.status == 401:
            return "unauthorized"
        return "rejected"
    return "network"


def _base36(value: int) -> str:
    digits = ""
    value = abs(value)
    while True:
        value, rest = divmod(value, 36)
        digits = _BASE36[rest] + digits
        if value == 0:
            return digits


def group_nonce(group: MessageGroupRow) -> str:
    """Return the nonce of a grouped message's first send: the same for every re-send of that group."""
    return f"twg{group.id}.{_base36(group.created_at)}"[:NONCE_LIMIT]


def _fail_bad_target(target: str, rows: Sequence[OutboxRow], results: dict[int, Outcome]) -> None:
    """Fail every row of a target that is neither ``channel:<id>`` nor ``user:<id>``."""
    for row in rows:
        log.error("outbox %d: cannot deliver to %r (expected channel:<id> or user:<id>)", row.id, target)
        results[row.id] = Failed(row.id, f"bad Discord target {target!r}")


def _rows_of(message: Message) -> list[OutboxRow]:
    """Return every row a message's requests settle, each once, in order."""
    seen: dict[int, OutboxRow] = {}
    for row in (*message.initial, *message.added, *message.dependents):
        seen.setdefault(row.id, row)
    return list(seen.values())


def _settle(results: dict[int, Outcome], outcome: Outcome) -> None:
    """Record a row's outcome; a failure of one of its requests outweighs another's success."""
    known = results.get(outcome.outbox_id)
    if known is None or isinstance(known, Delivered):
        results[outcome.outbox_id] = outcome


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` sends per ``per`` seconds."""

    limit: int
    per: float


# The default ceiling over all channels, ``[discord] global_rate_per_s`` (bot/config.py): below Discord's
# global limit of 50 requests per second (developers/topics/rate-limits.mdx, "Global Rate Limit").
DEFAULT_GLOBAL_RATE = Rate(40, 1.0)


class SlidingWindow:
    """Allow at most ``rate.limit`` requests in any ``rate.per`` seconds, counting each from when it ended.

    A request reaches Discord somewhere between when it is sent and when its response arrives; counting
    from the response makes the window conservative, so Discord's own window (which starts when the first
    request arrives) never sees one request too many.
    """

    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.finished: deque[float] = deque()
        self.in_flight = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for room, hold it while the request runs, and count it when it ends."""
        while True:
            now = self.clock()
            while self.finished and now - self.finished[0] >= self.rate.per:
                self.finished.popleft()
            if len(self.finished) + self.in_flight < self.rate.limit:
                break
            if self.finished:
                await asyncio.sleep(self.rate.per - (now - self.finished[0]))
            else:
                await asyncio.sleep(0.01)  # everything in the window is still in flight
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.finished.append(self.clock())


class _Channel:
    """Pacing state of one delivery target: one request at a time (discord.py's buckets do the rest)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()


class DiscordSink:
    """A ``Sink`` that posts outbox rows through a connected discord.py client."""

    name = "discord"

    def __init__(
        self,
        client: discord.Client,
        repo: Repo,
        rules: RuleRefresher,
        now_ms: Callable[[], int],
        *,
        ops_channel_id: int | None = None,
        global_rate: Rate = DEFAULT_GLOBAL_RATE,
        ready_timeout_s: float = 30.0,
        not_ready_retry_ms: int = 5_000,
        grouping: GroupingPolicy | None = None,
        attachments: AttachmentHook | None = None,
        on_error: Callable[[str], None] | None = None,
        nonce_window_s: float = DEFAULT_NONCE_WINDOW_S,
        wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        max_backoff_ms: int = MAX_BACKOFF_MS,
    ) -> None:
        self.client = client
        # The longest wait between two attempts of a row ([outbox] retry_max_backoff_seconds).
        self.max_backoff_ms = max_backoff_ms
        # How long Discord is trusted to drop a repeated nonce (below its documented "few minutes"), and
        # the wall clock that measures it (``now_ms`` is the replay's simulated clock in a replay).
        self.nonce_window_ms = int(nonce_window_s * 1000)
        self.wall_ms = wall_ms
        # Told the kind of each Discord error a delivery meets (the tripwire_discord_errors metric).
        self.on_error = on_error
        self.repo = repo
        self.rules = rules
        self.now_ms = now_ms
        self.ops_channel_id = ops_channel_id
        self.ready_timeout_s = ready_timeout_s
        self.not_ready_retry_ms = not_ready_retry_ms
        self._global = SlidingWindow(global_rate)
        self._channels: dict[str, _Channel] = {}
        self._reported: set[tuple[str, str]] = set()
        # Rows of the current pass whose failure another notice already tells (a broken rule, closed DMs).
        self._covered: set[int] = set()
        self._rng = random.Random()
        # Without a policy every alert is a message of its own and there is no cap (the composition root
        # passes the [engine] one: GroupingPolicy.from_config).
        self.grouping = grouping if grouping is not None else GroupingPolicy(window_ms=0, max_per_minute=0)
        self.planner = GroupPlanner(repo, self.name, self.grouping)
        # Asked for a file (an alert's chart) before each alert is posted; see bot.notify.alert_charts.
        self.attachments = attachments
        self.members = MemberCheck(client, repo, rules, now_ms)

    # --- the Sink protocol ---------------------------------------------------------------------------

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Send each row to its channel or DM; targets in parallel, each target's rows in order."""
        if not await self._ready():
            # Not an attempt: nothing was tried, and a gateway slow to come up must not use up a row.
            return [
                Retry(r.id, "Discord is not connected yet", self.not_ready_retry_ms, counted=False)
                for r in rows
            ]
        by_target: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        results: dict[int, Outcome] = {}
        sources: dict[str, str | None] = {}
        self._covered = set()
        await asyncio.gather(
            *(self._deliver_target(target, batch, results, sources) for target, batch in by_target.items())
        )
        self._report_failures(rows, results)
        return [results[row.id] for row in rows]

    def _report_failures(self, rows: Sequence[OutboxRow], results: Mapping[int, Outcome]) -> None:
        """Tell the ops channel about rows that failed for good and that no other notice covers."""
        untold: dict[str, list[tuple[OutboxRow, Failed]]] = {}
        for row in rows:
            outcome = results.get(row.id)
            if not isinstance(outcome, Failed) or outcome.dropped or row.id in self._covered:
                continue
            if row.kind == "ops":
                log.error("ops message %d could not be posted in %s: %s", row.id, row.target, outcome.error)
                continue  # never report a failed report: that could loop
            untold.setdefault(row.target, []).append((row, outcome))
        for target, failed in untold.items():
            kind, _, ident = target.partition(":")
            # A member's DMs are not named in a server's channel: their alerts are their own.
            where = f"<#{ident}>" if kind == "channel" else "a member's direct messages"
            first, outcome = failed[0]
            count = "An alert" if len(failed) == 1 else f"{len(failed)} alerts"
            text = f"{count} could not be delivered to {where} and will not be retried: {outcome.error}."
            with self.repo.transaction():
                self._tell_ops(first, where, text, None)

    async def _ready(self) -> bool:
        if self.client.is_closed():
            return False
        if self.client.is_ready():
            return True
        try:
            await asyncio.wait_for(self.client.wait_until_ready(), self.ready_timeout_s)
        except (TimeoutError, RuntimeError):  # RuntimeError: the client was never logged in
            return False
        return not self.client.is_closed()

    async def _deliver_target(
        self,
        target: str,
        rows: Sequence[OutboxRow],
        results: dict[int, Outcome],
        sources: dict[str, str | None],
    ) -> None:
        """Deliver one target's rows: check and plan them, send the plan, retry what it left out."""
        kind, _, raw_id = target.partition(":")
        if kind not in ("channel", "user") or not raw_id.isdigit():
            _fail_bad_target(target, rows, results)
            return
        ident = int(raw_id)
        due = [row for row in self._current(rows, results) if self._renders(row, sources, results)]
        if kind == "user":
            due = await self._still_members(due, ident, results)
        plan = self.planner.plan(target, due, self.now_ms())
        for wait in plan.waiting:
            results[wait.row.id] = Retry(wait.row.id, wait.reason, FOLLOW_RETRY_MS, counted=False)
        await self._send_plan(kind, ident, target, plan, results, sources)
        for row in due:
            if row.id not in results:
                log.warning("outbox %d: not placed in any message this pass; retrying", row.id)
                results[row.id] = Retry(row.id, "not placed in a message", FOLLOW_RETRY_MS)

    async def _send_plan(
        self,
        kind: str,
        ident: int,
        target: str,
        plan: Plan,
        results: dict[int, Outcome],
        sources: dict[str, str | None],
    ) -> None:
        """Send a plan's messages in order; after a dead target or a retry, settle the rest unsent."""
        dead: str | None = None
        waiting: Retry | None = None
        for message in plan.messages:
            involved = _rows_of(message)
            if dead is not None:
                # The target failed permanently a moment ago: don't knock on the same door again.
                for row in involved:
                    _settle(results, Failed(row.id, dead))
                    self._covered.add(row.id)  # the target's notice (its rule switched off) tells it
                continue
            if waiting is not None:
                # Keep a channel's alerts in order: the rows behind one that must wait become due with it
                # (the dispatcher sends due rows oldest first).
                behind = f"waiting behind outbox {waiting.outbox_id}"
                for row in involved:
                    _settle(results, Retry(row.id, behind, waiting.after_ms, counted=False))
                continue
            failure, target_dead = await self._deliver_message(kind, ident, target, message, results, sources)
            if target_dead:
                dead = failure.error if isinstance(failure, Failed) else "target unusable"
            elif isinstance(failure, Retry):
                waiting = failure

    def _current(self, rows: Sequence[OutboxRow], results: dict[int, Outcome]) -> list[OutboxRow]:
        """Re-read rows (a pass placed them in groups since they were fetched); settle finished ones."""
        current: list[OutboxRow] = []
        for given in rows:
            row = self.repo.outbox_row(given.id)
            if row is None:
                results[given.id] = Failed(given.id, "the outbox row no longer exists", dropped=True)
            elif row.status == "delivered":
                results[row.id] = Delivered(row.id, row.remote_id)
            elif row.status != "pending":
                results[row.id] = Failed(row.id, row.error or row.status, dropped=row.status == "dropped")
                self._covered.add(row.id)  # settled, and told, by an earlier pass
            else:
                current.append(row)
        return current

    async def _still_members(
        self, rows: Sequence[OutboxRow], user_id: int, results: dict[int, Outcome]
    ) -> list[OutboxRow]:
        """Drop (and settle) the personal alerts whose owner left the alert's server."""
        kept: list[OutboxRow] = []
        for row in rows:
            async with self._global.slot():
                departed = await self.members.departed(row, user_id)
            if departed is None:
                kept.append(row)
            else:
                results[row.id] = departed
                self._covered.add(row.id)  # the member left: their personal alerts are paused, not reported
        return kept

    def _renders(self, row: OutboxRow, sources: dict[str, str | None], results: dict[int, Outcome]) -> bool:
        """Check a row renders on its own, so one bad payload cannot hold back the message it would join."""
        if message_kind(row) == SINGLE:
            return True  # drawn when it is sent (a digest's chart), failures retried like a send's
        try:
            self._embed(message_kind(row), [row], row.target, sources, resolves=False)
        except Exception:
            log.exception("outbox %d: cannot render payload of kind %s", row.id, row.kind)
            results[row.id] = Failed(row.id, "payload cannot be rendered")
            return False
        return True

    # --- sending ---------------------------------------------------------------------------------------

    def _channel(self, target: str) -> _Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = self._channels[target] = _Channel()
        return channel

    async def _messageable(self, kind: str, ident: int) -> discord.PartialMessageable | discord.DMChannel:
        if kind == "channel":
            # A partial messageable needs no cache: it posts to /channels/{id}/messages, which is all a
            # send needs, and keeps working while the gateway reconnects and the cache is rebuilt.
            return self.client.get_partial_messageable(ident)
        return await self.client.create_dm(discord.Object(ident))

    async def _deliver_message(
        self,
        kind: str,
        ident: int,
        target: str,
        message: Message,
        results: dict[int, Outcome],
        sources: dict[str, str | None],
    ) -> tuple[Outcome | None, bool]:
        """Post and/or edit one grouped message; settle its rows; return a failure and if the target died."""
        if self._lacks_embed_links(kind, ident):
            # Reported like a 50013 before anything is sent, so no embed-less copy is ever created (one
            # the adoption look-up could not recognise after a crash: bot.notify.discord.adoption).
            involved = _rows_of(message)
            self._mark_broken(involved[0], kind, ident, NO_EMBED_LINKS)
            failed = Failed(involved[0].id, f"no access ({MISSING_PERMISSIONS}): {NO_EMBED_LINKS}")
            return self._fail(involved, failed, True, kind, ident, results), True
        if message.needs_send:
            group = message.group
            if group is None:
                # The rows a group is created with are committed before the send and never change until
                # Discord's answer is recorded: a re-send after a crash is the same message, same nonce.
                with self.repo.transaction():
                    group_id = self.repo.create_message_group(
                        sink=self.name,
                        target=target,
                        kind=message.kind,
                        group_key=message.key,
                        window_ends_at=message.window_ends_at,
                        now=message.created_at,
                    )
                    self.repo.assign_to_group([r.id for r in message.initial], group_id)
                group = self.repo.message_group(group_id)
                assert group is not None
                message.group = group
            first = (message.initial or _rows_of(message))[0]
            outcome, dead = await self._send_group(kind, ident, target, message, group, first, sources)
            if not isinstance(outcome, Delivered) or outcome.remote_id is None:
                return self._fail(_rows_of(message), outcome, dead, kind, ident, results), dead
            for row in message.initial:
                _settle(results, Delivered(row.id, outcome.remote_id))
        if message.needs_edit:
            return await self._extend(kind, ident, target, message, results, sources)
        return None, False

    def _lacks_embed_links(self, kind: str, ident: int) -> bool:
        """Tell whether the bot's cached permissions in a channel lack Embed Links (False when unknown).

        DMs always allow embeds; a channel not in discord.py's cache (not visible, or during a reconnect)
        is sent to as before, and Discord's answer decides.
        """
        if kind != "channel":
            return False
        channel = self.client.get_channel(ident)
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            return False
        me = channel.guild.me
        if me is None:
            return False
        allowed = channel.permissions_for(me)
        # A channel the bot cannot see or post in is left to Discord's own answer (50001, 50013).
        return allowed.view_channel and allowed.send_messages and not allowed.embed_links

    async def _send_group(
        self,
        kind: str,
        ident: int,
        target: str,
        message: Message,
        group: MessageGroupRow,
        first: OutboxRow,
        sources: dict[str, str | None],
    ) -> tuple[Outcome, bool]:
        """Post a group's message (or adopt the one an interrupted attempt created); record its id."""
        nonce = group_nonce(group)
        now = self.wall_ms()
        if group.attempted_at is not None and now - group.attempted_at >= self.nonce_window_ms:
            # An earlier attempt may have created the message and Discord may have forgotten its nonce:
            # look before posting again.
            since = group.attempted_at
            found, dead = await self._attempt(first, kind, ident, self._find(kind, ident, nonce, since))
            if not isinstance(found, Delivered):
                return found, dead
            if found.remote_id:
                with self.repo.transaction():
                    self.repo.adopt_group_message(group.id, found.remote_id, now)
                log.info(
                    "message group %d (%s): adopted message %s, which an interrupted send created",
                    group.id,
                    target,
                    found.remote_id,
                )
                message.group = replace(group, remote_id=found.remote_id, adopted_at=now)
                return found, False
        with self.repo.transaction():
            # Committed before the request leaves: from now on the message may exist in Discord.
            self.repo.mark_group_attempted(group.id, now)
            if message.kind == "alerts" and self._held_late(group):
                # Placed before an outage and held by it: said late on every render, pinging nobody.
                self.repo.mark_group_late(group.id)
        members = self.repo.group_rows(group.id)
        request: Awaitable[str]
        if message.kind == SINGLE:
            request = self._send_single(kind, ident, members[0], nonce)
        else:
            content, mentions = self._mentions(message.kind, members)
            embed = mark(self._embed(message.render_kind, members, target, sources), nonce)
            # Drawn before taking the channel's turn, so a slow chart never holds up another send.
            chart = await self._chart(message.kind, members)
            request = self._send(kind, ident, content, embed, mentions, nonce, chart)
        outcome, dead = await self._attempt(first, kind, ident, request)
        if isinstance(outcome, Delivered) and outcome.remote_id is not None:
            with self.repo.transaction():
                self.repo.set_group_message(group.id, outcome.remote_id)
            message.group = replace(group, remote_id=outcome.remote_id)
        return outcome, dead

    def _held_late(self, group: MessageGroupRow) -> bool:
        """Tell whether a group's first send comes so long after its rows were queued that it is late."""
        late_after = self.grouping.late_after_ms
        if late_after <= 0 or group.remote_id is not None:
            return False
        rows = self.repo.group_rows(group.id)
        return bool(rows) and self.now_ms() - min(r.created_at for r in rows) >= late_after

    async def _find(self, kind: str, ident: int, nonce: str, since_ms: int) -> str:
        """Return the id of the message sent under ``nonce`` since ``since_ms``, or "" when there is none."""
        destination = await self._messageable(kind, ident)
        user = self.client.user
        assert user is not None, "a ready client has its user"
        found = await find_sent(destination, nonce, since_ms, user.id)
        return "" if found is None else str(found.id)

    async def _attachment(self, row: OutboxRow) -> Attachment | None:
        if self.attachments is None:
            return None
        try:
            return await self.attachments(row)
        except Exception:
            # An extra must never cost the alert itself.
            log.exception("outbox %d: the attachment hook failed; posting without it", row.id)
            return None

    async def _extend(
        self,
        kind: str,
        ident: int,
        target: str,
        message: Message,
        results: dict[int, Outcome],
        sources: dict[str, str | None],
    ) -> tuple[Outcome | None, bool]:
        """Edit a confirmed message to show the rows added to it (an edit can be repeated after a crash)."""
        group = message.group
        assert group is not None and group.remote_id is not None
        if message.added:
            with self.repo.transaction():
                self.repo.assign_to_group([r.id for r in message.added], group.id)
        members = self.repo.group_rows(group.id)
        # The reference stays in the footer, so an edit changes nothing but the lines.
        embed = mark(self._embed(message.render_kind, members, target, sources), group_nonce(group))
        chart = await self._chart(message.kind, members)
        if chart is not None:
            # The chart uploaded with the first send stays attached; the new embed keeps showing it.
            embed.set_image(url=f"attachment://{chart.filename}")
        involved = message.added + message.dependents
        outcome, dead = await self._attempt(
            involved[0], kind, ident, self._edit(kind, ident, group.remote_id, embed)
        )
        if isinstance(outcome, Failed) and outcome.error.startswith(UNKNOWN_MESSAGE_ERROR):
            # Someone deleted the message: nothing joins it any more, and its new rows are placed afresh
            # (a fold or resolve notice is then posted as a line of its own).
            with self.repo.transaction():
                self.repo.mark_group_gone(group.id)
                self.repo.assign_to_group([r.id for r in message.added], None)
            for row in message.added:
                _settle(results, Retry(row.id, "the message it was added to was deleted", 0))
            return None, False
        if not isinstance(outcome, Delivered):
            return self._fail(involved, outcome, dead, kind, ident, results), dead
        for row in message.added:
            _settle(results, Delivered(row.id, group.remote_id))
        return None, False

    def _fail(
        self,
        rows: Sequence[OutboxRow],
        outcome: Outcome,
        dead: bool,
        kind: str,
        ident: int,
        results: dict[int, Outcome],
    ) -> Outcome:
        """Give every row of a failed request the request's outcome; return it (with a backoff set)."""
        first = rows[0]
        if isinstance(outcome, Retry) and outcome.after_ms is None:
            tried = first.attempts + (1 if outcome.counted else 0)
            outcome = Retry(
                first.id, outcome.error, backoff_ms(tried, self._rng, self.max_backoff_ms), outcome.counted
            )
        reported = {first.payload.get("rule_id")}
        for row in rows:
            if isinstance(outcome, Retry):
                # The rows after the first were in the same request: they were tried as much as it was.
                _settle(results, Retry(row.id, outcome.error, outcome.after_ms, outcome.counted))
            else:
                assert isinstance(outcome, Failed)
                _settle(results, Failed(row.id, outcome.error, outcome.dropped))
                if dead:
                    self._covered.add(row.id)  # told by the broken rule's notice
                if dead and row.payload.get("rule_id") not in reported:
                    # Every rule whose alert was in the message is broken by the same cause.
                    reported.add(row.payload.get("rule_id"))
                    self._mark_broken(row, kind, ident, outcome.error.partition(": ")[2] or outcome.error)
        return outcome

    def _mentions(
        self, group_kind: str, members: Sequence[OutboxRow]
    ) -> tuple[str | None, discord.AllowedMentions]:
        """Return the content and allowed mentions of a group's first send: its alerts' roles only."""
        if group_kind != "alerts" or any(m.payload.get("delivered_late") for m in members):
            # A late message pings nobody: the moment it was for has passed.
            return None, discord.AllowedMentions.none()
        roles = sorted({r for r in (pinged_role(m) for m in members) if r is not None})
        if not roles:
            return None, discord.AllowedMentions.none()
        # Only the rules' own roles may be pinged: never @everyone/@here, users or other roles, whatever
        # the note or title contain.
        mentions = discord.AllowedMentions(
            everyone=False, users=False, roles=[discord.Object(r) for r in roles], replied_user=False
        )
        return " ".join(f"<@&{r}>" for r in roles), mentions

    def _embed(
        self,
        group_kind: str,
        members: Sequence[OutboxRow],
        target: str,
        sources: dict[str, str | None],
        *,
        resolves: bool = True,
    ) -> discord.Embed:
        if group_kind == SINGLE:
            return self._single(members[0])
        events = [m.event_id for m in members if m.kind in ("alert", "fold") and m.event_id is not None]
        ended = self.repo.resolve_rows(events, self.name, target) if resolves else []
        return render_groups.message_embed(
            group_kind,
            render_groups.lines_of(members, ended),
            self._source_of(sources),
            cap=self.grouping.max_per_minute or None,
        )

    def _single(self, row: OutboxRow) -> discord.Embed:
        """Render a row that is a message of its own, never grouped (the large-liquidation feed's)."""
        if row.kind == LIQFEED_KIND:
            return render_liq.liqfeed_embed(row.payload)
        return render.ops_embed(row.payload)  # a kind this sink does not know: shown as a notice

    async def _chart(self, group_kind: str, members: Sequence[OutboxRow]) -> Attachment | None:
        """Return the chart of a message's first alert (charts on alerts), if it has one."""
        first = next((m for m in members if m.kind == "alert"), None)
        if group_kind != "alerts" or first is None:
            return None
        return await self._attachment(first)

    async def _send(
        self,
        kind: str,
        ident: int,
        content: str | None,
        embed: discord.Embed,
        mentions: discord.AllowedMentions,
        nonce: str,
        attachment: Attachment | None = None,
    ) -> str:
        destination = await self._messageable(kind, ident)
        extra: dict[str, Any] = {}
        if attachment is not None:
            # A fresh File each attempt (a retry re-reads it); attachment:// shows it inside the embed.
            embed.set_image(url=f"attachment://{attachment.filename}")
            extra["file"] = discord.File(io.BytesIO(attachment.data), filename=attachment.filename)
        message = await destination.send(
            content=content, embed=embed, allowed_mentions=mentions, nonce=nonce, **extra
        )
        return str(message.id)

    async def _send_single(self, kind: str, ident: int, row: OutboxRow, nonce: str) -> str:
        """Post a row that is a message of its own: a digest with its files, or the liquidation feed's."""
        destination = await self._messageable(kind, ident)
        if row.kind == DIGEST_KIND:
            embed, files = await digest_message(self.repo, row.payload)
            message = await destination.send(
                embed=mark(embed, nonce),
                files=files,
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=nonce,
            )
        else:
            message = await destination.send(
                embed=mark(self._single(row), nonce),
                allowed_mentions=discord.AllowedMentions.none(),
                nonce=nonce,
            )
        return str(message.id)

    async def _edit(self, kind: str, ident: int, message_id: str, embed: discord.Embed) -> str:
        destination = await self._messageable(kind, ident)
        # An edit never pings anyone again; the message keeps its content (its role mentions) as it was.
        await destination.get_partial_message(int(message_id)).edit(
            embed=embed, allowed_mentions=discord.AllowedMentions.none()
        )
        return message_id

    async def _attempt(
        self, row: OutboxRow, kind: str, ident: int, request: Awaitable[str]
    ) -> tuple[Outcome, bool]:
        """Run one request under the target's and the global pacing, and classify how it ended."""
        pacing = self._channel(row.target)
        async with pacing.lock, self._global.slot():
            try:
                remote_id = await request
            except _REQUEST_ERRORS as exc:
                if self.on_error is not None:
                    self.on_error(error_kind(exc))
                return self._failure(row, kind, ident, exc)
            except Exception as exc:
                if self.client.is_closed():
                    # The client was closed under the request (a shutdown that closed Discord first):
                    # aiohttp says "Session is closed". Not an attempt, and no bug to trace.
                    log.info("outbox %d: Discord closed during the request; it stays queued", row.id)
                    return Retry(
                        row.id, "Discord closed during the request", self.not_ready_retry_ms, False
                    ), False
                # A bug must not stop the other rows of the pass; the row is retried with a growing backoff
                # (it is logged each time, so the bug is seen) rather than looped on.
                log.exception("outbox %d: unexpected error while delivering to %s", row.id, row.target)
                return Retry(row.id, f"unexpected error: {type(exc).__name__}: {exc}"), False
        return Delivered(row.id, remote_id), False

    def _failure(self, row: OutboxRow, kind: str, ident: int, exc: Exception) -> tuple[Outcome, bool]:
        """Return how a request that failed with ``exc`` ends for ``row``, and whether its target broke."""
        if isinstance(exc, discord.Forbidden):
            return self._forbidden(row, kind, ident, exc), True
        if isinstance(exc, discord.NotFound):
            if exc.code == UNKNOWN_MESSAGE:
                return Failed(row.id, "Unknown Message: the message to edit was deleted"), False
            return self._not_found(row, kind, ident, exc), True
        if isinstance(exc, discord.RateLimited):
            # discord.py raises this instead of sleeping when Discord asks for a long wait.
            wait_ms = int(exc.retry_after * 1000) + 250
            # Waiting out a rate limit is not a failed attempt (developers/topics/rate-limits.mdx: wait
            # Retry-After, then try again).
            return Retry(row.id, f"rate limited for {exc.retry_after:.0f}s", wait_ms, counted=False), False
        if isinstance(exc, discord.DiscordServerError):
            return Retry(row.id, f"Discord server error {exc.status}"), False
        if isinstance(exc, discord.HTTPException):
            return self._http_error(row, exc), False
        return Retry(row.id, f"network error: {type(exc).__name__}: {exc}"), False

    def _source_of(self, sources: dict[str, str | None]) -> Callable[[str, Mapping[str, Any]], str | None]:
        def source_of(symbol: str, payload: Mapping[str, Any]) -> str | None:
            if symbol not in sources:
                sources[symbol] = self._source(symbol, payload)
            return sources[symbol]

        return source_of

    def _source(self, symbol: str, payload: Mapping[str, Any]) -> str | None:
        given = payload.get("source")
        if isinstance(given, str):
            return given
        intervals = self.repo.candle_intervals(symbol) if symbol else []
        if not intervals:
            return None
        newest = self.repo.latest_candles(symbol, intervals[0], 1)
        return newest[-1].source if newest else None

    # --- failures --------------------------------------------------------------------------------------

    def _forbidden(self, row: OutboxRow, kind: str, ident: int, exc: discord.Forbidden) -> Outcome:
        if exc.code == CANNOT_DM_USER:
            self._pause_for_closed_dms(row, ident)
            return Failed(
                row.id, f"DMs closed ({CANNOT_DM_USER}): the member does not accept direct messages"
            )
        reason = _BROKEN_CODES.get(exc.code, f"Discord refused access (403, code {exc.code})")
        self._mark_broken(row, kind, ident, reason)
        return Failed(row.id, f"no access ({exc.code}): {reason}")

    def _not_found(self, row: OutboxRow, kind: str, ident: int, exc: discord.NotFound) -> Outcome:
        if exc.code in (UNKNOWN_CHANNEL, UNKNOWN_USER) or kind == "channel":
            reason = _BROKEN_CODES.get(exc.code, f"Discord does not know the target (404, code {exc.code})")
            self._mark_broken(row, kind, ident, reason)
            return Failed(row.id, f"gone ({exc.code}): {reason}")
        return Failed(row.id, f"not found ({exc.code}): {exc.text}")

    def _http_error(self, row: OutboxRow, exc: discord.HTTPException) -> Outcome:
        if exc.status == 429:
            # discord.py gave up after its retries, or the 429 came without Discord's Via header (a proxy or
            # Cloudflare ban): wait a little and try again later.
            return Retry(row.id, "rate limited (429) after discord.py's retries", 5_000, counted=False)
        if exc.status == 401:
            log.error("Discord rejected the bot token (401) while delivering outbox %d", row.id)
            return Retry(row.id, "unauthorized (401): is the token still valid?", MINUTE_MS)
        if 400 <= exc.status < 500:
            # Our request was wrong (e.g. an embed over a limit): sending it again cannot help.
            log.error(
                "outbox %d: Discord refused the message (%d, code %s): %s",
                row.id,
                exc.status,
                exc.code,
                exc.text,
            )
            return Failed(row.id, f"refused ({exc.status}, code {exc.code}): {exc.text}")
        return Retry(row.id, f"HTTP {exc.status}: {exc.text}")

    def _mark_broken(self, row: OutboxRow, kind: str, ident: int, reason: str) -> None:
        self._covered.add(row.id)
        where = f"<#{ident}>" if kind == "channel" else f"a direct message to <@{ident}>"
        if row.kind == "ops":
            # Never report a failed report: that could loop. The log is the last resort.
            log.error("ops message %d could not be posted in %s: %s", row.id, where, reason)
            return
        if row.kind == DIGEST_KIND:
            with self.repo.transaction():
                text = switch_off_digest(self.repo, row, reason, self.now_ms())
                if text is not None:
                    self._tell_ops(row, where, text, None)
            return
        rule_id = row.payload.get("rule_id")
        rule = self.repo.rule(rule_id) if isinstance(rule_id, str) else None
        now = self.now_ms()
        log.warning("delivery of outbox %d to %s failed for good: %s", row.id, where, reason)
        if rule is None:
            # The rule was removed after this alert was queued; say so once per target.
            if ("", row.target) not in self._reported:
                self._reported.add(("", row.target))
                with self.repo.transaction():
                    self._tell_ops(row, where, f"An alert could not be delivered to {where}: {reason}.", None)
            return
        if rule.origin == "config" and rule.channel_id != ident:
            # A route of a config-file rule: the rule still posts elsewhere, so it stays on; say it once.
            if (rule.id, row.target) not in self._reported:
                self._reported.add((rule.id, row.target))
                with self.repo.transaction():
                    self._tell_ops(
                        row,
                        where,
                        f"Alerts of config rule `{rule.id}` cannot be posted in {where}: {reason}. Fix the "
                        "channel or its permissions, or change the route in the config file.",
                        rule.id,
                    )
            return
        if not rule.enabled:
            return  # already broken or paused: the ops channel was told when that happened
        with self.repo.transaction():
            self.repo.set_rule_enabled(rule.id, False, f"{BROKEN_PREFIX}{reason}", now)
            self._tell_ops(
                row,
                where,
                f"Alert `{rule.id}` ({rule.symbol}) is switched off: Tripwire cannot post in {where}, "
                f"because {reason}. Fix the channel or its permissions, then run `/alert resume {rule.id}`.",
                rule.id,
            )
        self.rules.refresh_rule(rule.id)

    def _tell_ops(self, row: OutboxRow, where: str, text: str, rule_id: str | None) -> None:
        guild_id = row.payload.get("guild_id")
        ops: int | None = None
        if isinstance(guild_id, int):
            settings = self.repo.guild_settings(guild_id)
            ops = settings.ops_channel_id if settings else None
        if ops is None:
            ops = self.ops_channel_id
        if ops is None or f"channel:{ops}" == row.target:
            log.error("no usable ops channel to report: %s", text)
            return
        self.repo.enqueue(
            event_id=None,
            sink=self.name,
            target=f"channel:{ops}",
            kind="ops",
            payload={
                "title": "An alert cannot be delivered",
                "text": text,
                "rule_id": rule_id,
                "guild_id": guild_id,
                "severity": "warning",
                "failed_outbox_id": row.id,
            },
            now=self.now_ms(),
        )

    def _pause_for_closed_dms(self, row: OutboxRow, user_id: int) -> None:
        self._covered.add(row.id)  # the member is told in the notice their paused alerts leave them
        log.info("user %s does not accept DMs (outbox %d)", user_id, row.id)
        refused = row.payload.get("rule_id")
        paused = pause_for_closed_dms(
            self.repo, user_id, self.now_ms(), refused if isinstance(refused, str) else None
        )
        for rule_id in paused:
            self.rules.refresh_rule(rule_id)
