"""The engine over retest, sustained-volume and open-interest-rebuild rules: one alert each, never repeated.

SYNTHETIC hourly candles and open interest, fed one hour at a time as the live bot receives them.
"""

from __future__ import annotations

from typing import Any

from bot.alerts.engine import Engine
from detectors.market_history import MarketHistory
from storage.repo import Repo, RuleRow
from storage.rows import HOUR_MS, Candle, OpenInterest
from tests.conftest import ConsoleRouter

T0 = 1_767_571_200_000  # 2026-01-05 00:00 UTC


class Hours:
    """SYNTHETIC hourly candles (open at the previous close, an optional low) and open interest."""

    def __init__(self) -> None:
        self.history = MarketHistory()
        self.hour = 0
        self.close = 0.0

    def add(self, close: float, *, low: float | None = None, volume: float = 1.0, oi: float = 0.0) -> int:
        """Add one closed hour; return the time it became known."""
        open_time = T0 + self.hour * HOUR_MS
        previous = self.close or close
        self.hour += 1
        self.close = close
        high, bottom = max(previous, close), min(previous, close, low if low is not None else close)
        candle = Candle("BTCUSDT", "1h", open_time, "synthetic", previous, high, bottom, close, volume)
        self.history.add_candles([candle])
        if oi:
            self.history.add_open_interest(
                [OpenInterest("BTCUSDT", open_time + HOUR_MS, "binance", None, oi)]
            )
        return open_time + HOUR_MS


def engine_with(repo: Repo, hours: Hours, rule_id: str, detector: str, settings: dict[str, Any]) -> Engine:
    """Save one rule and return an engine over ``hours`` that reports to the console."""
    repo.save_rule(RuleRow(rule_id, "config", detector, "BTCUSDT", settings, created_at=T0))
    engine = Engine(repo, hours.history, ConsoleRouter())
    engine.load()
    return engine


def titles(repo: Repo) -> list[str]:
    """Return the titles queued for delivery, oldest first."""
    return [row.payload["title"] for row in repo.due_outbox("console", 2**62)]


def queued(repo: Repo, *fields: str) -> list[tuple[Any, ...]]:
    """Return the given payload fields of each queued alert, oldest first."""
    return [tuple(row.payload.get(f) for f in fields) for row in repo.due_outbox("console", 2**62)]


def test_a_held_retest_fires_once_survives_a_restart_and_ends_at_the_next_break(repo: Repo) -> None:
    hours = Hours()
    settings = {"level": 100, "break_pct": 1, "touch_pct": 0.2, "within": 5, "hold": 2}
    engine = engine_with(repo, hours, "retest", "retest", settings)
    for close in (98.0, 98.0, 101.5):
        assert engine.evaluate(hours.add(close)) == []
    assert engine.evaluate(hours.add(102, low=100.1)) == []  # the retest: one close above so far
    (fired,) = engine.evaluate(hours.add(101))
    assert fired.state == "firing" and fired.dedupe_key.endswith("held_up:100")
    # A restart on the same database carries on: no second alert while the outcome stands.
    engine = Engine(repo, hours.history, ConsoleRouter())
    engine.load()
    assert engine.evaluate(hours.add(103)) == []
    # The next break (down through the band) ends it, quietly: a retest's end is no news of its own.
    assert [e.state for e in engine.evaluate(hours.add(98.5))] == ["resolved"]
    assert titles(repo) == ["BTC retested $100 as support and held: 2 1h closes above (now $101)"]


def test_a_failed_retest_is_one_warning(repo: Repo) -> None:
    hours = Hours()
    engine = engine_with(repo, hours, "retest", "retest", {"level": 100, "break_pct": 1, "direction": "up"})
    for close, low in ((98.0, None), (98.0, None), (101.5, None), (100.5, 99.8)):
        assert engine.evaluate(hours.add(close, low=low)) == []
    (fired,) = engine.evaluate(hours.add(98.9))
    assert fired.state == "firing"
    assert queued(repo, "kind", "severity") == [("retest_failed", "warning")]
    assert titles(repo) == ["BTC lost $100 again: the retest as support failed (1h close $98.90)"]


def test_sustained_volume_fires_once_per_run(repo: Repo) -> None:
    hours = Hours()
    settings = {"multiple": 4, "window": 4, "consecutive": 3}
    engine = engine_with(repo, hours, "volume", "volume_spike", settings)
    fired = []
    for volume in [10.0] * 5 + [50, 60, 45, 70, 10, 10]:
        fired += engine.evaluate(hours.add(100, volume=volume))
    # The run of 50, 60, 45 is 4.5x the hours before it; the next (60, 45, 70) is measured against a
    # baseline holding the 50 and falls under 4x: the burst is over.
    assert [e.state for e in fired] == ["firing", "resolved"]
    assert titles(repo) == [
        "BTC sustained volume: 3 1h candles in a row at 4.5×+ the 4h average before them "
        "(155 BTC in 3h, price +0.0% to $100)"
    ]


def test_an_open_interest_rebuild_is_the_only_alert_of_a_rebuild_only_rule(repo: Repo) -> None:
    hours = Hours()
    settings = {"pct": 5, "window_hours": 4, "rebuild_pct": 50, "changes": False}
    engine = engine_with(repo, hours, "oi", "open_interest", settings)
    fired = []
    for oi in [9.0e9] * 5 + [8.4e9, 8.2e9, 8.5e9, 8.7e9, 8.8e9]:
        fired += engine.evaluate(hours.add(100, oi=oi))
    assert [e.state for e in fired] == ["firing"]
    assert queued(repo, "kind") == [("oi_rebuild",)]
    assert titles(repo) == [
        "BTC open interest rebuilt 62% of its -8.9% flush in 2h from the low ($8.2B → $8.7B, was $9.0B)"
    ]
