"""The outgoing webhook sink against a receiver on 127.0.0.1: what each answer does to the outbox row, the
signature a receiver checks, and the two body formats (Alertmanager's checked against a real v4 body)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bot.notify.outbox import Delivered, Failed, Retry
from bot.notify.webhook_payloads import ZERO_TIME, alertmanager_event, body, signed_headers, verify
from bot.notify.webhooks import Hook, WebhookSink
from storage.repo import OutboxRow
from tests.conftest import ROOT

SECRET = b"synthetic-test-secret"
NOW_S = 1_768_345_200
# An engine payload as the outbox holds it (synthetic values, the shape bot.alerts.engine writes).
FIRING = {
    "event_id": 7, "state": "firing", "rule_id": "btc-95k", "detector": "level_cross", "symbol": "BTCUSDT",
    "kind": "level_cross", "severity": "warning", "title": "BTC broke above $95,000",
    "values": {"level": 95000, "close": 95210.5}, "at": 1_768_345_200_000, "late": False,
    "direction": "up",
    "note": "weekly close watch", "stateful": False, "guild_id": 1, "role_id": None, "parent_event_id": None,
}  # fmt: skip
RESOLVED = {
    **FIRING, "event_id": 9, "state": "resolved", "fired_event_id": 7,
    "title": "Ended: BTC broke above $95,000",
    "values": {**FIRING["values"], "duration_s": 3600, "fired_event_id": 7}, "at": 1_768_348_800_000,
}  # fmt: skip


def row(outbox_id: int, payload: dict[str, Any], target: str = "ops") -> OutboxRow:
    return OutboxRow(
        id=outbox_id, event_id=payload["event_id"], sink="webhook", target=target, kind="alert",
        payload=payload, status="pending", attempts=0, next_attempt_at=0, created_at=0, delivered_at=None,
        remote_id=None, error=None,
    )  # fmt: skip


class Receiver:
    """Answer each request with the next planned status; keep what came."""

    def __init__(self) -> None:
        self.plan: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        status, headers = self.plan.pop(0) if self.plan else (200, {})
        return web.Response(status=status, headers=headers)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hook", got.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield got, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


def sink(url: str, fmt: str = "tripwire") -> WebhookSink:
    return WebhookSink([Hook("ops", url, fmt, SECRET, 5.0)], wall_s=lambda: NOW_S)  # type: ignore[arg-type]


async def test_a_delivery_is_signed_and_carries_its_idempotency_key(receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    assert await sink(url).deliver([row(1, FIRING)]) == [Delivered(1, "200")]
    ((headers, data),) = got.seen
    assert headers["Idempotency-Key"] == "tripwire-event-7" and headers["Tripwire-Timestamp"] == str(NOW_S)
    assert verify(SECRET, headers, data, NOW_S)
    assert not verify(SECRET, headers, data.replace(b"95210.5", b"95210.6"), NOW_S)  # tampered body
    assert not verify(b"another secret", headers, data, NOW_S)
    assert not verify(SECRET, headers, data, NOW_S + 301)  # a replay of an old request
    sent = json.loads(data)
    assert (
        sent["id"] == "tripwire-event-7"
        and sent["state"] == "firing"
        and sent["at"] == "2026-01-13T23:00:00.000Z"
    )
    assert sent["values"] == {"level": 95000, "close": 95210.5}


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (204, {}, Delivered(1, "204")),
        (503, {}, Retry(1, "webhook ops: HTTP 503")),
        (429, {"Retry-After": "7"}, Retry(1, "webhook ops: HTTP 429", after_ms=7000)),
        (408, {}, Retry(1, "webhook ops: HTTP 408")),
        (404, {}, Failed(1, "webhook ops: HTTP 404")),
        (401, {}, Failed(1, "webhook ops: HTTP 401")),
        (301, {"Location": "http://127.0.0.1:9/elsewhere"}, Failed(1, "webhook ops: HTTP 301")),
    ],
)
async def test_each_answer_decides_the_rows_fate(
    receiver: tuple[Receiver, str], status: int, headers: dict[str, str], expected: object
) -> None:
    got, url = receiver
    got.plan = [(status, headers)]
    assert await sink(url).deliver([row(1, FIRING)]) == [expected]


async def test_rows_behind_a_failed_one_wait_uncounted_and_other_hooks_go_on(
    receiver: tuple[Receiver, str], caplog: pytest.LogCaptureFixture
) -> None:
    got, url = receiver
    got.plan = [(500, {})]
    refused = "http://127.0.0.1:1/nothing-listens-here"
    hooks = WebhookSink(
        [Hook("ops", url, "tripwire", SECRET, 5.0), Hook("down", refused, "tripwire", SECRET, 2.0)],
        wall_s=lambda: NOW_S,
    )
    with caplog.at_level(logging.DEBUG):
        outcomes = await hooks.deliver(
            [row(1, FIRING), row(2, RESOLVED), row(3, FIRING, "down"), row(4, FIRING, "gone")]
        )
    assert sorted(outcomes, key=lambda o: o.outbox_id) == [
        Retry(1, "webhook ops: HTTP 500"),
        Retry(2, "waiting behind an earlier event", counted=False),
        Retry(3, "webhook down: ClientConnectorError"),
        Failed(4, "no [[webhooks_out]] named 'gone' any more"),
    ]
    # Neither a URL nor a secret is ever logged: a hook is named by its name.
    assert (
        "127.0.0.1" not in caplog.text
        and SECRET.decode() not in caplog.text
        and "webhook down" in caplog.text
    )


def _shape(value: Any) -> Any:
    """Return a JSON value's shape: its keys (recursively) and value types."""
    if isinstance(value, dict):
        maps = [key for key in value if key.endswith(("abels", "nnotations"))]  # label and annotation maps
        return {key: _shape(item) for key, item in value.items() if key not in maps} | {
            key: "map of strings" for key in maps if all(isinstance(v, str) for v in value[key].values())
        }
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_the_alertmanager_body_has_the_shape_of_a_real_v4_body() -> None:
    real = json.loads((ROOT / "tests" / "data" / "alertmanager" / "sample-v4-payload.json").read_text())
    ours = json.loads(body(FIRING, "alertmanager", "ops"))
    assert _shape(ours) == _shape(real)
    (alert,) = ours["alerts"]
    assert ours["version"] == "4" and ours["status"] == "firing" and alert["endsAt"] == ZERO_TIME
    assert all(isinstance(v, str) for v in {**alert["labels"], **alert["annotations"]}.values())
    assert alert["labels"]["alertname"] == "btc-95k" and alert["annotations"]["summary"] == FIRING["title"]
    ended = alertmanager_event(RESOLVED, "ops")
    (end,) = ended["alerts"]
    # The end pairs with its firing: same labels and fingerprint, started when the alert fired.
    assert ended["status"] == "resolved" and end["fingerprint"] == alert["fingerprint"]
    assert end["labels"] == alert["labels"] and end["startsAt"] == alert["startsAt"]
    assert end["endsAt"] == "2026-01-14T00:00:00.000Z"


def test_a_resent_event_has_the_same_body_and_key_and_a_fresh_signature() -> None:
    first, again = body(FIRING, "tripwire", "ops"), body(FIRING, "tripwire", "ops")
    assert first == again
    early, late = signed_headers(SECRET, NOW_S, first, 7), signed_headers(SECRET, NOW_S + 60, again, 7)
    assert early["Idempotency-Key"] == late["Idempotency-Key"]
    assert early["Tripwire-Signature"] != late["Tripwire-Signature"]
