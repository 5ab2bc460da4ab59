"""The one door observations come in through: store them, update the in-memory history, tell listeners.

Every feed (live pollers and streams) and the replay loader hand their normalised rows to an Ingest.
It writes them to SQLite in one batch per call, adds them to the MarketHistory the detectors read, and
notifies listeners (the engine, to evaluate affected rules at once instead of waiting for its next tick).
Before anything, its ``RowGuard`` (``feeds.guard``) refuses rows with non-finite or absurd numbers or
times outside the accepted window, one row at a time: nothing of theirs is stored, remembered or alerted on.
"""

from __future__ import annotations

import logging
import struct
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from detectors.base import short_symbol
from detectors.market_history import (
    DEFAULT_RETENTION_MS,
    DEPTH_RETENTION_MS,
    ETF_FLOW_RETENTION_MS,
    FUNDING_RETENTION_MS,
    LIQUIDATION_RETENTION_MS,
    OPEN_INTEREST_RETENTION_MS,
    POSITIONING_RETENTION_MS,
    MarketHistory,
)
from feeds.catch_up import CatchUpHolds
from feeds.guard import RowGuard
from storage.db import database_errors, is_busy
from storage.repo import MeasuredRound, Repo
from storage.rows import (
    Candle,
    DepthBand,
    EtfFlow,
    FearGreed,
    Funding,
    ImpliedVol,
    Liquidation,
    LongShort,
    OpenInterest,
    PredictedFunding,
    interval_ms,
)

log = logging.getLogger(__name__)

# Listener(kind, symbols): kind is "candles", "liquidations", "funding", "open_interest" or "fear_greed".
Listener = Callable[[str, frozenset[str]], None]
# RowListener(rows): the liquidation events of one batch that were new (the live large-liquidation feed).
RowListener = Callable[[Sequence[Liquidation]], None]

# Deferred writes (a replay) cannot ask the database which liquidation events are new before the history
# takes them, so that mode remembers this many recent event keys to drop repeats (two recorded files
# holding the same events) before they reach the in-memory totals. Live ingest needs none: the database
# says which rows it stored (Repo.store_liquidations), and only those reach the history.
RECENT_LIQUIDATION_KEYS = 200_000
# A remembered key is packed into one 28-byte bytes object (time, price and quantity as raw 64-bit values,
# and a number standing for symbol, source and side): about 110 bytes a key with its set and deque slots
# instead of about 250 for a tuple of six objects in an OrderedDict. Equal keys are equal rows, as with the
# tuple.
_KEY = struct.Struct("<qddI")


class Ingest:
    """Store observation rows and fan them out to the history and listeners.

    With ``defer_writes`` the database writes are queued and done by ``flush`` (in the caller's transaction),
    one statement per run of rows of a kind instead of one per call: a replay hands over one instant at a
    time, and a write per instant (with its savepoint) was a fifth of a year's replay (bench.replay). The
    history and listeners are updated at once either way; nothing reads observation rows back from the
    database while they wait.
    """

    def __init__(
        self,
        repo: Repo,
        history: MarketHistory,
        *,
        defer_writes: bool = False,
        guard: RowGuard | None = None,
    ) -> None:
        self.repo = repo
        self.history = history
        # Without a clock the default guard checks numbers only (a replay of recorded years).
        self.guard = guard or RowGuard()
        self.counts: Counter[str] = Counter()  # rows ingested per "kind:source", for /metrics
        self._count_keys: dict[tuple[str, str], str] = {}
        self._listeners: list[Listener] = []
        self._row_listeners: list[RowListener] = []
        self._recent_liquidations: set[bytes] = set()
        self._recent_order: deque[bytes] = deque()  # the same keys, oldest first
        self._key_names: dict[tuple[str, str, str], int] = {}  # (symbol, source, side) -> its number
        self.defer_writes = defer_writes
        # Queued writes per table, in call order: [write method, rows] runs. Liquidation events and buckets
        # share a table (and its hourly-total trigger), so they share one queue and keep their order.
        self._queued: dict[str, list[tuple[Callable[[Iterable[Any]], int], list[Any]]]] = {}
        # Live liquidation events that met another connection's write lock, stored by ``flush``: only the
        # database knows which are new, so the history and listeners get them then, not before.
        self._locked_out: list[Liquidation] = []
        # A bounded history reads back what a newly loaded rule reads further back than it holds.
        history.reader = self.read_older
        # A bounded history keeps what a batch spanning a gap brings until the rules have read it.
        self._holds = CatchUpHolds(history) if history.bounded else None

    @property
    def waiting_rows(self) -> int:
        """Return how many rows wait in memory for the database (deferred, or locked out)."""
        return len(self._locked_out) + sum(len(r) for q in self._queued.values() for _m, r in q)

    def _write(self, table: str, method: Callable[[Iterable[Any]], int], rows: Sequence[Any]) -> None:
        if not self.defer_writes and not self._queued.get(table):
            try:
                method(rows)
                return
            except database_errors() as exc:
                if not is_busy(exc):
                    raise
                # Another connection holds the write lock: the rows wait in memory (after any already
                # waiting, so their order holds) for the next ``flush`` (issue 17, finding 6).
                log.warning("database locked by another connection; %d %s rows wait", len(rows), table)
        queue = self._queued.setdefault(table, [])
        if queue and queue[-1][0] == method:
            queue[-1][1].extend(rows)
        else:
            queue.append((method, list(rows)))

    def flush(self) -> None:
        """Write the queued rows (deferred, or locked out by another connection), in order per table."""
        if self._queued:
            queued, self._queued = self._queued, {}
            try:
                with self.repo.transaction():
                    for queue in queued.values():
                        for method, rows in queue:
                            method(rows)
            except BaseException:
                self._queued = queued  # rolled back: nothing of them is stored, so keep them all
                raise
        if self._locked_out:
            waiting, self._locked_out = self._locked_out, []
            try:
                fresh = self.repo.store_liquidations(waiting)
            except BaseException:
                self._locked_out = waiting + self._locked_out
                raise
            self._took_liquidations(fresh)

    @property
    def remembered_liquidations(self) -> int:
        """Return how many recent liquidation keys are held to drop repeats."""
        return len(self._recent_order)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, symbols)`` after every batch that was stored."""
        self._listeners.append(listener)

    def subscribe_rows(self, kind: Literal["liquidations"], listener: RowListener) -> None:
        """Call ``listener(rows)`` with the new liquidation events of every stored batch (repeats dropped).

        Only individual events reach it, never aggregated buckets (hourly totals are not "a liquidation").
        It runs on the ingest path, so it must only take note of the rows and return.
        """
        if kind != "liquidations":
            raise ValueError(f"rows of kind {kind!r} cannot be subscribed to; only 'liquidations'")
        self._row_listeners.append(listener)

    def _notify(
        self, kind: str, rows: Sequence[Candle | Liquidation | Funding | OpenInterest | LongShort | DepthBand]
    ) -> None:
        if not self._listeners:
            return  # a replay listens to nobody: no set of symbols to build per instant
        symbols = frozenset(row.symbol for row in rows)
        for listener in self._listeners:
            try:
                listener(kind, symbols)
            except Exception:
                log.exception("ingest listener failed for %s %s", kind, sorted(symbols))

    def _count(
        self,
        kind: str,
        rows: Sequence[
            Candle | Liquidation | Funding | OpenInterest | FearGreed | LongShort | ImpliedVol | DepthBand
        ],
    ) -> None:
        # The "kind:source" keys are made once: a string built per row was 2% of ingest (bench.ingest) and
        # a Counter per call 4% of a replay (bench.replay, py-spy).
        counts, keys = self.counts, self._count_keys
        if len(rows) == 1:  # most calls of a replay: one row of one instant
            only = rows[0].source
            counts[keys.get((kind, only)) or keys.setdefault((kind, only), f"{kind}:{only}")] += 1
            return
        source: str | None = None
        key = ""
        for row in rows:
            if row.source != source:
                source = row.source
                key = keys.get((kind, source)) or keys.setdefault((kind, source), f"{kind}:{source}")
            counts[key] += 1

    def candles(self, rows: Sequence[Candle]) -> None:
        """Store candles (upsert) and update the history."""
        rows = self.guard.candles(rows) if rows else rows
        if not rows:
            return
        self._write("candles", self.repo.upsert_candles, rows)
        if self._holds is not None:
            self._holds.candles((r.symbol, r.interval, r.open_time) for r in rows)
        self.history.add_candles(rows)
        self._count("candles", rows)
        self._notify("candles", rows)

    def liquidations(self, rows: Sequence[Liquidation]) -> int:
        """Store new liquidation events, dropping repeats; return how many were new.

        Live, the database decides what is new: a repeat of any event it holds (a re-poll, a websocket
        replaying its last frame, the overlap of a replaced connection, the backfill after a restart) is
        dropped before the history's totals and the row listeners. It used to be a set of the last 200,000
        event keys, 22 MB of a busy bot's memory (bench.memory) that forgot across restarts.
        """
        rows = self.guard.liquidations(rows) if rows else rows
        if not rows:
            return 0
        if self.defer_writes:
            fresh = self._unseen(rows)
            if fresh:
                self._write("liquidations", self.repo.insert_liquidations, fresh)
        else:
            fresh = self._store_live_liquidations(rows if isinstance(rows, list) else list(rows))
        return self._took_liquidations(fresh)

    def _store_live_liquidations(self, rows: list[Liquidation]) -> list[Liquidation]:
        """Store events and return the new ones; under another connection's lock keep them for ``flush``."""
        if not self._locked_out:
            try:
                return self.repo.store_liquidations(rows)
            except database_errors() as exc:
                if not is_busy(exc):
                    raise
                log.warning("database locked by another connection; %d liquidation events wait", len(rows))
        self._locked_out.extend(rows)
        return []

    def _took_liquidations(self, fresh: list[Liquidation]) -> int:
        """Hand newly stored liquidation events to the history and the listeners; return how many."""
        if not fresh:
            return 0
        self.history.add_liquidations(fresh)
        self._count("liquidations", fresh)
        self._notify("liquidations", fresh)
        for listener in self._row_listeners:
            try:
                listener(fresh)
            except Exception:
                log.exception("liquidation row listener failed for %d rows", len(fresh))
        return len(fresh)

    def _unseen(self, rows: Sequence[Liquidation]) -> list[Liquidation]:
        """Return the rows whose key is not among the recent ones remembered (deferred writes only)."""
        fresh: list[Liquidation] = []
        recent, order, names = self._recent_liquidations, self._recent_order, self._key_names
        for row in rows:
            name = (row.symbol, row.source, row.side)
            number = names.get(name)
            if number is None:
                number = names[name] = len(names)
            # + 0.0 turns -0.0 into 0.0, which the tuple key treated as equal.
            key = _KEY.pack(row.ts, row.price + 0.0, row.qty + 0.0, number)
            if key in recent:
                continue
            recent.add(key)
            order.append(key)
            fresh.append(row)
        while len(order) > RECENT_LIQUIDATION_KEYS:
            recent.discard(order.popleft())
        return fresh

    def liquidation_buckets(self, rows: Sequence[Liquidation]) -> None:
        """Store aggregated liquidation buckets (one row per side per bucket), replacing earlier totals."""
        rows = self.guard.liquidations(rows) if rows else rows
        if not rows:
            return
        self._write("liquidations", self.repo.upsert_liquidation_buckets, rows)
        set_liquidation_buckets(self.history, rows)
        self._count("liquidations", rows)
        self._notify("liquidations", rows)

    def funding(self, rows: Sequence[Funding]) -> None:
        """Store funding rates and update the history."""
        rows = self.guard.funding(rows) if rows else rows
        if not rows:
            return
        self._write("funding", self.repo.upsert_funding, rows)
        if self._holds is not None:
            self._holds.points("funding", ((r.symbol, r.ts) for r in rows if r.settled))
        self.history.add_funding(rows)
        self._count("funding", rows)
        self._notify("funding", rows)

    def open_interest(self, rows: Sequence[OpenInterest]) -> None:
        """Store open-interest points and update the history."""
        rows = self.guard.open_interest(rows) if rows else rows
        if not rows:
            return
        self._write("open_interest", self.repo.upsert_open_interest, rows)
        if self._holds is not None:
            self._holds.points("open_interest", ((r.symbol, r.ts) for r in rows))
        self.history.add_open_interest(rows)
        self._count("open_interest", rows)
        self._notify("open_interest", rows)

    def measured(self, rounds: Sequence[MeasuredRound]) -> None:
        """Store sampling rounds of the measured liquidation map (each replaces its hour)."""
        self._write("measured_positions", self.repo.store_measured, rounds)
        for sample, _positions in rounds:
            self.counts[f"measured:{sample.venue}"] += 1

    def long_short(self, rows: Sequence[LongShort]) -> None:
        """Store long/short readings and update the history."""
        rows = self.guard.long_short(rows) if rows else rows
        if not rows:
            return
        self._write("long_short", self.repo.upsert_long_short, rows)
        self.history.add_long_short(rows)
        self._count("long_short", rows)
        self._notify("long_short", rows)

    def predicted_funding(self, rows: Sequence[PredictedFunding]) -> None:
        """Store predicted funding rates (forecasts: no detector or aggregate reads them)."""
        rows = self.guard.predicted_funding(rows) if rows else rows
        if not rows:
            return
        self._write("predicted_funding", self.repo.upsert_predicted_funding, rows)
        self.counts["predicted_funding:hyperliquid"] += len(rows)

    def depth(self, rows: Sequence[DepthBand]) -> None:
        """Store order-book depth bands and update the history (the thin-liquidity detector reads it)."""
        rows = self.guard.depth(rows) if rows else rows
        if not rows:
            return
        self._write("depth_bands", self.repo.upsert_depth, rows)
        self.history.add_depth(rows)
        self._count("depth", rows)
        self._notify("depth", rows)

    def implied_vol(self, rows: Sequence[ImpliedVol]) -> None:
        """Store volatility-index candles and update the history (market-wide: every symbol may read it)."""
        rows = self.guard.implied_vol(rows) if rows else rows
        if not rows:
            return
        self._write("implied_vol", self.repo.upsert_implied_vol, rows)
        self.history.add_implied_vol(rows)
        self._count("implied_vol", rows)
        self._notify("implied_vol", [])

    def etf_flows(self, rows: Sequence[EtfFlow]) -> None:
        """Store daily ETF flows as read and update the history (market-wide: per asset, not per symbol)."""
        if not rows:
            return
        self._write("etf_flows", self.repo.upsert_etf_flows, rows)
        self.history.add_etf_flows(rows)
        self.counts[f"etf_flow:{rows[0].source}"] += len(rows)
        self._notify("etf_flow", [])

    def fear_greed(self, rows: Sequence[FearGreed]) -> None:
        """Store Fear & Greed values and update the history."""
        rows = self.guard.fear_greed(rows) if rows else rows
        if not rows:
            return
        self._write("fear_greed", self.repo.upsert_fear_greed, rows)
        self.history.add_fear_greed(rows)
        self._count("fear_greed", rows)
        self._notify("fear_greed", [])

    def caught_up(self, symbols: Iterable[str] | None) -> None:
        """Let the history drop what it held over a gap for ``symbols`` (all: None), now evaluated."""
        if self._holds is not None:
            self._holds.release(symbols)

    def read_older(self, symbol: str, key: str, start: int, end: int) -> Sequence[Any]:
        """Return a symbol's stored rows of a candle interval or kind in [start, end), oldest first.

        The history asks when a rule now reads further back than it holds (``MarketHistory.require``);
        liquidations come as per-minute sums, (source, minute, long USD, short USD).
        """
        if key == "liquidations":
            return self.repo.liquidation_minutes(symbol, start, end)
        if key == "funding":
            return self.repo.funding(symbol, start, end)
        if key == "open_interest":
            return self.repo.open_interest(symbol, start, end)
        return self.repo.candles(symbol, key, start, end)

    def warm_up(self, symbols: Sequence[str], now: int) -> int:
        """Load what the in-memory history keeps from the database (at start), returning rows loaded.

        Only the windows the history retains are read, and liquidations are read as per-minute sums, so
        start-up stays fast however large the database has grown. A bounded history reads the same windows
        and keeps, as they arrive in time order, what the rules loaded by then read of them (at least its
        floor; what rules loaded later read is read back through ``read_older``).
        """
        loaded = 0
        history = self.history
        for symbol in symbols:
            # Coarse intervals first, so the finest becomes the base the others are aggregated from.
            for interval in sorted(self.repo.candle_intervals(symbol), key=interval_ms, reverse=True):
                keep = DEFAULT_RETENTION_MS.get(interval, DEFAULT_RETENTION_MS["1h"])
                rows = self.repo.candles(symbol, interval, now - keep, now + interval_ms(interval))
                history.add_candles(rows)
                loaded += len(rows)
            for source, minute, long_usd, short_usd in self.repo.liquidation_minutes(
                symbol, now - LIQUIDATION_RETENTION_MS, now + 1
            ):
                history.set_liquidation_bucket(symbol, source, minute, long_usd, short_usd)
                loaded += 1
            funding = self.repo.funding(symbol, now - FUNDING_RETENTION_MS, now + 1)
            history.add_funding(funding)
            interest = self.repo.open_interest(symbol, now - OPEN_INTEREST_RETENTION_MS, now + 1)
            history.add_open_interest(interest)
            ratios = self.repo.long_short(symbol, now - POSITIONING_RETENTION_MS, now + 1)
            history.add_long_short(ratios)
            depth = self.repo.depth(symbol, now - DEPTH_RETENTION_MS, now + 1)
            history.add_depth(depth)
            loaded += len(funding) + len(interest) + len(ratios) + len(depth)
        for currency in sorted({short_symbol(s) for s in symbols}):
            vol = self.repo.implied_vol(currency, now - POSITIONING_RETENTION_MS, now + 1)
            history.add_implied_vol(vol)
            loaded += len(vol)
            flows = self.repo.etf_flows(currency, now - ETF_FLOW_RETENTION_MS, now + 1)
            history.add_etf_flows(flows)
            loaded += len(flows)
        fear_greed = self.repo.fear_greed(None, now + 1)
        history.add_fear_greed(fear_greed)
        return loaded + len(fear_greed)


def set_liquidation_buckets(history: MarketHistory, rows: Iterable[Liquidation]) -> None:
    """Set the totals of aggregated liquidation buckets (one row per side per bucket) in the history."""
    # A bucket's total is set, not added: the same bucket may come twice in one batch (two files of the
    # same provider, a revised total), and the last value is the one the database keeps too.
    latest = {(row.symbol, row.source, row.ts, row.side): row.usd for row in rows}
    totals: dict[tuple[str, str, int], list[float]] = {}
    for (symbol, source, ts, side), usd in latest.items():
        totals.setdefault((symbol, source, ts), [0.0, 0.0])[0 if side == "long" else 1] = usd
    for (symbol, source, ts), (long_usd, short_usd) in totals.items():
        history.set_liquidation_bucket(symbol, source, ts, long_usd, short_usd)
