"""The instrument lists the emulated venues serve, and which symbols each one therefore knows.

Binance USD-M is built from a real list: the 521 symbols of the recorded 2025-06-17 ``premiumIndex``
response (tests/data/fixtures/binance_fapi_v1_premiumIndex_all_symbols_20250617.json), with their real
names (``1000PEPEUSDT``, ``1000000MOGUSDT``, ``1000SATSUSDT``, USDC-quoted ones, two quarterly contracts
per coin) and the funding interval each one's recorded ``nextFundingTime`` shows (1, 2, 4 or 8 h). The
fields that response does not have (status, baseAsset/quoteAsset) follow Binance's naming rules.

The other lists are SYNTHETIC, made from that real one, because no full list of theirs was recorded:
- Binance spot: each USD-M coin once, as ``<coin>USDT`` (the 1000x prefix is a futures convention;
  ``1000SATS`` keeps its name, it is the coin's own), plus BTC and ETH against FDUSD, USDC and TUSD, and
  ``LUNAUSDT`` in status BREAK (delisted, still in the list, as Binance keeps such pairs).
- Bybit linear: every USDT perpetual of the Binance list under Bybit's name (Binance ``1000SHIBUSDT`` is
  Bybit ``SHIB1000USDT``), with the same funding interval in minutes, plus ``LUNAUSDT`` Closed; Bybit
  inverse: BTCUSD and ETHUSD (InversePerpetual).
- Binance USD-M also lists ``LUNAUSDT`` as SETTLING (a delisting perpetual).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from .data import HOUR_MS, Dataset

# Bybit's own names where they differ from Binance's (the multiplier written after the coin).
BYBIT_RENAMES = {"1000SHIBUSDT": "SHIB1000USDT"}
SPOT_EXTRA_QUOTES = ("FDUSD", "USDC", "TUSD")
DELISTED = "LUNAUSDT"
QUOTES = ("USDT", "USDC", "BTC")


def _split(symbol: str) -> tuple[str, str]:
    for quote in QUOTES:
        if symbol.endswith(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(symbol)


def _coin(base: str) -> tuple[str, int]:
    """Return (coin, multiplier) of a futures base: 1000PEPE -> (PEPE, 1000); 1000SATS stays."""
    digits = len(base) - len(base.lstrip("0123456789"))
    head = base[:digits]
    if head and head.startswith("1") and set(head[1:]) == {"0"} and len(head) >= 4 and base != "1000SATS":
        return base[digits:], int(head)
    return base, 1


def funding_interval_ms(item: dict[str, Any]) -> int:
    """Return the funding interval a recorded premiumIndex item's nextFundingTime is aligned to."""
    return next(
        (
            h * HOUR_MS
            for h in (8, 4, 2, 1)
            if item["nextFundingTime"] % (h * HOUR_MS) == 0
            and item["nextFundingTime"] - item["time"] <= h * HOUR_MS
        ),
        8 * HOUR_MS,
    )


@dataclass(frozen=True, slots=True)
class Listing:
    """One instrument of an emulated venue: its name, coin, multiplier, quote and funding interval."""

    symbol: str
    coin: str
    multiplier: int
    quote: str
    interval_ms: int
    price: Decimal  # per unit of this instrument (per 1000 coins for 1000PEPEUSDT), from the recording
    status: str


class Listings:
    """Every emulated venue's instruments, derived once from the recorded premiumIndex response."""

    def __init__(self, data: Dataset) -> None:
        self.data = data

    @cached_property
    def futures(self) -> dict[str, Listing]:
        """Binance USD-M: the recorded symbols (perpetuals and quarterlies) plus LUNAUSDT settling."""
        found: dict[str, Listing] = {}
        for item in self.data.premium_index_fixture:
            symbol = item["symbol"]
            base, quote = _split(symbol.split("_")[0])
            coin, mult = _coin(base)
            found[symbol] = Listing(
                symbol, coin, mult, quote, funding_interval_ms(item), Decimal(item["markPrice"]), "TRADING"
            )
        found[DELISTED] = Listing(DELISTED, "LUNA", 1, "USDT", 8 * HOUR_MS, Decimal("0.1"), "SETTLING")
        return found

    def per_coin(self, coin: str) -> Decimal | None:
        """Return one coin's USDT price at the recording (from its USDT perpetual), if listed."""
        for listing in self.futures.values():
            if listing.coin == coin and listing.quote == "USDT" and "_" not in listing.symbol:
                return listing.price / listing.multiplier
        return None

    @cached_property
    def spot(self) -> dict[str, Listing]:
        """Binance spot (SYNTHETIC): each USDT-perpetual coin against USDT, BTC/ETH against stablecoins."""
        found: dict[str, Listing] = {}
        for listing in self.futures.values():
            if listing.quote != "USDT" or "_" in listing.symbol or listing.symbol == DELISTED:
                continue
            name = f"{listing.coin}USDT"
            found[name] = Listing(
                name, listing.coin, 1, "USDT", 0, listing.price / listing.multiplier, "TRADING"
            )
        for coin in ("BTC", "ETH"):
            price = self.per_coin(coin) or Decimal(1)
            for quote in SPOT_EXTRA_QUOTES:
                found[f"{coin}{quote}"] = Listing(f"{coin}{quote}", coin, 1, quote, 0, price, "TRADING")
        found[DELISTED] = Listing(DELISTED, "LUNA", 1, "USDT", 0, Decimal("0.1"), "BREAK")
        return found

    @cached_property
    def bybit_linear(self) -> dict[str, Listing]:
        """Bybit linear (SYNTHETIC): Binance's USDT perpetuals under Bybit's names, plus LUNAUSDT closed."""
        found: dict[str, Listing] = {}
        for listing in self.futures.values():
            if listing.quote != "USDT" or "_" in listing.symbol or listing.symbol == DELISTED:
                continue
            name = BYBIT_RENAMES.get(listing.symbol, listing.symbol)
            found[name] = Listing(
                name,
                listing.coin,
                listing.multiplier,
                "USDT",
                listing.interval_ms,
                listing.price,
                "Trading",
            )
        found[DELISTED] = Listing(DELISTED, "LUNA", 1, "USDT", 8 * HOUR_MS, Decimal("0.1"), "Closed")
        return found

    def trading(self, listings: dict[str, Listing], symbol: str) -> Listing | None:
        """Return the listing of ``symbol`` if it trades (TRADING / Trading)."""
        listing = listings.get(symbol)
        return listing if listing is not None and listing.status.upper() == "TRADING" else None

    # --- payloads ---------------------------------------------------------------------------------------

    def binance_spot_payload(self, now_ms: int) -> dict[str, Any]:
        """Return ``/api/v3/exchangeInfo`` in Binance's documented shape (filters left empty)."""
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": s.symbol,
                    "status": s.status,
                    "baseAsset": s.coin,
                    "baseAssetPrecision": 8,
                    "quoteAsset": s.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "MARKET"],
                    "isSpotTradingAllowed": s.status == "TRADING",
                    "filters": [],
                    "permissions": [],
                }
                for s in self.spot.values()
            ],
        }

    def binance_futures_payload(self, now_ms: int) -> dict[str, Any]:
        """Return ``/fapi/v1/exchangeInfo`` in Binance's documented shape (filters left empty)."""
        symbols: list[dict[str, Any]] = []
        for s in self.futures.values():
            quarterly = "_" in s.symbol
            base = s.coin if s.multiplier == 1 else f"{s.multiplier}{s.coin}"
            symbols.append(
                {
                    "symbol": s.symbol,
                    "pair": s.symbol.split("_")[0],
                    "contractType": "CURRENT_QUARTER" if quarterly else "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": s.status,
                    "baseAsset": base,
                    "quoteAsset": s.quote,
                    "marginAsset": s.quote,
                    "pricePrecision": 8,
                    "quantityPrecision": 0,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "filters": [],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": symbols,
        }

    def binance_funding_info_payload(self) -> list[dict[str, Any]]:
        """Return ``/fapi/v1/fundingInfo``: the symbols whose interval was moved off 8 h, as on Binance."""
        return [
            {
                "symbol": s.symbol,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": s.interval_ms // HOUR_MS,
                "disclaimer": False,
            }
            for s in self.futures.values()
            if s.interval_ms != 8 * HOUR_MS and "_" not in s.symbol
        ]

    def bybit_items(self, category: str) -> list[dict[str, Any]]:
        """Return Bybit instruments-info items of a category in the documented shape."""
        if category == "inverse":
            return [
                {
                    "symbol": f"{coin}USD",
                    "contractType": "InversePerpetual",
                    "status": "Trading",
                    "baseCoin": coin,
                    "quoteCoin": "USD",
                    "settleCoin": coin,
                    "fundingInterval": 480,
                }
                for coin in ("BTC", "ETH")
            ]
        if category != "linear":
            return []
        return [
            {
                "symbol": s.symbol,
                "contractType": "LinearPerpetual",
                "status": s.status,
                "baseCoin": s.symbol.removesuffix("USDT"),
                "quoteCoin": "USDT",
                "settleCoin": "USDT",
                "launchTime": "1585526400000",
                "deliveryTime": "0",
                "fundingInterval": s.interval_ms // 60_000,
                "isPreListing": False,
                "preListingInfo": None,
            }
            for s in self.bybit_linear.values()
        ]
