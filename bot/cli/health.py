"""``tripwire healthcheck``: a probe for Docker's HEALTHCHECK and other supervisors (exit 0 healthy, 1 not).

With ``[http] enabled`` it asks the running bot's ``/healthz`` (or ``/readyz`` with ``--ready``), which
proves the process and its event loop answer. Without the HTTP server it reads the heartbeat the running
bot's event loop writes beside the database every few seconds (``bot.ops.heartbeat``): healthy while that
is fresh and the database file can be read. A stopped bot has no heartbeat (a clean stop removes it, a
killed one leaves a stale one), so the check fails, as it must.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.cli.common import unmigrated
from bot.config import ConfigError, HttpConfig, load_config
from bot.ops.heartbeat import STALE_AFTER_S, beat_age, heartbeat_path
from storage.db import DatabaseError
from storage.pg_url import is_postgres_url

# Docker reserves exit code 2 for health checks; every failure here is 1.
UNHEALTHY = 1
# The wildcard addresses a server binds to are reached through loopback from inside the same host.
_LOOPBACK_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def probe_url(http: HttpConfig, ready: bool) -> str:
    """Return the URL to probe for a server configured by ``http``."""
    host = _LOOPBACK_FOR.get(http.host, http.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{http.port}/{'readyz' if ready else 'healthz'}"


def _probe_http(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: cannot reach {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return UNHEALTHY
    if status != 200:
        print(f"unhealthy: {url} answered HTTP {status}", file=sys.stderr)
        return UNHEALTHY
    print(f"healthy: {url} answered 200")
    return 0


def _probe_database(path: str | Path) -> int:
    if not is_postgres_url(path) and not Path(path).exists():
        print(f"unhealthy: database {path} does not exist (yet)", file=sys.stderr)
        return UNHEALTHY
    try:
        with unmigrated(path) as repo:
            repo.ping()
    except (DatabaseError, OSError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return UNHEALTHY
    except Exception as exc:  # sqlite3.Error and friends: any failure to read is unhealthy
        print(f"unhealthy: cannot read {path}: {exc}", file=sys.stderr)
        return UNHEALTHY
    return 0


def _probe_heartbeat(database: Path) -> int:
    path = heartbeat_path(database)
    if path is None:
        print("unhealthy: an in-memory database has no heartbeat to check; enable [http]", file=sys.stderr)
        return UNHEALTHY
    age = beat_age(path, time.time())
    if age is None:
        print(
            f"unhealthy: no heartbeat in {path}: the bot is not running (or has not started)", file=sys.stderr
        )
        return UNHEALTHY
    if age > STALE_AFTER_S:
        print(
            f"unhealthy: the last heartbeat in {path} is {age:.0f} s old (more than {STALE_AFTER_S:.0f} s): "
            "the bot was killed or its event loop is stuck",
            file=sys.stderr,
        )
        return UNHEALTHY
    print(f"healthy: heartbeat {age:.0f} s ago, database {database} readable")
    return 0


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Probe the running bot (HTTP) or, without the HTTP server, its database."""
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"unhealthy: config {args.config}: {exc.problems[0]}", file=sys.stderr)
        return UNHEALTHY
    if config.http.enabled:
        return _probe_http(probe_url(config.http, args.ready), args.timeout)
    return _probe_database(config.storage.database) or _probe_heartbeat(config.storage.path)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `healthcheck` command."""
    cmd = sub.add_parser(
        "healthcheck", help="exit 0 when the running bot is healthy (for Docker HEALTHCHECK)"
    )
    cmd.add_argument("--config", "-c", default="tripwire.toml", help="config file of the bot to probe")
    cmd.add_argument("--ready", action="store_true", help="probe /readyz instead of /healthz")
    cmd.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer (default 5)")
    cmd.set_defaults(handler=cmd_healthcheck)
