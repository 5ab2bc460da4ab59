"""RepoBase: transactions are atomic and nest."""

from __future__ import annotations

import pytest

from storage.repo import Repo, RuleRow
from storage.rows import HOUR_MS as H
from storage.rows import Candle

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def _candles(n: int, close: float = 100.0) -> list[Candle]:
    return [
        Candle("BTCUSDT", "1h", T0 + i * H, "binance", close, close + 1, close - 1, close + i, 10.0)
        for i in range(n)
    ]


def test_transaction_rolls_back_everything_on_error(repo: Repo) -> None:
    with pytest.raises(RuntimeError), repo.transaction():
        repo.upsert_candles(_candles(2))
        repo.save_rule(RuleRow("r1", "config", "level_cross", "BTCUSDT", {"level": 1.0}))
        raise RuntimeError("crash mid-tick")
    assert repo.candles("BTCUSDT", "1h") == []
    assert repo.rule("r1") is None
