"""What /alert detectors and the settings options tell a member: each detector's help and completions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bot.parsing import known_detector
from bot.services.base import ServiceBase
from bot.services.detector_settings import (
    MAX_CHOICE_CHARS,
    MAX_CHOICES,
    PICK_DETECTOR_HINT,
    SettingSpec,
    complete_settings,
    example_text,
    hint,
    parse_settings,
    setting_specs,
    shorten,
)
from detectors.base import Detector

# Length a detector's choice label aims at (Discord allows 100).
LABEL_CHARS = 64


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    """A detector as /alert detectors explains it."""

    name: str
    description: str
    market_wide: bool
    settings: tuple[SettingSpec, ...]
    example: str  # a settings text showing the syntax, e.g. ``level=95000``


def detector_label(cls: type[Detector]) -> str:
    """Return ``name: what it watches``, short (a choice of the `detector` option)."""
    # The description up to its first parenthesis says what it watches; the rest is for /alert detectors.
    # Kept to about 64 characters: the label is repeated in three options of /alert (add, test,
    # detectors), and every character counts towards Discord's 8,000 per command.
    what = cls.description.split(" (")[0].strip()
    room = max(LABEL_CHARS - len(cls.name) - 2, 16)
    return f"{cls.name}: {shorten(what, room)}"[:MAX_CHOICE_CHARS]


class DetectorHelp(ServiceBase):
    """Explain detectors and complete or read the settings text members type for them."""

    def detector_info(self, detector: str) -> DetectorInfo:
        """Return a detector's help: what it watches, each setting, an example settings text."""
        cls = known_detector(detector, self.detectors)
        return DetectorInfo(
            name=cls.name,
            description=" ".join(cls.description.split()),
            market_wide=cls.market_wide,
            settings=tuple(setting_specs(cls.Settings)),
            example=example_text(cls.Settings),
        )

    def detector_infos(self) -> list[DetectorInfo]:
        """Return the help of every detector, in registration order."""
        return [self.detector_info(name) for name in self.detectors]

    def parse_settings(
        self, detector: str, text: str | None, given_elsewhere: Collection[str] = ()
    ) -> dict[str, Any]:
        """Read a settings text (``level=95000 direction=up``) for ``detector``, or raise UserError."""
        cls = known_detector(detector, self.detectors)
        return parse_settings(detector, cls.Settings, text, given_elsewhere)

    def settings_choices(self, detector: str | None, text: str) -> list[tuple[str, str]]:
        """Return (name, value) completions of a settings text being typed (a hint before a detector)."""
        cls = self.detectors.get(detector or "")
        if cls is None:
            # One suggestion saying what to do, rather than none; picking it keeps what was typed.
            return hint(text, PICK_DETECTOR_HINT)
        return complete_settings(cls.Settings, text)

    def detector_choices(self, current: str) -> list[tuple[str, str]]:
        """Return up to 25 (label, name) detectors whose name or description holds what was typed."""
        typed = current.strip().lower()
        found = [
            (detector_label(cls), name)
            for name, cls in self.detectors.items()
            if typed in name.lower() or typed in cls.description.lower()
        ]
        # Names starting with what was typed first: the usual way to pick one.
        found.sort(key=lambda choice: not choice[1].startswith(typed))
        return found[:MAX_CHOICES]
