"""What an alert's values are, in words: each value's kind and label, and one formatter per kind.

A detector returns ``Signal.values`` as plain JSON-ready data (numbers in their natural unit: epoch ms, USD,
percent, ...), which is what is stored, sent to programs (``tripwire replay --format jsonl``) and compared in
tests. How a person reads each value is declared once, on the detector class, next to the code that fills
them (``Detector.value_specs``: key -> ``ValueSpec``), with the constructors below::

    value_specs = {
        "usd": values.usd("Liquidated"),
        "window_start": values.time("Window start"),
        "window_minutes": values.duration("Window", unit="minutes"),
        "by_source": values.hidden(),
    }

Every output medium (Discord embeds, ``/why``, replay and console text, digests) formats a value through
``format_value``, which dispatches on the kind; a medium only says how it writes a moment (a Discord
timestamp each reader sees in their own zone, or UTC text). A value that is missing (None, not a finite
number) is left out, never printed as "None". A key a detector did not declare (an alert stored before
the declaration, a plugin without one) is described from its name (``_usd``, ``_pct``, ``_time``, ...)
by ``infer_spec``, so nothing reaches a reader as a raw number or a snake_case name.

Why the declaration is on the class and not inside ``Signal.values`` (say ``{"usd": {"kind": ...}}``):
the values are stored in every alert event and outbox row, printed as JSONL for programs and asserted in
tests, all of which keep their plain shape; a value's kind and label do not change from one alert to the
next, so declaring them once beside the code that fills them is enough, and alerts stored before a
declaration read with it too. The price: an alert of a plugin no longer installed is described from its
keys' names only (``infer_spec``).

The kinds are a closed list on purpose: a new kind of number needs one formatter here, and then reads the
same everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS

# How a medium writes a moment (epoch ms): "2026-01-13 23:00 UTC", or "<t:1768345200:f>" in Discord.
Moment = Callable[[int], str]


class ValueKind(StrEnum):
    """What a value is, which decides how it is written."""

    TIME = "time"  # a moment, epoch ms UTC -> the medium's moment
    DATE = "date"  # a UTC calendar day, "YYYY-MM-DD" (or epoch ms) -> 2026-01-13
    PRICE = "price"  # a price in the quote currency -> $95,000, $3,402.89, $0.04499
    USD = "usd"  # an amount of US dollars -> $109.0M, $950k
    PERCENT = "percent"  # a level in percent (a threshold, a band) -> 3%, 0.5%
    CHANGE = "change"  # a signed change in percent -> +3.27%, -0.15%
    FUNDING = "funding"  # a funding rate in percent per interval -> -0.0039%
    DURATION = "duration"  # a length of time in ``ValueSpec.unit`` -> 1h, 8d 21h
    COUNT = "count"  # a whole number -> 1,402
    RATIO = "ratio"  # how many times another value -> 4.2×, 583×
    AMOUNT = "amount"  # a quantity of the base asset (volume) -> 3,452, 12.50
    OPEN_INTEREST = "open_interest"  # USD or contracts, as a sibling value says -> $9.3B, 81,200 contracts
    NUMBER = "number"  # any other number -> 20,000,000, 0.3
    TEXT = "text"  # words, shown as they are
    HIDDEN = "hidden"  # bookkeeping for programs (kept in JSON, never shown to people)


# Seconds in each unit a DURATION value may be stored in.
DURATION_UNITS: dict[str, float] = {
    "seconds": 1.0,
    "minutes": MINUTE_MS / 1000,
    "hours": HOUR_MS / 1000,
    "days": DAY_MS / 1000,
}


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """How one value reads: its kind, its label in words ("Liquidated", never "usd"), and its unit."""

    kind: ValueKind
    label: str = ""
    # The unit a DURATION value is stored in (a key of DURATION_UNITS).
    unit: str = "seconds"
    # OPEN_INTEREST: the sibling value saying what the number counts ("usd", else contracts).
    basis_key: str = ""

    def __post_init__(self) -> None:
        if self.kind is not ValueKind.HIDDEN and (not self.label or "_" in self.label):
            raise ValueError(f"a shown value needs a label in words, got {self.label!r}")
        if self.unit not in DURATION_UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r}; use one of {', '.join(DURATION_UNITS)}")


ValueSpecs = Mapping[str, ValueSpec]


def time(label: str) -> ValueSpec:
    """Declare a moment stored as epoch ms (UTC)."""
    return ValueSpec(ValueKind.TIME, label)


def date(label: str) -> ValueSpec:
    """Declare a UTC calendar day stored as "YYYY-MM-DD"."""
    return ValueSpec(ValueKind.DATE, label)


def price(label: str) -> ValueSpec:
    """Declare a price in the quote currency."""
    return ValueSpec(ValueKind.PRICE, label)


def usd(label: str) -> ValueSpec:
    """Declare an amount of US dollars."""
    return ValueSpec(ValueKind.USD, label)


def percent(label: str) -> ValueSpec:
    """Declare a level in percent (3 means 3%): a threshold, a band."""
    return ValueSpec(ValueKind.PERCENT, label)


def change(label: str) -> ValueSpec:
    """Declare a signed change in percent (3.2 means +3.2%)."""
    return ValueSpec(ValueKind.CHANGE, label)


def funding(label: str) -> ValueSpec:
    """Declare a funding rate in percent per funding interval (0.01 means +0.0100%)."""
    return ValueSpec(ValueKind.FUNDING, label)


def duration(label: str, unit: str = "seconds") -> ValueSpec:
    """Declare a length of time stored as a number of ``unit`` (seconds, minutes, hours, days)."""
    return ValueSpec(ValueKind.DURATION, label, unit)


def open_interest(label: str, basis_key: str = "basis") -> ValueSpec:
    """Declare open interest, in USD when the value ``basis_key`` is "usd", else in contracts."""
    return ValueSpec(ValueKind.OPEN_INTEREST, label, basis_key=basis_key)


def count(label: str) -> ValueSpec:
    """Declare a whole number (candles, points, an index value)."""
    return ValueSpec(ValueKind.COUNT, label)


def ratio(label: str) -> ValueSpec:
    """Declare how many times one value is another (4.2 reads 4.2×)."""
    return ValueSpec(ValueKind.RATIO, label)


def amount(label: str) -> ValueSpec:
    """Declare a quantity of the base asset (a volume)."""
    return ValueSpec(ValueKind.AMOUNT, label)


def number(label: str) -> ValueSpec:
    """Declare a number that is none of the kinds above."""
    return ValueSpec(ValueKind.NUMBER, label)


def text(label: str) -> ValueSpec:
    """Declare words shown as they are (a side, a classification, a basis)."""
    return ValueSpec(ValueKind.TEXT, label)


def hidden() -> ValueSpec:
    """Declare bookkeeping kept for programs and never shown to people (nested breakdowns, ids)."""
    return ValueSpec(ValueKind.HIDDEN)


# Values every alert may carry, whatever its detector: the direction (its colour says it), and those the
# engine adds to a resolve notice.
COMMON_VALUE_SPECS: ValueSpecs = {
    "direction": hidden(),
    "duration_s": duration("Lasted"),
    "fired_event_id": hidden(),
}


# --- one formatter per kind ----------------------------------------------------------------------------


def _trim(number_text: str) -> str:
    """Drop the zeros after a decimal point, and the point when nothing is left: 3.50 -> 3.5, 3.00 -> 3."""
    return number_text.rstrip("0").rstrip(".") if "." in number_text else number_text


def format_number(value: float) -> str:
    """Write a number for people, never in Python's repr: 20,000,000, 1,402, 4.22, 0.00386."""
    if float(value).is_integer():
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return _trim(f"{value:,.2f}")
    # Three significant digits, written out (never 3.9e-05).
    decimals = 2 - math.floor(math.log10(magnitude))
    return _trim(f"{value:.{decimals}f}")


def format_price(value: float) -> str:
    """Format a price the way traders write it: $95,000, $3,402.89, $250 or $0.04499."""
    if abs(value) >= 1:
        text = f"{value:,.2f}"
        return "$" + (text[:-3] if text.endswith(".00") else text)
    if value == 0:
        return "$0"
    # Six significant digits, written out (never $1.2e-05).
    decimals = 5 - math.floor(math.log10(abs(value)))
    return "$" + _trim(f"{value:.{decimals}f}")


def format_usd(value: float) -> str:
    """Format a USD amount compactly: $109.0M, $2.4B, $950k, $40."""
    magnitude = abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= size:
            return f"${value / size:,.1f}{unit}"
    return f"${value:,.0f}"


def format_percent(value: float) -> str:
    """Format a level in percent: 3%, 0.5%, 0.25%."""
    return _trim(f"{value:,.2f}") + "%"


def format_change(value: float, decimals: int = 2) -> str:
    """Format a signed change in percent: +3.27%, -0.15%."""
    return f"{value:+,.{decimals}f}%"


def format_funding(value_pct: float) -> str:
    """Format a funding rate given in percent the way venues show it: +0.0100%."""
    return f"{value_pct:+.4f}%"


def format_duration(seconds: float) -> str:
    """Format seconds compactly for people: ``45s``, ``15m``, ``2h 30m``, ``3d 4h``, ``2w``."""
    remaining = round(seconds)
    if remaining <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def format_count(value: float) -> str:
    """Format a whole number: 1,402."""
    return f"{round(value):,}"


def format_ratio(value: float) -> str:
    """Format a multiple: 4.2×, 73.6×, 583×."""
    return f"{value:,.1f}×" if abs(value) < 100 else f"{value:,.0f}×"


def format_amount(value: float) -> str:
    """Format a base-asset amount (volume): 3,452 or 12.50."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def utc_text(ms: int) -> str:
    """Write a moment as UTC text: ``2026-01-13 23:00 UTC`` (seconds only when it has some)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if moment.second else "%Y-%m-%d %H:%M UTC")


def utc_date(ms: int) -> str:
    """Return the UTC date of a moment as YYYY-MM-DD."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


_NUMBER_FORMATTERS: dict[ValueKind, Callable[[float], str]] = {
    ValueKind.PRICE: format_price,
    ValueKind.USD: format_usd,
    ValueKind.PERCENT: format_percent,
    ValueKind.CHANGE: format_change,
    ValueKind.FUNDING: format_funding,
    ValueKind.COUNT: format_count,
    ValueKind.RATIO: format_ratio,
    ValueKind.AMOUNT: format_amount,
    ValueKind.NUMBER: format_number,
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _format_number_of(spec: ValueSpec, value: float, moment: Moment, siblings: Mapping[str, Any]) -> str:
    if spec.kind is ValueKind.OPEN_INTEREST:
        return (
            format_usd(value) if siblings.get(spec.basis_key) == "usd" else f"{format_count(value)} contracts"
        )
    if spec.kind is ValueKind.TIME:
        return moment(int(value))
    if spec.kind is ValueKind.DATE:
        return utc_date(int(value))
    if spec.kind is ValueKind.DURATION:
        return format_duration(value * DURATION_UNITS[spec.unit])
    return _NUMBER_FORMATTERS.get(spec.kind, format_number)(value)


def format_value(
    spec: ValueSpec, value: Any, moment: Moment = utc_text, siblings: Mapping[str, Any] | None = None
) -> str | None:
    """Write ``value`` as its kind reads, or return None when it is missing or hidden (leave it out).

    ``siblings`` are the alert's other values (a kind may depend on one: open interest's basis). A value
    of an unexpected type is still written readably (words as they are, numbers by ``format_number``); a
    mapping (a breakdown by symbol or source) is written entry by entry, a list of plain values item by
    item (nested lists and mappings inside it are left out).
    """
    if spec.kind is ValueKind.HIDDEN or value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _format_number_of(spec, value, moment, siblings or {}) if _is_number(value) else None
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        parts = [(key, format_value(spec, item, moment, siblings)) for key, item in value.items()]
        shown = [f"{key} {text}" for key, text in parts if text is not None]
        return ", ".join(shown) or None
    if isinstance(value, list | tuple):
        # A declared list of plain values (the last closes an indicator read) reads item by item, in order.
        flat = [item for item in value if not isinstance(item, Mapping | list | tuple)]
        items = [format_value(spec, item, moment, siblings) for item in flat]
        return ", ".join(text for text in items if text is not None) or None
    return None  # other nested data is for programs


# --- values without a declaration ----------------------------------------------------------------------

_INFERRED: tuple[tuple[str, ValueKind, str, bool], ...] = (
    # (suffix, kind, duration unit, whether the label drops the suffix: it does when the value shows its
    # unit, "$2.1M" or "15m", and keeps it when the suffix is a word, "From time").
    ("_usd", ValueKind.USD, "seconds", True),
    ("_pct", ValueKind.CHANGE, "seconds", True),
    ("_price", ValueKind.PRICE, "seconds", False),
    ("_time", ValueKind.TIME, "seconds", False),
    ("_at", ValueKind.TIME, "seconds", False),
    ("_start", ValueKind.TIME, "seconds", False),
    ("_end", ValueKind.TIME, "seconds", False),
    ("_seconds", ValueKind.DURATION, "seconds", True),
    ("_s", ValueKind.DURATION, "seconds", True),
    ("_minutes", ValueKind.DURATION, "minutes", True),
    ("_hours", ValueKind.DURATION, "hours", True),
    ("_days", ValueKind.DURATION, "days", True),
    ("_date", ValueKind.DATE, "seconds", False),
)
# Whole keys that name their kind.
_INFERRED_KEYS: dict[str, ValueKind] = {
    "usd": ValueKind.USD,
    "price": ValueKind.PRICE,
    "level": ValueKind.PRICE,
    "step": ValueKind.PRICE,
    "high": ValueKind.PRICE,
    "low": ValueKind.PRICE,
    "open": ValueKind.PRICE,
    "close": ValueKind.PRICE,
    "date": ValueKind.DATE,
    "ratio": ValueKind.RATIO,
}
_WORD_SPLIT = re.compile(r"[_\s]+")


def label_from_key(key: str) -> str:
    """Turn a key into a label in words: ``previous_regime`` -> "Previous regime"."""
    words = _WORD_SPLIT.sub(" ", key).strip()
    return (words[:1].upper() + words[1:]) if words else "Value"


def _time_like(value: Any) -> bool:
    # Epoch ms after 2001-09-09: a smaller number under a time-like name is not a moment.
    return _is_number(value) and value >= 1e12


def infer_spec(key: str, value: Any) -> ValueSpec:
    """Describe a value its detector did not declare, from its key's name and its type.

    Nested data nobody declared (a breakdown, a list) is hidden: only a declaration says how it reads.
    """
    if isinstance(value, Mapping | list | tuple):
        return hidden()
    if key in _INFERRED_KEYS:
        kind = _INFERRED_KEYS[key]
        label = {"usd": "Amount"}.get(key, label_from_key(key))
        if kind is not ValueKind.DATE or isinstance(value, str) or _time_like(value):
            return ValueSpec(kind, label)
    for suffix, kind, unit, drop in _INFERRED:
        if key.endswith(suffix) and len(key) > len(suffix):
            if kind in (ValueKind.TIME, ValueKind.DATE) and not (isinstance(value, str) or _time_like(value)):
                continue
            return ValueSpec(kind, label_from_key(key[: -len(suffix)] if drop else key), unit)
    if _time_like(value) and isinstance(value, int):
        return ValueSpec(ValueKind.TIME, label_from_key(key))
    kind = ValueKind.TEXT if isinstance(value, str) else ValueKind.NUMBER
    return ValueSpec(kind, label_from_key(key))


def spec_of(key: str, value: Any, specs: ValueSpecs) -> ValueSpec:
    """Return how ``key`` reads: its declaration in ``specs`` (or the common ones), else inferred."""
    found = specs.get(key) or COMMON_VALUE_SPECS.get(key)
    return found if found is not None else infer_spec(key, value)


def shown_values(
    values: Mapping[str, Any], specs: ValueSpecs, moment: Moment = utc_text
) -> list[tuple[str, str]]:
    """Return (label, text) of each value a person reads, declared ones first in declaration order.

    Hidden and missing values are left out; values nobody declared follow, described from their names.
    """
    declared = [key for key in specs if key in values]
    rest = [key for key in values if key not in specs]
    shown: list[tuple[str, str]] = []
    for key in declared + rest:
        spec = spec_of(key, values[key], specs)
        text = format_value(spec, values[key], moment, values)
        if text is not None:
            shown.append((spec.label, text))
    return shown
