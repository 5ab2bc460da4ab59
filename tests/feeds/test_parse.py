"""Field readers: exchange numbers as strings, exponent notation, and everything they must refuse."""

from __future__ import annotations

import pytest

from feeds.errors import PayloadError
from feeds.parse import BadItem, integer, items_list, num, number, okx_symbol, parse_items, split_quote, ts_ms


@pytest.mark.parametrize(
    ("raw", "value"), [("0.00010000", 1e-4), ("5.99e-05", 5.99e-05), (3, 3.0), ("-0.5", -0.5)]
)
def test_numbers_as_exchanges_send_them(raw: object, value: float) -> None:
    assert number(raw, "x") == value


@pytest.mark.parametrize("raw", ["nan", "inf", "1e400", "", "abc", True, None, [1], {"v": 1}])
def test_numbers_refused(raw: object) -> None:
    with pytest.raises(BadItem):
        number(raw, "x")


@pytest.mark.parametrize("raw", ["²", "1.5", "12a", True, 1.5, "9" * 21, None])
def test_integers_refused(raw: object) -> None:
    with pytest.raises(BadItem):
        integer(raw, "x")


def test_integers_as_strings_and_floats() -> None:
    assert integer("1768953599999", "t") == integer(1768953599999.0, "t") == 1768953599999


def test_timestamps_in_seconds_or_garbage_are_refused() -> None:
    assert ts_ms({"T": "1768953599999"}, "T") == 1768953599999
    for bad in (1768953599, 0, -1, 10**15):
        with pytest.raises(BadItem, match="plausible"):
            ts_ms({"T": bad}, "T")


def test_positive_and_missing_fields() -> None:
    with pytest.raises(BadItem, match="must be positive"):
        num({"p": "0"}, "p", positive=True)
    with pytest.raises(BadItem, match="missing field 'p'"):
        num({}, "p")
    with pytest.raises(BadItem, match="is null"):
        num({"p": None}, "p")
    with pytest.raises(BadItem, match="not an object"):
        num(["p"], "p")


def test_parse_items_keeps_the_good_and_says_why_the_rest_went() -> None:
    def one(item: object) -> float | None:
        value = number(item, "v")
        return None if value == 0 else value

    parsed = parse_items(["1", "x", 0, "2.5"], one)
    assert parsed.rows == [1.0, 2.5] and parsed.skipped == ["field 'v' is not a number: 'x'"]
    with pytest.raises(PayloadError):
        items_list({"not": "a list"}, "klines")


def test_symbols() -> None:
    assert okx_symbol("BTC-USDT-SWAP") == "BTCUSDT" and okx_symbol("eth-usdt-swap") == "ETHUSDT"
    assert split_quote("BTCUSDT") == ("BTC", "USDT") and split_quote("USDT") is None
    assert split_quote("BTCFDUSD") == ("BTC", "FDUSD") and split_quote("BTCTUSD") == ("BTC", "TUSD")
