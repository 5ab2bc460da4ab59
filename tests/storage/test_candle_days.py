"""The per-day candle counts (migration 0012) equal COUNT(*) after any mix of upserts and prunes.

Candles here are SYNTHETIC: few keys (two symbols, 1m and 1h, two sources, minutes at both ends of six UTC
days and in the future) so that random batches collide with stored rows, repeat keys within a batch, turn
closed candles forming and back, and prunes cut through days.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import command_queries as cq
from bot.config import RetentionConfig
from storage.db import connect, load_migrations, migrate, open_database
from storage.repo import DAY_MS, HOUR_MS, Repo
from storage.repo.observations import CLOSED_COUNT_SQL, COVERAGE_SQL
from storage.rows import MINUTE_MS, Candle

# A full scan of a candle table (or of one under the aliases the queries give it).
FULL_SCAN = re.compile(r"\bSCAN (candles|candle_days|candle_closed_days|c|d)\b")

DAY0 = 1_768_435_200_000  # 2026-01-15 00:00 UTC
# Minutes at the start and end of each day (day 7 is "the future" for a prune at day 5).
OFFSETS = [*range(0, 3 * MINUTE_MS, MINUTE_MS), *range(DAY_MS - 3 * MINUTE_MS, DAY_MS, MINUTE_MS)]
TIMES = {
    "1m": [DAY0 + d * DAY_MS + o for d in (0, 1, 2, 3, 4, 7) for o in OFFSETS],
    "1h": [DAY0 + d * DAY_MS + h * HOUR_MS for d in (0, 1, 2, 3, 4, 7) for h in (0, 1, 23)],
}

candle = st.builds(
    lambda symbol, interval, index, source, closed: Candle(
        symbol,
        interval,
        TIMES[interval][index % len(TIMES[interval])],
        source,
        1.0,
        2.0,
        0.5,
        1.5,
        3.0,
        None,
        closed,
    ),
    st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    st.sampled_from(["1m", "1h"]),
    st.integers(0, 200),
    st.sampled_from(["binance", "bybit"]),
    st.booleans(),
)
prune = st.tuples(st.integers(1, 4), st.integers(1, 4), st.booleans(), st.sampled_from([1, 3, 5000]))
operation = st.one_of(st.lists(candle, min_size=1, max_size=30), prune)


@pytest.fixture
def fresh() -> Iterator[Repo]:
    db = open_database(":memory:")
    yield Repo(db)
    db.conn.close()


def _stored_counts(repo: Repo) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    rows = repo.conn.execute("SELECT * FROM candle_days ORDER BY 1, 2, 3, 4").fetchall()
    closed = repo.conn.execute("SELECT * FROM candle_closed_days ORDER BY 1, 2, 3").fetchall()
    return rows, closed


def _counted(repo: Repo) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    day = f"open_time - open_time % {DAY_MS}"
    rows = repo.conn.execute(
        f"SELECT symbol, interval, source, {day}, COUNT(*) FROM candles"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ).fetchall()
    closed = repo.conn.execute(
        f"SELECT symbol, interval, {day}, COUNT(DISTINCT open_time) FROM candles WHERE closed = 1"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    return rows, closed


def _apply(repo: Repo, op: list[Candle] | tuple[int, int, bool, int]) -> None:
    if isinstance(op, list):
        repo.upsert_candles(op)
        return
    minute_days, other_days, downsample, chunk_rows = op
    policy = RetentionConfig(
        candles_1m_days=minute_days, candles_other_days=other_days, downsample=downsample
    )
    # Half past an hour on day 5: cutoffs cut through days, and day 7 lies beyond "a day ahead".
    repo.prune(policy, DAY0 + 5 * DAY_MS + 30 * MINUTE_MS, chunk_rows=chunk_rows)


WINDOWS = [
    (DAY0 - DAY_MS, DAY0 + 10 * DAY_MS),
    (DAY0 + MINUTE_MS, DAY0 + 3 * DAY_MS - MINUTE_MS),
    (DAY0 + DAY_MS, DAY0 + 2 * DAY_MS),
    (DAY0 + DAY_MS - 2 * MINUTE_MS, DAY0 + DAY_MS + 2 * MINUTE_MS),
    (DAY0 + 2 * DAY_MS + HOUR_MS, DAY0 + 4 * DAY_MS + 23 * HOUR_MS + 59 * MINUTE_MS),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(operation, min_size=1, max_size=8))
def test_day_counts_equal_count_after_random_upserts_and_prunes(
    fresh: Repo, ops: list[list[Candle] | tuple[int, int, bool, int]]
) -> None:
    repo = fresh
    repo.conn.execute("DELETE FROM candles")
    repo.conn.execute("DELETE FROM candle_days")
    repo.conn.execute("DELETE FROM candle_closed_days")
    for op in ops:
        _apply(repo, op)
        assert _stored_counts(repo) == _counted(repo), op
    for symbol in ("BTCUSDT", "ETHUSDT"):
        for start, end in WINDOWS:
            got = [
                (c.interval, c.source, c.rows, c.first_open, c.last_open)
                for c in repo.candle_coverage(symbol, start, end)
            ]
            assert got == cq.old_coverage(repo, symbol, start, end), (symbol, start, end)
            for interval in ("1m", "1h"):
                assert repo.closed_candle_count(symbol, interval, start, end) == cq.old_closed_count(
                    repo, symbol, interval, start, end
                ), (symbol, interval, start, end)


def test_the_migration_counts_the_stored_candles(tmp_path: Path) -> None:
    # A database written before migration 12 (rows inserted without the counts) gets them counted.
    path = tmp_path / "old.db"
    conn = connect(path)
    version = next(m.version for m in load_migrations() if m.name == "candle_day_counts")
    migrate(conn, str(path), up_to=version - 1)
    conn.executemany(
        "INSERT INTO candles VALUES (?,?,?,?,1,1,1,1,1,NULL,?)",
        [("BTCUSDT", "1m", t, s, int(t % 3 != 0)) for t in TIMES["1m"] for s in ("a", "b")],
    )
    conn.commit()
    migrate(conn, str(path))
    repo = Repo(sqlite_utils.Database(conn))
    assert _stored_counts(repo) == _counted(repo)
    assert _counted(repo)[0]
    conn.close()


def test_the_counts_are_read_from_their_tables(fresh: Repo) -> None:
    # The plans: whole days from the count tables by key, the ends from the candles' index.
    params = {"symbol": "BTCUSDT", "interval": "1m", "start": 0, "head_end": DAY_MS, "d1": DAY_MS}
    params |= {"d2": 5 * DAY_MS, "end": 5 * DAY_MS + 1}
    closed = fresh.conn.execute("EXPLAIN QUERY PLAN " + CLOSED_COUNT_SQL, params).fetchall()
    found = " | ".join(r[3] for r in closed)
    assert (
        "SEARCH candle_closed_days USING PRIMARY KEY (symbol=? AND interval=? AND day>? AND day<?)" in found
    )
    assert not FULL_SCAN.search(found), found
    coverage = " | ".join(r[3] for r in fresh.conn.execute("EXPLAIN QUERY PLAN " + COVERAGE_SQL, params))
    assert "SEARCH d USING PRIMARY KEY (symbol=? AND interval=? AND source=? AND day>? AND day<?)" in coverage
    assert not FULL_SCAN.search(coverage), coverage
