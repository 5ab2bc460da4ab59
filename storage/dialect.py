"""What differs between the two SQL dialects Tripwire speaks: SQLite (the default) and PostgreSQL.

The repository's queries are written once, in the SQL both databases share. What they do not share comes
in two kinds, handled in two places:

- spelling that a machine can rewrite without knowing what a query means (``?`` placeholders,
  ``INSERT OR IGNORE``, ``BEGIN IMMEDIATE``, ``CAST(... AS INTEGER)``): ``postgres_sql`` rewrites it, once
  per distinct statement, for the PostgreSQL connection (``storage.postgres``);
- meaning that differs (reading a value out of a JSON column: SQLite's ``json_extract`` returns an integer
  or a text as stored, PostgreSQL's operators return ``jsonb`` or ``text``): the query asks its
  ``Dialect`` for the fragment, saying which of the three it needs (a value, a text, a number).
"""

from __future__ import annotations

import re
from functools import lru_cache


def _json_path(path: str) -> list[str]:
    """Return the keys of a ``$.a.b`` path (the only JSON paths the repository uses)."""
    if not path.startswith("$."):
        raise ValueError(f"JSON path must look like $.key or $.key.key, got {path!r}")
    return path[2:].split(".")


class Dialect:
    """SQLite's fragments; ``PostgresDialect`` overrides each."""

    name = "sqlite"

    def json_value(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` of a JSON text column as Python gets it (int, str...)."""
        return f"json_extract({column}, '{path}')"

    def json_text(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` as text, for comparing with a text parameter."""
        return f"json_extract({column}, '{path}')"

    def json_number(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` as a number (NULL when it is not one)."""
        return f"json_extract({column}, '{path}')"

    def json_set(self, column: str, path: str, json_literal: str) -> str:
        """Return SQL giving the JSON text of ``column`` with ``path`` set to ``json_literal`` (e.g. true)."""
        return f"json_set({column}, '{path}', json('{json_literal}'))"


class PostgresDialect(Dialect):
    """PostgreSQL's fragments: JSON columns are text (as in SQLite) read through ``jsonb`` operators."""

    name = "postgresql"

    def json_value(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` as ``jsonb`` (psycopg gives it back as int, str...)."""
        return f"({column}::jsonb #> '{{{','.join(_json_path(path))}}}')"

    def json_text(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` as text."""
        return f"({column}::jsonb #>> '{{{','.join(_json_path(path))}}}')"

    def json_number(self, column: str, path: str) -> str:
        """Return SQL reading the value at ``path`` as numeric (NULL when it is not a JSON number)."""
        keys = "{" + ",".join(_json_path(path)) + "}"
        return (
            f"(CASE WHEN jsonb_typeof({column}::jsonb #> '{keys}') = 'number'"
            f" THEN ({column}::jsonb #>> '{keys}')::numeric END)"
        )

    def json_set(self, column: str, path: str, json_literal: str) -> str:
        """Return SQL giving the JSON text of ``column`` with ``path`` set to ``json_literal``."""
        keys = "{" + ",".join(_json_path(path)) + "}"
        return f"jsonb_set({column}::jsonb, '{keys}', '{json_literal}'::jsonb)::text"


SQLITE = Dialect()
POSTGRES = PostgresDialect()

# Tables whose ``id`` the database assigns: an INSERT into one returns it (sqlite3's ``lastrowid``).
GENERATED_ID_TABLES = frozenset(
    {"alert_events", "outbox", "silences", "digests", "member_notices", "message_groups"}
)

_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?|%|(?<![:\w]):([A-Za-z_]\w*)")
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_INSERT_INTO = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_BEGIN_IMMEDIATE = re.compile(r"^\s*BEGIN\s+IMMEDIATE\s*$", re.IGNORECASE)
_CAST_INTEGER = re.compile(r"\bAS\s+INTEGER\s*\)", re.IGNORECASE)


def _placeholders(sql: str) -> str:
    """Rewrite ``?`` and ``:name`` into psycopg's ``%s`` and ``%(name)s``; escape ``%`` (modulo)."""

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        if match.group(1):
            return f"%({match.group(1)})s"
        return text.replace("%", "%%")  # a quoted literal: only its percent signs change

    return _QUOTED_OR_MARK.sub(replace, sql)


@lru_cache(maxsize=4096)
def postgres_sql(sql: str) -> tuple[str, bool]:
    """Return ``sql`` rewritten for PostgreSQL, and whether it returns a generated id (``lastrowid``)."""
    if _BEGIN_IMMEDIATE.match(sql):
        return "BEGIN", False
    text = sql
    if _INSERT_OR_IGNORE.match(text):
        # INSERT OR IGNORE skips a row whose key exists; a NOT NULL or CHECK failure still raises here,
        # where SQLite skipped the row too: callers that can meet one filter first (storage.hourly).
        text = _INSERT_OR_IGNORE.sub("INSERT INTO", text, count=1)
        returning = _RETURNING.search(text)
        if returning:
            text = text[: returning.start()] + "ON CONFLICT DO NOTHING " + text[returning.start() :]
        else:
            text = text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    text = _CAST_INTEGER.sub("AS BIGINT)", text)  # PostgreSQL's INTEGER is 32 bits; times are ms
    wants_id = False
    insert = _INSERT_INTO.match(text)
    if insert and insert.group(1).lower() in GENERATED_ID_TABLES and not _RETURNING.search(text):
        text = text.rstrip().rstrip(";") + " RETURNING id"
        wants_id = True
    return _placeholders(text), wants_id
