"""The connection manners the repository relies on, met by sqlite3 and by ``storage.postgres``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol


class Cursor(Protocol):
    """The result of one statement."""

    @property
    def rowcount(self) -> int:
        """Rows the statement changed (or returned)."""

    @property
    def lastrowid(self) -> int | None:
        """The id an INSERT generated."""

    def fetchone(self) -> Any:
        """Return the next row, or None."""

    def fetchall(self) -> list[Any]:
        """Return every remaining row."""

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the remaining rows."""


class Connection(Protocol):
    """A connection the repository runs statements on (``?`` placeholders, explicit transactions)."""

    @property
    def total_changes(self) -> int:
        """Rows changed since the connection opened."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor:
        """Run one statement."""

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Cursor:
        """Run one statement once per parameter set."""

    def getlimit(self, category: int, /) -> int:
        """Return a limit of the connection (the bound-parameter count is the one asked)."""

    def close(self) -> None:
        """Close the connection."""
