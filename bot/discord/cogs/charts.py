"""/chart: candles, volume, liquidations by side, the server's levels and where its alerts fired, as a PNG."""

from __future__ import annotations

import asyncio
import contextlib
import io
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.charts.spec import ChartSpec
from bot.discord.render.history import chart_embed, chart_filename
from bot.discord.transformers import Symbol
from bot.discord.transformers_history import ChartWindow, viewer_of
from bot.services.history import HistoryService
from storage.rows import INTERVAL_MS

# Every stored interval can be asked for (13 of them: within Discord's 25 choices per option).
INTERVAL_CHOICES = [Choice(name=name, value=name) for name in INTERVAL_MS]


async def withdraw_thinking(interaction: discord.Interaction[Any]) -> None:
    """Delete a public "thinking" message so the error that follows is answered privately.

    receiving-and-responding.mdx ("Create Followup Message"): the first followup after a deferred response
    edits the loading message and keeps its visibility, so an error sent then would be public. Deleting
    the original first leaves nothing to edit: the error's followup is a new message, ephemeral as asked
    (assumption: the document does not describe a followup after the deferred original was deleted).
    """
    # Already gone or the token expired: the funnel's own answer then reports what it can.
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()


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
        viewer = viewer_of(interaction)

        def draw() -> tuple[ChartSpec, bytes]:
            # Both halves run in a worker thread so the bot keeps answering meanwhile: reading the window
            # (90 days of stored 1m candles are 130,000 rows to aggregate) and matplotlib's CPU-bound drawing.
            spec = self.history.chart(symbol, interval, window, viewer=viewer)
            from bot.charts.draw import render_chart  # matplotlib loads with the first chart, not at start-up

            return spec, render_chart(spec)

        try:
            spec, png = await asyncio.to_thread(draw)
        except Exception:
            await withdraw_thinking(interaction)
            raise  # the tree's error funnel answers, now privately
        filename = chart_filename(spec.symbol, spec.interval)
        await interaction.followup.send(
            embed=chart_embed(spec, filename), file=discord.File(io.BytesIO(png), filename=filename)
        )
