"""The daily retention job beside a live writer, its schedule, and `tripwire db prune|vacuum`."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.__main__ import main
from bot.cli import db as cli_db
from bot.config import RetentionConfig
from bot.ops.maintenance import prune_file, retention_job, schedule_retention
from storage.db import open_database
from storage.repo import DAY_MS, PruneResult, Repo
from storage.rows import Candle, Funding

MIN = 60_000
POLICY = RetentionConfig(candles_1m_days=1)


def _now() -> int:
    return time.time_ns() // 1_000_000


def _old_minutes(path: Path, count: int) -> None:
    """Write ``count`` 1m candles ending two days ago (older than POLICY keeps)."""
    db = open_database(path)
    start = _now() - 2 * DAY_MS - count * MIN
    start -= start % 3_600_000
    Repo(db).upsert_candles(
        [Candle("BTCUSDT", "1m", start + i * MIN, "binance", 1.0, 2.0, 0.5, 1.5, 1.0) for i in range(count)]
    )
    db.conn.close()


def _rows(path: Path, table: str, where: str = "1 = 1") -> int:
    db = open_database(path, migrate_schema=False)
    try:
        return int(db.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])
    finally:
        db.conn.close()


async def test_retention_job_prunes_while_the_live_bot_keeps_writing(tmp_path: Path) -> None:
    path = tmp_path / "tripwire.db"
    _old_minutes(path, 30_000)
    live = Repo(open_database(path))  # the bot's own connection, used from the event loop
    results: list[PruneResult] = []
    job = asyncio.create_task(retention_job(path, POLICY, _now, on_result=results.append, chunk_rows=1000))
    writes = 0
    slowest = 0.0
    while not job.done():
        started = time.monotonic()
        live.upsert_funding([Funding("BTCUSDT", _now() + writes, "binance", 0.0001)])
        slowest = max(slowest, time.monotonic() - started)
        writes += 1
        await asyncio.sleep(0.001)
    result = await job
    live.close()
    assert result is not None and results == [result]
    assert result.deleted["candles"] == 30_000 and result.downsampled["candles"] == 500
    assert result.chunks >= 30
    # The bot wrote all along; no write waited for more than a few chunks.
    assert writes >= 10 and slowest < 1.0
    assert _rows(path, "funding") == writes
    assert _rows(path, "candles", "interval = '1m'") == 0


async def test_retention_job_logs_a_failure_instead_of_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("not a database\n" * 50)
    with caplog.at_level(logging.ERROR, logger="bot.ops.maintenance"):
        assert await retention_job(path, POLICY, _now) is None
    assert "retention: pruning" in caplog.text and "not a SQLite database" in caplog.text


def test_in_memory_database_is_refused() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        prune_file(":memory:", POLICY, _now())


async def test_daily_job_is_scheduled_at_a_fixed_utc_time_and_runs_the_prune(tmp_path: Path) -> None:
    path = tmp_path / "tripwire.db"
    _old_minutes(path, 120)
    scheduler = AsyncIOScheduler()
    job = schedule_retention(scheduler, path, POLICY, _now)
    assert str(job.trigger) == "cron[hour='3', minute='17']"
    assert str(job.trigger.timezone) == "UTC"
    assert job.coalesce and job.max_instances == 1
    # Adding it again (a config reload) replaces it instead of running it twice a day.
    schedule_retention(scheduler, path, POLICY, _now)
    assert len(scheduler.get_jobs()) == 1
    result: Any = await job.func(*job.args, **job.kwargs)
    assert result.deleted["candles"] == 120


def test_cli_prune_dry_run_then_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.db"
    _old_minutes(path, 120 * 24)
    config = tmp_path / "tripwire.toml"
    config.write_text(
        f'symbols = ["BTCUSDT"]\n[storage]\npath = "{path}"\n[storage.retention]\ncandles_1m_days = 1\n'
    )
    assert main(["db", "prune", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "would delete 2880 rows (candles 2880)" in out and "would fold hourly rows: candles 48" in out
    assert "dry run: nothing was deleted" in out
    assert _rows(path, "candles") == 2880
    assert main(["db", "prune", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "deleted 2880 rows" in out and "db vacuum" in out
    assert _rows(path, "candles", "interval = '1h'") == 48 and _rows(path, "candles") == 48


def test_cli_prune_with_db_uses_the_default_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.db"
    _old_minutes(path, 60)  # two days old: kept by the default 90 days
    assert main(["db", "prune", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "the defaults" in out and "deleted 0 rows (nothing)" in out
    assert _rows(path, "candles") == 60


def test_cli_prune_and_vacuum_of_a_missing_file_explain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("prune", "vacuum"):
        assert main(["db", command, "--db", str(tmp_path / "nope.db")]) == 2
        assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


def test_cli_vacuum_shrinks_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.db"
    _old_minutes(path, 20_000)
    prune_file(path, RetentionConfig(candles_1m_days=1, downsample=False), _now(), pause_s=0)
    size = path.stat().st_size
    assert main(["db", "vacuum", "--db", str(path)]) == 0
    assert path.stat().st_size < size / 4
    assert "MB ->" in capsys.readouterr().out


def test_cli_vacuum_refuses_without_disk_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.db"
    _old_minutes(path, 100)
    before = path.read_bytes()

    class Usage:
        total = used = 10**12
        free = 1000

    monkeypatch.setattr(cli_db.shutil, "disk_usage", lambda _p: Usage())
    assert main(["db", "vacuum", "--db", str(path)]) == 2
    assert "free some space first" in capsys.readouterr().err
    assert path.read_bytes() == before
