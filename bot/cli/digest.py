"""``tripwire digest``: print the market digest a schedule would have posted at a given time."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bot.cli.common import bundled_scenario, config_or_example, history_repo, time_option
from bot.digests.content import SECTIONS, build_digest, parse_contents
from bot.digests.schedule import EVERY_HOURS
from bot.digests.text import digest_text
from bot.errors import UserError
from storage.rows import HOUR_MS


def cmd_digest(args: argparse.Namespace) -> int:
    """Build the digest of the period ending at --at from a database (default: the bundled scenario)."""
    at = time_option(args.at, "--at")
    if at is None:
        raise UserError("--at is required")
    sections = parse_contents(args.contents)
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        config = config_or_example(args.config, scenario)
        repo = history_repo(args.db, scenario, config)  # with no --db the example rules' alerts are listed
        stack.callback(repo.close)
        digest = build_digest(repo, config.symbols, at, args.hours * HOUR_MS, sections, guild_id=args.guild)
    print(digest_text(digest))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `digest` command."""
    digest = sub.add_parser(
        "digest",
        help="print the market digest of the period ending at a given time",
        description="Print the digest /digest posts for the period before --at: prices and change, "
        "liquidations by side, funding and open interest, Fear & Greed, the alerts fired. With no --db: the "
        "bundled January 2026 scenario, replayed with the rules of config.example.toml (or --config).",
    )
    digest.add_argument(
        "--at", required=True, metavar="TIME", help="end of the period, UTC (e.g. 2026-01-15T00:00Z)"
    )
    digest.add_argument(
        "--hours",
        type=int,
        choices=EVERY_HOURS,
        default=24,
        help="hours covered, as a schedule repeating every that many hours would (default 24)",
    )
    digest.add_argument(
        "--contents",
        metavar="LIST",
        help=f"comma-separated sections of {', '.join(SECTIONS)} (default: all but chart)",
    )
    digest.add_argument(
        "--guild", type=int, metavar="ID", help="list the alerts of this server too (with --db)"
    )
    digest.add_argument("--config", "-c", metavar="PATH", help="config with the symbols and rules")
    digest.add_argument(
        "--db", metavar="FILE", help="database to read (default: the bundled scenario in memory)"
    )
    digest.set_defaults(handler=cmd_digest)
