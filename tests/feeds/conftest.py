"""Fixtures for the feed tests: a manual clock, fast timings, a real SQLite file and the exchange emulator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import pytest

from detectors.market_history import MarketHistory
from feeds.base import Tuning
from feeds.health import HealthRegistry
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.repo import Repo
from tests.emulators.exchanges import Dataset, ExchangeEmulator

# The emulator's frozen "now" when it serves recorded times: 2026-01-20 23:59:59.999 UTC.
RECORDED_END_MS = 1_768_953_599_999

# Every delay shrunk so a reconnect or a backoff takes milliseconds; the structure is production's.
FAST = Tuning(
    poll_backoff_base_s=1.0,
    poll_backoff_cap_s=8.0,
    reconnect_base_s=0.02,
    reconnect_cap_s=0.1,
    stable_after_s=0.5,
    connect_timeout_s=1.0,
    binance_ping_interval_s=0.2,
    bybit_ping_interval_s=0.2,
    okx_ping_interval_s=0.2,
    pong_timeout_s=0.2,
    data_silence_s=5.0,
    rotate_drain_s=0.05,
    flush_interval_s=0.02,
    flush_max_events=50,
    log_interval_s=60.0,
    health_check_s=0.05,
)


class ManualClock:
    """A ``now_ms`` callable that only moves when the test says so.

    Emulators started by ``make_emulator`` follow it: their (frozen) "now" is set with it, so what they
    serve and what the feeds believe the time is never drift apart.
    """

    def __init__(self, start_ms: int = RECORDED_END_MS) -> None:
        self._ms = start_ms
        self._followers: list[ExchangeEmulator] = []

    def __call__(self) -> int:
        return self._ms

    @property
    def ms(self) -> int:
        """Return the current time."""
        return self._ms

    @ms.setter
    def ms(self, value: int) -> None:
        self._ms = value
        for emu in self._followers:
            emu.clock.anchor_ms = value

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.ms = self._ms + int(seconds * 1000)

    def follow(self, emu: ExchangeEmulator) -> None:
        """Make an (unshifted, frozen) emulator's now this clock's now."""
        self._followers.append(emu)
        emu.clock.anchor_ms = self._ms


@pytest.fixture(scope="session")
def recorded_data() -> Dataset:
    """Load the recorded data once per session."""
    return Dataset()


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its feeds, emulators and sessions closed."""
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leaked, f"tasks still running after the test: {leaked}"


EmulatorFactory = Callable[..., Awaitable[ExchangeEmulator]]


@pytest.fixture
async def make_emulator(recorded_data: Dataset, clock: ManualClock) -> AsyncIterator[EmulatorFactory]:
    """Start emulators (following the test's clock) with EmulatorConfig overrides; all stopped after."""
    started: list[ExchangeEmulator] = []

    async def make(**overrides: Any) -> ExchangeEmulator:
        overrides.setdefault("dataset", recorded_data)
        emu = await ExchangeEmulator(**overrides).start()
        clock.follow(emu)
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.stop()


@pytest.fixture
async def emu(make_emulator: EmulatorFactory) -> ExchangeEmulator:
    """Return a running emulator serving recorded times (frozen at RECORDED_END_MS)."""
    return await make_emulator()


@pytest.fixture
def clock() -> ManualClock:
    """Return a manual clock starting at the emulator's frozen now."""
    return ManualClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """Return the one shared aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def ingest(file_repo: Repo) -> Ingest:
    """Return an Ingest over a real SQLite file."""
    return Ingest(file_repo, MarketHistory())


@pytest.fixture
def registry(clock: ManualClock) -> HealthRegistry:
    """Return an empty health registry on the manual clock."""
    return HealthRegistry(clock)


@pytest.fixture
def failures(clock: ManualClock) -> FailureLog:
    """Return a failure log on the manual clock."""
    return FailureLog(logging.getLogger("tests.feeds"), clock, interval_s=60.0)


FeedFactory = Callable[..., Any]


@pytest.fixture
def build(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> FeedFactory:
    """Build one feed the way the FeedManager does, pointed at the emulator, on the test's clock.

    ``build("okx", okx={"mode": "rest"})``; ``also`` enables more sections (a spot fallback); ``etf_api_key``
    is the key the ETF feed gets from the secrets.
    """
    from feeds.scheduler import build_feeds
    from tests.feeds.helpers import emulator_feeds_config

    def make(
        name: str,
        *,
        symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
        also: Sequence[str] = (),
        tuning: Tuning = FAST,
        etf_api_key: str | None = None,
        **sections: Any,
    ) -> Any:
        config = emulator_feeds_config(emu.base_url, emu.ws_url, only={name, *also}, **sections)
        (feed,) = build_feeds(
            config, symbols, ingest, session, clock, registry, failures, tuning, etf_api_key=etf_api_key
        )
        return feed

    return make
