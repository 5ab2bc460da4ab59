"""Backoff: doubling, jitter within bounds, cap, reset."""

from __future__ import annotations

import pytest

from feeds.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    low = Backoff(1.0, 8.0, rand=lambda: 0.0)
    high = Backoff(1.0, 8.0, rand=lambda: 0.999999)
    assert [low.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [round(high.next_delay(), 3) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_reset_and_no_overflow_after_many_failures() -> None:
    backoff = Backoff(0.5, 60.0)
    for _ in range(5000):
        assert 0.25 <= backoff.next_delay() <= 60.0
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(2, 1)
