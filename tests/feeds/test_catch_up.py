"""A bounded history keeps a gap's rows until the rules have caught up on them (issue 24 review).

After a restart the backfill brings hours of candles in one batch, and each rule's next evaluation reads
everything since its last one (a crossing missed while the bot was down is reported once, marked late).
SYNTHETIC candles: two quiet hours, then a three-hour gap whose first hour crosses the levels, delivered at
once; the bounded history must report what the unbounded one reports, and let the gap go afterwards.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.alerts.engine import Engine
from bot.alerts.live import LiveEvaluator
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import HOUR_MS, MINUTE_MS, Candle, OpenInterest
from tests.conftest import ConsoleRouter

START = 1_735_689_600_000  # 2025-01-01 00:00 UTC


def candle(minute: int, price: float) -> Candle:
    """Return a SYNTHETIC closed one-minute candle of BTCUSDT."""
    t = START + minute * MINUTE_MS
    return Candle("BTCUSDT", "1m", t, "synthetic", price, price + 1, price - 1, price, 1.0)


Events = list[tuple[object, ...]]


def play(detector: str, settings: dict[str, Any], *, bounded: bool) -> tuple[Events, Ingest]:
    """Play two evaluated hours, then a three-hour gap in one batch and one evaluation; return the alerts."""
    repo = Repo(open_database(":memory:"))
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(repo, history)
    repo.save_rule(RuleRow("rule", "config", detector, "BTCUSDT", settings, created_at=START))
    engine = Engine(repo, history, ConsoleRouter(), report_before_creation=True)
    engine.load()
    clock = [START]
    evaluator = LiveEvaluator(engine, lambda: clock[0], interval_seconds=60, after=ingest.caught_up)
    for minute in range(120):
        ingest.candles([candle(minute, 100.0)])
        clock[0] = START + (minute + 1) * MINUTE_MS
        evaluator.evaluate({"BTCUSDT"})
    # The backfill after three hours down: price above 110 for half an hour in the gap's first hour.
    ingest.candles([candle(m, 120.0 if 130 <= m < 160 else 100.0) for m in range(120, 300)])
    clock[0] = START + 300 * MINUTE_MS
    evaluator.evaluate({"BTCUSDT"})
    return repo.conn.execute("SELECT rule_id, kind, at FROM alert_events ORDER BY id").fetchall(), ingest


@pytest.mark.parametrize(
    ("detector", "settings"),
    [("level_cross", {"level": 110, "direction": "up"}), ("round_levels", {"step": 10})],
)
def test_a_crossing_in_a_backfilled_gap_is_reported_by_a_bounded_history(
    detector: str, settings: dict[str, Any]
) -> None:
    bounded, ingest = play(detector, settings, bounded=True)
    unbounded, _ = play(detector, settings, bounded=False)
    assert unbounded, "the crossing in the gap is reported late"
    assert bounded == unbounded
    # Evaluated: the hold is gone, the rule's hour of base candles is what is kept again.
    assert ingest.history.kept_ms("BTCUSDT", "1m") == HOUR_MS


def play_open_interest(*, bounded: bool) -> tuple[Events, Ingest]:
    """Play two evaluated hours of SYNTHETIC open interest, then a six-hour gap in one batch."""
    repo = Repo(open_database(":memory:"))
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(repo, history)
    settings = {"pct": 5, "window_hours": 1, "direction": "up"}
    repo.save_rule(RuleRow("rule", "config", "open_interest", "BTCUSDT", settings, created_at=START))
    engine = Engine(repo, history, ConsoleRouter(), report_before_creation=True)
    engine.load()
    clock = [START]
    evaluator = LiveEvaluator(engine, lambda: clock[0], interval_seconds=60, after=ingest.caught_up)

    def point(step: int, usd: float) -> OpenInterest:
        return OpenInterest("BTCUSDT", START + step * 5 * MINUTE_MS, "synthetic", None, usd)

    for step in range(24):
        ingest.open_interest([point(step, 1e9)])
        clock[0] = START + (step + 1) * 5 * MINUTE_MS
        evaluator.evaluate({"BTCUSDT"})
    # Six hours down: open interest up 10% for the gap's first hour, then back where it was.
    ingest.open_interest([point(s, 1.1e9 if 26 <= s < 38 else 1e9) for s in range(24, 96)])
    clock[0] = START + 96 * 5 * MINUTE_MS
    evaluator.evaluate({"BTCUSDT"})
    return repo.conn.execute("SELECT rule_id, kind, at FROM alert_events ORDER BY id").fetchall(), ingest


def test_an_open_interest_jump_in_a_backfilled_gap_is_reported_by_a_bounded_history() -> None:
    bounded, ingest = play_open_interest(bounded=True)
    unbounded, _ = play_open_interest(bounded=False)
    assert unbounded, "the jump in the gap is reported late"
    assert bounded == unbounded
    assert ingest.history.kept_ms("BTCUSDT", "open_interest") < 3 * HOUR_MS  # the hold is gone
