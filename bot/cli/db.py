"""``tripwire db ...``: migrate the database, show what it holds, prune, compact and copy it.

Each command takes the database from the config (``[storage] path`` or ``url``) or from ``--db``, which
names a SQLite file or a ``postgresql://`` URL.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

from bot.charts.data import utc_text
from bot.cli.common import unmigrated
from bot.config import RetentionConfig, load_config, shown_database
from bot.errors import UserError
from bot.ops.maintenance import describe, prune_file
from storage.copy import copy_database
from storage.db import DatabaseError, open_database
from storage.pg_url import is_postgres_url
from storage.repo import Repo

Database = str | Path  # a SQLite file or a postgresql:// URL


def database_arg(text: str) -> Database:
    """Return a --db/--from/--to value as a URL or a path (``sqlite:`` before a path is allowed).

    Raises UserError for a URL of another scheme (it would be opened as a SQLite file of that odd name)
    and for a PostgreSQL URL holding a password (a command line is seen by every user of the host in
    ``ps`` and is kept in the shell's history).
    """
    if is_postgres_url(text):
        try:
            password = conninfo_to_dict(text).get("password")
        except ProgrammingError as exc:
            raise UserError(f"not a valid PostgreSQL URL: {str(exc).strip()}") from None
        if password:
            raise UserError(
                "the PostgreSQL URL holds a password, which every user of this host can read in `ps` and"
                " the shell keeps in its history: put it in PGPASSWORD or ~/.pgpass (libpq reads both)"
            )
        return text
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise UserError(
            f"{scheme}:// is not a database Tripwire opens: give postgresql://user@host:port/dbname or a"
            " SQLite file (sqlite:FILE or FILE)"
        )
    return Path(text.removeprefix("sqlite:"))


def _database_path(args: argparse.Namespace) -> Database:
    if args.db:
        return database_arg(args.db)
    return load_config(args.config).storage.database


def _exists(database: Database) -> bool:
    """Return whether there is a database to read (a server is asked when opened, not here)."""
    return is_postgres_url(database) or Path(database).exists()


def _iso(ts: int | None) -> str:
    return "-" if ts is None else utc_text(ts)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create the database or bring its schema up to date."""
    path = _database_path(args)
    repo = Repo(open_database(path))
    version = repo.schema_version()
    repo.close()
    print(f"{shown_database(path)}: schema v{version}, up to date")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print rows per table and the time span per source and symbol."""
    path = _database_path(args)
    if not _exists(path):
        print(f"{path} does not exist yet; run `tripwire db migrate` or start the bot first")
        return 2
    with unmigrated(path) as repo:
        stats = repo.stats()
    print(f"{shown_database(path)}: schema v{stats.schema_version}, {stats.size_bytes / 1e6:.1f} MB")
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


def _existing(path: Database) -> Database:
    if not _exists(path):
        raise UserError(f"{path} does not exist; nothing to do")
    return path


def cmd_prune(args: argparse.Namespace) -> int:
    """Delete rows older than the retention policy (the running bot does this daily)."""
    if args.db:
        path, policy = database_arg(args.db), RetentionConfig()
        print("retention policy: the defaults (pass --config to use the [storage.retention] of your config)")
    else:
        config = load_config(args.config)
        path, policy = config.storage.database, config.storage.retention
    now = time.time_ns() // 1_000_000
    result = prune_file(_existing(path), policy, now, dry_run=args.dry_run)
    print(f"{shown_database(path)}: {describe(result)}")
    if args.dry_run:
        print("dry run: nothing was deleted")
        return 0
    with unmigrated(path) as repo:
        free = repo.free_bytes()
    if free:
        print(
            f"{free / 1e6:.1f} MB are free inside the file and will be reused by new rows; "
            "`tripwire db vacuum` gives them back to the disk"
        )
    return 0


def cmd_vacuum(args: argparse.Namespace) -> int:
    """Rebuild the database file so the space freed by pruning goes back to the disk."""
    database = _existing(_database_path(args))
    if is_postgres_url(database):
        with unmigrated(database) as repo:
            before, after = repo.vacuum()
        print(
            f"{shown_database(database)}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB (VACUUM; autovacuum"
        )
        print("does this continuously; VACUUM FULL, which gives space back to the disk, is left to you)")
        return 0
    path = Path(database)
    size = path.stat().st_size
    # VACUUM writes a complete copy of the database (through the WAL) before the old pages are dropped.
    free_disk = shutil.disk_usage(path.resolve().parent).free
    if free_disk < size:
        raise UserError(
            f"vacuum needs about {size / 1e6:.0f} MB free next to {path} (the size of the database) "
            f"but only {free_disk / 1e6:.0f} MB are; free some space first"
        )
    print(
        f"vacuuming {path} ({size / 1e6:.1f} MB); this holds the write lock until it is done, "
        "so on a large database stop the bot first"
    )
    with unmigrated(path) as repo:
        before, after = repo.vacuum()
    print(f"{path}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    """Copy a whole database into an empty one (SQLite to PostgreSQL or back), keeping every id and status."""
    source_db, target_db = database_arg(args.source), database_arg(args.target)
    if not _exists(source_db):
        raise UserError(f"{source_db} does not exist; nothing to copy")
    if not is_postgres_url(target_db) and Path(target_db).exists() and Path(target_db).stat().st_size:
        raise UserError(f"{target_db} exists; copy into a new file so nothing is mixed with what it holds")
    print(f"copying {shown_database(source_db)} -> {shown_database(target_db)} (stop the bot first)")
    source = Repo(open_database(source_db))
    try:
        target = Repo(open_database(target_db))
    except BaseException:
        source.close()
        raise
    try:
        copied = copy_database(source, target, on_table=lambda t, n: print(f"  {t:<18} {n:>10,} rows"))
    except DatabaseError as exc:
        raise UserError(str(exc)) from None
    finally:
        source.close()
        target.close()
    print(f"copied {sum(copied.values()):,} rows; start the bot with the new database in [storage]")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `db` command and its subcommands."""
    db = sub.add_parser("db", help="database maintenance (migrate, stats, prune, vacuum, copy)")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    for name, handler, text in (
        ("migrate", cmd_migrate, "create the database or upgrade its schema"),
        ("stats", cmd_stats, "rows per table, time span per source and symbol"),
        ("prune", cmd_prune, "delete rows older than the retention policy (safe while the bot runs)"),
        ("vacuum", cmd_vacuum, "give the space freed by pruning back to the disk (stop the bot first)"),
    ):
        cmd = db_sub.add_parser(name, help=text)
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--config", "-c", default="tripwire.toml", help="config file naming the database")
        group.add_argument(
            "--db", help="database file or postgresql:// URL (instead of reading it from the config)"
        )
        if name == "prune":
            cmd.add_argument(
                "--dry-run", action="store_true", help="only count what would be deleted and folded"
            )
        cmd.set_defaults(handler=handler)
    copy = db_sub.add_parser(
        "copy", help="copy a whole database into an empty one, SQLite <-> PostgreSQL (stop the bot first)"
    )
    copy.add_argument("--from", dest="source", required=True, help="sqlite:FILE, FILE or postgresql://...")
    copy.add_argument("--to", dest="target", required=True, help="postgresql://... or a new SQLite file")
    copy.set_defaults(handler=cmd_copy)
