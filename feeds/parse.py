"""Strict field readers for exchange payloads: a bad item is skipped with a reason, never a crash.

Exchanges send numbers as strings (``"0.00010000"``), sometimes in exponent notation (``"1E-7"``), and
during incidents send items with fields missing or null. Each reader either returns a clean value or
raises ``BadItem`` naming the field; ``parse_items`` turns that into a skipped item and keeps the rest.
Anything wrong with the payload as a whole (not a list, not an object) is a ``PayloadError`` instead.
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from feeds.errors import PayloadError

T = TypeVar("T")

# Plausible epoch-millisecond range (2000-01-01 .. 2100-01-01): a seconds value or garbage is refused
# instead of silently landing in 1970.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000


class BadItem(Exception):
    """One item of a payload cannot be used; the message says which field and why."""


@dataclass
class Parsed(Generic[T]):
    """The usable rows of a payload and why the others were skipped."""

    rows: list[T] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse_items(items: Iterable[Any], parse_one: Callable[[Any], T | None]) -> Parsed[T]:
    """Apply ``parse_one`` to every item; keep its rows, skip (with the reason) those raising BadItem.

    ``parse_one`` returns None for an item that is fine but not wanted (an unwatched symbol).
    """
    parsed: Parsed[T] = Parsed()
    for item in items:
        try:
            row = parse_one(item)
        except BadItem as exc:
            parsed.skipped.append(str(exc))
            continue
        if row is not None:
            parsed.rows.append(row)
    return parsed


class Unsure(enum.Enum):
    """What a fast reader (``parse_items_fast``) returns for an item it cannot vouch for."""

    UNSURE = "unsure"


UNSURE: Final = Unsure.UNSURE
# Fast readers are written not to raise; should one still do so on an odd item, the strict reader decides.
_FAST_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)


def parse_items_fast(
    items: Iterable[Any],
    fast: Callable[..., T | Unsure | None],
    strict: Callable[..., T | None],
    *context: Any,
) -> Parsed[T]:
    """Like ``parse_items``, trying ``fast`` first and ``strict`` on any item ``fast`` returns UNSURE for.

    Both are called as ``reader(item, *context)``. ``fast`` reads a well-formed item with plain dict lookups
    and type checks and must return exactly what ``strict`` returns for every item it accepts
    (tests/feeds/test_fast_parsers.py checks it on arbitrary and garbled payloads); anything unusual goes to
    ``strict``, which says what is wrong. Reading every field through ``get``/``num``/``ts_ms`` was a fifth
    of a liquidation's ingest cost (bench.ingest, py-spy).
    """
    parsed: Parsed[T] = Parsed()
    rows = parsed.rows
    for item in items:
        try:
            fast_row = fast(item, *context)
        except _FAST_ERRORS:
            fast_row = UNSURE
        if fast_row is UNSURE:
            try:
                row = strict(item, *context)
            except BadItem as exc:
                parsed.skipped.append(str(exc))
                continue
        else:
            row = fast_row
        if row is not None:
            rows.append(row)
    return parsed


def fast_ts(value: Any) -> int | None:
    """Return a plausible epoch-ms time given as an int or a string of ASCII digits, else None.

    Accepts a subset of what ``ts_ms`` accepts, with the same result.
    """
    if type(value) is str:
        if not (value.isdigit() and value.isascii() and len(value) <= 20):
            return None
        value = int(value)
    elif type(value) is not int:
        return None
    return value if MIN_TS_MS <= value < MAX_TS_MS else None


def fast_positive(value: Any) -> float | None:
    """Return a finite positive number given as a decimal string, else None (a subset of ``num``)."""
    if type(value) is not str:
        return None
    try:
        result = float(value)
    except ValueError:
        return None
    return result if 0.0 < result < math.inf else None


def obj(value: Any, what: str = "item") -> dict[str, Any]:
    """Return the value if it is a JSON object, else raise BadItem."""
    if not isinstance(value, dict):
        raise BadItem(f"{what} is {type(value).__name__}, not an object")
    return value


def get(item: Any, name: str) -> Any:
    """Return a present, non-null field of an object."""
    data = obj(item)
    if name not in data:
        raise BadItem(f"missing field {name!r}")
    value = data[name]
    if value is None:
        raise BadItem(f"field {name!r} is null")
    return value


def text(item: Any, name: str) -> str:
    """Return a non-empty string field."""
    value = get(item, name)
    if not isinstance(value, str) or not value:
        raise BadItem(f"field {name!r} is not a non-empty string: {_show(value)}")
    return value


def number(value: Any, name: str) -> float:
    """Convert an exchange number (a decimal string or a JSON number) to a finite float."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadItem(f"field {name!r} is not a number: {_show(value)}")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise BadItem(f"field {name!r} is not a number: {_show(value)}") from None
    if not math.isfinite(result):
        raise BadItem(f"field {name!r} is not finite: {_show(value)}")
    return result


def num(item: Any, name: str, *, positive: bool = False, non_negative: bool = False) -> float:
    """Return a numeric field (string or number), optionally required to be > 0 or >= 0."""
    result = number(get(item, name), name)
    if positive and result <= 0:
        raise BadItem(f"field {name!r} must be positive: {_show(result)}")
    if non_negative and result < 0:
        raise BadItem(f"field {name!r} must not be negative: {_show(result)}")
    return result


def integer(value: Any, name: str) -> int:
    """Convert an integer given as a JSON integer or a string of digits."""
    if isinstance(value, bool):
        raise BadItem(f"field {name!r} is not an integer: {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and len(value) <= 20 and value.strip().lstrip("-").isascii():
        try:
            return int(value)
        except ValueError:
            pass
    raise BadItem(f"field {name!r} is not an integer: {_show(value)}")


def ts_ms(item: Any, name: str) -> int:
    """Return a plausible epoch-milliseconds field (integer or digit string)."""
    return check_ts(integer(get(item, name), name), name)


def check_ts(value: int, name: str) -> int:
    """Refuse a timestamp outside 2000..2100 (seconds where ms were expected, or garbage)."""
    if not MIN_TS_MS <= value < MAX_TS_MS:
        raise BadItem(f"field {name!r} is not a plausible epoch-ms time: {value}")
    return value


def items_list(payload: Any, what: str) -> list[Any]:
    """Return the payload if it is a list, else raise PayloadError (the response as a whole is wrong)."""
    if not isinstance(payload, list):
        raise PayloadError(f"{what}: expected a list, got {type(payload).__name__}")
    return payload


def envelope(payload: Any, key: str, what: str) -> Any:
    """Return ``payload[key]`` of a JSON object, else raise PayloadError."""
    if not isinstance(payload, dict) or key not in payload:
        raise PayloadError(f"{what}: expected an object with {key!r}")
    return payload[key]


def _show(value: Any) -> str:
    text_value = repr(value)
    return text_value if len(text_value) <= 40 else text_value[:39] + "…"


# --- symbols ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def okx_symbol(inst_id: str) -> str:
    """Return the config form of an OKX instrument id: ``BTC-USDT-SWAP`` -> ``BTCUSDT``."""
    base = inst_id.upper()
    for suffix in ("-SWAP",):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return base.replace("-", "")


def split_quote(symbol: str) -> tuple[str, str] | None:
    """Split ``BTCUSDT`` into (``BTC``, ``USDT``) for the quotes the spot fallbacks know.

    Longest quote first: ``BTCFDUSD`` is BTC/FDUSD and ``BTCTUSD`` BTC/TUSD, not BTCFD/USD or BTCT/USD.
    """
    for quote in ("FDUSD", "TUSD", "USDT", "USDC", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return None
