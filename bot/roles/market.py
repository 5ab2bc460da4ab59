"""``tripwire run --role market``: the feeds and the alert engine, led by one process at a time.

The process stands by until it holds the market lease (``bot.ops.leadership``), then builds and runs the
bot without a Discord gateway (``App(role="market")``): alerts and the other messages are queued in the
outbox for the Discord clusters. It stops, with exit status 3 so that its supervisor starts it again as a
standby, when it is no longer fit to lead: its lease is gone (every commit is fenced by it, so nothing more
is written), or its own database connection is (a leader that cannot write must give the lead away, which
ending the process does: its lease's session ends with it).

A standby is hot in everything that does not depend on the leader's latest writes: code imported, config
validated, schema migrated, the server reached. The history, the rules and the engine's state are read
when it takes over; read earlier, they would miss the last leader's final alerts and fire them again.
"""

from __future__ import annotations

import asyncio
import logging

from bot.app import App
from bot.config import Config, Secrets
from bot.errors import UserError
from bot.ops.leadership import EXIT_LEASE_LOST, Leadership, LeaseLost
from bot.ops.shutdown import Shutdown
from bot.roles.changes import market_handler
from storage.db import open_database
from storage.pg_url import is_postgres_url

log = logging.getLogger(__name__)

MARKET_NEEDS_POSTGRES = (
    "--role market needs PostgreSQL: the processes of a multi-process bot share one database, and SQLite "
    'is one process\'s. Set [storage] url = "postgresql://…" (README, "Scaling out"; `tripwire db copy` '
    "moves an existing bot), or run the whole bot in one process with `tripwire run` (--role all)."
)


def require_postgres(config: Config) -> str:
    """Return the database URL, or raise a UserError saying the market role needs PostgreSQL."""
    url = config.storage.database
    if not isinstance(url, str) or not is_postgres_url(url):
        raise UserError(MARKET_NEEDS_POSTGRES)
    return url


class MarketRole:
    """One market-role process: a standby until it leads, then the feeds and the engine."""

    def __init__(self, config: Config, secrets: Secrets, *, install_signals: bool = True) -> None:
        self.config = config
        self.secrets = secrets
        self.url = require_postgres(config)
        self.install_signals = install_signals
        self.shutdown = Shutdown()
        self.leadership = Leadership.for_url(self.url, config.roles.lease_poll_seconds)
        self.app: App | None = None
        self._stop = asyncio.Event()

    async def run(self) -> int:
        """Stand by, lead until stopped or no longer fit to lead; return the exit status."""
        await asyncio.to_thread(lambda: open_database(self.url).conn.close())  # migrated, reachable
        uninstall = (
            self.shutdown.install_signal_handlers(asyncio.get_running_loop())
            if self.install_signals
            else None
        )
        waiting = asyncio.create_task(self._stop_on_shutdown())
        try:
            if not await self.leadership.acquire(self._stop):
                return 0
            if uninstall is not None:
                uninstall()  # App.run installs the same handlers on the same Shutdown
                uninstall = None
            return await self._lead()
        finally:
            waiting.cancel()
            if uninstall is not None:
                uninstall()
            await asyncio.to_thread(self.leadership.release)

    async def _lead(self) -> int:
        self.leadership.on_lost(lambda: self.shutdown.request("no longer fit to lead"))
        app = App(
            self.config,
            self.secrets,
            token=None,
            shutdown=self.shutdown,
            role="market",
            fence=self.leadership.fence,
            on_repo=self.leadership.name_session,
            # What the Discord clusters change reaches this process at once: a rule reloaded by the engine,
            # a digest's job rebuilt, a server's liquidation feed reloaded (bot.roles.changes).
            on_changes=lambda repo, engine, digests, liqfeed: market_handler(
                repo,
                engine,
                lambda: [rule.row.id for rule in engine.rules()],
                digests=digests,
                liqfeed=liqfeed,
            ),
        )
        self.app = app
        watcher = asyncio.create_task(
            self.leadership.watch(self._stop, database_ping=self._ping), name="lease-watch"
        )
        try:
            code = await app.run() if self.install_signals else await self._run_without_signals(app)
        except LeaseLost:
            code = EXIT_LEASE_LOST  # lost while starting: the write that found it out was rolled back
        finally:
            self._stop.set()
            await watcher
        return EXIT_LEASE_LOST if self.leadership.lost else code

    async def _run_without_signals(self, app: App) -> int:
        """Run the app as ``App.run`` does, leaving the process's signal handlers alone (tests)."""
        try:
            await app.start()
            await self.shutdown.wait()
        finally:
            report = await self.shutdown.run()
        return 0 if report.clean else 1

    def _ping(self) -> None:
        """Read from the leader's own database connection (raising when it is gone)."""
        if self.app is not None and self.app.parts is not None:
            self.app.parts.repo.ping()

    async def _stop_on_shutdown(self) -> None:
        await self.shutdown.wait()
        self._stop.set()
