"""bench.live hands the engine new candles as a feed would, and reads its counts per symbol-minute."""

from __future__ import annotations

import random
import shutil

import pytest

from bench import live
from bench.live import Walk, delivered, instruction_figures


def test_a_delivered_candle_is_equal_but_holds_new_number_objects() -> None:
    closed = Walk("SYNUSDT", 100.0, random.Random(1)).minute(0)  # SYNTHETIC: one step of the walk
    answer = delivered(closed)
    assert answer == closed
    assert answer is not closed
    assert all(new is not old for new, old in zip(answer[4:9], closed[4:9], strict=True))


def test_the_instruction_ratio_is_per_minute_at_the_large_count_over_the_small() -> None:
    counts = {"ir_20": 2_000_000.0, "ir_500": 1_900_000.0, "miss_20": 218.0, "miss_500": 1_606.0}
    lines = {line.name.strip(): line for line in instruction_figures(counts, smoke=False)}
    ratio = lines["instructions per minute, 500 / 20 symbols"]
    assert ratio.value == pytest.approx(1_900_000 * 500 / (2_000_000 * 20))
    assert ratio.target == 25.0 and ratio.passed
    assert lines["cache misses per symbol-minute, 500 symbols"].value == 1_606.0


def test_without_valgrind_nothing_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert live.counted(2, 1) is None
    assert live.count_instructions(smoke=True) == {}
