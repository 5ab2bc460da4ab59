"""/chart: candles, volume, liquidations by side, the server's levels and where its alerts fired, as a PNG."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.charts.spec import ChartSpec
from bot.discord.render.history import chart_embed, chart_filename
from bot.discord.transformers import Symbol
from bot.discord.transformers_history import ChartWindow, guild_scope
from bot.services.history import HistoryService
from storage.rows import INTERVAL_MS

# Every stored interval can be asked for (13 of them: within Discord's 25 choices per option).
INTERVAL_CHOICES = [Choice(name=name, value=name) for name in INTERVAL_MS]


class ChartCog(commands.Cog, name="Charts"):
    """Draw a symbol's recent market with this server's alert levels and alerts."""

    def __init__(self, history: HistoryService) -> None:
        self.history = history

    @app_commands.command(
        name="chart", description="Price chart: candles, volume, liquidations, the server's levels and alerts"
    )
    @app_commands.describe(
        symbol="Trading pair, e.g. BTCUSDT (or just btc)",
        interval="Candle size (default: the finest that shows the window in 200 candles)",
        window="How far back, e.g. 24h, 7d, 30d (default 7d, at most 90d)",
    )
    @app_commands.choices(interval=INTERVAL_CHOICES)
    async def chart(
        self,
        interaction: discord.Interaction[Any],
        symbol: Symbol,
        interval: str | None = None,
        window: ChartWindow | None = None,
    ) -> None:
        """Post the chart of a symbol over a window."""
        # Check the options before deferring: after defer() the first followup keeps the defer's (public)
        # visibility, so a mistake is only private while the interaction is still unanswered.
        self.history.check_chart(symbol, interval, window)
        # Drawing takes a few hundred milliseconds; answer within Discord's 3 s first.
        await interaction.response.defer(thinking=True)
        scope = guild_scope(interaction)

        def draw() -> tuple[ChartSpec, bytes]:
            # Both halves run in a worker thread so the bot keeps answering meanwhile: reading the window
            # (90 days of stored 1m candles are 130,000 rows to aggregate) and matplotlib's CPU-bound drawing.
            spec = self.history.chart(symbol, interval, window, scope=scope)
            from bot.charts.draw import render_chart  # matplotlib loads with the first chart, not at start-up

            return spec, render_chart(spec)

        spec, png = await asyncio.to_thread(draw)
        filename = chart_filename(spec.symbol, spec.interval)
        await interaction.followup.send(
            embed=chart_embed(spec, filename), file=discord.File(io.BytesIO(png), filename=filename)
        )
