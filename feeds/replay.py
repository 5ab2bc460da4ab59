"""Read recorded market data (CSV files) and order it by when each row would have become known.

Each file is recognised by its header row, never by trusting its name alone:

=====================  ====================================================================================
kind                   header (columns that must be present)
=====================  ====================================================================================
candles                ``symbol, interval, timestamp, open, high, low, close, volume`` (Binance klines dump)
candles_plain          ``timestamp, open, high, low, close, volume`` (symbol and interval from the file name)
fear_greed             ``date, value, classification`` (alternative.me, with the published label)
fear_greed_plain       ``date, fng`` (alternative.me values without label)
coinglass_liquidations ``timestamp, longUsd, shortUsd`` (hourly liquidated USD by position side)
coinglass_combined     ``timestamp, price_open, liquidation_long_usd, funding_close, oi_close`` (funding in %)
binance_funding        ``fundingTime, fundingRate, markPrice`` (settled funding, decimal per 8h)
=====================  ====================================================================================

The symbol comes from a ``symbol`` column, else from the file name (``..._ETHUSDT_...``; a lower-case
coin such as ``..._btc_...`` means BTCUSDT). A file that matches no kind is an error naming the file.

A row becomes *available* when a live feed could have known it: a candle at its close, an hourly
liquidation/open-interest/funding bucket at the end of its hour, a funding settlement at its funding time,
a Fear & Greed value at 00:00 UTC of its publication day. Replay walks these availability times in order.

``recorded_from_repo`` builds the same timeline from rows already stored in a database (for backtests),
and ``store_recorded`` writes a timeline's rows into one without replaying it.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from detectors.base import short_symbol
from storage.repo import Repo
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    Candle,
    EtfFlow,
    FearGreed,
    Funding,
    Liquidation,
    OpenInterest,
    interval_ms,
)


class ReplayDataError(Exception):
    """A recorded-data file that cannot be used, with a message naming the file (and line)."""


@dataclass(slots=True)
class Batch:
    """Rows that become available at the same instant."""

    candles: list[Candle] = field(default_factory=list)
    liquidations: list[Liquidation] = field(default_factory=list)
    liquidation_buckets: list[Liquidation] = field(default_factory=list)
    funding: list[Funding] = field(default_factory=list)
    open_interest: list[OpenInterest] = field(default_factory=list)
    fear_greed: list[FearGreed] = field(default_factory=list)
    etf_flows: list[EtfFlow] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.candles)
            + len(self.liquidations)
            + len(self.liquidation_buckets)
            + len(self.funding)
            + len(self.open_interest)
            + len(self.fear_greed)
            + len(self.etf_flows)
        )


class Timeline(Protocol):
    """Rows by the instant they became available: RecordedData, or a backtest's StoredTimeline."""

    def timeline(self) -> Sequence[tuple[int, Batch]]:
        """Return (available_at, batch) pairs in time order."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """What was read from one file."""

    path: Path
    kind: str
    symbol: str | None
    rows: int


@dataclass(slots=True)
class RecordedData:
    """Every row read from a directory, keyed by the time it became available."""

    files: list[LoadedFile] = field(default_factory=list)
    batches: dict[int, Batch] = field(default_factory=lambda: defaultdict(Batch))

    def timeline(self) -> list[tuple[int, Batch]]:
        """Return (available_at, batch) pairs in time order."""
        return sorted(self.batches.items())

    def symbols(self) -> list[str]:
        """Return the symbols that have candles."""
        return sorted({c.symbol for b in self.batches.values() for c in b.candles})

    def span(self) -> tuple[int, int] | None:
        """Return the first and last availability time, or None when empty."""
        if not self.batches:
            return None
        return min(self.batches), max(self.batches)


_SYMBOL_IN_NAME = re.compile(r"(?:^|_)([A-Z0-9]{2,15}(?:USDT|USDC|USD|BUSD))(?:_|$)")
_COIN_IN_NAME = re.compile(r"(?:^|_)(btc|eth|sol|xrp|bnb|doge)(?:_|$)")
_INTERVAL_IN_NAME = re.compile(r"(?:^|_)(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|1w)(?:_|$)")

_KINDS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "coinglass_combined",
        frozenset({"timestamp", "price_open", "liquidation_long_usd", "funding_close", "oi_close"}),
    ),
    ("coinglass_liquidations", frozenset({"timestamp", "longUsd", "shortUsd"})),
    ("binance_funding", frozenset({"fundingTime", "fundingRate", "markPrice"})),
    ("fear_greed", frozenset({"date", "value", "classification"})),
    ("fear_greed_plain", frozenset({"date", "fng"})),
    ("candles", frozenset({"symbol", "interval", "timestamp", "open", "high", "low", "close", "volume"})),
    ("candles_plain", frozenset({"timestamp", "open", "high", "low", "close", "volume"})),
)


def recognise(header: Sequence[str]) -> str | None:
    """Return the kind of file a header row belongs to, or None."""
    columns = {h.strip() for h in header}
    for kind, required in _KINDS:
        if required <= columns:
            return kind
    return None


def symbol_from_name(name: str) -> str | None:
    """Return the symbol a file name carries (``..._ETHUSDT_...`` or ``..._btc_...``), or None."""
    match = _SYMBOL_IN_NAME.search(name)
    if match:
        return match.group(1)
    match = _COIN_IN_NAME.search(name.lower())
    if match:
        return match.group(1).upper() + "USDT"
    return None


def source_from_name(name: str) -> str:
    """Return the data source a file name starts with (binance, coinglass, ...) or 'replay'."""
    for source in ("binance", "coinglass", "bybit", "okx", "coinbase", "kraken"):
        if name.lower().startswith(source):
            return source
    return "replay"


def parse_time(text: str) -> int:
    """Parse an ISO time (zone optional, UTC assumed), a date, or epoch seconds/ms into UTC ms."""
    value = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", value):
        number = float(value)
        # Epoch seconds are ~1.7e9 today, milliseconds ~1.7e12.
        return int(number * 1000) if abs(number) < 1e11 else int(number)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = date.fromisoformat(value)
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _float(row: dict[str, str], column: str) -> float:
    return float(row[column])


class _FileReader:
    """Parse one recognised file into rows placed on the availability timeline."""

    def __init__(self, path: Path, kind: str, data: RecordedData) -> None:
        self.path = path
        self.kind = kind
        self.data = data
        self.name = path.stem
        self.source = source_from_name(self.name)

    def symbol(self, row: dict[str, str] | None = None) -> str:
        if row is not None and row.get("symbol"):
            return row["symbol"].strip().upper()
        symbol = symbol_from_name(self.name)
        if symbol is None:
            raise ReplayDataError(
                f"{self.path}: cannot tell the symbol: add a `symbol` column or put it in the file name "
                "(e.g. ..._ETHUSDT_...)"
            )
        return symbol

    def read(self, rows: Iterable[dict[str, str]]) -> LoadedFile:
        count = 0
        symbol: str | None = None
        plain_times: list[int] = []
        plain_rows: list[dict[str, str]] = []
        for line_no, row in enumerate(rows, start=2):
            try:
                if self.kind == "candles_plain":
                    plain_rows.append(row)
                    plain_times.append(parse_time(row["timestamp"]))
                    continue
                symbol = self._read_row(row) or symbol
            except (ValueError, KeyError, TypeError) as exc:
                raise ReplayDataError(f"{self.path}:{line_no}: cannot read this row ({exc})") from None
            count += 1
        if self.kind == "candles_plain":
            symbol = self.symbol()
            interval = self._plain_interval(plain_times)
            for line_no, (row, ts) in enumerate(zip(plain_rows, plain_times, strict=True), start=2):
                try:
                    self._candle(symbol, interval, ts, row)
                except (ValueError, KeyError) as exc:
                    raise ReplayDataError(f"{self.path}:{line_no}: cannot read this row ({exc})") from None
            count = len(plain_rows)
        return LoadedFile(self.path, self.kind, symbol, count)

    def _plain_interval(self, times: list[int]) -> str:
        match = _INTERVAL_IN_NAME.search(self.name)
        if match:
            return match.group(1)
        gaps = sorted({b - a for a, b in pairwise(times) if b > a})
        for name in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "1w"):
            if gaps and gaps[0] == interval_ms(name):
                return name
        raise ReplayDataError(
            f"{self.path}: cannot tell the candle interval; put it in the file name (e.g. _1h_)"
        )

    def _candle(self, symbol: str, interval: str, open_time: int, row: dict[str, str]) -> None:
        quote = row.get("quote_volume")
        candle = Candle(
            symbol,
            interval,
            open_time,
            self.source,
            _float(row, "open"),
            _float(row, "high"),
            _float(row, "low"),
            _float(row, "close"),
            _float(row, "volume"),
            float(quote) if quote not in (None, "") else None,
            True,
        )
        if not (candle.l <= min(candle.o, candle.c) and candle.h >= max(candle.o, candle.c)):
            raise ValueError(f"high/low do not contain open/close: {row}")
        self.data.batches[open_time + interval_ms(interval)].candles.append(candle)

    def _read_row(self, row: dict[str, str]) -> str | None:
        batches = self.data.batches
        if self.kind == "candles":
            symbol = self.symbol(row)
            interval = row["interval"].strip()
            self._candle(symbol, interval, parse_time(row["timestamp"]), row)
            return symbol
        if self.kind in ("fear_greed", "fear_greed_plain"):
            ts = parse_time(row["date"])
            value = int(float(row["value"] if self.kind == "fear_greed" else row["fng"]))
            if not 0 <= value <= 100:
                raise ValueError(f"Fear & Greed value {value} is outside 0..100")
            label = row.get("classification") or None
            day = datetime.fromtimestamp(ts / 1000, tz=UTC).date().isoformat()
            batches[ts].fear_greed.append(FearGreed(day, ts, value, label, "alternative.me"))
            return None
        if self.kind == "coinglass_liquidations":
            symbol = self.symbol(row)
            ts = parse_time(row["timestamp"])
            self._buckets(symbol, ts, _float(row, "longUsd"), _float(row, "shortUsd"))
            return symbol
        if self.kind == "coinglass_combined":
            symbol = self.symbol(row)
            ts = parse_time(row["timestamp"])
            end = ts + HOUR_MS
            self._buckets(
                symbol, ts, _float(row, "liquidation_long_usd"), _float(row, "liquidation_short_usd")
            )
            # The file gives open interest in USD only; contracts are left unknown rather than derived
            # from the spot price (which would turn a price rise into a fake fall in contracts).
            oi_usd = _float(row, "oi_close")
            batches[end].open_interest.append(OpenInterest(symbol, end, "coinglass", None, oi_usd))
            # CoinGlass writes funding in percent (0.004513 means 0.004513 %); store the decimal rate.
            rate = _float(row, "funding_close") / 100
            batches[end].funding.append(Funding(symbol, end, "coinglass", rate, None, None, False))
            return symbol
        if self.kind == "binance_funding":
            symbol = self.symbol(row)
            ts = parse_time(row["fundingTime"])
            mark = row.get("markPrice")
            batches[ts].funding.append(
                Funding(
                    symbol,
                    ts,
                    "binance",
                    _float(row, "fundingRate"),
                    float(mark) if mark else None,
                    None,
                    True,
                )
            )
            return symbol
        raise AssertionError(f"unhandled kind {self.kind}")

    def _buckets(self, symbol: str, ts: int, long_usd: float, short_usd: float) -> None:
        if long_usd < 0 or short_usd < 0:
            raise ValueError("negative liquidation total")
        end = ts + HOUR_MS
        bucket = self.data.batches[end].liquidation_buckets
        bucket.append(Liquidation(symbol, ts, "coinglass", "long", 0.0, 0.0, long_usd))
        bucket.append(Liquidation(symbol, ts, "coinglass", "short", 0.0, 0.0, short_usd))


def load_file(path: Path, data: RecordedData) -> LoadedFile:
    """Read one CSV file into ``data``; raise ReplayDataError naming the file when it is not usable."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise ReplayDataError(f"{path}: empty file (no header row)")
            kind = recognise(header)
            if kind is None:
                raise ReplayDataError(
                    f"{path}: unrecognised columns ({', '.join(header)}); `tripwire replay --help` lists "
                    "the formats replay reads"
                )
            loaded = _FileReader(path, kind, data).read(reader)
    except UnicodeDecodeError:
        raise ReplayDataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise ReplayDataError(f"{path}: not a readable CSV file ({exc})") from None
    data.files.append(loaded)
    return loaded


def load_directory(directory: Path) -> RecordedData:
    """Read every ``*.csv`` file of a directory (sorted by name) into one RecordedData."""
    if not directory.is_dir():
        raise ReplayDataError(f"{directory} is not a directory")
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise ReplayDataError(f"{directory} holds no .csv files")
    data = RecordedData()
    for path in files:
        load_file(path, data)
    return data


def _is_bucket(row: Liquidation) -> bool:
    # Aggregated sources store one row per side per bucket with price = qty = 0 (see the schema).
    return row.price == 0 and row.qty == 0


def recorded_from_repo(
    repo: Repo,
    symbols: Iterable[str],
    start: int | None = None,
    end: int | None = None,
    *,
    fear_greed_since: int | None = None,
    candles: bool = True,
) -> RecordedData:
    """Read stored rows of ``symbols`` with start <= time < end into a timeline, as the CSV loader would.

    Rows are placed at the time a live feed could have known them, by the loader's rules: a closed candle
    at its close (a candle stored while still forming is left out: what it looked like then is not
    stored), an aggregated liquidation bucket at the end of its hour (CoinGlass, the only bucketed
    source, is hourly), a single liquidation, funding rate or open-interest point at its own time, a Fear
    & Greed value at 00:00 UTC of its publication day, an ETF flow day at its end (00:00 UTC the day
    after; the flows of the symbols' base coins). Fear & Greed rows are read from ``fear_greed_since``
    (default ``start``), since market-wide detectors compare with a long past.
    Without ``candles`` every kind but candles is read (for a caller choosing which candles to replay).
    """
    data = RecordedData()
    batches = data.batches
    for symbol in sorted(set(symbols)):
        for cover in repo.candle_coverage(symbol, start, end) if candles else ():
            length = interval_ms(cover.interval)
            for candle in repo.candles(symbol, cover.interval, start, end, source=cover.source):
                if candle.closed:
                    batches[candle.open_time + length].candles.append(candle)
        for row in repo.liquidations(symbol, start, end):
            if _is_bucket(row):
                batches[row.ts + HOUR_MS].liquidation_buckets.append(row)
            else:
                batches[row.ts].liquidations.append(row)
        # Sorted by (time, source) so the source a detector prefers (the first one seen) does not depend
        # on the order SQLite happens to return rows of the same instant in.
        for funding in sorted(repo.funding(symbol, start, end), key=lambda f: (f.ts, f.source)):
            batches[funding.ts].funding.append(funding)
        for point in sorted(repo.open_interest(symbol, start, end), key=lambda p: (p.ts, p.source)):
            batches[point.ts].open_interest.append(point)
    for value in repo.fear_greed(fear_greed_since if fear_greed_since is not None else start, end):
        batches[value.ts].fear_greed.append(value)
    for asset in sorted({short_symbol(s) for s in symbols}):
        for flow in repo.etf_flows(asset, start, end):
            batches[flow.ts + DAY_MS].etf_flows.append(flow)  # a trading day's flow is known once it ended
    return data


def store_recorded(repo: Repo, data: RecordedData) -> int:
    """Write every row of a timeline into ``repo`` in one transaction (idempotent); return the count."""
    written = 0
    with repo.transaction():
        for _, batch in data.timeline():
            repo.upsert_candles(batch.candles)
            repo.upsert_liquidation_buckets(batch.liquidation_buckets)
            repo.insert_liquidations(batch.liquidations)
            repo.upsert_funding(batch.funding)
            repo.upsert_open_interest(batch.open_interest)
            repo.upsert_fear_greed(batch.fear_greed)
            repo.upsert_etf_flows(batch.etf_flows)
            written += len(batch)
    return written
