"""The frame shared by the liquidation-only venues: one websocket stream written through a buffer.

Each venue module (``feeds.gate``, ``feeds.htx``, ``feeds.deribit``, ``feeds.hyperliquid``) keeps its own
naming, parsing and subscription; this base holds what they all do the same way around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from feeds.base import Feed, PollJob, Stream
from feeds.batch import LiquidationBuffer
from feeds.context import FeedContext
from feeds.health import FeedHealth


class LiquidationOnlyFeed(Feed):
    """A venue whose whole feed is one liquidation stream; subclasses set ``symbols`` and ``stream``."""

    symbols: list[str]
    buffer: LiquidationBuffer
    stream: Stream

    def venue_names(self, context: FeedContext, names_of: Callable[[str], Iterable[str]]) -> dict[str, str]:
        """Map each venue name to its watched symbol; reject the symbols the venue cannot name."""
        names: dict[str, str] = {}
        for symbol in context.symbols:
            try:
                for name in names_of(symbol):
                    names[name] = symbol
            except ValueError as exc:
                context.registry.rejections.reject(self.name, symbol, str(exc))
        return names

    def open_buffer(self, context: FeedContext, stale_after_s: float) -> FeedHealth:
        """Build the buffer liquidations are written through; register and return the stream's health."""
        self.buffer = LiquidationBuffer(
            context.ingest,
            interval_s=context.tuning.flush_interval_s,
            max_events=context.tuning.flush_max_events,
        )
        return context.registry.register(
            f"{self.name}.liquidations",
            {"liquidations"},
            self.symbols,
            stale_after_s=stale_after_s,
        )

    def jobs(self) -> list[PollJob]:
        """Return nothing to poll: the stream is the whole feed."""
        return []

    def streams(self) -> list[Stream]:
        """Return the liquidation stream."""
        return [self.stream]

    async def aclose(self) -> None:
        """Write buffered liquidations."""
        self.buffer.flush()
