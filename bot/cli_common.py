"""Pieces the `chart` and `backtest` commands share: time options and the bundled scenario database."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from bot.cli_replay import SCENARIO_START
from bot.config import Config
from bot.errors import UserError
from bot.replay import run_replay
from bot.routing import AlertRouter
from feeds.replay import ReplayDataError, load_directory, parse_time, store_recorded
from storage.db import open_database
from storage.repo import Repo

DAY_MS = 86_400_000
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def scenario_data_repo(scenario: Path) -> Repo:
    """Return an in-memory database holding the bundled scenario's rows (no rules, no alerts)."""
    try:
        data = load_directory(scenario)
    except ReplayDataError as exc:
        raise UserError(str(exc)) from None
    repo = Repo(open_database(":memory:"))
    store_recorded(repo, data)
    return repo


def scenario_replayed_repo(scenario: Path, config: Config) -> Repo:
    """Return an in-memory database with the bundled scenario replayed through ``config``'s rules."""
    try:
        data = load_directory(scenario)
    except ReplayDataError as exc:
        raise UserError(str(exc)) from None
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
