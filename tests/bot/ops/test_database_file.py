"""Issue 17, finding 7: a database file deleted or replaced under the running bot is noticed."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp

from bot.ops.metrics import Registry
from bot.ops.readiness import database_check
from bot.ops.watchdog import FeedWatchdog
from bot.ops.web import WebServer
from storage.db import open_database
from storage.repo import Repo

T0 = 1_768_345_200_000  # 2026-01-13 23:00 UTC
OPS_CHANNEL = 900  # synthetic channel id


def _ops_reports(repo: Repo) -> list[str]:
    return [r.payload["title"] for r in repo.due_outbox("discord", T0 + 1) if r.kind == "ops"]


async def test_finding_7_deleted_database_is_not_ready_and_told_once(tmp_path: Path) -> None:
    path = tmp_path / "tripwire.db"
    repo = Repo(open_database(path))
    watchdog = FeedWatchdog(repo, lambda: T0, debounce_ms=0, ops_channel_id=OPS_CHANNEL)
    checks = {"database": database_check(repo.ping, repo.file_problem)}
    async with aiohttp.ClientSession() as client, WebServer(Registry(), checks, port=0) as server:
        async with client.get(f"{server.url}/readyz") as resp:
            assert resp.status == 200
        assert watchdog.check_database_file() is None
        path.unlink()
        async with client.get(f"{server.url}/readyz") as resp:
            assert resp.status == 503
            detail = (await resp.json())["checks"]["database"]["detail"]
        assert "was deleted" in detail
    # Told once, however often the watchdog looks.
    for _ in range(3):
        assert watchdog.check_database_file() is not None
    assert _ops_reports(repo) == ["Database file gone"]
    repo.close()


def test_finding_7_replaced_database_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "tripwire.db"
    Repo(open_database(tmp_path / "other.db")).close()
    repo = Repo(open_database(path))
    assert repo.file_problem() is None
    shutil.move(tmp_path / "other.db", path)  # another file now under the same name
    problem = repo.file_problem()
    assert problem is not None and "replaced" in problem
    repo.close()


def test_an_in_memory_database_has_no_file_to_lose() -> None:
    repo = Repo(open_database(":memory:"))
    assert repo.path == "" and repo.file_problem() is None
    repo.close()
