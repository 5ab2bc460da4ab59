"""/alert: one ``/alert add <detector>`` subcommand per detector, generated from its Settings, plus list,
remove, pause and resume.

Every member sees these commands: a member adds, lists and changes their own personal alerts (delivered by
DM); the server's channel alerts need Manage Server. That is decided when the command runs (the service
checks who may do what), not by hiding the group, which would hide personal alerts from members too.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Optional, Protocol

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import render
from bot.discord.checks import check_own_role, check_postable, guild_id_of
from bot.discord.settings_options import (
    OPTION_NAME,
    DetectorOption,
    UnsupportedSettings,
    detector_options,
    settings_from_values,
    shorten,
)
from bot.discord.transformers import Cooldown, Expiry, RuleId, Symbol, is_manager
from bot.service import MAX_NOTE_CHARS, RuleOptions, RuleView, Service
from detectors.base import Detector

log = logging.getLogger(__name__)

# Options every /alert add subcommand has besides the detector's own; a detector setting may not reuse
# one of these names.
COMMON_OPTIONS = ("symbol", "deliver", "channel", "role", "note", "repeat", "cooldown", "expires")
# Discord allows 25 subcommands in a group.
MAX_SUBCOMMANDS = 25

# What a command built from a detector's options does with them (``AlertCog.add_rule`` for /alert add).
RuleHandler = Callable[
    [discord.Interaction[Any], type[Detector], Sequence[DetectorOption], dict[str, Any]], Awaitable[None]
]
# An option a command has besides the detector's and the common ones: (name, annotation, description).
ExtraOption = tuple[str, Any, str]


class RuleChange(Protocol):
    """A service method changing one rule of a guild for a member: remove, pause or resume."""

    def __call__(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Change the rule and return it as it is now."""


@app_commands.guild_only()
class AlertCog(commands.GroupCog, group_name="alert", group_description="Create and manage market alerts"):
    """Create alerts from any detector, list them, remove, pause and resume them."""

    def __init__(self, service: Service, detectors: Mapping[str, type[Detector]] | None = None) -> None:
        self.service = service
        self.add_group = app_commands.Group(name="add", description="Create an alert; pick what to watch")
        for name, cls in (detectors if detectors is not None else service.detectors).items():
            if len(self.add_group.commands) >= MAX_SUBCOMMANDS:
                log.error("more than %d detectors: /alert add %s is left out", MAX_SUBCOMMANDS, name)
                continue
            try:
                self.add_group.add_command(self.detector_command(cls))
            except UnsupportedSettings as exc:
                # A plugin whose settings Discord cannot express must not stop the bot; its rules can still
                # come from the config file.
                log.error("detector %s gets no /alert add subcommand: %s", name, exc)
        group = self.__cog_app_commands_group__
        assert group is not None, "GroupCog always has its group"
        group.add_command(self.add_group)
        super().__init__()

    def detector_command(
        self, cls: type[Detector], handler: RuleHandler | None = None, extra: Sequence[ExtraOption] = ()
    ) -> app_commands.Command[Any, ..., None]:
        """Build ``/alert add <cls.name>`` with the detector's settings as typed options.

        With a ``handler`` (and ``extra`` options) it builds another command taking the same options, for
        the handler to act on instead of creating the rule: ``/alert test <cls.name>``.
        """
        if not OPTION_NAME.match(cls.name):
            raise UnsupportedSettings(f"{cls.name!r} is not a valid Discord command name")
        specs = detector_options(cls.Settings, [*COMMON_OPTIONS, *(name for name, _, _ in extra)])
        act = handler or self.add_rule

        async def add_alert(interaction: discord.Interaction[Any], **values: Any) -> None:
            await act(interaction, cls, specs, values)

        parameters = [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
            )
        ]
        descriptions: dict[str, str] = {}

        def option(name: str, annotation: Any, description: str, required: bool) -> None:
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=annotation if required else Optional[annotation],  # noqa: UP045 - runtime use
                    default=inspect.Parameter.empty if required else None,
                )
            )
            descriptions[name] = description

        if not cls.market_wide:
            option("symbol", Symbol, "Trading pair, e.g. BTCUSDT (or just btc)", True)
        for spec in specs:
            option(spec.name, spec.annotation, spec.description, spec.required)
        option(
            "deliver",
            Literal["dm", "channel"],
            "dm: to you by direct message (default for members); channel: needs Manage Server",
            False,
        )
        option(
            "channel", discord.TextChannel, "Channel to post in (default: the server's alert channel)", False
        )
        option("role", discord.Role, "Role to mention with the alert; nothing else is ever pinged", False)
        option("note", app_commands.Range[str, 1, MAX_NOTE_CHARS], "A note shown with the alert", False)
        option("repeat", bool, "Fire again after it re-arms (default yes); no: fire once, then stop", False)
        option("cooldown", Cooldown, "Least time between two alerts, e.g. 15m (default: the server's)", False)
        option("expires", Expiry, "Stop watching after this long, e.g. 7d (default: never)", False)
        for name, annotation, description in extra:
            option(name, annotation, description, False)
        # discord.py builds the command's options from the callback's signature and these attributes (set
        # by @describe and @choices on ordinary commands).
        add_alert.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        add_alert.__discord_app_commands_param_description__ = descriptions  # type: ignore[attr-defined]
        add_alert.__discord_app_commands_param_choices__ = {  # type: ignore[attr-defined]
            spec.name: list(spec.choices) for spec in specs if spec.choices
        }
        command: app_commands.Command[Any, ..., None] = app_commands.Command(
            name=cls.name, description=shorten(cls.description), callback=add_alert
        )
        return command

    async def add_rule(
        self,
        interaction: discord.Interaction[Any],
        cls: type[Detector],
        specs: Sequence[DetectorOption],
        values: dict[str, Any],
    ) -> None:
        """Create the rule the /alert add options describe."""
        symbol, settings, options = self.described_rule(interaction, specs, values)
        view = self.service.add_rule(
            guild_id_of(interaction),
            interaction.user.id,
            cls.name,
            symbol,
            settings,
            options,
            is_admin=is_manager(interaction),
        )
        embed = render.rule_embed(view, f"Alert {view.id} created")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    def described_rule(
        self, interaction: discord.Interaction[Any], specs: Sequence[DetectorOption], values: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any], RuleOptions]:
        """Split the values of an /alert add (or /alert test) command into symbol, settings and options."""
        options = self.rule_options(interaction, values)
        symbol = values.pop("symbol", None)
        return symbol, settings_from_values(specs, values), options

    def rule_options(self, interaction: discord.Interaction[Any], values: dict[str, Any]) -> RuleOptions:
        """Take the common options (channel, role, note, ...) out of ``values``, checked, as RuleOptions."""
        asked = values.pop("deliver", None)
        # A member can only have personal alerts, so leaving `deliver` out means a DM for them; asking for a
        # channel anyway gets the service's explanation.
        deliver: Literal["channel", "dm"] = (
            "dm" if asked == "dm" or (asked is None and not is_manager(interaction)) else "channel"
        )
        channel = values.pop("channel", None)
        role = values.pop("role", None)
        repeat = values.pop("repeat", None)
        if channel is not None:
            check_postable(interaction, channel)
        if role is not None:
            check_own_role(interaction, role)
        return RuleOptions(
            channel_id=channel.id if channel is not None else None,
            role_id=role.id if role is not None else None,
            note=values.pop("note", None),
            repeat=True if repeat is None else bool(repeat),
            cooldown_s=values.pop("cooldown", None),
            expires_in_s=values.pop("expires", None),
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
