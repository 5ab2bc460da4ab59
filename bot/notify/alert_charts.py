"""Charts on alerts: the PNG of the hours before an alert, for the guilds that switched it on.

The Discord sink asks its ``AttachmentHook`` for a file before posting an alert; ``AlertCharts`` is that
hook. The chart's data is read on the event loop (a few indexed queries), the drawing runs in a worker
thread (matplotlib is CPU-bound), and a chart that cannot be drawn is logged and left out: it never holds
back or fails the alert itself. No ``import discord`` here: the sink turns an ``Attachment`` into a file.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.alerts.model import CHART_ALERTS
from bot.charts.data import event_chart_spec
from bot.charts.spec import Theme
from bot.errors import UserError
from detectors.base import MARKET_SYMBOL
from storage.repo import OutboxRow, Repo

log = logging.getLogger(__name__)

# Charts drawn at once; a burst (a cascade across symbols) waits its turn instead of taking every core.
MAX_CONCURRENT_RENDERS = 2
# Charts kept per event: an alert posted to several channels, or retried, is drawn once.
CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to post with a message."""

    filename: str
    data: bytes


AttachmentHook = Callable[[OutboxRow], Awaitable[Attachment | None]]


class AlertCharts:
    """Draw the chart of the moments before an alert, when its guild asked for charts on alerts."""

    def __init__(self, repo: Repo, *, theme: Theme = "dark", everywhere: bool = False) -> None:
        self.repo = repo
        self.theme = theme
        # True: every alert gets a chart, whatever the guild's setting (a config rule posted to a channel
        # outside any route has no guild to ask).
        self.everywhere = everywhere
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_RENDERS)
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def wanted(self, row: OutboxRow) -> bool:
        """Return whether this delivery should carry a chart: a new alert of a symbol, charts switched on."""
        payload = row.payload
        if row.kind != "alert" or row.event_id is None or payload.get("state") != "firing":
            return False
        if payload.get("symbol") in (None, MARKET_SYMBOL):
            return False  # market-wide alerts (Fear & Greed) have no candles to draw
        if self.everywhere:
            return True
        guild_id = payload.get("guild_id")
        if not isinstance(guild_id, int):
            return False
        settings = self.repo.guild_settings(guild_id)
        return settings is not None and bool(settings.settings.get(CHART_ALERTS))

    async def __call__(self, row: OutboxRow) -> Attachment | None:
        """Return the alert's chart for this delivery, or None (not wanted, or it cannot be drawn)."""
        if not self.wanted(row) or row.event_id is None:
            return None
        filename = f"alert-{row.event_id}.png"
        cached = self._cache.get(row.event_id)
        if cached is not None:
            return Attachment(filename, cached)
        event = self.repo.event(row.event_id)
        if event is None:
            return None  # pruned meanwhile: the alert goes out without its chart
        try:
            spec = event_chart_spec(self.repo, event, theme=self.theme)
        except UserError as exc:
            log.info("no chart for alert %d: %s", event.id, exc)
            return None
        async with self._slots:
            try:
                from bot.charts.draw import (
                    render_chart,  # matplotlib loads with the first chart, not at start-up
                )

                png = await asyncio.to_thread(render_chart, spec)
            except Exception:
                log.exception("drawing the chart of alert %d failed; posting it without", event.id)
                return None
        self._cache[event.id] = png
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return Attachment(filename, png)
