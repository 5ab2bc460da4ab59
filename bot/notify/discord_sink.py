"""Deliver outbox rows to Discord channels (``channel:<id>``) and direct messages (``user:<id>``).

* **Once**: every send carries a nonce derived from the outbox row, and discord.py sets ``enforce_nonce``,
  so a row re-sent after a crash (sent, but not yet marked delivered) makes Discord return the message it
  already created instead of posting a second one.
* **Paced**: at most one send in flight per channel, no more than Discord's documented 5 messages per 5 s
  per channel, and a global ceiling below Discord's 50 requests/s. discord.py also waits out its buckets
  when ``X-RateLimit-Remaining`` reaches 0, but only after it has learnt them from a response; pacing here
  keeps a burst (a cascade across many symbols) from ever meeting a 429.
* **Classified**: transient failures (5xx, timeouts, a 429 discord.py gave up on) become ``Retry``;
  permanent ones become ``Failed``. A channel that is gone (10003) or that the bot may no longer use
  (50001, 50013) marks the rule broken (disabled with the reason) and tells the guild's ops channel once,
  instead of retrying forever. Closed DMs (50007) pause the member's personal alerts and leave them a
  notice (``bot.personal``); a personal alert whose owner left its server is not sent (``member_check``).
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
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import discord.abc

from bot.digests.posting import DIGEST_KIND
from bot.discord import render, render_liq
from bot.liqfeed import LIQFEED_KIND
from bot.notify.alert_charts import Attachment, AttachmentHook
from bot.notify.digest_delivery import digest_message, switch_off_digest
from bot.notify.member_check import MemberCheck
from bot.notify.outbox import Delivered, Failed, Outcome, Retry, backoff_ms
from bot.personal import pause_for_closed_dms
from bot.service import BROKEN_PREFIX, RuleRefresher
from storage.repo import OutboxRow, Repo

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
# Discord accepts a nonce of at most 25 characters.
NONCE_LIMIT = 25
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int) -> str:
    digits = ""
    value = abs(value)
    while True:
        value, rest = divmod(value, 36)
        digits = _BASE36[rest] + digits
        if value == 0:
            return digits


def nonce_for(row: OutboxRow) -> str:
    """Return the message nonce of an outbox row: stable across retries, unique across databases' ids."""
    # The creation time keeps two databases (or a recreated one) whose ids restart at 1 from sharing a
    # nonce within Discord's deduplication window.
    return f"tw{row.id}.{_base36(row.created_at)}"[:NONCE_LIMIT]


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``limit`` sends per ``per`` seconds."""

    limit: int
    per: float


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
    """Pacing state of one delivery target: one send at a time, within the per-channel rate."""

    def __init__(self, rate: Rate) -> None:
        self.lock = asyncio.Lock()
        self.window = SlidingWindow(rate)


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
        channel_rate: Rate = Rate(5, 5.0),
        global_rate: Rate = Rate(40, 1.0),
        ready_timeout_s: float = 30.0,
        not_ready_retry_ms: int = 5_000,
        attachments: AttachmentHook | None = None,
    ) -> None:
        self.client = client
        self.repo = repo
        self.rules = rules
        self.now_ms = now_ms
        self.ops_channel_id = ops_channel_id
        self.channel_rate = channel_rate
        self.ready_timeout_s = ready_timeout_s
        self.not_ready_retry_ms = not_ready_retry_ms
        self._global = SlidingWindow(global_rate)
        self._channels: dict[str, _Channel] = {}
        self._reported: set[tuple[str, str]] = set()
        self._rng = random.Random()
        # Asked for a file (an alert's chart) before each alert is posted; see bot.notify.alert_charts.
        self.attachments = attachments
        self.members = MemberCheck(client, repo, rules, now_ms)

    # --- the Sink protocol ---------------------------------------------------------------------------

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Send each row to its channel or DM; targets in parallel, each target's rows in order."""
        if not await self._ready():
            return [Retry(r.id, "Discord is not connected yet", self.not_ready_retry_ms) for r in rows]
        by_target: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_target.setdefault(row.target, []).append(row)
        results: dict[int, Outcome] = {}
        sources: dict[str, str | None] = {}
        await asyncio.gather(
            *(self._deliver_target(target, batch, results, sources) for target, batch in by_target.items())
        )
        return [results[row.id] for row in rows]

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
        kind, _, raw_id = target.partition(":")
        if kind not in ("channel", "user") or not raw_id.isdigit():
            for row in rows:
                log.error(
                    "outbox %d: cannot deliver to %r (expected channel:<id> or user:<id>)", row.id, target
                )
                results[row.id] = Failed(row.id, f"bad Discord target {target!r}")
            return
        dead: str | None = None
        waiting: Retry | None = None
        sent: dict[int, tuple[OutboxRow, str]] = {}
        for row in rows:
            if dead is not None:
                # The target failed permanently a moment ago: don't knock on the same door again.
                results[row.id] = Failed(row.id, dead)
                continue
            if waiting is not None:
                # Keep a channel's alerts in order: the rows behind one that must wait become due with it
                # (the dispatcher sends due rows oldest first).
                results[row.id] = Retry(
                    row.id, f"waiting behind outbox {waiting.outbox_id}", waiting.after_ms
                )
                continue
            outcome, target_dead = await self._deliver_row(kind, int(raw_id), row, sources, sent)
            if target_dead:
                dead = outcome.error if isinstance(outcome, Failed) else "target unusable"
            elif isinstance(outcome, Retry):
                if outcome.after_ms is None:
                    outcome = Retry(row.id, outcome.error, backoff_ms(row.attempts + 1, self._rng))
                waiting = outcome
            elif isinstance(outcome, Delivered) and outcome.remote_id is not None:
                sent[row.id] = (row, outcome.remote_id)
            results[row.id] = outcome

    # --- sending ---------------------------------------------------------------------------------------

    def _channel(self, target: str) -> _Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = self._channels[target] = _Channel(self.channel_rate)
        return channel

    async def _messageable(self, kind: str, ident: int) -> discord.PartialMessageable | discord.DMChannel:
        if kind == "channel":
            # A partial messageable needs no cache: it posts to /channels/{id}/messages, which is all a
            # send needs, and keeps working while the gateway reconnects and the cache is rebuilt.
            return self.client.get_partial_messageable(ident)
        return await self.client.create_dm(discord.Object(ident))

    async def _deliver_row(
        self,
        kind: str,
        ident: int,
        row: OutboxRow,
        sources: dict[str, str | None],
        sent: Mapping[int, tuple[OutboxRow, str]],
    ) -> tuple[Outcome, bool]:
        """Deliver one row; return its outcome and whether the target itself is unusable for good."""
        if row.kind == DIGEST_KIND:
            return await self._attempt(row, kind, ident, self._post_digest(kind, ident, row))
        if kind == "user":
            async with self._global.slot():
                departed = await self.members.departed(row, ident)
            if departed is not None:
                return departed, False
        try:
            if row.kind == "fold":
                parent = self._fold_parent(row, sent)
                if isinstance(parent, Retry):
                    return parent, False
                if parent is not None:
                    outcome = await self._attempt(
                        row, kind, ident, self._fold(kind, ident, row, parent, sources, sent)
                    )
                    if not (isinstance(outcome[0], Failed) and "Unknown Message" in outcome[0].error):
                        return outcome
                    # The message it folds into was deleted: post the alert on its own instead.
            content, embed, mentions = self._render(row, sources)
        except Exception:
            log.exception("outbox %d: cannot render payload of kind %s", row.id, row.kind)
            return Failed(row.id, "payload cannot be rendered"), False
        # Drawn before taking the channel's turn, so a slow chart never holds up another alert's send.
        attachment = await self._attachment(row)
        return await self._attempt(
            row, kind, ident, self._post(kind, ident, row, content, embed, mentions, attachment)
        )

    async def _attachment(self, row: OutboxRow) -> Attachment | None:
        if self.attachments is None:
            return None
        try:
            return await self.attachments(row)
        except Exception:
            # An extra must never cost the alert itself.
            log.exception("outbox %d: the attachment hook failed; posting without it", row.id)
            return None

    async def _post(
        self,
        kind: str,
        ident: int,
        row: OutboxRow,
        content: str | None,
        embed: discord.Embed,
        mentions: discord.AllowedMentions,
        attachment: Attachment | None = None,
    ) -> str:
        destination = await self._messageable(kind, ident)
        extra: dict[str, Any] = {}
        if attachment is not None:
            # A fresh File each attempt (a retry re-reads it); attachment:// shows it inside the embed.
            embed.set_image(url=f"attachment://{attachment.filename}")
            extra["file"] = discord.File(io.BytesIO(attachment.data), filename=attachment.filename)
        message = await destination.send(
            content=content, embed=embed, allowed_mentions=mentions, nonce=nonce_for(row), **extra
        )
        return str(message.id)

    async def _post_digest(self, kind: str, ident: int, row: OutboxRow) -> str:
        embed, files = await digest_message(self.repo, row.payload)
        destination = await self._messageable(kind, ident)
        message = await destination.send(
            embed=embed, files=files, allowed_mentions=discord.AllowedMentions.none(), nonce=nonce_for(row)
        )
        return str(message.id)

    async def _fold(
        self,
        kind: str,
        ident: int,
        row: OutboxRow,
        parent: tuple[OutboxRow, str],
        sources: dict[str, str | None],
        sent: Mapping[int, tuple[OutboxRow, str]],
    ) -> str:
        """Edit the parent alert's message to list this folded alert with those folded before it."""
        parent_row, message_id = parent
        parent_event = parent_row.event_id
        assert parent_event is not None
        earlier = [r.payload for r in self.repo.delivered_folds(parent_event, self.name, row.target)]
        earlier += [
            r.payload
            for r, _ in sent.values()
            if r.kind == "fold" and r.payload.get("parent_event_id") == parent_event
        ]
        symbol = str(parent_row.payload.get("symbol") or "")
        if symbol not in sources:
            sources[symbol] = self._source(symbol, parent_row.payload)
        embed = render.alert_embed(parent_row.payload, sources[symbol], folded=[*earlier, row.payload])
        destination = await self._messageable(kind, ident)
        # An edit never pings anyone again; the parent keeps its content (its role mention) as it was.
        await destination.get_partial_message(int(message_id)).edit(
            embed=embed, allowed_mentions=discord.AllowedMentions.none()
        )
        return message_id

    def _fold_parent(
        self, row: OutboxRow, sent: Mapping[int, tuple[OutboxRow, str]]
    ) -> tuple[OutboxRow, str] | Retry | None:
        """Return the parent alert's row and message id, a Retry while it is unsent, or None to post alone."""
        parent_event = row.payload.get("parent_event_id")
        if not isinstance(parent_event, int):
            return None
        parent = self.repo.event_delivery(parent_event, self.name, row.target)
        if parent is None or parent.status in ("failed", "dropped"):
            return None
        if parent.id in sent:
            return sent[parent.id]
        if parent.status == "pending":
            return Retry(row.id, f"waiting for outbox {parent.id}, the alert it folds into", 2_000)
        return (parent, parent.remote_id) if parent.remote_id else None

    async def _attempt(
        self, row: OutboxRow, kind: str, ident: int, request: Awaitable[str]
    ) -> tuple[Outcome, bool]:
        """Run one request under the target's and the global pacing, and classify how it ended."""
        pacing = self._channel(row.target)
        async with pacing.lock, pacing.window.slot(), self._global.slot():
            try:
                remote_id = await request
            except discord.Forbidden as exc:
                return self._forbidden(row, kind, ident, exc), True
            except discord.NotFound as exc:
                if exc.code == UNKNOWN_MESSAGE:
                    return Failed(row.id, "Unknown Message: the message to edit was deleted"), False
                return self._not_found(row, kind, ident, exc), True
            except discord.RateLimited as exc:
                # discord.py raises this instead of sleeping when Discord asks for a long wait.
                wait_ms = int(exc.retry_after * 1000) + 250
                return Retry(row.id, f"rate limited for {exc.retry_after:.0f}s", wait_ms), False
            except discord.DiscordServerError as exc:
                return Retry(row.id, f"Discord server error {exc.status}"), False
            except discord.HTTPException as exc:
                return self._http_error(row, exc), False
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                return Retry(row.id, f"network error: {type(exc).__name__}: {exc}"), False
            except Exception as exc:
                # A bug must not stop the other rows of the pass; the dispatcher gives up on this one after
                # its retries instead of looping on it.
                log.exception("outbox %d: unexpected error while delivering to %s", row.id, row.target)
                return Retry(row.id, f"unexpected error: {type(exc).__name__}: {exc}"), False
        return Delivered(row.id, remote_id), False

    def _render(
        self, row: OutboxRow, sources: dict[str, str | None]
    ) -> tuple[str | None, discord.Embed, discord.AllowedMentions]:
        payload = row.payload
        if row.kind == "ops":
            return None, render.ops_embed(payload), discord.AllowedMentions.none()
        if row.kind == LIQFEED_KIND:
            return None, render_liq.liqfeed_embed(payload), discord.AllowedMentions.none()
        symbol = str(payload.get("symbol") or "")
        if symbol not in sources:
            sources[symbol] = self._source(symbol, payload)
        embed = render.alert_embed(payload, sources[symbol])
        role_id = payload.get("role_id")
        if row.kind == "alert" and isinstance(role_id, int) and role_id != payload.get("guild_id"):
            # Only the rule's own role may be pinged: never @everyone/@here, users or other roles, whatever
            # the note or title contain.
            mentions = discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(role_id)], replied_user=False
            )
            return f"<@&{role_id}>", embed, mentions
        return None, embed, discord.AllowedMentions.none()

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
            return Retry(row.id, "rate limited (429) after discord.py's retries", 5_000)
        if exc.status == 401:
            log.error("Discord rejected the bot token (401) while delivering outbox %d", row.id)
            return Retry(row.id, "unauthorized (401): is the token still valid?", 60_000)
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
        log.info("user %s does not accept DMs (outbox %d)", user_id, row.id)
        refused = row.payload.get("rule_id")
        paused = pause_for_closed_dms(
            self.repo, user_id, self.now_ms(), refused if isinstance(refused, str) else None
        )
        for rule_id in paused:
            self.rules.refresh_rule(rule_id)
