"""`tripwire digest`: the bundled scenario's digest of 2026-01-14 with the recorded figures, a database
file, and one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.__main__ import main
from detectors.base import format_usd
from feeds.replay import load_directory, store_recorded
from storage.db import open_database
from storage.repo import Repo
from tests.conftest import DATA, ROOT


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_bundled_digest_of_2026_01_14(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "digest", "--at", "2026-01-15T00:00Z"]) == 0
    out = capsys.readouterr().out
    candles = {
        r["timestamp"][:16]: float(r["close"])
        for r in _rows("binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv")
    }
    close, before = candles["2026-01-14 23:00"], candles["2026-01-13 23:00"]
    day = [
        r
        for r in _rows("coinglass_btc_liquidations_1h_2025-11-23_2026-01-20.csv")
        if "2026-01-14T" in r["datetime_utc"]
    ]
    shorts = sum(float(r["shortUsd"]) for r in day)
    longs = sum(float(r["longUsd"]) for r in day)
    fng = {r["date"]: r["value"] for r in _rows("alternative_me_fear_greed_2025-12-01_2026-01-20.csv")}

    assert out.startswith("Market digest: 24h to 2026-01-15 00:00 UTC\n")
    assert f"BTC $96,951.78 ▲ +{(close - before) / before * 100:.1f}%" in out and close == 96951.78
    assert f"Shorts {format_usd(shorts)} · longs {format_usd(longs)}" in out and shorts > 4 * longs
    assert f"{fng['2026-01-14']} → {fng['2026-01-15']} Greed" in out and "48 → 61 Greed" in out
    # The scenario's example rules fired that day; the digest lists them.
    assert "Alerts fired (" in out and "BTC closed the day above $95,000" in out


def test_a_digest_from_a_database_file_with_chosen_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "t.db"
    db = open_database(path)
    store_recorded(Repo(db), load_directory(ROOT / "bot" / "scenario"))
    db.conn.close()
    args = [
        "-q",
        "digest",
        "--at",
        "2026-01-14T00:00Z",
        "--hours",
        "6",
        "--contents",
        "prices,fng",
        "--db",
        str(path),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Market digest: 6h to 2026-01-14 00:00 UTC")
    assert "Prices (6h change)" in out and "26 → 48 Neutral" in out and "Liquidations" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "yesterday"], "--at: 'yesterday' is not a date or time"),
        (["--at", "2026-01-15", "--contents", "weather"], "`weather` is not a digest section"),
        (
            ["--at", "2026-01-15", "--db", "/nonexistent/t.db"],
            "database file /nonexistent/t.db does not exist",
        ),
    ],
)
def test_mistakes_end_with_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "digest", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
