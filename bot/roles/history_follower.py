"""The in-memory market history of a process that runs no feeds (a Discord cluster), kept from the database.

What the services read from ``detectors.market_history`` is little: ``/alert add`` and a rule's view say
how warm a new rule is (closed candles per interval, ``ServiceBase.warming_of``) and what it will do now
(its detector evaluated once, ``RuleCommands.outlook``). Everything else a command shows (prices, history,
/why, charts, rules) is read from the database. A cluster has no feed to fill the history, so it warms one
from the database at start and builds a fresh one every ``refresh_seconds`` in a worker thread on a
connection of its own, then swaps it in: the statements it backs are about closed candles and conditions
under way, for which a view a minute old says the same; the alerts themselves are decided by the market
role's engine on its live history, never here. Following the feeds' writes row by row (a NOTIFY per
batch) would cost the market role a notification per ingest for lines that do not need it.

The venues' instrument lists, by which commands read a venue's own name for a market (``1000PEPEUSDT``,
``PEPE-USDT-SWAP``), are read the same way: the market role's feeds keep them in the database (the
``instruments`` cache), and each rebuild hands over a registry filled from it (``on_instruments``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from functools import partial

from detectors.base import MARKET_SYMBOL
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from feeds.instrument_fetch import load_cached
from feeds.instruments import InstrumentRegistry, stated_funding_interval
from storage.repo import Repo

log = logging.getLogger(__name__)


class HistoryFollower:
    """Warm a ``MarketHistory`` from the database and rebuild it periodically; ``on_new`` gets each one."""

    def __init__(
        self,
        open_repo: Callable[[], Repo],
        symbols: Sequence[str],
        now_ms: Callable[[], int],
        on_new: Callable[[MarketHistory], None],
        *,
        refresh_seconds: float = 60.0,
        instrument_venues: set[str] | None = None,
        on_instruments: Callable[[InstrumentRegistry], None] | None = None,
    ) -> None:
        self.open_repo = open_repo
        self.symbols = [*symbols, MARKET_SYMBOL]
        self.now_ms = now_ms
        self.on_new = on_new
        self.refresh_seconds = refresh_seconds
        self.instrument_venues = instrument_venues
        self.on_instruments = on_instruments
        self.builds = 0

    def build(self) -> tuple[MarketHistory, InstrumentRegistry | None]:
        """Return a history warmed from the database now, and the cached instrument lists when wanted.

        Blocking: call it off the event loop.
        """
        repo = self.open_repo()
        try:
            history = MarketHistory()
            Ingest(repo, history).warm_up(self.symbols, self.now_ms())
            registry = (
                load_cached(repo, InstrumentRegistry(), self.instrument_venues)
                if self.on_instruments is not None
                else None
            )
            if registry is not None:  # each venue's funding interval, as the feed process reads it
                history.stated_funding_interval = partial(stated_funding_interval, registry)
        finally:
            repo.close()
        self.builds += 1
        return history, registry

    async def refresh(self) -> None:
        """Build a fresh history (and instrument registry) in a worker thread and hand them over."""
        history, registry = await asyncio.to_thread(self.build)
        self.on_new(history)
        if registry is not None and self.on_instruments is not None:
            self.on_instruments(registry)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every ``refresh_seconds`` until ``stop`` is set (a failed build keeps the last one)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_seconds)
                return
            try:
                await self.refresh()
            except Exception:
                log.exception("could not rebuild the market history from the database; keeping the last")
