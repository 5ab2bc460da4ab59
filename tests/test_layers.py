"""Layer rules enforced by ruff: feeds/, detectors/ and storage/ fail ``ruff check`` if they import bot,
and no module outside a folder named ``discord/`` may import discord.

Each case copies the project's ruff configuration and the three lower packages to a temporary directory,
adds one import to one module there and runs ``ruff check`` on the copy, so the tree under test is never
touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER = ("feeds", "detectors", "storage")
CHECKED = (*LOWER, "bot")


def _copy_tree(dest: Path) -> None:
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    for package in CHECKED:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _ruff_check(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *CHECKED],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _add_import(module: Path, line: str) -> None:
    """Add ``line`` after the module's ``from __future__`` import, where an import block starts."""
    text = module.read_text()
    future = "from __future__ import annotations\n"
    assert future in text
    module.write_text(text.replace(future, f"{future}\n{line}  # noqa: F401\n", 1))


def test_the_untouched_layers_pass(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    result = _ruff_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("feeds/okx.py", "from bot.config import Config"),
        ("feeds/scheduler.py", "import bot"),
        ("feeds/ingest.py", "import bot.config"),
        ("detectors/level_cross.py", "from bot import engine"),
        ("storage/repo/rules.py", "from bot.config import Config"),
    ],
)
def test_importing_bot_from_a_lower_layer_fails_ruff(tmp_path: Path, module: str, line: str) -> None:
    _copy_tree(tmp_path)
    _add_import(tmp_path / module, line)
    result = _ruff_check(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = [row for row in result.stdout.splitlines() if "TID251" in row]
    # The one added import is the one violation, reported at the module that has it.
    assert len(flagged) == 1, result.stdout
    assert flagged[0].startswith(f"{module}:")
    assert "`bot` is banned" in flagged[0]


@pytest.mark.parametrize(
    "module",
    [
        "bot/services/market.py",
        "bot/services/base.py",
        "bot/alerts/engine.py",
        "bot/notify/outbox.py",
        "feeds/okx.py",
        "storage/db.py",
    ],
)
def test_importing_discord_outside_a_discord_folder_fails_ruff(tmp_path: Path, module: str) -> None:
    _copy_tree(tmp_path)
    _add_import(tmp_path / module, "import discord")
    result = _ruff_check(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    flagged = [row for row in result.stdout.splitlines() if "TID251" in row]
    assert len(flagged) == 1, result.stdout
    assert flagged[0].startswith(f"{module}:")
    assert "`discord` is banned" in flagged[0]


def test_importing_discord_inside_a_discord_folder_passes(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    _add_import(tmp_path / "bot/notify/discord/sink.py", "import discord.ui")
    result = _ruff_check(tmp_path)
    assert not [row for row in result.stdout.splitlines() if "TID251" in row], result.stdout


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold_and_fail_when_notify_imports_the_front_end(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    _add_import(tmp_path / "bot/notify/outbox.py", "from bot.discord import checks")
    broken = _lint_imports(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "bot.notify.outbox -> bot.discord.checks" in broken.stdout
