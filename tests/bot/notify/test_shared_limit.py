"""The global REST limit shared through Redis: two clusters together never exceed it (real Redis)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis

from bot.notify.shared_limit import RedisWindow
from tests.redis_server import fresh_key, require_redis


def most_in_any_window(starts: list[float], per: float) -> int:
    """Return the most request starts found within any ``per`` seconds."""
    ordered = sorted(starts)
    return max(sum(1 for t in ordered[i:] if t - start < per) for i, start in enumerate(ordered))


async def test_two_clusters_share_one_budget_and_neither_exceeds_it() -> None:
    url, key = require_redis(), fresh_key()
    first, second = RedisWindow.from_url(url, key, 5, 0.5), RedisWindow.from_url(url, key, 5, 0.5)
    starts: list[float] = []
    senders: list[RedisWindow] = []

    async def send(window: RedisWindow) -> None:
        async with window.slot():
            starts.append(time.monotonic())
            senders.append(window)
            await asyncio.sleep(0.01)  # the request's round trip

    try:
        await asyncio.gather(*(send(first) for _ in range(8)), *(send(second) for _ in range(8)))
    finally:
        await first.close()
        await second.close()
    assert len(starts) == 16
    # Counted from each request's end, so any window of starts holds at most the limit.
    assert most_in_any_window(starts, 0.5) <= 5
    assert first.waits + second.waits > 0  # 16 requests for 5 places: someone waited
    # Both clusters sent all theirs: the budget is shared, not held by whoever came first.
    assert senders.count(first) == senders.count(second) == 8


async def test_an_idle_cluster_leaves_its_share_to_a_busy_one() -> None:
    url, key = require_redis(), fresh_key()
    busy = RedisWindow.from_url(url, key, 10, 1.0)
    RedisWindow.from_url(url, key, 10, 1.0)  # the other cluster: idle
    began = time.monotonic()
    try:
        for _ in range(10):
            async with busy.slot():
                pass
    finally:
        await busy.close()
    assert busy.waits == 0 and time.monotonic() - began < 1.0  # all ten places were free to take


async def test_redis_not_answering_holds_requests_back_instead_of_letting_them_through() -> None:
    dead = RedisWindow(aioredis.from_url("redis://127.0.0.1:1/0"), fresh_key(), 5, retry_seconds=0.05)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), dead.slot():
            pytest.fail("a request went out without the limiter")
    await dead.close()


async def test_a_redis_outage_is_logged_once_however_many_requests_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = RedisWindow(aioredis.from_url("redis://127.0.0.1:1/0"), fresh_key(), 5, retry_seconds=0.02)

    async def request() -> None:
        async with dead.slot():
            pytest.fail("a request went out without the limiter")

    with caplog.at_level(logging.WARNING, logger="bot.notify.shared_limit"), pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await asyncio.gather(*(request() for _ in range(10)))
    await dead.close()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "Redis did not answer" in messages[0], messages


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="limit >= 1"):
        RedisWindow(object(), "k", 0)
