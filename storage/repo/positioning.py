"""Positioning tables beyond funding and open interest: long/short, implied volatility, depth, predictions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from storage.repo.base import RepoBase, hi, lo
from storage.rows import DepthBand, ImpliedVol, LongShort, PredictedFunding


class PositioningMixin(RepoBase):
    """Long/short ratios and volatility-index candles: idempotent upserts and range reads."""

    def upsert_long_short(self, rows: Iterable[LongShort]) -> int:
        """Insert or update long/short readings on (symbol, metric, source, period, ts)."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO long_short (symbol, ts, source, metric, period, ratio, long_share)"
                " VALUES (?,?,?,?,?,?,?) ON CONFLICT (symbol, metric, source, period, ts)"
                " DO UPDATE SET ratio=excluded.ratio, long_share=excluded.long_share",
                rows,
            )
        return cur.rowcount

    def upsert_implied_vol(self, rows: Iterable[ImpliedVol]) -> int:
        """Insert or update volatility-index candles on (currency, source, resolution, ts)."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO implied_vol (currency, ts, source, resolution, open, high, low, close)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (currency, source, resolution, ts)"
                " DO UPDATE SET open=excluded.open, high=excluded.high, low=excluded.low,"
                " close=excluded.close",
                rows,
            )
        return cur.rowcount

    def upsert_depth(self, rows: Iterable[DepthBand]) -> int:
        """Insert or update depth bands on (symbol, source, band_bp, ts)."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO depth_bands (symbol, ts, source, band_bp, bid_usd, ask_usd, bid_complete,"
                " ask_complete) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (symbol, source, band_bp, ts)"
                " DO UPDATE SET bid_usd=excluded.bid_usd, ask_usd=excluded.ask_usd,"
                " bid_complete=excluded.bid_complete, ask_complete=excluded.ask_complete",
                rows,
            )
        return cur.rowcount

    def depth(self, symbol: str, start: int | None = None, end: int | None = None) -> list[DepthBand]:
        """Return depth bands with start <= ts < end, oldest first."""
        return [
            DepthBand(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]))
            for r in self.conn.execute(
                "SELECT symbol, ts, source, band_bp, bid_usd, ask_usd, bid_complete, ask_complete"
                " FROM depth_bands WHERE symbol = ? AND ts >= ? AND ts < ? ORDER BY ts, source, band_bp",
                (symbol, lo(start), hi(end)),
            )
        ]

    def latest_depth(self, symbol: str, since: int) -> list[DepthBand]:
        """Return each venue's newest snapshot (all its bands) taken at or after ``since``."""
        return [
            DepthBand(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]))
            for r in self.conn.execute(
                "SELECT d.symbol, d.ts, d.source, d.band_bp, d.bid_usd, d.ask_usd, d.bid_complete,"
                " d.ask_complete FROM depth_bands d JOIN (SELECT source, MAX(ts) AS ts FROM depth_bands"
                " WHERE symbol = ? AND ts >= ? GROUP BY source) n ON d.source = n.source AND d.ts = n.ts"
                " WHERE d.symbol = ? ORDER BY d.source, d.band_bp",
                (symbol, since, symbol),
            )
        ]

    def long_short(
        self,
        symbol: str,
        start: int | None = None,
        end: int | None = None,
        *,
        metric: str | None = None,
        source: str | None = None,
    ) -> list[LongShort]:
        """Return long/short readings with start <= ts < end, oldest first (optionally one metric/source)."""
        sql = (
            "SELECT symbol, ts, source, metric, period, ratio, long_share FROM long_short"
            " WHERE symbol = ? AND ts >= ? AND ts < ?"
        )
        params: list[Any] = [symbol, lo(start), hi(end)]
        for column, value in (("metric", metric), ("source", source)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        sql += " ORDER BY ts, source, metric"
        return [LongShort(*r) for r in self.conn.execute(sql, params)]

    def implied_vol(
        self, currency: str, start: int | None = None, end: int | None = None
    ) -> list[ImpliedVol]:
        """Return volatility-index candles of a currency with start <= ts < end, oldest first."""
        return [
            ImpliedVol(*r)
            for r in self.conn.execute(
                "SELECT currency, ts, source, resolution, open, high, low, close FROM implied_vol"
                " WHERE currency = ? AND ts >= ? AND ts < ? ORDER BY ts, source",
                (currency, lo(start), hi(end)),
            )
        ]

    def upsert_predicted_funding(self, rows: Iterable[PredictedFunding]) -> int:
        """Insert or update predicted funding rates on (symbol, source, venue, ts)."""
        with self.transaction():
            cur = self.conn.executemany(
                "INSERT INTO predicted_funding (symbol, ts, source, venue, rate, next_funding_time,"
                " interval_h) VALUES (?,?,?,?,?,?,?) ON CONFLICT (symbol, source, venue, ts)"
                " DO UPDATE SET rate=excluded.rate, next_funding_time=excluded.next_funding_time,"
                " interval_h=excluded.interval_h",
                rows,
            )
        return cur.rowcount

    def latest_predicted_funding(self, symbol: str, since: int) -> list[PredictedFunding]:
        """Return each (source, venue)'s newest prediction made at or after ``since``, by venue."""
        return [
            PredictedFunding(*r)
            for r in self.conn.execute(
                "SELECT p.symbol, p.ts, p.source, p.venue, p.rate, p.next_funding_time, p.interval_h"
                " FROM predicted_funding p JOIN (SELECT source, venue, MAX(ts) AS ts FROM predicted_funding"
                " WHERE symbol = ? AND ts >= ? GROUP BY source, venue) n"
                " ON p.source = n.source AND p.venue = n.venue AND p.ts = n.ts"
                " WHERE p.symbol = ? ORDER BY p.source, p.venue",
                (symbol, since, symbol),
            )
        ]
