"""``tripwire replay``: play recorded data through the live pipeline with a simulated clock."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Coroutine, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bot.alerts.routing import AlertRouter
from bot.cli.common import (
    EXAMPLE_CONFIG,
    SCENARIO_START,
    add_format_option,
    bundled_scenario,
    config_or_example,
    load_recorded,
    time_option,
)
from bot.config import Config, Secrets, load_secrets
from bot.errors import UserError
from bot.notify.console import ConsoleSink
from bot.notify.outbox import Sink
from bot.notify.webhooks import WebhookSink
from bot.replay.pipeline import ReplaySummary, run_replay
from detectors.values import utc_text
from feeds.replay import RecordedData, parse_time
from storage.db import open_database
from storage.repo import Repo

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


def header_line(config: Config, data: RecordedData, start: int | None, end: int | None, source: str) -> str:
    """Return the line a text replay starts with: the span played, the rules, and how to read a line."""
    span = data.span()
    first = max(start, span[0]) if span and start is not None else (span[0] if span else start)
    last = min(end, span[1]) if span and end is not None else (span[1] if span else end)
    played = f"{utc_text(first)} to {utc_text(last)}" if first is not None and last is not None else "no data"
    rules = len(config.rules)
    return (
        f"Replay of {played}, {rules} rule{'s' if rules != 1 else ''} from {source}. "
        "One line per alert: market time (UTC), symbol, severity, what happened, <rule>, [its values]."
    )


def _ended(summary: ReplaySummary) -> str:
    """Say how many alerts ended and which of those ends are printed (only announced ones are)."""
    silent = summary.resolved - summary.ends_announced
    if not summary.resolved:
        return "0 ended"
    if not silent:
        return f'{summary.resolved} ended (each shown above as "Ended: ...")'
    shown = (
        f'{summary.ends_announced} announced, shown above as "Ended: ...", and '
        if summary.ends_announced
        else ""
    )
    return (
        f"{summary.resolved} ended ({shown}{silent} without a notice: an alert on a moment, such as a level "
        "crossed, ends silently when its detector re-arms; a lasting condition, such as a liquidation "
        "cascade, announces its end)"
    )


def _summary_line(summary: ReplaySummary) -> str:
    silenced = f" ({summary.silenced} silenced: recorded, not sent)" if summary.silenced else ""
    line = (
        f"replayed {summary.rows:,} rows over {summary.ticks:,} steps: "
        f"{summary.fired} alerts fired{silenced}, {_ended(summary)}, "
        f"{summary.delivered} messages delivered, in {summary.seconds:.1f} s"
    )
    if summary.resumed_after is not None:
        # Without this a replay on a database a live bot (or a finished replay) used reports 0 alerts and
        # looks broken.
        line += (
            f"\nresumed after {utc_text(summary.resumed_after)}: this database had already been played up to "
            "there, so nothing before it was evaluated again (use another --db, or none, to start over)"
        )
    return line


def _discord_login() -> tuple[Secrets, str]:
    """Return the secrets and the bot token a replay to Discord needs, or say where the token goes."""
    secrets = load_secrets()
    token = secrets.token()
    if token is None:
        raise UserError(
            "--discord needs the bot token in TRIPWIRE_DISCORD_TOKEN (or a .env file, or the file named by "
            "TRIPWIRE_DISCORD_TOKEN_FILE)"
        )
    return secrets, token


def _replay(
    config: Config,
    data: RecordedData,
    repo: Repo,
    sinks: Sequence[Sink],
    login: tuple[Secrets, str] | None,
    **options: Any,
) -> Coroutine[Any, Any, ReplaySummary]:
    """Return the replay to run: to ``sinks``, and to Discord too when logged in."""

    def router(r: Repo) -> AlertRouter:
        return AlertRouter.for_config(r, config, console=True, discord=login is not None, webhooks=True)

    if login is None:
        return run_replay(config, data, repo, sinks, router, **options)
    # Imported here: a replay to the console needs no discord.py.
    from bot.discord.replay import replay_to_discord

    secrets, token = login
    return replay_to_discord(config, secrets, token, data, repo, sinks, router, **options)


def _sinks(config: Config, fmt: Any) -> list[Sink]:
    """Return the replay's own sinks: the console, and the config's outgoing webhooks if it has any."""
    sinks: list[Sink] = [ConsoleSink(sys.stdout, fmt)]
    if config.webhooks_out:
        sinks.append(WebhookSink.from_config(config.webhooks_out))
    return sinks


def check_pace(pace: float) -> None:
    """Refuse a --pace that is not a finite number of seconds, zero or more (inf waits forever)."""
    if not math.isfinite(pace) or pace < 0:
        raise UserError(f"--pace: {pace!r} is not a number of seconds (0 or more, finite)")


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay recorded data (default: the bundled January 2026 scenario) and print the alerts."""
    check_pace(args.pace)
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        config = config_or_example(args.config, scenario)
        start = time_option(args.start, "--from")
        if start is None and not args.data:
            start = parse_time(SCENARIO_START)
        end = time_option(args.end, "--to")
        if start is not None and end is not None and end < start:
            raise UserError("--to is before --from")
        data = load_recorded(Path(args.data) if args.data else scenario)
        login = _discord_login() if args.discord else None
        repo = Repo(open_database(args.db or ":memory:"))
        stack.callback(repo.close)
        source = args.config or f"the bundled {EXAMPLE_CONFIG}"
        notes = sys.stderr if args.format == "jsonl" else sys.stdout
        print(header_line(config, data, start, end, source), file=notes, flush=True)
        progress = sys.stderr if (args.progress or (args.progress is None and sys.stderr.isatty())) else None
        summary = asyncio.run(
            _replay(
                config,
                data,
                repo,
                _sinks(config, args.format),
                login,
                start=start,
                end=end,
                progress=progress,
                pace=args.pace,
            )
        )
        print(_summary_line(summary), file=notes)
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
    add_format_option(replay)
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
