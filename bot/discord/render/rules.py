"""Embeds of the /alert commands: one rule after a change, and /alert list."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.alerts.model import BROKEN_PREFIX
from bot.discord.render.warmup import warm_up_text
from bot.notify.discord.render.base import DESCRIPTION_LIMIT, ENDED, NEUTRAL, fit, fit_lines, ts
from bot.parsing import format_duration
from bot.services.rules import RuleView
from detectors.base import format_price, short_symbol


def _rule_line(rule: RuleView) -> str:
    where = (
        "DM" if rule.deliver == "dm" else f"<#{rule.channel_id}>" if rule.channel_id else "default channel"
    )
    parts = [
        f"`{rule.id}` **{short_symbol(rule.symbol)}** {rule.detector} {rule.summary}".rstrip(),
        f"→ {where}",
    ]
    if rule.role_id:
        parts.append(f"pings <@&{rule.role_id}>")
    if rule.distance_pct is not None and rule.price is not None:
        parts.append(f"price {format_price(rule.price)}, {rule.distance_pct:+.2f}% to the level")
    if not rule.repeat:
        parts.append("one-shot")
    if rule.expires_at:
        parts.append(f"expires {ts(rule.expires_at)}")
    if not rule.enabled:
        reason = rule.status_reason or "paused"
        parts.append(f"⚠️ {reason}" if reason.startswith(BROKEN_PREFIX) else f"⏸ {reason}")
    return " · ".join(parts)


def rule_embed(rule: RuleView, title: str) -> discord.Embed:
    """Render one rule after it was added, removed, paused or resumed."""
    embed = discord.Embed(
        title=title, description=_rule_line(rule), colour=NEUTRAL if rule.enabled else ENDED
    )
    if rule.note:
        embed.add_field(name="Note", value=rule.note, inline=False)
    if rule.warming:
        embed.add_field(name="Warming up", value=warm_up_text(rule.warming), inline=False)
    embed.add_field(name="Cooldown", value=format_duration(rule.cooldown_s))
    embed.set_footer(text=f"rule {rule.id}")
    return fit(embed)


def rules_embed(rules: Sequence[RuleView], *, everyone: bool) -> discord.Embed:
    """Render /alert list: one line per rule, as many as fit."""
    whose = "This server's alerts" if everyone else "Your alerts"
    if not rules:
        return discord.Embed(
            title=f"{whose}: none yet", description="Create one with /alert add.", colour=NEUTRAL
        )
    lines = fit_lines([_rule_line(rule) for rule in rules], DESCRIPTION_LIMIT)
    active = sum(1 for r in rules if r.enabled)
    embed = discord.Embed(title=f"{whose} ({active} active of {len(rules)})", description="\n".join(lines))
    embed.colour = NEUTRAL
    return fit(embed)
