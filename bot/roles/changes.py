"""What a process does when another one changed a rule, a silence, a setting or a digest (storage.changes).

The repository publishes every such change on PostgreSQL; these handlers apply what each role keeps in
memory. A Discord cluster keeps only the servers' settings (the repository's cache) and wakes its delivery
when rows were queued; the market role's engine also reloads a changed rule, its scheduler rebuilds a
changed digest's job, and its large-liquidation feed reloads a server's changed feed. Silences need
nothing: the engine reads the active ones again at every evaluation pass (``Engine._active_silences``).

The market role wires all of its own in one call: ``ChangeListener(url, market_handler(...))``.
The single process (``tripwire run``) needs none of them: every change is made by its own services, which
apply it to its engine, scheduler and feed as they write it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.alerts.model import RuleRefresher
from bot.digests.jobs import DigestJobs
from bot.liqfeed.settings import FeedRuntime, LiqFeedService, reload_feeds
from storage.changes import DIGEST, LIQFEED, OUTBOX_QUEUED, RESYNC, RULE, SETTINGS, Change
from storage.repo import Repo

log = logging.getLogger(__name__)

Handler = Callable[[Change], None]


def cluster_handler(repo: Repo, wake_delivery: Callable[[], None]) -> Handler:
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


def engine_handler(repo: Repo, engine: RuleRefresher, loaded: Callable[[], list[str]]) -> Handler:
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


def digest_handler(jobs: DigestJobs) -> Handler:
    """Return the scheduler's handler: rebuild a changed digest's job; after a resync, every job."""

    def handle(change: Change) -> None:
        if change.kind == DIGEST and change.key is not None:
            jobs.refresh(int(change.key))
        elif change.kind == RESYNC:
            jobs.resync()

    return handle


def liqfeed_handler(service: LiqFeedService, feed: FeedRuntime) -> Handler:
    """Return the large-liquidation feed's handler: reload a server's feed; after a resync, every one."""

    def handle(change: Change) -> None:
        if change.kind == LIQFEED and change.key is not None:
            guild_id = int(change.key)
            # The writer's transaction committed, but this Repo may hold the settings cached from before.
            service.repo.forget_guild_settings(guild_id)
            feed.feed_changed(guild_id, service.settings(guild_id))
        elif change.kind == RESYNC:
            reload_feeds(service, feed)

    return handle


def combined(*handlers: Handler) -> Handler:
    """Return one handler running each of ``handlers`` in turn (one failing does not stop the others)."""

    def handle(change: Change) -> None:
        for handler in handlers:
            try:
                handler(change)
            except Exception:
                log.exception("handling %s failed in %s", change, getattr(handler, "__qualname__", handler))

    return handle


def market_handler(
    repo: Repo,
    engine: RuleRefresher,
    loaded: Callable[[], list[str]],
    *,
    digests: DigestJobs | None = None,
    liqfeed: tuple[LiqFeedService, FeedRuntime] | None = None,
) -> Handler:
    """Return all the market role applies: rules (``engine_handler``), digests' jobs, liquidation feeds.

    ``digests`` is the scheduler's ``DigestJobs`` and ``liqfeed`` the /liqfeed service with the running
    feed (``build_liquidation_feed``'s pair, feed first there); leave either out where that part is off.
    """
    handlers = [engine_handler(repo, engine, loaded)]
    if digests is not None:
        handlers.append(digest_handler(digests))
    if liqfeed is not None:
        handlers.append(liqfeed_handler(*liqfeed))
    return combined(*handlers)
