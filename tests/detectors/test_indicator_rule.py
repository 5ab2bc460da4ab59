"""What the five indicator detectors share: state that survives a new instance, warm-up, intervals, quiet."""

from __future__ import annotations

import json
from typing import Any

import pytest

from detectors.base import Detector
from detectors.indicator_feed import CandleFeed
from detectors.indicators import RSI
from tests.detectors.conftest import HOUR, JANUARY, T0, bars, history_of, iso, make, real_history, run

# One rule per detector, tuned to fire several times over the real January data.
RULES: list[tuple[str, dict[str, Any]]] = [
    ("rsi", {"above": 65, "below": 35, "hysteresis": 0}),
    ("ma_cross", {"fast": 9, "slow": 21, "kind": "ema", "price_vs": 30, "alignment": [10, 20, 40]}),
    ("macd", {"watch": "both"}),
    ("bollinger", {"squeeze_lookback": 20}),
    ("stoch_rsi", {"zones": False}),
]
IDS = [name for name, _ in RULES]


@pytest.mark.parametrize(("name", "settings"), RULES, ids=IDS)
@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_a_new_instance_every_hour_decides_as_one_instance_does(
    name: str, settings: dict[str, Any], symbol: str
) -> None:
    # A restart, a backtest or a state read back from the database hands a fresh detector the JSON state:
    # it rebuilds its indicators from the candles in memory and decides exactly as the one that ran on.
    history = real_history()
    one = make(name, symbol=symbol, **settings)
    state_one: dict[str, Any] = {}
    state_fresh: dict[str, Any] = {}
    fired = 0
    for now in range(JANUARY[0], JANUARY[1] + 1, HOUR):
        kept = one.evaluate(history.view(symbol, now), state_one)
        fresh = make(name, symbol=symbol, **settings).evaluate(history.view(symbol, now), state_fresh)
        assert [(s.key, s.title, s.at) for s in fresh] == [(s.key, s.title, s.at) for s in kept], iso(now)
        assert state_fresh == state_one
        state_fresh = json.loads(json.dumps(state_fresh))
        fired += sum(1 for s in kept if s.at == now)
    assert fired >= 2, "the rule fired on the real data"


@pytest.mark.parametrize(("name", "settings"), RULES, ids=IDS)
def test_without_enough_history_a_rule_never_fires(name: str, settings: dict[str, Any]) -> None:
    detector = make(name, **settings)
    needed = detector.settings.history_needed()["1h"]
    # Synthetic: a zigzag with a jump at the end, one candle short of what the rule needs.
    closes = [100.0 + (5 if i % 2 else -5) for i in range(needed - 1)]
    closes[-1] = 200.0
    result = run(detector, history_of(bars(closes)), T0, T0 + needed * HOUR)
    assert result.activations == []
    assert detector.settings.lookback_ms() == {"candles": needed * HOUR}


def test_history_needed_names_the_interval_and_the_warmup() -> None:
    assert make("rsi", above=70, interval="4h").settings.history_needed() == {"4h": 16}
    assert make("macd", interval="1d").settings.history_needed() == {"1d": 35}
    assert make("ma_cross", fast=50, slow=200).settings.history_needed() == {"1h": 201}
    assert make("bollinger", watch="bands").settings.history_needed() == {"1h": 21}
    assert make("bollinger", squeeze_lookback=50).settings.history_needed() == {"1h": 69}
    assert make("stoch_rsi", interval="15m").settings.history_needed() == {"15m": 33}
    # Every other detector needs no particular history.
    assert make("level_cross", level=95000).settings.history_needed() == {}


@pytest.mark.parametrize(("name", "settings"), RULES, ids=IDS)
def test_an_interval_finer_than_the_data_is_never_computed_from_coarser_candles(
    name: str, settings: dict[str, Any]
) -> None:
    # The real data is hourly: a 15m RSI cannot be computed from it, and the rule says nothing.
    result = run(make(name, **{**settings, "interval": "15m"}), real_history(), *JANUARY)
    assert result.activations == []
    assert result.state.get("t") is None


@pytest.mark.parametrize(("name", "settings"), RULES, ids=IDS)
def test_quiet_until_the_next_candle_of_the_interval_can_close(name: str, settings: dict[str, Any]) -> None:
    detector: Detector = make(name, **{**settings, "interval": "4h"})
    history = real_history()
    state: dict[str, Any] = {}
    now = JANUARY[0] + 5 * 24 * HOUR
    detector.evaluate(history.view("BTCUSDT", now), state)
    quiet = detector.quiet(state, now)
    assert quiet is not None and quiet.until == state["t"] + 2 * 4 * HOUR
    # Up to then evaluating again changes nothing.
    for later in range(now, quiet.until, HOUR):
        copy = json.loads(json.dumps(state))
        detector.evaluate(history.view("BTCUSDT", later), copy)
        assert copy == state


def test_candle_feed_rebuilds_when_the_state_is_not_where_it_stopped() -> None:
    history = history_of(bars([100.0 + i for i in range(30)]))
    view = history.view("BTCUSDT", T0 + 30 * HOUR)
    feed = CandleFeed("1h", lambda: RSI(14))
    first = feed.new_bars(view, None)
    assert len(first) == 30 and feed.count == 0
    for bar in first[:20]:
        feed.feed(bar)
    # The state says the rule decided up to candle 10: the feed rebuilds up to it and offers the rest.
    rest = feed.new_bars(view, T0 + 10 * HOUR)
    assert feed.count == 11 and feed.last_open_time == T0 + 10 * HOUR
    assert [b.open_time for b in rest] == [T0 + i * HOUR for i in range(11, 30)]


def test_signed_values_read_without_exponents() -> None:
    from detectors.indicator_rule import format_level, format_signed

    assert [format_signed(v) for v in (1234.5, -45.213, 0.581, -0.0000123, 0.0)] == [
        "+1,234",
        "-45.21",
        "+0.581",
        "-0.0000123",
        "0",
    ]
    assert [format_level(v) for v in (70.0, 71.34, 99.96)] == ["70", "71.3", "100"]
