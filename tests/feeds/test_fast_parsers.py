"""The fast liquidation readers give exactly what the strict ones give, or step aside for them.

``parse_items_fast`` tries a reader built for well-formed items first and hands anything it cannot vouch for
to the strict reader. For every item, garbled or not, the outcome must be the strict reader's alone: the
same row (bit for bit), the same None for an unwatched symbol, or the same reason to skip it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds import binance_futures, bybit, okx
from feeds.parse import UNSURE, BadItem, parse_items, parse_items_fast
from storage.rows import Liquidation
from tests.feeds.test_parsers_property import CONTRACTS, REAL, json_values

WATCHED = frozenset({"BTCUSDT", "ETHUSDT"})
CONTRACT = CONTRACTS["BTC-USDT-SWAP"]
INVERSE = okx.Contract("BTC-USD-SWAP", "BTC-USD", 100.0, 1.0, inverse=True)

# Well-formed items of each venue, as the real frames carry them.
BINANCE = REAL["force_order"]["data"]
BYBIT = REAL["all_liquidation"]["data"][0]
OKX = REAL["okx_liquidations"][0]["details"][0]

# Field values worth trying beyond arbitrary JSON: what exchanges send, and what they send when broken.
NUMBERS = ["0", "0.0", "-1", "1e400", "nan", "inf", " 1.5", "1_000", "٣", "1768953599999", "1" * 23]
WORDS = ["BUY", "SELL", "buy", "sell", "Buy", "Sell", "long", "short", "net", "", "btcusdt", "DOGEUSDT"]
tricky = st.sampled_from([*NUMBERS, *WORDS, 1768953599999, 1768953599999.0, True, 0, -5, 2.5])
values = json_values | tricky


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """Return what a reader did with an item: ('row', repr of the row), ('none', None) or ('skip', why)."""
    try:
        row = call()
    except BadItem as exc:
        return ("skip", str(exc))
    if row is None:
        return ("none", None)
    assert isinstance(row, Liquidation)
    return ("row", repr(row))


def fast_outcome(
    fast: Callable[..., Any], strict: Callable[..., Any], item: Any, *context: Any
) -> tuple[str, Any]:
    parsed = parse_items_fast([item], fast, strict, *context)
    if parsed.skipped:
        return ("skip", parsed.skipped[0])
    return ("row", repr(parsed.rows[0])) if parsed.rows else ("none", None)


def strict_outcome(strict: Callable[..., Any], item: Any, *context: Any) -> tuple[str, Any]:
    parsed = parse_items([item], lambda one: strict(one, *context))
    if parsed.skipped:
        return ("skip", parsed.skipped[0])
    return ("row", repr(parsed.rows[0])) if parsed.rows else ("none", None)


def garble(item: dict[str, Any], data: st.DataObject) -> Any:
    """Return the item with some fields replaced, removed or added (or something else entirely)."""
    if data.draw(st.integers(0, 9)) == 0:
        return data.draw(values)
    out = copy.deepcopy(item)
    target = out["o"] if "o" in out and isinstance(out["o"], dict) and data.draw(st.booleans()) else out
    for key in data.draw(st.lists(st.sampled_from([*sorted(target), "extra"]), max_size=3)):
        if data.draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = data.draw(values)
    return out


READERS = {
    "binance": (binance_futures._force_order_fast, binance_futures._force_order_strict, BINANCE),
    "bybit": (bybit._item_fast, bybit._item_strict, BYBIT),
}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), venue=st.sampled_from(sorted(READERS)), watched=st.sampled_from([None, WATCHED]))
def test_binance_and_bybit_fast_readers_agree_with_the_strict_ones(
    data: st.DataObject, venue: str, watched: Any
) -> None:
    fast, strict, real = READERS[venue]
    item = garble(real, data)
    assert fast_outcome(fast, strict, item, watched) == strict_outcome(strict, item, watched)
    if venue == "binance":
        got = outcome(lambda: binance_futures.parse_force_order(item, watched))
        assert got == strict_outcome(strict, item, watched)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), inverse=st.booleans())
def test_okx_fast_reader_agrees_with_the_strict_one(data: st.DataObject, inverse: bool) -> None:
    detail = garble(OKX, data)
    contract = INVERSE if inverse else CONTRACT
    fast, strict = okx._detail_fast, okx._detail_strict
    want = strict_outcome(strict, detail, "BTCUSDT", contract)
    assert fast_outcome(fast, strict, detail, "BTCUSDT", contract) == want
    # And through the frame parser, with the item around the detail garbled too.
    item = garble({"instId": "BTC-USD-SWAP" if inverse else "BTC-USDT-SWAP", "details": [detail]}, data)
    contracts = {"BTC-USD-SWAP": INVERSE, "BTC-USDT-SWAP": CONTRACT}
    got, _ = okx.parse_liquidation_items([item], contracts, None)
    original = okx.parse_items_fast
    okx.parse_items_fast = lambda items, _fast, strict, *context: parse_items(  # type: ignore[assignment]
        items, lambda one: strict(one, *context)
    )
    try:
        expected, _ = okx.parse_liquidation_items([item], contracts, None)
    finally:
        okx.parse_items_fast = original
    assert (repr(got.rows), got.skipped) == (repr(expected.rows), expected.skipped)


def test_the_fast_readers_take_the_real_frames_themselves() -> None:
    """Real items never need the strict readers (else the fast path buys nothing)."""
    assert binance_futures._force_order_fast(BINANCE, None) is not UNSURE
    assert bybit._item_fast(BYBIT, None) is not UNSURE
    assert okx._detail_fast(OKX, "BTCUSDT", CONTRACT) is not UNSURE
