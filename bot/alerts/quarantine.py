"""Quarantine: a rule whose detector fails is switched off on its own, and the people who own it are told.

One rule's bad settings or a bug in its detector must never cost any other rule an alert (issue 17, finding
1: a subnormal round_levels step raised OverflowError in ``quiet`` and rolled back every rule's pass). The
engine catches the failure per rule, keeps the rule's state, marks it broken with the error (the
``BROKEN_PREFIX`` status the front ends already show) and queues one notice per place through the outbox,
in the same transaction: the owner of a personal rule by DM, and the ops channel. ``/alert resume``
validates the rule again before it runs.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from bot.alerts.model import BROKEN_PREFIX, Router
from storage.repo import Repo, RuleRow

log = logging.getLogger(__name__)

# A status reason is shown in /alert list and in the notices: the error's first few hundred characters.
MAX_REASON_CHARS = 300


def describe_error(exc: BaseException) -> str:
    """Return one line saying what went wrong: each invalid option for a ValidationError, else the error."""
    if isinstance(exc, ValidationError):
        parts = []
        for item in exc.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or "settings"
            parts.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
        text = "invalid settings: " + "; ".join(parts)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def quarantine_rule(
    repo: Repo,
    router: Router,
    row: RuleRow,
    reason: str,
    now: int,
    *,
    ops_channel_id: int | None,
) -> int:
    """Mark the rule broken with ``reason`` and queue its notices; return how many were queued.

    Call inside a transaction: the status and the notices are written together, so the notice is sent once.
    """
    repo.set_rule_enabled(row.id, False, f"{BROKEN_PREFIX}{reason}", now)
    log.error("rule %s (%s %s) is quarantined: %s", row.id, row.detector, row.symbol, reason)
    title = f"Alert {row.id} is switched off"
    queued = 0
    # The owner of a personal rule hears it where the rule's alerts go: their DMs (the router says whether
    # Discord delivers at all). A channel rule's owner is an admin, who reads the ops channel.
    if row.deliver == "dm":
        for target in router.targets(row, "warning"):
            if target.sink == "discord" and target.address.startswith("user:"):
                text = (
                    f"Your alert `{row.id}` ({row.detector}, {row.symbol}) stopped working and is switched "
                    f"off: {reason}. Your other alerts are not affected. Remove it with `/alert remove "
                    f"{row.id}` and add it again with other settings, or try `/alert resume {row.id}`."
                )
                _enqueue(repo, target.address, title, text, row, target.guild_id, now)
                queued += 1
    ops = _ops_channel(repo, row, ops_channel_id)
    if ops is not None:
        whose = f" (a personal alert of <@{row.owner_id}>)" if row.deliver == "dm" and row.owner_id else ""
        text = (
            f"Alert `{row.id}`{whose} ({row.detector}, {row.symbol}) is quarantined: {reason}. Its state is "
            f"kept and every other alert keeps running. `/alert resume {row.id}` checks it again."
        )
        _enqueue(repo, f"channel:{ops}", title, text, row, row.guild_id, now)
        queued += 1
    else:
        log.warning("no ops channel to report quarantined rule %s", row.id)
    return queued


def _ops_channel(repo: Repo, row: RuleRow, configured: int | None) -> int | None:
    """Return the rule's server's ops channel, or the config file's."""
    if row.guild_id is not None:
        settings = repo.guild_settings(row.guild_id)
        if settings is not None and settings.ops_channel_id is not None:
            return settings.ops_channel_id
    return configured


def _enqueue(
    repo: Repo, target: str, title: str, text: str, row: RuleRow, guild_id: int | None, now: int
) -> None:
    repo.enqueue(
        event_id=None,
        sink="discord",
        target=target,
        kind="ops",
        payload={
            "title": title,
            "text": text,
            "severity": "warning",
            "guild_id": guild_id,
            "rule_id": row.id,
            "at": now,
        },
        now=now,
    )
