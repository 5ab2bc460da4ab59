"""Fixtures for tests that talk to the local exchange emulator with real HTTP and websocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.emulators.exchanges import Dataset, ExchangeEmulator

EmulatorFactory = Callable[..., Awaitable[ExchangeEmulator]]


@pytest.fixture(scope="session")
def recorded_data() -> Dataset:
    """Load the recorded data once per session (each emulator gets its own lazily derived series)."""
    return Dataset()


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its emulators and sessions are closed."""
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leaked, f"tasks still running after the test: {leaked}"


@pytest.fixture
async def make_emulator(recorded_data: Dataset) -> AsyncIterator[EmulatorFactory]:
    """Start emulators with EmulatorConfig overrides; every one is stopped after the test.

    They share the session's Dataset; a test that changes data passes its own `dataset=Dataset()`.
    """
    started: list[ExchangeEmulator] = []

    async def make(**overrides: Any) -> ExchangeEmulator:
        overrides.setdefault("dataset", recorded_data)
        emu = await ExchangeEmulator(**overrides).start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.stop()


@pytest.fixture
async def exchange_emu(make_emulator: EmulatorFactory) -> ExchangeEmulator:
    """Return a running emulator serving the recorded times unshifted, nothing replayed."""
    return await make_emulator()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Return a plain aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session
