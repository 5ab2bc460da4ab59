"""``tripwire run``: the live bot, whole (``--role all``) or as one role of a multi-process bot."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Config, Secrets, load_config, load_secrets
from bot.errors import UserError
from storage.shards import ShardSlice

NO_TOKEN_HELP = (
    "no Discord bot token: set TRIPWIRE_DISCORD_TOKEN in the environment (or in a .env file here, or point "
    "TRIPWIRE_DISCORD_TOKEN_FILE at a file holding it). Create a bot at "
    "https://discord.com/developers/applications to get one. To see Tripwire work without Discord, try "
    "`tripwire replay` (the January 2026 squeeze on bundled data) or `tripwire run --no-discord`."
)

NO_ETF_KEY_HELP = (
    "[feeds.etf] is enabled but no API key is set: put SoSoValue's free key in TRIPWIRE_ETF_API_KEY (or a "
    "file named by TRIPWIRE_ETF_API_KEY_FILE), or set [feeds.etf] enabled = false."
)
ROLES = ("all", "market", "discord")


def add_role_arguments(run: argparse.ArgumentParser) -> None:
    """Add ``--role`` and the Discord cluster's ``--shards``/``--shard-count`` to ``tripwire run``."""
    run.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: one process does everything (default). market: feeds and the engine only, one leader at"
        " a time through a PostgreSQL lease, the others standing by. discord: a cluster of gateway shards"
        " answering its servers' commands and posting their alerts (market and discord: PostgreSQL only)",
    )
    run.add_argument(
        "--shards", metavar="A-B", help="with --role discord: the shards of this cluster, e.g. 0-1"
    )
    run.add_argument(
        "--shard-count", type=int, metavar="N", help="with --role discord: how many shards the bot has in all"
    )


def cmd_run(args: argparse.Namespace) -> int:
    """Start the live bot (or one of its roles) and serve until SIGTERM/SIGINT."""
    config = load_config(args.config)
    secrets = load_secrets()
    if getattr(args, "role", "all") == "discord":
        return _run_discord_cluster(args, config, secrets)
    if args.shards is not None or args.shard_count is not None:
        raise UserError("--shards and --shard-count go with --role discord")
    if getattr(args, "role", "all") == "market":
        _check_feed_keys(config, secrets)  # the market role runs the feeds
        return run_market(config, secrets)
    token = None
    if not args.no_discord and config.discord.enabled:
        token = secrets.token()
        if token is None:
            raise UserError(NO_TOKEN_HELP)
    _check_feed_keys(config, secrets)
    # Imported here so `tripwire --help` and the other commands do not pay for discord.py and aiohttp.
    from bot.app import App

    # Without Discord the alerts go to the console, or nobody would see them.
    app = App(config, secrets, token=token, console=sys.stdout if token is None else None)
    return asyncio.run(app.run())


def _check_feed_keys(config: Config, secrets: Secrets) -> None:
    """Refuse to start feeds whose API key is missing."""
    if config.feeds.etf.enabled and secrets.etf_key() is None:
        raise UserError(NO_ETF_KEY_HELP)


def run_market(config: Config, secrets: Secrets) -> int:
    """Run the market role (bot.roles.market): stand by for the lease, then lead until stopped or unfit."""
    from bot.roles.market import MarketRole

    return asyncio.run(MarketRole(config, secrets).run())


def _run_discord_cluster(args: argparse.Namespace, config: Config, secrets: Secrets) -> int:
    """Run one Discord cluster (bot.roles.discord_cluster) after checking its arguments."""
    if args.no_discord:
        raise UserError("--role discord is the Discord front end: it cannot run with --no-discord")
    if args.shards is None or args.shard_count is None:
        raise UserError(
            "--role discord needs --shards A-B and --shard-count N (e.g. --shards 0-1 --shard-count 4)"
        )
    try:
        shards = ShardSlice.parse(args.shards, args.shard_count)
    except ValueError as exc:
        raise UserError(f"--shards/--shard-count: {exc}") from None
    token = secrets.token()
    if token is None:
        raise UserError(NO_TOKEN_HELP)
    from bot.roles.discord_cluster import DiscordCluster

    cluster = DiscordCluster(config, secrets, shards, token=token)
    return asyncio.run(cluster.run())
