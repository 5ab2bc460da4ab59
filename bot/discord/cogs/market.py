"""Market queries anyone may ask: /price, /liquidations, /funding, /oi, /positioning, /fng (public)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.render import market as render
from bot.discord.render.depth import depth_embed
from bot.discord.render.positioning import positioning_embed
from bot.discord.transformers import Symbol, Window
from bot.services import Service

DEFAULT_WINDOW_S = 86_400


class MarketCog(commands.Cog, name="Market"):
    """Ask about prices, liquidations, funding, open interest and the Fear & Greed Index."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @app_commands.command(name="price", description="Last price, 24h change, high/low, volume and source")
    @app_commands.describe(symbol="Trading pair, e.g. BTCUSDT (or just btc)")
    async def price(self, interaction: discord.Interaction[Any], symbol: Symbol) -> None:
        """Show the last price of a symbol."""
        view = self.service.price(symbol)
        await interaction.response.send_message(embed=render.price_embed(view))

    @app_commands.command(
        name="liquidations", description="Long vs short liquidations per exchange, largest, vs the usual"
    )
    @app_commands.describe(
        symbol="Trading pair (all symbols when left out)", window="How far back, e.g. 1h, 4h, 24h, 7d"
    )
    async def liquidations(
        self,
        interaction: discord.Interaction[Any],
        symbol: Symbol | None = None,
        window: Window | None = None,
    ) -> None:
        """Show liquidations over a window, compared with the previous week."""
        # Input was checked by the transformers; the week-long comparison is the slow part.
        await interaction.response.defer(thinking=True)
        view = self.service.liquidations(symbol, window or DEFAULT_WINDOW_S)
        await interaction.followup.send(embed=render.liquidations_embed(view))

    @app_commands.command(name="funding", description="Funding rate, its change and the next funding time")
    @app_commands.describe(symbol="Trading pair (the first configured one when left out)")
    async def funding(self, interaction: discord.Interaction[Any], symbol: Symbol | None = None) -> None:
        """Show the funding rate of a symbol."""
        view = self.service.funding(symbol)
        await interaction.response.send_message(embed=render.funding_embed(view))

    @app_commands.command(name="oi", description="Open interest and its change over 1h, 24h and 7d")
    @app_commands.describe(symbol="Trading pair (the first configured one when left out)")
    async def open_interest(
        self, interaction: discord.Interaction[Any], symbol: Symbol | None = None
    ) -> None:
        """Show the open interest of a symbol."""
        view = self.service.open_interest(symbol)
        await interaction.response.send_message(embed=render.open_interest_embed(view))

    @app_commands.command(
        name="positioning", description="Open interest and funding across venues, long/short, implied vol"
    )
    @app_commands.describe(symbol="Trading pair (the first configured one when left out)")
    async def positioning(self, interaction: discord.Interaction[Any], symbol: Symbol | None = None) -> None:
        """Show the positioning of a symbol across venues."""
        view = self.service.positioning(symbol)
        await interaction.response.send_message(embed=positioning_embed(view))

    @app_commands.command(
        name="depth", description="Order-book liquidity within ±0.5/1/2% of the price, per venue"
    )
    @app_commands.describe(symbol="Trading pair (the first configured one when left out)")
    async def depth(self, interaction: discord.Interaction[Any], symbol: Symbol | None = None) -> None:
        """Show the order-book depth of a symbol."""
        view = self.service.depth(symbol)
        await interaction.response.send_message(embed=depth_embed(view))

    @app_commands.command(
        name="fng", description="Crypto Fear & Greed Index: value, change, highest/lowest since"
    )
    async def fear_greed(self, interaction: discord.Interaction[Any]) -> None:
        """Show today's Fear & Greed Index."""
        view = self.service.fear_greed()
        await interaction.response.send_message(embed=render.fear_greed_embed(view))
