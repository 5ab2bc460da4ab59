"""Durability under SIGKILL: ``tripwire replay --discord`` killed at random points 100+ times.

Each round starts the replay of the January 2026 breakout week against a fresh Discord emulator and kills
it with SIGKILL at random points (inside Discord's handling of one of its sends or edits, just after an
answer, or anywhere), restarting it on the same database each time, then lets it finish. Every round's
messages are compared with one uninterrupted run's: alerts lost, alerts duplicated, messages that differ
(all must be 0). The baseline figure is the uninterrupted run's time.

    python -m bench.durability [--kills N] [--seed N] [--smoke]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bench.common import Figure, machine, parser, report
from tests.bot.durability import describe, run_durability


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--kills", type=int, default=120, help="SIGKILLs in all (default 120)")
    args_parser.add_argument("--seed", type=int, default=2026, help="seed of the random kill points")
    args = args_parser.parse_args(argv)
    kills = 3 if args.smoke else args.kills
    with tempfile.TemporaryDirectory() as tmp:
        outcome = asyncio.run(run_durability(Path(tmp), kills, seed=args.seed, on_progress=print))
    per_kill = outcome.killed_seconds / max(outcome.kills, 1)
    figures = [
        Figure("kills (SIGKILL)", outcome.kills, "kills", 100.0 if not args.smoke else None, "higher"),
        Figure("  of them inside a send or edit", outcome.kills_in_a_request, "kills"),
        Figure("messages compared", outcome.messages, "messages"),
        Figure("alert lines compared", outcome.lines, "lines"),
        Figure("alerts lost", len(outcome.lost), "alerts", 0.0),
        Figure("alerts duplicated", len(outcome.duplicated), "alerts", 0.0),
        Figure("messages that differ", len(outcome.differing_messages), "messages", 0.0),
        Figure("uninterrupted run (baseline)", outcome.baseline_seconds, "s"),
        Figure("wall time per kill and restart", per_kill, "s"),
        Figure("  ratio: per kill / uninterrupted run", per_kill / max(outcome.baseline_seconds, 1e-6), "x"),
    ]
    print(f"machine: {machine()}")
    ok = report("durability", figures)
    if not outcome.identical:
        print(describe(outcome))
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
