"""Market-role takeover: from SIGKILL of the leading ``tripwire run --role market`` to the standby's "ready".

Two market processes run on a PostgreSQL schema of their own holding 30 days (``--days``) of
SYNTHETIC data for both symbols (``bench.synthetic``) and the rules of config.example.toml, with every
exchange feed switched off (nothing may leave this machine) and ``[roles] lease_poll_seconds`` at its
default. Once the first leads and the second stands by, the leader is killed with SIGKILL; the figure is
the time until the standby logs "ready in" (lease taken, history warmed, rules and the engine's state
read), and, apart, until it logs that it leads (the lease alone). The baseline is the first leader's own
start, from spawning the process to its "ready": a takeover should cost about that plus the wait for the
next poll.

Needs a PostgreSQL server (``TRIPWIRE_TEST_PG_URL``, default the tests' 127.0.0.1:5432/test); without one
it says so and exits 0.

    python -m bench.takeover [--smoke] [--runs N] [--days N]
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from bench.common import Figure, fresh_schema, machine, parser, report, write_example_config
from bench.synthetic import synthetic_market
from feeds.replay import store_recorded
from storage.db import open_database
from storage.repo import Repo

SERVER = os.environ.get("TRIPWIRE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_POLL_S = 2.0  # [roles] lease_poll_seconds' default: the bench runs with it


def write_config(directory: Path, url: str) -> Path:
    """Write a config with the example rules, no feeds, alerts queued for Discord; return its path."""
    return write_example_config(directory, ["[storage]", f'url = "{url}"'])


class Market:
    """One ``tripwire run --role market`` process whose log lines are read as they come."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.started = time.perf_counter()
        with log.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--role", "market", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_for(self, marker: str, timeout: float = 120.0) -> float:
        """Return time.perf_counter() when ``marker`` is first seen in the log (polled every 2 ms)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if marker in self.log.read_text(errors="replace"):
                return time.perf_counter()
            if self.process.poll() is not None:
                break
            time.sleep(0.002)
        raise RuntimeError(f"no {marker!r} (exit {self.process.poll()}):\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def one_takeover(config: Path, directory: Path, run: int) -> tuple[float, float, float]:
    """Return (leader's start to ready, kill to the standby leading, kill to the standby ready)."""
    leader = Market(config, directory / f"leader-{run}.log")
    standby: Market | None = None
    try:
        start_s = leader.wait_for("ready in") - leader.started
        standby = Market(config, directory / f"standby-{run}.log")
        standby.wait_for("standing by")
        time.sleep(DEFAULT_POLL_S * 1.5)  # the kill lands half-way between two of the standby's polls
        killed = time.perf_counter()
        leader.process.kill()
        leads = standby.wait_for("market role: leading") - killed
        ready = standby.wait_for("ready in") - killed
        return start_s, leads, ready
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()


def main(argv: list[str] | None = None) -> int:
    """Kill the leader a few times on a filled database; print the takeover figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--runs", type=int, default=5)
    args_parser.add_argument("--days", type=int, default=30, help="days of synthetic history stored")
    args = args_parser.parse_args(argv)
    runs = 1 if args.smoke else args.runs
    days = 1 if args.smoke else args.days
    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"takeover: skipped, no PostgreSQL at {SERVER} ({str(exc).strip().splitlines()[0]})")
        return 0
    with fresh_schema(SERVER) as url, tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(url))
        rows = store_recorded(repo, synthetic_market(days * 1440))
        repo.close()
        config = write_config(Path(tmp), url)
        results = [one_takeover(config, Path(tmp), run) for run in range(runs)]
    starts, leads, readies = (statistics.median(column) for column in zip(*results, strict=True))
    worst = max(r[2] for r in results)
    figures = [
        Figure(
            "SIGKILL of the leader -> standby ready",
            readies,
            "s",
            10.0,
            note=f"median of {runs}, worst {worst:.2f} s; {days} days, {rows:,} synthetic rows",
        ),
        Figure(
            "  of which: SIGKILL -> standby holds the lease",
            leads,
            "s",
            note=f"poll every {DEFAULT_POLL_S:g} s",
        ),
        Figure("  baseline: a leader's start, spawn -> ready", starts, "s", note="same database"),
        Figure("  ratio: takeover / a start", readies / starts, "x"),
    ]
    print(f"machine: {machine()}")
    ok = report("market-role takeover", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
