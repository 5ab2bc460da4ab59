"""The detector registry: built-ins in the tuple and the entry-point group agree, and each is documented."""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

import detectors.registry as registry
from detectors.base import Detector, DetectorSettings, Signal, Snapshot
from tests.conftest import ROOT

DATA_KINDS = {
    "candles",
    "liquidations",
    "funding",
    "open_interest",
    "fear_greed",
    "long_short",
    "implied_vol",
    "depth",
    "etf_flow",
}


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget the cached detector classes before and after the test."""
    registry.detector_classes.cache_clear()
    yield
    registry.detector_classes.cache_clear()


def test_builtins_and_entry_points_agree() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    published = pyproject["project"]["entry-points"][registry.ENTRY_POINT_GROUP]
    assert published == {registry._load(spec).name: spec for spec in registry.BUILTIN_DETECTORS}
    assert len(registry.detector_classes()) == len(registry.BUILTIN_DETECTORS) == 24


@pytest.mark.parametrize("name", list(registry.detector_classes()))
def test_detector_is_documented_and_tested(name: str) -> None:
    cls = registry.get_detector(name)
    assert cls.__module__ == f"detectors.{name}", "one module per detector, named after it"
    assert cls.description and "\n" not in cls.description and len(cls.description) <= 110
    assert issubclass(cls.Settings, DetectorSettings)
    for field_name, info in cls.Settings.model_fields.items():
        assert info.description, f"{name}.{field_name} needs a description"
    assert set(cls.uses) <= DATA_KINDS
    assert (ROOT / "tests" / "detectors" / f"test_{name}.py").exists()
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        cls.Settings.model_validate({"no_such_option": 1})


class _Impostor(Detector):
    """A plugin that reuses a built-in's name."""

    name: ClassVar[str] = "pct_move"
    description: ClassVar[str] = "clash"
    Settings: ClassVar[type[DetectorSettings]] = DetectorSettings

    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        return []


class _EntryPoint:
    """Stands in for importlib.metadata.EntryPoint."""

    def __init__(self, value: str, target: object) -> None:
        self.value = value
        self._target = target

    def load(self) -> object:
        return self._target


def test_a_builtin_published_as_a_plugin_is_not_a_clash(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from detectors.level_cross import LevelCross

    points = [
        _EntryPoint("detectors.level_cross:LevelCross", LevelCross),
        _EntryPoint("evil:Impostor", _Impostor),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: points)
    with caplog.at_level(logging.ERROR, logger="detectors.registry"):
        classes = registry.detector_classes()
    assert classes["level_cross"] is LevelCross and classes["pct_move"] is not _Impostor
    assert [r.getMessage() for r in caplog.records] == [
        "detector plugin evil:Impostor reuses the name 'pct_move'; skipping it"
    ]
