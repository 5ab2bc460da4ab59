"""``tripwire check-config`` says what is wrong in a combo rule's `when`, where, under its TOML path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.__main__ import main
from tests.conftest import ROOT

EXAMPLE = ROOT / "config.example.toml"
GOOD = 'when = "rsi(14, 4h) > 70 and close > ema(50, 1h)"'


def test_a_mistyped_when_is_listed_with_its_rule_path_and_character(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text()
    assert GOOD in text
    rules = tomllib.loads(text)["rules"]
    index = next(i for i, rule in enumerate(rules) if rule["detector"] == "combo")
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(GOOD, 'when = "rsi(14, 4h) > 70 and close > emma(50, 1h)"'))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: rules[{index}].when: at character 30 (`rsi(14, 4h) > 70 and close > emma`): unknown name "
        "emma (did you mean ema?); known names: close, open, high, low, volume, rsi, sma, ema, macd, "
        "bollinger, stoch_rsi",
        "1 problem(s) found",
    ]
