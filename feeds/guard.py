"""The last check before a row is stored: every number finite and sane for its kind, every time plausible.

One place for every venue (``Ingest`` calls it for every batch, live and replay), so no parser can let
through what the rest of the bot cannot handle. Refusals are per row: the rest of the batch is stored.

Why each bound exists:

- **Non-finite numbers** were stored: a liquidation whose price × quantity overflowed a double became
  ``usd=inf``, posted as "$infB", broke /chart, and broke /history for every server (SQLite's
  ``json_extract`` rejects ``Infinity`` in a stored payload). NaN compares false with everything, so every
  check below is written as ``low <= x <= high``, which NaN and ±inf both fail.
- **Magnitudes**: the bounds are far outside anything real (a price above $1e9 a unit, a $1e12 notional:
  the whole crypto market's daily volume is about $1e11) and catch garbage, not markets. Sub-cent coins
  are fine: a price only has to be positive.
- **Times** outside [now - max age, now + future skew]: one point stamped 2099 (the parsers accept up to
  2100) emptied the cascade baseline and the funding series, froze the live price (the spot poll asks for
  candles after the newest stored one) and was never pruned. ``now`` is the skew-corrected clock
  (``feeds.clock``), so a host running behind the venues does not refuse their fresh rows. Fear & Greed
  has no age bound (its history back to 2018 is backfilled on purpose).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from feeds.base import NowMs
from storage.rows import (
    DAY_MS,
    Candle,
    DepthBand,
    FearGreed,
    Funding,
    ImpliedVol,
    Liquidation,
    LongShort,
    OpenInterest,
    PredictedFunding,
)

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RowBounds:
    """Sane magnitudes per kind of number (inclusive upper bounds)."""

    price: float = 1e9  # USD (or quote) per unit; must also be > 0
    size: float = 1e16  # base units or contracts (a sub-cent coin's hourly volume reaches 1e13)
    usd: float = 1e12  # a notional in USD (a liquidation, a candle's quote volume, open interest)
    funding_rate: float = 1.0  # |rate| per interval: 100%; venues cap it at a few percent
    fear_greed: float = 100.0


DEFAULT_BOUNDS = RowBounds()
# Default time window: rows older than the longest default retention (candles kept 10 years) are refused.
DEFAULT_MAX_AGE_MS = 3650 * DAY_MS
DEFAULT_FUTURE_SKEW_MS = 120_000


class RowGuard:
    """Refuse rows with non-finite, absurd or ill-timed values; count and log what was refused."""

    def __init__(
        self,
        now_ms: NowMs | None = None,
        *,
        max_age_ms: Mapping[str, int] | None = None,
        future_skew_ms: int = DEFAULT_FUTURE_SKEW_MS,
        bounds: RowBounds = DEFAULT_BOUNDS,
        log_interval_s: float = 300.0,
    ) -> None:
        # Without a clock only the numbers are checked (a replay of recorded years has no "now" to compare).
        self.now_ms = now_ms
        self.max_age_ms = dict(max_age_ms or {})
        self.future_skew_ms = future_skew_ms
        self.bounds = bounds
        self.log_interval_s = log_interval_s
        self._logged_at: dict[str, float] = {}
        self._pending: dict[str, Counter[str]] = {}
        self.refused: Counter[str] = Counter()  # "kind:source:reason" -> rows refused, for /metrics and tests

    def oldest_accepted(self, kind: str) -> int | None:
        """Return the oldest time a row of ``kind`` is accepted at now (None: no age bound)."""
        return None if self.now_ms is None else self._window(kind)[0]

    def _window(self, kind: str) -> tuple[int, int]:
        if self.now_ms is None:
            return -(2**63), 2**63
        now = self.now_ms()
        age = self.max_age_ms.get(kind, DEFAULT_MAX_AGE_MS)
        return now - age, now + self.future_skew_ms

    def _filter(self, kind: str, rows: Sequence[R], why: Callable[[R, int, int], str | None]) -> Sequence[R]:
        low, high = self._window(kind)
        verdicts = [why(row, low, high) for row in rows]
        if not any(verdicts):
            return rows  # the usual case: nothing refused, the batch as it came
        kept: list[R] = []
        refused: Counter[str] = Counter()
        example = ""
        for row, reason in zip(rows, verdicts, strict=True):
            if reason is None:
                kept.append(row)
                continue
            source = getattr(row, "source", "alternative.me")
            self.refused[f"{kind}:{source}:{reason.split(' ', 1)[0]}"] += 1
            refused[source] += 1
            example = example or f"{source} {getattr(row, 'symbol', '')}: {reason}".replace(" :", ":")
        self._log(kind, refused, len(rows), example)
        return kept

    def _log(self, kind: str, refused: Counter[str], batch: int, example: str) -> None:
        """Log the first refusal of a kind at once, then at most one line per interval with the count."""
        now = time.monotonic()
        pending = self._pending.setdefault(kind, Counter())
        pending.update(refused)
        last = self._logged_at.get(kind)
        if last is not None and now - last < self.log_interval_s:
            return
        self._logged_at[kind] = now
        total = sum(pending.values())
        sources = ", ".join(f"{count} from {source}" for source, count in sorted(pending.items()))
        since = "" if last is None else f" in the last {now - last:.0f}s"
        log.warning(
            "ingest: refused %d %s row(s)%s (%s; nothing stored for them); e.g. %s",
            total,
            kind,
            since,
            sources if last is not None else f"{total} of {batch} in the batch, {sources}",
            example,
        )
        pending.clear()

    def candles(self, rows: Sequence[Candle]) -> Sequence[Candle]:
        """Return the candles with sane prices, volumes and open times."""
        b = self.bounds
        # The hot path, as for liquidations: one pass of plain comparisons proves a batch clean (a closure
        # call per candle was a tenth of a replay's ingest, bench.replay); the reasons run only on failure.
        low, high = self._window("candles")
        price_max, size_max, usd_max = b.price, b.size, b.usd
        for _, _, open_time, _, o, h, lo, c, volume, quote, _ in rows:
            if not (
                low <= open_time <= high
                and 0.0 < o <= price_max
                and 0.0 < h <= price_max
                and 0.0 < lo <= price_max
                and 0.0 < c <= price_max
                and 0.0 <= volume <= size_max
                and (quote is None or 0.0 <= quote <= usd_max)
            ):
                break
        else:
            return rows

        def why(r: Candle, low: int, high: int) -> str | None:
            if not low <= r.open_time <= high:
                return _time(r.open_time, low, high)
            for name, value in (("open", r.o), ("high", r.h), ("low", r.l), ("close", r.c)):
                if not 0.0 < value <= b.price:
                    return _number(name, value)
            if not 0.0 <= r.volume <= b.size:
                return _number("volume", r.volume)
            if r.quote_volume is not None and not 0.0 <= r.quote_volume <= b.usd:
                return _number("quote volume", r.quote_volume)
            return None

        return self._filter("candles", rows, why)

    def liquidations(self, rows: Sequence[Liquidation]) -> Sequence[Liquidation]:
        """Return the liquidations with sane price, quantity, USD value and time."""
        b = self.bounds
        # The hot path (every liquidation of every venue): one pass of plain comparisons over tuple fields
        # proves a batch clean; the per-row reasons below run only when something is wrong. A closure call
        # per row cost a fifth of a liquidation's ingest (bench.ingest).
        low, high = self._window("liquidations")
        usd_max, price_max, size_max = b.usd, b.price, b.size
        for _, ts, _, _, price, qty, usd in rows:
            if not (
                low <= ts <= high
                and 0.0 <= usd <= usd_max
                and 0.0 <= price <= price_max
                and 0.0 <= qty <= size_max
            ):
                break
        else:
            return rows

        def why(r: Liquidation, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            if not 0.0 <= r.usd <= b.usd:
                return _number("usd", r.usd)
            # Aggregated buckets (CoinGlass) carry no price or quantity: 0 there is fine.
            if not 0.0 <= r.price <= b.price:
                return _number("price", r.price)
            if not 0.0 <= r.qty <= b.size:
                return _number("qty", r.qty)
            return None

        return self._filter("liquidations", rows, why)

    def funding(self, rows: Sequence[Funding]) -> Sequence[Funding]:
        """Return the funding rows with a sane rate, mark price and time."""
        b = self.bounds

        def why(r: Funding, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            if not -b.funding_rate <= r.rate <= b.funding_rate:
                return _number("rate", r.rate)
            if r.mark_price is not None and not 0.0 < r.mark_price <= b.price:
                return _number("mark price", r.mark_price)
            return None

        return self._filter("funding", rows, why)

    def open_interest(self, rows: Sequence[OpenInterest]) -> Sequence[OpenInterest]:
        """Return the open-interest points with sane contracts, USD and time."""
        b = self.bounds

        def why(r: OpenInterest, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            if r.contracts is not None and not 0.0 <= r.contracts <= b.size:
                return _number("contracts", r.contracts)
            if r.usd is not None and not 0.0 <= r.usd <= b.usd:
                return _number("usd", r.usd)
            return None

        return self._filter("open_interest", rows, why)

    def long_short(self, rows: Sequence[LongShort]) -> Sequence[LongShort]:
        """Return the long/short readings with a positive ratio, a share in 0..1 and a sane time."""

        def why(r: LongShort, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            # A ratio of longs per short: no venue reports 0 (nobody long) or a million longs per short.
            if not 0.0 < r.ratio <= MAX_LONG_SHORT_RATIO:
                return _number("ratio", r.ratio)
            if r.long_share is not None and not 0.0 <= r.long_share <= 1.0:
                return _number("long share", r.long_share)
            return None

        return self._filter("long_short", rows, why)

    def predicted_funding(self, rows: Sequence[PredictedFunding]) -> Sequence[PredictedFunding]:
        """Return the predicted funding rates with a sane rate and time (bounded as realised rates are)."""
        b = self.bounds

        def why(r: PredictedFunding, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            if not -b.funding_rate <= r.rate <= b.funding_rate:
                return _number("rate", r.rate)
            return None

        return self._filter("predicted_funding", rows, why)

    def depth(self, rows: Sequence[DepthBand]) -> Sequence[DepthBand]:
        """Return the depth bands with sane USD sums and time."""
        b = self.bounds

        def why(r: DepthBand, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            for name, value in (("bid usd", r.bid_usd), ("ask usd", r.ask_usd)):
                if not 0.0 <= value <= b.usd:
                    return _number(name, value)
            return None

        return self._filter("depth", rows, why)

    def implied_vol(self, rows: Sequence[ImpliedVol]) -> Sequence[ImpliedVol]:
        """Return the volatility-index candles with sane values (annualised %) and time."""

        def why(r: ImpliedVol, low: int, high: int) -> str | None:
            if not low <= r.ts <= high:
                return _time(r.ts, low, high)
            for name, value in (("open", r.open), ("high", r.high), ("low", r.low), ("close", r.close)):
                if not 0.0 < value <= MAX_IMPLIED_VOL_PCT:
                    return _number(name, value)
            return None

        return self._filter("implied_vol", rows, why)

    def fear_greed(self, rows: Sequence[FearGreed]) -> Sequence[FearGreed]:
        """Return the Fear & Greed values in 0..100 and not dated in the future."""
        b = self.bounds

        def why(r: FearGreed, low: int, high: int) -> str | None:
            # Dated by publication day (00:00 UTC): a value is never more than a day ahead of any clock.
            if r.ts > high + DAY_MS:
                return _time(r.ts, low, high)
            if not 0.0 <= r.value <= b.fear_greed:
                return _number("value", r.value)
            return None

        return self._filter("fear_greed", rows, why)


# Bounds of the positioning readings: Binance's ratios run from about 0.2 to 6 and DVOL from about 20 to
# 200 (%/yr); the bounds only refuse what no market produces.
MAX_LONG_SHORT_RATIO = 1000.0
MAX_IMPLIED_VOL_PCT = 2000.0


def _number(name: str, value: float) -> str:
    return f"number {name}={value!r} is not finite or out of bounds"


def _time(ts: int, low: int, high: int) -> str:
    where = "in the future" if ts > high else "too old"
    return f"time {_iso(ts)} is {where} (accepted {_iso(low)} .. {_iso(high)})"


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(ms)
