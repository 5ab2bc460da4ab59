"""Alert values as plain text (replay, the console sink, ``tripwire`` commands): moments in UTC.

The kinds, labels and formatters are ``detectors.values``'; this module is the plain-text medium: it
looks up how the alert's detector declared its values and writes moments as UTC text. The Discord medium
is ``bot.notify.discord.render.values``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.registry import value_specs
from detectors.values import shown_values, utc_text


def value_pairs(detector: str, values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return (label, text) of each value of an alert of ``detector`` a person reads, in UTC."""
    return shown_values(values, value_specs(detector), utc_text)


def values_text(detector: str, values: Mapping[str, Any], most: int | None = None) -> str:
    """Return an alert's values on one line (``Liquidated: $109.0M · Window: 1h``), at most ``most``."""
    pairs = value_pairs(detector, values)
    return " · ".join(f"{label}: {text}" for label, text in pairs[:most])
