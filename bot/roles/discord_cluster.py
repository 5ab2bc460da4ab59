"""``tripwire run --role discord --shards A-B --shard-count N``: a cluster of gateway shards in one process.

The cluster answers the commands of its shards' guilds (Discord sends each shard only its guilds' events,
and shard 0 the direct messages) and delivers the outbox rows of those guilds, and for shard 0 the direct
messages (storage.shards). It runs no feeds and no engine: the market role decides alerts and queues them;
the cluster only reads and writes the database as commands ask, and posts.

- **Who delivers a row.** Each shard of the cluster is a PostgreSQL advisory lease (storage.lease) held for
  as long as the cluster runs. A second cluster started for the same shards (a replacement, a mistake)
  waits until the first's session ends, which PostgreSQL sees by itself when that process dies, so two
  processes never post the same guilds' rows. The rows are claimed ``FOR UPDATE SKIP LOCKED`` filtered by
  the shards (``Repo.claim_due_outbox``), and sent by the same ``DiscordSink`` as the single process, so a
  row interrupted by a crash is re-sent by the replacement with its nonce, after looking for the message
  first past Discord's nonce window (bot.notify.discord.adoption): nothing is posted twice.
- **What a command changes** (a rule, a silence, a setting) is written to the database, whose NOTIFY tells
  the market role's engine and the other clusters (storage.changes); ``refresh_rule`` here has nothing of
  its own to reload.
- **Feed health** in /status is the market role's latest report in the database, shown with its age and
  writer (bot.services.feed_report): the feeds run there.
- **The market history** the services read for warm-up lines, and the venues' instrument lists by which
  commands read a venue's own name for a market, are rebuilt from the database (bot.roles.history_follower
  says why that is enough).
- **The global REST limit** is shared through Redis when ``[discord] shared_rate_url`` is set
  (bot.notify.shared_limit); without it each cluster keeps its own window of ``global_rate_per_s``.
- **Slash commands** are registered by the cluster holding shard 0 only: they are the application's, not a
  shard's, and one registration is enough.

PostgreSQL only: on SQLite one process holds every shard, which ``tripwire run`` (``--role all``) does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.app import LISTEN_TIMEOUT_S, LIVE_BUSY_TIMEOUT_MS
from bot.config import Config, Secrets, shown_database
from bot.errors import UserError
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher
from bot.ops.gateway import close_discord, connect_discord, run_until_stopped, serve_until_stopped
from bot.ops.shutdown import Shutdown, cancel_and_wait
from bot.roles.changes import cluster_handler
from bot.roles.history_follower import HistoryFollower
from bot.services import Service
from bot.services.feed_report import StoredFeedHealth
from detectors.liqmap.params import use_params
from detectors.market_history import MarketHistory
from feeds.base import system_now_ms
from feeds.instrument_fetch import list_venues
from storage.changes import RESYNC, Change, ChangeListener
from storage.db import open_database
from storage.lease import AdvisoryLease, SharedCountLease
from storage.pg_url import is_postgres_url
from storage.repo import Repo
from storage.shards import ShardSlice

log = logging.getLogger(__name__)

# Where the clusters' shared window lives in Redis (one bot per Redis database).
SHARED_RATE_KEY = "tripwire:discord:global-rate"
# How often the shard leases are checked while running, and retried while another cluster holds one.
LEASE_CHECK_SECONDS = 2.0
# Held shared by every cluster with its shard count: clusters of two counts never run at once.
SHARD_COUNT_LEASE = "discord-shard-count"


class RemoteRules:
    """The engine as a cluster sees it: in another process, told of rule changes by the database."""

    def refresh_rule(self, rule_id: str) -> None:
        """Do nothing: the write already published the change (storage.changes) to the market role."""


def shard_lease_name(shard_id: int, count: int) -> str:
    """Return the lease that makes one shard's rows one cluster's."""
    return f"discord-shard-{shard_id}-of-{count}"


def require_postgres(config: Config) -> str:
    """Return the database URL, or raise a UserError saying clusters need PostgreSQL."""
    url = str(config.storage.database)
    if not is_postgres_url(url):
        raise UserError(
            '--role discord needs PostgreSQL ([storage] url = "postgresql://..."): Discord clusters share'
            f" one database, and {shown_database(config.storage.database)} is SQLite, which one process"
            " serves alone. Run `tripwire run` without --role for a single process holding every shard."
        )
    return url


@dataclass(slots=True)
class ClusterParts:
    """What a started cluster is made of (for tests)."""

    repo: Repo
    service: Service
    bot: Any
    dispatcher: OutboxDispatcher
    listener: ChangeListener
    leases: list[AdvisoryLease]


class DiscordCluster:
    """Gateway shards ``shards`` of the bot in one process: commands and deliveries of their guilds."""

    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        shards: ShardSlice,
        *,
        token: str,
        now_ms: Callable[[], int] = system_now_ms,
        discord_options: dict[str, Any] | None = None,
        shutdown: Shutdown | None = None,
        lease_wait_seconds: float = LEASE_CHECK_SECONDS,
    ) -> None:
        self.url = require_postgres(config)
        self.config = config
        self.secrets = secrets
        self.shards = shards
        self.token = token
        self.now_ms = now_ms
        self.discord_options = discord_options or {}
        self.shutdown = shutdown or Shutdown()
        self.lease_wait_seconds = lease_wait_seconds
        self.parts: ClusterParts | None = None
        self.ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.lost_lease = False

    async def start(self) -> ClusterParts:
        """Take the shards' leases, then build and connect the cluster; return its parts once ready."""
        started = time.monotonic()
        # /liqmap models with the config's [liqmap], as the market role's detectors do (and bot.app).
        use_params(self.config.liqmap)
        leases = await self._take_leases()
        repo = Repo(open_database(self.url))
        # As in the single process: a command's or a delivery's write waiting on a row the market role
        # holds may stall the event loop (and the gateway heartbeats) only this long; its caller retries.
        repo.set_busy_timeout(LIVE_BUSY_TIMEOUT_MS)
        self.shutdown.register("database", self._close(repo, leases))
        # Feed health is the market role's report from the database (bot.services.feed_report), with its age.
        service = Service(
            repo,
            RemoteRules(),
            self.config,
            self.now_ms,
            feeds=StoredFeedHealth(repo, self.now_ms),
            history=MarketHistory(),
        )
        follower = HistoryFollower(
            lambda: Repo(open_database(self.url, migrate_schema=False)),
            self.config.symbols,
            self.now_ms,
            lambda history: setattr(service, "history", history),
            instrument_venues=list_venues(self.config.feeds),
            on_instruments=lambda registry: setattr(service, "instruments", registry),
        )
        await follower.refresh()
        bot = self._build_bot(service)
        dispatcher = OutboxDispatcher(
            repo,
            [self._build_sink(bot, repo)],
            self.now_ms,
            max_backoff_ms=int(self.config.outbox.retry_max_backoff_seconds * 1000),
            shards=self.shards,
            # Before each batch: the watcher below looks only every few seconds, and a replacement holding
            # a lost lease may already be sending the same rows.
            may_send=lambda: self._leases_held(leases),
        )
        handler = cluster_handler(repo, dispatcher.wake)
        listener = ChangeListener(self.url, handler)
        # Listening before the gateway connects, so no command reads a server's settings (and caches them)
        # before a change another process makes to them can be heard.
        self._spawn(listener.run(self._stop), "changes")
        await self._until_listening(listener, handler)
        self.shutdown.register("discord", close_discord(bot, self._tasks))
        self.shutdown.register("outbox", self._stop_loops(dispatcher))
        await connect_discord(bot, self.token, self._tasks)
        self._spawn(dispatcher.run(self._stop), "outbox")
        self._spawn(follower.run(self._stop), "history")
        self._spawn(self._watch_leases(leases), "leases")
        self.parts = ClusterParts(repo, service, bot, dispatcher, listener, leases)
        log.info("Discord cluster of %s ready in %.2f s", self.shards, time.monotonic() - started)
        self.ready.set()
        return self.parts

    async def _until_listening(self, listener: ChangeListener, handler: Callable[[Change], None]) -> None:
        """Wait for the LISTEN; past ``LISTEN_TIMEOUT_S`` go on, forgetting what was read once it listens."""
        try:
            await asyncio.wait_for(listener.listening.wait(), timeout=LISTEN_TIMEOUT_S)
        except TimeoutError:
            log.warning(
                "not yet listening for the other processes' changes: cached settings are dropped once it is"
            )

            async def resync_when_listening() -> None:
                await listener.listening.wait()
                handler(Change(RESYNC))

            self._spawn(resync_when_listening(), "changes-resync")

    async def _take_leases(self) -> list[AdvisoryLease]:
        """Hold every shard's lease, waiting while another cluster holds one (it may be dying)."""
        count = SharedCountLease(self.url, SHARD_COUNT_LEASE, self.shards.count)
        while not await asyncio.to_thread(count.try_acquire):
            log.warning(
                "clusters of another shard count (%s) hold this database's rows; this one (%d shards) waits"
                " until they stop, as both would deliver the guilds they share",
                ", ".join(map(str, count.other_counts)) or "unreachable database",
                self.shards.count,
            )
            if self.shutdown.requested:
                count.release()
                raise UserError(f"stopped while clusters of another shard count than {self.shards.count} ran")
            await asyncio.sleep(self.lease_wait_seconds)
        leases: list[AdvisoryLease] = [count]
        leases += [AdvisoryLease(self.url, shard_lease_name(i, self.shards.count)) for i in self.shards.ids]
        for lease in leases[1:]:
            while not await asyncio.to_thread(lease.try_acquire):
                log.warning("%s is held by another cluster; waiting for it to end", lease.name)
                if self.shutdown.requested:
                    raise UserError(f"stopped while waiting for {lease.name}")
                await asyncio.sleep(self.lease_wait_seconds)
        return leases

    def _leases_held(self, leases: list[AdvisoryLease]) -> bool:
        """Return whether every shard lease is still this cluster's (False also once one was found lost)."""
        if self.lost_lease:
            return False
        if all(lease.held() for lease in leases):
            return True
        log.error("a shard lease is lost (its database session ended); nothing more is sent, stopping")
        self.lost_lease = True
        self.shutdown.request()
        return False

    async def _watch_leases(self, leases: list[AdvisoryLease]) -> None:
        """Stop the cluster (exit 1) when a shard's lease is lost: another cluster may be taking over."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.lease_wait_seconds)
                return
            lost = [lease.name for lease in leases if not await asyncio.to_thread(lease.held)]
            if lost:
                log.error("lost %s (the database connection dropped); stopping", ", ".join(lost))
                self.lost_lease = True
                self.shutdown.request()
                return

    def _build_bot(self, service: Service) -> Any:
        from bot.discord.sharded import ShardedTripwireBot
        from bot.discord.shared_limit import share_global_limit
        from bot.notify.shared_limit import RedisWindow

        options = {"sync_commands": self.shards.first == 0, **self.discord_options}
        bot = ShardedTripwireBot(
            self.config,
            service,
            secrets=self.secrets,
            shard_ids=self.shards.ids,
            shard_count=self.shards.count,
            **options,
        )
        discord_config = self.config.discord
        if discord_config.shared_rate_url is not None:
            window = RedisWindow.from_url(
                discord_config.shared_rate_url, SHARED_RATE_KEY, discord_config.shared_rate_per_s
            )
            share_global_limit(bot, window)
            self.shutdown.register("shared rate limit", window.close)
        elif len(self.shards.ids) < self.shards.count:
            # Said once at start, since nothing else would: each cluster then keeps its own 50/s window,
            # and several of them together can exceed the bot's global limit and get it 429s.
            log.warning(
                "no [discord] shared_rate_url: this cluster holds %d of %d shards and keeps its own global"
                " request window; the other clusters' requests are not counted against it",
                len(self.shards.ids),
                self.shards.count,
            )
        return bot

    def _build_sink(self, bot: Any, repo: Repo) -> Any:
        from bot.notify.alert_charts import AlertCharts
        from bot.notify.discord.sink import DiscordSink, Rate

        config = self.config
        return DiscordSink(
            bot,
            repo,
            RemoteRules(),
            self.now_ms,
            ops_channel_id=config.discord.ops_channel_id,
            nonce_window_s=config.discord.nonce_window_s,
            global_rate=Rate(config.discord.global_rate_per_s, 1.0),
            grouping=GroupingPolicy.from_config(
                config.engine, late_after_ms=int(config.outbox.late_after_seconds * 1000)
            ),
            max_backoff_ms=int(config.outbox.retry_max_backoff_seconds * 1000),
            attachments=AlertCharts(repo),
        )

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    def _stop_loops(self, dispatcher: OutboxDispatcher) -> Callable[[], Any]:
        async def stop() -> None:
            self._stop.set()
            loops = [t for t in self._tasks if t.get_name() in ("outbox", "changes", "history", "leases")]
            await asyncio.gather(*loops, return_exceptions=True)
            if not self.lost_lease:  # without the lease another cluster may be delivering these rows
                try:
                    await dispatcher.run_once()
                except Exception:
                    log.exception("the last delivery pass failed; its rows stay queued")

        return stop

    def _close(self, repo: Repo, leases: list[AdvisoryLease]) -> Callable[[], Any]:
        async def close() -> None:
            await cancel_and_wait(self._tasks)
            repo.close()
            for lease in leases:  # last: the rows are ours until nothing here can send any more
                lease.release()

        return close

    async def run(self) -> int:
        """Start, serve until SIGTERM/SIGINT or the gateway ends, then stop in order; return an exit code."""
        code = await run_until_stopped(self.shutdown, self.start, self._serve)
        return 1 if self.lost_lease else code

    async def _serve(self) -> int:
        return await serve_until_stopped(self.shutdown, self._tasks)

    async def stop(self) -> None:
        """Stop everything (for tests and embedding)."""
        await self.shutdown.run()
