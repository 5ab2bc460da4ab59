"""``python -m bench.liq_venues --smoke`` still runs and every venue's frames give one row per event."""

from __future__ import annotations

import pytest

from bench import liq_venues


def test_liquidation_venues_benchmark_smoke_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert liq_venues.main(["--smoke"]) == 0  # it asserts rows == events per venue itself
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "\n== liquidation venues" in out
    for name in ("gate", "htx", "deribit", "hyperliquid"):
        assert f"{name} ratio to bybit" in out
