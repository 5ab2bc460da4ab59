"""Alert values as Discord embed fields: moments as Discord timestamps each reader sees in their zone.

The kinds, labels and formatters are ``detectors.values``'; this module is the Discord medium (the
plain-text one is ``bot.notify.values``), used by alert embeds and ``/why``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.notify.discord.render.base import ts
from detectors.registry import value_specs
from detectors.values import shown_values


def discord_moment(ms: int) -> str:
    """Write a moment as a Discord timestamp (``<t:1768345200:f>``: date and time in the reader's zone)."""
    return ts(ms, "f")


def value_fields(detector: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return (field name, field value) of each value of an alert of ``detector`` a person reads."""
    return shown_values(values, value_specs(detector), discord_moment)
