"""``tripwire replay``: play recorded data through the live pipeline with a simulated clock."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

from bot.config import load_config, load_secrets
from bot.errors import UserError
from bot.notify.console import ConsoleSink
from bot.notify.outbox import Sink
from bot.replay import ReplaySummary, run_replay
from bot.routing import AlertRouter
from feeds.replay import ReplayDataError, load_directory, parse_time
from storage.db import open_database
from storage.repo import Repo

# The bundled scenario: the real data of 2026-01-01..20 (the January 2026 short squeeze).
SCENARIO_START = "2026-01-01T00:00:00Z"

FORMATS_HELP = """\
--data reads every *.csv file of a directory, recognised by its header row:
  candles            symbol, interval, timestamp, open, high, low, close, volume[, quote_volume]
  candles (plain)    timestamp, open, high, low, close, volume   (symbol and interval from the file name)
  fear & greed       date, value, classification   |   date, fng
  liquidations       timestamp, longUsd, shortUsd   (CoinGlass hourly, USD by liquidated position side)
  combined           timestamp, price_*, liquidation_long_usd, liquidation_short_usd, funding_close (in %),
                     oi_close (USD)   (CoinGlass hourly)
  funding            fundingTime, fundingRate, markPrice   (Binance /fapi/v1/fundingRate rows)
The symbol comes from a `symbol` column or the file name (..._ETHUSDT_... ; ..._btc_... means BTCUSDT).
A file that matches none of these is an error.
"""


def _time(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not a date or time (use e.g. 2026-01-13 or 2026-01-13T22:00Z)"
        ) from None


def _summary_line(summary: ReplaySummary) -> str:
    return (
        f"replayed {summary.rows:,} rows over {summary.ticks:,} steps: {summary.fired} alerts fired, "
        f"{summary.resolved} resolved, {summary.delivered} delivered, in {summary.seconds:.1f} s"
    )


def _discord_token() -> str:
    token = load_secrets().token()
    if token is None:
        raise UserError(
            "--discord needs the bot token in TRIPWIRE_DISCORD_TOKEN (or a .env file, or the file named by "
            "TRIPWIRE_DISCORD_TOKEN_FILE)"
        )
    return token


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay recorded data (default: the bundled January 2026 scenario) and print the alerts."""
    with ExitStack() as stack:
        scenario = stack.enter_context(resources.as_file(resources.files("bot.scenario")))
        data_dir = Path(args.data) if args.data else scenario
        config_path = Path(args.config) if args.config else scenario / "config.example.toml"
        config = load_config(config_path)
        start = _time(args.start, "--from")
        if start is None and not args.data:
            start = parse_time(SCENARIO_START)
        end = _time(args.end, "--to")
        if start is not None and end is not None and end < start:
            raise UserError("--to is before --from")
        try:
            data = load_directory(data_dir)
        except ReplayDataError as exc:
            raise UserError(str(exc)) from None
        token = _discord_token() if args.discord else None
        db = open_database(args.db or ":memory:")
        stack.callback(db.conn.close)
        repo = Repo(db)
        sinks: list[Sink] = [ConsoleSink(sys.stdout, args.format)]
        progress = sys.stderr if (args.progress or (args.progress is None and sys.stderr.isatty())) else None
        options: dict[str, Any] = {"start": start, "end": end, "progress": progress, "pace": args.pace}
        if token is not None:
            # Imported here: a replay to the console needs no discord.py.
            from bot.replay_discord import replay_to_discord

            summary = asyncio.run(
                replay_to_discord(
                    config,
                    load_secrets(),
                    token,
                    data,
                    repo,
                    sinks,
                    lambda r: AlertRouter(r, config.routes, console=True, discord=True),
                    **options,
                )
            )
        else:
            summary = asyncio.run(
                run_replay(
                    config,
                    data,
                    repo,
                    sinks,
                    lambda r: AlertRouter(r, config.routes, console=True, discord=False),
                    **options,
                )
            )
        print(_summary_line(summary), file=sys.stderr if args.format == "jsonl" else sys.stdout)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `replay` command."""
    replay = sub.add_parser(
        "replay",
        help="play recorded data (default: the January 2026 squeeze) through the pipeline",
        description="Play recorded market data through the same pipeline as the live bot, with a simulated "
        "clock, and print the alerts. With no arguments: the bundled real data of 2026-01-01..20 with the "
        "rules of config.example.toml.",
        epilog=FORMATS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument(
        "--data", metavar="DIR", help="directory of CSV files (default: the bundled scenario)"
    )
    replay.add_argument(
        "--config", "-c", metavar="PATH", help="config with the rules (default: config.example.toml)"
    )
    replay.add_argument("--from", dest="start", metavar="TIME", help="evaluate rules from this UTC time on")
    replay.add_argument("--to", dest="end", metavar="TIME", help="stop after this UTC time")
    replay.add_argument(
        "--db", metavar="FILE", help="database file (default: in memory); a replay restarted on it resumes"
    )
    replay.add_argument("--format", choices=("text", "jsonl"), default="text", help="alert output format")
    replay.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar on stderr"
    )
    replay.add_argument(
        "--discord",
        action="store_true",
        help="also post the alerts to Discord, through the live bot's delivery (token from the environment; "
        "the config's [[routes]] or the database's Discord rules say where)",
    )
    replay.add_argument(
        "--pace",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long (wall clock) per simulated hour, e.g. to watch alerts arrive (default: no wait)",
    )
    replay.set_defaults(handler=cmd_replay)
