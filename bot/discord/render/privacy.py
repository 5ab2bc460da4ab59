"""Embeds of /privacy: what is stored about a member, and what deleting it removed."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.notify.discord.render.base import ENDED, FIELD_VALUE_LIMIT, NEUTRAL, WARNING, fit, fit_lines
from bot.services.privacy import ForgetView, PrivacyView, StoredRule
from detectors.base import short_symbol

_MAX_LISTED = 15


def _rules(rules: Sequence[StoredRule]) -> str:
    lines = [
        f"`{r.id}` {short_symbol(r.symbol)} {r.detector}"
        + (f" (server {r.guild_id})" if r.guild_id else "")
        + ("" if r.enabled else " · paused")
        for r in rules
    ]
    return "\n".join(fit_lines(lines, FIELD_VALUE_LIMIT, most=_MAX_LISTED))


def privacy_embed(view: PrivacyView) -> discord.Embed:
    """Render what is stored about the member, with what deleting it would do."""
    if view.empty:
        return discord.Embed(
            title="Nothing is stored about you",
            description="Tripwire keeps no alerts, history, messages or notices of yours.",
            colour=NEUTRAL,
        )
    embed = discord.Embed(
        title="What Tripwire stores about you",
        description="Your user id, with the items below. **Delete all of it** removes your personal alerts, "
        "their history, the direct messages queued or sent to you and any notice for you; server alerts, "
        "digests, silences and liquidation feeds you set up stay with their server, without your id.",
        colour=WARNING,
    )
    if view.personal_rules:
        embed.add_field(
            name=f"Your personal alerts ({len(view.personal_rules)})",
            value=_rules(view.personal_rules),
            inline=False,
        )
    embed.add_field(name="Their alert history", value=f"{view.personal_events} alerts")
    embed.add_field(name="Direct messages", value=f"{view.dm_deliveries} queued or sent")
    embed.add_field(name="Notices for you", value=str(view.notices))
    if view.created_rules:
        embed.add_field(
            name=f"Server alerts you created ({len(view.created_rules)})",
            value=_rules(view.created_rules),
            inline=False,
        )
    if view.digests_created or view.silences_created or view.liqfeeds_set:
        embed.add_field(
            name="Also created by you",
            value=f"{view.digests_created} digests, {view.silences_created} silences, "
            f"{view.liqfeeds_set} liquidation feeds",
        )
    if view.server_events_naming:
        embed.add_field(
            name="Server alert history naming you",
            value=f"{view.server_events_naming} past alerts of server alerts you created",
        )
    return fit(embed)


def forget_embed(view: ForgetView) -> discord.Embed:
    """Render what deleting the member's data removed."""
    deleted = view.deleted
    lines = [
        f"{deleted.get('rules', 0)} personal alerts and {deleted.get('alert_events', 0)} alerts of their "
        "history",
        f"{deleted.get('outbox', 0)} direct messages (queued or sent) and {deleted.get('member_notices', 0)} "
        "notices",
        f"your id removed from {deleted.get('rules_unowned', 0)} server alerts "
        f"(and {deleted.get('alert_events_unowned', 0)} of their past alerts), "
        f"{deleted.get('digests_unowned', 0)} digests, {deleted.get('silences_unowned', 0)} silences and "
        f"{deleted.get('liqfeeds_unowned', 0)} liquidation feeds",
    ]
    return fit(
        discord.Embed(
            title="Deleted what Tripwire stored about you",
            description="\n".join(f"• {line}" for line in lines),
            colour=ENDED,
        )
    )
