"""The operator HTTP server on an ephemeral port: liveness, readiness flips, metrics that parse."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.config import HttpConfig
from bot.ops.instruments import register_tripwire_metrics, tripwire_instruments
from bot.ops.metrics import Registry
from bot.ops.readiness import CheckResult, database_check, discord_check, feeds_check
from bot.ops.web import WebServer, WebServerError
from storage.db import open_database
from storage.repo import Repo
from tests.bot.promtext import parse_strict


@dataclass(frozen=True)
class _Feed:
    name: str
    state: str
    lag_ms: int | None = 1000
    active: bool = True


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def test_healthz_and_metrics(client: aiohttp.ClientSession, repo: Repo) -> None:
    registry = Registry()
    register_tripwire_metrics(registry, outbox_depth=repo.outbox_depth)
    instruments = tripwire_instruments(registry)
    instruments.discord_errors.inc(kind='weird "kind"\n')
    async with WebServer(registry, port=0) as server:
        async with client.get(f"{server.url}/healthz") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body["status"] == "ok" and body["uptime_seconds"] >= 0 and "version" in body
        async with client.get(f"{server.url}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
    families = parse_strict(text)
    assert families["tripwire_outbox_depth"].samples[0].value == 0
    assert [s.labels["kind"] for s in families["tripwire_discord_errors"].samples] == ['weird "kind"\n']
    assert families["tripwire_evaluation_duration_seconds"].type == "histogram"


async def test_readiness_flips_to_503_when_a_check_fails_and_back(client: aiohttp.ClientSession) -> None:
    feeds = [_Feed("binance_spot", "stale"), _Feed("bybit", "ok"), _Feed("kraken", "stale", active=False)]
    discord_up = [True]
    checks = {"feeds": feeds_check(lambda: feeds), "discord": discord_check(lambda: discord_up[0])}
    async with WebServer(Registry(), checks, port=0) as server:
        url = f"{server.url}/readyz"
        async with client.get(url) as resp:
            assert resp.status == 200
            body = await resp.json()
        assert body == {
            "status": "ready",
            "checks": {
                "feeds": {"ok": True, "detail": "1 of 2 feeds current; stale: binance_spot"},
                "discord": {"ok": True, "detail": "connected"},
            },
        }
        discord_up[0] = False
        async with client.get(url) as resp:
            assert resp.status == 503
            body = await resp.json()
        assert body["status"] == "not ready"
        assert body["checks"]["discord"] == {"ok": False, "detail": "not connected"}
        discord_up[0] = True
        feeds[1] = _Feed("bybit", "stale")
        async with client.get(url) as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["feeds"]["ok"] is False
        feeds[1] = _Feed("bybit", "degraded")
        async with client.get(url) as resp:
            assert resp.status == 200


async def test_database_check_fails_once_the_database_is_unreadable(
    client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    repo = Repo(open_database(tmp_path / "t.db"))
    async with WebServer(Registry(), {"database": database_check(repo.ping)}, port=0) as server:
        async with client.get(f"{server.url}/readyz") as resp:
            assert resp.status == 200
        repo.close()
        async with client.get(f"{server.url}/readyz") as resp:
            assert resp.status == 503
            detail = (await resp.json())["checks"]["database"]["detail"]
    assert "ProgrammingError" in detail and "closed database" in detail


async def test_a_check_that_raises_or_hangs_fails_the_check_not_the_request(
    client: aiohttp.ClientSession,
) -> None:
    def broken() -> CheckResult:
        raise OSError("disk on fire")

    async def hangs() -> CheckResult:
        await asyncio.sleep(30)
        return CheckResult(True)

    async def fine() -> CheckResult:
        return CheckResult(True, "async ok")

    checks = {"broken": broken, "hangs": hangs, "fine": fine}
    server = WebServer(Registry(), checks, port=0, check_timeout_s=0.05)
    async with server, client.get(f"{server.url}/readyz") as resp:
        assert resp.status == 503
        result = (await resp.json())["checks"]
    assert result == {
        "broken": {"ok": False, "detail": "OSError: disk on fire"},
        "hangs": {"ok": False, "detail": "no answer within 0.05 s"},
        "fine": {"ok": True, "detail": "async ok"},
    }


async def test_binds_loopback_by_default_and_stops_cleanly(client: aiohttp.ClientSession) -> None:
    assert HttpConfig().host == "127.0.0.1" and HttpConfig().enabled is False
    tasks_before = asyncio.all_tasks()
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = WebServer.from_config(HttpConfig(enabled=True, port=port), Registry())
    await server.start()
    assert server.port == port
    assert server._runner is not None and server._runner.addresses[0][0] == "127.0.0.1"
    url = f"{server.url}/healthz"
    async with client.get(url) as resp:
        assert resp.status == 200
    async with client.get(f"{server.url}/nope") as resp:
        assert resp.status == 404
    async with client.post(f"{server.url}/metrics") as resp:
        assert resp.status == 405
    await server.stop()
    await server.stop()  # twice is harmless
    with pytest.raises(aiohttp.ClientConnectionError):
        async with client.get(url):
            pass
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - tasks_before == set()


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebServer(Registry(), port=port)
        with pytest.raises(WebServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            await server.start()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.port
