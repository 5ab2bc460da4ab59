"""Peak memory of a loaded bot at 500 symbols and 20,000 rules, and at 200 symbols and 2,000 rules.

Rules are spread over 100 guilds, the history filled to its retention. Each size runs in a child process
so the figure is that process's own peak resident set size (VmHWM), nothing of this script's. The child
builds a database file and the in-memory history through the real Ingest from SYNTHETIC rows (seeded
random walks, source ``synthetic``): per symbol two days of 1m candles, 70 days of 1h and 800 days of 1d
candles (the history's retention per interval), eight days of liquidations (about one a minute on the two
majors, one every 20 minutes on the others), 120 days of funding settlements and eight days of open
interest every 5 minutes, plus eight years of daily Fear & Greed values. It then stores the Discord rules
over every detector, loads the engine, evaluates every rule once (so detector state and aggregated candle
series exist) and constructs the service the slash commands use. The history is bounded as the app builds
it (``MarketHistory(bounded=True)``): every row goes through it, it keeps of each series what the loaded
rules read, and reads back from the database what a rule loaded after the fill reads further.

The baseline is the child's peak after importing what ``tripwire run`` imports (the composition root, the
Discord front end and sink) and before loading anything: the ratio shows what the data, rules and engine
add to the interpreter and libraries.

    python -m bench.memory [--smoke]
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, parser, peak_rss_mb, report
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

NOW = 1_768_435_200_000  # 2026-01-15 00:00 UTC
DETECTORS = (
    "level_cross",
    "round_levels",
    "range_breakout",
    "pct_move",
    "volume_spike",
    "liquidation_cascade",
    "squeeze",
    "funding",
    "open_interest",
    "correlated_move",
    "fear_greed",
)


def symbol_names(count: int) -> list[str]:
    """Return ``count`` symbols: the two majors, then synthetic alt pairs."""
    return ["BTCUSDT", "ETHUSDT", *[f"SYN{i:03d}USDT" for i in range(count - 2)]][:count]


def _walk(rng: random.Random, price: float, steps: int, vol: float) -> Iterator[tuple[float, float]]:
    for _ in range(steps):
        before = price
        price *= math.exp(rng.gauss(0, vol))
        yield before, price


def fill(ingest: Any, symbols: list[str], scale: float, seed: int = 7) -> int:
    """Feed SYNTHETIC rows for every symbol through ``ingest``, one symbol and kind at a time; return rows."""
    from storage.rows import Candle, FearGreed, Funding, Liquidation, OpenInterest, Side

    rng = random.Random(seed)
    rows = 0
    for k, symbol in enumerate(symbols):
        base = 95_000.0 if k == 0 else 3_300.0 if k == 1 else rng.uniform(0.05, 500.0)
        for interval, length, count, vol in (
            ("1d", DAY_MS, 800, 0.03),
            ("1h", HOUR_MS, 1680, 0.006),
            ("1m", MINUTE_MS, 2880, 0.0008),
        ):
            count = max(2, int(count * scale))
            start = (NOW - count * length) // length * length
            candles = []
            for i, (o, c) in enumerate(_walk(rng, base, count, vol)):
                h, low = max(o, c) * 1.001, min(o, c) * 0.999
                candles.append(Candle(symbol, interval, start + i * length, "synthetic", o, h, low, c, 10.0))
            ingest.candles(candles)
            rows += len(candles)
        per_minute = 1.0 if k < 2 else 0.05
        events = []
        span = int(8 * 1440 * scale)
        for minute in range(span):
            if rng.random() < per_minute:
                ts = NOW - (span - minute) * MINUTE_MS + rng.randrange(MINUTE_MS)
                usd = rng.paretovariate(1.3) * 3_000
                side: Side = "long" if rng.random() < 0.5 else "short"
                events.append(Liquidation(symbol, ts, "synthetic", side, base, usd / base, usd))
        rows += ingest.liquidations(events)
        settlements = max(2, int(360 * scale))
        ingest.funding(
            [
                Funding(symbol, NOW - (settlements - i) * 8 * HOUR_MS, "synthetic", rng.gauss(1e-4, 1e-4))
                for i in range(settlements)
            ]
        )
        points = max(2, int(2304 * scale))
        ingest.open_interest(
            [
                OpenInterest(symbol, NOW - (points - i) * 5 * MINUTE_MS, "synthetic", 1e6, 1e6 * base)
                for i in range(points)
            ]
        )
        rows += settlements + points
    days = max(2, int(2900 * scale))
    ingest.fear_greed(
        [
            FearGreed(f"d{i}", NOW - (days - i) * DAY_MS, rng.randrange(101), None, "synthetic")
            for i in range(days)
        ]
    )
    return rows + days


def rule_settings(detector: str, price: float, other: str) -> dict[str, Any]:
    """Return valid settings of a rule of ``detector`` for a symbol trading near ``price``."""
    step = 10 ** math.floor(math.log10(price))
    return {
        "level_cross": {"level": price * 1.05, "direction": "up"},
        "round_levels": {"step": step},
        "range_breakout": {"days": 30},
        "pct_move": {"pct": 5, "window_hours": 24},
        "volume_spike": {"multiple": 4, "window": 24},
        "liquidation_cascade": {"min_usd": 1_000_000},
        "squeeze": {},
        "funding": {},
        "open_interest": {"pct": 5, "window_hours": 4},
        "correlated_move": {"symbols": [other], "pct": 3},
        "fear_greed": {},
    }[detector]


def child(scale: float, symbols_count: int, rules_count: int, guilds: int) -> dict[str, float]:
    """Build everything in this process and return its peak RSS before and after, in MB."""
    # What ``tripwire run`` imports: the composition root and the Discord front end and sink (the rules
    # are Discord rules of 100 servers). Not bench.replay: its peer baseline's numpy and TA-Lib are the
    # bench's, not the bot's.
    import bot.app
    import bot.discord.client
    import bot.notify.discord.sink  # noqa: F401
    from bench.common import default_config
    from bot.alerts.engine import make_engine
    from bot.alerts.routing import AlertRouter
    from bot.services import Service
    from detectors.base import MARKET_SYMBOL
    from detectors.market_history import MarketHistory
    from feeds.ingest import Ingest
    from storage.db import open_database
    from storage.repo import GuildSettingsRow, Repo, RuleRow

    baseline = peak_rss_mb()
    config = default_config()
    symbols = symbol_names(symbols_count)
    config = config.model_copy(update={"symbols": symbols})
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "memory.db"))
        history = MarketHistory(bounded=True)  # as bot.app builds it
        ingest = Ingest(repo, history)
        with repo.transaction():
            rows = fill(ingest, symbols, scale)
        prices = {s: view.last_price() for s in symbols if (view := history.view(s, NOW))}
        with repo.transaction():
            for g in range(guilds):
                guild_id = 1_190_000_000_000_000_000 + g
                repo.save_guild_settings(GuildSettingsRow(guild_id, guild_id + 1, guild_id + 2, {}, NOW))
            for i in range(rules_count):
                detector = DETECTORS[i % len(DETECTORS)]
                symbol = symbols[(i * 7) % len(symbols)]
                price = (prices.get(symbol) or (NOW, 1.0))[1]
                other = symbols[(i * 7 + 1) % len(symbols)]
                guild_id = 1_190_000_000_000_000_000 + i % guilds
                repo.save_rule(
                    RuleRow(
                        id=f"g{i % guilds}-{detector}-{i}",
                        origin="discord",
                        detector=detector,
                        symbol=MARKET_SYMBOL if detector == "fear_greed" else symbol,
                        settings=rule_settings(detector, price, other),
                        guild_id=guild_id,
                        channel_id=guild_id + 1,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
        engine = make_engine(config.engine, repo, history, AlertRouter(repo, [], console=False, discord=True))
        engine.load()
        engine.evaluate(NOW)
        service = Service(repo, engine, config, lambda: NOW)
        loaded = len(engine.rules())
        assert service.symbols, "service constructed"
        peak = peak_rss_mb()
        keys = ingest.remembered_liquidations
        repo.close()
    return {"baseline_mb": baseline, "peak_mb": peak, "rows": rows, "rules": loaded, "keys": keys}


def main(argv: list[str] | None = None) -> int:
    """Run the child process and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--child", metavar="SCALE,SYMBOLS,RULES,GUILDS", help=argparse_hidden())
    args = args_parser.parse_args(argv)
    if args.child:
        scale, *counts = args.child.split(",")
        symbols, rules, guilds = (int(count) for count in counts)
        print(json.dumps(child(float(scale), symbols, rules, guilds)))
        return 0
    # The issue-24 size (500 symbols, 20,000 rules) and the earlier one, each in its own child process.
    runs = [(0.02, 20, 110, 10)] if args.smoke else [(1.0, 200, 2000, 100), (1.0, 500, 20_000, 100)]
    figures: list[Figure] = []
    for sizes in runs:
        spec = ",".join(str(size) for size in sizes)
        command = [sys.executable, "-m", "bench.memory", "--child", spec]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        figures += [
            Figure(
                f"peak RSS: {sizes[1]} symbols, {result['rules']:,.0f} rules, {sizes[3]} guilds",
                result["peak_mb"],
                "MB",
                150.0,
                note=f"{result['rows']:,.0f} synthetic rows in history and database",
            ),
            Figure("  import-only baseline", result["baseline_mb"], "MB"),
            Figure(
                "  above the baseline, per symbol",
                (result["peak_mb"] - result["baseline_mb"]) / sizes[1],
                "MB",
                note="the rules' share included",
            ),
            Figure(
                "  liquidation keys remembered to drop repeats",
                result["keys"],
                "keys",
                note="live ingest keeps none, however busy: the database says which events are new",
            ),
            Figure("  peak / import-only baseline", result["peak_mb"] / result["baseline_mb"], "x"),
        ]
    print(f"machine: {machine()}")
    ok = report("memory", figures)
    return 0 if ok or args.smoke else 1


def argparse_hidden() -> str:
    """Return the help text of the internal --child flag."""
    return "internal: do the work in this process and print JSON"


if __name__ == "__main__":
    sys.exit(main())
