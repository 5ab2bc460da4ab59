"""Market names as members and config files write them, resolved to the symbols Tripwire stores.

A member or a config file may name a market ("PEPE", "SHIB") or any venue's symbol for it
("1000PEPEUSDT", "SHIB1000USDT", "PEPE-USDT-SWAP"); Tripwire stores it under one canonical symbol,
``<coin><quote>`` (PEPEUSDT), with prices and sizes per coin. ``canonical_symbol`` gives that name
without any list (config loading is offline, ``bot.config`` applies it to every market name the config
writes); ``check_markets`` then checks each configured market against the venues' instrument lists
(``feeds.instruments``) and says what it resolved to on each venue, or refuses it with the closest
matches, each with its TOML path; ``resolve_market`` does the same for a name a member typed.
Pure: no network, no database, so the config, the services and ``tripwire check-config`` share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds.instruments import USD_QUOTES, InstrumentRegistry, split_symbol, strip_multiplier

_JUNK = re.compile(r"[\s/_:]+")
DEFAULT_QUOTE = "USDT"
MAX_BARE_COIN = 6


def canonical_symbol(text: str) -> str:
    """Return the symbol Tripwire stores a market under: ``1000PEPEUSDT``/``PEPE`` -> ``PEPEUSDT``.

    ``SHIB1000USDT`` -> SHIBUSDT, ``PEPE-USDT-SWAP`` -> PEPEUSDT, ``BTCFDUSD`` stays (BTC/FDUSD is a
    market of its own), ``ETH/USDT`` -> ETHUSDT. A short name with no known quote is a coin: in USDT.
    """
    cleaned = _JUNK.sub("", text.strip().upper())
    if cleaned.endswith("-SWAP"):
        cleaned = cleaned.removesuffix("-SWAP")
    try:
        base, quote = split_symbol(cleaned)
    except ValueError:
        coin, _ = strip_multiplier(cleaned.replace("-", ""))
        # A bare coin (PEPE, SHIB, 1000PEPE) is its USDT market; a longer name with no known quote is
        # left as written (a typo such as SOLUSTD), for the instrument lists to judge.
        return f"{coin}{DEFAULT_QUOTE}" if len(coin) <= MAX_BARE_COIN else cleaned
    coin, _ = strip_multiplier(base)
    return f"{coin}{quote}"


@dataclass(frozen=True, slots=True)
class MarketCheck:
    """What each configured market resolved to on the venues, and the ones no venue trades."""

    resolved: list[str]  # "symbols[3]: SOLUSDT -> SOLUSDT (SOL/USDT): binance spot SOLUSDT; ..."
    refused: list[tuple[str, str]]  # (TOML path, why, with the closest matches)


def check_markets(symbols: list[str], registry: InstrumentRegistry) -> MarketCheck:
    """Resolve every configured market against the venues' lists."""
    resolved: list[str] = []
    refused: list[tuple[str, str]] = []
    for i, symbol in enumerate(symbols):
        res = registry.resolve(symbol)
        if res.ok:
            resolved.append(f"symbols[{i}]: {res.message()}")
        else:
            refused.append((f"symbols[{i}]", res.message()))
    return MarketCheck(resolved, refused)


def resolve_market(
    text: str, watched: list[str], registry: InstrumentRegistry | None
) -> tuple[str, str | None]:
    """Return (watched symbol, what it resolved to) for a name a member typed, or raise ValueError.

    The note says which instrument trades it on each venue (None without instrument lists when the name
    is the symbol itself). ValueError carries the message for the member: a market no venue lists (with
    the closest ones), or one listed but not watched (add it to ``symbols``).
    """
    typed = text.strip()
    res = registry.resolve(typed) if registry is not None and registry.venues() else None
    symbol = res.canonical if res is not None and res.ok and res.canonical else canonical_symbol(typed)
    if symbol in watched:
        if res is not None and res.ok:
            return symbol, res.message()
        return symbol, None if typed.upper() == symbol else f"{typed} -> {symbol}"
    if res is not None and res.ok:
        raise ValueError(f"{res.message()} Tripwire does not watch it: add {symbol} to `symbols`.")
    if res is not None and res.unlisted:
        raise ValueError(res.message())  # known, but delisted or halted everywhere
    if res is not None and registry is not None:
        closest = [s for s in registry.closest(symbol) if s in watched] or list(res.suggestions)
        hint = f" Did you mean {', '.join(closest)}?" if closest else ""
        raise ValueError(f"{typed} is not a market any venue lists.{hint}")
    raise ValueError(f"Unknown symbol {typed}. Tripwire watches: {', '.join(watched) or 'none yet'}.")


def is_usd_quote(quote: str) -> bool:
    """Tell whether a quote counts as US dollars when venues are added up (USDT, USDC, FDUSD, ...)."""
    return quote in USD_QUOTES
