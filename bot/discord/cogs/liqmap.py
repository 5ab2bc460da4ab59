"""/liqmap show (the modelled liquidation heatmap of a symbol) and /liqmap accuracy (how it has graded)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.cogs.charts import withdraw_thinking
from bot.discord.render import liqmap as render_liqmap
from bot.discord.transformers import Symbol
from bot.liqmap.view import MAX_RANGE_PCT, MIN_RANGE_PCT, LiqMapView
from bot.services.liqmap import LiqMapService


class LiqMapCog(commands.GroupCog, group_name="liqmap", group_description="The modelled liquidation map"):
    """Show where leveraged positions would be liquidated, and how well the map has predicted sweeps."""

    def __init__(self, liqmaps: LiqMapService) -> None:
        self.liqmaps = liqmaps
        super().__init__()

    @app_commands.command(
        name="show", description="Heatmap of modelled liquidation prices and nearest clusters"
    )
    @app_commands.describe(
        symbol="Trading pair, e.g. BTCUSDT (or just btc)",
        range="Price range shown, ± % around the price (2 to 50, default 12)",
        venue="One open-interest source only, e.g. binance (default: all, summed)",
    )
    async def show(
        self,
        interaction: discord.Interaction[Any],
        symbol: Symbol,
        range: app_commands.Range[float, MIN_RANGE_PCT, MAX_RANGE_PCT] | None = None,
        venue: app_commands.Range[str, 1, 32] | None = None,
    ) -> None:
        """Post the map of a symbol as a PNG with its nearest clusters."""
        chosen = venue.strip().lower() if venue else None
        name = self.liqmaps.check(symbol, range, chosen)
        await interaction.response.defer(thinking=True)

        def draw() -> tuple[LiqMapView, bytes]:
            # Building reads weeks of candles and drawing is CPU-bound: both off the event loop.
            view = self.liqmaps.map(name, range, chosen)
            from bot.liqmap.chart import render_liqmap as render  # matplotlib loads with the first chart

            return view, render(view)

        try:
            view, png = await asyncio.to_thread(draw)
        except Exception:
            await withdraw_thinking(interaction)
            raise
        self.liqmaps.store(view.grades)  # on the loop, where the bot's other writes happen
        filename = render_liqmap.liqmap_filename(view)
        await interaction.followup.send(
            embed=render_liqmap.liqmap_embed(view, filename),
            file=discord.File(io.BytesIO(png), filename=filename),
        )

    @app_commands.command(
        name="accuracy", description="How the map's past sweeps compared with real liquidations"
    )
    async def accuracy(self, interaction: discord.Interaction[Any]) -> None:
        """Grade the watched symbols' recent sweeps and show the running hit rate and error per venue."""
        await interaction.response.defer(thinking=True)
        grades = await asyncio.to_thread(self.liqmaps.regrade)
        self.liqmaps.store(grades)
        await interaction.followup.send(embed=render_liqmap.accuracy_embed(self.liqmaps.accuracy()))
