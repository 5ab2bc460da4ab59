"""US spot ETF daily net flows: idempotent upserts and reads (one row per asset, source and day)."""

from __future__ import annotations

from collections.abc import Iterable

from storage.repo.base import RepoBase, hi, lo
from storage.rows import EtfFlow

_COLUMNS = "asset, date, ts, source, net_usd, value_traded_usd, net_assets_usd, cum_net_usd, fetched_at"


class EtfMixin(RepoBase):
    """ETF flows: a day read again (the source revises late figures) replaces its row."""

    def upsert_etf_flows(self, rows: Iterable[EtfFlow]) -> int:
        """Insert or update daily flows on (asset, source, date)."""
        with self.transaction():
            cur = self.conn.executemany(
                f"INSERT INTO etf_flows ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (asset, source, date) DO UPDATE SET ts=excluded.ts, net_usd=excluded.net_usd,"
                " value_traded_usd=excluded.value_traded_usd, net_assets_usd=excluded.net_assets_usd,"
                " cum_net_usd=excluded.cum_net_usd, fetched_at=excluded.fetched_at",
                rows,
            )
        return cur.rowcount

    def etf_flows(self, asset: str, start: int | None = None, end: int | None = None) -> list[EtfFlow]:
        """Return an asset's daily flows with start <= ts < end, oldest first (every source)."""
        return [
            EtfFlow(*r)
            for r in self.conn.execute(
                f"SELECT {_COLUMNS} FROM etf_flows WHERE asset = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts, source",
                (asset, lo(start), hi(end)),
            )
        ]

    def latest_etf_flow(self, asset: str, before: int | None = None) -> EtfFlow | None:
        """Return the newest daily flow of an asset (day before ``before``), or None."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM etf_flows WHERE asset = ? AND ts < ? ORDER BY ts DESC, source LIMIT 1",
            (asset, hi(before)),
        ).fetchone()
        return EtfFlow(*row) if row else None
