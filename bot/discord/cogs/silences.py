"""/silence add, list and remove (Manage Server): mute matching alerts for a while or on a schedule."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.discord.checks import guild_id_of, manage_guild_only
from bot.discord.render import silences as render_silences
from bot.discord.transformers import (
    MAX_CHOICES,
    DurationTransformer,
    NumberTransformer,
    RuleId,
    Symbol,
    option_input,
    service_of,
    tidy,
)
from bot.services import Service
from bot.services.silences import MAX_REASON_CHARS, MAX_SILENCE_S, MIN_SILENCE_S, parse_moment
from detectors.base import SEVERITIES


class MomentTransformer(app_commands.Transformer):
    """A UTC time: ``2026-01-14 18:00``, ``18:00`` (the next one) or ``sun 03:00``; in epoch ms."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the time in epoch ms."""
        with option_input():
            return parse_moment(str(value), service_of(interaction).now_ms())


class DetectorTransformer(app_commands.Transformer):
    """The name of an installed detector, with autocomplete."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        """Return the detector name as typed (the service checks it exists)."""
        return tidy(value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the detectors whose names contain what was typed."""
        typed = str(value).strip().lower()
        names = [n for n in service_of(interaction).detectors if typed in n]
        return [Choice(name=n, value=n) for n in names[:MAX_CHOICES]]


class SilenceIdTransformer(NumberTransformer):
    """One of this server's silences, by number (``12`` or ``#12``), with autocomplete."""

    hint = "Pick a silence from the list (its number, like `#3`); /silence list shows them."

    def matching(
        self, interaction: discord.Interaction[Any], guild_id: int, typed: str
    ) -> list[tuple[int, str]]:
        """Return the server's silences matching what was typed."""
        return service_of(interaction).silence_choices(guild_id, typed)


Moment = app_commands.Transform[int, MomentTransformer]
DetectorName = app_commands.Transform[str, DetectorTransformer]
SilenceId = app_commands.Transform[int, SilenceIdTransformer]
SilenceLength = app_commands.Transform[
    int, DurationTransformer("duration", MIN_SILENCE_S, MAX_SILENCE_S, ["30m", "1h", "2h", "4h", "12h", "1d"])
]
SEVERITY_CHOICES = [Choice(name=s, value=s) for s in SEVERITIES]
REPEAT_CHOICES = [Choice(name="every day", value="daily"), Choice(name="every week", value="weekly")]


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class SilenceCog(commands.GroupCog, group_name="silence", group_description="Mute alerts for a while"):
    """Add, list and remove silences (mute windows) of this server."""

    def __init__(self, service: Service) -> None:
        self.service = service
        super().__init__()

    @app_commands.command(
        name="add", description="Mute matching alerts for a while, or on a daily/weekly schedule"
    )
    @app_commands.describe(
        duration="How long, e.g. 2h (or give until)",
        until="End time in UTC instead of a duration, e.g. 2026-01-14 18:00 or 18:00",
        symbol="Only alerts of this pair",
        detector="Only alerts of this kind, e.g. round_levels",
        rule="Only this alert",
        severity="Only alerts of this severity",
        repeat="Repeat the window every day or week (e.g. an exchange's maintenance hour)",
        starts="When the (first) window starts, UTC (default now), e.g. sun 03:00",
        reason="Why (shown in /silence list)",
    )
    @app_commands.choices(severity=SEVERITY_CHOICES, repeat=REPEAT_CHOICES)
    @manage_guild_only
    async def add(
        self,
        interaction: discord.Interaction[Any],
        duration: SilenceLength | None = None,
        until: Moment | None = None,
        symbol: Symbol | None = None,
        detector: DetectorName | None = None,
        rule: RuleId | None = None,
        severity: Choice[str] | None = None,
        repeat: Choice[str] | None = None,
        starts: Moment | None = None,
        reason: app_commands.Range[str, 1, MAX_REASON_CHARS] | None = None,
    ) -> None:
        """Add a silence."""
        view = self.service.add_silence(
            guild_id_of(interaction),
            interaction.user.id,
            symbol=symbol,
            detector=detector,
            rule_id=rule,
            severity=severity.value if severity is not None else None,
            duration_s=duration,
            until=until,
            starts_at=starts,
            recurrence=repeat.value if repeat is not None else None,
            reason=reason,
        )
        embed = render_silences.silence_embed(view, f"Silence #{view.id} added")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="list", description="This server's silences and mute windows")
    @manage_guild_only
    async def list_silences(self, interaction: discord.Interaction[Any]) -> None:
        """List the server's silences."""
        views = self.service.list_silences(guild_id_of(interaction))
        await interaction.response.send_message(embed=render_silences.silences_embed(views), ephemeral=True)

    @app_commands.command(name="remove", description="End a silence now")
    @app_commands.describe(silence="The silence's number, e.g. #3")
    @manage_guild_only
    async def remove(self, interaction: discord.Interaction[Any], silence: SilenceId) -> None:
        """Remove a silence."""
        view = self.service.remove_silence(guild_id_of(interaction), silence)
        embed = render_silences.silence_embed(view, f"Silence #{view.id} removed")
        await interaction.response.send_message(embed=embed, ephemeral=True)
