"""Run this package's tests that take ``repo`` on both backends, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage.repo import Repo


@pytest.fixture
def repo(any_repo: Repo) -> Repo:
    """Yield a Repo at the latest schema, once per backend (tests/conftest.py's ``any_repo``)."""
    return any_repo
