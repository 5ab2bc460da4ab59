"""A history bounded by what the loaded rules read records the alerts an unbounded one records (issue 24).

The live bot's in-memory history keeps, of each symbol's series, what its rules say they read
(``DetectorSettings.history_reads``), and reads older rows back from the database when a rule added later
reads further. SYNTHETIC days with rules of every detector that says what it reads, tuned to fire often,
are played twice through Ingest and the engine, on a bounded and on an unbounded history, with rules added
half-way (reading further back than anything loaded before them); the alerts must be the same, row for row.
"""

from __future__ import annotations

from typing import Any

from bench.synthetic import synthetic_market
from bot.alerts.engine import Engine
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import DAY_MS, HOUR_MS
from tests.conftest import ConsoleRouter

START = 1_735_689_600_000  # 2025-01-01 00:00 UTC, where bench.synthetic starts
DAYS = 3.0

RULES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("btc-round", "round_levels", "BTCUSDT", {"step": 500, "hysteresis_pct": 0.2}),
    ("eth-level", "level_cross", "ETHUSDT", {"level": 3_290, "direction": "down", "hysteresis_pct": 0.2}),
    ("btc-level-1h", "level_cross", "BTCUSDT", {"level": 95_000, "confirm": "1h", "hysteresis_pct": 0.1}),
    ("btc-cascade", "liquidation_cascade", "BTCUSDT", {"min_usd": 150_000, "window_minutes": 10}),
    ("btc-oi", "open_interest", "BTCUSDT", {"pct": 0.3, "window_hours": 1}),
    ("eth-volume", "volume_spike", "ETHUSDT", {"interval": "5m", "multiple": 1.5, "window": 12}),
    ("btc-move", "pct_move", "BTCUSDT", {"pct": 0.4, "window_hours": 2, "interval": "15m"}),
    (
        "eth-squeeze",
        "squeeze",
        "ETHUSDT",
        {"interval": "15m", "window": 2, "move_pct": 0.2, "min_liquidated_usd": 20_000, "dominance": 1.2},
    ),
    ("btc-funding", "funding", "BTCUSDT", {}),
    (
        "both-move",
        "correlated_move",
        "BTCUSDT",
        {"symbols": ["ETHUSDT"], "pct": 0.3, "window_hours": 2, "interval": "15m"},
    ),
    ("btc-range", "range_breakout", "BTCUSDT", {"days": 2, "interval": "15m"}),
    ("fng", "fear_greed", "MARKET", {}),
]
# Added half-way: they read further back than the rules above, so the bounded history reads rows back.
LATER: list[tuple[str, str, str, dict[str, Any]]] = [
    ("eth-move-4h", "pct_move", "ETHUSDT", {"pct": 0.5, "window_hours": 24, "interval": "4h"}),
    ("eth-cascade", "liquidation_cascade", "ETHUSDT", {"min_usd": 100_000, "multiple": 2}),
    ("eth-oi-day", "open_interest", "ETHUSDT", {"pct": 0.5, "window_hours": 20}),
]


def play(*, bounded: bool) -> tuple[list[tuple[object, ...]], MarketHistory]:
    """Play SYNTHETIC days through Ingest and the engine; return the alert events and the history."""
    repo = Repo(open_database(":memory:"))
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(repo, history)
    for rule_id, detector, symbol, settings in RULES:
        repo.save_rule(RuleRow(rule_id, "config", detector, symbol, settings, created_at=START))
    engine = Engine(repo, history, ConsoleRouter(), report_before_creation=True)
    engine.load()
    later_at = START + int(DAYS / 2 * DAY_MS)
    for tick, batch in synthetic_market(int(DAYS * 1440)).timeline():
        if tick == later_at:
            for rule_id, detector, symbol, settings in LATER:
                repo.save_rule(RuleRow(rule_id, "config", detector, symbol, settings, created_at=START))
                engine.refresh_rule(rule_id)
        ingest.candles(batch.candles)
        ingest.liquidations(batch.liquidations)
        ingest.funding(batch.funding)
        ingest.open_interest(batch.open_interest)
        ingest.fear_greed(batch.fear_greed)
        rows = [*batch.candles, *batch.liquidations, *batch.funding, *batch.open_interest]
        if batch.fear_greed:
            engine.evaluate(tick)
        elif rows:
            engine.evaluate(tick, {row.symbol for row in rows})
    return repo.conn.execute("SELECT * FROM alert_events ORDER BY id").fetchall(), history


def test_a_bounded_history_records_the_alerts_an_unbounded_one_records() -> None:
    bounded, history = play(bounded=True)
    unbounded, _ = play(bounded=False)
    assert len({row[2] for row in unbounded}) >= 8, "most rules fire"
    assert {row[2] for row in unbounded} & {rule[0] for rule in LATER}, "a rule added half-way fires"
    assert bounded == unbounded
    # And it holds less: ETH's one-minute candles as far back as its rules read them (the level rule's
    # hour: the others read coarser candles, aggregated), not the two days an unbounded history keeps.
    eth = history.view("ETHUSDT", START + int(DAYS * DAY_MS))
    assert len(eth.candles("1m")) <= 2 * 60
    assert history.kept_ms("ETHUSDT", "1m") == HOUR_MS


def test_rules_that_do_not_say_what_they_read_keep_everything() -> None:
    history = MarketHistory(bounded=True)
    assert history.kept_ms("BTCUSDT", "1m") == HOUR_MS  # no rule: the floor
    assert history.kept_ms("BTCUSDT", "open_interest") == HOUR_MS
    history.require("plugin", ["BTCUSDT"], None)
    assert history.kept_ms("BTCUSDT", "1m") == 2 * DAY_MS  # the unbounded retention
    assert history.kept_ms("BTCUSDT", "open_interest") == 8 * DAY_MS
    assert history.kept_ms("ETHUSDT", "1m") == HOUR_MS
    history.release("plugin")
    assert history.kept_ms("BTCUSDT", "1m") == HOUR_MS
