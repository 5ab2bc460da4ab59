"""Parsers of each venue's public instrument list into ``feeds.instruments.Instrument`` rows.

- Binance spot ``GET /api/v3/exchangeInfo``: ``symbols[]`` with ``symbol``, ``status`` (TRADING, BREAK,
  HALT, ...), ``baseAsset``, ``quoteAsset``. A spot base is the coin's own name (``1000SATS`` is a coin).
- Binance USD-M ``GET /fapi/v1/exchangeInfo``: ``symbols[]`` with ``contractType`` (PERPETUAL, quarterly
  ones, ...), ``status`` (TRADING, SETTLING, PENDING_TRADING, CLOSE), ``baseAsset`` (``1000PEPE``: the
  multiplier is part of the name), ``quoteAsset``. ``GET /fapi/v1/fundingInfo`` lists only the symbols
  whose funding cap, floor or interval was *adjusted* (``fundingIntervalHours``); any other perpetual
  settles every 8 hours.
- Bybit ``GET /v5/market/instruments-info?category=linear|spot``: ``result.list[]`` with ``symbol``,
  ``contractType`` (LinearPerpetual, LinearFutures, InversePerpetual), ``status`` (Trading, PreLaunch,
  Settling, Delivering, Closed), ``baseCoin`` (``1000PEPE``, ``SHIB1000``), ``quoteCoin``,
  ``fundingInterval`` in *minutes*, and ``nextPageCursor`` (500 per page by default; more than 500
  linear symbols exist). Errors come as HTTP 200 with ``retCode != 0``.
- OKX ``GET /api/v5/public/instruments?instType=SWAP|SPOT``: ``instId``, ``state`` (live, suspend,
  preopen, test), ``ctType`` (linear/inverse), ``ctVal`` coins per contract in ``ctValCcy``,
  ``ctMult``, ``instFamily``/``uly`` (``PEPE-USDT``), ``baseCcy``/``quoteCcy`` for spot.

- Gate ``GET /api/v4/futures/usdt/contracts``: ``name`` (``BTC_USDT``), ``quanto_multiplier`` (coins per
  contract, a string), ``funding_interval`` in seconds, ``in_delisting`` and ``status`` (``trading``,
  ``delisting``, ``delisted``, ``circuit_breaker``).
- Hyperliquid ``POST /info {"type": "meta"}``: ``universe[]`` with ``name`` (``BTC``; ``kPEPE`` is 1,000
  PEPE, see ``feeds.hyperliquid_names``), ``szDecimals``, ``maxLeverage`` and ``isDelisted`` (only when
  true). Perpetuals quoted in USD (USDC collateral), funding every hour.

Sources: developers.binance.com spot "Exchange information" and USD-M "Exchange Information" and
"Get Funding Rate Info"; bybit-exchange/docs docs/v5/market/instrument.mdx; OKX API v5 "Get instruments".
Payload excerpts from those documents are under tests/data/instruments/.
"""

from __future__ import annotations

from typing import Any

from feeds.errors import FeedError
from feeds.hyperliquid_names import hyperliquid_coin
from feeds.instruments import Instrument, strip_multiplier
from feeds.okx import okx_data
from feeds.parse import BadItem, Parsed, envelope, integer, items_list, num, obj, parse_items, text

# Binance USD-M: a perpetual with no fundingInfo entry settles every 8 hours (the documented default).
BINANCE_DEFAULT_FUNDING_H = 8.0


def parse_binance_spot(payload: Any) -> Parsed[Instrument]:
    """Parse spot ``exchangeInfo`` into spot instruments (listed when ``status`` is TRADING)."""

    def one(item: Any) -> Instrument:
        status = text(item, "status")
        return Instrument(
            "binance",
            "spot",
            text(item, "symbol").upper(),
            text(item, "baseAsset").upper(),
            text(item, "quoteAsset").upper(),
            listed=status == "TRADING",
            status=status,
        )

    return parse_items(items_list(envelope(payload, "symbols", "binance exchangeInfo"), "symbols"), one)


def parse_binance_funding_info(payload: Any) -> dict[str, float]:
    """Parse ``/fapi/v1/fundingInfo`` into {symbol: funding interval in hours} (adjusted symbols only)."""
    intervals: dict[str, float] = {}
    for item in items_list(payload, "fundingInfo"):
        try:
            hours = num(item, "fundingIntervalHours", positive=True)
            intervals[text(item, "symbol").upper()] = hours
        except BadItem:
            continue
    return intervals


def parse_binance_futures(payload: Any, funding_hours: dict[str, float] | None = None) -> Parsed[Instrument]:
    """Parse USD-M ``exchangeInfo`` into perpetuals (other contract types are left out)."""
    hours = funding_hours or {}

    def one(item: Any) -> Instrument | None:
        if text(item, "contractType") != "PERPETUAL":
            return None  # quarterly delivery contracts and TradFi perpetuals are not watched markets
        symbol = text(item, "symbol").upper()
        status = text(item, "status")
        coin, multiplier = strip_multiplier(text(item, "baseAsset").upper())
        return Instrument(
            "binance_futures",
            "perp",
            symbol,
            coin,
            text(item, "quoteAsset").upper(),
            multiplier=multiplier,
            funding_interval_h=hours.get(symbol, BINANCE_DEFAULT_FUNDING_H),
            listed=status == "TRADING",
            status=status,
        )

    return parse_items(items_list(envelope(payload, "symbols", "binance exchangeInfo"), "symbols"), one)


def bybit_result(payload: Any) -> tuple[list[Any], str]:
    """Return (list, nextPageCursor) of a Bybit v5 instruments-info answer; raise on ``retCode != 0``."""
    code = envelope(payload, "retCode", "bybit instruments-info")
    if code != 0:
        raise FeedError("api", f"bybit instruments-info: retCode {code} ({str(payload.get('retMsg'))[:80]})")
    result = obj(envelope(payload, "result", "bybit instruments-info"), "result")
    cursor = result.get("nextPageCursor")
    return items_list(result.get("list"), "bybit instruments list"), cursor if isinstance(cursor, str) else ""


def parse_bybit(payload: Any, category: str) -> tuple[Parsed[Instrument], str]:
    """Parse one page of ``instruments-info`` (``linear`` or ``spot``); return it and the next cursor."""
    items, cursor = bybit_result(payload)

    def one(item: Any) -> Instrument | None:
        status = text(item, "status")
        symbol = text(item, "symbol").upper()
        base, quote = text(item, "baseCoin").upper(), text(item, "quoteCoin").upper()
        if category == "spot":
            return Instrument("bybit", "spot", symbol, base, quote, listed=status == "Trading", status=status)
        if text(item, "contractType") != "LinearPerpetual":
            return None  # dated futures; inverse contracts are listed under category=inverse
        coin, multiplier = strip_multiplier(base)
        minutes = obj(item).get("fundingInterval")
        interval = (
            minutes / 60
            if isinstance(minutes, int) and not isinstance(minutes, bool) and minutes > 0
            else None
        )
        return Instrument(
            "bybit",
            "perp",
            symbol,
            coin,
            quote,
            multiplier=multiplier,
            funding_interval_h=interval,
            listed=status == "Trading",
            status=status,
        )

    return parse_items(items, one), cursor


def parse_okx(payload: Any) -> Parsed[Instrument]:
    """Parse ``public/instruments`` (SWAP or SPOT) into instruments; swap sizes are in contracts."""

    def one(item: Any) -> Instrument | None:
        inst_id = text(item, "instId").upper()
        state = text(item, "state")
        inst_type = text(item, "instType")
        if inst_type == "SPOT":
            return Instrument(
                "okx",
                "spot",
                inst_id,
                text(item, "baseCcy").upper(),
                text(item, "quoteCcy").upper(),
                listed=state == "live",
                status=state,
            )
        if inst_type != "SWAP":
            return None
        family = str(obj(item).get("instFamily") or obj(item).get("uly") or inst_id.removesuffix("-SWAP"))
        base, _, quote = family.upper().partition("-")
        inverse = obj(item).get("ctType") == "inverse"
        mult = num(item, "ctMult", positive=True) if obj(item).get("ctMult") not in (None, "") else 1.0
        return Instrument(
            "okx",
            "perp",
            inst_id,
            base,
            quote,
            contract_size=num(item, "ctVal", positive=True) * mult,
            inverse=inverse,
            listed=state == "live",
            status=state,
        )

    return parse_items(okx_data(payload, "okx instruments"), one)


def parse_gate(payload: Any) -> Parsed[Instrument]:
    """Parse Gate's USDT-settled futures contracts into perpetuals (sizes in contracts)."""

    def one(item: Any) -> Instrument:
        name = text(item, "name").upper()
        base, _, quote = name.partition("_")
        if not base or not quote:
            raise BadItem(f"contract name {name!r} is not BASE_QUOTE")
        coin, multiplier = strip_multiplier(base)
        status = str(obj(item).get("status") or "trading")
        delisting = obj(item).get("in_delisting") is True
        return Instrument(
            "gate",
            "perp",
            name,
            coin,
            quote,
            multiplier=multiplier,
            contract_size=num(item, "quanto_multiplier", positive=True),
            funding_interval_h=_gate_funding_hours(item),
            listed=status == "trading" and not delisting,
            status="in_delisting" if delisting else status,
        )

    return parse_items(items_list(payload, "gate contracts"), one)


def _gate_funding_hours(item: Any) -> float | None:
    """Return a Gate contract's funding interval in hours (``funding_interval`` is in seconds)."""
    try:
        seconds = integer(obj(item).get("funding_interval"), "funding_interval")
    except BadItem:
        return None
    return seconds / 3600 if seconds > 0 else None


# Hyperliquid settles funding every hour on every perpetual (its docs, "Funding").
HYPERLIQUID_FUNDING_H = 1.0


def parse_hyperliquid_meta(payload: Any) -> Parsed[Instrument]:
    """Parse Hyperliquid's ``meta`` universe into perpetuals (``kPEPE``: PEPE with a multiplier of 1,000)."""

    def one(item: Any) -> Instrument:
        name = text(item, "name")
        coin, multiplier = hyperliquid_coin(name)
        delisted = obj(item).get("isDelisted") is True
        return Instrument(
            "hyperliquid",
            "perp",
            name,
            coin,
            "USD",
            multiplier=multiplier,
            funding_interval_h=HYPERLIQUID_FUNDING_H,
            listed=not delisted,
            status="delisted" if delisted else "",
        )

    universe = envelope(payload, "universe", "hyperliquid meta")
    return parse_items(items_list(universe, "hyperliquid universe"), one)
