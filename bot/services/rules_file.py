"""Rules as a TOML file in the config's own ``[[rules]]`` format: written by export, read by import.

An exported file can be imported into another server or bot (``/alert import``, ``tripwire rules import``),
and its tables are the ones ``config.example.toml`` documents, so they can also be pasted into a config file.
Two keys are the file's own, because a rule made in Discord can be something a config rule cannot:
``deliver = "dm"`` (a member's personal alert) and ``expires_at`` (a UTC date-time). A setting that is off
where its detector's default is on (``high_pct`` of funding) is written ``"off"``, as in ``/alert add``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import tomli_w
from pydantic import BaseModel

from bot.config import RuleCommon
from bot.errors import UserError
from detectors.base import MARKET_SYMBOL
from storage.rows import RuleRow

# A file is read whole into memory and every rule validated before anything changes: bounded so a member
# cannot make the bot parse megabytes. 256 KiB holds thousands of rules, far past any quota.
MAX_FILE_BYTES = 256 * 1024
MAX_RULES_PER_FILE = 500
OFF = "off"
# The keys a rule table has besides its detector's settings (written first, in this order), and the file's
# own two.
COMMON_KEYS = tuple(RuleCommon.model_fields)
FILE_KEYS = ("deliver", "expires_at")


@dataclass(frozen=True, slots=True)
class RuleTable:
    """One ``[[rules]]`` table of a file, with its place (``rules[3]``) for error messages."""

    index: int
    raw: Mapping[str, Any]

    @property
    def path(self) -> str:
        """Return where the table is in the file, as check-config names it."""
        rule_id = self.raw.get("id")
        where = f"rules[{self.index}]"
        return f"{where} ({rule_id})" if isinstance(rule_id, str) and rule_id else where


def rule_table(row: RuleRow, settings_model: type[BaseModel] | None) -> dict[str, Any]:
    """Return a stored rule as its ``[[rules]]`` table (default-valued settings left out)."""
    table: dict[str, Any] = {"id": row.id, "detector": row.detector}
    if row.symbol != MARKET_SYMBOL:
        table["symbol"] = row.symbol
    if not row.enabled:
        table["enabled"] = False
    if not row.repeat:
        table["repeat"] = False
    table["cooldown_seconds"] = row.cooldown_s
    if row.pending_s:
        table["pending_seconds"] = row.pending_s
    if row.pending_evaluations:
        table["pending_evaluations"] = row.pending_evaluations
    if row.note:
        table["note"] = row.note
    if row.role_id is not None:
        table["role_id"] = row.role_id
    if row.channel_id is not None:
        table["channel_id"] = row.channel_id
    if row.resolve_notice != "edit":
        table["resolve_notice"] = row.resolve_notice
    if row.deliver != "channel":
        table["deliver"] = row.deliver
    if row.expires_at is not None:
        table["expires_at"] = datetime.fromtimestamp(row.expires_at / 1000, UTC)
    table.update(_settings_table(row.settings, settings_model))
    return table


def _settings_table(settings: Mapping[str, Any], model: type[BaseModel] | None) -> dict[str, Any]:
    fields = model.model_fields if model is not None else {}
    written: dict[str, Any] = {}
    for key, value in settings.items():
        info = fields.get(key)
        default = None if info is None or info.is_required() else info.default
        if info is not None and not info.is_required() and value == default:
            continue  # the file says what differs from the detector's defaults, as config rules do
        if value is None:
            if default is not None:
                written[key] = OFF  # off where the default is on; TOML has no null
            continue
        written[key] = value
    return written


def render_rules_file(tables: Sequence[Mapping[str, Any]], header: Iterable[str]) -> str:
    """Return the TOML text of ``tables`` under a comment ``header`` (one line each)."""
    comment = "".join(f"# {line}\n" for line in header)
    body = tomli_w.dumps({"rules": list(tables)}) if tables else ""
    return comment + ("\n" if comment and body else "") + body


def read_rules_file(data: bytes) -> list[RuleTable]:
    """Return the ``[[rules]]`` tables of a file, or raise UserError saying what is wrong with it."""
    if len(data) > MAX_FILE_BYTES:
        raise UserError(f"The file is {len(data):,} bytes; a rules file may be at most {MAX_FILE_BYTES:,}.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"The file is not UTF-8 text (byte {exc.start}); export rules as a .toml file."
        ) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"The file is not valid TOML: {exc}.") from None
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        raise UserError(
            f"A rules file has only [[rules]] tables; it also has {', '.join(unknown)}. "
            "Import a file made by /alert export or tripwire rules export."
        )
    rules = document.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise UserError("`rules` must be an array of tables: write each rule under a [[rules]] header.")
    if not rules:
        raise UserError("The file has no [[rules]] tables.")
    if len(rules) > MAX_RULES_PER_FILE:
        raise UserError(f"The file has {len(rules):,} rules; one import takes at most {MAX_RULES_PER_FILE}.")
    return [RuleTable(i, rule) for i, rule in enumerate(rules)]
