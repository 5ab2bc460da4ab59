"""Live engine cost: CPU per simulated minute as symbols grow, and 10k rules under 1,000 liquidations/s.

SYNTHETIC data (a seeded random walk per symbol, not market data) goes where the live feeds put it: Ingest
(SQLite real) and the LiveEvaluator's paths into the engine.

* **Candle polls.** Each symbol has 10 rules (four level crossings, round levels, a liquidation cascade,
  a percent move, RSI, a volume spike, a moving-average cross). Every 15 s the spot poller asks each symbol
  in turn for its newest candles and gets what Binance answers: the candle closed last (re-delivered on
  every poll of the minute) and the one still forming. Each answer is ingested and the rules of that
  symbol evaluated (the data-driven path); every 15 s the timer evaluates every rule. The figure is the
  process CPU per simulated minute (the median minute), after two minutes of warm-up; the ratio 500 / 20
  symbols says whether the cost grows with the symbols (x25) or with their square.
* **Liquidations.** 10,000 rules (1,000 symbols x the same 10) while liquidations arrive at 1,000 per
  second over 200 of the symbols, ingested in the live LiquidationBuffer's batches (every 5 ms), each
  batch evaluating the rules of its symbols. The figure is the share of one core the engine spends.

The baseline is the engine as it was before issue 24 (``BASELINE``: every flush settled every sleeping
rule's clock, every evaluation compared every watch and walked every awake rule, every poll's forming
candle woke every level rule of its symbol), measured in the same run: this script is played again on that
commit's code (``git archive``) in a child process. Where git or the commit is missing (an installed
copy), the figures recorded on the development machine (``RECORDED``) are printed instead, labelled so.

With ``--instructions`` the polled minutes are also played under ``valgrind --tool=callgrind`` (20 symbols for
10 minutes, 500 for one), counting the instructions and the misses of a simulated 2 MiB cache per
symbol-minute. Flat instructions with growing misses say the work is linear and what grows is the cost of
reaching per-symbol state that no longer fits in the cache, not an O(symbols) scan.

    python -m bench.live [--smoke] [--no-baseline] [--json] [--instructions]
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, parser, report
from bot.alerts.engine import Engine
from bot.alerts.model import Target
from detectors.market_history import MarketHistory
from feeds.base import Tuning
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import MINUTE_MS, Candle, Liquidation

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SOURCE = "synthetic"
POLL_MS = 15_000
HISTORY_MINUTES = 300  # enough closed candles for every rule below to learn and go quiet
# main just before issue 24's engine work: the baseline this script replays in the same run.
BASELINE = "1cf89069069fadf38c94fb8417a65742022ae39d"
# The baseline's figures on the development machine (2 shared cores), for when it cannot be replayed.
RECORDED: dict[str, float] = {
    "2": 1.33,
    "20": 17.23,
    "200": 347.0,
    "500": 1995.0,
    "liq_share": 28.07,
    "liq_ms": 1.40,
}


class Nowhere:
    """Route alerts nowhere: they are recorded, which is the engine's cost; delivery is not measured."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return no target."""
        return []


def rules_of(symbol: str, price: float) -> list[RuleRow]:
    """Return the 10 rules one symbol has: levels around its price, indicators, a cascade."""
    settings: list[tuple[str, dict[str, Any]]] = [
        ("level_cross", {"level": round(price * 1.02, 4)}),
        ("level_cross", {"level": round(price * 0.98, 4)}),
        ("level_cross", {"level": round(price * 1.05, 4), "direction": "up"}),
        ("level_cross", {"level": round(price * 0.95, 4), "direction": "down"}),
        ("round_levels", {"step": round(price * 0.1, 4)}),
        ("liquidation_cascade", {"min_usd": 2_000_000, "window_minutes": 5}),
        ("pct_move", {"pct": 3, "window_hours": 1, "interval": "5m"}),
        ("rsi", {"interval": "5m"}),
        ("volume_spike", {"interval": "5m", "window": 12}),
        ("ma_cross", {"interval": "5m", "fast": 5, "slow": 20}),
    ]
    return [
        RuleRow(f"{symbol}-{i}-{detector}", "config", detector, symbol, s, created_at=START)
        for i, (detector, s) in enumerate(settings)
    ]


@dataclass(slots=True)
class Walk:
    """A SYNTHETIC one-minute price walk for one symbol."""

    symbol: str
    price: float
    rng: random.Random

    def minute(self, open_time: int) -> Candle:
        """Return the next closed minute."""
        o = self.price
        c = o * (1 + self.rng.gauss(0, 0.0015))
        h, low = (
            max(o, c) * (1 + abs(self.rng.gauss(0, 0.0005))),
            min(o, c) * (1 - abs(self.rng.gauss(0, 0.0005))),
        )
        self.price = c
        volume = self.rng.uniform(50, 150)
        return Candle(self.symbol, "1m", open_time, SOURCE, o, h, low, c, volume, volume * c, closed=True)


def forming(closed_next: Candle, fraction: float) -> Candle:
    """Return the minute ``closed_next`` as seen ``fraction`` of the way through (still forming)."""
    c = closed_next.o + (closed_next.c - closed_next.o) * fraction
    return Candle(
        closed_next.symbol,
        "1m",
        closed_next.open_time,
        SOURCE,
        closed_next.o,
        max(closed_next.o, c),
        min(closed_next.o, c),
        c,
        closed_next.volume * fraction,
        None,
        closed=False,
    )


@contextmanager
def market(count: int) -> Iterator[tuple[Repo, MarketHistory, Ingest, Engine, list[Walk]]]:
    """Build ``count`` symbols with their rules and warm history; yield the live pieces."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "live.db"))
        rng = random.Random(24)
        walks = [Walk(f"SYN{i:04d}USDT", rng.uniform(0.5, 50_000), random.Random(i)) for i in range(count)]
        history = MarketHistory()
        ingest = Ingest(repo, history)
        with repo.transaction():
            for walk in walks:
                for rule in rules_of(walk.symbol, walk.price):
                    repo.save_rule(rule)
        first = START - HISTORY_MINUTES * MINUTE_MS
        for walk in walks:
            ingest.candles([walk.minute(first + m * MINUTE_MS) for m in range(HISTORY_MINUTES)])
        engine = Engine(repo, history, Nowhere())
        engine.load()
        loaded, saved = len(engine.rules()), count * len(rules_of(walks[0].symbol, walks[0].price))
        if loaded != saved:
            # A rule the engine parks (a detector whose library is missing, as the baseline's talipp in a
            # venv made after it left) costs nothing: the figures would flatter whatever code runs here.
            missing = saved - loaded
            raise SystemExit(f"{missing} of {saved} rules did not load: the figures would measure less")
        engine.evaluate(START)
        try:
            yield repo, history, ingest, engine, walks
        finally:
            repo.close()


def delivered(candle: Candle) -> Candle:
    """Return ``candle`` as the feed hands it over: a new object with new numbers in it.

    A feed parses each answer just before ingesting it, so its candles are new objects still in the CPU's
    cache; the same objects built a minute ahead (for every symbol at once) would charge the large counts
    cache misses the live path does not have.
    """
    fresh = 1.0  # a product is a new float object, as parsing one is
    quote = None if candle.quote_volume is None else candle.quote_volume * fresh
    return candle._replace(
        o=candle.o * fresh,
        h=candle.h * fresh,
        l=candle.l * fresh,
        c=candle.c * fresh,
        volume=candle.volume * fresh,
        quote_volume=quote,
    )


def play_polls(
    count: int, minutes: int, warm_up: int = 2, measuring: Callable[[bool], None] | None = None
) -> tuple[float, float]:
    """Play the live candle polls for ``count`` symbols after a warm-up.

    Return the CPU ms per simulated minute of the whole path (ingest and engine) and of the engine alone,
    each the median over the minutes measured: the machine is shared, and one minute slowed by a neighbour
    would otherwise move the small counts' figures (a few ms) most. Building the answers (the exchange's
    side and the feed's parsing) is not counted. ``measuring`` is told when the measured minutes start
    (True) and end (False).
    """
    clock = time.process_time
    with market(count) as (_, _, ingest, engine, walks):
        last = {w.symbol: w.minute(START - MINUTE_MS) for w in walks}  # closed at START
        used: list[float] = []
        in_engine: list[float] = []
        for minute in range(warm_up + minutes):
            if minute == warm_up and measuring is not None:
                measuring(True)
            minute_start = START + minute * MINUTE_MS
            upcoming = {w.symbol: w.minute(minute_start) for w in walks}
            ingesting = evaluating = 0.0
            for poll in range(MINUTE_MS // POLL_MS):
                now = minute_start + poll * POLL_MS + 1
                fraction = (poll * POLL_MS + 1) / MINUTE_MS
                for walk in walks:
                    now += 1
                    answer = [
                        delivered(last[walk.symbol]),
                        delivered(forming(upcoming[walk.symbol], fraction)),
                    ]
                    started = clock()
                    ingest.candles(answer)
                    ingested = clock()
                    engine.evaluate(now, {walk.symbol})
                    ingesting += ingested - started
                    evaluating += clock() - ingested
                started = clock()
                engine.evaluate(now + 1)  # the timer's pass over every rule
                evaluating += clock() - started
            if minute >= warm_up:
                used.append(ingesting + evaluating)
                in_engine.append(evaluating)
            last = upcoming
        if measuring is not None:
            measuring(False)
        return statistics.median(used) * 1000, statistics.median(in_engine) * 1000


def play_liquidations(symbols: int, seconds: float, rate: int) -> tuple[float, float, int]:
    """Play ``rate`` liquidations a second for ``seconds`` against 10 rules per symbol.

    Return the CPU share of one core (%), the CPU ms per evaluation and the evaluations.
    """
    batch_ms = round(Tuning().flush_interval_s * 1000)
    rng = random.Random(1000)
    with market(symbols) as (_, _, ingest, engine, walks):
        hot = [w.symbol for w in walks[:200]]
        per_batch = rate * batch_ms / 1000
        used = 0.0
        evaluations = 0
        carry = 0.0
        steps = int(seconds * 1000 / batch_ms)
        for step in range(steps):
            now = START + 1 + step * batch_ms
            carry += per_batch
            n, carry = int(carry), carry - int(carry)
            rows = [
                Liquidation(
                    rng.choice(hot),
                    now,
                    "bybit",
                    rng.choice(("long", "short")),
                    1.0,
                    1.0,
                    rng.uniform(500, 5_000),
                )
                for _ in range(n)
            ]
            began = time.process_time()
            if rows:
                ingest.liquidations(rows)
                engine.evaluate(now, {row.symbol for row in rows})
                evaluations += 1
            if step % (POLL_MS // batch_ms) == 0:
                engine.evaluate(now)  # the timer's pass
                evaluations += 1
            used += time.process_time() - began
        return used / seconds * 100, used * 1000 / max(evaluations, 1), evaluations


# The simulated last-level cache of the instruction counts: this machine's L2 (2 MiB a core, 16-way); its L3
# holds every count's working set, so misses of the L2 are the ones that cost more as the symbols grow.
SIMULATED_CACHE = "2097152,16,64"


def counted(count: int, minutes: int) -> dict[str, float] | None:
    """Count the instructions and simulated cache misses of ``minutes`` polled minutes of ``count`` symbols.

    The minutes are played in a child process under ``valgrind --tool=callgrind``, counting only the
    measured minutes (the market is built and warmed uncounted). None when valgrind is missing.
    """
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            "--cache-sim=yes",
            f"--LL={SIMULATED_CACHE}",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.live",
            "--counted-child",
            f"{count},{minutes}",
        ]
        root = Path(__file__).resolve().parent.parent
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not out.exists():
            print(f"instruction count could not run: {done.stderr.strip()[-500:]}")
            return None
        events: list[str] = []
        totals: list[int] = []
        for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith(("summary:", "totals:")):
                totals = [int(value) for value in line.split()[1:]]
    found = dict(zip(events, totals, strict=False))
    misses = found.get("ILmr", 0) + found.get("DLmr", 0) + found.get("DLmw", 0)
    return {"instructions": found.get("Ir", 0), "misses": misses, "symbol_minutes": count * minutes}


def counted_child(spec: str) -> None:
    """Play the minutes of ``spec`` ("count,minutes") with callgrind counting only the measured ones."""
    count, minutes = (int(part) for part in spec.split(","))
    pid = str(os.getpid())

    def measuring(on: bool) -> None:
        subprocess.run(
            ["callgrind_control", "-i", "on" if on else "off", pid], capture_output=True, check=True
        )

    play_polls(count, minutes, measuring=measuring)


def count_instructions(smoke: bool) -> dict[str, float]:
    """Return the instruction and miss counts per symbol-minute at a small and a large symbol count."""
    runs = [(2, 1), (10, 1)] if smoke else [(20, 10), (500, 1)]
    figures: dict[str, float] = {}
    for count, minutes in runs:
        found = counted(count, minutes)
        if found is None:
            return {}
        figures[f"ir_{count}"] = found["instructions"] / found["symbol_minutes"]
        figures[f"miss_{count}"] = found["misses"] / found["symbol_minutes"]
    return figures


def measure(smoke: bool) -> dict[str, float]:
    """Run both workloads; return the figures by name (symbol counts, liq_share, liq_ms, liq_evaluations)."""
    counts = [2, 4, 10] if smoke else [2, 20, 200, 500]
    figures: dict[str, float] = {}
    for count in counts:
        # At least ~4,000 symbol-polls measured, so the small counts are not a few ms of noise.
        minutes = 1 if smoke else max(5, 1000 // count)
        figures[str(count)], figures[f"engine_{count}"] = play_polls(count, minutes)
    symbols, seconds, rate = (50, 1.0, 100) if smoke else (1000, 10.0, 1000)
    figures["liq_share"], figures["liq_ms"], evaluations = play_liquidations(symbols, seconds, rate)
    figures["liq_evaluations"] = evaluations
    return figures


def baseline(smoke: bool) -> dict[str, float] | dict[str, str] | None:
    """Play this script on the ``BASELINE`` commit's code in a child process.

    Return its figures, None without git or the commit, or {"could not run": its error} when it failed.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", BASELINE],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        shutil.copy(Path(__file__), Path(tmp) / "bench" / "live.py")
        command = [sys.executable, "-m", "bench.live", "--no-baseline", "--json"]
        # The child's working directory comes first on its path: it imports the baseline's packages.
        done = subprocess.run(
            [*command, *(["--smoke"] if smoke else [])], cwd=tmp, capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        # Said after the machine line, where the reader looks for what the figures are compared with.
        return {"could not run": done.stderr.strip()[-500:]}
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure the live cost per simulated minute as symbols grow, and 10k rules under liquidations."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--no-baseline", action="store_true", help="skip replaying the old engine")
    args_parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args_parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions and cache misses per symbol-minute under valgrind (minutes)",
    )
    args_parser.add_argument("--counted-child", help="internal: play minutes under callgrind")
    args = args_parser.parse_args(argv)
    if args.counted_child:
        counted_child(args.counted_child)
        return 0
    now = measure(args.smoke)
    if args.json:
        print(json.dumps(now))
        return 0
    played = None if args.no_baseline else baseline(args.smoke)
    failure = played.get("could not run") if played is not None else None
    old = None if played is None or failure is not None else {k: float(v) for k, v in played.items()}
    label = f"baseline {BASELINE[:7]}, same run"
    if old is None and not args.smoke and not args.no_baseline:
        old, label = RECORDED, "baseline recorded on the development machine"
    print(f"machine: {machine()}")
    if failure is not None:
        print(f"baseline could not run: {failure}")
    print("SYNTHETIC candles polled every 15 s (closed + forming), 10 rules per symbol")
    if old is not None:
        print(f"before: {label}")
    lines = figures(now, old, args.smoke)
    if args.instructions:
        counts = count_instructions(args.smoke)
        if counts:
            lines += instruction_figures(counts, args.smoke)
        else:
            print("valgrind (callgrind) not found: instructions not counted")
    report_ok = report("live", lines)
    return 0 if report_ok or args.smoke else 1


def figures(now: dict[str, float], old: dict[str, float] | None, smoke: bool) -> list[Figure]:
    """Return the figures to print, each with the baseline's beside it when there is one."""

    def before(key: str, unit: str) -> str:
        return f"before: {old[key]:,.2f} {unit}" if old is not None and key in old else ""

    counts = [key for key in now if key.isdigit()]
    lines = [Figure(f"live CPU per minute, {c} symbols", now[c], "ms", note=before(c, "ms")) for c in counts]
    big, small = counts[-1], counts[1]
    ratio = now[big] / now[small]
    was = f"; before: x{old[big] / old[small]:.0f}" if old is not None and big in old else ""
    lines.append(
        Figure(
            f"  ratio {big} / {small} symbols",
            ratio,
            "x",
            None if smoke else 25.0,
            note=f"linear: x{int(big) / int(small):g}{was}",
        )
    )
    engine_big, engine_small = now[f"engine_{big}"], now[f"engine_{small}"]
    lines.append(
        Figure(
            f"  engine alone, {big} / {small} symbols",
            engine_big / engine_small,
            "x",
            note=f"{engine_small:.2f} and {engine_big:.1f} ms per minute",
        )
    )
    rules = "500" if smoke else "10,000"
    rate = "100" if smoke else "1,000"
    lines += [
        Figure(
            f"{rules} rules at {rate} liquidations/s",
            now["liq_share"],
            "% core",
            None if smoke else 5.0,
            note=before("liq_share", "%"),
        ),
        Figure(
            "  CPU per evaluation",
            now["liq_ms"],
            "ms",
            note=f"{now['liq_evaluations']:,.0f} evaluations; {before('liq_ms', 'ms')}",
        ),
    ]
    return lines


def instruction_figures(counts: dict[str, float], smoke: bool) -> list[Figure]:
    """Return the instructions and simulated cache misses per symbol-minute, and their growth."""
    sizes = sorted(int(key[3:]) for key in counts if key.startswith("ir_"))
    small, big = sizes[0], sizes[-1]
    lines = [
        Figure(f"instructions per symbol-minute, {size} symbols", counts[f"ir_{size}"], "instr")
        for size in sizes
    ]
    lines.append(
        Figure(
            f"  instructions per minute, {big} / {small} symbols",
            counts[f"ir_{big}"] * big / (counts[f"ir_{small}"] * small),
            "x",
            None if smoke else 25.0,
            note=f"linear: x{big / small:g}; callgrind",
        )
    )
    lines += [
        Figure(
            f"  cache misses per symbol-minute, {size} symbols",
            counts[f"miss_{size}"],
            "misses",
            note="simulated 2 MiB last-level cache (this machine's L2)",
        )
        for size in sizes
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
