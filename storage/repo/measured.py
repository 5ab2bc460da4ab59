"""The measured liquidation map: sampled accounts' positions and what each round covered, per hour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.repo.base import RepoBase
from storage.rows import MeasuredPositionRow, MeasuredSample

# The row's ``user`` is the ``account`` column (USER is a reserved word in PostgreSQL).
_POSITION_COLUMNS = (
    "venue, symbol, hour, account, side, size, value_usd, entry, liquidation_px, leverage, margin, ts"
)
_SAMPLE_COLUMNS = "venue, symbol, hour, ts, accounts_read, accounts, sampled_usd, open_interest_usd, mark_px"
MeasuredRound = tuple[MeasuredSample, Sequence[MeasuredPositionRow]]


class MeasuredMixin(RepoBase):
    """Sampled positions (with the venue's liquidation prices) and the sampling rounds' coverage."""

    def store_measured(self, rounds: Iterable[MeasuredRound]) -> int:
        """Replace each round's hour of its venue and symbol with the round; return the positions stored."""
        stored = 0
        for sample, positions in rounds:
            key = (sample.venue, sample.symbol, sample.hour)
            self.conn.execute(
                "DELETE FROM measured_positions WHERE venue = ? AND symbol = ? AND hour = ?", key
            )
            self.conn.executemany(
                f"INSERT INTO measured_positions ({_POSITION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [tuple(p) for p in positions],
            )
            self.conn.execute(
                f"INSERT INTO measured_samples ({_SAMPLE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (venue, symbol, hour) DO UPDATE SET ts = excluded.ts,"
                " accounts_read = excluded.accounts_read, accounts = excluded.accounts,"
                " sampled_usd = excluded.sampled_usd, open_interest_usd = excluded.open_interest_usd,"
                " mark_px = excluded.mark_px",
                tuple(sample),
            )
            stored += len(positions)
        return stored

    def measured_samples(self, venue: str, symbol: str, start: int, end: int) -> list[MeasuredSample]:
        """Return the rounds of a venue and symbol that ended in [start, end), oldest first."""
        return [
            MeasuredSample(*r)
            for r in self.conn.execute(
                f"SELECT {_SAMPLE_COLUMNS} FROM measured_samples WHERE venue = ? AND symbol = ?"
                " AND ts >= ? AND ts < ? ORDER BY hour",
                (venue, symbol, start, end),
            )
        ]

    def measured_positions(self, venue: str, symbol: str, hour: int) -> list[MeasuredPositionRow]:
        """Return the positions the round of that hour read."""
        return [
            MeasuredPositionRow(*r)
            for r in self.conn.execute(
                f"SELECT {_POSITION_COLUMNS} FROM measured_positions WHERE venue = ? AND symbol = ?"
                " AND hour = ? ORDER BY account",
                (venue, symbol, hour),
            )
        ]
