"""Hyperliquid's measured liquidation map: real ``liquidationPx`` of sampled public accounts, binned.

On Hyperliquid every account's positions are public: ``POST /info {"type":"clearinghouseState","user":..}``
answers each position's size (``szi``, negative for a short), value and the venue's own liquidation price
(``liquidationPx``; null when the account's margin covers any move). Accounts are discovered for free
from the public ``trades`` websocket channel, whose fills name both parties (``users``: buyer, seller).

The budget. Hyperliquid allows 1,200 request weight per minute per IP for all REST calls together;
``clearinghouseState`` weighs 2 (docs: "Rate limits and user limits"). Polling N accounts every P minutes
costs 2·N/P a minute. ``HyperliquidSample`` (``[liqmap.hyperliquid]``, detectors.liqmap.params) refuses a
plan above its budget, by default 120 a minute (a tenth of the IP's allowance, leaving the rest to the other
feeds): 300 accounts every 5 minutes. That is a sample: ``coverage`` says what share of open interest it
holds, and the sampled map is the measured one only in that proportion. The sample is off by default.

This module parses, discovers, budgets and bins (pure, tested on recorded payloads); the poller that would
run it against the venue is not wired into the bot yet (docs/liquidation-map.md says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from detectors.liqmap.params import CLEARINGHOUSE_STATE_WEIGHT, IP_WEIGHT_PER_MINUTE, HyperliquidSample


class MeasuredPosition(NamedTuple):
    """One account's position with the venue's own liquidation price."""

    user: str
    coin: str
    side: Literal["long", "short"]
    size: float  # coins, positive
    value_usd: float
    entry: float
    liquidation_px: float | None  # None: the margin covers any move
    leverage: float
    margin: Literal["cross", "isolated"]


def parse_clearinghouse_state(user: str, payload: Mapping[str, Any]) -> list[MeasuredPosition]:
    """Read a ``clearinghouseState`` answer into positions (closed ones, size 0, left out)."""
    positions: list[MeasuredPosition] = []
    for entry in payload["assetPositions"]:
        raw = entry["position"]
        size = float(raw["szi"])
        if size == 0:
            continue
        liq = raw.get("liquidationPx")
        leverage = raw.get("leverage") or {}
        positions.append(
            MeasuredPosition(
                user,
                str(raw["coin"]),
                "long" if size > 0 else "short",
                abs(size),
                float(raw["positionValue"]),
                float(raw["entryPx"]),
                float(liq) if liq is not None else None,
                float(leverage.get("value", 0) or 0),
                "isolated" if leverage.get("type") == "isolated" else "cross",
            )
        )
    return positions


class AccountBook:
    """The accounts seen trading, most recent last, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: dict[str, int] = {}

    def add_trades(self, frame: Mapping[str, Any]) -> int:
        """Note both parties of every fill of a ``trades`` frame; return how many accounts are new."""
        if frame.get("channel") != "trades":
            return 0
        new = 0
        for fill in frame.get("data") or ():
            for user in fill.get("users") or ():
                key = str(user).lower()
                if key not in self._seen:
                    new += 1
                self._seen.pop(key, None)
                self._seen[key] = int(fill.get("time", 0))
        while len(self._seen) > self.limit:
            del self._seen[next(iter(self._seen))]  # the one seen longest ago
        return new

    def accounts(self) -> list[str]:
        """Return the accounts to poll, most recently seen first."""
        return list(reversed(self._seen))


class MeasuredMap(NamedTuple):
    """Sampled positions of one coin binned by their real liquidation price."""

    coin: str
    longs: dict[float, float]  # bin's lower price → USD
    shorts: dict[float, float]
    sampled_usd: float  # value of every sampled position of the coin (with or without a liquidation price)
    accounts: int

    def coverage(self, open_interest_usd: float) -> float:
        """Return the share of the venue's open interest the sample holds (0..1)."""
        return min(1.0, self.sampled_usd / open_interest_usd) if open_interest_usd > 0 else 0.0


def measured_map(coin: str, positions: Iterable[MeasuredPosition], bin_pct: float) -> MeasuredMap:
    """Bin the positions of one coin by liquidation price (the map's log bins of ``bin_pct``)."""
    step = math.log1p(bin_pct / 100)
    longs: dict[float, float] = {}
    shorts: dict[float, float] = {}
    sampled = 0.0
    users: set[str] = set()
    for p in positions:
        if p.coin != coin:
            continue
        sampled += p.value_usd
        users.add(p.user)
        if p.liquidation_px is None or p.liquidation_px <= 0:
            continue
        low = math.exp(math.floor(math.log(p.liquidation_px) / step) * step)
        bins = longs if p.side == "long" else shorts
        bins[low] = bins.get(low, 0.0) + p.value_usd
    return MeasuredMap(coin, longs, shorts, sampled, len(users))


__all__ = [
    "CLEARINGHOUSE_STATE_WEIGHT",
    "IP_WEIGHT_PER_MINUTE",
    "AccountBook",
    "HyperliquidSample",
    "MeasuredMap",
    "MeasuredPosition",
    "measured_map",
    "parse_clearinghouse_state",
]
