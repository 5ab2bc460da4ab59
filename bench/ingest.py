"""Liquidation ingest: real-format Binance, Bybit and OKX websocket frames through the real feeds into SQLite.

The frames are SYNTHETIC (seeded values for 20 watched symbols) in the venues' wire formats, modelled on the
recorded frames in tests/data/fixtures: Binance ``forceOrder`` events, Bybit ``allLiquidation`` snapshots and
OKX ``liquidation-orders`` pushes (with contract values, as the instruments endpoint gives them). Each text
frame goes to the real feed's stream handler (``on_text``: JSON decoding, parsing, the venue's side and size
conventions, health) and from its LiquidationBuffer (the live batch size) into Ingest: repeats dropped,
history updated, rows stored in a database file in WAL mode.

The baseline is the physical limit: a raw ``sqlite3.executemany`` of the same rows into the same schema
(triggers and indexes included) in one transaction, measured in the same process.

    python -m bench.ingest [--smoke] [--events N]
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import aiohttp

from bench.common import Figure, machine, parser, report, timer
from detectors.market_history import MarketHistory
from feeds.base import Tuning
from feeds.binance_futures import BinanceFuturesFeed
from feeds.bybit import BybitFeed
from feeds.config import BinanceFuturesFeedConfig, BybitFeedConfig, OkxFeedConfig
from feeds.context import FeedContext
from feeds.health import HealthRegistry
from feeds.http import HttpClient
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from feeds.okx import Contract, OkxFeed
from storage.db import open_database
from storage.repo import Repo

NOW = 1_768_341_600_000  # 2026-01-13 22:00 UTC
SYMBOLS = ["BTCUSDT", "ETHUSDT", *[f"SYN{i:02d}USDT" for i in range(18)]]
PRICES = {"BTCUSDT": 95_000.0, "ETHUSDT": 3_300.0} | {s: 1.0 + i for i, s in enumerate(SYMBOLS[2:])}


def frames(events: int, seed: int = 8) -> list[tuple[str, str]]:
    """Return (venue, text frame) pairs carrying ``events`` SYNTHETIC liquidations, a third per venue."""
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for i in range(events):
        symbol = SYMBOLS[0] if i % 3 == 0 else rng.choice(SYMBOLS)
        price = PRICES[symbol] * (1 + rng.uniform(-0.01, 0.01))
        qty = rng.paretovariate(1.3) * 2_000 / price
        ts = NOW + i
        buy = rng.random() < 0.5
        venue = ("binance", "bybit", "okx")[i % 3]
        if venue == "binance":
            order = {
                "s": symbol,
                "S": "BUY" if buy else "SELL",
                "o": "LIMIT",
                "f": "IOC",
                "q": f"{qty:.6g}",
                "p": f"{price:.6g}",
                "ap": f"{price:.6g}",
                "X": "FILLED",
                "l": f"{qty:.6g}",
                "z": f"{qty:.6g}",
                "T": ts,
            }
            frame: dict[str, Any] = {"e": "forceOrder", "E": ts + 3, "o": order}
        elif venue == "bybit":
            item = {
                "T": ts,
                "s": symbol,
                "S": "Buy" if buy else "Sell",
                "v": f"{qty:.6g}",
                "p": f"{price:.6g}",
            }
            frame = {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts + 3, "data": [item]}
        else:
            family = f"{symbol.removesuffix('USDT')}-USDT"
            detail = {
                "bkLoss": "0",
                "bkPx": f"{price:.6g}",
                "ccy": "",
                "posSide": "short" if buy else "long",
                "side": "buy" if buy else "sell",
                "sz": str(max(1, round(qty / 0.01))),
                "ts": str(ts),
            }
            data = {
                "details": [detail],
                "instFamily": family,
                "instId": f"{family}-SWAP",
                "instType": "SWAP",
                "uly": family,
            }
            frame = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [data]}
        out.append((venue, json.dumps(frame, separators=(",", ":"))))
    return out


def run_feeds(texts: list[tuple[str, str]], path: Path) -> tuple[float, int, Repo]:
    """Hand every frame to its feed's stream handler and flush; return seconds, rows stored and the repo."""
    repo = Repo(open_database(path))
    ingest = Ingest(repo, MarketHistory())
    registry = HealthRegistry(lambda: NOW)
    failures = FailureLog(logging.getLogger("bench.ingest"), lambda: NOW)
    # No connection is made: only the handlers run, so the HTTP client and session are never used.
    http, session = cast(HttpClient, None), cast(aiohttp.ClientSession, None)
    context = FeedContext(SYMBOLS, ingest, session, registry, failures, lambda: NOW, Tuning())
    binance = BinanceFuturesFeed(BinanceFuturesFeedConfig(), http, context)
    bybit = BybitFeed(BybitFeedConfig(), http, context)
    okx = OkxFeed(OkxFeedConfig(), http, context)
    okx.contracts = {
        f"{s.removesuffix('USDT')}-USDT-SWAP": Contract(
            f"{s.removesuffix('USDT')}-USDT-SWAP", f"{s.removesuffix('USDT')}-USDT", 0.01, 1.0, False
        )
        for s in SYMBOLS
    }
    handlers: dict[str, Callable[[str], bool]] = {}
    for name, feed in (("binance", binance), ("bybit", bybit), ("okx", okx)):
        assert feed.stream is not None
        handlers[name] = feed.stream.on_text
    buffers = (binance.buffer, bybit.buffer, okx.buffer)
    with timer() as elapsed:
        for venue, text in texts:
            handlers[venue](text)
        for buffer in buffers:
            buffer.flush()
    seconds = elapsed()
    stored = repo.conn.execute("SELECT COUNT(*) FROM liquidations").fetchone()[0]
    return seconds, int(stored), repo


def raw_executemany(repo: Repo, path: Path) -> float:
    """Return the seconds a raw executemany of the rows ``repo`` holds takes into a fresh database."""
    rows = repo.conn.execute("SELECT symbol, ts, source, side, price, qty, usd FROM liquidations").fetchall()
    rows.sort(key=lambda r: r[1])
    target = open_database(path).conn
    with timer() as elapsed:
        target.execute("BEGIN")
        target.executemany("INSERT OR IGNORE INTO liquidations VALUES (?,?,?,?,?,?,?)", rows)
        target.execute("COMMIT")
    seconds = elapsed()
    target.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--events", type=int, default=300_000)
    args_parser.add_argument("--runs", type=int, default=3)
    args = args_parser.parse_args(argv)
    events = 3_000 if args.smoke else args.events
    runs = 1 if args.smoke else args.runs
    texts = frames(events)
    ours: list[float] = []
    raw: list[float] = []
    stored = 0
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, stored, repo = run_feeds(texts, Path(tmp) / f"feeds{run}.db")
            ours.append(seconds)
            raw.append(raw_executemany(repo, Path(tmp) / f"raw{run}.db"))
            repo.close()
    rate = stored / statistics.median(ours)
    raw_rate = stored / statistics.median(raw)
    figures = [
        Figure(
            "feeds -> Ingest -> SQLite",
            rate,
            "events/s",
            100_000.0,
            better="higher",
            note=f"median of {runs}; {stored:,} rows from {len(texts):,} frames",
        ),
        Figure("  raw executemany, same rows and schema", raw_rate, "rows/s"),
        Figure("  ratio to raw executemany", rate / raw_rate, "x", 0.25, better="higher"),
    ]
    print(f"machine: {machine()}")
    ok = report("ingest", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
