"""The hourly liquidation totals Repo keeps are the ones the schema's former triggers kept, bit for bit."""

from __future__ import annotations

import math
import random
import sqlite3
from importlib import resources

import pytest

from storage.repo import Repo
from storage.rows import Liquidation

HOUR = 3_600_000
T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def trigger_database() -> sqlite3.Connection:
    """Return an in-memory database at schema 0001, triggers included (the reference)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    sql = (resources.files("storage.migrations") / "0001_initial.sql").read_text(encoding="utf-8")
    conn.executescript(sql)
    return conn


def table(conn: sqlite3.Connection, name: str) -> list[tuple[object, ...]]:
    """Return every row of a table in key order (floats compared exactly by the caller)."""
    return conn.execute(f"SELECT * FROM {name} ORDER BY 1, 2, 3, 4").fetchall()


def synthetic_batches(seed: int) -> list[tuple[str, list[Liquidation]]]:
    """Return SYNTHETIC batches of events and buckets with repeats, revisions and unstorable rows."""
    rng = random.Random(seed)
    batches: list[tuple[str, list[Liquidation]]] = []
    stored: list[Liquidation] = []
    for _ in range(40):
        if rng.random() < 0.2:
            ts = T0 + rng.randrange(6) * HOUR
            side = rng.choice(("long", "short"))
            bucket = Liquidation("BTCUSDT", ts, "coinglass", side, 0.0, 0.0, rng.uniform(0, 1e8))
            batches.append(("buckets", [bucket, bucket._replace(usd=rng.uniform(0, 1e8))]))
            continue
        rows = []
        for _ in range(rng.randrange(1, 60)):
            if stored and rng.random() < 0.15:
                rows.append(rng.choice(stored))  # a repeat of a stored event (a re-poll)
                continue
            symbol = rng.choice(("BTCUSDT", "ETHUSDT"))
            price = round(rng.uniform(3000, 100_000), 2)
            qty = round(rng.paretovariate(1.2) * 0.01, 6)
            row = Liquidation(
                symbol,
                T0 + rng.randrange(6 * HOUR),
                rng.choice(("binance", "bybit", "okx")),
                rng.choice(("long", "short")),
                price,
                qty,
                price * qty,
            )
            rows.append(row)
            if rng.random() < 0.1:
                rows.append(row)  # the same frame twice in one batch
        if rng.random() < 0.3:
            rows.append(Liquidation("BTCUSDT", T0, "okx", "long", math.nan, 1.0, math.nan))  # NULL to SQLite
        stored += rows
        batches.append(("events", rows))
    return batches


@pytest.mark.parametrize("seed", range(8))
def test_repo_keeps_the_hourly_totals_the_triggers_kept(seed: int, repo: Repo) -> None:
    reference = trigger_database()
    for kind, rows in synthetic_batches(seed):
        if kind == "events":
            reference.execute("BEGIN")
            cur = reference.executemany("INSERT OR IGNORE INTO liquidations VALUES (?,?,?,?,?,?,?)", rows)
            reference.execute("COMMIT")
            assert repo.insert_liquidations(rows) == cur.rowcount
        else:
            reference.executemany(
                "INSERT INTO liquidations VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT (symbol, ts, source, side, price, qty) DO UPDATE SET usd=excluded.usd",
                rows,
            )
            repo.upsert_liquidation_buckets(rows)
    assert table(repo.conn, "liquidations") == table(reference, "liquidations")
    expected, got = table(reference, "liquidation_hourly"), table(repo.conn, "liquidation_hourly")
    assert got == expected
    # == on floats is exact already; repr proves no two differ in their last bit either.
    assert repr(got) == repr(expected)
