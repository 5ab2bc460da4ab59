"""The Discord bot: a ``commands.Bot`` built from the config and the service, with Tripwire's cogs.

It asks for no privileged intent unless ``[discord] members_intent`` is set (slash commands need none;
that one only lets personal alerts pause the moment their owner leaves a server), mentions nobody unless
a message says otherwise (``AllowedMentions.none()``), syncs its commands to the configured guilds at
start (instant) or globally (Discord takes up to an hour to show them), and can be pointed at the local
Discord emulator. With ``[discord] presence_symbol`` its presence shows that symbol's price.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from discord.ext import commands

from bot.config import Config, Secrets
from bot.digests.service import DigestService
from bot.discord.cogs.admin import AdminCog
from bot.discord.cogs.alerts import AlertCog
from bot.discord.cogs.backtest import AlertTestCog
from bot.discord.cogs.charts import ChartCog
from bot.discord.cogs.digests import DigestCog
from bot.discord.cogs.history import HistoryCog
from bot.discord.cogs.liqmap import LiqMapCog
from bot.discord.cogs.liquidations import LiqFeedCog, LiqPriceCog
from bot.discord.cogs.market import MarketCog
from bot.discord.cogs.privacy import PrivacyCog
from bot.discord.cogs.rule_files import RuleFilesCog
from bot.discord.cogs.silences import SilenceCog
from bot.discord.cogs.webhooks import WebhookCog
from bot.discord.presence import PresenceTicker
from bot.discord.tree import TripwireTree
from bot.errors import UserError
from bot.liqfeed.settings import LiqFeedService
from bot.services import Service
from bot.services.backtest import BacktestService
from bot.services.history import HistoryService
from bot.services.liqmap import LiqMapService
from bot.services.privacy import PrivacyService
from detectors.base import Detector

log = logging.getLogger(__name__)


class EndpointOverride:
    """Point discord.py's REST base and gateway URL elsewhere (the emulator), and put them back.

    discord.py reads ``Route.BASE`` each time it builds a request (interaction and webhook calls too) and
    connects to ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking ``GET /gateway``, so these two class
    attributes are the whole switch. They are process-wide, hence restored when the bot closes.
    """

    def __init__(self, api_base: str | None, gateway_url: str | None) -> None:
        self.api_base = api_base
        self.gateway_url = gateway_url
        self._saved: tuple[str, yarl.URL] | None = None

    def apply(self) -> None:
        """Set the overrides that are configured (nothing when neither is)."""
        if self._saved is not None or (self.api_base is None and self.gateway_url is None):
            return
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        if self.api_base is not None:
            discord.http.Route.BASE = self.api_base.rstrip("/")
            log.warning("Discord REST calls go to %s (not Discord)", discord.http.Route.BASE)
        if self.gateway_url is not None:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
            log.warning("Discord gateway is %s (not Discord)", self.gateway_url)

    def restore(self) -> None:
        """Put the URLs back as they were before ``apply``."""
        if self._saved is not None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved
            self._saved = None


def bot_intents(*, members: bool = False) -> discord.Intents:
    """Return the intents Tripwire needs: guilds, plus the privileged members intent when asked for.

    Guilds gives the channels and roles for options; the members intent lets the bot see members leave.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = members
    return intents


class TripwireBot(commands.Bot):
    """Tripwire's Discord front end: slash commands answered through the service; alerts are sent with it."""

    def __init__(
        self,
        config: Config,
        service: Service,
        *,
        secrets: Secrets | None = None,
        detectors: Mapping[str, type[Detector]] | None = None,
        liqfeed: LiqFeedService | None = None,
        sync_commands: bool = True,
        digests: DigestService | None = None,
        privacy: PrivacyService | None = None,
        history: HistoryService | None = None,
        backtests: BacktestService | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(members=config.discord.members_intent),
            help_command=None,
            tree_cls=TripwireTree,
            **options,
        )
        self.config = config
        self.service = service
        self.detectors = detectors
        # Without a running feed (liqfeed None) /liqfeed still stores settings; a feed started later
        # reads them.
        self.liqfeed = liqfeed or LiqFeedService(service.repo, config.symbols, service.now_ms)
        self.sync_commands = sync_commands
        # Without a scheduler (tests, a front end alone) digests are stored and posted on request only.
        self.digests = digests or DigestService(
            service.repo,
            config.symbols,
            service.now_ms,
            max_per_guild=config.discord.max_digests_per_guild,
        )
        self.privacy = privacy or PrivacyService(service.repo, service.engine, service.now_ms)
        # The cogs are given their services, never build them (the composition root passes its own).
        self.history = history or HistoryService(service)
        self.backtests = backtests or BacktestService(service)
        self.liqmaps = LiqMapService(service)
        symbol = config.discord.presence_symbol
        self.presence = PresenceTicker(self, service, symbol) if symbol else None
        self._presence_task: asyncio.Task[None] | None = None
        discord_config = config.discord
        self.endpoints = EndpointOverride(
            discord_config.api_base or (secrets.discord_api_base if secrets else None),
            discord_config.gateway_url or (secrets.discord_gateway_url if secrets else None),
        )
        self.endpoints.apply()

    async def login(self, token: str) -> None:
        """Log in, turning Discord's refusal of the token into one line for the operator (exit status 2).

        A refused token cannot be fixed by restarting: the systemd unit's ``RestartPreventExitStatus=2``
        stops the restart loop only if this exits 2, not with a traceback and 1 (issue 17, finding 11).
        """
        try:
            await super().login(token)
        except discord.LoginFailure:
            await self.close()  # the HTTP session it opened, or aiohttp complains at exit
            raise UserError(
                "Discord refused the bot token (401 Unauthorized): put the token of your bot from "
                "https://discord.com/developers/applications in TRIPWIRE_DISCORD_TOKEN (or its file)"
            ) from None

    async def setup_hook(self) -> None:
        """Add the cogs and sync the slash commands."""
        await self.add_cog(MarketCog(self.service))
        alerts = AlertCog(self.service, self.detectors)
        # /alert test, test-rule, export and import live inside /alert: they are added before /alert is
        # registered.
        tests = AlertTestCog(self.backtests, alerts, self.detectors)
        files = RuleFilesCog(self.service, alerts)
        await self.add_cog(alerts)
        await self.add_cog(tests)
        await self.add_cog(files)
        await self.add_cog(AdminCog(self.service))
        await self.add_cog(SilenceCog(self.service))
        await self.add_cog(WebhookCog(self.service))
        await self.add_cog(LiqFeedCog(self.liqfeed))
        await self.add_cog(LiqPriceCog(self.service, self.liqmaps))
        await self.add_cog(LiqMapCog(self.liqmaps))
        await self.add_cog(HistoryCog(self.history))
        await self.add_cog(ChartCog(self.history))
        await self.add_cog(DigestCog(self.digests))
        await self.add_cog(PrivacyCog(self.privacy))
        if self.presence is not None:
            self._presence_task = asyncio.create_task(self.presence.run(), name="presence")
        if self.sync_commands:
            await self.sync_app_commands()

    async def sync_app_commands(self) -> None:
        """Sync commands to each configured guild (shown at once), or globally when none is configured."""
        guild_ids = self.config.discord.guild_ids
        if not guild_ids:
            synced = await self.tree.sync()
            log.info(
                "synced %d slash commands globally (Discord may take up to an hour to show them)", len(synced)
            )
            return
        for guild_id in guild_ids:
            guild = discord.Object(guild_id)
            # Guild commands appear instantly; global ones are copied so both stay one definition.
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to guild %s", len(synced), guild_id)

    async def on_ready(self) -> None:
        """Log who we are and where."""
        log.info("connected to Discord as %s in %d guild(s)", self.user, len(self.guilds))
        if self.presence is not None:
            self.presence.reset()  # a new session starts without a presence

    async def close(self) -> None:
        """Close the connection and restore any endpoint override."""
        if self._presence_task is not None:
            self._presence_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._presence_task
            self._presence_task = None
        try:
            await super().close()
        finally:
            self.endpoints.restore()
