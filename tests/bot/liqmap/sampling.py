"""Take the Hyperliquid sample against the exchange emulator at chosen hours and store it in a repo.

The real sampler (feeds.hyperliquid_sample) reads the emulator's POST /info on a ManualClock the emulator
follows, so every round meets the prices of its own hour of the January 2026 recording. The accounts are
SYNTHETIC (made-up addresses; the emulator answers stand-in states, tests/emulators/exchanges/
hyperliquid_info.py). The emulator's IP limit is raised for this seeding: the limit itself is tested in
tests/feeds/test_hyperliquid_sample.py, and here a dozen rounds run within a few real seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import aiohttp

from detectors.market_history import MarketHistory
from feeds.health import HealthRegistry
from feeds.http import HttpClient
from feeds.hyperliquid_sample import HyperliquidSampler, SamplePlan
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import ManualClock

COINS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}


async def sample_hours(repo: Repo, times: Iterable[int], accounts: int = 100) -> int:
    """Run one sampling round at each of ``times`` (UTC ms) and store it; return the rounds stored."""
    clock = ManualClock()
    async with (
        ExchangeEmulator(hyperliquid_weight_limit=1_000_000) as emu,
        aiohttp.ClientSession() as session,
    ):
        clock.follow(emu)
        http = HttpClient(session, "hyperliquid", emu.base_url, timeout_s=10, now_ms=clock)
        health = HealthRegistry(clock).register("hyperliquid.positions", set(), list(COINS.values()),
                                                stale_after_s=700)  # fmt: skip
        failures = FailureLog(logging.getLogger("tests.sampling"), clock)
        ingest = Ingest(repo, MarketHistory())

        async def sleep(seconds: float) -> None:
            clock.advance(seconds)
            await asyncio.sleep(0)

        plan = SamplePlan(accounts, period_s=3600, budget=1200)
        sampler = HyperliquidSampler(plan, COINS, http, ingest, health, failures, clock, sleep=sleep)
        users = [f"0x{i:040x}" for i in range(1, accounts + 1)]
        sampler.on_trades({"channel": "trades", "data": [{"time": 0, "users": [u]} for u in users]})
        stored = 0
        for at in times:
            clock.ms = at
            result = await sampler.sample()
            assert result is not None
            sampler.store(result)
            stored += 1
        return stored
