"""Pieces the commands share: the bundled scenario and its config, time options, databases, output files."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path

from bot.alerts.routing import AlertRouter
from bot.config import Config, load_config
from bot.errors import UserError
from bot.replay.pipeline import run_replay
from detectors.liqmap.params import use_params
from feeds.replay import RecordedData, ReplayDataError, load_directory, parse_time, store_recorded
from storage.db import open_database
from storage.repo import Repo
from storage.rows import DAY_MS

# The bundled scenario: the real data of 2026-01-01..20 (the January 2026 short squeeze).
SCENARIO_START = "2026-01-01T00:00:00Z"
EXAMPLE_CONFIG = "config.example.toml"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def bundled_scenario(stack: ExitStack) -> Path:
    """Return the directory of the bundled scenario (its CSV files and config), valid while ``stack`` is."""
    return stack.enter_context(resources.as_file(resources.files("bot.scenario")))


def config_or_example(path: str | None, scenario: Path) -> Config:
    """Load the config file at ``path``, or the bundled ``config.example.toml`` when none is given.

    Its ``[liqmap]`` settings become the process's (the liquidation-map detectors model with them).
    """
    config = load_config(Path(path) if path else scenario / EXAMPLE_CONFIG)
    use_params(config.liqmap)
    return config


def add_format_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--format text|jsonl``: how alerts are printed (as ``tripwire replay`` prints them)."""
    parser.add_argument("--format", choices=("text", "jsonl"), default="text", help="alert output format")


def time_option(text: str | None, option: str, *, end_of_day: bool = False) -> int | None:
    """Parse a --from/--to value into UTC ms; with ``end_of_day`` a bare date means the end of that day.

    ``--from 2026-01-10 --to 2026-01-16`` then covers both days whole, the way people say date ranges.
    """
    if text is None:
        return None
    try:
        value = parse_time(text)
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not a date or time (use e.g. 2026-01-13 or 2026-01-13T22:00Z)"
        ) from None
    if end_of_day and _DATE_ONLY.match(text.strip()):
        value += DAY_MS
    return value


def check_writable(path: str) -> None:
    """Fail before any slow work when ``path`` cannot be written (missing directory, no permission)."""
    target = Path(path)
    directory = target.parent
    if target.is_dir():
        raise UserError(f"cannot write {path}: it is a directory")
    if not directory.is_dir():
        raise UserError(f"cannot write {path}: No such file or directory")
    if not os.access(directory, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UserError(f"cannot write {path}: Permission denied")


def write_output(path: str, data: bytes) -> None:
    """Write a file, turning an OS error into a one-line UserError."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def open_existing(path: str) -> Repo:
    """Open a database file that must already exist (reading commands never create an empty one)."""
    if not Path(path).is_file():
        raise UserError(f"database file {path} does not exist")
    return Repo(open_database(path))


@contextmanager
def unmigrated(path: Path) -> Iterator[Repo]:
    """Open a database file as it is (its schema left alone) and close it after the block."""
    repo = Repo(open_database(path, migrate_schema=False))
    try:
        yield repo
    finally:
        repo.close()


def load_recorded(directory: Path) -> RecordedData:
    """Read a directory of recorded CSV files, or raise UserError saying what is wrong with it."""
    try:
        return load_directory(directory)
    except ReplayDataError as exc:
        raise UserError(str(exc)) from None


def scenario_data_repo(scenario: Path) -> Repo:
    """Return an in-memory database holding the bundled scenario's rows (no rules, no alerts)."""
    data = load_recorded(scenario)
    repo = Repo(open_database(":memory:"))
    store_recorded(repo, data)
    return repo


def scenario_replayed_repo(scenario: Path, config: Config) -> Repo:
    """Return an in-memory database with the bundled scenario replayed through ``config``'s rules."""
    data = load_recorded(scenario)
    repo = Repo(open_database(":memory:"))
    asyncio.run(
        run_replay(
            config,
            data,
            repo,
            [],
            lambda r: AlertRouter(r, config.routes, console=False, discord=False),
            start=parse_time(SCENARIO_START),
        )
    )
    return repo


def history_repo(db: str | None, scenario: Path, config: Config) -> Repo:
    """Return the database ``--db`` names, or the bundled scenario replayed so its alerts are there too."""
    return open_existing(db) if db else scenario_replayed_repo(scenario, config)
