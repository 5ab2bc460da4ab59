"""The engine looks only at rules that can change: clocks settled lazily, watches indexed, forming candles.

A sleeping rule's clock (``Quiet.now_key``) moves only with its own symbol's evaluations and is written once
per ``MAX_UNSAVED_MS``, and a restart from the older clock records the same alerts; a watch is looked
at only when its key moved, and wakes at its USD threshold exactly; a level rule sleeping on a band of
closes is not woken by a poll's forming candle inside the band, nor by the closed candle the poll delivers
again. Data here is SYNTHETIC.
"""

from __future__ import annotations

import json
from typing import Any

from bot.alerts.engine import Engine
from bot.alerts.quiet import QuietRules
from bot.alerts.saving import MAX_UNSAVED_MS
from detectors.base import MARKET_SYMBOL, Quiet
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import MINUTE_MS, Candle, FearGreed, Liquidation
from tests.conftest import ConsoleRouter

START = 1_767_225_600_000  # 2026-01-01 00:00 UTC
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")


def candle(symbol: str, minute: int, close: float, *, closed: bool = True, spread: float = 0.5) -> Candle:
    """Return a SYNTHETIC one-minute candle ``minute`` minutes after START."""
    low, high = close - spread, close + spread
    return Candle(
        symbol, "1m", START + minute * MINUTE_MS, "synthetic", close, high, low, close, 10.0, closed=closed
    )


def live_engine(cascade: dict[str, Any] | None = None) -> tuple[Repo, Ingest, Engine]:
    """Return a repo, ingest and engine with a cascade and a level rule per symbol, warmed on an hour."""
    repo = Repo(open_database(":memory:"))
    history = MarketHistory()
    ingest = Ingest(repo, history)
    for symbol in SYMBOLS:
        repo.save_rule(
            RuleRow(
                f"{symbol}-cascade",
                "config",
                "liquidation_cascade",
                symbol,
                cascade or {"min_usd": 1e6},
                created_at=START,
            )
        )
        repo.save_rule(
            RuleRow(f"{symbol}-level", "config", "level_cross", symbol, {"level": 150.0}, created_at=START)
        )
        ingest.candles([candle(symbol, m - 60, 100.0) for m in range(60)])
        ingest.liquidations([Liquidation(symbol, START - 3_600_000, "bybit", "long", 1.0, 1.0, 10.0)])
    engine = Engine(repo, history, ConsoleRouter(), report_before_creation=True)
    engine.load()
    engine.evaluate(START + 1)
    return repo, ingest, engine


def stored_states(repo: Repo) -> list[tuple[Any, ...]]:
    """Return every stored detector state."""
    return repo.conn.execute("SELECT * FROM detector_state ORDER BY rule_id").fetchall()


def test_a_clock_that_alone_moved_is_written_at_the_first_pass_over_every_rule_of_each_period() -> None:
    repo, ingest, engine = live_engine()
    now = START + 1
    clocks = [{row[0]: row[2] for row in stored_states(repo) if row[0].endswith("-cascade")}]
    passes: list[int] = []
    for step in range(40):
        now += 37_001  # crosses minute boundaries at varying offsets, and MAX_UNSAVED_MS ones
        symbol = SYMBOLS[step % len(SYMBOLS)]
        if step % 5 == 0:  # liquidations far below what the cascades miss: they sleep on
            ingest.liquidations([Liquidation(symbol, now, "bybit", "short", 1.0, 1.0, 5_000.0)])
        every = step % 7 == 0
        engine.evaluate(now, None if every else {symbol})
        clocks.append({row[0]: row[2] for row in stored_states(repo) if row[0].endswith("-cascade")})
        if clocks[-1] != clocks[-2]:
            assert every, "written at a pass over every rule, not at a poll of one symbol"
            assert set(clocks[-1].values()) == {now}, "every clock, set to that pass"
            passes.append(now)
    # START begins a period: the clocks are written once, in the second one, not at each pass in it.
    assert [(p - START) // MAX_UNSAVED_MS for p in passes] == [1]


def settled_clock(engine: Engine, rule_id: str) -> int:
    """Return the clock a sleeping rule would wake with now (its symbol's latest evaluation)."""
    engine._settle_clocks([rule_id])
    return engine._detector_state[rule_id][1]


def test_a_clock_moves_only_with_its_own_symbol() -> None:
    repo, _, engine = live_engine()
    engine.evaluate(START + 30_000, {"BBBUSDT"})
    assert settled_clock(engine, "AAAUSDT-cascade") == START + 1, "another symbol's evaluation leaves it"
    assert settled_clock(engine, "BBBUSDT-cascade") == START + 30_000, "its own symbol's evaluation moves it"
    state = {row[0]: row for row in stored_states(repo)}
    assert state["BBBUSDT-cascade"][2] == START + 1, "a clock that alone moved is not written at each flush"
    engine.evaluate(START + 40_000)
    assert {settled_clock(engine, f"{s}-cascade") for s in SYMBOLS} == {START + 40_000}, "a pass moves all"
    # Once a pass over every rule enters another MAX_UNSAVED_MS the clocks are written, with the states.
    later = START + MAX_UNSAVED_MS + 5_000
    engine.evaluate(later)
    state = {row[0]: row for row in stored_states(repo)}
    assert {state[f"{s}-cascade"][2] for s in SYMBOLS} == {later}
    assert json.loads(state["BBBUSDT-cascade"][1])["now"] == later


def cascade_minutes(restart_at: int | None) -> list[tuple[Any, ...]]:
    """Play 40 minutes of small liquidations, then a cascade; return the alert events recorded.

    With ``restart_at`` the engine is replaced there by a new one that reads the stored states (the
    clocks written up to MAX_UNSAVED_MS before) and goes on from the same history.
    """
    # A baseline known after 5 minutes (liquidations are known from an hour before START), so it can fire.
    repo, ingest, engine = live_engine({"min_usd": 1e6, "window_minutes": 5, "baseline_hours": 1})
    now = START + 1
    for step in range(160):
        now += 15_000
        if restart_at is not None and now >= restart_at:
            engine = Engine(repo, engine.history, ConsoleRouter(), report_before_creation=True)
            engine.load()
            assert engine._detector_state["AAAUSDT-cascade"][1] < now - MINUTE_MS, (
                "it restarts from an older clock"
            )
            restart_at = None
        symbol = SYMBOLS[step % len(SYMBOLS)]
        usd = 700_000.0 if step in (150, 153) else 2_000.0  # AAAUSDT's cascade comes at the end
        ingest.liquidations([Liquidation(symbol, now, "bybit", "short", 1.0, 1.0, usd)])
        engine.evaluate(now, {symbol} if step % 4 else None)
    return repo.conn.execute(
        "SELECT rule_id, state, at, recorded_at, values_json FROM alert_events ORDER BY id"
    ).fetchall()


def test_a_restart_from_the_written_clock_records_what_the_running_engine_records() -> None:
    running = cascade_minutes(None)
    assert any(event[0] == "AAAUSDT-cascade" for event in running), "the cascade fires"
    for restart_at in (START + 20 * MINUTE_MS, START + 37 * MINUTE_MS + 1):
        stored_clocks = cascade_minutes(restart_at)
        assert stored_clocks == running


def test_a_quiet_window_ends_exactly_at_its_boundary() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)
    boundary = START + MINUTE_MS
    assert quiet.sleep("timer", Quiet(until=boundary, now_key="now"), "AAAUSDT", None, START + 1)
    assert quiet.clocked["timer"][1] == "now"
    assert quiet.wake(boundary - 1) == []
    assert quiet.wake(boundary) == ["timer"]
    assert "timer" not in quiet.asleep
    assert not quiet.sleep("past", Quiet(until=boundary), "AAAUSDT", None, boundary), "a window already over"


def test_a_liquidation_watch_wakes_at_its_threshold_exactly_and_only_for_its_own_key() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)
    history.add_liquidations([Liquidation("AAAUSDT", START, "bybit", "long", 1.0, 1.0, 1.0)])
    wait = Quiet(unchanged=("liquidations",), usd_below=1_000.0)
    for symbol in ("AAAUSDT", "BBBUSDT"):
        history.add_liquidations([Liquidation(symbol, START, "bybit", "long", 1.0, 1.0, 1.0)])
        assert quiet.sleep(f"{symbol}-cascade", wait, symbol, None, START + 1)
    history.add_liquidations([Liquidation("AAAUSDT", START + 2, "bybit", "long", 1.0, 1.0, 999.0)])
    assert quiet.wake(START + 3) == [], "999 USD of the 1,000 it waits for"
    history.add_liquidations([Liquidation("BBBUSDT", START + 2, "bybit", "long", 1.0, 1.0, 5_000.0)])
    assert quiet.wake(START + 3) == ["BBBUSDT-cascade"], "the other symbol's watch is its own"
    history.add_liquidations([Liquidation("AAAUSDT", START + 4, "bybit", "short", 1.0, 1.0, 1.0)])
    assert quiet.wake(START + 5) == ["AAAUSDT-cascade"], "1,000 USD in all: at the threshold it wakes"
    assert quiet.wake(START + 6) == []


def test_a_market_wide_watch_wakes_on_its_market_key() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)
    history.add_fear_greed([FearGreed("2026-01-01", START, 40, "Fear")])
    assert quiet.sleep("fng", Quiet(unchanged=("fear_greed",)), MARKET_SYMBOL, None, START + 1)
    history.add_candles([candle("AAAUSDT", 0, 100.0)])
    assert quiet.wake(START + MINUTE_MS) == []
    history.add_fear_greed([FearGreed("2026-01-02", START + 86_400_000, 45, "Fear")])
    assert quiet.wake(START + 86_400_001) == ["fng"]


def evaluated_at(repo: Repo, rule_id: str) -> int:
    """Return when a rule was last evaluated (a level rule keeps no clock: only evaluations move it)."""
    return int(
        repo.conn.execute("SELECT evaluated_at FROM detector_state WHERE rule_id=?", (rule_id,)).fetchone()[0]
    )


def test_a_forming_candle_wakes_only_the_level_rules_whose_band_it_leaves() -> None:
    repo, ingest, engine = live_engine()
    assert "AAAUSDT-level" in engine._quiet.asleep
    # A poll: the last closed candle again, unchanged, and the forming one, inside the band (below 150).
    ingest.candles([candle("AAAUSDT", -1, 100.0), candle("AAAUSDT", 0, 101.0, closed=False)])
    engine.evaluate(START + 15_000, {"AAAUSDT"})
    assert evaluated_at(repo, "AAAUSDT-level") == START + 1, "nothing it reads changed: not evaluated"
    # The same closed candle revised: it may have been read, so the rule looks again.
    ingest.candles([candle("AAAUSDT", -1, 100.5)])
    engine.evaluate(START + 16_000, {"AAAUSDT"})
    assert evaluated_at(repo, "AAAUSDT-level") == START + 16_000
    # A forming candle past the level leaves the band: the rule wakes (its close may cross).
    ingest.candles([candle("AAAUSDT", 0, 151.0, closed=False), candle("BBBUSDT", 0, 149.0, closed=False)])
    engine.evaluate(START + 30_000, {"AAAUSDT", "BBBUSDT"})
    assert evaluated_at(repo, "AAAUSDT-level") == START + 30_000
    assert evaluated_at(repo, "BBBUSDT-level") == START + 1, "a close of 149 is still inside its band"


def test_watchers_of_one_key_wake_in_the_order_of_their_thresholds() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)

    def liquidate(usd: float, at: int) -> None:
        history.add_liquidations([Liquidation("AAAUSDT", at, "bybit", "long", 1.0, 1.0, usd)])

    liquidate(1.0, START)
    for rule_id, usd_below in (("c100", 100.0), ("c500", 500.0), ("c1000", 1_000.0), ("any", None)):
        assert quiet.sleep(
            rule_id, Quiet(unchanged=("liquidations",), usd_below=usd_below), "AAAUSDT", None, START + 1
        )
    liquidate(100.0, START + 1)
    assert sorted(quiet.wake(START + 2)) == ["any", "c100"]
    assert quiet.sleep("any", Quiet(unchanged=("liquidations",)), "AAAUSDT", None, START + 2)
    assert quiet.wake(START + 3) == [], "asleep again after the change it saw: only a new one wakes it"
    liquidate(399.0, START + 3)
    assert quiet.wake(START + 4) == ["any"], "499 USD in all: c500 waits for one more"
    liquidate(1.0, START + 4)
    assert quiet.wake(START + 5) == ["c500"]
    liquidate(float("nan"), START + 5)
    assert quiet.wake(START + 6) == ["c1000"], "a sum that is not a number wakes every watcher"


def test_a_rule_sleeping_again_and_again_keeps_its_watch_small() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)
    history.add_liquidations([Liquidation("AAAUSDT", START, "bybit", "long", 1.0, 1.0, 1.0)])
    for i in range(1_000):
        # Woken by its timer each time, never by the watch: the watch's old entries are dropped on the way.
        wait = Quiet(until=START + i + 2, unchanged=("liquidations",), usd_below=1e9)
        assert quiet.sleep("cascade", wait, "AAAUSDT", None, START + i + 1)
        assert quiet.wake(START + i + 2) == ["cascade"]
    assert len(quiet._watches[("AAAUSDT", "liquidations")].heap) <= 64 + 1


def test_a_closed_candle_delivered_again_unchanged_wakes_no_rule_waiting_on_the_candles() -> None:
    history = MarketHistory()
    quiet = QuietRules(history)
    history.add_candles([candle("AAAUSDT", -1, 100.0)])
    assert quiet.sleep("bars", Quiet(unchanged=("candles",)), "AAAUSDT", None, START + 1)
    history.add_candles([candle("AAAUSDT", -1, 100.0)])
    assert quiet.wake(START + 2) == [], "the same candle again is no new row"
    history.add_candles([candle("AAAUSDT", -1, 100.5)])
    assert quiet.wake(START + 3) == ["bars"], "a revised candle is"


def test_a_candle_trips_exactly_the_close_watches_it_leaves() -> None:
    history = MarketHistory()
    history.add_candles([candle("AAAUSDT", -1, 100.0)])
    closes = history.watch_closes("AAAUSDT", 90.0, 110.0, wicks=False, owner="closes")
    wicks = history.watch_closes("AAAUSDT", 95.0, 120.0, wicks=True, owner="wicks")
    # Inside both bands, its close and its wicks: nothing trips.
    history.add_candles([candle("AAAUSDT", 0, 100.0, closed=False, spread=4.0)])
    assert not history.has_tripped()
    # A close at 109 is inside both, but its high of 121 leaves the band of the watch on wicks.
    history.add_candles([candle("AAAUSDT", 0, 109.0, closed=False, spread=12.0)])
    assert [watch.owner for watch in history.take_tripped()] == ["wicks"]
    # The watch left alone now decides: 109.5 with wide wicks is inside its band.
    history.add_candles([candle("AAAUSDT", 0, 109.5, closed=False, spread=30.0)])
    assert not history.has_tripped()
    history.add_candles([candle("AAAUSDT", 0, 110.5, closed=False)])
    assert history.take_tripped() == [closes]
    history.add_candles([candle("AAAUSDT", 1, 200.0, closed=False)])
    assert not history.has_tripped(), "no watch left"
    history.unwatch_closes("AAAUSDT", wicks)  # already gone: nothing to drop
