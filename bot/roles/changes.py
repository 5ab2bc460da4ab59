"""What a process does when another one changed a rule, a silence or a server's settings (storage.changes).

The repository publishes every such change on PostgreSQL; these handlers apply what each role keeps in
memory. A Discord cluster keeps only the servers' settings (the repository's cache) and wakes its delivery
when rows were queued; the market role's engine also reloads a changed rule. Silences need nothing: the
engine reads the active ones again at every evaluation pass (``Engine._active_silences``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.alerts.model import RuleRefresher
from storage.changes import OUTBOX_QUEUED, RESYNC, RULE, SETTINGS, Change
from storage.repo import Repo

log = logging.getLogger(__name__)


def cluster_handler(repo: Repo, wake_delivery: Callable[[], None]) -> Callable[[Change], None]:
    """Return the handler of a Discord cluster: forget changed settings, deliver queued rows now."""

    def handle(change: Change) -> None:
        if change.kind == SETTINGS and change.key is not None:
            repo.forget_guild_settings(int(change.key))
        elif change.kind == RESYNC:
            repo.forget_guild_settings()
            wake_delivery()
        elif change.kind == OUTBOX_QUEUED:
            wake_delivery()

    return handle


def engine_handler(
    repo: Repo, engine: RuleRefresher, loaded: Callable[[], list[str]]
) -> Callable[[Change], None]:
    """Return the market role's handler: reload a changed rule; after a resync, every rule.

    ``loaded`` returns the ids of the rules the engine holds, so a rule deleted while the listener was
    away is dropped too.
    """

    def handle(change: Change) -> None:
        if change.kind == RULE and change.key is not None:
            engine.refresh_rule(change.key)
        elif change.kind == SETTINGS and change.key is not None:
            repo.forget_guild_settings(int(change.key))
        elif change.kind == RESYNC:
            repo.forget_guild_settings()
            ids = {row.id for row in repo.rules()} | set(loaded())
            log.info("change listener reconnected: reloading %d rules", len(ids))
            for rule_id in sorted(ids):
                engine.refresh_rule(rule_id)

    return handle
