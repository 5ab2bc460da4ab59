"""Seed a database with the bundled January 2026 scenario, the same way replay feeds the live pipeline."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from feeds.replay import RecordedData, load_directory, parse_time
from storage.repo import Repo

# Moments of the scenario tests ask about.
BREAKOUT_DAY_NOON = parse_time("2026-01-14T12:00Z")  # the day after BTC broke $95,000
FNG_61_DAY = parse_time("2026-01-15T06:00Z")  # Fear & Greed published 61, its highest since October


@cache
def scenario_data() -> RecordedData:
    """Return the bundled scenario's rows (read once per test session)."""
    with resources.as_file(resources.files("bot.scenario")) as directory:
        return load_directory(Path(directory))


def seed(repo: Repo, until: int | None = None, history: MarketHistory | None = None) -> MarketHistory:
    """Ingest every scenario row available at or before ``until`` (all when None); return the history."""
    history = history if history is not None else MarketHistory()
    ingest = Ingest(repo, history)
    with repo.transaction():
        for available_at, batch in scenario_data().timeline():
            if until is not None and available_at > until:
                break
            ingest.candles(batch.candles)
            ingest.liquidation_buckets(batch.liquidation_buckets)
            ingest.liquidations(batch.liquidations)
            ingest.funding(batch.funding)
            ingest.open_interest(batch.open_interest)
            ingest.fear_greed(batch.fear_greed)
    return history
