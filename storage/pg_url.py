"""PostgreSQL URLs: telling one from a SQLite path and writing one without its password.

Apart from ``storage.postgres`` so that a bot on SQLite never imports psycopg (about 9 MB resident,
``bench.memory``, issue 24): the config and the command line ask these of every database target.
"""

from __future__ import annotations

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: object) -> bool:
    """Return whether ``target`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """Return ``url`` without its password, for messages and logs."""
    from psycopg.conninfo import conninfo_to_dict  # only ever asked of a PostgreSQL URL

    info = conninfo_to_dict(url)
    host = info.get("host", "")
    port = f":{info['port']}" if "port" in info else ""
    return f"postgresql://{info.get('user', '')}@{host}{port}/{info.get('dbname', '')}"
