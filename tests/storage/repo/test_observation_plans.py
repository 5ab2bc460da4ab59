"""Command, start-up and delivery reads seek instead of walking history, and answer as the old SQL did.

Each read of ``bench.command_queries`` (the catalogue the benchmark times) is run with every statement it
executes captured; each statement's ``EXPLAIN QUERY PLAN`` must search observation tables, never scan one
whole, and the candle reads must search the index intended for them. Their answers are compared with the
SQL they replaced on a database seeded with SYNTHETIC candles laid out to be awkward: several symbols,
intervals and sources, a retired source, forming candles, one open time stored by two sources, and holes
shorter and longer than an hour, at window edges too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest

from bench import command_queries as cq
from bench.history_db import END, FALLBACK, RETIRED, SOURCE, SYMBOL, build, open_before_index
from storage.db import migrate
from storage.repo import Repo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS, Candle

OBSERVATION_TABLES = (
    "candles",
    "liquidations",
    "liquidation_hourly",
    "funding",
    "open_interest",
    "fear_greed",
)
# A full scan of an observation table (or of one under the aliases the queries give it).
FULL_SCAN = re.compile(rf"\bSCAN ({'|'.join(OBSERVATION_TABLES)}|c)\b")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """Return the benchmark's synthetic history, 20 days of it, migrated to the current schema."""
    path = tmp_path_factory.mktemp("history") / "history.db"
    repo = open_before_index(path)
    build(repo, 20 * 1440)
    migrate(repo.conn, str(path))
    yield repo
    repo.conn.close()


def statements(repo: Repo, call: object) -> list[str]:
    """Run ``call(repo)`` and return the SELECT statements it executed, parameters filled in."""
    seen: list[str] = []
    repo.conn.set_trace_callback(seen.append)
    try:
        call(repo)  # type: ignore[operator]
    finally:
        repo.conn.set_trace_callback(None)
    return [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]


def plan(repo: Repo, sql: str, params: tuple[object, ...] = ()) -> str:
    """Return SQLite's plan for ``sql`` as one line."""
    return " | ".join(row[3] for row in repo.conn.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize("case", cq.cases(END), ids=lambda c: c.name)
def test_every_command_read_searches_and_never_scans_an_observation_table(
    history: Repo, case: cq.Case
) -> None:
    executed = statements(history, case.new)
    assert executed, f"{case.name} ran no SELECT"
    for sql in executed:
        found = plan(history, sql)
        assert not FULL_SCAN.search(found), f"{case.name} scans a whole table: {found}\n{sql}"
        assert "SEARCH" in found, f"{case.name} searches nothing: {found}"


# The reads the candle series index is for: each must search it (a few seeks a series).
SERIES = "COVERING INDEX candles_series (symbol=? AND interval=? AND source=?"
INDEXED = {
    "candle_symbols": "(symbol>?)",
    "candle_intervals": "(symbol=? AND interval>?)",
    "stored span": SERIES + ")",
    "candle_coverage 24h": SERIES + " AND open_time>?",
    "newest candles per series, 1 day": SERIES,
    "candle_gaps 1m, 97 days": "PRIMARY KEY (symbol=? AND interval=? AND open_time>? AND open_time<?)",
    "last_candle_time, retired source": SERIES + ")",
}


@pytest.mark.parametrize("name", sorted(INDEXED))
def test_candle_reads_search_the_index_meant_for_them(history: Repo, name: str) -> None:
    case = next(c for c in cq.cases(END) if c.name == name)
    found = " || ".join(plan(history, sql) for sql in statements(history, case.new))
    assert INDEXED[name] in found, found


def test_the_old_sql_fails_these_checks(history: Repo) -> None:
    # The checks can fail: the SQL these reads replaced scans the table or walks the symbol's history.
    assert FULL_SCAN.search(plan(history, "SELECT DISTINCT symbol FROM candles ORDER BY symbol"))
    for name, old, params in (
        ("candle_intervals", cq.OLD_INTERVALS, (SYMBOL,)),
        ("newest candles per series, 1 day", cq.OLD_NEWEST_CANDLES, (SYMBOL, 0, END)),
        ("candle_coverage 24h", cq.OLD_COVERAGE, (SYMBOL, 0, END)),
    ):
        found = plan(history, re.sub(r":\w+", "?", old), params)
        assert INDEXED[name] not in found, found


def test_the_series_skip_scan_never_walks_a_series(history: Repo) -> None:
    # A row-value step ((interval, source) > (?, ?)) would seek on the interval alone and walk the rest of
    # it: every step must name interval and source (or interval alone for the next interval).
    case = next(c for c in cq.cases(END) if c.name == "stored span")
    found = plan(history, statements(history, case.new)[0])
    steps = re.findall(r"SEARCH candles USING COVERING INDEX candles_series \(([^)]*)\)", found)
    assert steps and all(
        s
        in (
            "symbol=?",
            "symbol=? AND interval>?",
            "symbol=? AND interval=?",
            "symbol=? AND interval=? AND source>?",
            "symbol=? AND interval=? AND source=?",
        )
        for s in steps
    ), steps


def test_the_benchmark_history_answers_as_the_old_sql(history: Repo) -> None:
    for case in cq.cases(END):
        assert case.new(history) == case.old(history), case.name


def _awkward(repo: Repo, seed: int) -> None:
    """Store SYNTHETIC candles with holes, duplicates across sources and forming candles."""
    rng = random.Random(seed)
    t0 = END - 10 * DAY_MS
    rows: list[Candle] = []
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        for interval, step in (("1m", MINUTE_MS), ("5m", 5 * MINUTE_MS), ("1h", HOUR_MS), ("1d", DAY_MS)):
            for source in ("binance", "bybit", "coinbase")[: rng.randint(1, 3)]:
                t = t0 + rng.randrange(0, 2 * DAY_MS, step)
                stop = END - rng.randrange(0, DAY_MS, step)
                while t < stop:
                    closed = t + step <= stop or rng.random() < 0.5
                    rows.append(Candle(symbol, interval, t, source, 1.0, 2.0, 0.5, 1.5, 3.0, None, closed))
                    # Holes from one step to a few hours, now and then.
                    t += step * (
                        1 + (rng.randrange(1, 400 * MINUTE_MS // step + 2) if rng.random() < 0.01 else 0)
                    )
    repo.upsert_candles(rows)


WINDOWS = [
    (None, None),
    (END - 3 * DAY_MS, END),
    (END - 9 * DAY_MS - 7 * MINUTE_MS, END - 2 * DAY_MS + 13 * MINUTE_MS),
    (END + DAY_MS, END + 2 * DAY_MS),
    (END - 30 * DAY_MS, END - 20 * DAY_MS),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_awkward_histories_answer_as_the_old_sql(repo: Repo, seed: int) -> None:
    _awkward(repo, seed)
    assert repo.candle_symbols() == cq.old_symbols(repo)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"):
        assert repo.candle_intervals(symbol) == cq.old_intervals(repo, symbol)
        whole = cq.old_coverage(repo, symbol, -(2**62), 2**62)
        assert [(s.interval, s.source, s.first_open, s.last_open) for s in repo.candle_series(symbol)] == [
            (i, s, first, last) for i, s, _, first, last in whole
        ]
        for start, end in WINDOWS:
            got = [
                (c.interval, c.source, c.rows, c.first_open, c.last_open)
                for c in repo.candle_coverage(symbol, start, end)
            ]
            lo, hi = start if start is not None else -(2**62), end if end is not None else 2**62
            assert got == cq.old_coverage(repo, symbol, lo, hi)
            assert repo.newest_observations("candles", symbol, lo, hi) == cq.old_newest_candles(
                repo, symbol, lo, hi
            )
            for interval in ("1m", "5m", "1h", "1d"):
                for longer in (0, MINUTE_MS, HOUR_MS, 3 * HOUR_MS):
                    assert repo.candle_gaps(symbol, interval, lo, hi, longer) == cq.old_gaps(
                        repo, symbol, interval, lo, hi, longer
                    ), (symbol, interval, start, end, longer)


def test_gaps_are_found_where_they_are(repo: Repo) -> None:
    # Candles every minute but for a 61-minute hole, a 59-minute one and a duplicate from a second source.
    t0 = END - DAY_MS
    times = [
        t for t in range(t0, t0 + 6 * HOUR_MS, MINUTE_MS) if not (HOUR_MS <= t - t0 < 2 * HOUR_MS + MINUTE_MS)
    ]
    times = [t for t in times if not (4 * HOUR_MS <= t - t0 < 4 * HOUR_MS + 59 * MINUTE_MS)]
    rows = [Candle(SYMBOL, "1m", t, SOURCE, 1, 1, 1, 1, 1) for t in times]
    rows.append(Candle(SYMBOL, "1m", t0 + 3 * HOUR_MS, FALLBACK, 1, 1, 1, 1, 1))
    repo.upsert_candles(rows)
    gaps = repo.candle_gaps(SYMBOL, "1m", t0, t0 + DAY_MS, HOUR_MS)
    assert gaps == [(t0 + HOUR_MS, t0 + 2 * HOUR_MS + MINUTE_MS)]
    assert repo.candle_gaps(SYMBOL, "1m", t0, t0 + DAY_MS, 30 * MINUTE_MS) == [
        (t0 + HOUR_MS, t0 + 2 * HOUR_MS + MINUTE_MS),
        (t0 + 4 * HOUR_MS, t0 + 4 * HOUR_MS + 59 * MINUTE_MS),
    ]


def test_a_retired_source_is_found_at_its_last_candle(repo: Repo) -> None:
    t0 = END - 30 * DAY_MS
    repo.upsert_candles([Candle(SYMBOL, "1m", t0 + i * MINUTE_MS, RETIRED, 1, 1, 1, 1, 1) for i in range(10)])
    repo.upsert_candles(
        [Candle(SYMBOL, "1m", END - i * MINUTE_MS, SOURCE, 1, 1, 1, 1, 1) for i in range(1, 10)]
    )
    assert repo.last_candle_time(SYMBOL, "1m", RETIRED) == t0 + 9 * MINUTE_MS
    assert [s.source for s in repo.candle_series(SYMBOL)] == [SOURCE, RETIRED]
