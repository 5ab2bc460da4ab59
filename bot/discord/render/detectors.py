"""Embeds of /alert detectors: every detector in a line, or one detector's settings with an example."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.notify.discord.render.base import (
    DESCRIPTION_LIMIT,
    FIELD_LIMIT,
    FIELD_VALUE_LIMIT,
    NEUTRAL,
    cut,
    fit,
    fit_lines,
)
from bot.services.detector_settings import SettingSpec
from bot.services.detectors import DetectorInfo


def detectors_embed(infos: Sequence[DetectorInfo]) -> discord.Embed:
    """Render the list of detectors, one line each, cut at a line when there are too many."""
    lines = [f"`{info.name}` {info.description}" for info in infos]
    embed = discord.Embed(
        title=f"Detectors ({len(infos)})",
        description="\n".join(fit_lines(lines, DESCRIPTION_LIMIT - 200)),
        colour=NEUTRAL,
    )
    embed.set_footer(
        text="/alert detectors detector:<name> shows its settings; "
        "/alert add detector:<name> settings:name=value ... creates an alert"
    )
    return fit(embed)


def _setting_field(spec: SettingSpec) -> tuple[str, str]:
    """Return a setting's field: name and what it takes; description, default."""
    name = f"{spec.name} ({'required' if spec.required else 'optional'})"
    parts = [spec.description, f"Takes: {spec.type_text}."]
    if spec.default_text is not None:
        parts.append(f"Default: `{spec.default_text}`.")
    return name, cut(" ".join(parts), FIELD_VALUE_LIMIT)


def detector_embed(info: DetectorInfo) -> discord.Embed:
    """Render one detector: what it watches, whether it takes a symbol, each setting, an example."""
    symbol = "" if info.market_wide else "symbol:BTCUSDT "
    scope = (
        "Watches the whole market: no `symbol`." if info.market_wide else "Watches one symbol: give `symbol`."
    )
    example = f"/alert add detector:{info.name} {symbol}settings:{info.example}".rstrip()
    description = f"{info.description}\n{scope}\n\nExample: `{example}`"
    embed = discord.Embed(title=f"Detector {info.name}", description=description, colour=NEUTRAL)
    specs = list(info.settings)
    shown = specs if len(specs) <= FIELD_LIMIT else specs[: FIELD_LIMIT - 1]
    for spec in shown:
        name, value = _setting_field(spec)
        embed.add_field(name=name, value=value, inline=False)
    if len(shown) < len(specs):
        rest = ", ".join(s.name for s in specs[len(shown) :])
        embed.add_field(name="More settings", value=cut(rest, FIELD_VALUE_LIMIT), inline=False)
    if not specs:
        embed.add_field(name="Settings", value="None: leave out `settings`.", inline=False)
    return fit(embed)
