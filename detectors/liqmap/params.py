"""The liquidation map's settings: every assumption of the model, with its documented default.

They live here (not in bot/config.py) because the detectors build maps too; ``bot.config`` composes this
model as the ``[liqmap]`` section. docs/liquidation-map.md explains each one.
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Leverage used on the map and the share of newly opened positions at each one. The common picks of
# CoinGlass-style maps and of py-liquidation-map (10x, 25x, 50x, 100x), with 5x and 20x added because
# most open interest is not at the extremes; the weights lean to the middle.
DEFAULT_LEVERAGE = {5.0: 0.15, 10.0: 0.3, 20.0: 0.2, 25.0: 0.15, 50.0: 0.12, 100.0: 0.08}


# Hyperliquid's REST allowance per IP and the weight of one clearinghouseState read ("Rate limits and
# user limits" in Hyperliquid's API docs). The sample's poller lives in feeds/hyperliquid_positions.py.
IP_WEIGHT_PER_MINUTE = 1200
CLEARINGHOUSE_STATE_WEIGHT = 2


class HyperliquidSample(BaseModel):
    """How many public accounts to sample and how often (the ``[liqmap.hyperliquid]`` section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        False, description="Sample Hyperliquid accounts for a measured map (off by default)."
    )
    max_accounts: int = Field(
        300, ge=1, le=100_000, description="Accounts polled, the most recently seen trading."
    )
    poll_minutes: float = Field(5, ge=1, le=1440, description="Each account's state is read this often.")
    budget_weight_per_minute: int = Field(
        120,
        ge=2,
        le=IP_WEIGHT_PER_MINUTE,
        description="Request weight the sample may use a minute (Hyperliquid allows 1,200 per IP in all).",
    )

    @property
    def weight_per_minute(self) -> float:
        """Return the request weight the plan uses a minute."""
        return CLEARINGHOUSE_STATE_WEIGHT * self.max_accounts / self.poll_minutes

    @model_validator(mode="after")
    def _within_budget(self) -> HyperliquidSample:
        if self.weight_per_minute > self.budget_weight_per_minute:
            most = int(self.budget_weight_per_minute * self.poll_minutes / CLEARINGHOUSE_STATE_WEIGHT)
            raise ValueError(
                f"{self.max_accounts} accounts every {self.poll_minutes:g} min use "
                f"{self.weight_per_minute:g} weight a minute, over the budget of "
                f"{self.budget_weight_per_minute}: poll at most {most} accounts, less often, or raise the "
                "budget"
            )
        return self


class LiqMapParams(BaseModel):
    """How the liquidation map is modelled, drawn, clustered and graded (the ``[liqmap]`` section)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leverage: dict[float, float] = Field(
        default_factory=lambda: dict(DEFAULT_LEVERAGE),
        description="Leverage → share of newly opened positions (shares are normalised to sum to 1).",
    )
    long_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of an open-interest increase opened as longs (the rest shorts) when no taker "
        "flow is known. Every open-interest increase has a buyer and a seller; 0.5 says nothing more "
        "is known.",
    )
    entry: Literal["hlc3", "close"] = Field(
        "hlc3", description="Price a candle's new positions are opened at: (high+low+close)/3 or the close."
    )
    position_usd: float = Field(
        100_000,
        gt=0,
        le=1e9,
        description="Notional of a typical position: picks the maintenance-margin tier (USD).",
    )
    bin_pct: float = Field(0.2, gt=0.01, le=5, description="Width of one price bin of the map (% of price).")
    cluster_width_pct: float = Field(
        1.0,
        gt=0,
        le=20,
        description="Width of a cluster: the band around a peak summed into it (% of price).",
    )
    min_cluster_usd: float = Field(
        1_000_000, ge=0, le=1e12, description="Smallest modelled USD a band must hold to count as a cluster."
    )
    max_clusters: int = Field(
        6, ge=1, le=20, description="Clusters found (and labelled on the chart) per side."
    )
    build_days: float = Field(
        21,
        gt=0,
        le=120,
        description="History the map is built from: positions opened before are not modelled.",
    )
    venue_tiers: dict[str, str] = Field(
        default_factory=lambda: {"coinglass": "binance"},
        description="Open-interest source → the venue whose margin tiers apply (CoinGlass's bundled OI is "
        "Binance BTCUSDT's). A source not listed uses its own name (binance, bybit, okx).",
    )
    default_mmr: float = Field(
        0.005,
        gt=0,
        lt=0.5,
        description="Maintenance margin rate for a venue/symbol without a known table (decimal; 0.5% is "
        "Bybit's and Binance's second BTC tier).",
    )
    min_sweep_usd: float = Field(
        2_000_000, ge=0, le=1e12, description="Smallest modelled USD swept in one run that is graded."
    )
    hyperliquid: HyperliquidSample = Field(
        default_factory=HyperliquidSample,
        description="The measured map's sample of Hyperliquid accounts (feeds/hyperliquid_positions.py).",
    )
    hit_factor: float = Field(
        3.0,
        gt=1,
        le=100,
        description="A sweep is a hit when realized liquidations are within this factor of the modelled USD.",
    )

    @field_validator("leverage")
    @classmethod
    def _check_leverage(cls, value: dict[float, float]) -> dict[float, float]:
        if not value:
            raise ValueError("give at least one leverage")
        for lev, share in value.items():
            if not math.isfinite(lev) or not 1.5 <= lev <= 125:
                raise ValueError(f"leverage {lev} is outside 1.5..125 (below 1.5 a long is never liquidated)")
            if not math.isfinite(share) or share < 0:
                raise ValueError(f"the share of {lev}x must be 0 or more")
        if sum(value.values()) <= 0:
            raise ValueError("the leverage shares sum to 0")
        return value

    @model_validator(mode="after")
    def _check_widths(self) -> LiqMapParams:
        if self.cluster_width_pct < self.bin_pct:
            raise ValueError("cluster_width_pct must be at least bin_pct")
        return self

    def fingerprint(self) -> str:
        """Return a short text that changes whenever a setting does (a saved map is only reused with it)."""
        # The Hyperliquid sample does not change the modelled map.
        text = self.model_dump_json(exclude={"hyperliquid"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def leverage_weights(self) -> tuple[tuple[float, float], ...]:
        """Return (leverage, share) pairs with the shares normalised to sum to 1, lowest leverage first."""
        total = sum(self.leverage.values())
        return tuple((lev, share / total) for lev, share in sorted(self.leverage.items()) if share > 0)

    def tier_venue(self, source: str) -> str:
        """Return the venue whose margin tiers apply to an open-interest source."""
        return self.venue_tiers.get(source, source)


class _Active:
    """The process's map settings: the config's ``[liqmap]``, set once by the composition root."""

    params = LiqMapParams()


def use_params(params: LiqMapParams) -> None:
    """Make ``params`` the settings every liquidation-map detector of this process models with.

    Detectors receive only their rule's settings; the map's assumptions are the bot's, one set per process
    (bot.app and the CLI commands call this with the loaded config's ``[liqmap]``), so an alert and
    /liqmap describe the same map.
    """
    _Active.params = params


def active_params() -> LiqMapParams:
    """Return the settings the liquidation-map detectors use."""
    return _Active.params
