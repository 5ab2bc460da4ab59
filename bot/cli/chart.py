"""``tripwire chart``: write the PNG chart of a symbol (the one `/chart` posts) to a file."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bot.alerts.rules import rule_row_from_spec
from bot.charts.data import chart_spec_from_repo, stored_span, utc_text
from bot.charts.spec import PALETTES
from bot.cli.common import (
    bundled_scenario,
    check_writable,
    config_or_example,
    history_repo,
    time_option,
    write_output,
)
from storage.repo import RuleRow
from storage.rows import DAY_MS, INTERVAL_MS

DEFAULT_DAYS = 7


def cmd_chart(args: argparse.Namespace) -> int:
    """Render a chart from a database (default: the bundled scenario, replayed) into a PNG file."""
    symbol = args.symbol.strip().upper()
    check_writable(args.out)
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        config = config_or_example(args.config, scenario)
        repo = history_repo(args.db, scenario, config)  # with no --db the example rules' alerts are marked
        stack.callback(repo.close)
        start = time_option(args.start, "--from")
        end = time_option(args.end, "--to", end_of_day=True)
        if start is None or end is None:
            _, last = stored_span(repo, symbol)
            end = end if end is not None else last
            start = start if start is not None else end - DEFAULT_DAYS * DAY_MS
        rules: list[RuleRow] | None = None
        if args.config:
            # The levels of the file being edited, even before its rules have run against this database.
            rules = [rule_row_from_spec(spec, config, 0) for spec in config.rule_specs()]
        spec = chart_spec_from_repo(repo, symbol, args.interval, start, end, rules, theme=args.theme)
        from bot.charts.draw import render_chart  # matplotlib loads with the first chart, not at start-up

        png = render_chart(spec)
    write_output(args.out, png)
    marked = len(spec.markers)
    print(
        f"wrote {args.out}: {symbol} {spec.interval}, {len(spec.candles)} candles, "
        f"{utc_text(start)} → {utc_text(end)} UTC, {marked} alert{'s' if marked != 1 else ''} marked, "
        f"{len(png) / 1024:.0f} KB"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `chart` command."""
    chart = sub.add_parser(
        "chart",
        help="write a PNG chart of a symbol (candles, volume, liquidations, levels, alerts)",
        description="Render the chart /chart posts into a PNG file: candles (a line beyond 200 of them), "
        "volume, liquidations by side, the rules' levels and where alerts fired. With no --db: the bundled "
        "January 2026 scenario, replayed with the rules of config.example.toml (or --config).",
    )
    chart.add_argument("--symbol", "-s", required=True, help="trading pair, e.g. BTCUSDT")
    chart.add_argument(
        "--interval",
        "-i",
        choices=list(INTERVAL_MS),
        default=None,
        help="candle interval (default: the finest that shows the window in at most 200 candles)",
    )
    chart.add_argument(
        "--from", dest="start", metavar="TIME", help="window start, UTC (default: --to minus 7 days)"
    )
    chart.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        help="window end, UTC; a date alone means the end of that day (default: the newest stored candle)",
    )
    chart.add_argument("--out", "-o", required=True, metavar="FILE", help="PNG file to write")
    chart.add_argument("--config", "-c", metavar="PATH", help="draw the levels of this config's rules")
    chart.add_argument(
        "--db", metavar="FILE", help="database to read (default: the bundled scenario in memory)"
    )
    chart.add_argument("--theme", choices=list(PALETTES), default="dark", help="colour theme (default: dark)")
    chart.set_defaults(handler=cmd_chart)
