"""Post alert events to the operator's ``[[webhooks_out]]`` URLs, signed, through the durable outbox.

Each outbox row is one alert event (firing or resolved) for one configured hook (the row's target is the
hook's name). A row is marked delivered only after the receiver answered 2xx, so a crash between its answer
and the database's record re-sends it, with the same body and the same ``Idempotency-Key``: a receiver that
keeps the keys it has seen processes each event exactly once (docs/webhooks.md). Each attempt is signed
afresh (HMAC-SHA256 over ``"<timestamp>." + body``), so a receiver can refuse replays of old requests.

Answers: 2xx delivered; 408, 425, 429 (its Retry-After honoured) and 5xx, a timeout or a connection error
retried with the outbox's backoff for as long as it takes; any other 4xx is the receiver refusing the
request for good (a wrong URL, a rejected signature) and ends the row as failed. Hooks are posted to
concurrently, each hook's rows in order, so one slow receiver never holds back another or Discord for
longer than its timeout. URLs and secrets are never logged: a hook is named by its name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from bot.alerts.model import WEBHOOK_SINK
from bot.config import WebhookOutConfig
from bot.notify.outbox import Delivered, Failed, Outcome, Retry
from bot.notify.webhook_payloads import Format, body, signed_headers
from storage.repo import OutboxRow

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
# The longest Retry-After honoured; a receiver asking for more is tried again after this long.
MAX_RETRY_AFTER_MS = 600_000


@dataclass(frozen=True, slots=True)
class Hook:
    """One configured receiver, its secret read (from the environment or a file) at start."""

    name: str
    url: str
    fmt: Format
    secret: bytes
    timeout_s: float

    @classmethod
    def from_config(cls, config: WebhookOutConfig) -> Hook:
        """Build a hook from its config, reading its secret (ConfigError when it is missing)."""
        return cls(config.name, config.url, config.format, config.secret(), config.timeout_seconds)


class WebhookSink:
    """Deliver outbox rows of the ``webhook`` sink as signed POSTs."""

    name = WEBHOOK_SINK

    def __init__(self, hooks: Sequence[Hook], wall_s: Callable[[], float] = time.time) -> None:
        self.hooks = {hook.name: hook for hook in hooks}
        # Signatures carry wall-clock time whatever clock the pipeline runs on (a replay's is simulated).
        self.wall_s = wall_s

    @classmethod
    def from_config(cls, configs: Sequence[WebhookOutConfig]) -> WebhookSink:
        """Build the sink of the ``[[webhooks_out]]`` entries, reading every secret now."""
        return cls([Hook.from_config(config) for config in configs])

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Post each row to its hook; hooks concurrently, each hook's rows in order."""
        by_hook: dict[str, list[OutboxRow]] = {}
        for row in rows:
            by_hook.setdefault(row.target, []).append(row)
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(
                *(self._deliver_to(session, target, hook_rows) for target, hook_rows in by_hook.items())
            )
        return [outcome for outcomes in results for outcome in outcomes]

    async def _deliver_to(
        self, session: aiohttp.ClientSession, target: str, rows: list[OutboxRow]
    ) -> list[Outcome]:
        hook = self.hooks.get(target)
        if hook is None:
            # A hook removed from the config since the row was queued: nowhere to send it.
            return [Failed(row.id, f"no [[webhooks_out]] named {target!r} any more") for row in rows]
        outcomes: list[Outcome] = []
        for row in rows:
            outcome = await self._post(session, hook, row)
            outcomes.append(outcome)
            if not isinstance(outcome, Delivered):
                # Keep the hook's order: the rows behind one that must wait wait too, uncounted.
                outcomes += [
                    Retry(later.id, "waiting behind an earlier event", counted=False)
                    for later in rows[len(outcomes) :]
                ]
                break
        return outcomes

    async def _post(self, session: aiohttp.ClientSession, hook: Hook, row: OutboxRow) -> Outcome:
        if row.event_id is None:
            return Failed(row.id, "not an alert event", dropped=True)
        data = body(row.payload, hook.fmt, hook.name)
        headers = signed_headers(hook.secret, int(self.wall_s()), data, row.event_id)
        try:
            async with session.post(
                hook.url,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=hook.timeout_s),
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"webhook {hook.name}: {type(exc).__name__}"
            log.warning("%s; event %d will be retried", error, row.event_id)
            return Retry(row.id, error)
        if 200 <= status < 300:
            return Delivered(row.id, str(status))
        error = f"webhook {hook.name}: HTTP {status}"
        if status in RETRIED_STATUSES or status >= 500:
            log.warning("%s; event %d will be retried", error, row.event_id)
            return Retry(row.id, error, after_ms=_retry_after_ms(retry_after))
        log.error("%s; the receiver refused event %d for good", error, row.event_id)
        return Failed(row.id, error)


def _retry_after_ms(value: str | None) -> int | None:
    """Return a Retry-After in seconds as ms (capped), or None for the outbox's own backoff."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare from webhook receivers; the backoff is as good
    if seconds != seconds or seconds < 0:
        return None
    return min(int(seconds * 1000), MAX_RETRY_AFTER_MS)
