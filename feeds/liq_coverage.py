"""What each venue's liquidation number means: exact, a lower bound, or partial, and why.

Every liquidation source states its coverage once, here; ``/liquidations``, ``/status``, the README and
the live feed read it from this table, so a number is never shown without what it counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from feeds.health import FeedState, HealthRegistry

Label = Literal["exact", "lower bound", "partial"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """How complete one venue's public liquidation data is."""

    source: str  # the ``source`` column of the liquidation rows
    feed: str  # the feed-health entry that delivers them ("<feed>.liquidations")
    name: str  # the exchange's display name
    label: Label
    why: str  # one sentence: what the venue publishes

    def line(self) -> str:
        """Return the coverage line shown to members: "Binance: lower bound (at most one ...)"."""
        return f"{self.name}: {self.label} ({self.why})"


COVERAGE: dict[str, Coverage] = {
    c.source: c
    for c in (
        Coverage(
            "binance",
            "binance_futures",
            "Binance",
            "lower bound",
            "Binance pushes at most one liquidation per symbol per second",
        ),
        Coverage("bybit", "bybit", "Bybit", "exact", "allLiquidation pushes every liquidation"),
        Coverage(
            "okx",
            "okx",
            "OKX",
            "lower bound",
            "OKX shows at most one liquidation order per contract per second",
        ),
        Coverage(
            "gate",
            "gate",
            "Gate",
            "lower bound",
            "Gate pushes at most one liquidation order per contract per second",
        ),
        Coverage("htx", "htx", "HTX", "exact", "every liquidation order of the USDT swaps"),
        Coverage("deribit", "deribit", "Deribit", "exact", "every perpetual trade flagged as a liquidation"),
        Coverage(
            "hyperliquid",
            "hyperliquid",
            "Hyperliquid",
            "partial",
            "backstop liquidations only: public trades against the liquidator vault; "
            "market-order liquidations are not public",
        ),
    )
}


def coverage(source: str) -> Coverage | None:
    """Return the coverage of a liquidation source, or None for one without a statement (replayed data)."""
    return COVERAGE.get(source)


def source_of_feed(feed_name: str) -> str | None:
    """Return the liquidation source a feed-health entry ("gate.liquidations") delivers, if any."""
    prefix, _, kind = feed_name.partition(".")
    if kind != "liquidations":
        return None
    return next((c.source for c in COVERAGE.values() if c.feed == prefix), None)


def venues_down(health: HealthRegistry, symbol: str | None = None) -> list[Coverage]:
    """Return the liquidation venues whose feed delivers nothing now (for ``symbol``, or any), in feed order.

    Their events are missing from every total meanwhile: the totals say they are without them.
    """
    down: list[Coverage] = []
    for snap in health.snapshots():
        source = source_of_feed(snap.name)
        stated = coverage(source) if source is not None else None
        # Stale, or on standby after HTTP 451: either way none of its liquidations come in.
        if stated is None or snap.state not in (FeedState.STALE, FeedState.STANDBY):
            continue
        if symbol is None or snap.symbols is None or symbol in snap.symbols:
            down.append(stated)
    return down
