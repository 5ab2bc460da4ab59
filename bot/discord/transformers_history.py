"""Option parsing for /history, /why, /chart and /alert test, each option with autocomplete.

The options are a time to look back from, an alert number, a rule the server can see, a chart window and
a backtest period.

Like ``transformers``, every one accepts any text and raises ``InvalidOption`` saying what would work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.app_commands import Choice

from bot.discord.transformers import DurationTransformer, is_manager, option_input, service_of, suggest, tidy
from bot.parsing import parse_alert_id, parse_duration, parse_since
from bot.replay.backtest import BacktestLimits
from bot.services.history import MAX_CHART_WINDOW_S, MIN_CHART_WINDOW_S, HistoryService
from bot.services.visibility import Viewer
from storage.repo import EventScope

DAY_S = 86_400


def channel_ids(interaction: discord.Interaction[Any]) -> list[int]:
    """Return the ids of the server's channels the bot knows (config routes may name any of them)."""
    guild = interaction.guild
    return [channel.id for channel in guild.channels] if guild is not None else []


def history_of(interaction: discord.Interaction[Any]) -> HistoryService:
    """Return the HistoryService of the bot handling ``interaction``."""
    history = getattr(interaction.client, "history", None)
    if not isinstance(history, HistoryService):
        raise RuntimeError("the Discord client has no history service attached")
    return history


def guild_scope(interaction: discord.Interaction[Any]) -> EventScope | None:
    """Return the rules the invoking member may name in this server, or None outside a server."""
    if interaction.guild_id is None:
        return None
    return history_of(interaction).scope(interaction.guild_id, interaction.user.id, channel_ids(interaction))


def viewer_of(interaction: discord.Interaction[Any]) -> Viewer:
    """Return who invoked ``interaction``, where, and which of the server's channels they may read.

    Read access is Discord's View Channel as discord.py computes it from the cached roles and channel
    overwrites (developers/topics/permissions.mdx, "Permission Overwrites"): ``permissions_for`` gives
    the owner and Administrator every channel, and applies @everyone, role and member overwrites in order.
    """
    user = interaction.user
    guild = interaction.guild
    if guild is None or not isinstance(user, discord.Member):
        # A DM (or a server the bot's cache does not hold): no server's channels are readable here.
        return Viewer(user.id, None, readable=frozenset())
    channels = [c for c in guild.channels if not isinstance(c, discord.CategoryChannel)]
    readable = frozenset(c.id for c in channels if c.permissions_for(user).view_channel)
    everyone = frozenset(c.id for c in channels if c.permissions_for(guild.default_role).view_channel)
    return Viewer(
        user.id,
        guild.id,
        frozenset(c.id for c in channels),
        readable,
        is_admin=is_manager(interaction),
        here=interaction.channel_id,
        open_channels=everyone,
    )


def visible_choices(
    interaction: discord.Interaction[Any],
    typed: str,
    choices: Callable[[HistoryService, Viewer, str], list[tuple[str, str]]],
) -> list[Choice[str]]:
    """Offer what ``choices`` finds among what the invoking member may see here (nothing outside a server)."""
    viewer = viewer_of(interaction)
    if viewer.guild_id is None:
        return []
    return [
        Choice(name=label, value=value) for value, label in choices(history_of(interaction), viewer, typed)
    ]


class SinceTransformer(app_commands.Transformer):
    """How far back to look: ``24h``, ``7d`` (ago) or a UTC date such as ``2026-01-13``; epoch ms."""

    suggestions = ("24h", "7d", "30d", "90d")

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the moment, in UTC epoch milliseconds."""
        with option_input():
            return parse_since(str(value), service_of(interaction).now_ms())

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the usual spans, or what was typed when it reads as a time."""
        now = service_of(interaction).now_ms()
        return suggest(str(value).strip(), self.suggestions, lambda typed: parse_since(typed, now))


class AlertIdTransformer(app_commands.Transformer):
    """An alert's number (``38`` or ``#38``), with autocomplete of the server's recent alerts."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the alert number (the service checks the server may see it)."""
        with option_input():
            return parse_alert_id(str(value))

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the newest alerts the member may see whose number or title matches what was typed."""
        return visible_choices(interaction, str(value), HistoryService.alert_choices)


class VisibleRuleTransformer(app_commands.Transformer):
    """A rule id of this server or of a config rule routed to it, with autocomplete."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        """Return the id as typed, whitespace tidied (the service checks what it names)."""
        return tidy(value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the rules whose alerts this member may see."""
        return visible_choices(interaction, str(value), HistoryService.rule_choices)


Since = app_commands.Transform[int, SinceTransformer]
AlertId = app_commands.Transform[int, AlertIdTransformer]
VisibleRule = app_commands.Transform[str, VisibleRuleTransformer]
ChartWindow = app_commands.Transform[
    int,
    DurationTransformer("window", MIN_CHART_WINDOW_S, MAX_CHART_WINDOW_S, ["24h", "3d", "7d", "30d", "90d"]),
]


class BacktestPeriodTransformer(DurationTransformer):
    """A backtest period of a day up to the config's ``[backtest] max_days``, with suggestions within it."""

    usual: ClassVar[tuple[str, ...]] = ("7d", "14d", "30d", "60d", "90d")

    def __init__(self) -> None:
        super().__init__("period", DAY_S, int(BacktestLimits().max_days * DAY_S), self.usual)

    def bounded(self, interaction: discord.Interaction[Any]) -> DurationTransformer:
        """Return this transformer bounded by the limits of the bot that got ``interaction``."""
        # Read at each use, not at import: the limit is in the config file, which the module never sees.
        longest = int(service_of(interaction).config.backtest.max_days * DAY_S)
        offered = [s for s in self.usual if parse_duration(s) <= longest]
        whole_days = f"{longest // DAY_S}d"
        if longest % DAY_S == 0 and whole_days not in offered:
            offered.append(whole_days)
        return DurationTransformer(self.what, self.minimum_s, longest, offered)

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the period in seconds, within the configured limit."""
        return await self.bounded(interaction).transform(interaction, value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the usual periods the configured limit allows."""
        return await self.bounded(interaction).autocomplete(interaction, value)


BacktestPeriod = app_commands.Transform[int, BacktestPeriodTransformer()]
