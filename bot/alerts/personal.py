"""What happens to a member's personal (DM) alerts when Discord says they cannot be reached.

Two things stop a personal alert from reaching its owner: their DMs are closed to the bot (Discord answers
403 with code 50007), or they left the server the rule belongs to. Either way retrying cannot help, so the
rules are paused with a reason the member can read in ``/alert list``, and for closed DMs a notice is left
that the bot shows them privately the next time they use a command (once: the notice is deleted when
shown). No ``import discord`` here; the Discord sink and the gateway listener call these.
"""

from __future__ import annotations

import logging

from bot.alerts.model import DMS_CLOSED_REASON
from storage.repo import Repo

log = logging.getLogger(__name__)

MEMBER_LEFT_REASON = "paused: the member left the server"
DMS_CLOSED_NOTICE = "dms_closed"
# A member's id may appear in a pause reason ("paused by <@id>"); /privacy replaces such a reason by this.
FORGOTTEN_REASON = "paused by a member who has since deleted their data"


def closed_dms_notice(rule_ids: list[str]) -> str:
    """Return what to tell a member whose alerts were paused because their DMs are closed."""
    shown = ", ".join(f"`{rule_id}`" for rule_id in rule_ids[:10])
    more = f" and {len(rule_ids) - 10} more" if len(rule_ids) > 10 else ""
    first = rule_ids[0] if rule_ids else "<id>"
    return (
        f"I could not send you a direct message, so your personal alert{'s' if len(rule_ids) != 1 else ''} "
        f"{shown}{more} {'are' if len(rule_ids) != 1 else 'is'} paused. Allow direct messages from "
        f"server members (in the Privacy Settings of a server we share), then run `/alert resume {first}`."
    )


def pause_for_closed_dms(repo: Repo, user_id: int, now: int, rule_id: str | None = None) -> list[str]:
    """Pause every running personal rule of ``user_id`` (their DMs are closed) and leave them a notice.

    Discord refuses all DMs to a member who closed them, so every one of their personal rules would fail
    the same way; pausing them all at once keeps each from trying once more. ``rule_id`` (the rule of the
    refused message) is paused too. Returns the paused ids (none when they were already paused: the member
    was told then).
    """
    with repo.transaction():
        running = [r for r in repo.rules(owner_id=user_id, enabled_only=True) if r.deliver == "dm"]
        refused = repo.rule(rule_id) if rule_id is not None else None
        if refused is not None and refused.enabled and refused.id not in {r.id for r in running}:
            running.append(refused)
        for rule in running:
            repo.set_rule_enabled(rule.id, False, DMS_CLOSED_REASON, now)
        if running:
            owned = [r.id for r in repo.rules(owner_id=user_id) if r.status_reason == DMS_CLOSED_REASON]
            paused = owned + [r.id for r in running if r.id not in owned]
            repo.save_notice(user_id, DMS_CLOSED_NOTICE, closed_dms_notice(paused), now)
    if running:
        log.info("user %s does not accept DMs; paused rules %s", user_id, ", ".join(r.id for r in running))
    return [r.id for r in running]


def pause_for_departure(repo: Repo, guild_id: int, user_id: int, now: int) -> list[str]:
    """Pause the running personal rules ``user_id`` has in ``guild_id`` (they left it); return their ids."""
    with repo.transaction():
        running = [
            r for r in repo.rules(guild_id=guild_id, owner_id=user_id, enabled_only=True) if r.deliver == "dm"
        ]
        for rule in running:
            repo.set_rule_enabled(rule.id, False, MEMBER_LEFT_REASON, now)
    if running:
        log.info(
            "user %s left guild %s; paused rules %s", user_id, guild_id, ", ".join(r.id for r in running)
        )
    return [r.id for r in running]
