"""Detectors that exist only in tests, with settings of every shape a plugin might use."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Literal

from pydantic import Field

from detectors.base import Detector, DetectorSettings, Signal, Snapshot


class Basis(enum.Enum):
    """An Enum setting."""

    CLOSE = "close"
    WICK = "wick"


class KitchenSinkSettings(DetectorSettings):
    """One field of each kind the option generator must handle."""

    threshold: float = Field(gt=0, le=1_000_000, description="A required float with an exclusive minimum.")
    count: int = Field(3, gt=0, lt=10, description="An int with exclusive bounds on both sides.")
    mode: Literal["fast", "slow"] = Field("fast", description="A literal choice.")
    basis: Basis = Field(Basis.CLOSE, description="An enum choice.")
    loud: bool = Field(False, description="A flag.")
    peers: list[str] = Field(default_factory=list, max_length=5, description="Other symbols watched.")
    ceiling: float | None = Field(0.05, gt=0, description="A value that is on unless turned off.")
    label: str | None = Field(None, max_length=20, description="Optional text.")
    window_hours: float = Field(
        24,
        gt=0,
        le=720,
        description="A very long description that goes on and on about the window, far beyond the one "
        "hundred characters Discord allows for an option description.",
    )


class KitchenSink(Detector[KitchenSinkSettings]):
    """A market-wide detector that never fires."""

    name: ClassVar[str] = "kitchen_sink"
    description: ClassVar[str] = "Test detector with settings of every kind"
    Settings: ClassVar[type[DetectorSettings]] = KitchenSinkSettings
    market_wide: ClassVar[bool] = True

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Return nothing."""
        return []


class ClashingSettings(DetectorSettings):
    """A setting named like a common /alert add option (`note`)."""

    note: str = "x"


class Clashing(Detector[ClashingSettings]):
    """A detector whose setting shares a name with a common option (it once could not be offered)."""

    name: ClassVar[str] = "clashing"
    description: ClassVar[str] = "Clashes with the common options"
    Settings: ClassVar[type[DetectorSettings]] = ClashingSettings

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Return nothing."""
        return []


class ManySettings(DetectorSettings):
    """One required setting, as a plugin among many might have."""

    level: float = Field(gt=0, description="A level.")


def many_detectors(count: int) -> dict[str, type[Detector]]:
    """Return ``count`` synthetic market-wide plugin detectors with long descriptions (test data only)."""
    made: dict[str, type[Detector]] = {}
    for index in range(count):
        name = f"plugin_detector_{index:02d}"
        attrs = {
            "name": name,
            "description": f"Synthetic plugin detector number {index}, described at length to be cut short",
            "Settings": ManySettings,
            "market_wide": True,
            "evaluate": lambda self, snapshot, state: [],
        }
        made[name] = type(f"Plugin{index}", (Detector,), attrs)
    return made
