"""Find detector plugins: the built-ins listed here plus any installed under ``tripwire.detectors``.

Built-ins go through the same mechanism as third-party plugins (datasette's pattern): an explicit tuple
for what ships with Tripwire, and the entry-point group for what others install.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from importlib.metadata import entry_points

from detectors.base import Detector
from detectors.values import COMMON_VALUE_SPECS, ValueSpecs

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tripwire.detectors"

# "module:Class" of every built-in detector, in the order they are documented.
BUILTIN_DETECTORS: tuple[str, ...] = (
    "detectors.level_cross:LevelCross",
    "detectors.round_levels:RoundLevels",
    "detectors.range_breakout:RangeBreakout",
    "detectors.retest:Retest",
    "detectors.pct_move:PctMove",
    "detectors.volume_spike:VolumeSpike",
    "detectors.liquidation_cascade:LiquidationCascade",
    "detectors.squeeze:Squeeze",
    "detectors.funding:Funding",
    "detectors.open_interest:OpenInterest",
    "detectors.fear_greed:FearGreed",
    "detectors.correlated_move:CorrelatedMove",
    "detectors.rsi:Rsi",
    "detectors.ma_cross:MaCross",
    "detectors.macd:Macd",
    "detectors.bollinger:Bollinger",
    "detectors.stoch_rsi:StochRsi",
    "detectors.combo:Combo",
    "detectors.liq_cluster_near:LiqClusterNear",
    "detectors.liq_cluster_swept:LiqClusterSwept",
    "detectors.crowding:Crowding",
    "detectors.dvol:Dvol",
    "detectors.thin_liquidity:ThinLiquidity",
    "detectors.etf_flow:EtfFlows",
)


def _load(spec: str) -> type[Detector]:
    module_name, _, attr = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        raise TypeError(f"{spec} is not a Detector subclass")
    return cls


@cache
def detector_classes() -> dict[str, type[Detector]]:
    """Return every available detector class by name (built-ins first, then plugins)."""
    found: dict[str, type[Detector]] = {}
    for spec in BUILTIN_DETECTORS:
        cls = _load(spec)
        found[cls.name] = cls
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:
            log.exception("detector plugin %s could not be loaded; skipping it", entry.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            log.error("detector plugin %s is not a Detector subclass; skipping it", entry.value)
            continue
        if found.get(cls.name) is cls:
            continue  # a built-in, also published under the entry-point group (as pyproject.toml does)
        if cls.name in found:
            log.error("detector plugin %s reuses the name %r; skipping it", entry.value, cls.name)
            continue
        found[cls.name] = cls
    return found


def get_detector(name: str) -> type[Detector]:
    """Return the detector class called ``name`` or raise KeyError listing the known names."""
    classes = detector_classes()
    try:
        return classes[name]
    except KeyError:
        raise KeyError(f"unknown detector {name!r}; known detectors: {', '.join(classes)}") from None


def value_specs(name: str) -> ValueSpecs:
    """Return how the values of detector ``name``'s alerts read (the common ones for an unknown name)."""
    cls = detector_classes().get(name)
    return {**COMMON_VALUE_SPECS, **(cls.value_specs if cls is not None else {})}
