"""The modelled liquidation map of one venue's open interest: positions opened, consumed and removed.

Per closed candle, in this order:

1. **consumed**: positions whose liquidation price the candle reached are liquidated (longs in bins at or
   above its low, shorts at or below its high);
2. **removed**: when open interest fell by more than what was just liquidated, that fraction of open
   interest closed voluntarily, and the same fraction of every bin is removed (proportional: nothing says
   which positions closed);
3. **opened**: when open interest rose, the increase is opened at the candle's price, split into longs and
   shorts (the share a stored long/short ratio gives when the caller passes one, else ``long_share``) and
   over the leverage distribution; each part lands in the price bin of its liquidation price, computed
   with the venue's maintenance-margin tier for a typical position.

Open interest is compared in base units (USD / price) so a price rise alone opens nothing. Totals obey
``opened == open + consumed + removed`` (tests/detectors/test_liqmap_model.py checks it with hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from detectors.base import Bar
from detectors.liqmap.params import LiqMapParams
from detectors.liqmap.tiers import MarginTier, Side, liquidation_price, solve, tier_at, venue_tiers

# A bin holding less than this (USD) after a removal is removed whole.
DUST_USD = 1.0


class Step(NamedTuple):
    """What one closed candle did to the map (USD); ``consumed_*`` maps bin → USD liquidated."""

    bar: Bar
    opened: float
    removed: float
    consumed_long: dict[int, float]
    consumed_short: dict[int, float]

    def consumed(self, side: Side) -> dict[int, float]:
        """Return the bins of one side this candle liquidated."""
        return self.consumed_long if side == "long" else self.consumed_short


@dataclass
class LiqMap:
    """The open modelled positions of one symbol on one venue, binned by liquidation price."""

    params: LiqMapParams
    symbol: str
    venue: str
    longs: dict[int, float] = field(default_factory=dict)
    shorts: dict[int, float] = field(default_factory=dict)
    opened: float = 0.0
    consumed: float = 0.0
    removed: float = 0.0
    last_close_time: int | None = None
    _last_oi_base: float | None = None
    _log_step: float = 0.0

    def __post_init__(self) -> None:
        self._log_step = math.log1p(self.params.bin_pct / 100)

    # -- bins ---------------------------------------------------------------------------------------------
    def bin_of(self, price: float) -> int:
        """Return the bin a price falls in (bins are equal steps of log price)."""
        return math.floor(math.log(price) / self._log_step)

    def bin_low(self, index: int) -> float:
        """Return the lower edge of a bin (its price)."""
        return math.exp(index * self._log_step)

    def bin_center(self, index: int) -> float:
        """Return the middle of a bin: the price at which its positions are liquidated."""
        return math.exp((index + 0.5) * self._log_step)

    def first_bin_reached_below(self, low: float) -> int:
        """Return the lowest bin whose middle a candle falling to ``low`` reaches."""
        return math.ceil(math.log(low) / self._log_step - 0.5)

    def last_bin_reached_above(self, high: float) -> int:
        """Return the highest bin whose middle a candle rising to ``high`` reaches."""
        return math.floor(math.log(high) / self._log_step - 0.5)

    def side_bins(self, side: Side) -> dict[int, float]:
        """Return the open bins of one side (bin → USD)."""
        return self.longs if side == "long" else self.shorts

    @property
    def open_usd(self) -> float:
        """Return the modelled USD still open."""
        return sum(self.longs.values()) + sum(self.shorts.values())

    # -- saved in a rule's state ---------------------------------------------------------------------------
    def to_state(self, fingerprint: str) -> dict[str, Any]:
        """Return the map as JSON-able data (bins as [index, USD] pairs), stamped with the settings."""
        return {
            "p": fingerprint,
            "v": self.venue,
            "t": self.last_close_time,
            "oi": self._last_oi_base,
            "totals": [self.opened, self.consumed, self.removed],
            "long": [[k, v] for k, v in self.longs.items()],
            "short": [[k, v] for k, v in self.shorts.items()],
        }

    @classmethod
    def from_state(cls, params: LiqMapParams, symbol: str, saved: Mapping[str, Any]) -> LiqMap:
        """Return the map ``to_state`` saved."""
        m = cls(params, symbol, str(saved["v"]))
        m.last_close_time = saved["t"]
        m._last_oi_base = saved["oi"]
        m.opened, m.consumed, m.removed = saved["totals"]
        m.longs = {int(k): float(v) for k, v in saved["long"]}
        m.shorts = {int(k): float(v) for k, v in saved["short"]}
        return m

    # -- one candle ---------------------------------------------------------------------------------------
    def step(self, bar: Bar, oi_usd: float | None, long_share: float | None = None) -> Step:
        """Apply one closed candle and the open interest (USD) known at its close; return what changed.

        ``long_share`` is the share of new positions opened as longs when a stored long/short ratio gives
        it; without one the configured ``long_share`` applies.
        """
        # A bin is reached when the candle trades through its middle: compare indexes, not prices.
        lowest, highest = self.first_bin_reached_below(bar.l), self.last_bin_reached_above(bar.h)
        consumed_long = _consume(self.longs, lambda b: b >= lowest)
        consumed_short = _consume(self.shorts, lambda b: b <= highest)
        liquidated = sum(consumed_long.values()) + sum(consumed_short.values())
        self.consumed += liquidated
        removed = opened = 0.0
        oi_base = oi_usd / bar.c if oi_usd and bar.c > 0 else None
        if oi_base is not None and self._last_oi_base is not None:
            change_usd = (oi_base - self._last_oi_base) * bar.c
            if change_usd < 0:
                removed = self._remove((-change_usd - liquidated) / (self._last_oi_base * bar.c))
            elif change_usd > 0:
                opened = self._open(bar, change_usd, long_share)
        if oi_base is not None:
            self._last_oi_base = oi_base
        self.last_close_time = bar.close_time
        return Step(bar, opened, removed, consumed_long, consumed_short)

    def _remove(self, fraction: float) -> float:
        """Remove a fraction of every open bin (positions closed by their owners); return the USD removed."""
        if fraction <= 0:
            return 0.0
        fraction = min(fraction, 1.0)
        removed = 0.0
        for bins in (self.longs, self.shorts):
            for key, usd in list(bins.items()):
                left = usd * (1 - fraction)
                if left < DUST_USD:
                    # A bin worn down to dust is removed whole: it bounds the map (and a rule's state).
                    del bins[key]
                    left = 0.0
                else:
                    bins[key] = left
                removed += usd - left
        self.removed += removed
        return removed

    def _open(self, bar: Bar, usd: float, long_share: float | None) -> float:
        """Open ``usd`` of new positions at the candle's price; return the USD opened."""
        entry = (bar.h + bar.l + bar.c) / 3 if self.params.entry == "hlc3" else bar.c
        longs = self.params.long_share if long_share is None else long_share
        share = {"long": longs, "short": 1 - longs}
        opened = 0.0
        for side, factor, weight in self.factors(entry):
            part = usd * share[side] * weight
            if part <= 0:
                continue
            bins = self.side_bins(side)
            key = self.bin_of(entry * factor)
            bins[key] = bins.get(key, 0.0) + part
            opened += part
        self.opened += opened
        return opened

    def factors(self, entry: float) -> list[tuple[Side, float, float]]:
        """Return (side, liquidation price / entry, share) for every leverage of the distribution."""
        tiers = venue_tiers(self.params.tier_venue(self.venue), self.symbol, entry)
        out: list[tuple[Side, float, float]] = []
        for leverage, weight in self.params.leverage_weights():
            for side in ("long", "short"):
                price = self._liquidation_price(side, entry, leverage, tiers)
                if price > 0:
                    out.append((side, price / entry, weight))
        return out

    def _liquidation_price(
        self, side: Side, entry: float, leverage: float, tiers: tuple[MarginTier, ...] | None
    ) -> float:
        """Return where a typical position at this leverage is liquidated, with the venue's tier."""
        notional = self.params.position_usd
        opening = tier_at(tiers, notional) if tiers else None
        if tiers is None or opening is None:
            return liquidation_price(side, entry, leverage, self.params.default_mmr)
        # The venue refuses more leverage than the tier allows: such positions are at the tier's maximum.
        leverage = min(leverage, float(opening.max_leverage))
        try:
            return solve(side, entry, leverage, notional, tiers)[0]
        except ValueError:
            return liquidation_price(side, entry, leverage, self.params.default_mmr)


def _consume(bins: dict[int, float], reached: Callable[[int], bool]) -> dict[int, float]:
    """Pop the bins whose liquidation price the candle reached; return them (bin → USD)."""
    hit = {key: usd for key, usd in bins.items() if reached(key)}
    for key in hit:
        del bins[key]
    return hit
