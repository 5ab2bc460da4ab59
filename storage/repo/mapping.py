"""Row mappers built from a row type's field order: one SELECT list and one converter per table.

A row type's fields are its table's columns, in order (see ``storage.rows``), so the column list a query
selects and the conversion of each value back (0/1 to bool, JSON text to dict, a comma list to a tuple)
follow from the type alone; a field stored under another name is the only thing said by hand.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Generic, TypeVar, get_args, get_origin, get_type_hints

from storage.rows import (
    AlertEventRow,
    AlertStateRow,
    Candle,
    DigestRow,
    Funding,
    GuildSettingsRow,
    InstrumentRow,
    MemberNoticeRow,
    MessageGroupRow,
    OutboxRow,
    RuleRow,
    SilenceRow,
    WebhookRouteRow,
)

T = TypeVar("T")


# sort_keys makes stored JSON stable, so two runs of the same replay produce identical rows.
_OPTIONS: dict[str, Any] = {"sort_keys": True, "separators": (",", ":"), "default": str}


def _make_encode() -> Callable[[Any], str]:
    """Return a function encoding a value exactly as ``json.dumps(value, **_OPTIONS, allow_nan=False)``.

    ``json.dumps`` with options builds a new encoder, and the encoder a new C encoder, at every call: more
    than half the cost of encoding a small detector state, which the engine does for every rule after every
    evaluation (issue 18's indicator rules, every minute). The C encoder ``json`` itself uses is built once
    here with the same arguments, so the text is the same; it keeps no state between calls (no circular
    reference markers: a state cannot refer to itself, and such a value fails either way).
    """
    encoder = json.JSONEncoder(**_OPTIONS, allow_nan=False)
    if c_make_encoder is None:  # an interpreter without the C accelerator: the pure-Python path
        return encoder.encode
    iterencode = c_make_encoder(
        None,
        str,
        encode_basestring_ascii,
        None,
        ":",
        ",",
        True,
        False,
        False,  # sort_keys, !skipkeys, !nan
    )

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encode_basestring_ascii(value)
        return "".join(iterencode(value, 0))

    return encode


_encode = _make_encode()


def dumps(value: Any) -> str:
    """Return ``value`` as the JSON text stored for it (a non-finite number becomes null)."""
    try:
        return _encode(value)
    except ValueError:
        # Python would write Infinity/NaN, which is not JSON: SQLite's json_extract then fails on the whole
        # query ("malformed JSON"), and one inf in one alert's payload broke /history for every server.
        return json.dumps(_finite(value), **_OPTIONS)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _split_csv(value: Any) -> tuple[str, ...]:
    return tuple(part for part in str(value).split(",") if part)


def _readers(hint: Any) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any] | None]:
    """Return (from the column, to the column) for a field's type; None where the value passes as is."""
    if hint is bool:
        return bool, int
    if get_origin(hint) is dict:
        return json.loads, dumps
    if get_origin(hint) is tuple and get_args(hint) == (str, ...):
        return _split_csv, ",".join
    return None, None


def _field_names(cls: type[Any]) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return list(cls._fields)  # a NamedTuple


class RowMapper(Generic[T]):
    """Reads (and writes) one row type in its field order; ``renamed`` maps a field to its column.

    ``interned`` names text fields whose few distinct values repeat across rows (a rule's detector, symbol,
    origin): read, each is the one shared string (``sys.intern``), not a copy per row.
    """

    def __init__(
        self, cls: type[T], renamed: Mapping[str, str] | None = None, *, interned: tuple[str, ...] = ()
    ) -> None:
        names = _field_names(cls)
        hints = get_type_hints(cls)
        renamed = renamed or {}
        self._cls = cls
        self.names = tuple(renamed.get(name, name) for name in names)
        # The SELECT (and INSERT) column list, in field order.
        self.columns = ", ".join(self.names)
        # One placeholder per column, for an INSERT of every column.
        self.marks = ",".join("?" * len(self.names))
        converters = [(sys.intern, None) if name in interned else _readers(hints[name]) for name in names]
        self._from_db = [(i, c[0]) for i, c in enumerate(converters) if c[0] is not None]
        self._to_db = [(i, c[1]) for i, c in enumerate(converters) if c[1] is not None]
        self._attrs = tuple(names)

    def __call__(self, row: Sequence[Any]) -> T:
        """Return the row type built from one fetched row of ``columns``."""
        if not self._from_db:
            return self._cls(*row)
        values = list(row)
        for i, convert in self._from_db:
            values[i] = convert(values[i])
        return self._cls(*values)

    def values(self, item: T) -> list[Any]:
        """Return ``item``'s values as stored, in ``columns`` order (the parameters of an INSERT)."""
        values = [getattr(item, name) for name in self._attrs]
        for i, convert in self._to_db:
            values[i] = convert(values[i])
        return values


CANDLES = RowMapper(Candle)
FUNDING = RowMapper(Funding)
# 20,000 loaded rules hold 5 strings each that a few values repeat (bench.memory, issue 24).
RULES = RowMapper(RuleRow, interned=("origin", "detector", "symbol", "deliver", "resolve_notice"))
ALERT_STATES = RowMapper(AlertStateRow)
EVENTS = RowMapper(AlertEventRow, {"values": "values_json", "rule": "rule_json"})
OUTBOX = RowMapper(OutboxRow)
SILENCES = RowMapper(SilenceRow)
GROUPS = RowMapper(MessageGroupRow)
GUILD_SETTINGS = RowMapper(GuildSettingsRow)
DIGESTS = RowMapper(DigestRow)
NOTICES = RowMapper(MemberNoticeRow)
INSTRUMENTS = RowMapper(InstrumentRow)
WEBHOOK_ROUTES = RowMapper(WebhookRouteRow)
