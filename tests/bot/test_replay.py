"""`tripwire replay` on the bundled real data: output format, and resuming on the same database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import main


def replay_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["-q", "replay", "--format", "jsonl", "--no-progress", *args]) == 0
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_jsonl_has_only_alert_objects_in_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    alerts = replay_jsonl(capsys)
    assert alerts, "the bundled scenario raises alerts"
    for alert in alerts:
        assert list(alert) == ["at", "rule", "detector", "symbol", "state", "severity", "title", "values"]
        assert alert["state"] in ("firing", "resolved")
        assert str(alert["at"]).endswith("Z")


def test_btc_95k_fires_exactly_once_in_the_breakout_hour(capsys: pytest.CaptureFixture[str]) -> None:
    alerts = replay_jsonl(capsys)
    btc = [a for a in alerts if a["rule"] == "btc-95k" and a["state"] == "firing"]
    assert len(btc) == 1
    assert btc[0]["at"] in ("2026-01-13T23:00:00Z",) or str(btc[0]["at"]).startswith("2026-01-13T22:")
    daily = [a for a in alerts if a["rule"] == "btc-95k-daily-close" and a["state"] == "firing"]
    assert [a["at"] for a in daily] == ["2026-01-14T00:00:00Z"]
    assert not [a for a in alerts if a["rule"] == "eth-3500-close"]


def test_text_output_ends_with_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "replay", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "BTC broke above $95,000" in "\n".join(lines)
    assert lines[-1].startswith("replayed ") and "alerts fired" in lines[-1]


def test_replay_interrupted_and_resumed_on_same_db_matches_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = replay_jsonl(capsys)
    db = str(tmp_path / "replay.db")
    first = replay_jsonl(capsys, "--db", db, "--to", "2026-01-13T23:30Z")
    second = replay_jsonl(capsys, "--db", db)
    assert first + second == whole
    assert replay_jsonl(capsys, "--db", db) == []  # a third run has nothing left to say


def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--from", "yesterday-ish"]) == 2
    assert "--from: 'yesterday-ish' is not a date" in capsys.readouterr().err
    assert main(["replay", "--data", str(tmp_path)]) == 2
    assert "holds no .csv files" in capsys.readouterr().err
