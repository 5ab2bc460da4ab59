"""Command-line entry point: ``tripwire run | replay | chart | backtest | check-config | db | ...``.

User mistakes (a bad config, a missing token, an unusable database) end with one clear line on stderr
and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot.cli import backtest as cli_backtest
from bot.cli import chart as cli_chart
from bot.cli import check_config as cli_check_config
from bot.cli import db as cli_db
from bot.cli import digest as cli_digest
from bot.cli import health as cli_health
from bot.cli import launch as cli_launch
from bot.cli import liqmap as cli_liqmap
from bot.cli import replay as cli_replay
from bot.cli import rules as cli_rules
from bot.cli import run as cli_run
from bot.cli import show_config as cli_show_config
from bot.config import ConfigError, load_config, shown_database, summary
from bot.errors import UserError
from storage.db import DatabaseError

log = logging.getLogger(__name__)

EXIT_USAGE = 2
DEFAULT_CONFIG = "tripwire.toml"


def setup_logging(verbosity: int) -> None:
    """Configure logging once for the whole process: a plain readable format on stderr."""
    level = logging.INFO
    if verbosity > 0:
        level = logging.DEBUG
    elif verbosity < 0:
        level = logging.WARNING if verbosity == -1 else logging.ERROR
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    # discord.py logs every HTTP request at DEBUG/INFO; only its warnings matter to an operator.
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(max(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and print a one-line summary."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.config}: {problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return EXIT_USAGE
    print(summary(config))
    report = cli_check_config.market_report(args.config, config, fetch=args.fetch)
    for line in report.lines():
        print(line)
    if not report.source:
        print(
            "markets not checked against the venues: no instrument lists cached in"
            f" {shown_database(config.storage.database)}; `tripwire check-config --fetch` reads them now",
            file=sys.stderr,
        )
    if report.refused:
        for path, why in report.refused:
            print(f"{args.config}: {path}: {why}", file=sys.stderr)
        print(f"{len(report.refused)} problem(s) found", file=sys.stderr)
        return EXIT_USAGE
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="tripwire",
        description="Self-hosted Discord bot that watches crypto markets and alerts your community.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for all)")
    parser.add_argument("-q", "--quiet", action="count", default=0, help="less log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the live bot (feeds, alerts, Discord)")
    run.add_argument("--config", "-c", default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})")
    run.add_argument(
        "--no-discord", action="store_true", help="print alerts to the console instead of Discord"
    )
    cli_run.add_role_arguments(run)
    run.set_defaults(handler=cli_run.cmd_run)

    cli_launch.add_parser(sub, DEFAULT_CONFIG)
    cli_replay.add_parser(sub)
    cli_chart.add_parser(sub)
    cli_liqmap.add_parser(sub)
    cli_backtest.add_parser(sub)
    cli_digest.add_parser(sub)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help="config file to check")
    check.add_argument(
        "--fetch",
        action="store_true",
        help="read the venues' instrument lists now to check the symbols (default: the cached ones)",
    )
    check.set_defaults(handler=cmd_check_config)

    cli_show_config.add_parser(sub, DEFAULT_CONFIG)

    cli_db.add_parser(sub)
    cli_rules.add_parser(sub)
    cli_health.add_parser(sub)
    _verbosity_anywhere(sub)
    return parser


def _verbosity_anywhere(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Let ``-v``/``-q`` come after the subcommand too (``tripwire replay -q``), as people type them.

    The subcommands' copies have their own names and no default (SUPPRESS), so they neither replace nor
    reset the ones given before the subcommand; ``main`` adds both up (``tripwire -v run -v`` is ``-vv``).
    """
    for parser in sub.choices.values():
        group = parser.add_argument_group("log output")
        group.add_argument(
            "-v",
            "--verbose",
            dest="sub_verbose",
            action="count",
            default=argparse.SUPPRESS,
            help="more log output",
        )
        group.add_argument(
            "-q",
            "--quiet",
            dest="sub_quiet",
            action="count",
            default=argparse.SUPPRESS,
            help="less log output",
        )
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            if isinstance(action, argparse._SubParsersAction):
                _verbosity_anywhere(action)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tripwire command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = args.verbose + getattr(args, "sub_verbose", 0) - args.quiet - getattr(args, "sub_quiet", 0)
    setup_logging(verbosity)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"tripwire: config: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (UserError, DatabaseError) as exc:
        print(f"tripwire: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tripwire: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
