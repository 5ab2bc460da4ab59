"""docs/writing-detectors.md works as written: its package is built, installed and loaded as a plugin.

The code blocks of the page are the package: ``close_streak.py`` and ``pyproject.toml`` are taken from it,
built and installed with pip into a temporary directory (no network: the installed setuptools builds it),
found through the ``tripwire.detectors`` entry point, checked by the config validator and evaluated on
synthetic candles (labelled synthetic below).
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ConfigError, parse_config, parse_rule
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from storage.rows import HOUR_MS, Candle

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "writing-detectors.md"
# 2026-01-05 00:00 UTC
T0 = 1_767_571_200_000


def code_block(language: str, first_line: str) -> str:
    """Return the page's fenced ``language`` block whose first line starts with ``first_line``."""
    for block in re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S):
        if block.startswith(first_line):
            return str(block)
    raise AssertionError(f"no {language} block starting with {first_line!r} in {PAGE.name}")


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Build and install the page's package into a temporary site directory on sys.path."""
    package = tmp_path_factory.mktemp("tripwire-close-streak")
    (package / "close_streak.py").write_text(code_block("python", '"""Fire when'), encoding="utf-8")
    (package / "pyproject.toml").write_text(code_block("toml", "[build-system]"), encoding="utf-8")
    (package / "test_close_streak.py").write_text(
        code_block("python", '"""close_streak fires'), encoding="utf-8"
    )
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(package),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    detector_classes.cache_clear()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("close_streak", None)
        importlib.invalidate_caches()
        detector_classes.cache_clear()


def test_the_plugin_is_found_through_its_entry_point(installed_plugin: Path) -> None:
    classes = detector_classes()
    assert "close_streak" in classes
    assert classes["close_streak"].__module__ == "close_streak"
    assert Path(sys.modules["close_streak"].__file__ or "").is_relative_to(installed_plugin)


def test_its_rules_are_checked_like_a_built_in(installed_plugin: Path) -> None:
    [rule] = tomllib.loads(code_block("toml", "[[rules]]"))["rules"]
    config = parse_config({"symbols": ["BTCUSDT"], "rules": [rule]})
    assert [r["detector"] for r in config.rules] == ["close_streak"]
    assert parse_rule(rule).settings.model_dump() == {"count": 5, "interval": "4h", "direction": "up"}
    with pytest.raises(ConfigError, match=r"rules\[0\]\.count"):
        parse_config({"symbols": ["BTCUSDT"], "rules": [{**rule, "count": 1}]})


def test_it_fires_on_a_streak_and_not_before(installed_plugin: Path) -> None:
    cls = detector_classes()["close_streak"]
    detector = cls("btc-streak", "BTCUSDT", cls.Settings(count=3))
    history = MarketHistory()
    # Synthetic candles: two down hours, then three up hours.
    closes = [(100.0, 99.0), (99.0, 98.0), (98.0, 99.0), (99.0, 100.0), (100.0, 101.0)]
    history.add_candles(
        Candle("BTCUSDT", "1h", T0 + i * HOUR_MS, "synthetic", o, max(o, c), min(o, c), c, 1.0)
        for i, (o, c) in enumerate(closes)
    )
    state: dict[str, object] = {}
    assert detector.evaluate(history.view("BTCUSDT", T0 + 4 * HOUR_MS), state) == []
    [signal] = detector.evaluate(history.view("BTCUSDT", T0 + 5 * HOUR_MS), state)
    assert signal.title == "BTC closed up 3 1h candles in a row"
    assert signal.at == T0 + 5 * HOUR_MS and signal.direction == "up"


def test_the_pages_own_tests_pass(installed_plugin: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    package = tmp_path_factory.mktemp("plugin-tests")
    (package / "test_close_streak.py").write_text(
        code_block("python", '"""close_streak fires'), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_close_streak.py"],
        cwd=package,
        env={**os.environ, "PYTHONPATH": f"{installed_plugin}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
