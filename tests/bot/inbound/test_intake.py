"""A webhook alert through the engine: recorded like a detector's (routing, silences on its own symbol,
history, outbox), held by its rule's cooldown per key, refused when its rule is paused."""

from __future__ import annotations

import pytest

from bot.alerts.engine import Engine
from bot.alerts.model import Target
from bot.inbound.endpoint import RouteGone
from bot.inbound.intake import WebhookIntake
from bot.inbound.payload import parse_body
from detectors.market_history import MarketHistory
from storage.repo import Repo, RuleRow, WebhookRouteRow

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC
GUILD = 1


class ChannelOnly:
    """Route every alert to one Discord channel of the guild."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        return [Target("discord", "channel:10", rule.guild_id, None)]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def setup(repo: Repo, cooldown_s: int = 0) -> tuple[Engine, WebhookIntake, WebhookRouteRow, Clock]:
    rule = RuleRow(
        id="hook-tv-0001", origin="discord", detector="webhook", symbol="MARKET", settings={},
        guild_id=GUILD, channel_id=10, cooldown_s=cooldown_s, created_at=T0, updated_at=T0,
    )  # fmt: skip
    route = WebhookRouteRow(
        id="route1", guild_id=GUILD, rule_id=rule.id, name="tv", secret_sha256="0" * 64,
        default_severity="info", max_body_bytes=4096, rate_per_minute=30, created_by=5, created_at=T0,
    )  # fmt: skip
    with repo.transaction():
        repo.save_rule(rule)
        repo.add_webhook_route(route)
    engine = Engine(repo, MarketHistory(), ChannelOnly())
    engine.load()
    clock = Clock()
    return engine, WebhookIntake(repo, engine, clock), route, clock


async def test_an_alert_is_recorded_with_its_own_symbol_and_queued_and_the_rule_is_never_evaluated(
    repo: Repo,
) -> None:
    engine, intake, route, _ = setup(repo)
    assert engine.rules() == []  # an external rule is not evaluated
    event = await intake.record(route, parse_body(b"[warning] BTCUSDT Crossing 95,000.00"))
    assert event is not None and event.state == "firing" and event.queued == 1
    (stored,) = repo.events(since=0)
    assert (stored.symbol, stored.detector, stored.kind, stored.severity) == (
        "BTCUSDT",
        "webhook",
        "webhook",
        "warning",
    )
    assert stored.values["route"] == "tv" and stored.rule["symbol"] == "BTCUSDT"
    (row,) = repo.due_outbox("discord", T0 + 1)
    assert row.payload["title"] == "BTCUSDT Crossing 95,000.00" and row.target == "channel:10"
    assert repo.webhook_route("route1").accepted == 1  # type: ignore[union-attr]
    # The default severity is the route's.
    event = await intake.record(route, parse_body(b"ETHUSDT Crossing 3,380.00"))
    assert repo.event(event.event_id).severity == "info"  # type: ignore[union-attr]


async def test_a_silence_on_the_alerts_symbol_mutes_it_and_keeps_it_in_the_history(repo: Repo) -> None:
    _, intake, route, _ = setup(repo)
    repo.add_silence(guild_id=GUILD, symbol="ETHUSDT", starts_at=T0 - 1, ends_at=T0 + 3_600_000, now=T0)
    muted = await intake.record(route, parse_body(b"ETHUSDT Crossing 3,380.00"))
    shown = await intake.record(route, parse_body(b"BTCUSDT Crossing 95,000.00"))
    assert muted is not None and muted.silenced and muted.queued == 0
    assert shown is not None and not shown.silenced and shown.queued == 1


async def test_the_cooldown_holds_a_repeat_of_the_same_key_only(repo: Repo) -> None:
    _, intake, route, clock = setup(repo, cooldown_s=60)
    assert await intake.record(route, parse_body(b"BTCUSDT Crossing 95,000.00")) is not None
    clock.now += 30_000
    assert await intake.record(route, parse_body(b"BTCUSDT Crossing 95,100.00")) is None  # held
    assert await intake.record(route, parse_body(b"ETHUSDT Crossing 3,380.00")) is not None  # its own key
    clock.now += 31_000
    assert await intake.record(route, parse_body(b"BTCUSDT Crossing 95,200.00")) is not None
    assert len(repo.events(since=0)) == 3


async def test_a_paused_rule_takes_nothing(repo: Repo) -> None:
    engine, intake, route, _ = setup(repo)
    repo.set_rule_enabled("hook-tv-0001", False, "paused by 5", T0)
    engine.refresh_rule("hook-tv-0001")
    with pytest.raises(RouteGone, match="paused or removed"):
        await intake.record(route, parse_body(b"BTCUSDT Crossing 95,000.00"))
    assert repo.events(since=0) == [] and repo.webhook_route("route1").accepted == 0  # type: ignore[union-attr]


async def test_forgetting_the_member_who_made_a_route_keeps_the_route_without_their_id(repo: Repo) -> None:
    setup(repo)
    with repo.transaction():
        _, _, counts = repo.forget_member(5, "paused by a member who left")
    route = repo.webhook_route("route1")
    assert route is not None and route.created_by is None and counts["webhooks_unowned"] == 1
