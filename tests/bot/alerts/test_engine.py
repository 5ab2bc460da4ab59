"""The alert engine's lifecycle on synthetic candles (hand-written rows, labelled synthetic)."""

from __future__ import annotations

import logging

import pytest

from bot.alerts.engine import Engine
from detectors.market_history import MarketHistory
from storage.repo import Repo, RuleRow
from storage.rows import Candle
from tests.conftest import ConsoleRouter

M = 60_000
T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def rule(**changes: object) -> RuleRow:
    base = dict(
        id="lvl",
        origin="config",
        detector="level_cross",
        symbol="BTCUSDT",
        settings={"level": 100.0, "direction": "up"},
    )
    base.update(changes)
    return RuleRow(**base)  # type: ignore[arg-type]


class Market:
    """Synthetic one-minute closes fed into a history, one per step."""

    def __init__(self, repo: Repo) -> None:
        self.history = MarketHistory()
        self.repo = repo
        self.minute = 0

    def close(self, price: float) -> int:
        """Add a closed 1m candle with this close; return the time it became known."""
        open_time = T0 + self.minute * M
        self.minute += 1
        self.history.add_candles(
            [Candle("BTCUSDT", "1m", open_time, "synthetic", price, price, price, price, 1.0)]
        )
        return open_time + M


def make_engine(repo: Repo, market: Market, **kwargs: int) -> Engine:
    engine = Engine(repo, market.history, ConsoleRouter(), **kwargs)
    engine.load()
    return engine


def outbox_titles(repo: Repo) -> list[str]:
    return [row.payload["title"] for row in repo.due_outbox("console", 2**62)]


def test_crossing_fires_once_then_resolves_on_rearm(repo: Repo) -> None:
    repo.save_rule(rule())
    market = Market(repo)
    engine = make_engine(repo, market)
    assert engine.evaluate(market.close(99)) == []  # first observation only learns the side
    fired = engine.evaluate(market.close(101))
    assert [(e.state, e.title) for e in fired] == [("firing", "BTC broke above $100")]
    assert engine.evaluate(market.close(102)) == []  # still above: no repeat
    assert engine.evaluate(market.close(99.8)) == []  # inside the 0.5 % band: not re-armed
    resolved = engine.evaluate(market.close(99.0))
    assert [e.state for e in resolved] == ["resolved"]
    assert outbox_titles(repo) == ["BTC broke above $100"]  # a level crossing's end is not announced


def test_cooldown_holds_a_second_crossing_until_it_passes(repo: Repo) -> None:
    repo.save_rule(rule(cooldown_s=5 * 60))
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    assert len(engine.evaluate(market.close(101))) == 1
    engine.evaluate(market.close(98))  # re-arm (resolves)
    assert engine.evaluate(market.close(101)) == []  # crossed again within cooldown: held
    assert engine.evaluate(market.close(101.5)) == []
    assert engine.evaluate(market.close(101.2)) == []
    fired = engine.evaluate(market.close(101.1))  # 5 minutes after the first firing
    assert [e.state for e in fired] == ["firing"]


def test_pending_period_requires_the_condition_to_hold(repo: Repo) -> None:
    repo.save_rule(rule(pending_s=120))
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    assert engine.evaluate(market.close(101)) == []
    assert engine.evaluate(market.close(101)) == []
    assert [e.state for e in engine.evaluate(market.close(101))] == ["firing"]


def test_pending_evaluations_require_the_condition_on_that_many_evaluations_in_a_row(repo: Repo) -> None:
    repo.save_rule(rule(pending_evaluations=3))
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    assert engine.evaluate(market.close(101)) == []  # seen once
    assert engine.evaluate(market.close(101)) == []  # twice
    assert engine.evaluate(market.close(98)) == []  # gone: the count starts again
    assert engine.evaluate(market.close(101)) == []
    assert engine.evaluate(market.close(101)) == []
    engine.flush()
    restarted = make_engine(repo, market)  # the count is part of the stored alert state
    (fired,) = restarted.evaluate(market.close(101))
    assert fired.state == "firing"
    stored = repo.event(fired.event_id)
    assert stored is not None and stored.rule["pending_evaluations"] == 3  # what /why shows


def test_one_shot_rule_is_disabled_after_firing(repo: Repo) -> None:
    repo.save_rule(rule(repeat=False))
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    assert len(engine.evaluate(market.close(101))) == 1
    stored = repo.rule("lvl")
    assert stored is not None and not stored.enabled and stored.status_reason == "fired once (one-shot rule)"
    assert engine.rules() == []


def test_expired_rule_is_disabled(repo: Repo) -> None:
    repo.save_rule(rule(expires_at=T0 + 2 * M))
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    engine.evaluate(market.close(101))  # at T0 + 2m: expired before evaluating
    stored = repo.rule("lvl")
    assert stored is not None and not stored.enabled and stored.status_reason == "expired"
    assert outbox_titles(repo) == []


def test_silenced_alert_is_recorded_but_not_queued(repo: Repo) -> None:
    repo.save_rule(rule())
    silence_id = repo.add_silence(guild_id=None, starts_at=T0, ends_at=T0 + 60 * M, symbol="BTCUSDT", now=T0)
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    (event,) = engine.evaluate(market.close(101))
    assert event.silenced
    stored = repo.event(event.event_id)
    assert stored is not None and stored.silenced_by == silence_id
    assert outbox_titles(repo) == []


def test_restarted_engine_neither_repeats_nor_loses(repo: Repo) -> None:
    repo.save_rule(rule())
    market = Market(repo)
    engine = make_engine(repo, market)
    engine.evaluate(market.close(99))
    t_cross = market.close(101)
    assert len(engine.evaluate(t_cross)) == 1
    # A new engine (a restart) on the same database re-evaluating the same tick does nothing...
    again = make_engine(repo, market)
    assert again.evaluate(t_cross) == []
    # ...and carries on from the stored state: no second alert while above, a resolve on re-arm.
    assert again.evaluate(market.close(102)) == []
    assert [e.state for e in again.evaluate(market.close(98))] == ["resolved"]
    assert outbox_titles(repo) == ["BTC broke above $100"]


def test_catch_up_after_downtime_reports_the_missed_crossing_once_marked_late(repo: Repo) -> None:
    repo.save_rule(rule())
    market = Market(repo)
    engine = make_engine(repo, market, late_after_ms=5 * M)
    engine.evaluate(market.close(99))
    # The bot was down for 30 minutes; the backfill brings the candles it missed, crossing and falling back.
    for price in [99.5, 101, 103, 98, 97] + [97] * 25:
        now = market.close(price)
    (event,) = engine.evaluate(now)
    assert event.state == "firing" and event.late
    assert event.at == T0 + 3 * M  # the close of the candle that crossed
    # The next evaluation sees the latch released (it had come back) and resolves it.
    assert [e.state for e in engine.evaluate(market.close(97))] == ["resolved"]


def test_failing_detector_is_quarantined_once_and_does_not_stop_others(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    repo.save_rule(rule(id="bad"))
    repo.save_rule(rule(id="good"))
    market = Market(repo)
    engine = make_engine(repo, market)
    bad = next(r for r in engine.rules() if r.id == "bad")

    def explode(*args: object) -> list[object]:
        raise ZeroDivisionError("synthetic failure")

    monkeypatch.setattr(bad.detector, "evaluate", explode)
    caplog.set_level(logging.ERROR)
    engine.evaluate(market.close(99))
    engine.evaluate(market.close(99))
    fired = engine.evaluate(market.close(101))
    assert [e.rule_id for e in fired] == ["good"]
    assert sum("failed on rule bad" in r.getMessage() for r in caplog.records) == 1
    # Quarantined (issue 17): switched off with the error, no longer evaluated, its row kept.
    stored = repo.rule("bad")
    assert stored is not None and not stored.enabled
    assert stored.status_reason == "broken: its detector failed (ZeroDivisionError: synthetic failure)"
    assert [r.id for r in engine.rules()] == ["good"]


def test_unknown_detector_rule_is_skipped_not_fatal(repo: Repo, caplog: pytest.LogCaptureFixture) -> None:
    repo.save_rule(rule(id="ghost", detector="removed_plugin"))
    repo.save_rule(rule())
    market = Market(repo)
    caplog.set_level(logging.ERROR)
    engine = make_engine(repo, market)
    assert [r.id for r in engine.rules()] == ["lvl"]
    assert any("ghost" in r.getMessage() for r in caplog.records)


def test_events_before_the_rule_existed_are_not_reported(repo: Repo) -> None:
    market = Market(repo)
    repo.save_rule(rule(created_at=T0 + 10 * M))
    engine = make_engine(repo, market, late_after_ms=5 * M)
    engine.evaluate(market.close(99))
    # A backfill brings candles from before the rule was created, crossing the level in them.
    for price in (99.5, 101, 102):
        now = market.close(price)
    assert engine.evaluate(now) == []
    for price in [98] * 8 + [101]:  # re-armed, then a crossing after the rule existed
        now = market.close(price)
    (event,) = engine.evaluate(now)
    assert event.state == "firing" and event.at == T0 + 13 * M
