"""PostgreSQL for tests: a fresh schema per test on the server at ``TRIPWIRE_TEST_PG_URL``.

The server is ``postgresql://postgres@127.0.0.1:5432/test`` unless the variable names another. When none
answers, PostgreSQL tests are skipped with the reason shown, so the README's test command passes on a
machine without one; ``TRIPWIRE_TEST_PG_REQUIRED=1`` (set by .ci/run) turns that skip into a failure.
Each test gets its own schema (dropped after it), so tests are isolated and may run in parallel.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from urllib.parse import quote

import psycopg
import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    """Return the URL of the test server."""
    return os.environ.get("TRIPWIRE_TEST_PG_URL", DEFAULT_URL)


@cache
def _unreachable() -> str | None:
    """Return why the test server cannot be used, or None when it answers."""
    try:
        with psycopg.connect(server_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL at {server_url()} ({str(exc).strip().splitlines()[0]})"
    return None


def require_server() -> None:
    """Skip the test when no server answers (fail instead when TRIPWIRE_TEST_PG_REQUIRED is set)."""
    reason = _unreachable()
    if reason is None:
        return
    if os.environ.get("TRIPWIRE_TEST_PG_REQUIRED"):
        pytest.fail(f"TRIPWIRE_TEST_PG_REQUIRED is set but {reason}")
    pytest.skip(f"{reason}; set TRIPWIRE_TEST_PG_URL to run the PostgreSQL tests")


def with_search_path(url: str, schema: str) -> str:
    """Return ``url`` whose connections use ``schema`` first."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """Create an empty schema, yield a URL whose connections use it, and drop it afterwards."""
    require_server()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url(), autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(server_url(), schema)
    finally:
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
