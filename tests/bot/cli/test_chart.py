"""`tripwire chart`: the bundled scenario by default, a database file, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.__main__ import main
from feeds.replay import load_directory, store_recorded
from storage.db import open_database
from storage.repo import Repo
from tests.conftest import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_help_lists_chart(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "    chart " in capsys.readouterr().out


def test_chart_of_the_bundled_week(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chart.png"
    args = [
        "-q",
        "chart",
        "--symbol",
        "BTCUSDT",
        "--interval",
        "1h",
        "--from",
        "2026-01-10",
        "--to",
        "2026-01-16",
    ]
    assert main([*args, "--out", str(out)]) == 0
    png = out.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) < 1_000_000
    line = capsys.readouterr().out.strip()
    # The bare --to date covers that whole day: 7 days of hourly candles, with a marker for every BTC
    # alert the scenario's rules fired in it.
    assert line.startswith(f"wrote {out}: BTCUSDT 1h, 168 candles, 2026-01-10 00:00 → 2026-01-17 00:00 UTC")
    assert main(["-q", "replay", "--format", "jsonl", "--no-progress", "--to", "2026-01-17"]) == 0
    alerts = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    fired = [
        a for a in alerts if a["symbol"] == "BTCUSDT" and a["state"] == "firing" and a["at"] >= "2026-01-10"
    ]
    assert f"{len(fired)} alerts marked" in line


def test_chart_from_a_database_file_with_a_light_theme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = tmp_path / "t.db"
    db = open_database(db_path)
    store_recorded(Repo(db), load_directory(ROOT / "bot" / "scenario"))
    db.conn.close()
    out = tmp_path / "eth.png"
    assert (
        main(["-q", "chart", "-s", "ethusdt", "--db", str(db_path), "--theme", "light", "-o", str(out)]) == 0
    )
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    # No rules ran on this database: nothing is marked. Default window: the last 7 stored days.
    line = capsys.readouterr().out
    assert "ETHUSDT 1h, 168 candles" in line and "0 alerts marked" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-s", "DOGEUSDT"],
            "tripwire: no candles of DOGEUSDT are stored (symbols with candles: BTCUSDT, ETHUSDT)",
        ),
        (
            ["-s", "BTCUSDT", "--from", "2025-01-01", "--to", "2025-01-02"],
            "tripwire: no BTCUSDT candles between",
        ),
        (["-s", "BTCUSDT", "--from", "last week"], "tripwire: --from: 'last week' is not a date"),
        (
            ["-s", "BTCUSDT", "--db", "/nonexistent/t.db"],
            "tripwire: database file /nonexistent/t.db does not exist",
        ),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["-q", "chart", *args, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not (tmp_path / "x.png").exists()


def test_unwritable_output_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing-dir" / "x.png"
    assert main(["-q", "chart", "-s", "BTCUSDT", "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tripwire: cannot write {target}: No such file or directory"]


def test_a_directory_as_output_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "chart", "-s", "BTCUSDT", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"tripwire: cannot write {tmp_path}: it is a directory"
