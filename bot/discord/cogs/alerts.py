"""/alert: add, explain, list, remove, pause and resume alerts of every detector (built-in or plugin).

``/alert add detector:<name> [symbol] [settings] ...`` adds one, ``/alert detectors`` explains the
detectors.

A detector's settings are one `settings` text (``level=95000 direction=up``) read by the service, not one
option each: with options per setting, /alert counted 24,043 characters against Discord's limit of 8,000
per command (application-commands.mdx, "Application Command Size"). Now its size does not grow with the
settings, and the `detector` option's choices switch to autocomplete when there are too many to list.

Every member sees these commands: a member adds, lists and changes their own personal alerts (delivered by
DM); the server's channel alerts need Manage Server. That is decided when the command runs (the service
checks who may do what), not by hiding the group, which would hide personal alerts from members too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.discord.checks import check_own_role, check_postable, guild_id_of
from bot.discord.render import rules as render
from bot.discord.render.detectors import detector_embed, detectors_embed
from bot.discord.transformers import Cooldown, Expiry, RuleId, SettingsText, Symbol, is_manager, service_of
from bot.services import Service
from bot.services.detectors import detector_label
from bot.services.rule_transfer import parse_levels
from bot.services.rules import MAX_NOTE_CHARS, RuleOptions, RuleView
from detectors.base import Detector

log = logging.getLogger(__name__)

# Discord: at most 25 choices per option, and "`autocomplete` may not be set to true if `choices` are
# present" (application-commands.mdx, Application Command Option Structure). More detectors than that, or
# labels too long to repeat in the three options listing them (add, test, detectors), are offered by
# autocomplete: 1,600 characters of labels per option, 4,800 in all, plus the rest of /alert (about 2,400)
# stays inside the 8,000 a command may have ("Application Command Size"; tests/bot/discord/test_meta.py
# builds the largest such tree). 1,600 leaves the 24 built-ins (about 1,450) room for a plugin or two.
MAX_DETECTOR_CHOICES = 25
DETECTOR_CHOICES_BUDGET = 1600

Note = app_commands.Range[str, 1, MAX_NOTE_CHARS]
# Ten prices with separators fit in 200 characters.
Levels = app_commands.Range[str, 1, 200]
Deliver = Literal["dm", "channel"]
# The option descriptions /alert add and /alert test share (Discord: at most 100 characters each).
RULE_DESCRIPTIONS = {
    "detector": "What to watch; /alert detectors explains each one and its settings",
    "symbol": "Trading pair, e.g. BTCUSDT (or just btc); none for market-wide detectors such as fear_greed",
    "settings": "The detector's settings as name=value, e.g. level=95000 direction=up",
    "deliver": "dm: to you by direct message (default for members); channel: needs Manage Server",
    "channel": "Channel to post in (default: the server's alert channel)",
    "role": "Role to mention with the alert; nothing else is ever pinged",
    "note": "A note shown with the alert",
    "repeat": "Fire again after it re-arms (default yes); no: fire once, then stop",
    "cooldown": "Least time between two alerts, e.g. 15m (default: the server's)",
    "expires": "Stop watching after this long, e.g. 7d (default: never)",
}
LEVELS_DESCRIPTION = "Several levels at once, e.g. 95000, 100000, 105000: one alert each (at most 10)"

Callback = TypeVar("Callback", bound=Callable[..., Coroutine[Any, Any, Any]])


class RuleChange(Protocol):
    """A service method changing one rule of a guild for a member: remove, pause or resume."""

    def __call__(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Change the rule and return it as it is now."""


@dataclass(frozen=True, slots=True)
class RuleInput:
    """What /alert add (and /alert test) was given, before the service reads it."""

    detector: str
    symbol: str | None
    settings: str | None
    deliver: Deliver | None = None
    channel: discord.TextChannel | None = None
    role: discord.Role | None = None
    note: str | None = None
    repeat: bool | None = None
    cooldown: int | None = None
    expires: int | None = None
    levels: str | None = None


async def detector_autocomplete(interaction: discord.Interaction[Any], current: str) -> list[Choice[str]]:
    """Offer the detectors whose name or description holds what was typed."""
    found = service_of(interaction).detector_choices(current)
    return [Choice(name=label, value=name) for label, name in found]


def detector_choices(detectors: Mapping[str, type[Detector]]) -> list[Choice[str]] | None:
    """Return the `detector` option's choices, or None when there are too many to list (autocomplete)."""
    choices = [Choice(name=detector_label(cls), value=name) for name, cls in detectors.items()]
    size = sum(len(c.name) + len(c.value) for c in choices)
    if len(choices) > MAX_DETECTOR_CHOICES or size > DETECTOR_CHOICES_BUDGET:
        return None
    return choices


def with_detector_option(callback: Callback, detectors: Mapping[str, type[Detector]]) -> Callback:
    """Give ``callback``'s `detector` parameter the detectors as choices, or autocomplete (never both)."""
    choices = detector_choices(detectors)
    if choices is None:
        return app_commands.autocomplete(detector=detector_autocomplete)(callback)
    return app_commands.choices(detector=choices)(callback)


@app_commands.guild_only()
class AlertCog(commands.GroupCog, group_name="alert", group_description="Create and manage market alerts"):
    """Create alerts from any detector, explain detectors, list alerts, remove, pause and resume them."""

    def __init__(self, service: Service, detectors: Mapping[str, type[Detector]] | None = None) -> None:
        self.service = service
        self.detectors = dict(detectors if detectors is not None else service.detectors)
        group = self.__cog_app_commands_group__
        assert group is not None, "GroupCog always has its group"
        group.add_command(self._add_command())
        group.add_command(self._detectors_command())
        super().__init__()

    def _add_command(self) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(**RULE_DESCRIPTIONS, levels=LEVELS_DESCRIPTION)
        async def add(
            interaction: discord.Interaction[Any],
            detector: str,
            symbol: Symbol | None = None,
            settings: SettingsText | None = None,
            deliver: Deliver | None = None,
            channel: discord.TextChannel | None = None,
            role: discord.Role | None = None,
            note: Note | None = None,
            repeat: bool | None = None,
            cooldown: Cooldown | None = None,
            expires: Expiry | None = None,
            levels: Levels | None = None,
        ) -> None:
            given = RuleInput(
                detector, symbol, settings, deliver, channel, role, note, repeat, cooldown, expires, levels
            )
            await cog.add_rule(interaction, given)

        return app_commands.Command(
            name="add",
            description="Create an alert: pick what to watch, then its settings",
            callback=with_detector_option(add, self.detectors),
        )

    def _detectors_command(self) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(detector="One detector: every setting, its default and bounds, an example")
        async def detectors(interaction: discord.Interaction[Any], detector: str | None = None) -> None:
            await cog.explain(interaction, detector)

        return app_commands.Command(
            name="detectors",
            description="What each detector watches, and the settings /alert add takes",
            callback=with_detector_option(detectors, self.detectors),
        )

    async def explain(self, interaction: discord.Interaction[Any], detector: str | None) -> None:
        """Show every detector in a line, or one detector's settings."""
        if detector is None:
            embed = detectors_embed(self.service.detector_infos())
        else:
            embed = detector_embed(self.service.detector_info(detector))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def described_rule(
        self, interaction: discord.Interaction[Any], given: RuleInput
    ) -> tuple[dict[str, Any], RuleOptions]:
        """Read the settings text and the common options of /alert add (or /alert test), checked."""
        # A missing (or needless) symbol is said before anything about the settings.
        self.service.rule_symbol(given.detector, given.symbol)
        # With `levels`, each rule's `level` comes from there.
        elsewhere = ("level",) if given.levels is not None else ()
        settings = self.service.parse_settings(given.detector, given.settings, elsewhere)
        return settings, self.rule_options(interaction, given)

    async def add_rule(self, interaction: discord.Interaction[Any], given: RuleInput) -> None:
        """Create the rule /alert add describes (one per level when `levels` is given)."""
        settings, options = self.described_rule(interaction, given)
        if given.levels is not None:
            views = self.service.add_rules_at_levels(
                guild_id_of(interaction),
                interaction.user.id,
                given.detector,
                given.symbol,
                settings,
                parse_levels(given.levels),
                options,
                is_admin=is_manager(interaction),
            )
            await interaction.response.send_message(embed=render.rules_added_embed(views), ephemeral=True)
            return
        view = self.service.add_rule(
            guild_id_of(interaction),
            interaction.user.id,
            given.detector,
            given.symbol,
            settings,
            options,
            is_admin=is_manager(interaction),
        )
        embed = render.rule_embed(view, f"Alert {view.id} created")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def rule_options(self, interaction: discord.Interaction[Any], given: RuleInput) -> RuleOptions:
        """Return the common options (channel, role, note, ...) as RuleOptions, checked."""
        # A member can only have personal alerts, so leaving `deliver` out means a DM for them; asking for a
        # channel anyway gets the service's explanation.
        deliver: Deliver = (
            "dm"
            if given.deliver == "dm" or (given.deliver is None and not is_manager(interaction))
            else "channel"
        )
        if given.channel is not None:
            check_postable(interaction, given.channel)
        if given.role is not None:
            check_own_role(interaction, given.role)
        return RuleOptions(
            channel_id=given.channel.id if given.channel is not None else None,
            role_id=given.role.id if given.role is not None else None,
            note=given.note,
            repeat=True if given.repeat is None else bool(given.repeat),
            cooldown_s=given.cooldown,
            expires_in_s=given.expires,
            deliver=deliver,
        )

    @app_commands.command(
        name="list", description="This server's alerts, with the price's distance to levels"
    )
    async def list_rules(self, interaction: discord.Interaction[Any]) -> None:
        """List the server's alerts (admins) or the member's own."""
        admin = is_manager(interaction)
        rules = self.service.list_rules(guild_id_of(interaction), interaction.user.id, is_admin=admin)
        await interaction.response.send_message(
            embed=render.rules_embed(rules, everyone=admin), ephemeral=True
        )

    async def _change(
        self, interaction: discord.Interaction[Any], change: RuleChange, rule: str, done: str
    ) -> None:
        """Apply one of the service's rule changes for the invoking member and show the rule after it."""
        view = change(guild_id_of(interaction), interaction.user.id, rule, is_admin=is_manager(interaction))
        embed = render.rule_embed(view, f"Alert {view.id} {done}")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="remove", description="Delete an alert (its history is kept)")
    @app_commands.describe(rule="The alert's id, e.g. btc-level-7f3a")
    async def remove(self, interaction: discord.Interaction[Any], rule: RuleId) -> None:
        """Delete an alert."""
        await self._change(interaction, self.service.remove_rule, rule, "removed")

    @app_commands.command(name="pause", description="Stop an alert until it is resumed")
    @app_commands.describe(rule="The alert's id, e.g. btc-level-7f3a")
    async def pause(self, interaction: discord.Interaction[Any], rule: RuleId) -> None:
        """Pause an alert."""
        await self._change(interaction, self.service.pause_rule, rule, "paused")

    @app_commands.command(name="resume", description="Start a paused (or repaired) alert again")
    @app_commands.describe(rule="The alert's id, e.g. btc-level-7f3a")
    async def resume(self, interaction: discord.Interaction[Any], rule: RuleId) -> None:
        """Resume an alert."""
        await self._change(interaction, self.service.resume_rule, rule, "resumed")
