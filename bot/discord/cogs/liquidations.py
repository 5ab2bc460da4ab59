"""/liqfeed (a server's live feed of large liquidations; Manage Server) and /liqprice (the calculator)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import check_postable, guild_id_of, manage_guild_only
from bot.discord.render import liquidations as render_liq
from bot.discord.transformers import Symbol
from bot.liqfeed.settings import MAX_USD, MIN_USD, LiqFeedService
from bot.services import Service
from bot.services.liqmap import LiqMapService
from bot.services.liqprice import MAX_LEVERAGE, MAX_SIZE_USD, MIN_LEVERAGE, quote


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class LiqFeedCog(
    commands.GroupCog, group_name="liqfeed", group_description="A live feed of large liquidations"
):
    """Set, show and switch off the server's large-liquidation feed."""

    def __init__(self, feeds: LiqFeedService) -> None:
        self.feeds = feeds
        super().__init__()

    @app_commands.command(name="set", description="Post every liquidation at or above a size in a channel")
    @app_commands.describe(
        channel="Where the feed posts",
        min_usd="Smallest liquidated position posted, in USD (at least 10,000)",
        symbols="Only these symbols, comma-separated (all watched symbols when left out)",
        exchanges="Only these exchanges (binance, bybit, okx, gate, htx, deribit, hyperliquid), "
        "comma-separated",
    )
    @manage_guild_only
    async def set_feed(
        self,
        interaction: discord.Interaction[Any],
        channel: discord.TextChannel,
        min_usd: app_commands.Range[float, MIN_USD, MAX_USD],
        symbols: str | None = None,
        exchanges: str | None = None,
    ) -> None:
        """Start (or replace) the server's feed."""
        check_postable(interaction, channel)
        view = self.feeds.set(
            guild_id_of(interaction), interaction.user.id, channel.id, min_usd, symbols, exchanges
        )
        await interaction.response.send_message(embed=render_liq.liqfeed_settings_embed(view), ephemeral=True)

    @app_commands.command(name="off", description="Stop the server's liquidation feed")
    @manage_guild_only
    async def off(self, interaction: discord.Interaction[Any]) -> None:
        """Switch the feed off."""
        view = self.feeds.off(guild_id_of(interaction))
        await interaction.response.send_message(embed=render_liq.liqfeed_settings_embed(view), ephemeral=True)

    @app_commands.command(
        name="show", description="The server's liquidation feed: channel, threshold, filters"
    )
    @manage_guild_only
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        """Show the feed's settings and whether it posts live or summaries now."""
        view = self.feeds.show(guild_id_of(interaction))
        await interaction.response.send_message(embed=render_liq.liqfeed_settings_embed(view), ephemeral=True)


class LiqPriceCog(commands.Cog, name="LiqPrice"):
    """Estimate where a leveraged position is liquidated."""

    def __init__(self, service: Service, liqmaps: LiqMapService | None = None) -> None:
        self.service = service
        self.liqmaps = liqmaps

    @app_commands.command(
        name="liqprice", description="Estimated liquidation price of an isolated USDⓈ-M perpetual position"
    )
    @app_commands.describe(
        symbol="Trading pair, e.g. BTCUSDT (or just btc)",
        side="The position: long or short",
        entry="Entry price in USD",
        leverage="Leverage, 1 to 125",
        margin_mode="Isolated (cross margin depends on the whole wallet and is refused)",
        maintenance_margin_rate="Maintenance margin rate in % (default: Binance's tier for BTC/ETH, else 1%)",
        size_usd="Position size (notional) in USD; picks the exchange's margin tier",
        share="Post the answer in the channel, your entry and leverage included (default: only you see it)",
    )
    async def liqprice(
        self,
        interaction: discord.Interaction[Any],
        symbol: Symbol,
        side: Literal["long", "short"],
        entry: app_commands.Range[float, 0.0, None],
        leverage: app_commands.Range[float, MIN_LEVERAGE, MAX_LEVERAGE],
        margin_mode: Literal["isolated", "cross"] = "isolated",
        maintenance_margin_rate: app_commands.Range[float, 0.0, 100.0] | None = None,
        size_usd: app_commands.Range[float, 1.0, MAX_SIZE_USD] | None = None,
        share: bool = False,
    ) -> None:
        """Show the estimated liquidation price, its distance, and the assumptions (privately by default)."""
        view = quote(
            self.service,
            symbol,
            side,
            entry,
            leverage,
            margin_mode=margin_mode,
            mmr_pct=maintenance_margin_rate,
            size_usd=size_usd,
        )
        on_map = None
        if self.liqmaps is not None and view.liquidation_price is not None:
            # Building the map reads weeks of rows: off the event loop.
            on_map = await asyncio.to_thread(
                self.liqmaps.where_on_map, view.symbol, side, view.liquidation_price
            )
        # A member's entry, leverage and size are their own business: shown to the channel only on request.
        await interaction.response.send_message(
            embed=render_liq.liqprice_embed(view, on_map), ephemeral=not share
        )
