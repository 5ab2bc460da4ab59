"""Notice that a member left a server when their next personal alert from it is about to be sent.

Discord only tells a bot that a member left (GUILD_MEMBER_REMOVE) when it has the privileged Server
Members intent, which Tripwire does not ask for by default. Without it, the sink asks Discord about the
member (``GET /guilds/{guild}/members/{user}``, which needs no intent) before each personal alert of a
server: Unknown Member (10007) or Unknown Guild (10004) means they are gone, so their personal alerts of
that server are paused and the DM is not sent. A member seen a moment ago is not asked about again for
``ttl_s``, so a burst of alerts costs one request. Anything else (a timeout, a 5xx, missing access) cannot
tell, and the alert is delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiohttp
import discord

from bot.alerts.model import RuleRefresher
from bot.alerts.personal import pause_for_departure
from bot.notify.outbox import Failed
from storage.repo import OutboxRow, Repo

log = logging.getLogger(__name__)

UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007


class MemberCheck:
    """Tell whether the owner of a personal alert is still in the alert's server."""

    def __init__(
        self,
        client: discord.Client,
        repo: Repo,
        rules: RuleRefresher,
        now_ms: Callable[[], int],
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.repo = repo
        self.rules = rules
        self.now_ms = now_ms
        self.ttl_s = ttl_s
        self.clock = clock
        self._seen: dict[tuple[int, int], float] = {}

    async def departed(self, row: OutboxRow, user_id: int) -> Failed | None:
        """Return a Failed outcome (after pausing their rules) when the DM's owner left its server."""
        guild_id = row.payload.get("guild_id")
        if row.kind not in ("alert", "fold") or not isinstance(guild_id, int):
            return None
        key = (guild_id, user_id)
        seen = self._seen.get(key)
        if seen is not None and self.clock() - seen < self.ttl_s:
            return None
        try:
            await self.client.http.get_member(guild_id, user_id)
        except discord.NotFound as exc:
            if exc.code not in (UNKNOWN_MEMBER, UNKNOWN_GUILD):
                return None
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.debug("cannot tell whether user %s is still in guild %s: %s", user_id, guild_id, exc)
            return None
        else:
            self._seen[key] = self.clock()
            return None
        self._seen.pop(key, None)
        for rule_id in pause_for_departure(self.repo, guild_id, user_id, self.now_ms()):
            self.rules.refresh_rule(rule_id)
        return Failed(
            row.id, f"the member left the server {guild_id}; their personal alerts there are paused"
        )
