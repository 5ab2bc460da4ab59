"""Reading webhook bodies into alerts: real TradingView-shaped messages (tests/data/tradingview), the text
form, TradingView's ticker spellings, and every malformed body refused with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.inbound.payload import TITLE_CHARS, PayloadError, normalise_symbol, parse_body
from tests.conftest import ROOT
from tests.readable import unreadable

DATA = ROOT / "tests" / "data" / "tradingview"


def test_a_relay_projects_real_message_is_read_and_its_secret_dropped() -> None:
    alert = parse_body((DATA / "maxwong3_send_request.json").read_bytes(), "application/json")
    assert (alert.symbol, alert.title, alert.severity, alert.key) == ("BTCUSD", "BUY SIGNAL!", None, "BTCUSD")
    assert alert.values["close"] == alert.values["price"] == 29600
    assert alert.values["interval"] == "1h" and alert.values["exchange"] == "BINANCE"
    assert "secret" not in alert.values  # that project's own shared secret, never stored here


def test_a_filled_template_with_a_line_break_keeps_its_first_line_as_the_title() -> None:
    template = (DATA / "fhaleen10_breakout_template.json").read_text()
    body = template.replace("{{ticker}}", "BTCUSDT").replace("{{exchange}}", "BINANCE")
    body = body.replace("{{strategy.order.action}}", "buy").replace("{{close}}", "97900")
    alert = parse_body(body.encode(), "application/json")
    assert alert.title == "⚠️ BREAKOUT ALERT ⚠️ BTCUSDT has broken buy level at 97900"
    assert alert.values["value"] == 97900.0 and alert.values["condition"] == "Support/Resistance Break"


@pytest.mark.parametrize(
    ("body", "title"),
    [
        # Synthetic bodies: a template without a title, its {{close}} unquoted (a JSON number) or quoted.
        (b'{"ticker": "BTCUSDT", "action": "buy", "close": 97900.0}', "BTCUSDT buy at $97,900"),
        (
            b'{"ticker": "BTCUSDT", "side": "sell", "price": "95757.21000000001"}',
            "BTCUSDT sell at $95,757.21",
        ),
        (b'{"ticker": "PEPEUSDT", "close": 1e-05}', "PEPEUSDT alert at $0.00001"),
        (b'{"ticker": "BTCUSDT", "close": "n/a"}', "BTCUSDT alert at n/a"),
        (b'{"ticker": "BTCUSDT", "close": true}', "BTCUSDT alert"),
    ],
)
def test_a_title_made_for_a_body_without_one_writes_its_price_for_people(body: bytes, title: str) -> None:
    alert = parse_body(body, "application/json")
    assert alert.title == title
    assert unreadable(alert.title) == []


def test_text_messages_name_the_symbol_first_and_may_give_a_severity() -> None:
    alert = parse_body(b"[Critical] BINANCE:BTCUSDT.P Crossing 95,000.00\nvolume 3x", "text/plain")
    assert (alert.symbol, alert.severity, alert.title) == (
        "BTCUSDT",
        "critical",
        "BINANCE:BTCUSDT.P Crossing 95,000.00",
    )
    assert alert.values == {"details": "volume 3x"}
    assert parse_body(b"ETHUSDT short squeeze", "text/plain").direction == "down"


@pytest.mark.parametrize(
    ("ticker", "symbol"),
    [
        ("BINANCE:BTCUSDT", "BTCUSDT"),
        ("BYBIT:ETHUSDT.P", "ETHUSDT"),
        ("BTC/USD", "BTCUSD"),
        ("eth-usdt", "ETHUSDT"),
    ],
)
def test_tradingview_tickers_become_symbols(ticker: str, symbol: str) -> None:
    assert normalise_symbol(ticker) == symbol


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "the body is empty"),
        (b"  \n ", "the body is empty"),
        (b"\xff\xfe", "the body is not UTF-8 text"),
        (b'{"ticker": "{{ticker}}"}', "the placeholder {{ticker}} was not filled in"),
        (b'{"ticker": "BTCUSDT", "price": }', "the body is not valid JSON (Expecting value"),
        (b'{"ticker": "BTCUSDT", "close": NaN}', "the body is not valid JSON (NaN is not a JSON number"),
        (b'["BTCUSDT"]', "'[\"BTCUSDT\"]' is not a symbol"),
        (b'{"close": 1}', 'the JSON has no "symbol" or "ticker"'),
        (b'{"ticker": "NOT A SYMBOL!"}', "'NOT A SYMBOL!' is not a symbol"),
        (b'{"ticker": "BTCUSDT", "severity": "meh"}', "severity 'meh' is not one of info, warning, critical"),
        (b"!!! crossing", "'!!!' is not a symbol"),
        (b"[" * 100_000, "'" + "[" * 40 + "' is not a symbol"),
        (b"{" * 100_000, "the body is not valid JSON"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_body(body, "text/plain")
    assert str(caught.value).startswith(reason)


@given(st.binary(max_size=300))
def test_any_body_is_read_or_refused_with_a_reason(body: bytes) -> None:
    try:
        alert = parse_body(body, "text/plain")
    except PayloadError as exc:
        assert str(exc)
    else:
        assert 1 <= len(alert.title) <= TITLE_CHARS and alert.symbol.isalnum()
