"""Detector.describe_now: what a rule created now will do, said when it is not obvious (issue 22).

On the real January 2026 history, at 2026-01-14 00:00 UTC: BTC had just broken $95,000 and was up over 3%
in 24 hours.
"""

from __future__ import annotations

from typing import Any

from detectors.base import format_price
from detectors.market_history import MarketHistory
from tests.detectors.conftest import make, ms, real_history

AT = ms("2026-01-14 00:00")


def described(name: str, **settings: Any) -> str | None:
    """Evaluate a new rule once at AT, as the engine's first evaluation does, and return what it says."""
    detector = make(name, **settings)
    view = real_history().view(detector.symbol, AT)
    state: dict[str, Any] = {}
    assert detector.evaluate(view, state) == []  # a new rule never fires on what is under way
    return detector.describe_now(view, state)


def test_an_edge_condition_already_under_way_is_said_to_be_waited_out() -> None:
    assert described("pct_move", pct=3, window_hours=24) == (
        "The condition already holds now (up): a rule never fires on what was under way when it was "
        "created, so this one fires the next time it happens, once the condition has reset."
    )
    assert described("pct_move", pct=3, window_hours=24, direction="down") is None


def test_a_level_already_passed_the_watched_way_is_said_with_where_price_must_go_first() -> None:
    close = real_history().view("BTCUSDT", AT).candles("1h")[-1].c
    assert close > 95_000
    assert described("level_cross", level=95_000, direction="up") == (
        f"BTC is at {format_price(close)}, above $95,000 already: the rule fires when price crosses up "
        f"again, once it has been back below {format_price(95_000 * 0.995)}."
    )
    # Below the price, a fall through it is what the rule waits for: nothing to add.
    assert described("level_cross", level=95_000, direction="down") is None
    assert described("level_cross", level=99_000, direction="up") is None
    empty = make("level_cross", level=95_000).describe_now(MarketHistory().view("BTCUSDT", AT), {})
    assert empty == "No BTC candle is stored yet: the rule first learns which side of $95,000 price is."
