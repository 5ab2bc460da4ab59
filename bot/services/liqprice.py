"""Estimate where an isolated-margin USDⓈ-M linear perpetual position is liquidated (``/liqprice``).

Binance's formula for one isolated position in one-way mode (Binance FAQ "How to Calculate Liquidation
Price of USDⓈ-M Futures Contracts", binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93) is

    LP = (WB + cum - side * Q * EP) / (Q * MMR - side * Q)

where WB is the isolated wallet balance, Q the quantity, EP the entry price, side +1 for a long and -1 for
a short, and MMR and cum the maintenance margin rate and maintenance amount of the position's tier. With
WB taken as the initial margin (notional / leverage: fees and funding ignored) and N = Q * EP it becomes

    long:  LP = EP * (1 - 1/leverage - cum/N) / (1 - MMR)
    short: LP = EP * (1 + 1/leverage + cum/N) / (1 + MMR)

The tier is the one the position's notional falls in *at the liquidation price*: the FAQ says to
recalculate with the other tier's rate and amount when the two differ. Because the maintenance margin
``N * MMR - cum`` is continuous across tiers, exactly one tier is consistent, and ``solve`` finds it.

Nothing here imports discord; ``quote`` returns a frozen view or raises ``UserError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bot.errors import UserError
from bot.parsing import echo
from bot.services import Service
from detectors.base import format_price, format_usd
from detectors.liqmap.tiers import (
    BINANCE_TIERS,
    FORMULA,
    TIERS_AS_OF,
    MarginTier,
    Side,
    liquidation_price,
    solve,
    tier_at,
)

MarginMode = Literal["isolated", "cross"]

MIN_LEVERAGE = 1.0
MAX_LEVERAGE = 125.0  # Binance's highest (BTCUSDT/ETHUSDT first tier); no venue here offers more
MAX_SIZE_USD = 1e9
# An entry more than this many times away from the current price (either way) is almost surely a typo:
# one zero too many or too few is a factor of 10.
MAX_ENTRY_FACTOR = 5.0
# Used for symbols without a known table. Binance's first-tier rates for USDT perpetuals run from 0.40%
# (BTC, ETH) to about 1.5% for small caps; 1% sits between, and the reply says it was assumed.
DEFAULT_MMR = 0.01


@dataclass(frozen=True, slots=True)
class LiqPriceView:
    """An estimated liquidation price with what it was computed from and how far it is."""

    symbol: str
    side: Side
    entry: float
    leverage: float
    notional: float | None
    liquidation_price: float | None  # None: a long that is not liquidated above zero
    mmr: float
    cum: float
    basis: str  # where the maintenance margin rate came from, for the footer
    current_price: float | None
    current_at: int | None
    current_source: str | None

    @property
    def move_from_entry_pct(self) -> float | None:
        """Return the price move from entry that liquidates, in percent (negative for a long)."""
        if self.liquidation_price is None:
            return None
        return (self.liquidation_price - self.entry) / self.entry * 100

    @property
    def distance_usd(self) -> float | None:
        """Return liquidation price minus current price, or None."""
        if self.liquidation_price is None or self.current_price is None:
            return None
        return self.liquidation_price - self.current_price

    @property
    def distance_pct(self) -> float | None:
        """Return the move from the current price that liquidates, in percent."""
        distance = self.distance_usd
        if distance is None or self.current_price is None:
            return None
        return distance / self.current_price * 100

    @property
    def already_past(self) -> bool:
        """Return whether the current price is already beyond the liquidation price."""
        distance = self.distance_usd
        if distance is None:
            return False
        return distance >= 0 if self.side == "long" else distance <= 0

    @property
    def assumptions(self) -> str:
        """Return the formula and its assumptions, one line for a footer."""
        return (
            f"Isolated margin, USDⓈ-M linear perpetual; liquidation when the mark price reaches it; fees, "
            f"funding and added margin ignored. MMR {self.mmr * 100:.2f}%, cum {format_usd(self.cum)} "
            f"({self.basis}). {FORMULA}."
        )


def estimate(
    symbol: str,
    side: Side,
    entry: float,
    leverage: float,
    *,
    margin_mode: MarginMode = "isolated",
    mmr_pct: float | None = None,
    size_usd: float | None = None,
    current: tuple[float, int, str] | None = None,
    tiers: dict[str, tuple[MarginTier, ...]] | None = None,
) -> LiqPriceView:
    """Return the liquidation price of a position, or raise UserError saying what is wrong with it."""
    if margin_mode == "cross":
        raise UserError(
            "Cross margin is not supported: a cross position's liquidation price depends on the whole "
            "futures wallet and on every other open position, which Tripwire cannot see. Use "
            "`margin_mode: isolated` for the price at which the position's own margin runs out."
        )
    if not math.isfinite(entry) or entry <= 0:
        raise UserError(f"The entry price must be a positive number; you gave {echo(entry)}.")
    if not math.isfinite(leverage) or not MIN_LEVERAGE <= leverage <= MAX_LEVERAGE:
        raise UserError(
            f"Leverage must be between {MIN_LEVERAGE:g}x and {MAX_LEVERAGE:g}x; you gave {echo(leverage)}."
        )
    if mmr_pct is not None and (not math.isfinite(mmr_pct) or not 0 < mmr_pct < 100):
        raise UserError(
            "The maintenance margin rate is a percentage above 0 and below 100 (Binance's BTCUSDT starts at "
            f"0.4); you gave {echo(mmr_pct)}."
        )
    if size_usd is not None and (not math.isfinite(size_usd) or not 0 < size_usd <= MAX_SIZE_USD):
        raise UserError(
            f"The position size is its notional in USD, above $0 and at most {format_usd(MAX_SIZE_USD)}; "
            f"you gave {echo(size_usd)}."
        )
    current_price = current[0] if current is not None else None
    if current_price is not None and current_price > 0:
        factor = max(entry / current_price, current_price / entry)
        if factor > MAX_ENTRY_FACTOR:
            raise UserError(
                f"An entry of {format_price(entry)} is {factor:.1f}× away from {symbol}'s current price "
                f"({format_price(current_price)}); check for a missing or extra digit."
            )
    table = (BINANCE_TIERS if tiers is None else tiers).get(symbol)
    price, tier, basis = _price_and_rate(symbol, side, entry, leverage, mmr_pct, size_usd, table)
    mmr, cum = tier.mmr, tier.cum
    if (side == "long" and price >= entry) or (side == "short" and price <= entry):
        raise UserError(
            f"At {leverage:g}x the margin ({100 / leverage:.2f}% of the position) does not cover the "
            f"{mmr * 100:.2f}% maintenance margin: the position would be liquidated as soon as it opened."
        )
    return LiqPriceView(
        symbol=symbol,
        side=side,
        entry=entry,
        leverage=leverage,
        notional=size_usd,
        liquidation_price=price if price > 0 else None,
        mmr=mmr,
        cum=cum,
        basis=basis,
        current_price=current_price,
        current_at=current[1] if current is not None else None,
        current_source=current[2] if current is not None else None,
    )


def _price_and_rate(
    symbol: str,
    side: Side,
    entry: float,
    leverage: float,
    mmr_pct: float | None,
    size_usd: float | None,
    table: tuple[MarginTier, ...] | None,
) -> tuple[float, MarginTier, str]:
    """Return the liquidation price, the maintenance rate and amount used, and where they came from."""
    if mmr_pct is not None:
        given = MarginTier(0, math.inf, mmr_pct / 100, 0, int(MAX_LEVERAGE))
        return liquidation_price(side, entry, leverage, given.mmr), given, "the rate you gave"
    if table is None:
        assumed = MarginTier(0, math.inf, DEFAULT_MMR, 0, int(MAX_LEVERAGE))
        basis = f"assumed: no margin table for {symbol} is known"
        return liquidation_price(side, entry, leverage, assumed.mmr), assumed, basis
    if size_usd is None:
        first = table[0]
        basis = (
            f"Binance {symbol} first tier, positions up to {format_usd(first.cap)}, table of {TIERS_AS_OF}; "
            "give size_usd for a larger one"
        )
        return liquidation_price(side, entry, leverage, first.mmr), first, basis
    price, tier = _solve_in_table(symbol, side, entry, leverage, size_usd, table)
    basis = (
        f"Binance {symbol} tier {table.index(tier) + 1}, {format_usd(tier.floor)}–{format_usd(tier.cap)} "
        f"at the liquidation price, table of {TIERS_AS_OF}"
    )
    return price, tier, basis


def _solve_in_table(
    symbol: str, side: Side, entry: float, leverage: float, size_usd: float, table: tuple[MarginTier, ...]
) -> tuple[float, MarginTier]:
    """Refuse a leverage the exchange does not allow for this size, else solve within the table."""
    opening = tier_at(table, size_usd)
    if opening is not None and leverage > opening.max_leverage:
        raise UserError(
            f"Binance allows at most {opening.max_leverage}x on a {symbol} position of "
            f"{format_usd(size_usd)} (table of {TIERS_AS_OF}); lower the leverage or the size."
        )
    try:
        if opening is None:
            raise ValueError("beyond the table at entry")
        return solve(side, entry, leverage, size_usd, table)
    except ValueError:
        raise UserError(f"A {format_usd(size_usd)} position is beyond Binance's {symbol} table.") from None


def quote(
    service: Service,
    symbol: str,
    side: Side,
    entry: float,
    leverage: float,
    *,
    margin_mode: MarginMode = "isolated",
    mmr_pct: float | None = None,
    size_usd: float | None = None,
) -> LiqPriceView:
    """Resolve the symbol, read its current price (if any is stored) and estimate the liquidation price."""
    name = service.resolve_symbol(symbol)
    try:
        price = service.price(name)
    except UserError:
        current = None  # no price stored yet: the estimate stands on the entry alone
    else:
        current = (price.price, price.at, price.source)
    return estimate(
        name,
        side,
        entry,
        leverage,
        margin_mode=margin_mode,
        mmr_pct=mmr_pct,
        size_usd=size_usd,
        current=current,
    )
