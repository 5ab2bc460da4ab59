"""Load the real recorded data under tests/data and derive what the emulator serves from it.

Everything here is read from the files described in tests/data/README.md. Where the emulator needs
a resolution or a field the recordings do not have, the derived value is built in one named function
below and marked `synthetic` (candles, funding rows, market hours) and said so in the docstring of the
function that makes it.
"""

from __future__ import annotations

import bisect
import copy
import csv
import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
FIXTURES_DIR = DATA_DIR / "fixtures"

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS

# Intervals the emulator can serve from hourly recordings. Sub-hour ones are synthetic (see
# derive_minutes); multi-hour ones are exact aggregates of the real hourly candles.
INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
}

SPOT_FILES = {
    "BTCUSDT": "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv",
    "ETHUSDT": "binance_spot_ETHUSDT_1h_2026-01-09_2026-01-20.csv",
}
FUNDING_FILE = "binance_fapi_fundingRate_BTCUSDT_2025-10-01_2026-01-20.csv"
COINGLASS_FILE = "coinglass_btc_price_liq_funding_oi_1h_2025-12-04_2026-01-20.csv"
FNG_LABELLED_FILE = "alternative_me_fear_greed_2025-12-01_2026-01-20.csv"
FNG_LONG_FILE = "alternative_me_fear_greed_2018-02-01_2026-01-20.csv"
FORCE_ORDER_FILE = "binance_forceOrder_liquidations_allsymbols_20251022_excerpt.csv"
OKX_LIQ_FILE = "okx_liquidation_orders_BTC_ETH_20261002_excerpt.csv"
LIVE_FRAMES_FILE = "live_liquidation_ws_frames_bybit_okx_htx_aster_binancetestnet_20260917.jsonl"
COMBINED_FRAME_FILE = "binance_forceOrder_arr_combined_stream_frame_20261007.jsonl"
PREMIUM_INDEX_FILE = "binance_fapi_v1_premiumIndex_all_symbols_20250617.json"

T = TypeVar("T")


def parse_utc_ms(text: str) -> int:
    """Parse an ISO-like timestamp from the CSVs (zone missing means UTC) into epoch ms."""
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def plain(value: Decimal | str) -> str:
    """Write a number without exponent notation, as exchanges do in their string fields."""
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle on the recorded timeline (open_time in UTC epoch ms)."""

    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class FundingRow:
    """One Binance /fapi/v1/fundingRate row, fields kept as the strings Binance sends.

    Recorded rows have synthetic=False; rows made by derive_funding (ETHUSDT) have synthetic=True.
    """

    funding_time: int
    funding_rate: str
    mark_price: str
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class MarketHour:
    """One hour of price, liquidations (USD), Binance funding (percent) and open interest (USD).

    BTCUSDT's hours are CoinGlass's recording (synthetic=False); ETHUSDT's are made by
    derive_market_hours from them (synthetic=True).
    """

    ts: int
    price_open: Decimal
    price_high: Decimal
    price_low: Decimal
    price_close: Decimal
    liq_long_usd: Decimal
    liq_short_usd: Decimal
    funding_close_pct: Decimal
    oi_open_usd: Decimal
    oi_close_usd: Decimal
    synthetic: bool = False


@dataclass(frozen=True, slots=True)
class FearGreedDay:
    """One alternative.me value dated by its publication day (00:00 UTC)."""

    day_ms: int
    value: int
    classification: str
    label_derived: bool


@dataclass(frozen=True, slots=True)
class ForceOrder:
    """One recorded Binance !forceOrder@arr event (side is the forced order's side)."""

    ts_ms: int
    symbol: str
    side: str
    avg_price: str
    qty: str


@dataclass(frozen=True, slots=True)
class OkxLiquidation:
    """One recorded OKX liquidation-orders detail (sz in contracts, bk_px bankruptcy price)."""

    ts_ms: int
    uly: str
    pos_side: str
    sz: str
    bk_px: str


def classify_fear_greed(value: int) -> str:
    """Label a Fear & Greed value for days the labelled file does not cover.

    These labels are emulator-derived, not published ones. The lower bands come from the labelled
    recording itself (25 is "Extreme Fear", 26..44 "Fear", 48..50 "Neutral", 61 "Greed"; its README adds
    46 "Fear" and 47 "Neutral"). The upper cut points (Neutral up to 54, Greed up to 74) are the widely
    cited split, which the recording neither confirms nor contradicts.
    """
    if value <= 25:
        return "Extreme Fear"
    if value <= 46:
        return "Fear"
    if value <= 54:
        return "Neutral"
    if value <= 74:
        return "Greed"
    return "Extreme Greed"


def derive_minutes(hour: Candle) -> list[Candle]:
    """Split one real hourly candle into 60 SYNTHETIC one-minute candles.

    The recordings are hourly; a client asking for 1m candles still needs a plausible, consistent
    series. The price walks in straight lines open -> low -> high -> close (or open -> high -> low ->
    close for a falling hour), touching the extremes at minutes 20 and 40, and volume, quote volume and
    trade count are spread evenly. Aggregating the 60 candles gives back the hour's open, high, low,
    close, volume, quote volume and trade count exactly. Every candle returned has synthetic=True.
    """
    o, h, low, c = hour.open, hour.high, hour.low, hour.close
    first, second = (low, h) if c >= o else (h, low)
    waypoints = [(0, o), (20, first), (40, second), (60, c)]
    tick = Decimal("0.01")

    def price_at(minute: int) -> Decimal:
        for (m0, p0), (m1, p1) in itertools.pairwise(waypoints):
            if m0 <= minute <= m1:
                return (p0 + (p1 - p0) * Decimal(minute - m0) / Decimal(m1 - m0)).quantize(tick)
        raise AssertionError(minute)

    def spread(total: Decimal) -> list[Decimal]:
        part = (total / 60).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        return [part] * 59 + [total - part * 59]

    volumes, quotes = spread(hour.volume), spread(hour.quote_volume)
    trades = [hour.trades // 60] * 59 + [hour.trades - (hour.trades // 60) * 59]
    minutes = []
    for i in range(60):
        p_open, p_close = price_at(i), price_at(i + 1)
        minutes.append(
            Candle(
                open_time=hour.open_time + i * MINUTE_MS,
                open=p_open,
                high=max(p_open, p_close),
                low=min(p_open, p_close),
                close=p_close,
                volume=volumes[i],
                quote_volume=quotes[i],
                trades=trades[i],
                synthetic=True,
            )
        )
    return minutes


def aggregate(candles: Sequence[Candle], step_ms: int) -> list[Candle]:
    """Aggregate candles into epoch-aligned buckets of step_ms (UTC days for 1d).

    A bucket is emitted only if its first constituent candle exists, so a recording that starts
    mid-day does not produce a daily candle with a wrong open. The result is synthetic only if an
    input was.
    """
    out: list[Candle] = []
    bucket: list[Candle] = []
    for candle in candles:
        start = candle.open_time - candle.open_time % step_ms
        if bucket and bucket[0].open_time - bucket[0].open_time % step_ms != start:
            out.append(_merge(bucket, step_ms))
            bucket = []
        bucket.append(candle)
    if bucket:
        out.append(_merge(bucket, step_ms))
    return [c for c in out if c.open_time % step_ms == 0]


def _merge(bucket: Sequence[Candle], step_ms: int) -> Candle:
    first = bucket[0]
    return Candle(
        open_time=first.open_time,
        open=first.open,
        high=max(c.high for c in bucket),
        low=min(c.low for c in bucket),
        close=bucket[-1].close,
        volume=sum((c.volume for c in bucket), Decimal(0)),
        quote_volume=sum((c.quote_volume for c in bucket), Decimal(0)),
        trades=sum(c.trades for c in bucket),
        synthetic=any(c.synthetic for c in bucket),
    )


def select_window(
    rows: Sequence[T],
    key: Callable[[T], int],
    *,
    start: int | None,
    end: int | None,
    limit: int,
    cutoff: int | None,
) -> list[T]:
    """Pick rows the way Binance's history endpoints do (rows sorted ascending by key).

    With a start: the oldest `limit` rows from start on. With only an end: the newest `limit` rows up
    to end. With neither: the newest `limit` rows. Bounds are inclusive. Rows after `cutoff` (the
    emulated "now") do not exist yet.
    """
    hi = len(rows) if cutoff is None else bisect.bisect_right(rows, cutoff, key=key)
    if end is not None:
        hi = min(hi, bisect.bisect_right(rows, end, key=key))
    lo = 0 if start is None else bisect.bisect_left(rows, start, key=key)
    if lo >= hi:
        return []
    if start is not None:
        return list(rows[lo : min(hi, lo + limit)])
    return list(rows[max(lo, hi - limit) : hi])


def turnover_ratio(candles: Sequence[Candle], reference: Sequence[Candle]) -> Decimal:
    """Return the quote volume of candles over that of reference, on the hours both have."""
    ref = {c.open_time: c.quote_volume for c in reference}
    common = [c for c in candles if c.open_time in ref]
    total_ref = sum((ref[c.open_time] for c in common), Decimal(0))
    if not common or not total_ref:
        raise ValueError("no common hours with turnover to compare")
    return sum((c.quote_volume for c in common), Decimal(0)) / total_ref


def derive_market_hours(
    candles: Sequence[Candle], btc_candles: Sequence[Candle], btc_hours: Sequence[MarketHour]
) -> list[MarketHour]:
    """Make SYNTHETIC hourly funding and open interest for a symbol from BTC's recorded ones.

    Only BTCUSDT's funding and open interest were recorded (tests/data/README.md); a symbol with real
    hourly candles (ETHUSDT) still needs some so that every feed has something to ingest. Per hour both
    the symbol's candles and the BTC CoinGlass file have (so CoinGlass's missing hours stay missing):

    - prices are the symbol's real hourly candle;
    - the funding rate is BTC's recorded Binance rate of that hour, standing in unchanged;
    - open interest in USD is BTC's recorded Binance open interest of that hour times one constant,
      the symbol's spot turnover over BTC's on the hours both recordings cover (0.749 for ETHUSDT,
      whose quote volume is itself an estimate, see load_eth_spot); in base units it is that USD value
      over the symbol's own price, so it is not BTC's contract count scaled;
    - liquidations are 0: there is no liquidation series for the symbol, and nothing served reads them.

    Every hour returned has synthetic=True.
    """
    scale = turnover_ratio(candles, btc_candles)
    by_ts = {c.open_time: c for c in candles}
    return [
        MarketHour(
            ts=hour.ts,
            price_open=candle.open,
            price_high=candle.high,
            price_low=candle.low,
            price_close=candle.close,
            liq_long_usd=Decimal(0),
            liq_short_usd=Decimal(0),
            funding_close_pct=hour.funding_close_pct,
            oi_open_usd=(hour.oi_open_usd * scale).quantize(Decimal(1)),
            oi_close_usd=(hour.oi_close_usd * scale).quantize(Decimal(1)),
            synthetic=True,
        )
        for hour in btc_hours
        if (candle := by_ts.get(hour.ts)) is not None
    ]


def derive_funding(candles: Sequence[Candle], btc_funding: Sequence[FundingRow]) -> list[FundingRow]:
    """Make a SYNTHETIC funding history for a symbol from BTC's recorded one.

    Each recorded BTCUSDT settlement inside the symbol's candle recording becomes one row at the same
    time with BTC's rate standing in unchanged (no other symbol's funding was recorded) and, as mark
    price, the open of the symbol's real hourly candle in which the settlement falls. Every row
    returned has synthetic=True.
    """
    if not candles:
        return []
    first, last = candles[0].open_time, candles[-1].open_time + HOUR_MS
    rows = []
    for row in btc_funding:
        if not first <= row.funding_time < last:
            continue
        i = bisect.bisect_right(candles, row.funding_time, key=lambda c: c.open_time)
        mark = candles[i - 1].open
        rows.append(FundingRow(row.funding_time, row.funding_rate, f"{mark:.8f}", synthetic=True))
    return rows


def stand_in_candles(btc: Sequence[Candle], price: Decimal) -> list[Candle]:
    """Make SYNTHETIC hourly candles for a listed symbol no candle was recorded for.

    BTC's recorded candles, every price scaled so that the last close is ``price`` (the symbol's price in
    the recorded premiumIndex response), base volume scaled the other way and quote volume set to 1 % of
    BTC's: the shape of the market is BTC's, the level the symbol's own. Every candle has synthetic=True.
    """
    factor = price / btc[-1].close
    return [
        Candle(
            c.open_time,
            c.open * factor,
            c.high * factor,
            c.low * factor,
            c.close * factor,
            c.volume / factor / 100,
            c.quote_volume / 100,
            c.trades // 100,
            synthetic=True,
        )
        for c in btc
    ]


def stand_in_funding(
    candles: Sequence[Candle], hours: Sequence[MarketHour], interval_ms: int
) -> list[FundingRow]:
    """Make a SYNTHETIC settled-funding history at ``interval_ms`` (1, 2, 4 or 8 h) for a listed symbol.

    One settlement per interval on the UTC grid inside the candle range, each with the rate of that
    hour in ``hours`` (BTC's recorded Binance funding standing in) and the hour's open as mark price.
    """
    if not candles:
        return []
    by_ts = {h.ts: h for h in hours}
    first, last = candles[0].open_time, candles[-1].open_time + HOUR_MS
    start = first - first % interval_ms + (interval_ms if first % interval_ms else 0)
    rows = []
    for t in range(start, last, interval_ms):
        hour = by_ts.get(t)
        if hour is None:
            continue
        rate = (hour.funding_close_pct / 100).quantize(Decimal("0.00000001"))
        rows.append(FundingRow(t, plain(rate), f"{hour.price_open:.8f}", synthetic=True))
    return rows


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def load_btc_spot(path: Path) -> list[Candle]:
    """Load the real BTCUSDT hourly candles (all Binance kline fields except taker-buy volumes)."""
    return [
        Candle(
            open_time=parse_utc_ms(r["timestamp"]),
            open=Decimal(r["open"]),
            high=Decimal(r["high"]),
            low=Decimal(r["low"]),
            close=Decimal(r["close"]),
            volume=Decimal(r["volume"]),
            quote_volume=Decimal(r["quote_volume"]),
            trades=int(r["trade_count"]),
        )
        for r in _read_csv(path)
    ]


def load_eth_spot(path: Path) -> list[Candle]:
    """Load the real ETHUSDT hourly candles.

    The ETH file records OHLC and base volume only. Its quote volume is an ESTIMATE made here
    (volume x typical price (h+l+c)/3), and its trade count is 0 because it was not recorded.
    """
    candles = []
    for r in _read_csv(path):
        h, low, c, v = Decimal(r["high"]), Decimal(r["low"]), Decimal(r["close"]), Decimal(r["volume"])
        candles.append(
            Candle(
                open_time=parse_utc_ms(r["timestamp"]),
                open=Decimal(r["open"]),
                high=h,
                low=low,
                close=c,
                volume=v,
                quote_volume=(v * (h + low + c) / 3).quantize(Decimal("0.00000001")),
                trades=0,
            )
        )
    return candles


def load_funding(path: Path) -> list[FundingRow]:
    """Load the real Binance BTCUSDT funding history (decimal rate per 8 h)."""
    return [FundingRow(int(r["fundingTime"]), r["fundingRate"], r["markPrice"]) for r in _read_csv(path)]


def load_market_hours(path: Path) -> list[MarketHour]:
    """Load the CoinGlass BTC hourly file: price, liquidations, funding (percent), OI (USD)."""
    return [
        MarketHour(
            ts=int(r["timestamp"]),
            price_open=Decimal(r["price_open"]),
            price_high=Decimal(r["price_high"]),
            price_low=Decimal(r["price_low"]),
            price_close=Decimal(r["price_close"]),
            liq_long_usd=Decimal(r["liquidation_long_usd"]),
            liq_short_usd=Decimal(r["liquidation_short_usd"]),
            funding_close_pct=Decimal(r["funding_close"]),
            oi_open_usd=Decimal(r["oi_open"]),
            oi_close_usd=Decimal(r["oi_close"]),
        )
        for r in _read_csv(path)
    ]


def load_fear_greed(labelled: Path, long: Path) -> list[FearGreedDay]:
    """Merge the two Fear & Greed files, ascending; published labels win where they exist."""
    published = {r["date"]: (int(r["value"]), r["classification"]) for r in _read_csv(labelled)}
    days = []
    for r in _read_csv(long):
        value = int(r["fng"])
        if r["date"] in published:
            days.append(FearGreedDay(parse_utc_ms(r["date"]), value, published[r["date"]][1], False))
        else:
            days.append(FearGreedDay(parse_utc_ms(r["date"]), value, classify_fear_greed(value), True))
    known = {d.day_ms for d in days}
    for date, (value, label) in published.items():
        if parse_utc_ms(date) not in known:
            days.append(FearGreedDay(parse_utc_ms(date), value, label, False))
    return sorted(days, key=lambda d: d.day_ms)


def load_force_orders(path: Path) -> list[ForceOrder]:
    """Load the recorded Binance liquidation events, numbers rewritten without exponent notation.

    The collector stored floats (5.99e-05); Binance sends plain decimal strings, so they are restored.
    """
    return [
        ForceOrder(
            ts_ms=parse_utc_ms(r["timestamp"]),
            symbol=r["symbol"],
            side=r["side"],
            avg_price=plain(r["avg_price"]),
            qty=plain(r["filled_qty"]),
        )
        for r in _read_csv(path)
    ]


def load_okx_liquidations(path: Path) -> list[OkxLiquidation]:
    """Load the recorded OKX SWAP liquidation details, ascending by time (stable for equal times)."""
    rows = [
        OkxLiquidation(
            ts_ms=parse_utc_ms(r["datetime"]),
            uly=r["uly"],
            pos_side=r["pos_side"],
            sz=plain(r["size"]),
            bk_px=plain(r["price"]),
        )
        for r in _read_csv(path)
    ]
    return sorted(rows, key=lambda r: r.ts_ms)


def load_live_frames(*paths: Path) -> dict[str, list[dict[str, Any]]]:
    """Sort the live captured websocket frames by venue (Aster's are not served).

    Binance frames are kept as the raw event; a combined-stream frame contributes its `data`.
    """
    frames: dict[str, list[dict[str, Any]]] = {"binance": [], "bybit": [], "okx": [], "htx": []}
    lines = [line for path in paths for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if not line.strip():
            continue
        frame = json.loads(line)
        if str(frame.get("topic", "")).startswith("allLiquidation."):
            frames["bybit"].append(frame)
        elif frame.get("arg", {}).get("channel") == "liquidation-orders":
            frames["okx"].append(frame)
        elif frame.get("e") == "forceOrder":
            frames["binance"].append(frame)
        elif frame.get("stream") == "!forceOrder@arr":
            frames["binance"].append(frame["data"])
        elif str(frame.get("topic", "")).endswith(".liquidation_orders"):
            frames["htx"].append(frame)
    return frames


class Dataset:
    """All recorded data the emulator serves, loaded once; derived series are built lazily."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self.data_dir = data_dir
        fixtures = data_dir / "fixtures"
        self.spot: dict[str, list[Candle]] = {
            "BTCUSDT": load_btc_spot(data_dir / SPOT_FILES["BTCUSDT"]),
            "ETHUSDT": load_eth_spot(data_dir / SPOT_FILES["ETHUSDT"]),
        }
        btc_funding = load_funding(data_dir / FUNDING_FILE)
        btc_hours = load_market_hours(data_dir / COINGLASS_FILE)
        btc, eth = self.spot["BTCUSDT"], self.spot["ETHUSDT"]
        # ETHUSDT's funding and open interest are SYNTHETIC, made from BTC's (see derive_market_hours).
        self.funding: dict[str, list[FundingRow]] = {
            "BTCUSDT": btc_funding,
            "ETHUSDT": derive_funding(eth, btc_funding),
        }
        self.market_hours: dict[str, list[MarketHour]] = {
            "BTCUSDT": btc_hours,
            "ETHUSDT": derive_market_hours(eth, btc, btc_hours),
        }
        self.fear_greed = load_fear_greed(data_dir / FNG_LABELLED_FILE, data_dir / FNG_LONG_FILE)
        self.force_orders = load_force_orders(fixtures / FORCE_ORDER_FILE)
        self.okx_liquidations = load_okx_liquidations(fixtures / OKX_LIQ_FILE)
        self.live_frames = load_live_frames(fixtures / LIVE_FRAMES_FILE, fixtures / COMBINED_FRAME_FILE)
        self.premium_index_fixture: list[dict[str, Any]] = json.loads(
            (fixtures / PREMIUM_INDEX_FILE).read_text(encoding="utf-8")
        )
        self._derived: dict[tuple[str, str], list[Candle]] = {}

    @cached_property
    def recorded_end_ms(self) -> int:
        """Return the last recorded instant: the end of the last BTCUSDT hourly candle, minus 1 ms."""
        return self.spot["BTCUSDT"][-1].open_time + HOUR_MS - 1

    def candles(self, symbol: str, interval: str) -> list[Candle] | None:
        """Return the candle series for symbol/interval, or None if it cannot be served."""
        hourly = self.spot.get(symbol)
        if hourly is None or interval not in INTERVAL_MS:
            return None
        if interval == "1h":
            return hourly
        key = (symbol, interval)
        if key not in self._derived:
            step = INTERVAL_MS[interval]
            if step < HOUR_MS:
                minutes = self._derived.get((symbol, "1m"))
                if minutes is None:
                    minutes = [m for hour in hourly for m in derive_minutes(hour)]
                    self._derived[(symbol, "1m")] = minutes
                self._derived[key] = minutes if step == MINUTE_MS else aggregate(minutes, step)
            else:
                self._derived[key] = aggregate(hourly, step)
        return self._derived[key]

    def weekly(self, symbol: str, offset_ms: int) -> list[Candle] | None:
        """Return weekly candles that open on Monday 00:00 UTC on the served timeline (Binance's ``1w``).

        Exact aggregates of the real hours, like the other multi-hour intervals; the clock shifts the
        recording by whole days, so which recorded day is a Monday depends on ``offset_ms``. A week the
        recording starts within is left out (its open would be wrong).
        """
        hourly = self.spot.get(symbol)
        if hourly is None:
            return None
        key = (symbol, f"1w{offset_ms:+d}")
        if key not in self._derived:
            # Shift so that a served Monday 00:00 lands on a multiple of a week, aggregate, shift back.
            shift = (offset_ms - 4 * DAY_MS) % WEEK_MS
            moved = [dataclasses.replace(c, open_time=c.open_time + shift) for c in hourly]
            weeks = aggregate(moved, WEEK_MS)
            self._derived[key] = [dataclasses.replace(w, open_time=w.open_time - shift) for w in weeks]
        return self._derived[key]

    def market_hour_at(self, symbol: str, recorded_ms: int) -> MarketHour | None:
        """Return the latest CoinGlass hour that opened at or before recorded_ms."""
        hours = self.market_hours.get(symbol)
        if not hours:
            return None
        i = bisect.bisect_right(hours, recorded_ms, key=lambda h: h.ts)
        return hours[i - 1] if i else None

    def candle_at(self, symbol: str, recorded_ms: int) -> Candle | None:
        """Return the latest real hourly candle that opened at or before recorded_ms."""
        hourly = self.spot.get(symbol, [])
        i = bisect.bisect_right(hourly, recorded_ms, key=lambda c: c.open_time)
        return hourly[i - 1] if i else None

    def fork(self) -> Dataset:
        """Return a view sharing the loaded series, with series dicts of its own (one per emulator).

        Stand-in series (``stand_in``) and a test's own candles then stay with the emulator that made
        them instead of leaking into the next test through the session's shared Dataset.
        """
        twin = copy.copy(self)
        twin.spot, twin.funding, twin.market_hours = (
            dict(self.spot),
            dict(self.funding),
            dict(self.market_hours),
        )
        twin._derived = dict(self._derived)
        return twin

    def stand_in(self, symbol: str, price: Decimal, funding_interval_ms: int) -> None:
        """Give a listed symbol with no recording SYNTHETIC candles, funding and open interest (once).

        See stand_in_candles, derive_market_hours and stand_in_funding; BTCUSDT and ETHUSDT keep their
        recorded (or already derived) series.
        """
        if symbol in self.spot:
            return
        btc = self.spot["BTCUSDT"]
        candles = stand_in_candles(btc, price)
        self.spot[symbol] = candles
        self.market_hours[symbol] = derive_market_hours(candles, btc, self.market_hours["BTCUSDT"])
        self.funding[symbol] = stand_in_funding(candles, self.market_hours[symbol], funding_interval_ms)

    def set_candles(self, symbol: str, hourly: list[Candle]) -> None:
        """Replace or add a symbol's hourly candles (tests setting data explicitly); derived ones follow."""
        self.spot[symbol] = sorted(hourly, key=lambda c: c.open_time)
        self._derived = {k: v for k, v in self._derived.items() if k[0] != symbol}
