"""The HTTP helper's weight budget and Retry-After parsing (requests themselves: test_faults_rest)."""

from __future__ import annotations

import pytest

from feeds.errors import FeedError
from feeds.http import WeightBudget, parse_retry_after
from tests.feeds.conftest import ManualClock


def test_budget_counts_reservations_and_trusts_the_header() -> None:
    clock = ManualClock(60_000 * 1000)
    budget = WeightBudget(10, clock, window_s=60)
    budget.reserve(4)
    budget.observe("9")  # other clients on the same IP used more than we did
    with pytest.raises(FeedError) as info:
        budget.reserve(2)
    assert info.value.kind == "budget" and info.value.retry_after == 60.0
    clock.advance(30)
    with pytest.raises(FeedError) as info:
        budget.reserve(2)
    assert info.value.retry_after == 30.0
    clock.advance(30)  # a new window
    budget.reserve(10)
    budget.observe("garbage")
    assert budget.used == 10


@pytest.mark.parametrize(
    ("value", "seconds"), [("120", 120.0), ("0.5", 0.5), (None, None), ("soon", None), ("-1", None)]
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds
