"""``tripwire backtest``: how often would a rule have fired over the stored history, and when?"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bot.charts.data import utc_text
from bot.charts.spec import PALETTES
from bot.cli.common import (
    EXAMPLE_CONFIG,
    add_format_option,
    bundled_scenario,
    check_writable,
    config_or_example,
    open_existing,
    scenario_data_repo,
    time_option,
    write_output,
)
from bot.config import RuleSpec
from bot.errors import UserError
from bot.notify.console import alert_json, alert_line
from bot.replay.backtest import BacktestAlert, BacktestLimits, BacktestResult, RuleInput, backtest
from storage.repo import Repo, RuleRow


def alert_payload(rule: RuleRow, alert: BacktestAlert) -> dict[str, Any]:
    """Return the payload shape the console formatters print (the one ``tripwire replay`` prints)."""
    return {
        "at": alert.at,
        "state": alert.state,
        "rule_id": rule.id,
        "detector": rule.detector,
        "symbol": rule.symbol,
        "severity": alert.severity,
        "title": alert.title,
        "values": dict(alert.values),
        "late": alert.late,
    }


def summary_line(result: BacktestResult) -> str:
    """Return the one-line summary printed after the alerts."""
    rule = result.rule
    times = "time" if result.fire_count == 1 else "times"
    return (
        f"backtest of {rule.id} ({rule.detector}, {rule.symbol}) over {utc_text(result.start)} → "
        f"{utc_text(result.end)} UTC, {result.candles:,} candles: would have fired {result.fire_count} "
        f"{times}, {len(result.resolved)} resolved, in {result.seconds:.1f} s"
    )


def _find_rule(rule_id: str, config_rules: dict[str, RuleSpec], repo: Repo, config_name: str) -> RuleInput:
    # The config file first: it is what the user is editing and wants to try before it goes live.
    if rule_id in config_rules:
        return config_rules[rule_id]
    if repo.rule(rule_id) is not None:
        return rule_id
    known = ", ".join(config_rules) or "none"
    raise UserError(f"no rule {rule_id!r} in {config_name} (its rules: {known}) nor in the database")


def cmd_backtest(args: argparse.Namespace) -> int:
    """Backtest one rule (default data: the bundled scenario) and print its alerts and a summary."""
    if args.chart is not None:
        check_writable(args.chart)
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        config = config_or_example(args.config, scenario)
        repo = open_existing(args.db) if args.db else scenario_data_repo(scenario)
        stack.callback(repo.close)
        config_name = Path(args.config).name if args.config else EXAMPLE_CONFIG
        rule = _find_rule(args.rule, {s.id: s for s in config.rule_specs()}, repo, config_name)
        result = backtest(
            repo,
            rule,
            start=time_option(args.start, "--from"),
            end=time_option(args.end, "--to", end_of_day=True),
            days=args.days,
            config=config,
            limits=BacktestLimits.from_config(config.backtest),
            chart=args.chart is not None,
            theme=args.theme,
        )
    for alert in result.alerts:
        if alert.announced:
            payload = alert_payload(result.rule, alert)
            print(alert_json(payload) if args.format == "jsonl" else alert_line(payload))
    if args.chart is not None:
        if result.chart_png is None:
            raise UserError(f"no chart for {result.rule.id}: it watches no symbol's candles")
        write_output(args.chart, result.chart_png)
    print(summary_line(result), file=sys.stderr if args.format == "jsonl" else sys.stdout)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `backtest` command."""
    limits = BacktestLimits()
    parser = sub.add_parser(
        "backtest",
        help="run one rule over stored history and print when it would have fired",
        description="Run one rule over the stored history through the same detector and engine code as "
        "the live bot, with a simulated clock, and print the alerts it would have raised (like `tripwire "
        "replay`) and a summary. With no --db: the bundled January 2026 data. "
        f"At most {limits.max_days:g} days and {limits.max_candles:,} candles, unless the config's "
        "[backtest] section says otherwise.",
    )
    parser.add_argument(
        "--config", "-c", metavar="PATH", help="config holding the rule (default: config.example.toml)"
    )
    parser.add_argument(
        "--rule", "-r", required=True, metavar="ID", help="rule id, from the config or the database"
    )
    parser.add_argument("--from", dest="start", metavar="TIME", help="window start, UTC")
    parser.add_argument(
        "--to", dest="end", metavar="TIME", help="window end, UTC; a date alone means the end of that day"
    )
    parser.add_argument(
        "--days",
        type=float,
        metavar="N",
        help=f"without --from: the last N days before --to (default {limits.default_days:g}, or the "
        "config's [backtest] default_days)",
    )
    parser.add_argument(
        "--db", metavar="FILE", help="database with the history (default: the bundled scenario)"
    )
    add_format_option(parser)
    parser.add_argument(
        "--chart", metavar="FILE", help="also write a PNG chart of the window with the alerts"
    )
    parser.add_argument("--theme", choices=list(PALETTES), default="dark", help="chart colour theme")
    parser.set_defaults(handler=cmd_backtest)
