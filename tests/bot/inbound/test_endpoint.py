"""The webhook route on the web server alone: the sender allowlist, and a failing recorder answered with
500 without the URL (it holds the secret) in the log."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.alerts.model import RecordedEvent
from bot.config import WebhooksInConfig
from bot.inbound.endpoint import WebhookEndpoint, secret_hash
from bot.inbound.payload import InboundAlert
from bot.ops.metrics import Registry
from bot.ops.web import WebServer
from storage.repo import Repo, RuleRow, WebhookRouteRow

SECRET = "synthetic-test-secret-0123456789"


def store_route(repo: Repo) -> None:
    with repo.transaction():
        repo.save_rule(
            RuleRow(id="hook-tv-0001", origin="discord", detector="webhook", symbol="MARKET", settings={})
        )
        repo.add_webhook_route(
            WebhookRouteRow(
                id="route1",
                guild_id=1,
                rule_id="hook-tv-0001",
                name="tv",
                secret_sha256=secret_hash(SECRET),
                default_severity="info",
                max_body_bytes=4096,
                rate_per_minute=30,
                created_by=None,
                created_at=0,
            )
        )


async def answer(repo: Repo, config: WebhooksInConfig, record: object) -> tuple[int, dict[str, str]]:
    endpoint = WebhookEndpoint(repo, record, config)  # type: ignore[arg-type]
    async with WebServer(Registry(), port=0, extra_routes=[endpoint.install]) as server:
        url = f"{server.url}/webhook/route1/{SECRET}"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=b"BTCUSDT Crossing 95,000") as resp,
        ):
            return resp.status, await resp.json()


async def recorded(route: WebhookRouteRow, alert: InboundAlert) -> RecordedEvent:
    return RecordedEvent(1, route.rule_id, "k", "firing", alert.title, 0, False, False, 1)


async def test_only_allowed_senders_are_heard(repo: Repo) -> None:
    store_route(repo)
    tradingview = WebhooksInConfig(
        allowed_ips=["52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"]
    )
    assert await answer(repo, tradingview, recorded) == (403, {"error": "this sender is not allowed"})
    status, body = await answer(repo, WebhooksInConfig(allowed_ips=["127.0.0.0/8"]), recorded)
    assert status == 200 and body["status"] == "accepted"


async def test_a_failure_to_record_is_a_500_and_the_secret_stays_out_of_the_log(
    repo: Repo, caplog: pytest.LogCaptureFixture
) -> None:
    store_route(repo)

    async def broken(route: WebhookRouteRow, alert: InboundAlert) -> RecordedEvent:
        raise RuntimeError("database is locked")

    with caplog.at_level(logging.DEBUG):
        assert await answer(repo, WebhooksInConfig(), broken) == (
            500,
            {"error": "the alert could not be recorded; try again"},
        )
    assert "recording an alert failed" in caplog.text and SECRET not in caplog.text
