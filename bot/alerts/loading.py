"""Cut a rule set into batches that each take about a time budget to build and first evaluate.

A rule's first evaluation costs what its detector costs: 0.1 ms for a funding rule, 2 ms for a level rule
reading two days of 1m candles (bench.rule_loading). Rules load in id order, so a run of one kind follows a
run of another, and a batch size learnt on cheap rules held the loop for half a second on the expensive ones
that came next. So the cost is learnt per detector, from the CPU time of each batch shared out in
proportion to what was expected of each of its rules, and a batch is filled until its expected cost reaches
the budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.repo import RuleRow

# A detector not yet measured is expected to cost this share of the budget per rule: a few rules of a new
# kind go first, and the kind's own cost is known after that batch.
UNKNOWN_SHARE = 1 / 8
# How much of a new measurement replaces the old estimate (the rest is kept, so one noisy batch does not
# swing the next).
LEARN = 0.5


class BatchSizer:
    """Learn each detector's first-evaluation cost and fill batches up to a time budget."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.cost_s: dict[str, float] = {}

    def expected(self, row: RuleRow) -> float:
        """Return the seconds building and first evaluating ``row`` is expected to take."""
        return self.cost_s.get(row.detector, self.budget_s * UNKNOWN_SHARE)

    def next_batch(self, pending: Sequence[RuleRow], start: int) -> int:
        """Return the end (exclusive) of the batch beginning at ``start``: at least one rule."""
        end, spent = start, 0.0
        while end < len(pending):
            cost = self.expected(pending[end])
            if end > start and spent + cost >= self.budget_s:
                break
            spent += cost
            end += 1
        return end

    def measured(self, batch: Sequence[RuleRow], took_s: float) -> None:
        """Share out the seconds a batch took among its detectors, in proportion to what was expected."""
        expected = sum(self.expected(row) for row in batch)
        if expected <= 0 or not batch:
            return
        scale = took_s / expected
        for detector in {row.detector for row in batch}:
            old = self.cost_s.get(detector)
            if old is None:  # first measured: taken as it is
                self.cost_s[detector] = self.budget_s * UNKNOWN_SHARE * scale
            else:
                self.cost_s[detector] = (1 - LEARN) * old + LEARN * old * scale
