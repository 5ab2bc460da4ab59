"""What the bot's tests share: a settable clock, fixed feed health, and the engine and rule ids a service
under test is built with."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from bot.engine import Engine
from bot.routing import AlertRouter
from bot.service import FeedStatusView
from detectors.history import MarketHistory
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
