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


def fast_outcome(fast: Callable[[Any], Any], strict: Callable[[Any], Any], item: Any) -> tuple[str, Any]:
    parsed = parse_items_fast([item], fast, strict)
    if parsed.skipped:
        return ("skip", parsed.skipped[0])
    return ("row", repr(parsed.rows[0])) if parsed.rows else ("none", None)


def strict_outcome(strict: Callable[[Any], Any], item: Any) -> tuple[str, Any]:
    parsed = parse_items([item], strict)
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


def binance_readers(watched: frozenset[str] | None) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    fast, strict = binance_futures._force_order_fast, binance_futures._force_order_strict
    return (lambda e: fast(e, watched)), (lambda e: strict(e, watched))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), watched=st.sampled_from([None, WATCHED]))
def test_binance_fast_reader_agrees_with_the_strict_one(data: st.DataObject, watched: Any) -> None:
    fast, strict = binance_readers(watched)
    item = garble(BINANCE, data)
    assert fast_outcome(fast, strict, item) == strict_outcome(strict, item)
    assert outcome(lambda: binance_futures.parse_force_order(item, watched)) == strict_outcome(strict, item)


def _bybit_readers(watched: frozenset[str] | None) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Return Bybit's fast and strict readers as parse_all_liquidation builds them."""
    readers: dict[str, Callable[[Any], Any]] = {}

    def spy(items: Any, fast: Callable[[Any], Any], strict: Callable[[Any], Any]) -> Any:
        readers["fast"], readers["strict"] = fast, strict
        return parse_items_fast(items, fast, strict)

    original = bybit.parse_items_fast
    bybit.parse_items_fast = spy  # type: ignore[assignment]
    try:
        bybit.parse_all_liquidation({"data": []}, watched)
    finally:
        bybit.parse_items_fast = original
    return readers["fast"], readers["strict"]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), watched=st.sampled_from([None, WATCHED]))
def test_bybit_fast_reader_agrees_with_the_strict_one(data: st.DataObject, watched: Any) -> None:
    fast, strict = _bybit_readers(watched)
    item = garble(BYBIT, data)
    assert fast_outcome(fast, strict, item) == strict_outcome(strict, item)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), inverse=st.booleans())
def test_okx_fast_reader_agrees_with_the_strict_one(data: st.DataObject, inverse: bool) -> None:
    detail = garble(OKX, data)
    inst = "BTC-USD-SWAP" if inverse else "BTC-USDT-SWAP"
    contracts = {"BTC-USD-SWAP": INVERSE, "BTC-USDT-SWAP": CONTRACT}
    got, _ = okx.parse_liquidation_items([{"instId": inst, "details": [detail]}], contracts, None)
    readers: dict[str, Callable[[Any], Any]] = {}

    def strict_only(items: Any, fast: Callable[[Any], Any], strict: Callable[[Any], Any]) -> Any:
        readers["fast"] = fast
        return parse_items(items, strict)

    original = okx.parse_items_fast
    okx.parse_items_fast = strict_only  # type: ignore[assignment]
    try:
        want, _ = okx.parse_liquidation_items([{"instId": inst, "details": [detail]}], contracts, None)
    finally:
        okx.parse_items_fast = original
    assert (repr(got.rows), got.skipped) == (repr(want.rows), want.skipped)


def test_the_fast_readers_take_the_real_frames_themselves() -> None:
    """Real frames never need the strict readers (else the fast path buys nothing)."""
    fast, _ = binance_readers(None)
    assert fast(BINANCE) is not UNSURE
    bybit_fast, _ = _bybit_readers(None)
    assert bybit_fast(BYBIT) is not UNSURE
    readers: dict[str, Callable[[Any], Any]] = {}

    def spy(items: Any, fast: Callable[[Any], Any], strict: Callable[[Any], Any]) -> Any:
        readers["fast"] = fast
        return parse_items_fast(items, fast, strict)

    original = okx.parse_items_fast
    okx.parse_items_fast = spy  # type: ignore[assignment]
    try:
        okx.parse_liquidation_items([{"instId": "BTC-USDT-SWAP", "details": [OKX]}], CONTRACTS, None)
    finally:
        okx.parse_items_fast = original
    assert readers["fast"](OKX) is not UNSURE
