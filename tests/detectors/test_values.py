"""One formatter per kind of value (detectors/values.py): what each kind reads as, what is left out, and how
a value nobody declared is described from its name. Values here are hand-written (synthetic)."""

from __future__ import annotations

import math

import pytest

from detectors import values
from detectors.values import (
    ValueKind,
    ValueSpec,
    format_number,
    format_price,
    format_value,
    infer_spec,
    shown_values,
    utc_text,
)

AT = 1_768_345_200_000  # 2026-01-13 23:00 UTC


@pytest.mark.parametrize(
    ("spec", "value", "reads"),
    [
        (values.time("From"), AT, "2026-01-13 23:00 UTC"),
        (values.time("From"), AT + 5_000, "2026-01-13 23:00:05 UTC"),
        (values.date("Day"), "2026-01-13", "2026-01-13"),
        (values.date("Day"), AT, "2026-01-13"),
        (values.price("Price"), 95_757.21000000001, "$95,757.21"),
        (values.price("Price"), 95_000.0, "$95,000"),
        (values.price("Price"), 0.000012345678, "$0.0000123457"),
        (values.usd("Liquidated"), 28_490_082.52, "$28.5M"),
        (values.usd("Liquidated"), 950.4, "$950"),
        (values.percent("Threshold"), 0.30000000000000004, "0.3%"),
        (values.percent("Threshold"), 3, "3%"),
        (values.change("Change"), -3.0710000000000002, "-3.07%"),
        (values.funding("Rate"), -0.003864, "-0.0039%"),
        (values.duration("Window", unit="minutes"), 60, "1h"),
        (values.duration("Time since", unit="days"), 8.88, "1w 1d"),
        (values.duration("Lasted"), 5400, "1h 30m"),
        (values.count("Index"), 21.0, "21"),
        (values.count("Candles"), 1402, "1,402"),
        (values.ratio("Times the usual"), 73.62000000000001, "73.6×"),
        (values.ratio("Times the usual"), 582.61, "583×"),
        (values.amount("Volume"), 119_773.2, "119,773"),
        (values.number("Value"), 20_000_000.0, "20,000,000"),
        (values.text("Side"), "short", "short"),
        (values.text("Armed"), True, "yes"),
        (values.usd("By source"), {"binance": 2_100_000.0, "okx": 950_000.0}, "binance $2.1M, okx $950.0k"),
        (values.price("Last closes"), [95_010.5, 95_757.21, 96_000.0], "$95,010.50, $95,757.21, $96,000"),
    ],
)
def test_each_kind_reads_as_people_write_it(spec: ValueSpec, value: object, reads: str) -> None:
    assert format_value(spec, value) == reads


def test_missing_hidden_and_non_finite_values_are_left_out() -> None:
    for value in (None, math.nan, math.inf, ""):
        assert format_value(values.usd("Liquidated"), value) is None
    assert format_value(values.hidden(), 42) is None
    # Nested data inside a list is for programs.
    assert format_value(values.text("Evidence"), [{"a": 1}, ["for programs"]]) is None


def test_a_medium_writes_moments_its_own_way() -> None:
    assert format_value(values.time("From"), AT, lambda ms: f"<t:{ms // 1000}:f>") == "<t:1768345200:f>"


def test_open_interest_reads_in_usd_or_contracts_as_its_basis_says() -> None:
    spec = values.open_interest("From", basis_key="basis")
    assert format_value(spec, 9_303_887_430.0, siblings={"basis": "usd"}) == "$9.3B"
    assert format_value(spec, 81_200.0, siblings={"basis": "contracts"}) == "81,200 contracts"


def test_numbers_never_read_as_python_reprs() -> None:
    assert format_number(20_000_000.0) == "20,000,000"
    assert format_number(0.30000000000000004) == "0.3"
    assert format_number(3.9e-05) == "0.000039"
    assert format_number(-1234.5) == "-1,234"  # a thousand and more: whole units
    assert format_price(0) == "$0"


def test_a_label_must_be_words() -> None:
    with pytest.raises(ValueError, match="label in words"):
        values.usd("other_side_usd")
    with pytest.raises(ValueError, match="label in words"):
        values.price("")
    with pytest.raises(ValueError, match="unknown duration unit"):
        values.duration("Window", unit="fortnights")


@pytest.mark.parametrize(
    ("key", "value", "kind", "label"),
    [
        ("usd", 1.0, ValueKind.USD, "Amount"),
        ("other_side_usd", 1.0, ValueKind.USD, "Other side"),
        ("oi_change_pct", 1.0, ValueKind.CHANGE, "Oi change"),
        ("from_time", AT, ValueKind.TIME, "From time"),
        ("window_start", AT, ValueKind.TIME, "Window start"),
        ("window_start", 3, ValueKind.NUMBER, "Window start"),  # not a moment: too small for epoch ms
        ("duration_s", 60, ValueKind.DURATION, "Duration"),
        ("window_minutes", 60, ValueKind.DURATION, "Window"),
        ("since_date", "2026-01-05", ValueKind.DATE, "Since date"),
        ("level", 95_000.0, ValueKind.PRICE, "Level"),
        ("candle_opened", AT, ValueKind.TIME, "Candle opened"),
        ("side", "long", ValueKind.TEXT, "Side"),
        ("by_source", {"okx": 1.0}, ValueKind.HIDDEN, ""),
    ],
)
def test_an_undeclared_value_is_described_from_its_name(
    key: str, value: object, kind: ValueKind, label: str
) -> None:
    spec = infer_spec(key, value)
    assert (spec.kind, spec.label) == (kind, label)


def test_shown_values_follow_the_declaration_then_the_rest_and_skip_the_unshown() -> None:
    specs = {"usd": values.usd("Liquidated"), "window_start": values.time("Window start")}
    raw = {
        "window_start": AT,
        "extra_usd": 2_500_000.0,
        "direction": "up",
        "multiple": None,
        "nested": {"a": 1},
        "usd": 109_000_000.0,
    }
    assert shown_values(raw, specs, utc_text) == [
        ("Liquidated", "$109.0M"),
        ("Window start", "2026-01-13 23:00 UTC"),
        ("Extra", "$2.5M"),
    ]
