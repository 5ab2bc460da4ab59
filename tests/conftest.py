"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.model import Target
from storage.db import open_database
from storage.repo import Repo, RuleRow
from tests.emulators.discord_api.conformance import TALLY
from tests.emulators.discord_api.fixtures import connected_bot, discord_config, discord_emu
from tests.emulators.exchanges.fixtures import exchange_emu, http, make_emulator, recorded_data
from tests.pg import fresh_schema

# Emulator fixtures are shared by every test package (feeds and bot end-to-end tests use them too).
__all__ = [
    "connected_bot",
    "discord_config",
    "discord_emu",
    "exchange_emu",
    "http",
    "make_emulator",
    "recorded_data",
]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


@pytest.fixture
def repo() -> Iterator[Repo]:
    """Yield a Repo over a fresh in-memory database at the latest schema."""
    db = open_database(":memory:")
    yield Repo(db)
    db.conn.close()


@pytest.fixture
def file_repo(tmp_path: Path) -> Iterator[Repo]:
    """Yield a Repo over a fresh database file (WAL mode, as in production)."""
    db = open_database(tmp_path / "tripwire.db")
    yield Repo(db)
    db.conn.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hand this worker's conformance totals to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["discord_conformance"] = TALLY.as_json()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """In the pytest-xdist controller, add a finished worker's conformance totals to the session's."""
    data = getattr(node, "workeroutput", {}).get("discord_conformance")
    if data:
        TALLY.merge(data)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the Discord conformance totals (requests, operations, mismatches) when any were checked."""
    if TALLY.tests:
        terminalreporter.section("Discord OpenAPI conformance")
        for line in TALLY.summary_lines():
            terminalreporter.write_line(line)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """Yield the URL of a fresh, empty PostgreSQL schema (skipped when no server answers: tests/pg.py)."""
    with fresh_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_repo(request: pytest.FixtureRequest) -> Iterator[Repo]:
    """Yield a Repo at the latest schema on each backend: in-memory SQLite, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        db = open_database(":memory:")
        yield Repo(db)
        db.conn.close()
        return
    with fresh_schema() as url:
        pg = open_database(url)
        yield Repo(pg)
        pg.conn.close()


class ConsoleRouter:
    """Route every alert to one console target (the engine's router, for tests that only record alerts)."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the console."""
        return [Target("console", "stdout")]
