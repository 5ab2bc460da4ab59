"""The bot's presence as a live ticker: one symbol's price and 24h change ("BTC $95,757 ▲4.9%").

Discord limits how often a bot may change its presence (gateway op 3; it drops or rate-limits frequent
updates, and the gateway as a whole allows 120 sends a minute), so an update is sent at most once per
``min_interval_s`` (60 s) and only when the text changed. A new gateway session (not a resume) starts with
no presence, so the text is sent again after each READY.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
import discord

from bot.errors import UserError
from bot.services import Service
from bot.services.market import PriceView
from detectors.base import format_price, short_symbol

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 60.0


def presence_text(view: PriceView) -> str:
    """Return ``BTC $95,757 ▲4.9%``: whole dollars above $1,000, the 24h change to one decimal."""
    price = f"${view.price:,.0f}" if view.price >= 1000 else format_price(view.price)
    text = f"{short_symbol(view.symbol)} {price}"
    change = view.change_24h_pct
    if change is not None:
        text += f" {'▲' if change >= 0 else '▼'}{abs(change):.1f}%"
    return text


class PresenceTicker:
    """Keep the bot's presence showing a symbol's price, updated at most once a minute."""

    def __init__(
        self,
        client: discord.Client,
        service: Service,
        symbol: str,
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.service = service
        self.symbol = symbol
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.shown: str | None = None
        self._last_sent: float | None = None

    def reset(self) -> None:
        """Forget what is shown (a new gateway session starts without a presence)."""
        self.shown = None

    async def update(self) -> bool:
        """Send the current price when it changed and a minute has passed since the last update."""
        if self._last_sent is not None and self.clock() - self._last_sent < self.min_interval_s:
            return False
        try:
            text = presence_text(self.service.price(self.symbol))
        except UserError as exc:
            log.debug("presence not updated: %s", exc)
            return False
        if text == self.shown:
            return False
        await self.client.change_presence(activity=discord.CustomActivity(name=text))
        self.shown = text
        self._last_sent = self.clock()
        return True

    async def run(self) -> None:
        """Update the presence every ``min_interval_s`` while the client is connected (cancel to stop)."""
        await self.client.wait_until_ready()
        while not self.client.is_closed():
            try:
                await self.update()
            except (discord.ClientException, discord.ConnectionClosed, aiohttp.ClientError, OSError) as exc:
                # The gateway is reconnecting (no socket, or a closed one): the next minute tries again.
                log.warning("presence update failed: %s: %s", type(exc).__name__, exc)
            except Exception:
                # A bug: logged with its traceback, and the ticker outlives it too.
                log.exception("presence update failed")
            await asyncio.sleep(self.min_interval_s)
