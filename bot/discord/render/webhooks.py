"""Embeds for /webhook: a route just made (with its URL, shown once), one removed, and the list."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.notify.discord.render import base as render
from bot.parsing import format_duration
from bot.services.webhooks import NewWebhook, WebhookView

TEMPLATE = '{"ticker": "{{ticker}}", "title": "{{ticker}} crossed {{close}}", "severity": "warning"}'


def webhook_line(view: WebhookView) -> str:
    """Return one line describing a route: its name, where its alerts go, its limits and its use."""
    where = f"<#{view.channel_id}>" if view.channel_id is not None else "nowhere"
    parts = [f"**{view.name}** → {where}", view.default_severity, f"{view.rate_per_minute}/min"]
    if view.cooldown_s:
        parts.append(f"cooldown {format_duration(view.cooldown_s)}")
    used = f"{view.accepted} alerts, last {render.ts(view.last_used_at)}" if view.last_used_at else "unused"
    parts.append(used)
    if not view.enabled:
        parts.append("paused")
    return " · ".join(parts) + f" · alert `{view.rule_id}`"


def new_webhook_embed(made: NewWebhook) -> discord.Embed:
    """Render /webhook add: the URL with its secret (this once), and the message template to paste."""
    embed = discord.Embed(
        title=f"Webhook {made.view.name} added",
        description=(
            f"{webhook_line(made.view)}\n\n"
            "**Webhook URL** (paste it into the TradingView alert's *Webhook URL*; it holds the secret, "
            "and is "
            f"shown only now):\n```\n{made.url}\n```"
            f"**Message**, JSON or text, e.g.\n```\n{TEMPLATE}\n```"
            "or `[critical] {{ticker}} crossed {{close}}`."
        ),
        colour=render.NEUTRAL,
    )
    if made.address_note:
        embed.add_field(name="Address", value=made.address_note, inline=False)
    embed.set_footer(
        text="Lost the URL? /webhook remove it and add it again: the secret cannot be shown twice"
    )
    return render.fit(embed)


def removed_webhook_embed(view: WebhookView) -> discord.Embed:
    """Render /webhook remove."""
    embed = discord.Embed(
        title=f"Webhook {view.name} removed", description=webhook_line(view), colour=render.NEUTRAL
    )
    embed.set_footer(text="Its URL answers 403 from now on; its past alerts stay in the history")
    return render.fit(embed)


def webhooks_embed(views: Sequence[WebhookView]) -> discord.Embed:
    """Render /webhook list."""
    if not views:
        return discord.Embed(
            title="No webhooks",
            description="Let TradingView alerts in with /webhook add.",
            colour=render.NEUTRAL,
        )
    lines = render.fit_lines([webhook_line(view) for view in views], render.DESCRIPTION_LIMIT)
    return render.fit(
        discord.Embed(title=f"Webhooks ({len(views)})", description="\n".join(lines), colour=render.NEUTRAL)
    )
