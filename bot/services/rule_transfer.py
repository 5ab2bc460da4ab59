"""Rules in bulk: several levels in one command, and a server's or member's rules exported and imported.

An import is planned before anything changes: every rule of the file is validated with the same checks as
``/alert add`` (detector settings, symbol, retention, channel options, quotas for the whole file), and the
plan says which rules would be created, changed or left as they are. Applying re-plans against the
database as it is then and writes every change in one transaction, so a file applies whole or not at all.
An import never deletes: rules missing from the file stay.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from bot.alerts.model import WEBHOOK_DETECTOR
from bot.config import ConfigError, parse_rule
from bot.errors import UserError
from bot.parsing import echo, known_detector
from bot.services.detector_settings import OFF_WORDS, show
from bot.services.rules import RuleCommands, RuleOptions, RuleView
from bot.services.rules_file import (
    COMMON_KEYS,
    FILE_KEYS,
    RuleTable,
    read_rules_file,
    render_rules_file,
    rule_table,
)
from storage.rows import RuleRow

log = logging.getLogger(__name__)

# Alpha Bot sets up to 10 levels per command; more in one reply would not fit an embed's 25 fields anyway.
MAX_LEVELS = 10
# The problems an import lists before "and N more": an embed description holds 4,096 characters.
MAX_PROBLEMS_SHOWN = 15
# The fields whose change means the rule watches something else: its state starts afresh.
_WATCH_FIELDS = ("detector", "symbol", "settings")
_COMPARED = (
    "detector",
    "symbol",
    "settings",
    "channel_id",
    "role_id",
    "deliver",
    "note",
    "repeat",
    "cooldown_s",
    "pending_s",
    "pending_evaluations",
    "expires_at",
    "enabled",
    "resolve_notice",
)
IMPORT_PAUSED_REASON = "imported paused"

Scope = Literal["server", "mine"]


@dataclass(frozen=True, slots=True)
class ExportedRules:
    """An export: the file's name and text, and how many rules it holds."""

    filename: str
    text: str
    count: int
    scope: Scope


@dataclass(frozen=True, slots=True)
class PlannedRule:
    """What an import would do with one rule of the file."""

    action: Literal["create", "update", "unchanged"]
    row: RuleRow
    changes: tuple[str, ...] = ()
    # The id the file gave when it was taken by a rule the importer may not change (a new id is used).
    renamed_from: str | None = None


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """Every rule of a file, planned; ``digest`` ties an Apply button to this exact file."""

    guild_id: int
    user_id: int | None  # None: the operator, from the command line
    is_admin: bool
    digest: str
    rules: tuple[PlannedRule, ...] = field(default=())

    def of(self, action: str) -> list[PlannedRule]:
        """Return the planned rules with ``action``."""
        return [p for p in self.rules if p.action == action]

    @property
    def changes(self) -> int:
        """Return how many rules applying would create or change."""
        return sum(1 for p in self.rules if p.action != "unchanged")


def problems_error(problems: Sequence[str]) -> UserError:
    """Return one UserError listing a file's problems (the first MAX_PROBLEMS_SHOWN)."""
    shown = "\n".join(f"• {p}" for p in problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    tail = f"\n… and {more} more." if more > 0 else ""
    return UserError(
        f"Nothing was imported: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the file.\n"
        f"{shown}{tail}"
    )


def parse_levels(text: str) -> list[float]:
    """Read ``"95000, 100000 105000"`` into levels, or raise UserError saying which word is wrong."""
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        raise UserError("`levels` is empty: give prices separated by commas, e.g. `95000, 100000, 105000`.")
    levels: list[float] = []
    for word in words:
        try:
            value = float(word.replace("_", "").lstrip("$"))
        except ValueError:
            raise UserError(f"{echo(word)} in `levels` is not a price.") from None
        if value in levels:
            raise UserError(f"`levels` names {word} twice.")
        levels.append(value)
    if len(levels) > MAX_LEVELS:
        raise UserError(f"`levels` names {len(levels)} prices; one command sets at most {MAX_LEVELS}.")
    return levels


def _off_to_none(raw: dict[str, Any], model: type[BaseModel]) -> None:
    """Turn ``"off"`` into None for settings that can be off (TOML has no null)."""
    for key, info in model.model_fields.items():
        value = raw.get(key)
        if isinstance(value, str) and value.lower() in OFF_WORDS and "None" in str(info.annotation):
            raw[key] = None


def _expiry(value: Any, now: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise UserError("`expires_at` must be a date-time such as 2026-12-31T00:00:00Z.")
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    at = round(moment.timestamp() * 1000)
    if at <= now:
        raise UserError(f"`expires_at` {value.isoformat()} is in the past; remove it or give a later time.")
    return at


def _show(value: Any) -> str:
    # As members type settings (level=95000, use_wicks=no), never a Python repr (95000.0, False).
    if isinstance(value, Mapping):
        return " ".join(f"{k}={show(v)}" for k, v in value.items()) or "(defaults)"
    return "none" if value is None else show(value)


def _differences(old: RuleRow, new: RuleRow) -> tuple[str, ...]:
    changes: list[str] = []
    for name in _COMPARED:
        before, after = getattr(old, name), getattr(new, name)
        if name == "settings":
            keys = sorted(set(before) | set(after))
            changes += [
                f"{k}: {_show(before.get(k))} → {_show(after.get(k))}"
                for k in keys
                if before.get(k) != after.get(k)
            ]
        elif before != after:
            changes.append(f"{name}: {_show(before)} → {_show(after)}")
    return tuple(changes)


class RuleTransfer(RuleCommands):
    """Add rules at several levels at once; export and import rules as TOML files."""

    # --- several levels ---------------------------------------------------------------------------

    def add_rules_at_levels(
        self,
        guild_id: int,
        user_id: int,
        detector: str,
        symbol: str | None,
        settings: Mapping[str, Any],
        levels: Sequence[float],
        options: RuleOptions,
        *,
        is_admin: bool,
    ) -> list[RuleView]:
        """Create one rule per level, all or none (each checked as /alert add checks one)."""
        cls = known_detector(detector, self.detectors)
        if "level" not in cls.Settings.model_fields:
            raise UserError(f"{detector} has no `level` setting, so `levels` does not apply to it.")
        if "level" in settings:
            raise UserError("Give the level either in `settings` or in `levels`, not both.")
        self._check_room(guild_id, user_id, options.deliver, len(levels))
        # Every level is checked before the first rule is stored, so a bad or repeated one stores none.
        drafts = []
        for level in levels:
            name, stored = self.validate_rule(detector, symbol, {**settings, "level": level})
            self.check_not_duplicate(guild_id, user_id, detector, name, stored, options)
            drafts.append(stored)
        return [
            self.add_rule(guild_id, user_id, detector, symbol, stored, options, is_admin=is_admin)
            for stored in drafts
        ]

    def _check_room(self, guild_id: int, user_id: int, deliver: str, adding: int) -> None:
        """Refuse ``adding`` rules that would go past the member's or the server's quota, before any."""
        limit = self.config.discord.max_rules_per_user
        if deliver == "dm":
            have = self.personal_alert_count(user_id)
        else:
            have = self.repo.count_rules(guild_id=guild_id, owner_id=user_id)
        if have + adding > limit:
            raise UserError(
                f"That is {adding} alerts; you have {have} of the {limit} one member may have. "
                "Remove some with /alert remove, or add fewer."
            )
        self._check_server_room(guild_id, adding, f"That is {adding} alerts", "add fewer")

    def _check_server_room(self, guild_id: int, adding: int, what: str, fewer: str) -> None:
        """Refuse ``adding`` rules past the server's quota; ``what`` and ``fewer`` word the refusal."""
        server, most = self.repo.count_rules(guild_id=guild_id), self.config.discord.max_rules_per_guild
        if server + adding > most:
            raise UserError(
                f"{what}; this server has {server} of the {most} it may have. "
                f"Remove some with /alert remove, or {fewer}."
            )

    # --- export -----------------------------------------------------------------------------------

    def export_rules(
        self, guild_id: int, user_id: int, *, is_admin: bool, scope: Scope | None = None
    ) -> ExportedRules:
        """Return the server's channel alerts (Manage Server) or the member's personal ones as a file.

        A server export never holds members' personal alerts: those are theirs to export.
        """
        chosen: Scope = scope or ("server" if is_admin else "mine")
        if chosen == "server" and not is_admin:
            raise UserError("Exporting the server's alerts needs the Manage Server permission; try `mine`.")
        # A webhook route's alert stays with its route: the route's secret cannot be exported, and its URL
        # points at this bot (docs/webhooks.md); a file holding it could not be imported anywhere.
        rows = [r for r in self.repo.rules(guild_id=guild_id) if r.detector != WEBHOOK_DETECTOR]
        if chosen == "server":
            rows = [r for r in rows if r.deliver == "channel"]
        else:
            rows = [r for r in rows if r.owner_id == user_id and r.deliver == "dm"]
        now = self.now_ms()
        stamp = datetime.fromtimestamp(now / 1000, UTC)
        whose = "this server's channel alerts" if chosen == "server" else "your personal alerts"
        header = [
            f"Tripwire rules: {whose} ({len(rows)}), exported {stamp:%Y-%m-%d %H:%M} UTC.",
            "Import them with /alert import or `tripwire rules import`; the [[rules]] tables are the config",
            "file's own format (config.example.toml documents every key). deliver and expires_at are this",
            "file's: a config file's rules always post in channels and never expire.",
        ]
        tables = [rule_table(r, self._settings_model(r.detector)) for r in rows]
        name = f"tripwire-rules-{guild_id}-{'server' if chosen == 'server' else user_id}-{stamp:%Y%m%d}.toml"
        return ExportedRules(name, render_rules_file(tables, header), len(rows), chosen)

    def _settings_model(self, detector: str) -> type[BaseModel] | None:
        cls = self.detectors.get(detector)
        return cls.Settings if cls is not None else None

    # --- import -----------------------------------------------------------------------------------

    def plan_import(self, guild_id: int, user_id: int | None, data: bytes, *, is_admin: bool) -> ImportPlan:
        """Validate every rule of a rules file and return what importing it would do, or raise UserError.

        ``user_id`` None is the bot's operator (``tripwire rules import``): the server's channel rules only.
        """
        tables = read_rules_file(data)
        now = self.now_ms()
        problems: list[str] = []
        planned: list[PlannedRule] = []
        seen: set[str] = set()
        for table in tables:
            rule_id = table.raw.get("id")
            if isinstance(rule_id, str) and rule_id in seen:
                problems.append(f"{table.path}: the id `{rule_id}` is used by an earlier rule of the file.")
                continue
            seen.add(str(rule_id))
            try:
                row = self._row_from_table(table, guild_id, user_id, now, is_admin=is_admin)
            except UserError as exc:
                problems.append(f"{table.path}: {exc}")
                continue
            planned.append(self._plan_rule(row, guild_id, user_id, is_admin=is_admin))
        if problems:
            raise problems_error(problems)
        self._check_import_room(guild_id, user_id, planned)
        digest = hashlib.sha256(data).hexdigest()
        return ImportPlan(guild_id, user_id, is_admin, digest, tuple(self._fresh_ids(planned)))

    def _row_from_table(
        self, table: RuleTable, guild_id: int, user_id: int | None, now: int, *, is_admin: bool
    ) -> RuleRow:
        raw = dict(table.raw)
        # A table without `deliver` is a channel rule, as in a config file, whoever imports it.
        deliver = raw.pop("deliver", "channel")
        expires_value = raw.pop("expires_at", None)
        if deliver not in ("channel", "dm"):
            raise UserError(f"`deliver` is {echo(str(deliver))}; it takes channel or dm.")
        if deliver == "dm" and user_id is None:
            raise UserError('a personal alert (deliver = "dm") needs the member it belongs to (--member).')
        detector = raw.get("detector")
        if isinstance(detector, str) and detector in self.detectors:
            _off_to_none(raw, self.detectors[detector].Settings)
        try:
            spec = parse_rule(raw)
        except ConfigError as exc:
            raise UserError("; ".join(f"{p.path}: {p.message}" for p in exc.problems)) from None
        common = spec.common
        symbol = self.rule_symbol(common.detector, raw.get("symbol"))
        settings = self.check_settings(
            common.detector, {k: v for k, v in raw.items() if k not in COMMON_KEYS and k not in FILE_KEYS}
        )
        expires_at = _expiry(expires_value, now)
        options = RuleOptions(
            channel_id=common.channel_id,
            role_id=common.role_id,
            note=common.note,
            repeat=common.repeat,
            cooldown_s=common.cooldown_seconds,
            expires_in_s=None,
            deliver=deliver,
        )
        self.check_delivery(options, is_admin=is_admin)
        self._check_options(guild_id, options)
        cooldown = common.cooldown_seconds
        return RuleRow(
            id=common.id,
            origin="discord",
            detector=common.detector,
            symbol=symbol,
            settings=settings,
            guild_id=guild_id,
            owner_id=user_id,
            channel_id=common.channel_id,
            role_id=common.role_id,
            deliver=deliver,
            note=common.note,
            repeat=common.repeat,
            cooldown_s=self.config.engine.default_cooldown_seconds if cooldown is None else cooldown,
            pending_s=common.pending_seconds,
            pending_evaluations=common.pending_evaluations,
            expires_at=expires_at,
            enabled=common.enabled,
            status_reason=None if common.enabled else IMPORT_PAUSED_REASON,
            resolve_notice=common.resolve_notice,
            created_at=now,
            updated_at=now,
        )

    def _changeable(self, existing: RuleRow, guild_id: int, user_id: int | None, *, is_admin: bool) -> bool:
        """Return whether an import by this member may change ``existing`` (else the file's rule is new)."""
        if existing.origin != "discord" or existing.guild_id != guild_id:
            return False
        if existing.deliver == "dm":
            return existing.owner_id == user_id  # members' personal alerts are theirs alone, admins too
        return is_admin

    def _plan_rule(self, row: RuleRow, guild_id: int, user_id: int | None, *, is_admin: bool) -> PlannedRule:
        existing = self.repo.rule(row.id)
        if existing is None:
            return PlannedRule("create", row)
        if not self._changeable(existing, guild_id, user_id, is_admin=is_admin):
            return PlannedRule("create", row, renamed_from=row.id)
        # What the import does not say stays as it was: owner, creation time, why a rule is paused.
        kept = replace(
            row,
            owner_id=existing.owner_id,
            created_at=existing.created_at,
            status_reason=existing.status_reason if existing.enabled == row.enabled else row.status_reason,
        )
        changes = _differences(existing, kept)
        return PlannedRule("update" if changes else "unchanged", kept if changes else existing, changes)

    def _fresh_ids(self, planned: list[PlannedRule]) -> list[PlannedRule]:
        """Give a new id to each rule whose id is taken by a rule the importer may not change."""
        taken = {p.row.id for p in planned if p.renamed_from is None}
        fresh: list[PlannedRule] = []
        for p in planned:
            if p.renamed_from is None:
                fresh.append(p)
                continue
            new_id = self._new_rule_id(p.row.detector, p.row.symbol)
            while new_id in taken:
                new_id = self._new_rule_id(p.row.detector, p.row.symbol)
            taken.add(new_id)
            fresh.append(replace(p, row=replace(p.row, id=new_id)))
        return fresh

    def _check_import_room(self, guild_id: int, user_id: int | None, planned: Sequence[PlannedRule]) -> None:
        """Refuse a file whose new rules go past the member's personal quota or the server's.

        The server's channel alerts count against the server's quota only: an import is how a server moves
        its alerts from another bot, and one admin's own quota would cut that short.
        """
        creates = [p.row for p in planned if p.action == "create"]
        personal = sum(1 for r in creates if r.deliver == "dm")
        if personal and user_id is not None:
            have = self.personal_alert_count(user_id)
            limit = self.config.discord.max_rules_per_user
            if have + personal > limit:
                raise UserError(
                    f"The file would add {personal} personal alerts; you have {have} of the {limit} one "
                    "member may have. Remove some with /alert remove, or import fewer."
                )
        if creates:
            self._check_server_room(
                guild_id, len(creates), f"The file would add {len(creates)} alerts", "import fewer"
            )

    def apply_import(self, guild_id: int, user_id: int | None, data: bytes, *, is_admin: bool) -> ImportPlan:
        """Plan the file again against the database as it is now and write every change in one transaction."""
        plan = self.plan_import(guild_id, user_id, data, is_admin=is_admin)
        now = self.now_ms()
        with self.repo.transaction():
            for p in plan.rules:
                if p.action == "unchanged":
                    continue
                row = replace(p.row, updated_at=now)
                existing = self.repo.rule(row.id) if p.action == "update" else None
                if existing is not None and any(
                    getattr(existing, f) != getattr(row, f) for f in _WATCH_FIELDS
                ):
                    # It watches something else now: its detector and alert state start afresh.
                    self.repo.delete_rule(row.id)
                self.repo.save_rule(row)
        for p in plan.rules:
            if p.action != "unchanged":
                self.engine.refresh_rule(p.row.id)
        log.info(
            "rules imported in guild %s by user %s: %d created, %d changed, %d unchanged",
            guild_id,
            user_id,
            len(plan.of("create")),
            len(plan.of("update")),
            len(plan.of("unchanged")),
        )
        return plan
