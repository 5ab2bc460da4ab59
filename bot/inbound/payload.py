"""Read a webhook body (TradingView's alert message, placeholders filled) into one alert.

TradingView posts the alert's message as the body: ``application/json`` when the message is valid JSON,
``text/plain`` otherwise. Both are read (the template is documented in docs/webhooks.md):

* **JSON**: an object with the symbol in ``symbol`` or ``ticker`` (``{{ticker}}``), and optionally
  ``title`` (or ``message``, ``alert``, ``text``), ``severity`` (info, warning, critical), ``key`` (alerts
  of one key share a cooldown; default: the symbol), ``direction`` (up, down) or an ``action``/``side``
  (buy/long is up, sell/short is down), ``price`` (or ``close``). Other plain fields are kept as the
  alert's values (what /why shows); a ``secret`` field is dropped, never stored.
* **Text**: ``[severity] SYMBOL what happened``: an optional severity in brackets, then the symbol as the
  first word, e.g. ``BINANCE:BTCUSDT Crossing 95,000.00``. The first line is the title.

A symbol is written as TradingView writes tickers: an exchange prefix (``BINANCE:``) and the perpetual
suffix (``.P``) are dropped, ``/`` and ``-`` removed, letters upper-cased.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from detectors.base import SEVERITIES, Direction, Severity
from detectors.values import format_price

TITLE_CHARS = 256  # Discord's embed title limit: the title is shown as one
MAX_VALUES = 20
VALUE_CHARS = 200
KEY_CHARS = 60
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_PLACEHOLDER = re.compile(r"\{\{\s*[\w.]+\s*\}\}")
_TEXT = re.compile(r"^\s*(?:\[(?P<severity>[A-Za-z]+)\]\s*)?(?P<symbol>\S+)(?P<rest>.*)$", re.DOTALL)
_TITLE_FIELDS = ("title", "message", "alert", "text")
_DROPPED = frozenset({"secret", "token", "passphrase", "password"})
_UP = frozenset({"up", "buy", "long", "bull", "bullish"})
_DOWN = frozenset({"down", "sell", "short", "bear", "bearish"})


class PayloadError(ValueError):
    """The body cannot be read as an alert; the message says why (sent back with a 400)."""


@dataclass(frozen=True, slots=True)
class InboundAlert:
    """One alert read from a webhook body."""

    symbol: str
    title: str
    severity: Severity | None  # None: the route's default
    key: str
    direction: Direction = "neutral"
    values: dict[str, Any] = field(default_factory=dict)


def parse_body(data: bytes, content_type: str = "") -> InboundAlert:
    """Read a request body as an alert, raising PayloadError with the reason when it cannot be read."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("the body is not UTF-8 text") from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise PayloadError("the body is empty; send the alert message (JSON or text)")
    unfilled = _PLACEHOLDER.search(text)
    if unfilled is not None:
        raise PayloadError(
            f"the placeholder {unfilled.group(0)} was not filled in; TradingView fills only the placeholders "
            "it knows for this alert"
        )
    stripped = text.strip()
    if content_type.startswith("application/json") or stripped.startswith("{"):
        return parse_json(stripped)
    return parse_text(stripped)


def parse_json(text: str) -> InboundAlert:
    """Read a JSON alert message."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"the body is not valid JSON ({_json_reason(exc)})") from None
    if not isinstance(data, dict):
        raise PayloadError('the JSON body must be an object like {"ticker": "BTCUSDT", ...}')
    raw_symbol = data.get("symbol", data.get("ticker"))
    if not isinstance(raw_symbol, str) or not raw_symbol.strip():
        raise PayloadError('the JSON has no "symbol" or "ticker" (e.g. "ticker": "{{ticker}}")')
    symbol = normalise_symbol(raw_symbol)
    values = _values(data)
    title = next((str(data[f]).strip() for f in _TITLE_FIELDS if isinstance(data.get(f), str)), "")
    if not title:
        title = _default_title(symbol, data)
    key = str(data.get("key") or symbol).strip()[:KEY_CHARS] or symbol
    return InboundAlert(
        symbol=symbol,
        title=_one_line(title),
        severity=_severity(data.get("severity")),
        key=key,
        direction=_direction(data),
        values=values,
    )


def parse_text(text: str) -> InboundAlert:
    """Read a plain-text alert message: ``[severity] SYMBOL what happened``."""
    match = _TEXT.match(text)
    if match is None:  # pragma: no cover - the pattern matches any text with a word in it
        raise PayloadError("the text has no symbol; start it with one, e.g. BTCUSDT Crossing 95000")
    symbol = normalise_symbol(match["symbol"])
    lines = (match["symbol"] + match["rest"]).strip().splitlines()
    title = _one_line(lines[0])
    values: dict[str, Any] = {}
    details = " ".join(line.strip() for line in lines[1:] if line.strip())
    if details:
        values["details"] = details[:VALUE_CHARS]
    return InboundAlert(
        symbol=symbol,
        title=title,
        severity=_severity(match["severity"]),
        key=symbol,
        direction=_direction_word(title),
        values=values,
    )


def normalise_symbol(raw: str) -> str:
    """Return a TradingView ticker as a symbol (``BINANCE:BTCUSDT.P`` is ``BTCUSDT``); raise PayloadError."""
    symbol = raw.strip().split(":")[-1].upper()
    if symbol.endswith(".P"):
        symbol = symbol[:-2]
    symbol = symbol.replace("/", "").replace("-", "").replace("_", "")
    if not _SYMBOL.match(symbol):
        shown = raw.strip()[:40]
        raise PayloadError(
            f"{shown!r} is not a symbol (2 to 20 letters and digits, such as BTCUSDT or BINANCE:BTCUSDT)"
        )
    return symbol


def _severity(value: Any) -> Severity | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    for severity in SEVERITIES:
        if text == severity:
            return severity
    raise PayloadError(f"severity {str(value)[:20]!r} is not one of {', '.join(SEVERITIES)}")


def _direction(data: dict[str, Any]) -> Direction:
    for name in ("direction", "action", "side", "signal_type", "market_position"):
        value = data.get(name)
        if isinstance(value, str) and (found := _direction_word(value)) != "neutral":
            return found
    return "neutral"


def _direction_word(text: str) -> Direction:
    words = set(re.findall(r"[a-z]+", text.lower()))
    if words & _UP and not words & _DOWN:
        return "up"
    if words & _DOWN and not words & _UP:
        return "down"
    return "neutral"


def _values(data: dict[str, Any]) -> dict[str, Any]:
    """Keep the plain fields (numbers, short texts) as the alert's values; drop secrets and nesting."""
    values: dict[str, Any] = {}
    for name, value in data.items():
        if len(values) >= MAX_VALUES:
            break
        if name.lower() in _DROPPED or name in _TITLE_FIELDS or name in ("symbol", "ticker", "severity"):
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            if math.isfinite(value):
                values[str(name)[:40]] = value
        elif isinstance(value, str) and value.strip():
            values[str(name)[:40]] = _number_or_text(value.strip())
    if "price" not in values and isinstance(values.get("close"), int | float):
        values["price"] = values["close"]
    return values


def _number_or_text(value: str) -> Any:
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return value[:VALUE_CHARS]
    return number if math.isfinite(number) else value[:VALUE_CHARS]


def _default_title(symbol: str, data: dict[str, Any]) -> str:
    action = next(
        (str(data[n]) for n in ("action", "side", "signal_type") if isinstance(data.get(n), str)), "alert"
    )
    price = data.get("price", data.get("close"))
    if isinstance(price, str):
        price = _number_or_text(price.strip())
    if isinstance(price, bool) or not isinstance(price, int | float | str) or price == "":
        return f"{symbol} {action}"
    # Written as the price values are (format_price), never as the body's number repr (97900.0, 1e-05).
    shown = format_price(price) if isinstance(price, int | float) and math.isfinite(price) else str(price)
    return f"{symbol} {action} at {shown}"


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)
