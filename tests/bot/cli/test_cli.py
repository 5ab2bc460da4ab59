"""The command line: exit codes, one-line errors, db commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.__main__ import main
from storage.db import open_database
from storage.repo import Repo
from storage.rows import Candle
from tests.conftest import ROOT

EXAMPLE = str(ROOT / "config.example.toml")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "replay", "check-config", "show-config", "db"):
        assert command in out


def test_check_config_valid_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", EXAMPLE]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("config OK: 2 symbols")


def test_check_config_lists_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    text = (
        Path(EXAMPLE)
        .read_text()
        .replace("level = 3500", "level = -3500")
        .replace("poll_seconds = 15", "poll_seconds = 1")
    )
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert f"{path}: feeds.binance_spot.poll_seconds: Input should be greater than or equal to 5" in err
    assert f"{path}: rules[3].level: Input should be greater than 0" in err
    assert err[-1] == "2 problem(s) found"


def test_show_config_redacts_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "abc.def.ghi")
    assert main(["show-config", EXAMPLE]) == 0
    out = capsys.readouterr().out
    assert "abc.def.ghi" not in out and "<set, redacted>" in out


def test_run_without_token_explains_and_points_to_replay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIPWIRE_DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("TRIPWIRE_DISCORD_TOKEN_FILE", raising=False)
    assert main(["run", "--config", EXAMPLE]) == 2
    err = capsys.readouterr().err
    assert "TRIPWIRE_DISCORD_TOKEN" in err and "tripwire replay" in err
    assert "Traceback" not in err


def test_db_migrate_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.db"
    assert main(["db", "migrate", "--db", str(path)]) == 0
    db = open_database(path)
    Repo(db).upsert_candles([Candle("BTCUSDT", "1h", 1_768_341_600_000, "binance", 1, 2, 0.5, 1.5, 10.0)])
    db.conn.close()
    capsys.readouterr()
    assert main(["db", "stats", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert "candles" in out and "1 rows" in out
    assert "binance" in out and "BTCUSDT 1h" in out and "2026-01-13 22:00" in out


def test_db_stats_on_foreign_file_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.db"
    path.write_text("not sqlite at all" * 10)
    assert main(["db", "stats", "--db", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a SQLite database" in err[0]


def test_db_stats_on_newer_schema_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    assert main(["db", "stats", "--db", str(path)]) == 2
    assert "newer than this Tripwire" in capsys.readouterr().err


def test_run_with_the_etf_feed_on_and_no_key_explains(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIPWIRE_ETF_API_KEY", raising=False)
    monkeypatch.delenv("TRIPWIRE_ETF_API_KEY_FILE", raising=False)
    config = tmp_path / "tripwire.toml"
    config.write_text(
        Path(EXAMPLE).read_text().replace("[feeds.etf]\nenabled = false", "[feeds.etf]\nenabled = true")
    )
    assert "[feeds.etf]\nenabled = true" in config.read_text()
    assert main(["run", "--no-discord", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "TRIPWIRE_ETF_API_KEY" in err and "enabled = false" in err and "Traceback" not in err
