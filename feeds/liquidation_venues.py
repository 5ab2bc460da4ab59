"""Build the liquidation-only venues (Gate, HTX, Deribit, Hyperliquid) that are switched on."""

from __future__ import annotations

from collections.abc import Callable

from feeds.base import Feed
from feeds.config import FeedsConfig
from feeds.context import FeedContext
from feeds.deribit import DeribitFeed
from feeds.gate import GateFeed
from feeds.http import HttpClient
from feeds.htx import HtxFeed
from feeds.hyperliquid import HyperliquidFeed

ClientFactory = Callable[[str, str, float], HttpClient]


def liquidation_feeds(config: FeedsConfig, context: FeedContext, client: ClientFactory) -> list[Feed]:
    """Return a feed for every enabled liquidation-only venue."""
    feeds: list[Feed] = []
    if config.gate.enabled:
        gate = config.gate
        feeds.append(GateFeed(gate, client("gate", gate.rest_url, gate.timeout_seconds), context))
    if config.htx.enabled:
        feeds.append(HtxFeed(config.htx, context))
    if config.deribit.enabled:
        feeds.append(DeribitFeed(config.deribit, context))
    if config.hyperliquid.enabled:
        feeds.append(HyperliquidFeed(config.hyperliquid, context))
    return feeds
