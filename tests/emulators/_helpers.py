"""Small helpers for the emulator tests: reading the recorded CSVs directly and reading websockets."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

DATA = Path(__file__).resolve().parents[1] / "data"


def rows(name: str) -> list[dict[str, str]]:
    """Read a CSV from tests/data (or tests/data/fixtures) independently of the emulator's loader."""
    path = DATA / name if (DATA / name).exists() else DATA / "fixtures" / name
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def ms(iso: str) -> int:
    """Return the epoch ms of an ISO UTC time such as "2026-01-13T22:00"."""
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


async def get(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, dict[str, str], Any]:
    """GET url and return (status, headers, parsed JSON body)."""
    async with http.get(url, params={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, dict(resp.headers), json.loads(await resp.read())


async def recv(ws: aiohttp.ClientWebSocketResponse, within: float = 2.0) -> aiohttp.WSMessage:
    """Receive the next websocket message, failing the test if none arrives in time."""
    async with asyncio.timeout(within):
        return await ws.receive()


async def recv_json(ws: aiohttp.ClientWebSocketResponse, within: float = 2.0) -> Any:
    """Receive the next text frame as JSON."""
    msg = await recv(ws, within)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def assert_quiet(ws: aiohttp.ClientWebSocketResponse, within: float) -> None:
    """Assert that no message at all arrives for `within` seconds."""
    try:
        async with asyncio.timeout(within):
            msg = await ws.receive()
    except TimeoutError:
        return
    raise AssertionError(f"expected silence, got {msg}")
