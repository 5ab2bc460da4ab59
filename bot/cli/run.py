"""``tripwire run``: the live bot, whole (``--role all``) or as the market role of a multi-process bot."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import Config, Secrets, load_config, load_secrets
from bot.errors import UserError

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
