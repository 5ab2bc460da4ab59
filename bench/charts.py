"""Chart rendering and backtest cost: what `/chart` and `/alert test` ask of the bot.

Charts: a week of 1h candles of the bundled scenario (BTCUSDT 2026-01-10..16, replayed so its alerts are
marked), drawn in both themes. The baseline is the budget issue 7 sets (a week of 1h candles rendered in
under a second, a PNG well under 1 MB; 200 KB aimed for): each figure is printed with its ratio to it.
Backtests: one level rule over 50,000 synthetic 1m candles (a made-up sine-shaped price), and over 90 days
of them (129,600 candles, a week of warm-up before), the most the default limits allow on one symbol,
with the memory it takes above what the process held before.

    python -m bench.charts [--smoke]
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path

from bench.common import Figure, machine, parser, peak_rss_mb, report, reset_peak_rss, rss_mb, timer
from bot.charts.data import chart_spec_from_repo
from bot.charts.draw import render_chart
from bot.cli.common import scenario_replayed_repo
from bot.config import load_config
from bot.replay.backtest import BacktestLimits, backtest
from feeds.replay import parse_time
from storage.db import open_database
from storage.repo import Repo
from storage.rows import MINUTE_MS, Candle


def median_seconds(runs: int, work: Callable[[], object]) -> float:
    """Return the median wall time of ``runs`` calls of ``work``."""
    times = []
    for _ in range(runs):
        with timer() as elapsed:
            work()
        times.append(elapsed())
    return statistics.median(times)


def minute_repo(count: int) -> Repo:
    """Return an in-memory database of ``count`` synthetic 1m BTCUSDT candles."""
    repo = Repo(open_database(":memory:"))
    t0 = parse_time("2026-01-01")
    rows = []
    price = 90_000.0
    for i in range(count):
        before = price
        price = 90_000 + 6_000 * math.sin(i / 3_000) + 300 * math.sin(i / 37)
        high, low = max(before, price) + 5, min(before, price) - 5
        rows.append(Candle("BTCUSDT", "1m", t0 + i * MINUTE_MS, "synthetic", before, high, low, price, 1.0))
    repo.upsert_candles(rows)
    return repo


def long_backtest(rule: dict[str, object], days: int) -> list[Figure]:
    """Return the time and the memory of a backtest over ``days`` of 1m candles (and a week of warm-up)."""
    limits = BacktestLimits()
    minutes = minute_repo(int((days + limits.warmup_days) * 1440))
    before = rss_mb()
    measured = reset_peak_rss() and before is not None
    with timer() as elapsed:
        result = backtest(minutes, rule, days=days, chart=True)
    seconds = elapsed()
    minutes.close()
    figures = [
        Figure(
            f"backtest over {days} days of 1m ({result.candles:,})",
            seconds,
            "s",
            5.0,
            note=f"{result.candles / max(limits.max_candles, 1):.2f} of the default limit, "
            f"{seconds / result.candles * 1e6:.1f} µs a candle, {result.fire_count} firings, with chart",
        )
    ]
    if measured and before is not None:
        grown = peak_rss_mb() - before
        figures.append(
            Figure(
                f"backtest over {days} days of 1m: peak RSS added",
                grown,
                "MB",
                note=f"{grown * 2**20 / result.candles:.0f} bytes a candle",
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args = parser(__doc__ or "").parse_args(argv)
    runs = 2 if args.smoke else 15
    with resources.as_file(resources.files("bot.scenario")) as scenario:
        repo = scenario_replayed_repo(Path(scenario), load_config(Path(scenario) / "config.example.toml"))
    start, end = parse_time("2026-01-10"), parse_time("2026-01-17")
    figures: list[Figure] = []
    for theme in ("dark", "light"):
        spec = chart_spec_from_repo(repo, "BTCUSDT", "1h", start, end, theme=theme)
        seconds = median_seconds(runs, partial(render_chart, spec))
        size = len(render_chart(spec))
        figures.append(
            Figure(
                f"week of 1h ({theme}): figure + PNG",
                seconds * 1000,
                "ms",
                1000,
                note=f"{seconds:.2f} of budget",
            )
        )
        figures.append(
            Figure(
                f"week of 1h ({theme}): PNG size", size / 1024, "KB", 200, note=f"{size / 204_800:.2f} of aim"
            )
        )
    with timer() as spec_time:
        for _ in range(runs):
            chart_spec_from_repo(repo, "BTCUSDT", "1h", start, end)
    figures.append(Figure("spec from the database (week of 1h)", spec_time() / runs * 1000, "ms", 50))
    repo.close()

    rule = {"detector": "level_cross", "symbol": "BTCUSDT", "level": 95_000, "direction": "either"}
    candles = 2_000 if args.smoke else 50_000
    minutes = minute_repo(candles)
    with timer() as elapsed:
        result = backtest(minutes, rule, days=candles / 1440 + 1, chart=True)
    figures.append(
        Figure(
            f"backtest over {result.candles:,} 1m candles",
            elapsed(),
            "s",
            5.0,
            note=f"{result.fire_count} firings, chart {len(result.chart_png or b'') / 1024:.0f} KB",
        )
    )
    minutes.close()
    figures += long_backtest(rule, days=2 if args.smoke else 90)
    print(f"machine: {machine()}")
    ok = report("charts and backtests", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
