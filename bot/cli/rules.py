"""``tripwire rules export|import``: a server's or a member's alerts as a TOML file, from the command line.

The same service as ``/alert export`` and ``/alert import``, on the database file. The running bot reads
rules when it starts, so an import made while it runs takes effect at its next start (``/alert import``
applies at once): the command says so.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bot.cli.common import check_writable, write_output
from bot.cli.db import database_arg
from bot.config import load_config
from bot.errors import UserError
from bot.services import Service
from bot.services.rule_transfer import ImportPlan
from storage.db import open_database
from storage.pg_url import is_postgres_url
from storage.repo import Repo


class RulesReadAtStart:
    """The engine's place for the service: the bot this database belongs to reads rules when it starts."""

    def refresh_rule(self, rule_id: str) -> None:
        """Do nothing: no engine runs in this process."""


def _service(args: argparse.Namespace) -> tuple[Service, Repo]:
    config = load_config(args.config)
    path = database_arg(args.db) if args.db else config.storage.database
    if not is_postgres_url(path) and not Path(path).is_file():
        raise UserError(f"database file {path} does not exist")
    repo = Repo(open_database(path))
    return Service(repo, RulesReadAtStart(), config, lambda: time.time_ns() // 1_000_000), repo


def cmd_export(args: argparse.Namespace) -> int:
    """Write a server's channel alerts (or one member's personal alerts) as a rules file."""
    if args.out:
        check_writable(args.out)
    service, repo = _service(args)
    try:
        member = args.member
        exported = service.export_rules(
            args.guild, member or 0, is_admin=member is None, scope="mine" if member else "server"
        )
    finally:
        repo.close()
    if args.out:
        write_output(args.out, exported.text.encode())
        print(f"{exported.count} rules written to {args.out}")
    else:
        print(exported.text, end="")
    return 0


def _print_plan(plan: ImportPlan) -> None:
    for planned in plan.rules:
        row = planned.row
        if planned.action == "create":
            renamed = f" (new id: {planned.renamed_from} is another rule's)" if planned.renamed_from else ""
            print(f"  create {row.id}{renamed}: {row.detector} {row.symbol}")
        elif planned.action == "update":
            print(f"  change {row.id}: {'; '.join(planned.changes)}")
    created, changed = len(plan.of("create")), len(plan.of("update"))
    print(f"{created} to create, {changed} to change, {len(plan.of('unchanged'))} unchanged")


def cmd_import(args: argparse.Namespace) -> int:
    """Show what importing a rules file would change; with --apply, apply it."""
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    service, repo = _service(args)
    member = args.member
    try:
        plan = service.plan_import(args.guild, member, data, is_admin=member is None)
        _print_plan(plan)
        if not plan.changes:
            return 0
        if not args.apply:
            print("dry run: nothing was changed (add --apply to import)")
            return 0
        service.apply_import(args.guild, member, data, is_admin=member is None)
    finally:
        repo.close()
    print("imported; a running bot picks the rules up when it next starts (/alert import applies at once)")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `rules` command and its subcommands."""
    rules = sub.add_parser("rules", help="export or import a server's alerts as a TOML file")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="RULES_COMMAND", required=True)
    export = rules_sub.add_parser("export", help="write the server's channel alerts (or a member's) as TOML")
    importing = rules_sub.add_parser("import", help="show what a rules file would change; --apply applies it")
    importing.add_argument("file", help="a rules file from /alert export or tripwire rules export")
    importing.add_argument("--apply", action="store_true", help="apply the changes (default: only show them)")
    export.add_argument("--out", "-o", help="file to write (default: standard output)")
    for cmd, handler in ((export, cmd_export), (importing, cmd_import)):
        cmd.add_argument("--guild", type=int, required=True, help="the Discord server's id")
        cmd.add_argument(
            "--member", type=int, help="a member's id: their personal alerts instead of the server's"
        )
        cmd.add_argument(
            "--config", "-c", default="tripwire.toml", help="config file (symbols, quotas, database)"
        )
        cmd.add_argument("--db", help="database file (instead of the config's)")
        cmd.set_defaults(handler=handler)
