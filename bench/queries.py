"""Query latency on a large database: `/liquidations` over 24h and `/history`.

Builds a database file holding 10M liquidation rows (synthetic: seeded random events over 30 days for 50
symbols) and 200k alert events, then times the repo reads the `/liquidations` and `/history` commands
make, checks with EXPLAIN QUERY PLAN that they search an index, and compares each with the same query
forced to scan the table (the baseline).

    python -m bench.queries [--smoke] [--rows N] [--keep FILE]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Figure, machine, parser, report, timer
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

END = 1_768_435_200_000  # 2026-01-15 00:00 UTC
SYMBOLS = ["BTCUSDT", "ETHUSDT"] + [f"ALT{i:02d}USDT" for i in range(48)]
SOURCES = ("binance", "bybit", "okx")


def build(repo: Repo, rows: int, events: int, seed: int = 7) -> float:
    """Fill the database with synthetic liquidations and alert events; return seconds taken."""
    rng = random.Random(seed)
    span = 30 * DAY_MS
    started = time.perf_counter()
    batch: list[tuple[object, ...]] = []
    # BTC and ETH get a third of all events each, the 48 alts share the rest, as on a real venue.
    weights = [0.33, 0.33] + [0.34 / 48] * 48
    conn = repo.conn
    for i in range(rows):
        symbol = rng.choices(SYMBOLS, weights)[0] if i % 1000 == 0 or not batch else batch[-1][0]
        price = 95_000.0 if symbol == "BTCUSDT" else 3_300.0 if symbol == "ETHUSDT" else 1.0
        qty = rng.expovariate(1.0) * (0.5 if symbol == "BTCUSDT" else 20.0)
        batch.append(
            (
                symbol,
                END - rng.randrange(span),
                rng.choice(SOURCES),
                rng.choice(("long", "short")),
                price,
                qty,
                price * qty,
            )
        )
        if len(batch) == 100_000:
            # In key order the inserts walk the B-tree instead of jumping around a 1 GB file: the build
            # took 241 s unsorted, most of `python -m bench`'s ten minutes.
            batch.sort()
            conn.execute("BEGIN")
            conn.executemany("INSERT OR IGNORE INTO liquidations VALUES (?,?,?,?,?,?,?)", batch)
            conn.execute("COMMIT")
            batch.clear()
    if batch:
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO liquidations VALUES (?,?,?,?,?,?,?)", batch)
        conn.execute("COMMIT")
    # Raw inserts bypass Repo, which keeps the hourly totals (storage.hourly): roll them up once here.
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO liquidation_hourly (symbol, hour, source, long_usd, short_usd, events)"
        f" SELECT symbol, ts - ts % {HOUR_MS}, source, SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
        " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END), COUNT(*) FROM liquidations GROUP BY 1, 2, 3"
    )
    conn.execute("COMMIT")
    with repo.transaction():
        for i in range(events):
            repo.insert_event(
                dedupe_key=f"r{i % 500}:{i}",
                rule_id=f"r{i % 500}",
                detector="level_cross",
                symbol=SYMBOLS[i % len(SYMBOLS)],
                guild_id=1000 + i % 100,
                state="firing",
                kind="cross_up",
                severity="warning",
                title="synthetic",
                values={"level": i},
                rule={},
                at=END - rng.randrange(span),
                recorded_at=END,
            )
    conn.execute("ANALYZE")
    return time.perf_counter() - started


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    """Return the median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        with timer() as elapsed:
            fn()
        times.append(elapsed() * 1000)
    return statistics.median(times)


def plan(repo: Repo, sql: str, params: tuple[object, ...]) -> str:
    """Return SQLite's query plan as one line."""
    return " | ".join(row[3] for row in repo.conn.execute("EXPLAIN QUERY PLAN " + sql, params))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--rows", type=int, default=10_000_000)
    args_parser.add_argument("--keep", type=Path, help="database file to build (kept afterwards)")
    args = args_parser.parse_args(argv)
    rows = 20_000 if args.smoke else args.rows
    events = 2_000 if args.smoke else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.db"
        db = open_database(path)
        repo = Repo(db)
        existing = repo.conn.execute("SELECT COUNT(*) FROM liquidations").fetchone()[0]
        built = build(repo, rows, events) if existing < rows else 0.0
        start, end = END - DAY_MS - 17 * MINUTE_MS, END  # not hour-aligned, like "the last 24h" at 00:17
        raw_sql = (
            "SELECT source, side, SUM(usd), COUNT(*) FROM liquidations"
            " WHERE symbol = ? AND ts >= ? AND ts < ? GROUP BY source, side"
        )
        rollup_sql = (
            "SELECT source, SUM(long_usd), SUM(short_usd), SUM(events) FROM liquidation_hourly"
            " WHERE symbol = ? AND hour >= ? AND hour < ? GROUP BY source"
        )
        history_sql = "SELECT * FROM alert_events WHERE guild_id = ? ORDER BY at DESC, id DESC LIMIT 10"
        liq_plan = plan(repo, rollup_sql, ("BTCUSDT", start, end))
        hist_plan = plan(repo, history_sql, (1042,))

        def liquidations_command() -> None:
            # What /liquidations BTCUSDT 24h reads: totals by venue and side, the largest events, and the
            # 7-day baseline it compares with.
            repo.liquidation_totals("BTCUSDT", start, end)
            repo.largest_liquidations("BTCUSDT", start, end, limit=5)
            repo.liquidation_totals("BTCUSDT", end - 7 * DAY_MS, end)

        def all_symbols_command() -> None:
            repo.liquidation_totals(None, start, end)

        def history_command() -> None:
            repo.events(guild_id=1042, limit=10)

        liq_ms = median_ms(liquidations_command)
        all_ms = median_ms(all_symbols_command)
        hist_ms = median_ms(history_command)
        # Baselines: the 24h totals summed from raw events (no hourly table), and /history with its index
        # switched off (unary + on the column).
        totals_ms = median_ms(lambda: repo.liquidation_totals("BTCUSDT", start, end))
        raw_ms = median_ms(lambda: repo.conn.execute(raw_sql, ("BTCUSDT", start, end)).fetchall(), repeat=3)
        scan_hist_ms = median_ms(
            lambda: repo.conn.execute(
                history_sql.replace("guild_id = ?", "+guild_id = ?"), (1042,)
            ).fetchall(),
            repeat=3,
        )
        size_mb = path.stat().st_size / 1e6
        db.conn.close()
    figures = [
        Figure("/liquidations BTCUSDT 24h (3 reads)", liq_ms, "ms", 50.0),
        Figure("  24h totals: raw-event baseline / hourly", raw_ms / max(totals_ms, 1e-6), "x"),
        Figure("/liquidations all symbols 24h", all_ms, "ms", 50.0),
        Figure("/history guild, newest 10", hist_ms, "ms", 50.0),
        Figure("  ratio: full-scan baseline / indexed", scan_hist_ms / max(hist_ms, 1e-6), "x"),
        Figure("liquidation rows", rows, "rows", note=f"database {size_mb:,.0f} MB, built in {built:.0f} s"),
    ]
    print(f"machine: {machine()}")
    print(f"plan /liquidations: {liq_plan}")
    print(f"plan /history:      {hist_plan}")
    uses_index = "USING PRIMARY KEY" in liq_plan and "USING INDEX alert_events_guild_at" in hist_plan
    ok = report("queries", figures)
    print(f"{'PASS' if uses_index else 'FAIL'}  indexes used by both queries (EXPLAIN QUERY PLAN)")
    return 0 if (ok and uses_index) or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
