"""The liquidation map for 2 symbols: the update per closed candle, and the memory it takes.

SYNTHETIC one-minute candles and open interest (a seeded random walk per symbol; open interest drifts
up and down by a seeded few basis points a minute) for 2 symbols arrive a minute at a time, as the live
bot gets them, into the in-memory history. Each symbol has a ``liq_cluster_swept`` rule (both sides,
clusters of $1M or more): every closed candle, the rule reads the new candle and open interest, finds
the clusters, advances the map (consume, remove, open) and saves it in its state, as the engine would
persist it (``json.dumps``). ``--days`` of minutes are played first so the map is as full as it gets with
the default ``build_days``; the timed minutes follow.

The baseline, in the same run on the same minutes: an ``open_interest`` rule per symbol (it reads the same
open interest and keeps a small state). Figures: the map's update per closed candle for both symbols
(median and p99; target under 100 ms), the baseline's, their ratio, the bins held and the state's size,
and the memory the two maps take (Python allocations traced by ``tracemalloc``; target under 50 MB).

    python -m bench.liqmap [--smoke] [--days D] [--minutes M]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tracemalloc
from typing import Any

from bench.common import Figure, machine, parser, report, timer
from detectors.base import Detector
from detectors.market_history import MarketHistory
from detectors.registry import get_detector
from storage.rows import MINUTE_MS, Candle, OpenInterest

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SYMBOLS = ("SYNAUSDT", "SYNBUSDT")


def minutes_of(count: int, seed: int = 20) -> list[tuple[list[Candle], list[OpenInterest]]]:
    """Return SYNTHETIC closed 1m candles and open interest for both symbols, minute by minute."""
    rng = random.Random(seed)
    prices = {s: p for s, p in zip(SYMBOLS, (95_000.0, 3_300.0), strict=True)}
    oi_base = {s: 100_000.0 if s == SYMBOLS[0] else 2_500_000.0 for s in SYMBOLS}
    out = []
    for m in range(count):
        candles, points = [], []
        for symbol in SYMBOLS:
            o = prices[symbol]
            c = o * (1 + rng.gauss(0, 0.0012))
            h = max(o, c) * (1 + abs(rng.gauss(0, 0.0004)))
            low = min(o, c) * (1 - abs(rng.gauss(0, 0.0004)))
            prices[symbol] = c
            oi_base[symbol] *= 1 + rng.gauss(0.00001, 0.0008)
            t = START + m * MINUTE_MS
            candles.append(Candle(symbol, "1m", t, "synthetic", o, h, low, c, rng.uniform(1, 100)))
            points.append(OpenInterest(symbol, t + MINUTE_MS, "binance", None, oi_base[symbol] * c))
        out.append((candles, points))
    return out


def rules(name: str, **settings: Any) -> list[Detector]:
    """Return one rule of a detector per symbol."""
    cls = get_detector(name)
    return [cls(f"{name}-{s}", s, cls.Settings.model_validate(settings)) for s in SYMBOLS]


def evaluate(
    history: MarketHistory, detectors: list[Detector], states: list[dict[str, Any]], now: int
) -> None:
    """Evaluate each rule at ``now`` and persist its state as the engine does (JSON)."""
    for i, detector in enumerate(detectors):
        detector.evaluate(history.view(detector.symbol, now), states[i])
        states[i] = json.loads(json.dumps(states[i]))


def main(argv: list[str] | None = None) -> int:
    """Play the minutes, time the timed ones, print the figures; exit 1 when a target is missed."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--days", type=float, default=21, help="minutes played before timing, in days")
    args_parser.add_argument("--minutes", type=int, default=600, help="timed minutes")
    args = args_parser.parse_args(argv)
    warm, timed = (180, 30) if args.smoke else (int(args.days * 1440), args.minutes)
    print(f"machine: {machine()}")
    data = minutes_of(warm + timed)
    history = MarketHistory()
    tracemalloc.start()
    maps = rules("liq_cluster_swept", min_usd=1e6)
    baseline = rules("open_interest", pct=2, window_hours=4)
    map_states: list[dict[str, Any]] = [{} for _ in maps]
    base_states: list[dict[str, Any]] = [{} for _ in baseline]
    map_ms: list[float] = []
    base_ms: list[float] = []
    with timer() as warming:
        for m, (candles, points) in enumerate(data):
            history.add_candles(candles)
            history.add_open_interest(points)
            now = START + (m + 1) * MINUTE_MS
            with timer() as took:
                evaluate(history, maps, map_states, now)
            if m >= warm:
                map_ms.append(took() * 1000)
            with timer() as took:
                evaluate(history, baseline, base_states, now)
            if m >= warm:
                base_ms.append(took() * 1000)
    held = [d.__dict__["_liqmap"] for d in maps]
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    map_bytes = sum(
        stat.size
        for stat in snapshot.statistics("filename")
        if "detectors/liqmap" in stat.traceback[0].filename or "liq_cluster" in stat.traceback[0].filename
    )
    state_kb = sum(len(json.dumps(s)) for s in map_states) / 1024
    bins = sum(len(m.longs) + len(m.shorts) for m in held)
    median, p99 = statistics.median(map_ms), sorted(map_ms)[int(0.99 * (len(map_ms) - 1))]
    base_median = statistics.median(base_ms)
    target = None if args.smoke else 100.0
    size = f"2 symbols, {warm:,} min played then {timed:,} timed"
    figures = [
        Figure(
            "map update per closed candle, median", median, "ms", None if args.smoke else 100.0, note=size
        ),
        Figure("map update per closed candle, p99", p99, "ms", target),
        Figure("baseline open_interest rules, median", base_median, "ms"),
        Figure("map / baseline", median / base_median if base_median else 0.0, "x"),
        Figure("memory of the two maps (tracemalloc)", map_bytes / 1e6, "MB", None if args.smoke else 50.0),
        Figure("bins held / saved state", bins, "bins", note=f"state {state_kb:.0f} KB for both rules"),
        Figure("whole run (warm-up and timed)", warming(), "s"),
    ]
    passed = report("liquidation map, 2 symbols, 1m candles", figures)
    return 0 if passed or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
