"""Storage backends: the bundled scenario (real January 2026 data) replayed on SQLite and on PostgreSQL.

The same ``run_replay`` as ``tripwire replay``, with the rules of ``config.example.toml``, into a fresh
SQLite file (WAL) and into a fresh schema of the PostgreSQL server at ``TRIPWIRE_BENCH_PG_URL`` (default
the local test server); the baseline is the SQLite run in the same process, and the alerts of both runs
must be the same. Without a server the PostgreSQL half is reported as skipped.

    python -m bench.backends [--smoke] [--runs N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bench.common import Figure, fresh_schema, machine, parser, report, timer
from bench.replay import CountingSink
from bot.alerts.routing import AlertRouter
from bot.cli.common import SCENARIO_START, bundled_scenario, config_or_example, load_recorded
from bot.config import Config
from bot.replay.pipeline import run_replay
from feeds.replay import RecordedData, parse_time
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def replay_into(
    database: str | Path, config: Config, data: RecordedData, end: int | None
) -> tuple[float, Counter[str]]:
    """Replay the scenario into ``database``; return wall seconds (opening, migrating included) and alerts."""
    sink = CountingSink()
    with timer() as elapsed:
        repo = Repo(open_database(database))
        asyncio.run(
            run_replay(
                config,
                data,
                repo,
                [sink],
                lambda r: AlertRouter(r, config.routes, console=True, discord=False),
                start=parse_time(SCENARIO_START),
                end=end,
            )
        )
        repo.close()
    return elapsed(), sink.by_rule


def main(argv: list[str] | None = None) -> int:
    """Replay the scenario on both backends and print the wall times and their ratio."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--runs", type=int, default=3)
    args = args_parser.parse_args(argv)
    runs = 1 if args.smoke else args.runs
    url = os.environ.get("TRIPWIRE_BENCH_PG_URL", DEFAULT_URL)
    print(f"machine: {machine()}")
    with ExitStack() as stack:
        scenario = bundled_scenario(stack)
        data = load_recorded(scenario)
        config = config_or_example(None, scenario)
        end = parse_time(SCENARIO_START) + 2 * DAY_MS if args.smoke else None
        lite: list[float] = []
        alerts: Counter[str] = Counter()
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, alerts = replay_into(Path(tmp) / "replay.db", config, data, end)
                lite.append(seconds)
        sqlite_s = statistics.median(lite)
        figures = [Figure("replay on SQLite (baseline)", sqlite_s, "s", note=f"median of {runs}")]
        try:
            psycopg.connect(url, connect_timeout=3).close()
        except psycopg.Error as exc:
            figures.append(Figure("replay on PostgreSQL: skipped", 0, "-", note=str(exc).strip()[:80]))
            report("storage backends (bundled scenario replay)", figures)
            return 0
        pg: list[float] = []
        same = True
        for _ in range(runs):
            with fresh_schema(url) as schema_url:
                seconds, pg_alerts = replay_into(schema_url, config, data, end)
                pg.append(seconds)
                same = same and pg_alerts == alerts
        pg_s = statistics.median(pg)
        figures += [
            Figure("replay on PostgreSQL", pg_s, "s", note=f"median of {runs}, same alerts: {same}"),
            Figure("  ratio: PostgreSQL / SQLite", pg_s / sqlite_s, "x"),
            Figure("  alerts raised", sum(alerts.values()), "alerts"),
        ]
    ok = report("storage backends (bundled scenario replay)", figures) and same
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    raise SystemExit(main())
