"""/history (the server's past alerts, paged with buttons) and /why (the evidence behind one alert)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import guild_id_of
from bot.discord.render.history import history_embed, why_embed, why_rule_embed
from bot.discord.transformers import Symbol
from bot.discord.transformers_history import AlertId, Since, VisibleRule, viewer_of
from bot.discord.views import MAX_VIEW_LIFETIME_S, OwnedView, ViewTracker
from bot.errors import UserError
from bot.services.history import HistoryPage, HistoryQuery, HistoryService

# How long the page buttons answer after the last press (and never past MAX_VIEW_LIFETIME_S after the
# command: the token that disables them at the end expires 15 minutes after it).
PAGE_TIMEOUT_S = 300.0


class HistoryPager(OwnedView):
    """Previous/next buttons over a pinned /history list; only its invoker may turn the pages."""

    def __init__(
        self,
        history: HistoryService,
        page: HistoryPage,
        owner_id: int,
        *,
        timeout: float,
        lifetime: float = MAX_VIEW_LIFETIME_S,
    ) -> None:
        super().__init__(owner_id, timeout=timeout, lifetime=lifetime)
        self.history = history
        self.page = page
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = not self.page.has_previous
        self.next.disabled = not self.page.has_next

    async def _turn(self, interaction: discord.Interaction[Any], step: int) -> None:
        turned = self.history.history(self.page.query, self.page.page + step, self.page.page_size)
        self.page = replace(turned, private=self.page.private)
        self._sync_buttons()
        # The press's own interaction edits the message: its token is fresh whatever the command's age.
        await interaction.response.edit_message(embed=history_embed(self.page), view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        """Show the page before (newer alerts)."""
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        """Show the page after (older alerts)."""
        await self._turn(interaction, +1)


class HistoryCog(commands.Cog, name="History"):
    """Look back at the server's alerts and at why one fired."""

    def __init__(
        self,
        history: HistoryService,
        *,
        page_timeout_s: float = PAGE_TIMEOUT_S,
        view_lifetime_s: float = MAX_VIEW_LIFETIME_S,
    ) -> None:
        self.history = history
        self.page_timeout_s = page_timeout_s
        self.view_lifetime_s = view_lifetime_s
        self.views = ViewTracker()

    async def cog_unload(self) -> None:
        """Stop the page buttons' timeouts when the bot closes."""
        self.views.stop_all()

    @app_commands.command(name="history", description="This server's past alerts, newest first")
    @app_commands.describe(
        symbol="Only alerts of this trading pair",
        rule="Only alerts of this rule (its id, e.g. btc-95k)",
        since="From when: how long ago (24h, 7d) or a UTC date (2026-01-13)",
    )
    @app_commands.guild_only()
    async def history_command(
        self,
        interaction: discord.Interaction[Any],
        symbol: Symbol | None = None,
        rule: VisibleRule | None = None,
        since: Since | None = None,
    ) -> None:
        """List the server's alerts, silenced, folded and late ones marked, a page at a time."""
        viewer = viewer_of(interaction)
        query = HistoryQuery(
            guild_id_of(interaction),
            viewer.user_id,
            viewer.channels,
            symbol,
            rule,
            since,
            readable=viewer.readable,
            is_admin=viewer.is_admin,
            here=viewer.here,
            open_channels=viewer.open_channels,
        )
        page = self.history.history(query)
        # A list holding an alert some readers of this channel may not see is shown to the member alone.
        private = page.private
        if page.pages <= 1:
            await interaction.response.send_message(embed=history_embed(page), ephemeral=private)
            return
        view = HistoryPager(
            self.history,
            page,
            interaction.user.id,
            timeout=self.page_timeout_s,
            lifetime=self.view_lifetime_s,
        )
        self.views.add(view)
        view.attach(interaction)
        await interaction.response.send_message(embed=history_embed(page), view=view, ephemeral=private)

    @app_commands.command(
        name="why", description="Why an alert fired (its values, the rule, the data), or whether a rule can"
    )
    @app_commands.describe(
        alert_id="The alert's number from /history or its message's footer, e.g. 38",
        rule="Or a rule: whether it can fire yet (warming up) and its last alert",
    )
    @app_commands.guild_only()
    async def why(
        self,
        interaction: discord.Interaction[Any],
        alert_id: AlertId | None = None,
        rule: VisibleRule | None = None,
    ) -> None:
        """Show the stored evidence of one of the server's alerts, or whether a rule can fire yet."""
        viewer = viewer_of(interaction)
        if (alert_id is None) == (rule is None):
            raise UserError("Give an alert number (`alert_id`) or a rule (`rule`), one of the two.")
        if rule is not None:
            rule_view = self.history.why_rule(guild_id_of(interaction), viewer, rule)
            await interaction.response.send_message(embed=why_rule_embed(rule_view), ephemeral=True)
            return
        assert alert_id is not None
        view = self.history.why(
            guild_id_of(interaction), viewer.user_id, alert_id, viewer.channels, viewer=viewer
        )
        await interaction.response.send_message(embed=why_embed(view), ephemeral=view.private)
