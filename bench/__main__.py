"""Run every benchmark in turn (``python -m bench [--smoke]``); exit 1 when any target is missed.

Each benchmark also runs alone (``python -m bench.replay`` ...); ``python -m bench replay memory`` runs
the ones named.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bench import (
    backends,
    candle_latency,
    charts,
    command_queries,
    delivery,
    indicators,
    ingest,
    latency,
    liqmap,
    live,
    memory,
    queries,
    replay,
    rule_loading,
    scale_out,
    startup,
    takeover,
)
from bench.common import machine, parser

BENCHMARKS: tuple[tuple[str, Callable[[list[str] | None], int]], ...] = (
    ("replay", replay.main),
    ("ingest", ingest.main),
    ("latency", latency.main),
    ("candle_latency", candle_latency.main),
    ("live", live.main),
    ("memory", memory.main),
    ("queries", queries.main),
    ("delivery", delivery.main),
    ("startup", startup.main),
    ("charts", charts.main),
    ("indicators", indicators.main),
    ("command_queries", command_queries.main),
    ("rule_loading", rule_loading.main),
    ("liqmap", liqmap.main),
    ("backends", backends.main),
    ("scale_out", scale_out.main),
    ("takeover", takeover.main),
)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named (default: all) and summarise which missed a target."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("only", nargs="*", help="benchmarks to run (default: all)")
    args = args_parser.parse_args(argv)
    names = [name for name, _ in BENCHMARKS]
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        args_parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(names)}")
    print(f"machine: {machine()}")
    failed: list[str] = []
    started = time.monotonic()
    for name, run in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        began = time.monotonic()
        code = run(["--smoke"] if args.smoke else [])
        print(f"-- {name}: {time.monotonic() - began:.0f} s\n", flush=True)
        if code:
            failed.append(name)
    print(
        f"all benchmarks: {time.monotonic() - started:.0f} s; "
        + (f"missed: {', '.join(failed)}" if failed else "every target met")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
