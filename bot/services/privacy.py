"""What /privacy does: show a member what Tripwire stores about them, delete it, and hand out notices.

Plain Python (no ``import discord``), returning frozen views like ``bot.services``. What is "about" a
member:
their personal (DM) rules with their alert history and direct messages, notices owed to them, and their
user id on things they created for a server (server alerts and the copies of them their past alerts keep,
digests, silences, the liquidation feed's "set by"). Deleting removes the first
group and clears the id from the second: a server's alerts and digests keep running for the server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.alerts.model import RuleRefresher
from bot.alerts.personal import FORGOTTEN_REASON, pause_for_departure
from storage.repo import Repo, RuleRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """One rule as /privacy lists it."""

    id: str
    guild_id: int | None
    symbol: str
    detector: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class PrivacyView:
    """What is stored about one user."""

    user_id: int
    personal_rules: tuple[StoredRule, ...]
    created_rules: tuple[StoredRule, ...]
    personal_events: int
    dm_deliveries: int
    notices: int
    digests_created: int
    silences_created: int
    liqfeeds_set: int
    server_events_naming: int

    @property
    def empty(self) -> bool:
        """Return whether nothing at all is stored about the user."""
        return not (
            self.personal_rules
            or self.created_rules
            or self.personal_events
            or self.dm_deliveries
            or self.notices
            or self.digests_created
            or self.silences_created
            or self.liqfeeds_set
            or self.server_events_naming
        )


@dataclass(frozen=True, slots=True)
class ForgetView:
    """What deleting a user's data removed (rows per kind) and which ids were cleared."""

    user_id: int
    deleted: Mapping[str, int]
    rules_removed: tuple[str, ...]

    @property
    def total(self) -> int:
        """Return the number of rows deleted or changed."""
        return sum(self.deleted.values())


class PrivacyService:
    """Report and delete what is stored about a member, and give out the notices owed to them."""

    def __init__(self, repo: Repo, engine: RuleRefresher, now_ms: Callable[[], int]) -> None:
        self.repo = repo
        self.engine = engine
        self.now_ms = now_ms

    def report(self, user_id: int) -> PrivacyView:
        """Return what the database holds about ``user_id``."""
        data = self.repo.member_data(user_id)

        def stored(rows: list[RuleRow]) -> tuple[StoredRule, ...]:
            return tuple(StoredRule(r.id, r.guild_id, r.symbol, r.detector, r.enabled) for r in rows)

        return PrivacyView(
            user_id=user_id,
            personal_rules=stored(data.personal_rules),
            created_rules=stored(data.created_rules),
            personal_events=data.personal_events,
            dm_deliveries=data.dm_deliveries,
            notices=data.notices,
            digests_created=data.digests_created,
            silences_created=data.silences_created,
            liqfeeds_set=data.liqfeeds_set,
            server_events_naming=data.server_events_naming,
        )

    def forget(self, user_id: int) -> ForgetView:
        """Delete everything stored about ``user_id`` (see the module docstring) and tell the engine."""
        with self.repo.transaction():
            removed, unowned, counts = self.repo.forget_member(user_id, FORGOTTEN_REASON)
        # The rules that stay are reloaded too: the engine's copy still names the member.
        for rule_id in [*removed, *unowned]:
            self.engine.refresh_rule(rule_id)
        log.info("deleted the data of user %s: %s", user_id, counts)
        return ForgetView(user_id, dict(counts), tuple(removed))

    def member_left(self, guild_id: int, user_id: int) -> list[str]:
        """Pause a member's personal alerts of a server they left (their data stays until /privacy)."""
        paused = pause_for_departure(self.repo, guild_id, user_id, self.now_ms())
        for rule_id in paused:
            self.engine.refresh_rule(rule_id)
        return paused

    def pending_notices(self, user_id: int) -> list[tuple[int, str]]:
        """Return the (id, text) of the notices owed to ``user_id``, oldest first."""
        return [(n.id, n.text) for n in self.repo.notices(user_id)]

    def notices_shown(self, ids: list[int]) -> None:
        """Forget notices once the member has seen them, so each is shown once."""
        with self.repo.transaction():
            self.repo.delete_notices(ids)
