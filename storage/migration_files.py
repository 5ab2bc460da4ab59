"""The numbered migration files of both dialects, and the error a database Tripwire must not use raises."""

from __future__ import annotations

import re
from importlib import resources

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class DatabaseError(Exception):
    """A database file that Tripwire must not use, with a message meant for the operator."""


def migration_files(package: str) -> list[tuple[int, str, str]]:
    """Return (version, name, SQL) of a package's migrations in order, checking the numbering has no gaps."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (version, _name, _sql) in enumerate(found, start=1):
        if version != expected:
            raise RuntimeError(f"migration numbering has a gap or duplicate at {version:04d} in {package}")
    return found
