"""TokenBoundView: a view's timeout never runs past the life of the token it needs for its last edit."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import discord

from bot.discord.views import MAX_VIEW_LIFETIME_S, TOKEN_LIFE_S, TokenBoundView


def interaction_aged(seconds: float) -> discord.Interaction[Any]:
    """Return a stand-in for an interaction Discord created ``seconds`` ago (attach reads created_at)."""
    created = discord.utils.utcnow() - timedelta(seconds=seconds)
    return cast("discord.Interaction[Any]", SimpleNamespace(created_at=created))


async def test_the_timeout_is_cut_to_what_is_left_of_the_interactions_life() -> None:
    view = TokenBoundView(timeout=300.0, lifetime=120.0)
    assert view.timeout == 300.0  # not attached yet: nothing to count from
    view.attach(interaction_aged(100.0))  # e.g. a backtest that took 100 s before its reply
    timeout = view.timeout
    assert timeout is not None and 19.0 < timeout <= 20.0
    view.timeout = 5.0  # a shorter idle timeout still wins
    assert view.timeout == 5.0
    view.attach(interaction_aged(200.0))  # past its life already: end at once
    timeout = view.timeout
    assert timeout is not None and 0 < timeout < 0.01
    view.stop()


async def test_no_view_lives_as_long_as_a_token() -> None:
    view = TokenBoundView(timeout=3600.0, lifetime=3600.0)
    view.attach(interaction_aged(0.0))
    timeout = view.timeout
    assert timeout is not None and timeout <= MAX_VIEW_LIFETIME_S < TOKEN_LIFE_S
    view.stop()
