"""The combo rule language: what it reads, and every refusal with its message and character position."""

from __future__ import annotations

import pytest

from detectors.combo_grammar import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    ComboSyntaxError,
    Comparison,
    Junction,
    Number,
    Series,
    parse,
    series_in,
)


def test_reads_the_issue_example_into_two_comparisons() -> None:
    tree = parse("rsi(14, 4h) > 70 and close > ema(50, 1d)")
    assert tree == Junction(
        "and",
        (
            Comparison(Series("rsi", (14.0,), "4h", None, 0), ">", Number(70.0, "70", 14), 0),
            Comparison(Series("close", (), None, None, 21), ">", Series("ema", (50.0,), "1d", None, 29), 21),
        ),
    )


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    tree = parse("close > 1 or close < 2 and volume > 3")
    assert isinstance(tree, Junction) and tree.op == "or"
    assert isinstance(tree.parts[1], Junction) and tree.parts[1].op == "and"
    grouped = parse("(close > 1 or close < 2) and volume > 3")
    assert isinstance(grouped, Junction) and grouped.op == "and"
    assert isinstance(grouped.parts[0], Junction) and grouped.parts[0].op == "or"


def test_defaults_fill_left_out_parameters_and_outputs_are_named() -> None:
    [macd, bands, _close, stoch, rsi] = series_in(
        parse("macd(4h).hist > 0 and bollinger(20).upper < close and stoch_rsi(1h).k > 80 and rsi < 30")
    )
    assert macd == Series("macd", (12.0, 26.0, 9.0), "4h", "hist", 0)
    assert bands.params == (20.0, 2.0) and bands.output == "upper" and bands.interval is None
    assert stoch.params == (14.0, 14.0, 3.0, 3.0) and stoch.output == "k"
    assert rsi.params == (14.0,) and rsi.interval is None


def test_names_keywords_and_intervals_ignore_case() -> None:
    assert parse("RSI(14, 4H) > 70 AND Close > 1") == parse("rsi(14, 4h) > 70 and close > 1")


def test_labels_say_the_interval_and_the_parameters() -> None:
    [rsi, close, daily, macd, bands] = series_in(
        parse("rsi(14) > 70 and close > close(1d) and macd(12, 26, 9, 4h).hist > bollinger(20, 2.5).lower")
    )
    assert rsi.label("1h") == "RSI(14, 1h)"
    assert close.label("1h") == "close"
    assert daily.label("1h") == "1d close"
    assert macd.label("1h") == "MACD(12, 26, 9, 4h) hist"
    assert bands.label("4h") == "BB(20, 2.5, 4h) lower"


def test_negative_and_decimal_numbers() -> None:
    tree = parse("macd(1h).hist < -12.5 and rsi(14) >= .5")
    assert isinstance(tree, Junction)
    first, second = tree.parts
    assert isinstance(first, Comparison) and first.right == Number(-12.5, "-12.5", 16)
    assert isinstance(second, Comparison) and second.right == Number(0.5, ".5", 37)


@pytest.mark.parametrize(
    ("text", "message", "character"),
    [
        ("rsx(14) > 3", "unknown name rsx (did you mean rsi?)", 1),
        ("close > ema(50, 1d) and foo > 1", "unknown name foo; known names: close, open", 25),
        ("rsi(14, 4x) > 70", "unknown interval 4x: use one of 1m", 9),
        ("rsi(14, 4h) > ", "expected a number or a market value", 15),
        ("close > 96,120", "write numbers without commas", 11),
        ("close > $95000", "unexpected `$`", 9),
        ("rsi(14) ≥ 70", "unexpected `≥`: write >=", 9),
        ("close > ema(50) * 2", "a rule compares values, it does no arithmetic", 17),
        ("macd(4h) > 0", "macd has several lines: add .line, .signal or .hist", 1),
        ("macd(4h).foo > 0", "macd has the lines line, signal or hist, found `foo`", 10),
        ("rsi(14).k > 0", "rsi has one value: remove `.k`", 8),
        ("rsi(1.5) > 3", "rsi's period must be a whole number", 5),
        ("rsi(1) > 3", "rsi's period must be 2 to 1000", 5),
        ("bollinger(20, 50).upper > close", "bollinger's stddev must be 0.1 to 10", 15),
        ("macd(26, 12, 9).line > 0", "macd's fast period must be shorter than its slow one", 1),
        ("rsi(14, 2, 4h) > 70", "rsi takes at most 1 number(s) (period) and an interval", 9),
        ("close(14) > 1", "close takes only an interval, e.g. close(1d)", 7),
        ("rsi(4h, 14) > 70", "the interval comes last in rsi(...)", 5),
        ("sma(4h) > close", "sma needs its period, e.g. sma(50, 1d)", 1),
        ("70 > 50", "this compares two numbers", 1),
        ("close = 5", "`=` is not a comparison: use <, <=, > or >=", 7),
        ("close == 5", "`==` is not a comparison", 7),
        ("rsi(14) > 70 > 80", "comparisons do not chain", 14),
        ("((close > 1)", "expected `)` closing the `(` at character 1, found the end of the rule", 13),
        ("close > 1 close > 2", "expected `and`, `or` or the end of the rule, found `close`", 11),
        ("close and rsi > 1", "expected a comparison (<, <=, > or >=), found `and`", 7),
        ("close > 4h", "an interval (4h) goes inside a call", 9),
        ("close > 1 and", "expected a number or a market value", 14),
        ("", "the rule is empty", 1),
        ("close > 1e99", "1e99 is not a number: write numbers plainly (95000)", 9),
        ("close > 10000000000000", "10000000000000 is out of range", 9),
    ],
)
def test_refusals_say_what_and_where(text: str, message: str, character: int) -> None:
    with pytest.raises(ComboSyntaxError) as caught:
        parse(text)
    assert message in caught.value.message
    assert caught.value.position + 1 == character
    assert f"at character {character}" in str(caught.value)


def test_the_place_comes_first_and_the_excerpt_ends_with_the_token_at_fault() -> None:
    with pytest.raises(ComboSyntaxError) as caught:
        parse("rsi(14, 4h) > 70 and close > emma(50, 1d)")
    assert str(caught.value).startswith("at character 30 (`rsi(14, 4h) > 70 and close > emma`): unknown name")


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true') > 1",
        "close.__class__ > 1",
        "[c for c in ()] > 1",
        "lambda: 1 > 0",
        "close > 1; import os",
    ],
)
def test_python_is_not_a_rule(text: str) -> None:
    with pytest.raises(ComboSyntaxError):
        parse(text)


def test_size_limits() -> None:
    many = " and ".join(["close > 1"] * (MAX_COMPARISONS + 1))
    with pytest.raises(ComboSyntaxError, match=f"at most {MAX_COMPARISONS} comparisons"):
        parse(many)
    deep = "(" * (MAX_DEPTH + 1) + "close > 1" + ")" * (MAX_DEPTH + 1)
    with pytest.raises(ComboSyntaxError, match=f"nest at most {MAX_DEPTH} deep"):
        parse(deep)
    assert isinstance(parse("(" * MAX_DEPTH + "close > 1" + ")" * MAX_DEPTH), Comparison)
    with pytest.raises(ComboSyntaxError, match="at most 400 characters"):
        parse("close > 1 and " * 40)
