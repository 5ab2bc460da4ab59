"""The README's pictures are what its documented commands make today, so they cannot go stale silently.

The commands are read from the README itself (the indented ``tripwire ...`` lines that write into
``docs/``), run in-process with the output redirected, and the PNG each makes is compared with the one
committed: same size, and the same picture within a small tolerance for anti-aliasing differences
between FreeType builds. When a change to the charts is meant, run the commands again and commit.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from bot.__main__ import main
from tests.conftest import ROOT

README = ROOT / "README.md"
# A pixel differs when one of its channels moves by more than this (0..1 scale).
CHANNEL_TOLERANCE = 0.1
# At most this share of the pixels may differ (text edges rendered by another FreeType).
SHARE_TOLERANCE = 0.002


def documented_commands() -> list[list[str]]:
    """Return the README's commands that write a picture under docs/, as argument lists."""
    commands = []
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("    tripwire ") and re.search(r"docs/\S+\.png", line):
            commands.append(shlex.split(line.strip())[1:])
    return commands


def picture_of(args: list[str]) -> Path:
    (path,) = [a for a in args if a.startswith("docs/") and a.endswith(".png")]
    return ROOT / path


def differences(made: Path, committed: Path) -> str | None:
    """Return what differs between two PNGs (size, or the share of pixels), None when they match."""
    a, b = imread(made), imread(committed)
    if a.shape != b.shape:
        return f"size {a.shape[1]}x{a.shape[0]} made, {b.shape[1]}x{b.shape[0]} committed"
    moved = np.abs(a.astype(float) - b.astype(float)).max(axis=-1) > CHANNEL_TOLERANCE
    share = float(moved.mean())
    return None if share <= SHARE_TOLERANCE else f"{share:.2%} of the pixels differ"


def run_into(args: list[str], out: Path) -> None:
    target = str(picture_of(args).relative_to(ROOT))
    assert main(["-q", *[str(out) if a == target else a for a in args]]) == 0
    assert out.exists()


def test_the_readme_documents_a_command_for_each_picture() -> None:
    commands = documented_commands()
    shown = set(re.findall(r"\]\((docs/[^)]+\.png)\)", README.read_text(encoding="utf-8")))
    assert {str(picture_of(c).relative_to(ROOT)) for c in commands} == shown
    assert len(shown) == 2


@pytest.mark.parametrize("args", documented_commands(), ids=lambda args: picture_of(args).name)
def test_each_picture_is_what_its_command_makes(args: list[str], tmp_path: Path) -> None:
    made = tmp_path / "made.png"
    run_into(args, made)
    problem = differences(made, picture_of(args))
    assert problem is None, f"{picture_of(args).name} is stale ({problem}); run: tripwire {shlex.join(args)}"


def test_the_comparison_finds_a_different_picture(tmp_path: Path) -> None:
    # A control: the same chart in the other theme, same size, must not pass for the committed one.
    (chart,) = [c for c in documented_commands() if c[0] == "chart"]
    light = tmp_path / "light.png"
    run_into([*chart, "--theme", "light"], light)
    problem = differences(light, picture_of(chart))
    assert problem is not None and "of the pixels differ" in problem
