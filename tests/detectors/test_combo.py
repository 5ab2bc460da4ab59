"""combo: a rule of conditions across intervals fires when they start to hold together.

Synthetic candles (hand-written closes, labelled synthetic by their source) pin the transitions, the
warm-up and the unknown values; the real January 2026 BTC candles check the fire times against TA-Lib.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

import numpy as np
import pytest
import talib
from pydantic import ValidationError

from detectors.combo import Combo, ComboSettings
from detectors.combo_eval import BoundRule
from detectors.market_history import MarketHistory
from storage.rows import HOUR_MS, Candle
from tests.detectors.conftest import DAY, HOUR, JANUARY, T0, Run, bars, history_of, iso, make, real_rows, run


def closes_run(when: str, closes: list[float], **settings: object) -> Run:
    """Step a combo rule hourly over SYNTHETIC hourly closes (one candle per hour from T0)."""
    detector = make("combo", when=when, **settings)
    return run(detector, history_of(bars(closes)), T0, T0 + len(closes) * HOUR)


def test_fires_on_the_check_where_every_condition_starts_to_hold_and_rearms_when_one_stops() -> None:
    # close vs SMA(3): at 02:00 100 = 100 (learns: not holding), 03:00 101 > 100.33 fires, 04:00 holds
    # (no repeat), 05:00 99 < 100.67 re-arms, 07:00 103 > 100 fires again.
    result = closes_run("close > sma(3)", [100, 100, 100, 101, 102, 99, 98, 103])
    assert result.fired() == [
        ("2026-01-05 04:00", "combo", "BTC combo: close 101 > SMA(3, 1h) 100.33"),
        ("2026-01-05 08:00", "combo", "BTC combo: close 103 > SMA(3, 1h) 100"),
    ]
    first = result.activations[0][1]
    assert first.at == T0 + 4 * HOUR  # the close of the 03:00 candle
    assert first.values == {
        "when": "close > sma(3)",
        "checked_every": "1h",
        "readings": "close 101 · SMA(3, 1h) 100.33",
        "numbers": {"close": 101.0, "SMA(3, 1h)": 100.333333},
    }


def test_every_condition_must_hold_and_an_or_needs_one() -> None:
    closes = [100, 100, 100, 101, 102, 99, 98, 103]
    # close > 102 holds only at 07:00 (103): the `and` fires there and not at 03:00.
    both = closes_run("close > sma(3) and close > 102", closes)
    assert [when for when, _, _ in both.fired()] == ["2026-01-05 08:00"]
    # close < 99.5 holds at 06:00 (98): the `or` holds from 03:00 to 07:00 without a break, so it fires once.
    either = closes_run("close > sma(3) or close < 99.5", closes)
    assert [when for when, _, _ in either.fired()] == ["2026-01-05 04:00"]


def test_never_fires_on_the_state_it_was_created_into_nor_before_its_warm_up() -> None:
    # RSI(3) needs 4 closes. It is above 60 from the first value it has (a steady climb): no alert; it
    # fires only after a fall takes it below and a rise brings it back.
    closes = [100, 101, 102, 103, 104, 105, 100, 95, 96, 99, 103, 107]
    detector = make("combo", when="rsi(3) > 60")
    result = run(detector, history_of(bars(closes)), T0, T0 + len(closes) * HOUR)
    unknown_until = T0 + 4 * HOUR  # the 4th candle closes at 04:00
    assert all(not signals for now, signals in result.steps if now <= unknown_until + 3 * HOUR)
    assert [when for when, _, _ in result.fired()] == ["2026-01-05 11:00"]
    assert result.activations[0][1].title.startswith("BTC combo: RSI(3, 1h) ")


def test_a_rule_created_before_enough_history_waits_then_learns() -> None:
    # Warm-up: SMA(5) is unknown for four checks; the first known check holds, and it is only learnt.
    closes = [100, 100, 100, 100, 101, 102, 103]
    result = closes_run("close > sma(5)", closes)
    assert result.fired() == []
    assert result.state["known"] is True and "combo" in result.state["off"]


def test_higher_intervals_use_their_last_closed_candle() -> None:
    # Two SYNTHETIC days of hourly closes: 100 all day 1, then 110 all day 2 except its last hour at 90.
    closes = [100.0] * 24 + [110.0] * 23 + [90.0]
    # close(1d) is unknown until day 1's candle closes (day 2 00:00); that check learns 100 > 100 does not
    # hold; the next hour's close 110 > day 1's close 100 fires. Day 1 stays the daily value all day 2.
    result = closes_run("close > close(1d) and close(1d) >= 100", closes)
    assert result.fired() == [
        ("2026-01-06 01:00", "combo", "BTC combo: close 110 > 1d close 100 and 1d close 100 >= 100")
    ]
    rule = BoundRule("close > close(1d) and close(1d) >= 100", "1h")
    history = history_of(bars(closes))
    end = T0 + 48 * HOUR
    rule.load(history.view("BTCUSDT", end), {})
    rule.advance(T0 + 25 * HOUR)
    assert rule.holds(T0 + 25 * HOUR) is True
    assert rule.describe(T0 + 25 * HOUR) == "close 110 > 1d close 100 and 1d close 100 >= 100"
    rule.advance(end - HOUR)
    assert rule.values(end - HOUR) == {"close": 110.0, "1d close": 100.0}  # day 1 still the last closed day
    rule.advance(end)
    assert rule.values(end) == {"close": 90.0, "1d close": 90.0}  # day 2 closed with its last hour, at 90
    assert rule.holds(end) is False


def test_the_rule_is_checked_at_every_close_of_its_finest_interval() -> None:
    detector = make("combo", when="rsi(14, 4h) > 70 and close(1d) > ema(20, 1d)", interval="1h")
    assert isinstance(detector, Combo)
    assert detector._step == "4h"  # nothing written without an interval, so the 1h default is unused
    settings = ComboSettings(when="rsi(14, 4h) > 70 and close > ema(50, 1d)")
    assert settings.history_needed() == {"4h": 15, "1h": 1, "1d": 50}
    assert settings.lookback_ms() == {"candles": (50 + 1) * DAY}  # the longest warm-up and the candle before


def test_a_missing_candle_of_an_interval_makes_its_values_unknown_not_stale() -> None:
    # SYNTHETIC hourly candles with day 2's first hour missing: the day-2 daily candle is never complete,
    # so on day 3 close(1d) is not known (day 1's close would be stale) and nothing fires or re-arms.
    closes = [100.0] * 72
    rows = [row for i, row in enumerate(bars(closes)) if i != 24]
    history = history_of(rows)
    rule = BoundRule("close(1d) > 50", "1h")
    at = T0 + 60 * HOUR
    rule.load(history.view("BTCUSDT", at), {})
    rule.advance(T0 + 30 * HOUR)
    assert rule.holds(T0 + 30 * HOUR) is True  # day 1 closed at T0 + 24h: the newest daily candle
    rule.advance(at)
    assert rule.holds(at) is None
    assert rule.describe(at) == "1d close (not known yet) > 50"


def test_the_three_valued_logic_of_and_and_or() -> None:
    history = history_of(bars([100.0, 101.0]))
    rule = BoundRule("close > 50 and rsi(14) > 50 or close > 500", "1h")
    rule.load(history.view("BTCUSDT", T0 + 2 * HOUR), {})
    rule.advance(T0 + 2 * HOUR)
    assert rule.holds(T0 + 2 * HOUR) is None  # True and unknown, or False: unknown
    assert BoundRule("close < 50 and rsi(14) > 50", "1h").holds(T0) is None  # nothing fed yet
    falsy = BoundRule("close < 50 and rsi(14) > 50", "1h")
    falsy.load(history.view("BTCUSDT", T0 + 2 * HOUR), {})
    falsy.advance(T0 + 2 * HOUR)
    assert falsy.holds(T0 + 2 * HOUR) is False  # False decides an `and` whatever the unknown
    truthy = BoundRule("close > 50 or rsi(14) > 50", "1h")
    truthy.load(history.view("BTCUSDT", T0 + 2 * HOUR), {})
    truthy.advance(T0 + 2 * HOUR)
    assert truthy.holds(T0 + 2 * HOUR) is True  # True decides an `or`


def test_a_new_instance_with_the_saved_state_fires_exactly_as_one_that_ran_throughout() -> None:
    # The indicators live on the instance: a restart (a new instance, the persisted state) feeds them again
    # from the candles in memory, and the alerts are the same on the real January data.
    history = _real_history("BTCUSDT")
    when = "rsi(14, 4h) > 60 and close > ema(50)"
    throughout = run(make("combo", when=when), history, *JANUARY)
    restarted = Run(make("combo", when=when))
    for now in range(JANUARY[0], JANUARY[1] + 1, HOUR):
        if now % (29 * HOUR) == 0:
            restarted.detector = make("combo", when=when)
        restarted.at(history, now)
    assert throughout.fired() and restarted.fired() == throughout.fired()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"when": "rsx(14) > 70"}, "unknown name rsx (did you mean rsi?)"),
        ({"when": "rsi(14, 4x) > 70"}, "unknown interval 4x"),
        ({"when": ""}, "at least 1 character"),
        ({"when": "close > 1", "interval": "2d"}, "Input should be"),
    ],
)
def test_settings_refuse_a_bad_rule_with_its_position(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ComboSettings.model_validate(settings)


# --- the real data against TA-Lib ----------------------------------------------------------------------


def _real_history(symbol: str) -> MarketHistory:
    history = MarketHistory()
    history.add_candles(c for c in real_rows()["candles"] if c.symbol == symbol)
    return history


def _known(*values: float) -> bool:
    return not any(np.isnan(v) for v in values)


def _four_hour(candles: list[Candle]) -> tuple[np.ndarray, list[int]]:
    """Return the closes and close times of the UTC-aligned 4h candles the hourly ones make up.

    A group starting after its 4h bucket opened (the file's first hours) is no 4h candle, as in the
    history; every later group is complete in these files.
    """
    closes, times = [], []
    for candle in candles:
        close = candle.open_time + HOUR_MS
        if close % (4 * HOUR_MS) == 0 and close - 4 * HOUR_MS >= candles[0].open_time:
            closes.append(candle.c)
            times.append(close)
    return np.array(closes), times


def _transitions(candles: list[Candle], holds: Callable[[int, int], bool | None]) -> list[int]:
    """Return the close times where ``holds`` starts to hold, from TA-Lib's series alone.

    ``holds(i, j)`` says whether the rule holds at the close of hourly candle ``i``, when ``j`` 4h candles
    have closed, or None when a value is not defined yet. The first defined hour only learns; a fire is an
    hour where it holds after a defined hour where it did not.
    """
    _, four_hour_times = _four_hour(candles)
    fires: list[int] = []
    previous: bool | None = None
    for i, candle in enumerate(candles):
        close = candle.open_time + HOUR_MS
        now = holds(i, bisect_right(four_hour_times, close))
        if now is None:
            continue
        if previous is False and now:
            fires.append(close)
        previous = now
    return fires


def test_fire_times_equal_the_transitions_of_talibs_series_on_real_btc_candles() -> None:
    candles = [c for c in real_rows()["candles"] if c.symbol == "BTCUSDT"]
    closes = np.array([c.c for c in candles])
    ema = talib.EMA(closes, timeperiod=50)
    rsi = talib.RSI(_four_hour(candles)[0], timeperiod=14)

    def holds(i: int, j: int) -> bool | None:
        if j == 0 or not _known(rsi[j - 1], ema[i]):
            return None
        return bool(rsi[j - 1] > 60 and closes[i] > ema[i])

    expected = _transitions(candles, holds)
    result = run(
        make("combo", when="rsi(14, 4h) > 60 and close > ema(50)"), _real_history("BTCUSDT"), *JANUARY
    )
    assert [iso(signal.at) for _, signal in result.activations] == [iso(t) for t in expected]
    assert len(expected) == 4  # 2026-01-07 00:00 and 03:00, 01-12 04:00, 01-13 16:00
    # The values shown are TA-Lib's too, to the rounding the alert keeps.
    for _, signal in result.activations:
        i = next(k for k, c in enumerate(candles) if c.open_time + HOUR_MS == signal.at)
        assert signal.values["numbers"]["EMA(50, 1h)"] == pytest.approx(ema[i], abs=1e-6)


def test_an_or_of_macd_and_bollinger_fires_where_talibs_series_say_on_real_eth_candles() -> None:
    # Three-valued as the rule is: a defined true side decides an `or` while the other is still warming.
    candles = [c for c in real_rows()["candles"] if c.symbol == "ETHUSDT"]
    closes = np.array([c.c for c in candles])
    _, _, hist = talib.MACD(closes, fastperiod=12, slowperiod=26, signalperiod=9)
    upper, _, _ = talib.BBANDS(_four_hour(candles)[0], timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)

    def holds(i: int, j: int) -> bool | None:
        macd_side = bool(hist[i] > 5) if _known(hist[i]) else None
        bands_side = bool(closes[i] > upper[j - 1]) if j > 0 and _known(upper[j - 1]) else None
        if macd_side or bands_side:
            return True
        return None if None in (macd_side, bands_side) else False

    expected = _transitions(candles, holds)
    when = "macd(12, 26, 9).hist > 5 or close > bollinger(20, 2, 4h).upper"
    result = run(make("combo", symbol="ETHUSDT", when=when), _real_history("ETHUSDT"), *JANUARY)
    assert [iso(signal.at) for _, signal in result.activations] == [iso(t) for t in expected]
    assert len(expected) == 5  # 2026-01-13 16:00, 01-14 15:00 and 17:00, 01-18 19:00 and 23:00


def test_a_rule_warming_up_reads_the_older_candles_backfilled_since() -> None:
    # The spot feed fetches a rule's intervals after the rule was added: those SYNTHETIC candles land before
    # the ones the rule already read, and count toward its warm-up, so its values equal TA-Lib's over all.
    closes = [100.0 + (i * 7) % 11 - (i * 3) % 5 for i in range(24)]
    rows = bars(closes)
    history = history_of(rows[20:23])  # the rule starts with three hours
    detector = make("combo", when="rsi(5) > 70")
    state: dict[str, object] = {}
    detector.evaluate(history.view("BTCUSDT", T0 + 23 * HOUR), state)
    assert state["fed"] == {"1h": T0 + 22 * HOUR}
    history.add_candles(rows[:20])  # the backfill: twenty older hours
    history.add_candles(rows[23:])  # and the next hour closes
    detector.evaluate(history.view("BTCUSDT", T0 + 24 * HOUR), state)
    assert isinstance(detector, Combo)
    [value] = detector._rule.values(T0 + 24 * HOUR).values()
    assert value == pytest.approx(talib.RSI(np.array(closes), 5)[-1], abs=1e-6)
