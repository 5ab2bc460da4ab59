"""Bounded JSON: orjson's own depth limit, ours below it, decoding off the loop, and the capped body read."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from feeds import jsonlimits
from feeds.errors import FeedError
from feeds.http import HttpClient
from feeds.jsonlimits import MAX_DEPTH, ORJSON_MAX_DEPTH, decode, decode_async, too_deep
from tests.feeds.conftest import ManualClock


def nested(depth: int, opener: str = "[") -> str:
    """Return JSON nesting ``depth`` arrays (or objects) around a 1 (synthetic)."""
    if opener == "[":
        return "[" * depth + "1" + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def test_orjson_refuses_more_than_1024_levels_itself() -> None:
    # What jsonlimits' docstring relies on: orjson's documented recursion limit, checked on this install.
    for opener in ("[", "{"):
        assert orjson.loads(nested(ORJSON_MAX_DEPTH, opener)) is not None
        with pytest.raises(orjson.JSONDecodeError, match="depth limit exceeded"):
            orjson.loads(nested(ORJSON_MAX_DEPTH + 1, opener))


def test_1024_levels_are_already_too_deep_for_python() -> None:
    # Why our limit is lower: repr() of what orjson accepts raises RecursionError (the parsers show values).
    value = orjson.loads(nested(ORJSON_MAX_DEPTH))
    with pytest.raises(RecursionError):
        repr(value)
    with pytest.raises(RecursionError):
        json.dumps(value)


@pytest.mark.parametrize("opener", ["[", "{"])
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, ORJSON_MAX_DEPTH, ORJSON_MAX_DEPTH + 1, 200_000])
def test_deep_nesting_is_refused_as_malformed_never_a_recursion_error(opener: str, depth: int) -> None:
    with pytest.raises(FeedError) as info:
        decode(nested(depth, opener).encode(), "bybit /v5/market/tickers")
    assert info.value.kind == "malformed"
    assert info.value.message.startswith("bybit /v5/market/tickers: ")
    assert "deeper than 32 levels" in info.value.message or "depth limit exceeded" in info.value.message


def test_documented_depths_pass_and_the_bound_is_exact() -> None:
    assert decode(nested(MAX_DEPTH), "x") is not None
    assert not too_deep(orjson.loads(nested(MAX_DEPTH)))
    assert too_deep(orjson.loads(nested(MAX_DEPTH + 1)))
    # Many brackets side by side are not depth: a 1000-candle klines page is two levels deep.
    klines = [[1, "2", "3"] for _ in range(1000)]
    assert decode(json.dumps(klines).encode(), "klines") == klines
    # Brackets inside strings count toward the cheap pre-check only; the walk decides.
    assert decode(json.dumps({"msg": "[" * 500}), "x") == {"msg": "[" * 500}


def test_non_finite_and_huge_numbers_are_malformed() -> None:
    for body in (b'{"p": NaN}', b'{"p": Infinity}', b'{"p": 1e400}'):
        with pytest.raises(FeedError) as info:
            decode(body, "x")
        assert info.value.kind == "malformed"


async def test_large_bodies_are_decoded_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[int] = []
    real = asyncio.to_thread

    async def spy(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        threads.append(len(args[0]))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(jsonlimits.asyncio, "to_thread", spy)
    small = json.dumps([1, 2, 3]).encode()
    large = json.dumps(list(range(50_000))).encode()
    assert await decode_async(small, "x", off_loop_bytes=1024) == [1, 2, 3]
    assert threads == []
    assert await decode_async(large, "x", off_loop_bytes=1024) == list(range(50_000))
    assert threads == [len(large)]


class _EndlessContent:
    """A response body that never ends (synthetic): a bounded reader must stop on its own."""

    def __init__(self) -> None:
        self.read = 0

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while True:
            self.read += n
            yield b"0," * (n // 2)


class _EndlessResponse:
    content_length = None

    def __init__(self) -> None:
        self.content = _EndlessContent()


async def test_the_body_is_read_in_chunks_and_refused_past_the_cap(caplog: pytest.LogCaptureFixture) -> None:
    async with aiohttp.ClientSession() as session:
        http = HttpClient(
            session,
            "binance_spot",
            "http://127.0.0.1:9",
            timeout_s=1,
            now_ms=ManualClock(),
            max_body_bytes=100_000,
        )
        response = _EndlessResponse()
        with pytest.raises(FeedError) as info:
            await http._read_capped(response, "binance_spot /api/v3/klines")  # type: ignore[arg-type]
    # Stopped within one chunk of the cap instead of reading for ever.
    assert response.content.read <= 100_000 + 64 * 1024
    assert info.value.kind == "oversized" and http.oversized == 1
    assert "body refused" in info.value.message and "100,000" in info.value.message
