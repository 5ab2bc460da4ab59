"""What the bot's tests share: a settable clock, fixed feed health, and the engine and rule ids a service
under test is built with."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.services.base import FeedStatusView
from detectors.market_history import MarketHistory
from storage.repo import Repo


class Clock:
    """A settable clock standing in for wall time."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class FixedFeeds:
    """Feed health as the feed registry would report it."""

    def __init__(self, statuses: list[FeedStatusView]) -> None:
        self.list = statuses

    def statuses(self) -> list[FeedStatusView]:
        return list(self.list)


def discord_engine(repo: Repo, history: MarketHistory | None = None) -> Engine:
    """Return an engine routing alerts to Discord only, over ``history`` (default: an empty one)."""
    return Engine(
        repo,
        history if history is not None else MarketHistory(),
        AlertRouter(repo, [], console=False, discord=True),
    )


def numbered_ids() -> Callable[[], str]:
    """Return rule-id suffixes 0000, 0001, ... (a Service's ``new_suffix``), so tests know the ids made."""
    counter = itertools.count()
    return lambda: f"{next(counter):04x}"


def record_firing(
    repo: Repo,
    rule_id: str,
    title: str,
    at: int,
    *,
    guild_id: int | None,
    dedupe_key: str | None = None,
    symbol: str = "BTCUSDT",
    severity: str = "warning",
    rule: dict[str, Any] | None = None,
    recorded_at: int | None = None,
    **marks: Any,
) -> int:
    """Record a firing level_cross alert of ``rule_id`` as the engine would (in a transaction of its own, or
    the caller's) and return its event id; ``marks`` are ``late``, ``silenced_by``, ``inhibited_by``."""
    with repo.transaction():
        event_id = repo.insert_event(
            dedupe_key=dedupe_key if dedupe_key is not None else f"{rule_id}:{at}",
            rule_id=rule_id,
            detector="level_cross",
            symbol=symbol,
            guild_id=guild_id,
            state="firing",
            kind="cross_up",
            severity=severity,
            title=title,
            values={},
            rule=rule if rule is not None else {},
            at=at,
            recorded_at=recorded_at if recorded_at is not None else at,
            **marks,
        )
    assert event_id is not None, f"{rule_id} fired at {at} was already recorded"
    return event_id
