"""Helpers for the feed tests: waiting for a condition, running a stream for the length of a block."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.base import Stream
from tests.conftest import DATA

FIXTURES = DATA / "fixtures"


async def wait_for(predicate: Callable[[], bool], within: float = 3.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 5 ms until it holds; fail the test after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - the conditions polled here have no event to wait on
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {within}s waiting for {what}") from None


@contextlib.asynccontextmanager
async def running(stream: Stream) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``stream.run()`` as a task for the block, then cancel it and wait for it to finish."""
    task = asyncio.create_task(stream.run(), name=f"test:{stream.name}")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ms(iso: str) -> int:
    """Return the epoch ms of an ISO UTC time such as "2026-01-13T22:00"."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def csv_rows(path: Path) -> list[dict[str, str]]:
    """Read a CSV as dicts."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def jsonl(path: Path) -> list[Any]:
    """Read a JSON-lines file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def live_frames() -> list[Any]:
    """Return the six websocket frames captured live on 2026-09-17 (Bybit, Binance testnet, OKX, ...)."""
    return jsonl(FIXTURES / "live_liquidation_ws_frames_bybit_okx_htx_aster_binancetestnet_20260917.jsonl")


def emulator_feeds_config(
    base_url: str, ws_url: str, *, only: set[str] | None = None, **sections: Any
) -> Any:
    """Return a FeedsConfig pointing every source at the emulator (``only``: the enabled sections).

    The URLs come from the emulator's own Tripwire snippet (so the FeedManager test proves the snippet
    reaches every source); short timeouts and backfills are added, and ``sections`` override options
    per section, e.g. ``okx={"mode": "rest"}``.
    """
    import tomllib

    from feeds.config import FeedsConfig
    from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml

    data: dict[str, dict[str, Any]] = tomllib.loads(tripwire_feeds_toml(base_url, ws_url))["feeds"]
    data["binance_spot"] |= {"interval": "1h", "backfill_days": 2}
    data["binance_futures"] |= {"backfill_days": 2}
    data["fear_greed"] |= {"backfill_days": 60}
    data["positioning"] |= {"backfill_days": 2}
    for name, options in data.items():
        # Behaviour, not speed: a loaded CI machine must not turn a slow answer into a timeout (the tests of
        # timeouts set their own).
        options.setdefault("timeout_seconds", 5.0)
        if name not in ("fear_greed", "etf"):  # daily sources keep their day-long stale bound
            options.setdefault("stale_after_seconds", 60)
        if only is not None:
            # Named sections run, even those off by default (the liquidation-only venues).
            options["enabled"] = name in only
        options.update(sections.get(name, {}))
    for name, options in sections.items():
        data.setdefault(name, dict(options))  # sections the snippet does not write, e.g. limits
    return FeedsConfig.model_validate(data)


class StateTrail:
    """Record the distinct states a feed's health passes through while the block runs (sampled every ms)."""

    def __init__(self, health: Any) -> None:
        self.health = health
        self.states: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            state = str(self.health.state())
            if not self.states or self.states[-1] != state:
                self.states.append(state)
            await asyncio.sleep(0.001)

    async def __aenter__(self) -> StateTrail:
        self._task = asyncio.create_task(self._sample())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
