"""The instrument-list cache: each venue's list as last read, for a start without network."""

from __future__ import annotations

from collections.abc import Iterable

from storage.repo.base import RepoBase
from storage.repo.mapping import INSTRUMENTS
from storage.rows import InstrumentRow


class InstrumentsMixin(RepoBase):
    """Venue instrument lists (``instruments``), each replaced whole when read again."""

    def save_instruments(self, venue: str, rows: Iterable[InstrumentRow]) -> int:
        """Replace ``venue``'s cached list with ``rows``; return how many were stored."""
        items = [INSTRUMENTS.values(r) for r in rows]
        with self.transaction():
            self.conn.execute("DELETE FROM instruments WHERE venue = ?", (venue,))
            self.conn.executemany(
                f"INSERT INTO instruments ({INSTRUMENTS.columns}) VALUES ({INSTRUMENTS.marks})", items
            )
        return len(items)

    def instrument_rows(self, venue: str | None = None) -> list[InstrumentRow]:
        """Return the cached instruments (of one venue, or all), by venue and symbol."""
        sql = f"SELECT {INSTRUMENTS.columns} FROM instruments"
        args: tuple[str, ...] = ()
        if venue is not None:
            sql += " WHERE venue = ?"
            args = (venue,)
        return [INSTRUMENTS(r) for r in self.conn.execute(sql + " ORDER BY venue, kind, symbol", args)]
