"""Redis for tests: the server at ``TRIPWIRE_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/0).

When none answers, Redis tests are skipped with the reason shown (as tests/pg.py does for PostgreSQL);
``TRIPWIRE_TEST_PG_REQUIRED=1`` (set by .ci/run, which has both servers) turns that skip into a failure.
Each test uses keys of its own, so tests may run in parallel on one server.
"""

from __future__ import annotations

import os
import uuid
from functools import cache

import pytest
import redis

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def server_url() -> str:
    """Return the URL of the test server."""
    return os.environ.get("TRIPWIRE_TEST_REDIS_URL", DEFAULT_URL)


@cache
def _unreachable() -> str | None:
    try:
        redis.Redis.from_url(server_url(), socket_connect_timeout=3).ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis at {server_url()} ({exc})"
    return None


def require_redis() -> str:
    """Return the server URL, or skip the test (fail with TRIPWIRE_TEST_PG_REQUIRED set) without one."""
    reason = _unreachable()
    if reason is not None:
        if os.environ.get("TRIPWIRE_TEST_PG_REQUIRED"):
            pytest.fail(f"TRIPWIRE_TEST_PG_REQUIRED is set but {reason}")
        pytest.skip(f"{reason}; set TRIPWIRE_TEST_REDIS_URL to run the Redis tests")
    return server_url()


def fresh_key() -> str:
    """Return a key no other test uses."""
    return f"tripwire-test:{uuid.uuid4().hex}"
