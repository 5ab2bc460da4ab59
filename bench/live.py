"""Live engine cost: CPU per simulated minute as symbols grow, and 10k rules under 1,000 liquidations/s.

SYNTHETIC data (a seeded random walk per symbol, not market data) goes where the live feeds put it: Ingest
(SQLite real) and the LiveEvaluator's paths into the engine.

* **Candle polls.** Each symbol has 10 rules (four level crossings, round levels, a liquidation cascade,
  a percent move, RSI, a volume spike, a moving-average cross). Every 15 s the spot poller asks each symbol
  in turn for its newest candles and gets what Binance answers: the candle closed last (re-delivered on
  every poll of the minute) and the one still forming. Each answer is ingested and the rules of that
  symbol evaluated (the data-driven path); every 15 s the timer evaluates every rule. The figure is the
  process CPU per simulated minute, after two minutes of warm-up; the ratio 500 / 20 symbols says whether
  the cost grows with the symbols (x25) or with their square.
* **Liquidations.** 10,000 rules (1,000 symbols x the same 10) while liquidations arrive at 1,000 per
  second over 200 of the symbols, ingested in the live LiquidationBuffer's batches (every 5 ms), each
  batch evaluating the rules of its symbols. The figure is the share of one core the engine spends.

Before the engine settled clocks lazily and indexed its watches (issue 24), this script measured on this
machine (2 shared cores): 1.33, 17.2, 347, 1,995 CPU ms per simulated minute at 2, 20, 200, 500 symbols
(x116 for 500 / 20), and 1.40 ms per evaluation, 28% of a core, for 10k rules at 1,000 liquidations/s
(``BEFORE`` below, printed alongside).

    python -m bench.live [--smoke]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Iterator
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
# Figures measured on this machine before issue 24's engine changes (same workload, same script).
BEFORE = {2: 1.33, 20: 17.23, 200: 347.0, 500: 1995.0, "liq_ms": 1.40, "liq_share": 28.07}


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
        h, low = max(o, c) * (1 + abs(self.rng.gauss(0, 0.0005))), min(o, c) * (1 - abs(self.rng.gauss(0, 0.0005)))
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
        engine.evaluate(START)
        try:
            yield repo, history, ingest, engine, walks
        finally:
            repo.close()


def play_polls(count: int, minutes: int, warm_up: int = 2) -> float:
    """Play the live candle polls for ``count`` symbols; return CPU ms per simulated minute after warm-up."""
    with market(count) as (_, _, ingest, engine, walks):
        last = {w.symbol: w.minute(START - MINUTE_MS) for w in walks}  # closed at START
        used = 0.0
        for minute in range(warm_up + minutes):
            minute_start = START + minute * MINUTE_MS
            upcoming = {w.symbol: w.minute(minute_start) for w in walks}
            began = time.process_time()
            for poll in range(MINUTE_MS // POLL_MS):
                now = minute_start + poll * POLL_MS + 1
                for walk in walks:
                    now += 1
                    fraction = (poll * POLL_MS + 1) / MINUTE_MS
                    ingest.candles([last[walk.symbol], forming(upcoming[walk.symbol], fraction)])
                    engine.evaluate(now, {walk.symbol})
                engine.evaluate(now + 1)  # the timer's pass over every rule
            if minute >= warm_up:
                used += time.process_time() - began
            last = upcoming
        return used * 1000 / minutes


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
                Liquidation(rng.choice(hot), now, "bybit", rng.choice(("long", "short")), 1.0, 1.0, rng.uniform(500, 5_000))
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


def main(argv: list[str] | None = None) -> int:
    """Measure the live cost per simulated minute at growing symbol counts, and 10k rules under liquidations."""
    args = parser(__doc__ or "").parse_args(argv)
    counts = [2, 4, 10] if args.smoke else [2, 20, 200, 500]
    minutes = 1 if args.smoke else 3
    print(f"machine: {machine()}")
    print("SYNTHETIC candles polled every 15 s (closed + forming), 10 rules per symbol")
    cost = {count: play_polls(count, minutes) for count in counts}
    figures = [
        Figure(
            f"live CPU per minute, {count} symbols",
            cost[count],
            "ms",
            note=f"before: {BEFORE[count]:,} ms" if count in BEFORE else "",
        )
        for count in counts
    ]
    big, small = counts[-1], counts[1]
    figures.append(
        Figure(
            f"  ratio {big} / {small} symbols",
            cost[big] / cost[small],
            "x",
            None if args.smoke else 25.0,
            note=f"linear: x{big // small}; before: x{BEFORE[500] / BEFORE[20]:.0f}" if not args.smoke else "",
        )
    )
    symbols, seconds, rate = (50, 1.0, 100) if args.smoke else (1000, 10.0, 1000)
    share, per_eval, evaluations = play_liquidations(symbols, seconds, rate)
    figures += [
        Figure(
            f"{symbols * 10:,} rules at {rate:,} liquidations/s",
            share,
            "% core",
            None if args.smoke else 5.0,
            note=f"before: {BEFORE['liq_share']:g}%",
        ),
        Figure(
            "  CPU per evaluation",
            per_eval,
            "ms",
            note=f"{evaluations:,} evaluations; before: {BEFORE['liq_ms']:g} ms",
        ),
    ]
    ok = report("live", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
