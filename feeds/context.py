"""What every feed is built with besides its own config section and HTTP client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from feeds.base import NowMs, Tuning
from feeds.health import HealthRegistry
from feeds.higher_intervals import CandleNeeds, no_needs
from feeds.ingest import Ingest
from feeds.instruments import InstrumentRegistry
from feeds.logonce import FailureLog


@dataclass(frozen=True, slots=True)
class FeedContext:
    """The parts of the feed layer every feed shares: one per ``FeedManager``, handed to each feed."""

    symbols: Sequence[str]
    ingest: Ingest
    # The one aiohttp session every feed's websocket (and HTTP client) shares.
    session: aiohttp.ClientSession
    registry: HealthRegistry
    failures: FailureLog
    now_ms: NowMs
    tuning: Tuning
    # Which instrument trades each watched market on each venue; None: ask the venues by the symbols as
    # configured (an offline first start, or tests of one feed).
    instruments: InstrumentRegistry | None = None
    # The closed candles the loaded rules need per symbol and interval (the spot feed fetches the intervals
    # above its own from the venue); the app reads them from the engine's rules.
    candle_needs: CandleNeeds = no_needs
