"""Start-up: from starting ``tripwire run --no-discord`` to the bot's "ready" (Discord login excluded).

The bot runs as a child process with the rules of config.example.toml, every exchange feed switched off
(nothing may leave this machine; feeds start in the background after "ready" anyway) and its database in a
temporary directory: once empty, once holding 30 days of SYNTHETIC data for both symbols (``bench.synthetic``)
that the history is warmed from. The time is measured from spawning the process to the log line the
composition root writes when every part is started (``bot.app``: "ready in ... s"); the bot is then stopped
with SIGTERM.

The baseline is the same interpreter importing ``bot.app`` and exiting: what start-up costs before any of
Tripwire's own work.

    python -m bench.startup [--smoke] [--runs N]
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

from bench.common import Figure, machine, parser, report, write_example_config
from bench.synthetic import synthetic_market
from feeds.replay import store_recorded
from storage.db import open_database
from storage.repo import Repo


def write_config(directory: Path) -> Path:
    """Write a config with the example rules, no feeds and no Discord; return its path."""
    settings = ["[storage]", f'path = "{directory / "tripwire.db"}"', "[discord]", "enabled = false"]
    return write_example_config(directory, settings)


def time_to_ready(config: Path, timeout: float = 60.0) -> float:
    """Start the bot, return the seconds until it logs "ready", then stop it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--no-discord", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if ": ready in " in line:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                break
        raise RuntimeError(f"the bot did not log ready (exit code {process.poll()})")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def time_imports() -> float:
    """Return the seconds a fresh interpreter takes to import bot.app and exit."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import bot.app"], check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Start the bot a few times on an empty and on a filled database; print the figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--runs", type=int, default=5)
    args = args_parser.parse_args(argv)
    runs = 1 if args.smoke else args.runs
    days = 1 if args.smoke else 30
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp))
        empty = statistics.median(time_to_ready(config) for _ in range(runs))
        (Path(tmp) / "tripwire.db").unlink(missing_ok=True)
        repo = Repo(open_database(Path(tmp) / "tripwire.db"))
        rows = store_recorded(repo, synthetic_market(days * 1440))
        repo.close()
        filled = statistics.median(time_to_ready(config) for _ in range(runs))
    imports = statistics.median(time_imports() for _ in range(runs))
    figures = [
        Figure("start to ready, empty database", empty, "s", 2.0, note=f"median of {runs}"),
        Figure(
            f"start to ready, {days} days stored",
            filled,
            "s",
            2.0,
            note=f"{rows:,} synthetic rows; median of {runs}",
        ),
        Figure("  baseline: interpreter + import bot.app", imports, "s"),
        Figure("  ratio: ready (filled) / imports", filled / imports, "x"),
    ]
    print(f"machine: {machine()}")
    ok = report("start-up", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
