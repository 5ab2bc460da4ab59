"""`tripwire show-config` prints every effective value as TOML that loads back; -v/-q go anywhere."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import load_config
from tests.conftest import ROOT

EXAMPLE = ROOT / "config.example.toml"


def shown(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["show-config", *args]) == 0
    return capsys.readouterr().out


def test_the_output_loads_back_as_the_same_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "effective.toml"
    out.write_text(shown(capsys, str(EXAMPLE)))
    again, original = load_config(out), load_config(EXAMPLE)
    assert again.model_dump(exclude={"rules"}) == original.model_dump(exclude={"rules"})
    assert again.rule_specs() == original.rule_specs()
    # check-config, the command the README names, accepts it too.
    assert main(["check-config", str(out)]) == 0


def test_every_default_is_written_out(capsys: pytest.CaptureFixture[str]) -> None:
    data = tomllib.loads(shown(capsys, str(EXAMPLE)))
    # Sections the example leaves out, with their defaults.
    assert data["http"] == {"enabled": False, "host": "127.0.0.1", "port": 9108}
    assert data["backtest"]["warmup_days"] == 7.0
    # A rule's options the example leaves out: the common ones and its detector's.
    (rule,) = [r for r in data["rules"] if r["id"] == "btc-95k"]
    assert rule["use_wicks"] is False and rule["pending_seconds"] == 0 and rule["resolve_notice"] == "edit"
    # A market-wide rule has no symbol option.
    assert all("symbol" not in r for r in data["rules"] if r["detector"] == "fear_greed")


def test_unset_options_and_secrets_are_comments(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "abc.def.ghi")
    text = shown(capsys, str(EXAMPLE))
    assert "abc.def.ghi" not in text
    assert "#   TRIPWIRE_DISCORD_TOKEN: <set, redacted>" in text.splitlines()
    assert "# ops_channel_id: not set" in text.splitlines()
    assert "secrets" not in tomllib.loads(text)


@pytest.mark.parametrize(
    ("argv", "level"),
    [
        (["check-config", str(EXAMPLE)], logging.INFO),
        (["-q", "check-config", str(EXAMPLE)], logging.WARNING),
        (["check-config", str(EXAMPLE), "-q"], logging.WARNING),
        (["check-config", "-qq", str(EXAMPLE)], logging.ERROR),
        (["show-config", str(EXAMPLE), "-v"], logging.DEBUG),
        (["-q", "show-config", "-q", str(EXAMPLE)], logging.ERROR),
        (["db", "stats", "--db", "{db}", "-q"], logging.WARNING),
        (["db", "-v", "stats", "--db", "{db}"], logging.DEBUG),
    ],
)
def test_verbosity_flags_work_before_and_after_the_subcommand(
    argv: list[str], level: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.replace("{db}", str(tmp_path / "t.db")) for a in argv]
    if "db" in args:
        assert main(["db", "migrate", "--db", str(tmp_path / "t.db")]) == 0
    main(args)
    assert logging.getLogger().level == level
