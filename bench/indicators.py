"""Indicator rules at scale: 200 symbols × 5 indicator rules on one-minute candles, per closed candle.

SYNTHETIC one-minute candles (a seeded random walk per symbol, seeded volumes) for 200 symbols arrive a
minute at a time, as the live bot gets them: each minute's closed candles go through the real Ingest
(SQLite and the in-memory history) and the engine evaluates the rules of those symbols (alerts recorded
and queued in the outbox included). Each symbol has five indicator rules on 1m candles (rsi, ma_cross,
macd, bollinger, stoch_rsi), with levels people use on such a chart.

The baseline is today's per-candle cost, measured in the same run on the same candles: five rules per
symbol of the detectors that read candles before issue 18 (level_cross, round_levels, pct_move,
volume_spike, range_breakout). Two figures per run: the engine's evaluation alone per closed candle, and
the whole per-candle cost (ingest and evaluation), in CPU time; the target, at most 2× the baseline, is
on the whole.
The runs alternate (baseline, indicators, baseline, ...) and each figure is the median of ``--runs``, as
the machine is shared. For comparison it also prints the baseline rules' evaluation when the engine is
made to evaluate them at every candle (their ``quiet`` switched off), as a 1m indicator rule must be.

Both first load a warm-up of history and evaluate once (the indicator rules build their indicators from
it then, as after a restart); only the minutes after it are timed.

    python -m bench.indicators [--smoke] [--symbols N] [--minutes M] [--runs R]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from bench.common import Figure, machine, parser, report
from bot.alerts.engine import Engine
from bot.alerts.model import Target
from detectors.market_history import MarketHistory
from detectors.registry import get_detector
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import MINUTE_MS, Candle

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
WARMUP_MINUTES = 300  # enough for every indicator below (MACD needs 34 candles, SMA(50) 51)

# Levels people set on a one-minute chart; each rule fires a few times a day per symbol on this data.
INDICATOR_RULES: dict[str, dict[str, Any]] = {
    "rsi": {"interval": "1m", "above": 80, "below": 20, "hysteresis": 5},
    "ma_cross": {"interval": "1m", "fast": 50, "slow": 200, "kind": "ema"},
    "macd": {"interval": "1m", "watch": "zero"},
    "bollinger": {"interval": "1m", "watch": "squeeze", "squeeze_lookback": 120},
    "stoch_rsi": {"interval": "1m", "lower": 10, "upper": 90},
}


def baseline_rules(price: float) -> dict[str, dict[str, Any]]:
    """Return five rules of the candle detectors that existed before, for a symbol trading near ``price``."""
    return {
        "level_cross": {"level": price * 1.002},
        "round_levels": {"step": price / 100},
        "pct_move": {"pct": 0.5, "window_hours": 1, "interval": "5m"},
        "volume_spike": {"multiple": 3, "window": 12, "interval": "5m"},
        "range_breakout": {"days": 2, "interval": "5m"},
    }


class Console:
    """Route every alert to the console (queued in the outbox, never sent)."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the console."""
        return [Target("console", "stdout")]


def market(symbols: int, minutes: int, seed: int = 18) -> list[list[Candle]]:
    """Return SYNTHETIC closed 1m candles, minute by minute: a seeded random walk per symbol."""
    rng = random.Random(seed)
    prices = [rng.uniform(1, 1000) for _ in range(symbols)]
    names = [f"SYN{i:03d}USDT" for i in range(symbols)]
    out: list[list[Candle]] = []
    for m in range(minutes):
        minute: list[Candle] = []
        for i, name in enumerate(names):
            o = prices[i]
            c = o * (1 + rng.gauss(0, 0.002))
            h, low = max(o, c) * (1 + abs(rng.gauss(0, 0.0005))), min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
            minute.append(
                Candle(name, "1m", START + m * MINUTE_MS, "synthetic", o, h, low, c, rng.uniform(1, 100))
            )
            prices[i] = c
        out.append(minute)
    return out


class Run(NamedTuple):
    """One run's figures: evaluation alone and ingest plus evaluation, per closed candle (us); alerts."""

    evaluate_us: float
    total_us: float
    fired: int


@contextmanager
def never_quiet(names: Iterable[str]) -> Iterator[None]:
    """Make the named detectors say "evaluate every time", so the engine evaluates them at every candle."""
    classes = [get_detector(name) for name in names]
    saved = [cls.__dict__.get("quiet") for cls in classes]
    for cls in classes:
        cls.quiet = lambda self, state, now: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, quiet in zip(classes, saved, strict=True):
            if quiet is None:
                del cls.quiet
            else:
                cls.quiet = quiet  # type: ignore[method-assign]


def play(minutes: list[list[Candle]], rules: dict[str, dict[str, Any]] | None, warmup: int) -> Run:
    """Play the candles through Ingest and an engine with the given rules per symbol (None: the baseline).

    Only the minutes after ``warmup`` are timed.
    """
    repo = Repo(open_database(":memory:"))
    history = MarketHistory()
    ingest = Ingest(repo, history)
    with repo.transaction():
        for candle in minutes[0]:
            per_symbol = rules if rules is not None else baseline_rules(candle.o)
            for detector, settings in per_symbol.items():
                rule_id = f"{detector}-{candle.symbol}"
                repo.save_rule(
                    RuleRow(rule_id, "config", detector, candle.symbol, settings, created_at=START)
                )
    engine = Engine(repo, history, Console())
    engine.load()
    for minute in minutes[:warmup]:
        ingest.candles(minute)
    engine.evaluate(START + warmup * MINUTE_MS)  # the indicator rules build their indicators here
    timed = minutes[warmup:]
    # CPU time of this process, not wall time: on a shared machine other processes' load moves wall time
    # by more than the difference measured here, and everything timed runs in this process's one thread.
    evaluating = 0.0
    began = time.process_time()
    for m, minute in enumerate(timed, start=warmup + 1):
        ingest.candles(minute)
        started = time.process_time()
        engine.evaluate(START + m * MINUTE_MS, [c.symbol for c in minute])
        evaluating += time.process_time() - started
    total = time.process_time() - began
    candles = sum(len(minute) for minute in timed)
    fired = engine.fired
    repo.close()
    return Run(evaluating / candles * 1e6, total / candles * 1e6, fired)


def main(argv: list[str] | None = None) -> int:
    """Measure both rule sets and print the figures; exit 1 when the ratio misses its target."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--symbols", type=int, default=200)
    args_parser.add_argument("--minutes", type=int, default=60, help="timed minutes after the warm-up")
    args_parser.add_argument("--runs", type=int, default=3, help="runs of each to take the median of")
    args = args_parser.parse_args(argv)
    symbols, timed, runs = (10, 20, 1) if args.smoke else (args.symbols, args.minutes, args.runs)
    warmup = 210 if args.smoke else WARMUP_MINUTES  # the smoke run too decides on warm indicators
    print(f"machine: {machine()}")
    minutes = market(symbols, warmup + timed)
    baseline_runs, indicator_runs, awake_runs = [], [], []
    for _ in range(runs):
        baseline_runs.append(play(minutes, None, warmup))
        indicator_runs.append(play(minutes, INDICATOR_RULES, warmup))
        with never_quiet(baseline_rules(1.0)):
            awake_runs.append(play(minutes, None, warmup))

    def median(values: list[Run], field: str) -> float:
        return float(statistics.median(float(getattr(r, field)) for r in values))

    base_eval, ind_eval = median(baseline_runs, "evaluate_us"), median(indicator_runs, "evaluate_us")
    base_total, ind_total = median(baseline_runs, "total_us"), median(indicator_runs, "total_us")
    awake_eval = median(awake_runs, "evaluate_us")
    size = f"{symbols} symbols x {timed} min, median of {runs}"
    figures = [
        Figure("baseline: ingest + 5 candle rules", base_total, "us/candle", note=size),
        Figure("  of which evaluation", base_eval, "us/candle", note=f"{baseline_runs[0].fired} alerts"),
        Figure("ingest + 5 indicator rules (1m)", ind_total, "us/candle", note=size),
        Figure("  of which evaluation", ind_eval, "us/candle", note=f"{indicator_runs[0].fired} alerts"),
        Figure("evaluation alone / baseline's", ind_eval / base_eval, "x"),
        Figure(
            "baseline evaluated at every candle (no sleep)",
            awake_eval,
            "us/candle",
            note=f"indicator rules' evaluation is {ind_eval / awake_eval:.2f}x it",
        ),
        Figure(
            "per-candle cost / baseline's", ind_total / base_total, "x", target=None if args.smoke else 2.0
        ),
    ]
    passed = report("indicator rules on 1m candles", figures)
    return 0 if passed or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
