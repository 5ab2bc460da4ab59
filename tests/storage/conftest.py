"""Run this package's tests that take ``repo`` on both backends, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import open_database
from storage.repo import Repo
from tests.pg import fresh_schema


@pytest.fixture
def repo(any_repo: Repo) -> Repo:
    """Yield a Repo at the latest schema, once per backend (tests/conftest.py's ``any_repo``)."""
    return any_repo


@pytest.fixture(params=["sqlite", "postgresql"])
def file_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repo]:
    """Yield a Repo over a fresh database file (WAL mode, as in production), then over PostgreSQL."""
    if request.param == "sqlite":
        db = open_database(tmp_path / "tripwire.db")
        yield Repo(db)
        db.conn.close()
        return
    with fresh_schema() as url:
        pg = open_database(url)
        yield Repo(pg)
        pg.conn.close()
