"""SYNTHETIC three years of one-minute candles for one symbol, built once per run (bench.command_queries).

Not market data: a seeded random walk, every row of source ``synthetic`` (a fallback ``synthetic-b`` for
its last days), laid out as a live bot's database would be after three years: 1m and 1h candles of
BTCUSDT, the newest 1m still forming, two days of ETHUSDT, a month of liquidations (with their hourly
totals), funding every 8 hours, open interest every 5 minutes and a daily Fear & Greed value.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from storage.db import connect, load_migrations, migrate
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

SYMBOL = "BTCUSDT"
SOURCE = "synthetic"
FALLBACK = "synthetic-b"
END = 1_768_435_200_000  # 2026-01-15 00:00 UTC: the newest candle opens just before
YEARS = 3
CHUNK = 100_000
# A venue used for the first week and then dropped: its newest candle is three years back.
RETIRED = "synthetic-retired"
# The schema change measured: the database is built one version before it, timed with the old queries,
# then migrated (timed too) and timed with the new ones.
INDEX_MIGRATION = "candle_series_index"


def index_version() -> int:
    """Return the schema version of the migration that adds the candle series index."""
    return next(m.version for m in load_migrations() if m.name == INDEX_MIGRATION)


def open_before_index(path: Path) -> Repo:
    """Open (creating) a database at ``path`` migrated up to the schema before the candle series index."""
    conn = connect(path)
    migrate(conn, str(path), up_to=index_version() - 1)
    return Repo(sqlite_utils.Database(conn))


def _walk(
    rng: random.Random, start: int, end: int, step: int, price: float
) -> Iterator[tuple[int, float, float, float, float, float]]:
    """Yield (open_time, o, h, l, c, volume) of a random walk from ``start`` to ``end``."""
    for t in range(start, end, step):
        c = price * (1.0 + rng.gauss(0.0, 0.0006 * (step // MINUTE_MS) ** 0.5))
        yield t, price, max(price, c) * 1.0004, min(price, c) * 0.9996, c, rng.expovariate(1 / 12.0)
        price = c


def _candles(
    symbol: str, interval: str, source: str, start: int, end: int, step: int, seed: int
) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    last = end - step
    for t, o, h, low, c, v in _walk(rng, start, end, step, 95_000.0):
        yield symbol, interval, t, source, o, h, low, c, v, v * c, 0 if t == last else 1


def _insert(repo: Repo, sql: str, rows: Iterator[tuple[object, ...]]) -> int:
    conn, batch, count = repo.conn, [], 0
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
            count += len(batch)
            batch.clear()
    if batch:
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
        count += len(batch)
    return count


def build(repo: Repo, minutes: int = YEARS * 365 * 1440) -> float:
    """Write the synthetic history of ``minutes`` one-minute candles into ``repo``; return seconds taken."""
    started = time.perf_counter()
    start = END - minutes * MINUTE_MS
    candle_sql = "INSERT INTO candles VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    _insert(repo, candle_sql, _candles(SYMBOL, "1m", SOURCE, start, END, MINUTE_MS, 1))
    _insert(repo, candle_sql, _candles(SYMBOL, "1m", RETIRED, start, start + 7 * DAY_MS, MINUTE_MS, 6))
    _insert(repo, candle_sql, _candles(SYMBOL, "1h", SOURCE, start, END, HOUR_MS, 2))
    _insert(repo, candle_sql, _candles(SYMBOL, "1m", FALLBACK, END - 3 * DAY_MS, END, MINUTE_MS, 3))
    _insert(repo, candle_sql, _candles("ETHUSDT", "1m", SOURCE, END - 2 * DAY_MS, END, MINUTE_MS, 4))
    rng = random.Random(5)
    liquidations = sorted(
        (
            SYMBOL,
            END - rng.randrange(30 * DAY_MS),
            rng.choice((SOURCE, FALLBACK)),
            rng.choice(("long", "short")),
            95_000.0,
            qty := rng.expovariate(2.0),
            qty * 95_000.0,
        )
        for _ in range(200_000)
    )
    _insert(repo, "INSERT OR IGNORE INTO liquidations VALUES (?,?,?,?,?,?,?)", iter(liquidations))
    # Raw inserts bypass Repo, which keeps the hourly totals (storage.hourly): roll them up once here.
    repo.conn.execute(
        "INSERT INTO liquidation_hourly (symbol, hour, source, long_usd, short_usd, events)"
        f" SELECT symbol, ts - ts % {HOUR_MS}, source, SUM(CASE WHEN side = 'long' THEN usd ELSE 0 END),"
        " SUM(CASE WHEN side = 'short' THEN usd ELSE 0 END), COUNT(*) FROM liquidations GROUP BY 1, 2, 3"
    )
    funding_start = start - start % (8 * HOUR_MS)
    _insert(
        repo,
        "INSERT INTO funding VALUES (?,?,?,?,?,?,?)",
        (
            (SYMBOL, t, SOURCE, rng.gauss(1e-4, 5e-5), 95_000.0, t + 8 * HOUR_MS, 1)
            for t in range(funding_start, END, 8 * HOUR_MS)
        ),
    )
    _insert(
        repo,
        "INSERT INTO open_interest VALUES (?,?,?,?,?)",
        ((SYMBOL, t, SOURCE, 80_000.0 + rng.gauss(0, 500), None) for t in range(start, END, 5 * MINUTE_MS)),
    )
    _insert(
        repo,
        "INSERT INTO fear_greed VALUES (?,?,?,?,?)",
        (
            (time.strftime("%Y-%m-%d", time.gmtime(t / 1000)), t, rng.randrange(101), None, "alternative.me")
            for t in range(start - start % DAY_MS, END, DAY_MS)
        ),
    )
    return time.perf_counter() - started
