"""Loading 50,000 rules: the longest event-loop stall, the total time, and memory per rule at 20,000.

The history is SYNTHETIC (``bench.memory.fill``: seeded random walks, source ``synthetic``) for 20 symbols;
the rules cover every built-in detector of ``bench.memory`` over those symbols in 100 guilds. A probe task
sleeps 5 ms at a time on the loop and records how late it wakes: the longest stall. The baseline is how the
bot loaded rules before issue 24 (``Engine.load`` and one evaluation, in one go on the loop), timed in the
same process on a copy of the same database; the new way is ``Engine.load_gradually``.

Memory: the process's resident set grown by loading 20,000 rules and evaluating each once, per rule.

    python -m bench.rule_loading [--smoke] [--rules N]
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, machine, parser, report, rss_mb
from bench.memory import DETECTORS, NOW, fill, rule_settings, symbol_names
from bot.alerts.engine import Engine
from bot.alerts.model import Target
from detectors.base import MARKET_SYMBOL
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow

STALL_TARGET_MS = 100.0
PROBE_S = 0.005
GUILDS = 100


class ConsoleOnly:
    """Route every alert to one console target (delivery is not what is measured)."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the console."""
        return [Target("console", "stdout")]


def save_rules(repo: Repo, history: MarketHistory, symbols: list[str], first: int, count: int) -> None:
    """Store rules ``first`` to ``first + count`` over every detector and the symbols."""
    prices = {s: (history.view(s, NOW).last_price() or (NOW, 1.0))[1] for s in symbols}
    with repo.transaction():
        for i in range(first, first + count):
            detector = DETECTORS[i % len(DETECTORS)]
            symbol = symbols[(i * 7) % len(symbols)]
            other = symbols[(i * 7 + 1) % len(symbols)]
            repo.save_rule(
                RuleRow(
                    id=f"g{i % GUILDS}-{detector}-{i}",
                    origin="discord",
                    detector=detector,
                    symbol=MARKET_SYMBOL if detector == "fear_greed" else symbol,
                    settings=rule_settings(detector, prices[symbol], other),
                    guild_id=1_190_000_000_000_000_000 + i % GUILDS,
                    channel_id=1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


@dataclass(frozen=True, slots=True)
class Stall:
    """The longest time the loop did not get to the probe: on the wall clock and in the loop's CPU time."""

    wall_ms: float
    cpu_ms: float
    took_s: float


async def longest_stall(work: Callable[[], Awaitable[object]]) -> Stall:
    """Run ``work`` on the loop beside a probe; return the longest stall and the seconds ``work`` took.

    The wall-clock figure includes any time the host gave the CPU to another process (this machine is
    shared); the CPU figure is the loop thread's own time between two wake-ups of the probe: the stall the
    work itself caused.
    """
    worst_wall = worst_cpu = 0.0
    done = asyncio.Event()

    async def probe() -> None:
        nonlocal worst_wall, worst_cpu
        while not done.is_set():
            wall, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(PROBE_S)
            worst_wall = max(worst_wall, time.perf_counter() - wall - PROBE_S)
            worst_cpu = max(worst_cpu, time.thread_time() - cpu)

    task = asyncio.create_task(probe())
    await asyncio.sleep(PROBE_S)  # the probe is waiting before the work starts
    began = time.perf_counter()
    await work()
    took = time.perf_counter() - began
    done.set()
    await task
    return Stall(worst_wall * 1000, worst_cpu * 1000, took)


def at_once(engine: Engine) -> Callable[[], Awaitable[object]]:
    """Return the old start-up: load every rule, then one evaluation, without yielding."""

    async def work() -> None:
        engine.load()
        engine.evaluate(NOW)

    return work


def gradually(engine: Engine) -> Callable[[], Coroutine[object, object, None]]:
    """Return the new start-up: Engine.load_gradually, each batch evaluated at the same time."""

    async def evaluate() -> None:
        engine.evaluate(NOW)
        gc.freeze()  # as bot.app does after each batch: the collector stops re-walking what was loaded

    async def work() -> None:
        gc.freeze()  # as bot.app does before loading: the warmed history
        await engine.load_gradually(evaluate)

    return work


def copy_database(repo: Repo, path: Path) -> Repo:
    """Return a Repo on a copy of ``repo``'s database at ``path``."""
    with sqlite3.connect(str(path)) as dest:
        repo.sqlite_connection().backup(dest)
    dest.close()
    return Repo(open_database(path))


def rss_per_rule_kb(repo: Repo, history: MarketHistory) -> tuple[float, int]:
    """Load and first-evaluate every stored rule; return (resident set grown per rule in KB, rules)."""
    gc.collect()
    before = rss_mb() or 0.0
    engine = Engine(repo, history, ConsoleOnly())
    asyncio.run(gradually(engine)())
    gc.collect()
    grown = (rss_mb() or 0.0) - before
    rules = len(engine.rules())
    gc.unfreeze()  # the timed runs that follow start from the collector's usual state
    return grown * 1024 / max(rules, 1), rules


def main(argv: list[str] | None = None) -> int:
    """Build the database, measure both ways of loading and print the figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--rules", type=int, default=50_000)
    args = args_parser.parse_args(argv)
    total = 500 if args.smoke else args.rules
    memory_rules = 200 if args.smoke else 20_000
    symbols = symbol_names(5 if args.smoke else 20)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "rules.db"))
        history = MarketHistory(bounded=True)  # as bot.app builds it: loading rules reads history back
        with repo.transaction():
            fill(Ingest(repo, history), symbols, 0.05 if args.smoke else 1.0)
        save_rules(repo, history, symbols, 0, memory_rules)
        detector_classes()  # imported before either is timed, as the running bot has them
        per_rule_kb, measured = rss_per_rule_kb(copy_database(repo, Path(tmp) / "memory.db"), history)
        save_rules(repo, history, symbols, memory_rules, total - memory_rules)
        old_repo = copy_database(repo, Path(tmp) / "old.db")
        old_engine = Engine(old_repo, history, ConsoleOnly())
        old = asyncio.run(longest_stall(at_once(old_engine)))
        new_engine = Engine(repo, history, ConsoleOnly())
        new = asyncio.run(longest_stall(gradually(new_engine)))
        gc.unfreeze()
        same = len(new_engine.rules()) == len(old_engine.rules()) == total
        same = same and repo.all_detector_states() == old_repo.all_detector_states()
        old_repo.close()
        repo.close()
    figures = [
        Figure(f"longest loop stall loading {total:,} rules (CPU)", new.cpu_ms, "ms", STALL_TARGET_MS),
        Figure("  on the wall clock (shared host)", new.wall_ms, "ms"),
        Figure(
            "  baseline (load, then one evaluation) / now",
            old.cpu_ms / max(new.cpu_ms, 1e-6),
            "x",
            note=f"baseline stall {old.cpu_ms:,.0f} ms CPU, {old.wall_ms:,.0f} ms wall",
        ),
        Figure(
            "total time to load and first-evaluate", new.took_s, "s", note=f"baseline {old.took_s:,.1f} s"
        ),
        Figure(
            "  per rule", new.took_s / total * 1000, "ms", note=f"baseline {old.took_s / total * 1000:.3f} ms"
        ),
        Figure(f"resident memory per rule at {measured:,} rules", per_rule_kb, "KB"),
    ]
    print(f"machine: {machine()}")
    ok = report("rule loading", figures)
    print(f"{'PASS' if same else 'FAIL'}  both ways load every rule and leave the same detector states")
    return 0 if (ok or args.smoke) and same else 1


if __name__ == "__main__":
    sys.exit(main())
