"""``tripwire db ...``: migrate the database and show what it holds."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from bot.config import load_config
from storage.db import open_database
from storage.repo import Repo


def _database_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    return load_config(args.config).storage.path


def _iso(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create the database or bring its schema up to date."""
    path = _database_path(args)
    db = open_database(path)
    version = Repo(db).stats().schema_version
    db.conn.close()
    print(f"{path}: schema v{version}, up to date")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print rows per table and the time span per source and symbol."""
    path = _database_path(args)
    if not path.exists():
        print(f"{path} does not exist yet; run `tripwire db migrate` or start the bot first")
        return 2
    db = open_database(path, migrate_schema=False)
    try:
        stats = Repo(db).stats()
    finally:
        db.conn.close()
    print(f"{path}: schema v{stats.schema_version}, {stats.size_bytes / 1e6:.1f} MB")
    width = max(len(t) for t in stats.rows_per_table)
    for table, count in stats.rows_per_table.items():
        print(f"  {table:<{width}}  {count:>10,} rows")
    if stats.spans:
        print("observations by source and symbol:")
        for span in stats.spans:
            print(
                f"  {span.table:<13} {span.source:<16} {span.symbol:<14} {span.rows:>9,} rows"
                f"  {_iso(span.first_ts)} .. {_iso(span.last_ts)}"
            )
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `db` command and its subcommands."""
    db = sub.add_parser("db", help="database maintenance (migrate, stats)")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    for name, handler, text in (
        ("migrate", cmd_migrate, "create the database or upgrade its schema"),
        ("stats", cmd_stats, "rows per table, time span per source and symbol"),
    ):
        cmd = db_sub.add_parser(name, help=text)
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--config", "-c", default="tripwire.toml", help="config file naming the database")
        group.add_argument("--db", help="database file (instead of reading it from the config)")
        cmd.set_defaults(handler=handler)
