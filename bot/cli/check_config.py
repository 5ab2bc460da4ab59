"""``tripwire check-config``'s market check: each configured market against the venues' instrument lists.

The lists come from the database's cache (what the bot last read) or, with ``--fetch``, from the venues
now (through the configured feed URLs). Each market is said resolved (and to what, per venue) or
refused with the closest matches, under its TOML path; names the config wrote another way (``SHIB``,
``1000PEPEUSDT``) are said renamed.
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.config import Config, Renamed, canonicalise_config_data, shown_database
from feeds.base import Tuning, system_now_ms
from feeds.instrument_fetch import InstrumentLists, load_cached
from feeds.instruments import InstrumentRegistry
from feeds.logonce import FailureLog
from feeds.markets import check_markets
from storage.db import DatabaseError, database_errors, open_database
from storage.pg_url import is_postgres_url
from storage.repo import Repo

log = logging.getLogger(__name__)


@dataclass
class MarketReport:
    """What check-config says about the markets."""

    renamed: list[Renamed] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    source: str = ""  # where the lists came from; "" when there were none

    def lines(self) -> list[str]:
        """Return the lines for standard output (renames, then resolutions)."""
        head = [f"markets checked against {self.source}"] if self.source else []
        return head + [str(r) for r in self.renamed] + self.resolved


def renamed_in(path: str | Path) -> list[Renamed]:
    """Return the market names a config file writes another way than Tripwire stores them."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    return canonicalise_config_data(data)[1]


def cached_registry(config: Config) -> InstrumentRegistry | None:
    """Return the instrument lists cached in the configured database, or None if there are none."""
    path = config.storage.database
    if not is_postgres_url(path) and not Path(path).exists():
        return None
    try:
        db = open_database(path, migrate_schema=False)
    except DatabaseError:
        return None  # an older schema (no cache yet) or not a database: nothing to check against
    except database_errors():
        return None  # unreadable (or, on PostgreSQL, unreachable): nothing to check against
    try:
        registry = load_cached(Repo(db), InstrumentRegistry())
    except database_errors():
        return None
    finally:
        db.conn.close()
    return registry if registry.venues() else None


async def fetched_registry(config: Config) -> InstrumentRegistry:
    """Read every enabled venue's list now."""
    async with aiohttp.ClientSession() as session:
        lists = InstrumentLists(config.feeds, session, system_now_ms, _failures(), None, Tuning())
        await lists.refresh()
        return lists.registry


def market_report(config_path: str | Path, config: Config, *, fetch: bool) -> MarketReport:
    """Check the configured markets against the venues' lists (fetched now, or the cached ones)."""
    report = MarketReport(renamed=renamed_in(config_path))
    registry = asyncio.run(fetched_registry(config)) if fetch else cached_registry(config)
    if registry is None or not registry.venues():
        return report
    report.source = f"the lists of {', '.join(registry.venues())}" + (
        " read now" if fetch else f" cached in {shown_database(config.storage.database)}"
    )
    checked = check_markets(config.symbols, registry)
    report.resolved, report.refused = checked.resolved, checked.refused
    return report


def _failures() -> FailureLog:
    return FailureLog(log, system_now_ms)
