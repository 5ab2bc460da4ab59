"""Issue 18's acceptance case: an RSI rule replayed over real hourly candles fires exactly where TA-Lib's
RSI(14) of the same file crosses above 70 (``tripwire replay``: CSV reader, ingest, history, engine)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import talib

from bot.__main__ import main
from tests.conftest import DATA

CSV = "binance_spot_BTCUSDT_1h_2026-01-01_2026-01-20.csv"
RULE = """
symbols = ["BTCUSDT"]

[[rules]]
id = "btc-rsi-70"
detector = "rsi"
symbol = "BTCUSDT"
interval = "1h"
period = 14
above = 70
hysteresis = 0
cooldown_seconds = 0
"""


def talib_crossings_above_70() -> list[str]:
    """Return the close times of the real hourly candles where TA-Lib's RSI(14) crosses above 70.

    A candle's alert is decided at its close, an hour after the open time the file gives.
    """
    with (DATA / CSV).open(newline="") as f:
        rows = list(csv.DictReader(f))
    rsi = talib.RSI(np.array([float(r["close"]) for r in rows]), 14)
    times = []
    for i in range(1, len(rows)):
        if rsi[i - 1] <= 70 < rsi[i]:  # NaN compares False: no crossing inside the warm-up
            closed = datetime.fromisoformat(rows[i]["timestamp"]).astimezone(UTC) + timedelta(hours=1)
            times.append(closed.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return times


def test_rsi_rule_fires_exactly_at_talibs_crossings_above_70(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DATA / CSV, data / CSV)
    config = tmp_path / "rsi.toml"
    config.write_text(RULE, encoding="utf-8")
    capsys.readouterr()
    assert (
        main(["-q", "replay", "--format", "jsonl", "--no-progress", "--data", str(data), "-c", str(config)])
        == 0
    )
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fired = [a for a in alerts if a["state"] == "firing"]
    expected = talib_crossings_above_70()
    assert len(expected) >= 10, "the real January data crosses 70 often"
    assert [a["at"] for a in fired] == expected
    first = fired[0]
    assert first["rule"] == "btc-rsi-70" and first["detector"] == "rsi"
    assert str(first["title"]).startswith("BTC RSI(14, 1h) crossed above 70: ")
    values = first["values"]
    assert isinstance(values, dict) and values["previous_rsi"] <= 70 < values["rsi"]
