"""Parsers of the positioning endpoints beyond Binance and Bybit: Gate, Deribit, OKX rubik, Hyperliquid.

What each venue documents, and how its figures are read:

- Gate ``GET /api/v4/futures/usdt/tickers`` (every USDT contract in one answer; public, 200 requests per
  10 s per endpoint and IP): ``total_size`` is the open interest in **contracts** ("Contract total size",
  one side: the contracts held long); one contract is ``quanto_multiplier`` coins, which only the contract
  list (``/futures/usdt/contracts``) says. ``funding_rate`` is the rate of the running period (paid at
  its end), a decimal per the contract's ``funding_interval`` (seconds; 8 h for BTC_USDT). The answer
  carries no time: rows are stamped with the poll time.
- Deribit ``public/get_book_summary_by_currency?currency=BTC&kind=future``: one summary per future of the
  currency; only ``{BTC,ETH}-PERPETUAL`` is read. A perpetual's ``open_interest`` is in **USD** (inverse
  contracts, the docs: "For perpetual and inverse futures the amount is in USD units"), one side;
  ``funding_8h`` is the funding over the last 8 hours, a decimal per 8 h (Deribit's funding accrues
  continuously), stamped at ``creation_timestamp``.
- OKX rubik ``/api/v5/rubik/stat/contracts/long-short-account-ratio`` (``[[ts, ratio]]``: accounts net long
  per account net short, over every futures and perpetual contract of the currency) and
  ``/api/v5/rubik/stat/taker-volume?instType=CONTRACTS`` (``[[ts, sellVol, buyVol]]``, sell first). Periods
  ``5m`` (two days kept), ``1H`` (30 days) and ``1D`` (180 days); 5 requests per 2 s per IP.
- Hyperliquid ``POST /info {"type": "predictedFundings"}``: per coin, per venue (``HlPerp``, ``BinPerp``,
  ``BybitPerp``) the **predicted** rate of the next settlement, its time and interval in hours. A forecast,
  never a realised rate: stored apart (``predicted_funding``) and shown as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from feeds.errors import FeedError, PayloadError
from feeds.hyperliquid_names import symbol_of
from feeds.instruments import Instrument
from feeds.okx import okx_data
from feeds.parse import BadItem, Parsed, envelope, items_list, num, parse_items, text, ts_ms
from storage.rows import Funding, LongShort, OpenInterest, PredictedFunding

# Hyperliquid's names of the venues it predicts, and ours.
PREDICTED_VENUES = {"HlPerp": "hyperliquid", "BinPerp": "binance", "BybitPerp": "bybit"}
# OKX rubik's spelling of our ratio periods (it serves 5m, 1H and 1D only; 15m and 30m read its 5m).
OKX_RUBIK_PERIODS = {"5m": "5m", "15m": "5m", "30m": "5m", "1h": "1H"}
OKX_RUBIK_NAMES = {"5m": "5m", "1H": "1h", "1D": "1d"}


def parse_gate_tickers(
    payload: Any, watched: Mapping[str, Instrument], at: int
) -> tuple[Parsed[Funding], Parsed[OpenInterest]]:
    """Parse Gate's futures tickers for the watched contracts (name -> instrument), stamped ``at``.

    The instrument (from Gate's contract list) turns contracts into coins (``quanto_multiplier``) and a
    1000x contract's price into one coin's; rows are stored under its canonical symbol.
    """
    if isinstance(payload, dict) and "label" in payload:
        raise FeedError("api", f"gate tickers: {payload.get('label')} ({str(payload.get('message'))[:80]})")
    funding: Parsed[Funding] = Parsed()
    interest: Parsed[OpenInterest] = Parsed()
    for item in items_list(payload, "gate tickers"):
        try:
            inst = watched.get(text(item, "contract"))
            if inst is None:
                continue
            mark = inst.price(num(item, "mark_price", positive=True))
            coins = inst.size(num(item, "total_size", non_negative=True), contracts=True)
            rate = num(item, "funding_rate")
        except BadItem as exc:
            funding.skipped.append(str(exc))
            continue
        funding.rows.append(Funding(inst.canonical, at, "gate", rate, mark, None, False))
        interest.rows.append(OpenInterest(inst.canonical, at, "gate", coins, coins * mark))
    return funding, interest


def deribit_result(payload: Any, what: str) -> Any:
    """Return ``result`` of a Deribit JSON-RPC answer, raising FeedError("api") on its ``error``."""
    if isinstance(payload, dict) and "error" in payload:
        raise FeedError("api", f"{what}: {str(payload['error'])[:120]}")
    return envelope(payload, "result", what)


def parse_deribit_book_summary(
    payload: Any, perpetuals: Mapping[str, str]
) -> tuple[Parsed[Funding], Parsed[OpenInterest]]:
    """Parse a book summary answer for the watched perpetuals (instrument name -> canonical symbol)."""
    items = items_list(deribit_result(payload, "deribit book summary"), "deribit book summary")
    funding: Parsed[Funding] = Parsed()
    interest: Parsed[OpenInterest] = Parsed()
    for item in items:
        try:
            symbol = perpetuals.get(text(item, "instrument_name"))
            if symbol is None:
                continue  # a dated future, or a perpetual nobody watches
            at = ts_ms(item, "creation_timestamp")
            mark = num(item, "mark_price", positive=True)
            usd = num(item, "open_interest", non_negative=True)
            rate = num(item, "funding_8h")
        except BadItem as exc:
            funding.skipped.append(str(exc))
            continue
        funding.rows.append(Funding(symbol, at, "deribit", rate, mark, None, False))
        interest.rows.append(OpenInterest(symbol, at, "deribit", usd / mark, usd))
    return funding, interest


def _pair(item: Any, size: int, what: str) -> list[Any]:
    if not isinstance(item, list) or len(item) < size:
        raise BadItem(f"{what} row is not a list of {size}: {str(item)[:40]}")
    return item


def rubik_data(payload: Any, what: str) -> list[Any]:
    """Return ``data`` of a rubik answer; a currency OKX keeps no statistics of is an unknown symbol."""
    if isinstance(payload, dict) and str(payload.get("code")) == "51000" and "ccy" in str(payload.get("msg")):
        raise FeedError("unknown_symbol", f"{what}: {str(payload.get('msg'))[:80]}")
    return okx_data(payload, what)


def parse_okx_long_short(payload: Any, symbol: str, period: str) -> Parsed[LongShort]:
    """Parse rubik long-short-account-ratio ``[[ts, ratio]]`` (``period`` in OKX's spelling)."""
    name = OKX_RUBIK_NAMES.get(period, period)

    def one(item: Any) -> LongShort:
        row = _pair(item, 2, "okx long/short")
        values = {"ts": row[0], "ratio": row[1]}
        ratio = num(values, "ratio", positive=True)
        # The ratio of accounts net long to accounts net short: the long share follows exactly.
        return LongShort(symbol, ts_ms(values, "ts"), "okx", "accounts", name, ratio, ratio / (1 + ratio))

    return parse_items(rubik_data(payload, "okx long/short ratio"), one)


def parse_okx_taker_volume(payload: Any, symbol: str, period: str) -> Parsed[LongShort]:
    """Parse rubik taker-volume ``[[ts, sellVol, buyVol]]`` (sell first, as OKX orders them)."""
    name = OKX_RUBIK_NAMES.get(period, period)

    def one(item: Any) -> LongShort | None:
        row = _pair(item, 3, "okx taker volume")
        values = {"ts": row[0], "sell": row[1], "buy": row[2]}
        sell, buy = num(values, "sell", non_negative=True), num(values, "buy", non_negative=True)
        if sell == 0:
            return None  # no sells in the period: no ratio to state
        return LongShort(
            symbol, ts_ms(values, "ts"), "okx", "taker_volume", name, buy / sell, buy / (buy + sell)
        )

    return parse_items(rubik_data(payload, "okx taker volume"), one)


def parse_predicted_fundings(payload: Any, coins: Mapping[str, str], at: int) -> Parsed[PredictedFunding]:
    """Parse ``predictedFundings`` for the watched coins (coin -> canonical symbol), read at ``at``.

    A 1000-unit coin (``kPEPE``) counts for its coin (PEPE); a rate needs no conversion.
    """
    parsed: Parsed[PredictedFunding] = Parsed()
    for entry in items_list(payload, "hyperliquid predictedFundings"):
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
            raise PayloadError(
                f"hyperliquid predictedFundings: entry is not [coin, venues]: {str(entry)[:60]}"
            )
        symbol = symbol_of(entry[0], coins)
        if symbol is None:
            continue
        for venue_entry in items_list(entry[1], f"hyperliquid predictedFundings {entry[0]}"):
            try:
                row = _pair(venue_entry, 2, "predicted funding")
                venue = PREDICTED_VENUES.get(str(row[0]))
                if venue is None or row[1] is None:
                    continue  # a venue we do not know, or none predicted for it
                rate = num(row[1], "fundingRate")
                upcoming = ts_ms(row[1], "nextFundingTime")
                hours = row[1].get("fundingIntervalHours")
                interval = num(row[1], "fundingIntervalHours", positive=True) if hours is not None else None
            except (BadItem, AttributeError) as exc:
                parsed.skipped.append(str(exc))
                continue
            parsed.rows.append(PredictedFunding(symbol, at, "hyperliquid", venue, rate, upcoming, interval))
    return parsed
