"""``tripwire liqmap``: draw a symbol's liquidation map (the one /liqmap posts) and print its clusters."""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bot.cli.common import (
    bundled_scenario,
    check_writable,
    config_or_example,
    open_existing,
    scenario_data_repo,
    time_option,
    write_output,
)
from bot.errors import UserError
from bot.liqmap.grading import accuracy, store_grades
from bot.liqmap.view import DEFAULT_RANGE_PCT, map_view


def cmd_liqmap(args: argparse.Namespace) -> int:
    """Build the map from a database (default: the bundled scenario), print the clusters, write the PNG."""
    symbol = args.symbol.strip().upper()
    if args.out:
        check_writable(args.out)
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        config = config_or_example(args.config, scenario)
        repo = open_existing(args.db) if args.db else scenario_data_repo(scenario)
        stack.callback(repo.close)
        at = time_option(args.at, "--at")
        if at is None:
            last = repo.open_interest(symbol)
            if not last:
                raise UserError(f"no open interest of {symbol} is stored: the map is built from its changes")
            at = last[-1].ts
        view = map_view(repo, symbol, config.liqmap, at, range_pct=args.range, venue=args.venue)
        store_grades(repo, view.grades)
        print(view.text())
        for cluster in view.clusters:
            print(f"  {view.cluster_line(cluster)}")
        for venue in accuracy(repo.liqmap_grades(symbol), config.liqmap.hit_factor):
            print(
                f"graded against {venue.venue}: {venue.hits}/{venue.sweeps} sweeps hit "
                f"({venue.hit_rate:.0%}), typical miss ×{venue.typical_factor:.2f}"
            )
        if args.out:
            from bot.liqmap.chart import render_liqmap  # matplotlib loads with the first chart

            png = render_liqmap(view, args.theme)
            write_output(args.out, png)
            print(f"wrote {args.out}: {len(view.heatmap.times)} hours, {len(png) / 1024:.0f} KB")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `liqmap` command."""
    parser = sub.add_parser(
        "liqmap",
        help="draw the modelled liquidation map of a symbol and print its nearest clusters",
        description="Build the liquidation map (positions modelled from open-interest changes, at their "
        "liquidation prices) as of --at, print the nearest clusters above and below (side, band, modelled "
        "USD, distance) and the map's running grade, and write the heatmap PNG. With no --db: the bundled "
        "January 2026 scenario.",
    )
    parser.add_argument("--symbol", "-s", required=True, help="trading pair, e.g. BTCUSDT")
    parser.add_argument(
        "--at", metavar="TIME", help="the map as of this UTC time (default: the newest open interest)"
    )
    parser.add_argument("--out", "-o", metavar="FILE", help="PNG file to write (default: text only)")
    parser.add_argument("--config", "-c", metavar="PATH", help="config whose [liqmap] settings apply")
    parser.add_argument(
        "--db", metavar="FILE", help="database to read (default: the bundled scenario in memory)"
    )
    parser.add_argument(
        "--range",
        type=float,
        default=None,
        metavar="PCT",
        help=f"± %% around the price (default {DEFAULT_RANGE_PCT:g})",
    )
    parser.add_argument("--venue", help="one open-interest source only (default: all, summed)")
    parser.add_argument(
        "--theme", choices=("dark", "light"), default="dark", help="colour theme (default: dark)"
    )
    parser.set_defaults(handler=cmd_liqmap)
