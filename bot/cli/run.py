"""``tripwire run``: the live bot, whole (``--role all``) or as the market role of a multi-process bot."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Config, Secrets, load_config, load_secrets
from bot.errors import UserError
from storage.postgres import is_postgres_url

NO_TOKEN_HELP = (
    "no Discord bot token: set TRIPWIRE_DISCORD_TOKEN in the environment (or in a .env file here, or point "
    "TRIPWIRE_DISCORD_TOKEN_FILE at a file holding it). Create a bot at "
    "https://discord.com/developers/applications to get one. To see Tripwire work without Discord, try "
    "`tripwire replay` (the January 2026 squeeze on bundled data) or `tripwire run --no-discord`."
)
MARKET_NEEDS_POSTGRES = (
    "--role market needs PostgreSQL: the processes of a multi-process bot share one database, and SQLite "
    'is one process\'s. Set [storage] url = "postgresql://…" (README, "Scaling out"; `tripwire db copy` '
    "moves an existing bot), or run the whole bot in one process with `tripwire run` (--role all)."
)
ROLES = ("all", "market")


def add_role_arguments(run: argparse.ArgumentParser) -> None:
    """Add ``--role`` to ``tripwire run``."""
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all (default): the whole bot in this process; market: feeds and the engine only, one leader "
        "at a time through a PostgreSQL lease, the others standing by",
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Start the live bot (or one of its roles) and serve until SIGTERM/SIGINT."""
    config = load_config(args.config)
    secrets = load_secrets()
    if getattr(args, "role", "all") == "market":
        return run_market(config, secrets)
    token = None
    if not args.no_discord and config.discord.enabled:
        token = secrets.token()
        if token is None:
            raise UserError(NO_TOKEN_HELP)
    # Imported here so `tripwire --help` and the other commands do not pay for discord.py and aiohttp.
    from bot.app import App

    # Without Discord the alerts go to the console, or nobody would see them.
    app = App(config, secrets, token=token, console=sys.stdout if token is None else None)
    return asyncio.run(app.run())


def run_market(config: Config, secrets: Secrets) -> int:
    """Run the market role: stand by for the lease, then lead until stopped or the lease is lost."""
    url = config.storage.database
    if not isinstance(url, str) or not is_postgres_url(url):
        raise UserError(MARKET_NEEDS_POSTGRES)
    return asyncio.run(_market(config, secrets, url))


async def _market(config: Config, secrets: Secrets, url: str) -> int:
    # Hot standby: everything a start needs that does not depend on the leader's latest writes is done
    # before the lease is free (code imported, config validated, schema migrated, the server reached).
    from bot.app import App
    from bot.ops.leadership import EXIT_LEASE_LOST, Leadership, LeaseLost
    from bot.ops.shutdown import Shutdown
    from storage.db import open_database

    await asyncio.to_thread(lambda: open_database(url).conn.close())
    shutdown = Shutdown()
    uninstall = shutdown.install_signal_handlers(asyncio.get_running_loop())
    leadership = Leadership.for_url(url, config.roles.lease_poll_seconds)
    stop = asyncio.Event()

    async def stop_on_shutdown() -> None:
        await shutdown.wait()
        stop.set()

    waiting = asyncio.create_task(stop_on_shutdown())
    try:
        if not await leadership.acquire(stop):
            return 0
        leadership.on_lost(lambda: shutdown.request("market lease lost"))
        # The history, the rules and the engine's state are read now, from what the last leader committed:
        # read earlier, they would miss its last alerts and fire them again.
        app = App(config, secrets, token=None, shutdown=shutdown, role="market", fence=leadership.fence)
        watcher = asyncio.create_task(leadership.watch(stop), name="lease-watch")
        uninstall()  # App.run installs the same handlers on the same Shutdown
        try:
            code = await app.run()
        except LeaseLost:
            code = EXIT_LEASE_LOST  # lost while starting: the write that found it out was rolled back
        finally:
            stop.set()
            await watcher
        return EXIT_LEASE_LOST if leadership.lost else code
    finally:
        waiting.cancel()
        uninstall()
        await asyncio.to_thread(leadership.release)
