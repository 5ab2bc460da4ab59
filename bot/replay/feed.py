"""Hand a replay's rows to the in-memory history at their instant, and store them in large batches.

A replay is its own only feed and listens to nobody, so most of what ``feeds.ingest.Ingest`` does per call
(counting rows per source for /metrics, telling listeners, a write queue per call, the database deciding
which liquidation events are new) has no one to serve there. Per instant this feed does only what the
rules read: the rows the guard accepts go to the history at once; their database writes wait in one list
per kind and are written by ``store`` with one multi-row statement run per kind, in the caller's
transaction. Ingest per instant was a quarter of a year's replay (bench.replay, cProfile).

Repeated liquidation events (two recorded files holding the same events) are dropped before they reach
the history's totals, as ``Ingest`` does: an event becomes available at its own time, so its repeats are
in the same instant's rows, and that instant is the only place to look for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from detectors.market_history import MarketHistory
from feeds.guard import RowGuard
from feeds.ingest import set_liquidation_buckets
from feeds.replay import Batch
from storage.repo import Repo
from storage.rows import Candle, EtfFlow, FearGreed, Funding, Liquidation, OpenInterest

Row = TypeVar("Row")


class ReplayFeed:
    """Rows of one instant after another into the history; their writes kept for ``store``."""

    def __init__(self, repo: Repo, history: MarketHistory, guard: RowGuard | None = None) -> None:
        self.repo = repo
        self.history = history
        # Without a clock the guard checks numbers only (a replay of recorded years has no "now").
        self.guard = guard or RowGuard()
        self._candles: list[Candle] = []
        self._buckets: list[Liquidation] = []
        self._events: list[Liquidation] = []
        self._funding: list[Funding] = []
        self._open_interest: list[OpenInterest] = []
        self._fear_greed: list[FearGreed] = []
        self._etf_flows: list[EtfFlow] = []

    @property
    def waiting_rows(self) -> int:
        """Return how many accepted rows wait for ``store``."""
        return (
            len(self._candles)
            + len(self._buckets)
            + len(self._events)
            + len(self._funding)
            + len(self._open_interest)
            + len(self._fear_greed)
            + len(self._etf_flows)
        )

    def take(self, batch: Batch) -> int:
        """Add an instant's rows to the history and keep them for ``store``; return how many there were."""
        # The two kinds of nearly every instant (a year's replay has 1.5M) are taken inline, without a helper
        # call per kind per instant (7% of this method's cost, 30 synthetic days).
        rows = 0
        candles = batch.candles
        if candles:
            accepted = self.guard.candles(candles)
            if accepted:
                self.history.add_candles(accepted)
                self._candles.extend(accepted)
            rows = len(candles)
        # Buckets before events, as before (both go into the same per-minute sums).
        if batch.liquidation_buckets:
            rows += _accept(
                batch.liquidation_buckets, self.guard.liquidations, self._set_buckets, self._buckets
            )
        events = batch.liquidations
        if events:
            accepted_events = self.guard.liquidations(events)
            if len(accepted_events) > 1:
                accepted_events = _without_repeats(accepted_events)
            if accepted_events:
                self.history.add_liquidations(accepted_events)
                self._events.extend(accepted_events)
            rows += len(events)
        if batch.funding or batch.open_interest or batch.fear_greed or batch.etf_flows:
            rows += self._take_others(batch)
        return rows

    def _take_others(self, batch: Batch) -> int:
        """Take an instant's funding, open interest, Fear & Greed and ETF flows (a few rows an hour)."""
        history, guard = self.history, self.guard
        rows = 0
        if batch.funding:
            rows += _accept(batch.funding, guard.funding, history.add_funding, self._funding)
        if batch.open_interest:
            rows += _accept(
                batch.open_interest, guard.open_interest, history.add_open_interest, self._open_interest
            )
        if batch.fear_greed:
            rows += _accept(batch.fear_greed, guard.fear_greed, history.add_fear_greed, self._fear_greed)
        if batch.etf_flows:
            # Taken as read, as Ingest does: a changed format is refused whole by the feed that reads them.
            rows += len(batch.etf_flows)
            history.add_etf_flows(batch.etf_flows)
            self._etf_flows.extend(batch.etf_flows)
        return rows

    def _set_buckets(self, rows: Sequence[Liquidation]) -> None:
        set_liquidation_buckets(self.history, rows)

    def store(self) -> None:
        """Write the rows taken since the last call, one statement run per kind (in the caller's transaction).

        A row that fails to be written leaves every list as it was, so a retried ``store`` writes it all.
        """
        repo = self.repo
        if self._candles:
            repo.upsert_candles(self._candles)
        # Buckets and events share a table but never a key (a bucket's price and quantity are 0), and its
        # hourly totals are sums: writing one kind before the other stores what their instants' order would.
        if self._buckets:
            repo.upsert_liquidation_buckets(self._buckets)
        if self._events:
            repo.insert_liquidations(self._events)
        if self._funding:
            repo.upsert_funding(self._funding)
        if self._open_interest:
            repo.upsert_open_interest(self._open_interest)
        if self._fear_greed:
            repo.upsert_fear_greed(self._fear_greed)
        if self._etf_flows:
            repo.upsert_etf_flows(self._etf_flows)
        self._candles, self._buckets, self._events = [], [], []
        self._funding, self._open_interest, self._fear_greed, self._etf_flows = [], [], [], []


def _accept(
    rows: Sequence[Row],
    check: Callable[[Sequence[Row]], Sequence[Row]],
    add: Callable[[Sequence[Row]], None],
    kept: list[Row],
) -> int:
    """Add the rows ``check`` accepts to the history with ``add``, keep them; return how many were given."""
    accepted = check(rows)
    if accepted:
        add(accepted)
        kept.extend(accepted)
    return len(rows)


def _without_repeats(rows: Sequence[Liquidation]) -> Sequence[Liquidation]:
    """Return the events of one instant with exact repeats dropped (the first of each kept, in order)."""
    if len(rows) < 2:
        return rows
    # The key Ingest and the database know an event by: all but its USD value (price times quantity).
    seen: set[tuple[str, int, str, str, float, float]] = set()
    fresh: list[Liquidation] = []
    for row in rows:
        key = (row.symbol, row.ts, row.source, row.side, row.price, row.qty)
        if key not in seen:
            seen.add(key)
            fresh.append(row)
    return fresh
