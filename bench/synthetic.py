"""SYNTHETIC market data for the benchmarks: a seeded random walk, not market data.

Everything here is made up from a fixed seed so every run measures the same work. The series only aim to
look like a market to the detectors (so that each default rule has input and fires now and then): one-minute
candles from a correlated random walk with volatility regimes and rare jumps, liquidation events whose rate
and side follow the size and direction of the move, funding settled every 8 hours, open interest every
5 minutes (the finest Binance open-interest history) and a daily Fear & Greed value. Every row carries the
source ``synthetic``, so alerts and stored rows say where they came from.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feeds.replay import RecordedData
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Candle,
    FearGreed,
    Funding,
    Liquidation,
    OpenInterest,
    Side,
)

SOURCE = "synthetic"
START = 1_735_689_600_000  # 2025-01-01 00:00 UTC
YEAR_MINUTES = 365 * 1440
FUNDING_EVERY_MS = 8 * HOUR_MS
OI_EVERY_MS = 5 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Asset:
    """A synthetic asset: its symbol, starting price and typical one-minute volume."""

    symbol: str
    price: float
    volume: float


# Named like the real pairs so the rules of config.example.toml apply unchanged; the data is synthetic.
DEFAULT_ASSETS: tuple[Asset, ...] = (Asset("BTCUSDT", 95_000.0, 12.0), Asset("ETHUSDT", 3_300.0, 350.0))


def _classification(value: int) -> str:
    if value <= 24:
        return "Extreme Fear"
    if value <= 46:
        return "Fear"
    if value <= 54:
        return "Neutral"
    if value <= 74:
        return "Greed"
    return "Extreme Greed"


def synthetic_market(
    minutes: int = YEAR_MINUTES,
    assets: Sequence[Asset] = DEFAULT_ASSETS,
    *,
    seed: int = 20_260_114,
    start: int = START,
    liquidations_per_minute: float = 0.5,
) -> RecordedData:
    """Return ``minutes`` of SYNTHETIC one-minute data for ``assets`` on the replay timeline."""
    rng = random.Random(seed)
    data = RecordedData()
    batches = data.batches
    prices = [a.price for a in assets]
    oi_contracts = [a.volume * 20_000 for a in assets]
    funding = [0.0001 for _ in assets]
    vol = 0.0006  # per-minute volatility, moved through regimes below (~45%/year on average)
    fng = 50
    for i in range(minutes):
        t = start + i * MINUTE_MS
        close_at = t + MINUTE_MS
        if t % DAY_MS == 0:
            fng = min(95, max(5, fng + round(rng.gauss(0, 6) - (fng - 50) * 0.08)))
            day = datetime.fromtimestamp(t / 1000, tz=UTC).date().isoformat()
            batches[t].fear_greed.append(FearGreed(day, t, fng, _classification(fng), SOURCE))
        if i % 720 == 0:
            # Volatility regimes: a calm or a wild half-day, so moves and cascades come in clusters.
            vol = min(0.004, max(0.00025, vol * math.exp(rng.gauss(0, 0.35)) * (0.0006 / vol) ** 0.1))
        common = rng.gauss(0, 1)
        jump = rng.gauss(0, 12) if rng.random() < 0.0004 else 0.0
        batch = batches[close_at]
        for k, asset in enumerate(assets):
            own = 0.8 * common + 0.6 * rng.gauss(0, 1) + jump
            ret = vol * (1.0 + 0.3 * k) * own
            o = prices[k]
            c = o * math.exp(ret)
            wick = o * vol * abs(rng.gauss(0, 0.7))
            h, low = max(o, c) + wick, min(o, c) - wick * rng.random()
            shock = abs(own)
            volume = asset.volume * rng.lognormvariate(0, 0.4) * (1 + shock * shock) * (vol / 0.0006)
            batch.candles.append(Candle(asset.symbol, "1m", t, SOURCE, o, h, low, c, volume, volume * c))
            prices[k] = c
            if jump:
                oi_contracts[k] *= 0.9  # a jump flushes leverage: open interest drops at once
            # Liquidations: more when the move is large, mostly of the side the move hurts (a rise
            # liquidates shorts). Each event becomes known at its own millisecond.
            rate = liquidations_per_minute * (0.3 + shock * shock) * (vol / 0.0006)
            for _ in range(_poisson(rng, min(rate, 60.0))):
                ts = t + rng.randrange(MINUTE_MS)
                side: Side = "short" if (c >= o) == (rng.random() < 0.85) else "long"
                usd = rng.paretovariate(1.3) * 4_000 * (1 + shock)
                qty = usd / c
                batches[ts].liquidations.append(Liquidation(asset.symbol, ts, SOURCE, side, c, qty, usd))
            if close_at % OI_EVERY_MS == 0:
                oi_contracts[k] *= math.exp(rng.gauss(0, 0.002))
                batches[close_at].open_interest.append(
                    OpenInterest(asset.symbol, close_at, SOURCE, oi_contracts[k], oi_contracts[k] * c)
                )
            if close_at % FUNDING_EVERY_MS == 0:
                funding[k] = 0.0001 + (funding[k] - 0.0001) * 0.7 + rng.gauss(0, 0.00012)
                batches[close_at].funding.append(
                    Funding(asset.symbol, close_at, SOURCE, funding[k], c, close_at + FUNDING_EVERY_MS, True)
                )
    return data


def _poisson(rng: random.Random, lam: float) -> int:
    """Return a Poisson draw (Knuth's method: fine for the small rates used here)."""
    limit = math.exp(-lam)
    k = 0
    p = rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
