"""bollinger: a close outside the bands, a squeeze (the narrowest bands in N candles) and its release."""

from __future__ import annotations

import itertools
import random
from collections import deque

import pytest
from pydantic import ValidationError

from detectors.base import Bar
from detectors.bollinger import WidthWindow
from tests.detectors.conftest import HOUR, JANUARY, history_of, make, real_history, real_rows, run


def test_settings_bounds() -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        make("bollinger", mult=0)
    with pytest.raises(ValidationError, match="greater than or equal to 2"):
        make("bollinger", squeeze_lookback=1)


def test_the_squeeze_before_the_breakout_and_its_release() -> None:
    # The real 4h candles: the bands narrowed for days before the 12th and 13th, then price broke out.
    result = run(make("bollinger", interval="4h", squeeze_lookback=20), real_history(), *JANUARY)
    fired = result.fired()
    # (Nothing before the 10th: the rule needs 20 + 20 - 1 candles before it decides anything.)
    assert fired[:3] == [
        (
            "2026-01-10 00:00",
            "squeeze",
            "BTC Bollinger(20, 2, 4h) squeeze: bands 4.02% wide, the narrowest in 20 candles",
        ),
        (
            "2026-01-12 04:00",
            "upper",
            "BTC closed above the upper Bollinger(20, 2, 4h) band: $91,808.12 vs $91,444.57",
        ),
        (
            "2026-01-12 04:00",
            "release_up",
            "BTC Bollinger(20, 2, 4h) squeeze released upward: closed $91,808.12, above the upper band "
            "$91,444.57",
        ),
    ]
    release = next(s for _, s in result.activations if s.key == "release_up")
    values = release.values
    assert values["close"] > values["upper"] > values["middle"] > values["lower"]
    width = (values["upper"] - values["lower"]) / values["middle"] * 100
    assert values["width_pct"] == pytest.approx(width, abs=1e-4)


def test_watch_and_direction_choose_the_events() -> None:
    squeeze = run(
        make("bollinger", interval="4h", watch="squeeze", squeeze_lookback=20), real_history(), *JANUARY
    )
    assert {k for _, k, _ in squeeze.fired()} == {"squeeze", "release_up", "release_down"}
    up = run(make("bollinger", interval="4h", watch="bands", direction="up"), real_history(), *JANUARY)
    assert {k for _, k, _ in up.fired()} == {"upper"}
    assert len(up.fired()) == 6  # every close above the upper band after one inside it


def test_a_squeeze_is_one_alert_until_its_release() -> None:
    result = run(make("bollinger", watch="squeeze"), real_history(), *JANUARY)
    keys = [k for _, k, _ in result.fired()]
    # Squeeze, release, squeeze, release...: never two squeezes without a release between them.
    squeezes = [i for i, k in enumerate(keys) if k == "squeeze"]
    for a, b in itertools.pairwise(squeezes):
        assert any(k.startswith("release") for k in keys[a:b])
    assert len(squeezes) >= 3


class _Widths:
    """Bands stand-in whose width is set by the test (WidthWindow reads only ``value("width")``)."""

    def __init__(self) -> None:
        self.width: float | None = None

    def value(self, output: str | None = None) -> float | None:
        assert output == "width"
        return self.width


def test_the_width_window_finds_the_narrowest_as_min_over_the_window_does() -> None:
    # The window keeps its minimum as it slides; compared here with min() over the same last N widths,
    # with ties (widths drawn from few values) and the warm-up (no width yet) included.
    rng = random.Random(18)
    for size in (2, 3, 7, 20):
        bands = _Widths()
        window = WidthWindow(bands, size)  # type: ignore[arg-type]
        expected: deque[float] = deque(maxlen=size)
        answers = []
        for i in range(500):
            bands.width = None if i < 5 else float(rng.choice((1, 2, 3, 4, 5)))
            window.add(Bar(i * 60_000, 1.0, 1.0, 1.0, 1.0, 1.0, 60_000))
            if bands.width is not None:
                expected.append(bands.width)
            want = len(expected) == size and expected[-1] <= min(expected)
            assert window.narrowest() is want, (size, i)
            answers.append(want)
        assert any(answers) and not all(answers)  # both answers were checked


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_a_market_that_stops_moving_is_one_squeeze_not_a_close_outside_every_other_candle(
    symbol: str,
) -> None:
    # Real hourly candles to January 20, then SYNTHETIC ones: 80 hours without a trade at the last close (an
    # illiquid pair's 1m candles do this). TA-Lib's middle band is then a few units in the last place off
    # the close and its deviation exactly 0: the close read above (BTC) or below (ETH) the band at every
    # candle, and the squeeze fired every second candle, some thirty times.
    rows = [c for c in real_rows()["candles"] if c.symbol == symbol]
    last = rows[-1]
    flat = [
        last._replace(open_time=last.open_time + (i + 1) * HOUR, o=last.c, h=last.c, l=last.c, volume=0.0)
        for i in range(80)
    ]
    result = run(
        make("bollinger", symbol=symbol, interval="1h", watch="both"),
        history_of(rows + flat),
        last.open_time + HOUR,
        flat[-1].open_time + HOUR,
    )
    # The bands narrow to nothing (the narrowest in 50 candles: one squeeze) and no close leaves them.
    assert [signal.key for _, signal in result.activations] == ["squeeze"]
