"""Hyperliquid's coin names for the watched markets, with its 1000-unit coins (``kPEPE``) put back per coin.

Hyperliquid names a perpetual by its coin alone (``BTC``), and a coin too cheap to trade one at a time by
a lower-case ``k`` before it: ``kPEPE`` is 1,000 PEPE, so its prices (``px``, ``markPx``) are 1,000 times
PEPE's and its sizes (``sz``, ``openInterest``) a thousandth of the coins they stand for. The name is
case-sensitive: ``KAVA`` is the coin KAVA. Tripwire stores both under the canonical ``PEPEUSDT`` with prices
and sizes per coin, as it does Binance's ``1000PEPEUSDT``.

Which name a watched market trades under comes from Hyperliquid's own list (``POST /info {"type":"meta"}``,
``universe[].name``) in the instrument registry when it was read; without it (an offline first start) the
coin's plain name is asked, as before the registry existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from feeds.instruments import InstrumentRegistry, split_symbol

VENUE = "hyperliquid"
THOUSANDS = 1000
_THOUSANDS = re.compile(r"^k([A-Z0-9]+)$")


def hyperliquid_coin(name: str) -> tuple[str, int]:
    """Return (coin, coins per unit) of a Hyperliquid name: ``kPEPE`` -> (PEPE, 1000), ``BTC`` -> (BTC, 1)."""
    if match := _THOUSANDS.match(name):
        return match.group(1), THOUSANDS
    return name, 1


def per_coin(name: str, price: float, size: float) -> tuple[float, float]:
    """Return (price of one coin, size in coins) of a price and a size quoted under a Hyperliquid name."""
    _, multiplier = hyperliquid_coin(name)
    return price / multiplier, size * multiplier


def coin_of(symbol: str) -> str:
    """Return the coin of a canonical symbol (``PEPEUSDT`` -> PEPE); raise ValueError if it has no quote."""
    return split_symbol(symbol)[0]


def watched_by_coin(symbols: list[str]) -> dict[str, str]:
    """Map each watched market's coin to its symbol (the first one when a coin has several quotes)."""
    coins: dict[str, str] = {}
    for symbol in symbols:
        try:
            coins.setdefault(coin_of(symbol), symbol)
        except ValueError:
            continue
    return coins


def symbol_of(name: str, coins: Mapping[str, str]) -> str | None:
    """Return the watched symbol a Hyperliquid name trades (``kPEPE`` -> PEPEUSDT), given coin -> symbol."""
    return coins.get(hyperliquid_coin(name)[0])


def listed_names(registry: InstrumentRegistry | None) -> dict[str, str]:
    """Map each coin to the name Hyperliquid's list trades it under (PEPE -> kPEPE); empty without a list."""
    if registry is None or VENUE not in registry.fetched_at:
        return {}
    return {i.base: i.symbol for i in registry.instruments if i.venue == VENUE and i.listed}


def subscription_name(symbol: str, listed: dict[str, str]) -> str:
    """Return the name to ask Hyperliquid for a watched market (``kPEPE`` for PEPEUSDT when listed so).

    A coin the list lacks keeps its plain name, for the venue to refuse (the stream reports that refusal
    per coin). Raise ValueError for a symbol with no coin.
    """
    coin = coin_of(symbol)
    return listed.get(coin, coin)
