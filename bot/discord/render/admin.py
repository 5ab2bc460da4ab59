"""Embeds of /setup and /status."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.discord.render.warmup import warm_up_line
from bot.notify.discord.render.base import FIELD_VALUE_LIMIT, NEUTRAL, UP, WARNING, fit, fit_lines, ts
from bot.parsing import format_duration
from bot.services.admin import GuildSetupView, StatusView, WarmingRule
from detectors.base import short_symbol


def setup_embed(view: GuildSetupView) -> discord.Embed:
    """Render /setup."""
    alert = f"<#{view.alert_channel_id}>" if view.alert_channel_id else "not set"
    ops = f"<#{view.ops_channel_id}>" if view.ops_channel_id else "not set"
    title = "Server settings saved" if view.changed else "Server settings"
    embed = discord.Embed(title=title, colour=NEUTRAL)
    embed.add_field(name="Default alert channel", value=alert)
    embed.add_field(name="Ops channel", value=ops)
    embed.add_field(name="Charts on alerts", value="on" if view.chart_alerts else "off")
    if view.config_rules_here:
        rules = "rule" if view.config_rules_here == 1 else "rules"
        embed.add_field(
            name="Config-file rules",
            value=f"{view.config_rules_here} config-file {rules} that no [[routes]] entry names post here.",
            inline=False,
        )
    return fit(embed)


def _size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def status_embed(view: StatusView) -> discord.Embed:
    """Render /status."""
    bad = [f for f in view.feeds if f.state not in ("ok", "standby", "disabled")]
    embed = discord.Embed(
        title="Tripwire is running" + (f"; {len(bad)} feed(s) need attention" if bad else ""),
        colour=WARNING if bad else UP,
    )
    embed.add_field(name="Version", value=view.version)
    embed.add_field(name="Up since", value=ts(view.started_at))
    embed.add_field(name="Database", value=_size(view.db_size_bytes))
    embed.add_field(name="Alerts", value=f"{view.rules_enabled} active of {view.rules_total}")
    embed.add_field(name="Queued deliveries", value=str(view.outbox_pending))
    if view.unrouted:
        # A rule must never fire into nowhere silently (issue 22): its alerts are recorded, not posted.
        embed.add_field(name="⚠️ Alerts with no destination", value=view.unrouted, inline=False)
    if view.outbox_failed:
        # Only what Discord will never accept ends here (an outage is waited out); the ops channel said why.
        embed.add_field(name="Failed deliveries", value=f"{view.outbox_failed} (see the ops channel)")
    symbols = ", ".join(view.symbols) or "none"
    embed.add_field(name="Symbols", value=symbols)
    if view.feeds:
        icons = {
            "ok": "🟢",
            "degraded": "🟡",
            "stale": "🔴",
            "standby": "⚪",
            "disabled": "⚪",
            "refused": "⛔",
        }
        lines = []
        for feed in view.feeds:
            last = ts(feed.last_success_ms) if feed.last_success_ms else "never"
            lag = f", lag {feed.lag_s:.0f}s" if feed.lag_s is not None else ""
            detail = f" · {feed.detail}" if feed.detail else ""
            lines.append(
                f"{icons.get(feed.state, '⚪')} {feed.name}: {feed.state}, last success {last}{lag}{detail}"
            )
        embed.add_field(name="Feeds", value="\n".join(lines), inline=False)
        covered = [f for f in view.feeds if f.coverage]
        if covered:
            value = "\n".join(f"{icons.get(f.state, '⚪')} {f.coverage}" for f in covered)
            embed.add_field(name="Liquidation coverage", value=value, inline=False)
    else:
        embed.add_field(name="Feeds", value="no feed health reported", inline=False)
    if view.last_alerts:
        lines = [
            f"{ts(a.at)} `{a.rule_id}` {a.title}"
            + (" (late)" if a.late else "")
            + (" (silenced)" if a.silenced else "")
            for a in view.last_alerts
        ]
        embed.add_field(name="Last alerts", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="Last alerts", value="none yet", inline=False)
    if view.warming:
        embed.add_field(name="Warming up (not firing yet)", value=_warming(view.warming), inline=False)
    channels = []
    if view.alert_channel_id:
        channels.append(f"alerts <#{view.alert_channel_id}>")
    if view.ops_channel_id:
        channels.append(f"ops <#{view.ops_channel_id}>")
    embed.set_footer(text=f"uptime {format_duration(view.uptime_s)}")
    if channels:
        embed.add_field(name="Channels", value=" · ".join(channels), inline=False)
    return fit(embed)


def _warming(rules: Sequence[WarmingRule]) -> str:
    """Return one line per rule still warming up: what it has and needs, and roughly when it is warm."""
    lines = [
        f"`{r.rule_id}` {short_symbol(r.symbol)} {r.detector}: "
        + "; ".join(warm_up_line(item) for item in r.warming)
        for r in rules
    ]
    return "\n".join(fit_lines(lines, FIELD_VALUE_LIMIT))
