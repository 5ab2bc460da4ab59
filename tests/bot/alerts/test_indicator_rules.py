"""The indicator detectors in the alert engine, on the real January candles fed hour by hour: the alerts
fire at the detector's crossings, a restarted engine neither repeats nor loses one, and skipping quiet
rules records exactly what evaluating them at every tick records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.alerts import saving
from bot.alerts.engine import Engine
from detectors.indicator_rule import IndicatorDetector
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import Candle
from tests.conftest import ConsoleRouter
from tests.detectors.conftest import HOUR, JANUARY, iso, make, ms, real_history, real_rows, run

RULES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("btc-rsi", "rsi", "BTCUSDT", {"above": 65, "below": 35, "hysteresis": 0}),
    ("eth-rsi-4h", "rsi", "ETHUSDT", {"interval": "4h", "above": 60, "below": 40, "hysteresis": 0}),
    ("btc-ema", "ma_cross", "BTCUSDT", {"fast": 9, "slow": 21, "kind": "ema", "price_vs": 30}),
    ("btc-macd-4h", "macd", "BTCUSDT", {"interval": "4h", "watch": "both"}),
    ("eth-bands", "bollinger", "ETHUSDT", {"squeeze_lookback": 20}),
    ("btc-stoch", "stoch_rsi", "BTCUSDT", {"zones": False}),
]


def hours() -> Iterator[tuple[int, list[Candle]]]:
    """Yield each hour of January with the real candles that closed at it."""
    by_close: dict[int, list[Candle]] = {}
    for candle in real_rows()["candles"]:
        by_close.setdefault(candle.open_time + HOUR, []).append(candle)
    for now in range(JANUARY[0], JANUARY[1] + 1, HOUR):
        yield now, by_close.get(now, [])


def engine_on(repo: Repo, history: MarketHistory) -> Engine:
    engine = Engine(repo, history, ConsoleRouter(), report_before_creation=True)
    engine.load()
    return engine


def play(*, restart_at: int | None = None, database: str = ":memory:") -> list[tuple[Any, ...]]:
    """Feed the real candles hour by hour and evaluate; return (rule, state, at, title) of every event."""
    repo = Repo(open_database(database))
    for rule_id, detector, symbol, settings in RULES:
        repo.save_rule(
            RuleRow(rule_id, "config", detector, symbol, settings, cooldown_s=0, created_at=JANUARY[0])
        )
    history = MarketHistory()
    engine = engine_on(repo, history)
    for now, candles in hours():
        history.add_candles(candles)
        if now == restart_at:
            engine.flush()
            engine = engine_on(repo, history)  # new detector instances, state read back from SQLite
        engine.evaluate(now)
    rows = repo.conn.execute("SELECT rule_id, state, at, title FROM alert_events ORDER BY id").fetchall()
    repo.close()
    return [tuple(row) for row in rows]


@pytest.fixture(scope="module")
def played() -> list[tuple[Any, ...]]:
    return play()


def test_every_rule_fires_where_its_detector_crosses(played: list[tuple[Any, ...]]) -> None:
    history = real_history()
    for rule_id, detector, symbol, settings in RULES:
        expected = [
            (iso(now), s.title)
            for now, s in run(make(detector, symbol=symbol, **settings), history, *JANUARY).activations
        ]
        fired = [
            (iso(at), title) for rule, state, at, title in played if rule == rule_id and state == "firing"
        ]
        assert fired == expected, rule_id
        assert len(fired) >= 2, rule_id


@pytest.mark.parametrize("restart", ["2026-01-09 05:00", "2026-01-13 20:00", "2026-01-14 16:00"])
def test_a_restarted_engine_neither_repeats_nor_loses_an_alert(
    played: list[tuple[Any, ...]], restart: str
) -> None:
    assert play(restart_at=ms(restart)) == played


def test_a_restarted_engine_on_postgresql_records_what_one_run_on_sqlite_records(
    played: list[tuple[Any, ...]], pg_url: str
) -> None:
    # Alert state, detector state and the events round-trip through PostgreSQL's types (BIGINT ids and
    # times, DOUBLE values, JSON text) as through SQLite's: the same events, none repeated or lost.
    # Known difference: the engine reads alert states back in the table's order, which is insertion order on
    # SQLite (rowid) and not on PostgreSQL (an updated row moves), so two alerts of one rule ending in the
    # same evaluation after a restart may be recorded in the other order (2 of 480 events here).
    on_postgresql = play(restart_at=ms("2026-01-13 20:00"), database=pg_url)
    assert sorted(on_postgresql) == sorted(played)
    moved = [i for i, (a, b) in enumerate(zip(on_postgresql, played, strict=True)) if a != b]
    assert all(on_postgresql[i][1:3] == played[i][1:3] for i in moved)  # only order within one (state, at)


def test_skipping_quiet_rules_records_what_evaluating_every_hour_records(
    played: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    evaluate = IndicatorDetector.evaluate

    def counted(self: IndicatorDetector, snapshot: Any, state: dict[str, Any]) -> Any:
        calls["n"] += 1
        return evaluate(self, snapshot, state)

    monkeypatch.setattr(IndicatorDetector, "evaluate", counted)
    assert play() == played
    skipping = calls["n"]
    calls["n"] = 0
    monkeypatch.setattr(IndicatorDetector, "quiet", lambda self, state, now: None)
    assert play() == played
    # The 4h rules sleep three hours of four; the hourly ones are woken by every candle.
    assert skipping < calls["n"] * 0.9


@pytest.mark.parametrize("restart", ["2026-01-09 05:00", "2026-01-13 20:00", "2026-01-14 16:00"])
def test_a_restart_from_states_written_days_before_neither_repeats_nor_loses_an_alert(
    played: list[tuple[Any, ...]], restart: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An indicator rule's state is written when its flags or latches change, not at every candle: the
    # restarted engine reads states whose ``t`` is up to days old and decides those candles again.
    monkeypatch.setattr(saving, "MAX_UNSAVED_MS", 30 * 24 * HOUR)
    assert play(restart_at=ms(restart)) == played


def test_an_indicator_rule_writes_its_state_when_its_flags_change_not_at_every_candle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(saving, "MAX_UNSAVED_MS", 30 * 24 * HOUR)
    repo = Repo(open_database(":memory:"))
    repo.save_rule(
        RuleRow("btc-rsi", "config", "rsi", "BTCUSDT", RULES[0][3], cooldown_s=0, created_at=JANUARY[0])
    )
    history = MarketHistory()
    engine = engine_on(repo, history)
    written: list[int] = []  # the candle (t) of every state written
    for now, candles in hours():
        history.add_candles(candles)
        engine.evaluate(now)
        stored = repo.detector_state("btc-rsi")
        t = stored[0].get("t") if stored is not None else None
        if t is not None and (not written or t != written[-1]):
            written.append(t)
    fired = repo.conn.execute("SELECT count(*) FROM alert_events WHERE state = 'firing'").fetchone()[0]
    repo.close()
    candles = (JANUARY[1] - JANUARY[0]) // HOUR
    assert fired >= 2  # each crossing changes its flags, and so is written
    assert fired <= len(written) < candles / 4
