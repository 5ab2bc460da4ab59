"""The liquidation map's graded sweeps."""

from __future__ import annotations

from collections.abc import Iterable

from storage.repo.base import RepoBase
from storage.rows import LiqMapGrade

_COLUMNS = (
    "symbol, venue, model_venue, side, band_low, band_high, start, end, modelled_usd, realized_usd, basis,"
    " graded_at"
)


class LiqMapMixin(RepoBase):
    """Graded sweeps of the liquidation map."""

    def save_liqmap_grades(self, rows: Iterable[LiqMapGrade]) -> int:
        """Insert or update graded sweeps (keyed by symbol, venues, side and start); return the count."""
        cur = self.conn.executemany(
            f"INSERT INTO liqmap_grades ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (symbol, venue, model_venue, side, start) DO UPDATE SET"
            " band_low = excluded.band_low, band_high = excluded.band_high, end = excluded.end,"
            " modelled_usd = excluded.modelled_usd, realized_usd = excluded.realized_usd,"
            " basis = excluded.basis, graded_at = excluded.graded_at",
            [tuple(row) for row in rows],
        )
        return cur.rowcount

    def liqmap_grades(self, symbol: str | None = None) -> list[LiqMapGrade]:
        """Return graded sweeps (of a symbol, or all), oldest first."""
        where, params = ("WHERE symbol = ?", [symbol]) if symbol is not None else ("", [])
        return [
            LiqMapGrade(*r)
            for r in self.conn.execute(
                f"SELECT {_COLUMNS} FROM liqmap_grades {where} ORDER BY start, venue", params
            )
        ]
