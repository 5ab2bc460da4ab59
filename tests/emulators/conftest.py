"""Fixtures for emulator tests: every test here must leave no asyncio task running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.emulators.exchanges.fixtures import EmulatorFactory

__all__ = ["EmulatorFactory"]


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its emulators and sessions are closed."""
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert not leaked, f"tasks still running after the test: {leaked}"
