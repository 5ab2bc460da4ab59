"""Maintenance-margin tiers of the venues and the liquidation prices they give (/liqprice and the map).

Binance's formula for one isolated position in one-way mode (Binance FAQ "How to Calculate Liquidation
Price of USDⓈ-M Futures Contracts") with the wallet balance taken as the initial margin is

    long:  LP = EP * (1 - 1/leverage - cum/N) / (1 - MMR)
    short: LP = EP * (1 + 1/leverage + cum/N) / (1 + MMR)

Bybit (``/v5/market/risk-limit``: ``maintenanceMargin`` rate and ``mmDeduction``) and OKX
(``/api/v5/public/position-tiers``: ``mmr``) publish the same two numbers per tier; ``parse_bybit_risk_limit``
and ``parse_okx_position_tiers`` read those payloads into ``MarginTier`` rows. The tables the map uses are
below, each checked against its recorded payload in tests/data/tiers (tests/detectors/test_liqmap_tiers.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["long", "short"]


@dataclass(frozen=True, slots=True)
class MarginTier:
    """One bracket of an exchange's leverage and margin table (USD notional)."""

    floor: float  # the bracket starts above this notional...
    cap: float  # ...and ends at this one, inclusive
    mmr: float  # maintenance margin rate, decimal
    cum: float  # maintenance amount: maintenance margin = notional * mmr - cum
    max_leverage: int


def _tiers(*rows: tuple[float, float, float, float, int]) -> tuple[MarginTier, ...]:
    return tuple(MarginTier(*row) for row in rows)


# Binance USDⓈ-M leverage brackets (GET /fapi/v1/leverageBracket: notionalFloor, notionalCap,
# maintMarginRatio, cum, initialLeverage) as recorded on 2024-10-24 in freqtrade's
# freqtrade/exchange/binance_leverage_tiers.json (commit 3d9514d; unchanged since its 2024-08-31
# version). The first BTCUSDT bracket (up to 50,000 USDT: 125x, 0.40%) is the one Binance announced on
# 2021-03-18 ("Updates to Leverage and Margin Tiers of Binance Futures Contracts"), and every cum follows
# the FAQ's rule cum_n = floor_n * (mmr_n - mmr_n-1) + cum_n-1 (tests/bot/services/test_liqprice.py checks
# it).
# Binance changes these tables from time to time; the reply names the date.
TIERS_AS_OF = "2024-10-24"
BINANCE_TIERS: dict[str, tuple[MarginTier, ...]] = {
    "BTCUSDT": _tiers(
        (0, 50_000, 0.004, 0, 125),
        (50_000, 600_000, 0.005, 50, 100),
        (600_000, 3_000_000, 0.0065, 950, 75),
        (3_000_000, 12_000_000, 0.01, 11_450, 50),
        (12_000_000, 70_000_000, 0.02, 131_450, 25),
        (70_000_000, 100_000_000, 0.025, 481_450, 20),
        (100_000_000, 230_000_000, 0.05, 2_981_450, 10),
        (230_000_000, 480_000_000, 0.1, 14_481_450, 5),
        (480_000_000, 600_000_000, 0.125, 26_481_450, 4),
        (600_000_000, 800_000_000, 0.15, 41_481_450, 3),
        (800_000_000, 1_200_000_000, 0.25, 121_481_450, 2),
        (1_200_000_000, 1_800_000_000, 0.5, 421_481_450, 1),
    ),
    "ETHUSDT": _tiers(
        (0, 50_000, 0.004, 0, 125),
        (50_000, 600_000, 0.005, 50, 100),
        (600_000, 3_000_000, 0.0065, 950, 75),
        (3_000_000, 12_000_000, 0.01, 11_450, 50),
        (12_000_000, 50_000_000, 0.02, 131_450, 25),
        (50_000_000, 65_000_000, 0.025, 381_450, 20),
        (65_000_000, 150_000_000, 0.05, 2_006_450, 10),
        (150_000_000, 320_000_000, 0.1, 9_506_450, 5),
        (320_000_000, 400_000_000, 0.125, 17_506_450, 4),
        (400_000_000, 530_000_000, 0.15, 27_506_450, 3),
        (530_000_000, 800_000_000, 0.25, 80_506_450, 2),
        (800_000_000, 1_200_000_000, 0.5, 280_506_450, 1),
    ),
}

FORMULA = (
    "long: entry × (1 − 1/leverage − cum/size) ÷ (1 − MMR); "
    "short: entry × (1 + 1/leverage + cum/size) ÷ (1 + MMR)"
)


def liquidation_price(
    side: Side, entry: float, leverage: float, mmr: float, cum: float = 0.0, notional: float | None = None
) -> float:
    """Return the liquidation price for one maintenance margin rate and amount (<= 0: none above zero)."""
    if cum and not notional:
        raise ValueError("a maintenance amount needs the position's notional")
    amount = cum / notional if notional else 0.0
    if side == "long":
        return entry * (1 - 1 / leverage - amount) / (1 - mmr)
    return entry * (1 + 1 / leverage + amount) / (1 + mmr)


def tier_at(tiers: tuple[MarginTier, ...], notional: float) -> MarginTier | None:
    """Return the tier a notional falls in (the first one for zero), or None beyond the table."""
    for tier in tiers:
        if notional <= tier.cap:
            return tier
    return None


def solve(
    side: Side, entry: float, leverage: float, notional: float, tiers: tuple[MarginTier, ...]
) -> tuple[float, MarginTier]:
    """Return the liquidation price and the tier the position's notional is in at that price."""
    quantity = notional / entry
    for tier in tiers:
        price = liquidation_price(side, entry, leverage, tier.mmr, tier.cum, notional)
        if tier_at(tiers, quantity * max(price, 0.0)) is tier:
            return price, tier
    raise ValueError("the position is beyond the largest tier at its liquidation price")


# Bybit's /v5/market/risk-limit response example for linear BTCUSDT (tests/data/tiers, with its source):
# the first risk limit, up to 2,000,000 USDT at 0.5% maintenance and 100x. Only that tier is published
# in the example; a position beyond it is treated as beyond the table.
BYBIT_TIERS: dict[str, tuple[MarginTier, ...]] = {
    "BTCUSDT": _tiers((0, 2_000_000, 0.005, 0, 100)),
}
# OKX's /api/v5/public/position-tiers response example (BTC-USDT, tier 1): 0.4% maintenance, 125x, up to
# 200 contracts of 0.01 BTC. OKX sizes tiers in contracts: ``okx_tiers_usd`` turns the cap into USD at a
# price, which the map does at each entry (a 2 BTC cap is $190,000 at $95,000).
OKX_TIERS_BASE: dict[str, tuple[MarginTier, ...]] = {
    "BTCUSDT": _tiers((0, 2.0, 0.004, 0, 125)),
}


def okx_tiers_usd(tiers: tuple[MarginTier, ...], price: float) -> tuple[MarginTier, ...]:
    """Return OKX tiers sized in base units as USD notional tiers at ``price``."""
    return tuple(MarginTier(t.floor * price, t.cap * price, t.mmr, t.cum, t.max_leverage) for t in tiers)


def parse_bybit_risk_limit(payload: Mapping[str, Any]) -> dict[str, tuple[MarginTier, ...]]:
    """Read a Bybit ``/v5/market/risk-limit`` response into tiers per symbol (USD notional caps)."""
    if payload.get("retCode") != 0:
        raise ValueError(f"Bybit answered retCode {payload.get('retCode')!r}")
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in payload["result"]["list"]:
        rows.setdefault(str(row["symbol"]), []).append(row)
    tables: dict[str, tuple[MarginTier, ...]] = {}
    for symbol, items in rows.items():
        items.sort(key=lambda r: float(r["riskLimitValue"]))
        floor = 0.0
        built = []
        for item in items:
            cap = float(item["riskLimitValue"])
            deduction = float(item.get("mmDeduction") or 0)
            built.append(
                MarginTier(
                    floor, cap, float(item["maintenanceMargin"]), deduction, int(float(item["maxLeverage"]))
                )
            )
            floor = cap
        tables[symbol] = tuple(built)
    return tables


def parse_okx_position_tiers(
    rows: Sequence[Mapping[str, Any]], contract_value: float
) -> tuple[MarginTier, ...]:
    """Read OKX position-tier rows (sizes in contracts) into tiers sized in base units.

    OKX publishes no maintenance amount: the rate applies to the whole position, so ``cum`` is 0.
    """
    built = []
    for row in sorted(rows, key=lambda r: int(r["tier"])):
        low = float(row.get("minSz", row.get("minAmt", 0)) or 0)
        high = float(row.get("maxSz", row.get("maxAmt")))
        built.append(
            MarginTier(
                low * contract_value,
                high * contract_value,
                float(row["mmr"]),
                0.0,
                int(float(row["maxLever"])),
            )
        )
    return tuple(built)


def venue_tiers(venue: str, symbol: str, price: float) -> tuple[MarginTier, ...] | None:
    """Return a venue's tiers for a symbol in USD notional at ``price``, or None when none is known."""
    if venue == "okx":
        base = OKX_TIERS_BASE.get(symbol)
        return okx_tiers_usd(base, price) if base is not None else None
    table = {"binance": BINANCE_TIERS, "bybit": BYBIT_TIERS}.get(venue)
    return table.get(symbol) if table is not None else None
