"""Rules loaded a batch at a time (Engine.load_gradually) behave as rules loaded at once.

The market is SYNTHETIC (bench.synthetic's seeded walk, source ``synthetic``). A first engine evaluates a
few hundred rules of every kind once, so they have detector state; the market then moves and the database
is copied: one copy is loaded at once and evaluated, the other loaded gradually with the batches evaluated
at the same time. Both must record the same alerts, queue the same deliveries and keep the same states.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
import sqlite_utils

from bench.memory import rule_settings
from bench.synthetic import START, synthetic_market
from bot.alerts.engine import Engine
from bot.alerts.loading import BatchSizer
from bot.alerts.model import Inhibition
from detectors.base import MARKET_SYMBOL
from detectors.market_history import MarketHistory
from feeds.replay import RecordedData
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import DAY_MS, HOUR_MS
from tests.conftest import ConsoleRouter

DETECTORS = (
    "level_cross",
    "round_levels",
    "range_breakout",
    "pct_move",
    "volume_spike",
    "liquidation_cascade",
    "squeeze",
    "funding",
    "open_interest",
    "correlated_move",
    "fear_greed",
)
FIRST = START + 2 * DAY_MS
SECOND = FIRST + 6 * HOUR_MS


def history_until(data: RecordedData, until: int) -> MarketHistory:
    """Return a history holding every row that became available by ``until``."""
    history = MarketHistory()
    for at, batch in data.timeline():
        if at > until:
            break
        history.add_candles(batch.candles)
        history.add_liquidations(batch.liquidations)
        history.add_funding(batch.funding)
        history.add_open_interest(batch.open_interest)
        history.add_fear_greed(batch.fear_greed)
    return history


def engine(repo: Repo, history: MarketHistory) -> Engine:
    inhibition = Inhibition(
        frozenset({"liquidation_cascade", "squeeze"}), frozenset({"level_cross", "round_levels"})
    )
    return Engine(repo, history, ConsoleRouter(), inhibition=inhibition)


def seeded(data: RecordedData) -> Repo:
    """Return a database of 330 rules that a first engine has evaluated once, at FIRST."""
    repo = Repo(open_database(":memory:"))
    history = history_until(data, FIRST)
    prices = {s: (history.view(s, FIRST).last_price() or (0, 1.0))[1] for s in ("BTCUSDT", "ETHUSDT")}
    with repo.transaction():
        for i in range(330):
            detector = DETECTORS[i % len(DETECTORS)]
            symbol, other = ("BTCUSDT", "ETHUSDT") if i % 2 else ("ETHUSDT", "BTCUSDT")
            settings = rule_settings(detector, prices[symbol], other)
            if detector == "level_cross":  # levels spread around the price, so the move crosses some
                settings["level"] = prices[symbol] * (0.97 + 0.002 * (i % 30))
                settings["direction"] = "up" if i % 4 < 2 else "down"
            repo.save_rule(
                RuleRow(
                    id=f"r{i:04d}-{detector}",
                    origin="discord",
                    detector=detector,
                    symbol=MARKET_SYMBOL if detector == "fear_greed" else symbol,
                    settings=settings,
                    guild_id=1,
                    channel_id=2,
                    created_at=START,
                    updated_at=START,
                )
            )
    first = engine(repo, history)
    first.load()
    first.evaluate(FIRST)
    return repo


def copy(repo: Repo) -> Repo:
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    repo.conn.backup(conn)
    return Repo(sqlite_utils.Database(conn))


def outcome(repo: Repo) -> dict[str, Any]:
    """Return what an evaluation left behind: events, deliveries, alert and detector states."""
    return {
        "events": [
            (e.rule_id, e.state, e.kind, e.title, e.at)
            for e in repo.events(limit=100_000, newest_first=False)
        ],
        "outbox": [(r.target, r.payload) for r in repo.due_outbox("console", 2**62)],
        "alerts": sorted(repo.alert_states(include_resolved=True), key=lambda s: s.dedupe_key),
        "states": repo.all_detector_states(),
    }


@pytest.fixture(scope="module")
def market() -> RecordedData:
    return synthetic_market(minutes=3 * 1440, liquidations_per_minute=2.0)


@pytest.mark.parametrize("budget_s", [0.0, 0.01, 10.0])
def test_gradual_loading_records_what_loading_at_once_records(market: RecordedData, budget_s: float) -> None:
    base = seeded(market)
    at_once, gradual = copy(base), copy(base)
    history = history_until(market, SECOND)

    whole = engine(at_once, history)
    whole.load()
    whole.evaluate(SECOND)

    batched = engine(gradual, history)
    passes: list[int] = []

    async def evaluate() -> None:
        passes.append(len(batched.rules()))
        batched.evaluate(SECOND)

    loaded = asyncio.run(batched.load_gradually(evaluate, budget_s=budget_s, page=7))
    assert loaded == len(whole.rules()) == 330
    assert [r.id for r in batched.rules()] == [r.id for r in whole.rules()]
    if budget_s == 0.0:
        # One rule a batch: each evaluated after the rules before it fell asleep.
        assert passes == list(range(1, 331))
    expected = outcome(at_once)
    assert expected["events"], "the move between the two evaluations fires something"
    assert outcome(gradual) == expected


def test_a_rule_changed_while_loading_keeps_its_change(market: RecordedData) -> None:
    repo = copy(seeded(market))
    history = history_until(market, SECOND)
    batched = engine(repo, history)
    paused = "r0298-round_levels"
    assert repo.rule(paused) is not None

    async def evaluate() -> None:
        # Paused by its owner once a few batches are in, long before its own batch.
        row = repo.rule(paused)
        if row is not None and row.enabled and len(batched.rules()) > 10:
            repo.set_rule_enabled(paused, False, "paused by its owner", SECOND)
            batched.refresh_rule(paused)
        batched.evaluate(SECOND)

    asyncio.run(batched.load_gradually(evaluate, budget_s=0.0, page=50))
    ids = {r.id for r in batched.rules()}
    assert paused not in ids and len(ids) == 329


def test_batches_are_sized_by_each_detectors_own_cost() -> None:
    sizer = BatchSizer(budget_s=0.025)
    cheap = [
        RuleRow(id=f"a{i}", origin="discord", detector="funding", symbol="BTCUSDT", settings={})
        for i in range(500)
    ]
    dear = [
        RuleRow(id=f"b{i}", origin="discord", detector="level_cross", symbol="BTCUSDT", settings={})
        for i in range(500)
    ]
    pending = cheap + dear
    assert sizer.next_batch(pending, 0) == 8  # an unmeasured kind: an eighth of the budget a rule
    sizer.measured(pending[:8], 8 * 0.0001)  # 0.1 ms a funding rule
    assert sizer.next_batch(pending, 8) == 8 + 250
    # Where the cheap run ends, the level rules are not taken at the funding rules' price.
    end = sizer.next_batch(pending, 490)
    assert end == 500 + 8 - 1  # the last ten cheap ones, then seven unmeasured level rules fill the budget
    sizer.measured(pending[490:end], 10 * 0.0001 + 7 * 0.002)  # 2 ms a level rule
    assert 0.0015 < sizer.cost_s["level_cross"] < 0.0025
    assert sizer.next_batch(pending, 600) - 600 in range(10, 17)


def test_loading_stops_between_batches_when_asked(market: RecordedData) -> None:
    repo = copy(seeded(market))
    batched = engine(repo, history_until(market, SECOND))

    async def evaluate() -> None:
        batched.evaluate(SECOND)

    loaded = asyncio.run(
        batched.load_gradually(evaluate, budget_s=0.0, page=50, stop=lambda: len(batched.rules()) >= 5)
    )
    assert loaded == 5  # one rule a batch: the sixth batch was never started
