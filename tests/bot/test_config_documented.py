"""Every option of the config models is written in config.example.toml, set or in a comment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import get_args

from pydantic import BaseModel

from bot.config import Config
from tests.conftest import ROOT

EXAMPLE = (ROOT / "config.example.toml").read_text()


def _options(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        # A list of tables ([[routes]]) is documented like a table.
        annotation = next((a for a in get_args(annotation) if isinstance(a, type)), annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _options(annotation, f"{prefix}{name}.")
        else:
            yield prefix, name


def _section(path: str) -> str:
    """Return the text of one [table] of the example (comments included), or the top level."""
    if not path:
        return EXAMPLE.split("\n[", 1)[0]
    header = re.escape(path.rstrip("."))
    match = re.search(rf"^#? ?\[\[?{header}\]\]?\n(.*?)(?=^#? ?\[|\Z)", EXAMPLE, re.M | re.S)
    assert match, f"config.example.toml has no [{path.rstrip('.')}] section"
    return match.group(1)


def test_every_option_is_in_the_example() -> None:
    missing = [
        f"{section}{name}"
        for section, name in _options(Config)
        if name != "rules" and not re.search(rf"(^|[#\s/]){name}\b", _section(section), re.M)
    ]
    assert missing == [], f"document these options in config.example.toml: {missing}"


def test_no_option_is_documented_twice_in_its_section() -> None:
    # A block pasted twice (a merge) leaves two descriptions to keep in step, and a reader wondering why.
    twice = [
        f"{section}{name}"
        for section, name in _options(Config)
        if name != "rules" and len(re.findall(rf"^# ?{name} = ", _section(section), re.M)) > 1
    ]
    assert twice == [], f"these options are described twice in config.example.toml: {twice}"
