"""Webhooks: how fast an inbound alert is answered, and outgoing deliveries under SIGKILL.

Inbound: a web server with a webhook route over a database file (WAL, as in production) and the live
engine, write gate and intake; N TradingView-shaped alerts POSTed one after another, each timed from
send to answer (the alert is recorded, with its outbox row, before the answer). The baseline is
``GET /healthz`` on the same server in the same process. TradingView cancels a request not answered
within a few seconds, so the target is far below that.

Outbound: ``tripwire replay`` of the January 2026 breakout week posting every alert event to a receiver on
127.0.0.1 (both formats), killed with SIGKILL at random points (a third inside a request) and restarted
on the same database; every event must arrive exactly once by Idempotency-Key (tests/bot/notify/
webhook_durability.py). The baseline figure is an uninterrupted run's event count.

    python -m bench.webhooks [--alerts N] [--kills N] [--smoke]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Figure, machine, parser, report
from bot.alerts.engine import Engine
from bot.alerts.model import Target
from bot.config import WebhooksInConfig
from bot.inbound.endpoint import WebhookEndpoint, secret_hash
from bot.inbound.intake import WebhookIntake
from bot.ops.metrics import Registry
from bot.ops.web import WebServer
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import Repo, RuleRow, WebhookRouteRow
from storage.writegate import WriteGate
from tests.bot.notify.webhook_durability import run_webhook_durability

SECRET = "synthetic-bench-secret"


class OneChannel:
    """Route every alert to one Discord channel (nothing delivers here: the outbox only fills)."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the one channel."""
        return [Target("discord", "channel:1", rule.guild_id, None)]


def _route(repo: Repo, now: int) -> None:
    rule = RuleRow(
        id="hook-bench-0001", origin="discord", detector="webhook", symbol="MARKET", settings={},
        guild_id=1, channel_id=1, created_at=now, updated_at=now,
    )  # fmt: skip
    route = WebhookRouteRow(
        id="benchroute", guild_id=1, rule_id=rule.id, name="bench", secret_sha256=secret_hash(SECRET),
        default_severity="warning", max_body_bytes=4096, rate_per_minute=600, created_by=None, created_at=now,
    )  # fmt: skip
    with repo.transaction():
        repo.save_rule(rule)
        repo.add_webhook_route(route)


async def _timed(session: aiohttp.ClientSession, method: str, url: str, body: bytes | None) -> float:
    began = time.perf_counter()
    async with session.request(method, url, data=body, headers={"Content-Type": "text/plain"}) as resp:
        await resp.read()
        if resp.status != 200:
            raise AssertionError(f"{method} {url.split('/')[3]} answered {resp.status}")
    return (time.perf_counter() - began) * 1000


async def inbound(directory: Path, alerts: int) -> tuple[list[float], list[float]]:
    """Return the answer times (ms) of ``alerts`` POSTed alerts and of as many /healthz."""
    repo = Repo(open_database(directory / "bench.db"))
    now = int(time.time() * 1000)
    _route(repo, now)
    engine = Engine(repo, MarketHistory(), OneChannel())
    engine.load()
    intake = WebhookIntake(repo, engine, lambda: int(time.time() * 1000), gate=WriteGate(repo))
    endpoint = WebhookEndpoint(repo, intake.record, WebhooksInConfig(enabled=True))
    server = WebServer(Registry(), port=0, extra_routes=[endpoint.install])
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{server.url}/webhook/benchroute/{SECRET}"
            posted = [
                await _timed(session, "POST", url, f"BINANCE:BTCUSDT Crossing {95_000 + i}.00".encode())
                for i in range(alerts)
            ]
            health = [await _timed(session, "GET", f"{server.url}/healthz", None) for _ in range(alerts)]
    finally:
        await server.stop()
        repo.close()
    return posted, health


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) >= 2 else values[0]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--alerts", type=int, default=500, help="alerts posted (default 500)")
    args_parser.add_argument("--kills", type=int, default=36, help="SIGKILLs of the replay (default 36)")
    args = args_parser.parse_args(argv)
    alerts, kills = (20, 3) if args.smoke else (args.alerts, args.kills)
    with tempfile.TemporaryDirectory() as tmp:
        posted, health = asyncio.run(inbound(Path(tmp), alerts))
        outcome = asyncio.run(run_webhook_durability(Path(tmp), kills, seed=2026))
    p50, p99, base = _p(posted, 50), _p(posted, 99), _p(health, 50)
    lost = len(outcome.lost) + len(outcome.extra) + outcome.undelivered_rows
    figures = [
        Figure("alerts posted", alerts, "alerts"),
        Figure("answer time p50", p50, "ms", 50.0),
        Figure("answer time p99", p99, "ms", 500.0, note="TradingView cancels after a few seconds"),
        Figure("GET /healthz p50 (baseline)", base, "ms"),
        Figure("  ratio: alert p50 / healthz p50", p50 / max(base, 1e-6), "x"),
        Figure("replay kills (SIGKILL)", outcome.kills, "kills"),
        Figure("  of them inside a request", outcome.kills_in_a_request, "kills"),
        Figure("events (uninterrupted run, per hook)", outcome.baseline_events.get("tripwire", 0), "events"),
        Figure("deliveries received (both hooks)", sum(outcome.deliveries.values()), "requests"),
        Figure("  distinct idempotency keys", sum(outcome.distinct_keys.values()), "keys"),
        Figure("  re-sent after a kill (same key)", sum(outcome.resent.values()), "requests"),
        Figure("events lost or extra", lost, "events", 0.0),
        Figure("bad signatures", outcome.bad_signatures, "requests", 0.0),
    ]
    print(f"machine: {machine()}")
    ok = report("webhooks", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
