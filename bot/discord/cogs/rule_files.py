"""/alert export and /alert import: a server's or a member's alerts as a TOML file, and back.

The import answers with the plan first (what would be created, changed or left alone) and an Apply button,
so nothing changes until the member has seen it; Apply plans the file again against the alerts as they
are then (another admin may have changed them meanwhile) and applies it whole, in one transaction.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import check_own_role, check_postable, guild_id_of
from bot.discord.cogs.alerts import AlertCog
from bot.discord.render import rules as render
from bot.discord.transformers import is_manager
from bot.discord.views import MAX_VIEW_LIFETIME_S, OwnedView, ViewTracker
from bot.errors import UserError
from bot.services import Service
from bot.services.rule_transfer import ImportPlan
from bot.services.rules_file import MAX_FILE_BYTES

log = logging.getLogger(__name__)

# The Apply button answers this long after the import's plan was shown (and never past the token's life).
APPLY_TIMEOUT_S = 600.0

Apply = Callable[[discord.Interaction[Any]], ImportPlan]


class ApplyImportView(OwnedView):
    """The Apply button under an import's plan: applies the file once."""

    def __init__(
        self, owner_id: int, apply: Apply, *, timeout: float, lifetime: float = MAX_VIEW_LIFETIME_S
    ) -> None:
        super().__init__(owner_id, timeout=timeout, lifetime=lifetime)
        self._apply = apply
        self._lock = asyncio.Lock()
        self.applied: ImportPlan | None = None

    @discord.ui.button(label="Apply", style=discord.ButtonStyle.success)
    async def apply(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        """Apply the file (planned again, with the same checks), unless this button already did."""
        async with self._lock:
            if self.applied is not None:
                await interaction.response.send_message("This import was already applied.", ephemeral=True)
                return
            plan = self._apply(interaction)
            self.applied = plan
            button.disabled = True
            button.label = "Applied"
            await interaction.response.edit_message(view=self)
        await interaction.followup.send(embed=render.import_embed(plan, applied=True), ephemeral=True)


class RuleFilesCog(commands.Cog, name="Rule files"):
    """Export and import alerts (``/alert export`` and ``/alert import`` inside ``/alert``)."""

    def __init__(
        self,
        service: Service,
        alerts: AlertCog,
        *,
        view_timeout_s: float = APPLY_TIMEOUT_S,
        view_lifetime_s: float = MAX_VIEW_LIFETIME_S,
    ) -> None:
        self.service = service
        self.view_timeout_s = view_timeout_s
        self.view_lifetime_s = view_lifetime_s
        self.views = ViewTracker()
        group = alerts.app_command
        assert group is not None, "AlertCog is a GroupCog"
        group.add_command(self._export_command())
        group.add_command(self._import_command())

    async def cog_unload(self) -> None:
        """Stop the Apply buttons' timeouts when the bot closes."""
        self.views.stop_all()

    def _export_command(self) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(scope="server: the channel alerts (Manage Server); mine: your personal alerts")
        async def export(
            interaction: discord.Interaction[Any], scope: Literal["server", "mine"] | None = None
        ) -> None:
            await cog.export(interaction, scope)

        return app_commands.Command(
            name="export",
            description="Download alerts as a TOML file that /alert import reads",
            callback=export,
        )

    def _import_command(self) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(file="A .toml file from /alert export (or [[rules]] tables of a config file)")
        async def import_(interaction: discord.Interaction[Any], file: discord.Attachment) -> None:
            await cog.import_file(interaction, file)

        return app_commands.Command(
            name="import",
            description="Create or update alerts from a file; shows the changes first",
            callback=import_,
        )

    async def export(
        self, interaction: discord.Interaction[Any], scope: Literal["server", "mine"] | None
    ) -> None:
        """Send the alerts as a file attachment, privately."""
        exported = self.service.export_rules(
            guild_id_of(interaction), interaction.user.id, is_admin=is_manager(interaction), scope=scope
        )
        whose = "this server's channel alerts" if exported.scope == "server" else "your personal alerts"
        content = (
            f"{exported.count} of {whose}. Edit the file if you like and bring it back with /alert import."
            if exported.count
            else f"There are none of {whose} yet; the file only has its header."
        )
        file = discord.File(io.BytesIO(exported.text.encode()), filename=exported.filename)
        await interaction.response.send_message(content, file=file, ephemeral=True)

    async def read_attachment(self, file: discord.Attachment) -> bytes:
        """Return the attachment's bytes, refusing a file too large to be a rules file before reading it."""
        if file.size > MAX_FILE_BYTES:
            raise UserError(
                f"`{file.filename}` is {file.size:,} bytes; a rules file may be at most {MAX_FILE_BYTES:,}."
            )
        try:
            return await file.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            log.warning("could not download attachment %s: %s", file.id, exc)
            raise UserError(f"I could not download `{file.filename}` from Discord; try again.") from None

    def check_destinations(self, interaction: discord.Interaction[Any], plan: ImportPlan) -> None:
        """Refuse a plan naming a channel the bot cannot post in or a role the member may not ping."""
        guild = interaction.guild
        assert guild is not None, "/alert is guild-only"
        for planned in plan.rules:
            if planned.action == "unchanged":
                continue
            row = planned.row
            if row.channel_id is not None:
                channel = guild.get_channel(row.channel_id)
                if not isinstance(channel, discord.TextChannel):
                    raise UserError(
                        f"Alert `{row.id}`: <#{row.channel_id}> is not a text channel of this server."
                    )
                check_postable(interaction, channel)
            if row.role_id is not None:
                role = guild.get_role(row.role_id)
                if role is None:
                    raise UserError(f"Alert `{row.id}`: the role {row.role_id} is not a role of this server.")
                check_own_role(interaction, role)

    async def import_file(self, interaction: discord.Interaction[Any], file: discord.Attachment) -> None:
        """Show what importing ``file`` would change, with an Apply button."""
        data = await self.read_attachment(file)
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        plan = self.service.plan_import(guild_id, user_id, data, is_admin=is_manager(interaction))
        self.check_destinations(interaction, plan)
        embed = render.import_embed(plan, applied=False)
        if not plan.changes:
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return

        def apply(press: discord.Interaction[Any]) -> ImportPlan:
            # Whoever presses is the member who imported (OwnedView); their permission is read anew.
            again = self.service.plan_import(guild_id, user_id, data, is_admin=is_manager(press))
            self.check_destinations(press, again)
            return self.service.apply_import(guild_id, user_id, data, is_admin=is_manager(press))

        view = ApplyImportView(user_id, apply, timeout=self.view_timeout_s, lifetime=self.view_lifetime_s)
        self.views.add(view)
        view.attach(interaction)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)
