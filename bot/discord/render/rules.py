"""Embeds of the /alert commands: one rule after a change, and /alert list."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.alerts.model import BROKEN_PREFIX
from bot.discord.render.warmup import warm_up_text
from bot.notify.discord.render.base import DESCRIPTION_LIMIT, ENDED, NEUTRAL, fit, fit_lines, ts
from bot.parsing import format_duration
from bot.services.base import describe_settings
from bot.services.rule_transfer import ImportPlan, PlannedRule
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
    if rule.outlook:
        embed.add_field(name="Now", value=rule.outlook, inline=False)
    if rule.note:
        embed.add_field(name="Note", value=rule.note, inline=False)
    if rule.warming:
        embed.add_field(name="Warming up", value=warm_up_text(rule.warming), inline=False)
    embed.add_field(name="Cooldown", value=format_duration(rule.cooldown_s))
    embed.set_footer(text=f"rule {rule.id}")
    return fit(embed)


def rules_added_embed(rules: Sequence[RuleView]) -> discord.Embed:
    """Render the alerts one /alert add with `levels` created, one line each."""
    lines = fit_lines([_rule_line(rule) for rule in rules], DESCRIPTION_LIMIT)
    embed = discord.Embed(title=f"{len(rules)} alerts created", description="\n".join(lines), colour=NEUTRAL)
    embed.set_footer(text="Each is a rule of its own: /alert remove, pause and resume take one id.")
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


def _planned_line(planned: PlannedRule) -> str:
    row = planned.row
    what = f"**{short_symbol(row.symbol)}** {row.detector} {describe_settings(row.settings)}".rstrip()
    where = "DM" if row.deliver == "dm" else f"<#{row.channel_id}>" if row.channel_id else "default channel"
    if planned.action == "create":
        renamed = f" (new id: `{planned.renamed_from}` is another alert's)" if planned.renamed_from else ""
        paused = " · paused" if not row.enabled else ""
        return f"➕ `{row.id}`{renamed} {what} → {where}{paused}"
    return f"✏️ `{row.id}` " + "; ".join(planned.changes)


def import_embed(plan: ImportPlan, *, applied: bool) -> discord.Embed:
    """Render an import's plan (before Apply) or what it did (after)."""
    created, changed, same = len(plan.of("create")), len(plan.of("update")), len(plan.of("unchanged"))
    counts = f"{created} created, {changed} changed, {same} unchanged"
    if applied:
        title = f"Imported: {counts}"
    elif not plan.changes:
        title = f"Nothing to import: all {same} alerts of the file are already here as they are"
    else:
        title = f"Import: {created} to create, {changed} to change, {same} unchanged"
    lines = fit_lines([_planned_line(p) for p in plan.rules if p.action != "unchanged"], DESCRIPTION_LIMIT)
    embed = discord.Embed(title=title, description="\n".join(lines) or None, colour=NEUTRAL)
    if not applied and plan.changes:
        embed.set_footer(
            text="Nothing changes until you press Apply. Alerts not in the file stay as they are."
        )
    return fit(embed)
