"""Reusable option parsing (RoboDanny's pattern): transformers that turn raw option text into values.

Each transformer returns a value or raises ``InvalidOption``, which the error funnel answers ephemerally
with the message.

Discord clients do not validate free text, and a user (or another client) can send anything, so every
transformer accepts any string without crashing and says what it expected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import discord
from discord import app_commands
from discord.app_commands import Choice

from bot.errors import UserError
from bot.parsing import parse_duration
from bot.services import Service
from bot.services.market import MAX_WINDOW_S, MIN_WINDOW_S
from bot.services.rules import MAX_COOLDOWN_S, MAX_EXPIRY_S

# The longest `settings` text of /alert add: every setting of a detector written out, 20 symbols of a
# correlated_move included, takes under 400 characters (Discord allows up to 6,000).
MAX_SETTINGS_CHARS = 500

log = logging.getLogger(__name__)

# Discord shows at most 25 autocomplete choices, each name and value at most 100 characters.
MAX_CHOICES = 25


class InvalidOption(app_commands.AppCommandError):
    """An option value that cannot be used; ``message`` tells the user what was wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@contextmanager
def option_input() -> Iterator[None]:
    """Re-raise a UserError from reading an option's text as InvalidOption (answered privately)."""
    try:
        yield
    except UserError as exc:
        raise InvalidOption(exc.message) from None


def tidy(value: Any) -> str:
    """Return typed text on one line, spaces folded, at most 100 characters (Discord's choice limit)."""
    return " ".join(str(value).split())[:100]


def suggest(typed: str, usual: Sequence[str], reads: Callable[[str], object]) -> list[Choice[str]]:
    """Offer the usual values starting with what was typed, led by the typed text when ``reads`` takes it."""
    offered = [s for s in usual if s.startswith(typed.lower())]
    if typed and typed not in offered:
        try:
            reads(typed)
        except UserError:
            pass
        else:
            offered.insert(0, typed[:100])
    return [Choice(name=s, value=s) for s in offered[:MAX_CHOICES]]


def service_of(interaction: discord.Interaction[Any]) -> Service:
    """Return the Service of the bot handling ``interaction``."""
    service = getattr(interaction.client, "service", None)
    if not isinstance(service, Service):
        raise RuntimeError("the Discord client has no Tripwire service attached")
    return service


def is_manager(interaction: discord.Interaction[Any]) -> bool:
    """Return whether the invoking member may manage the server's alerts (Manage Server or admin)."""
    permissions = interaction.permissions
    return interaction.guild_id is not None and (permissions.manage_guild or permissions.administrator)


class SymbolTransformer(app_commands.Transformer):
    """A configured symbol, typed loosely (``btc``, ``ETH/USDT``), with autocomplete."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        """Return the configured symbol the text names."""
        with option_input():
            return service_of(interaction).resolve_symbol(str(value))

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the configured symbols matching what was typed."""
        return [Choice(name=s, value=s) for s in service_of(interaction).symbol_choices(str(value))]


class DurationTransformer(app_commands.Transformer):
    """A duration such as ``15m``, ``2h`` or ``1d``, in seconds, within bounds, with suggestions."""

    def __init__(self, what: str, minimum_s: int, maximum_s: int, suggestions: Sequence[str]) -> None:
        self.what = what
        self.minimum_s = minimum_s
        self.maximum_s = maximum_s
        self.suggestions = list(suggestions)

    def seconds(self, text: str) -> int:
        """Return the duration ``text`` gives in seconds, or raise UserError."""
        return parse_duration(text, what=self.what, minimum_s=self.minimum_s, maximum_s=self.maximum_s)

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the duration in seconds."""
        with option_input():
            return self.seconds(str(value))

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the suggestions starting with what was typed (or what was typed, if it parses)."""
        return suggest(str(value).strip().lower(), self.suggestions, self.seconds)


class RuleIdTransformer(app_commands.Transformer):
    """An alert rule id of this server, with autocomplete of the rules the member may change."""

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        """Return the id as typed (the service checks it exists in this guild)."""
        return tidy(value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the rules matching what was typed: all of the server's for admins, else the member's."""
        if interaction.guild_id is None:
            return []
        choices = service_of(interaction).rule_choices(
            interaction.guild_id, interaction.user.id, is_admin=is_manager(interaction), current=str(value)
        )
        return [Choice(name=label, value=rule_id) for rule_id, label in choices]


class NumberTransformer(app_commands.Transformer):
    """One of this server's numbered things (``3`` or ``#3``: a silence, a digest), with autocomplete.

    These options belong to Manage Server commands: their autocomplete answers managers only.
    """

    # What to say when the text is not a number, e.g. "Pick a silence from the list ...".
    hint: ClassVar[str]

    def matching(
        self, interaction: discord.Interaction[Any], guild_id: int, typed: str
    ) -> list[tuple[int, str]]:
        """Return (number, label) pairs of the server's things matching what was typed."""
        raise NotImplementedError

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> int:
        """Return the number typed (the service checks it is this server's)."""
        text = str(value).strip().lstrip("#")
        # isascii: "²".isdigit() is true, but int() refuses it.
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise InvalidOption(self.hint)
        return int(text)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer the server's things matching what was typed, to the server's managers only."""
        # discord.py runs no checks (not even default_permissions, which Discord's client enforces only
        # for showing the command) before an autocomplete callback: the command's own permission is checked
        # here first, so a member typing gets nothing (silences' reasons, digests' channels).
        if interaction.guild_id is None or not is_manager(interaction):
            return []
        found = self.matching(interaction, interaction.guild_id, str(value))
        return [Choice(name=label, value=str(number)) for number, label in found]


class SettingsTransformer(app_commands.Transformer):
    """A detector's settings as ``name=value`` words, completed from the command's `detector` option."""

    @property
    def min_value(self) -> int:
        """Return the shortest text Discord accepts (min_length)."""
        return 1

    @property
    def max_value(self) -> int:
        """Return the longest text Discord accepts (max_length)."""
        return MAX_SETTINGS_CHARS

    async def transform(self, interaction: discord.Interaction[Any], value: Any) -> str:
        """Return the text as typed (the service reads it once the detector is known)."""
        return str(value)

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], value: str
    ) -> list[Choice[str]]:
        """Offer completions of the text for the detector picked in the same command."""
        detector = getattr(interaction.namespace, "detector", None)
        found = service_of(interaction).settings_choices(detector, str(value))
        return [Choice(name=name, value=text) for name, text in found]


Symbol = app_commands.Transform[str, SymbolTransformer]
SettingsText = app_commands.Transform[str, SettingsTransformer]
RuleId = app_commands.Transform[str, RuleIdTransformer]
Window = app_commands.Transform[
    int, DurationTransformer("window", MIN_WINDOW_S, MAX_WINDOW_S, ["1h", "4h", "12h", "24h", "3d", "7d"])
]
Cooldown = app_commands.Transform[
    int, DurationTransformer("cooldown", 0, MAX_COOLDOWN_S, ["0", "5m", "15m", "1h", "4h", "1d"])
]
Expiry = app_commands.Transform[
    int, DurationTransformer("expiry", 60, MAX_EXPIRY_S, ["1h", "1d", "7d", "30d"])
]
