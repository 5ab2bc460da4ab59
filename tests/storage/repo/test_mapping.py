"""Row mappers: built from a row type's fields, they name every column of its table and convert both ways."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from storage.db import open_database
from storage.repo import mapping
from storage.repo.mapping import RowMapper
from storage.rows import Candle, DigestRow, GuildSettingsRow, RuleRow

TABLES = {
    "CANDLES": "candles",
    "FUNDING": "funding",
    "RULES": "rules",
    "ALERT_STATES": "alert_state",
    "EVENTS": "alert_events",
    "OUTBOX": "outbox",
    "SILENCES": "silences",
    "GROUPS": "message_groups",
    "GUILD_SETTINGS": "guild_settings",
    "DIGESTS": "digests",
    "NOTICES": "member_notices",
    "INSTRUMENTS": "instruments",
}


@pytest.fixture
def columns() -> Iterator[dict[str, set[str]]]:
    db = open_database(":memory:")
    yield {
        table: {row[1] for row in db.conn.execute(f"PRAGMA table_info({table})")} for table in TABLES.values()
    }
    db.conn.close()


@pytest.mark.parametrize("name", sorted(TABLES))
def test_each_mapper_names_exactly_its_tables_columns(name: str, columns: dict[str, set[str]]) -> None:
    mapper: RowMapper[object] = getattr(mapping, name)
    # A field the migrations never created, or a column the type forgot, fails here, not in a query.
    assert set(mapper.names) == columns[TABLES[name]]
    assert len(mapper.names) == len(set(mapper.names))


def test_values_and_rows_convert_bools_json_and_comma_lists_both_ways() -> None:
    rule = RuleRow("r1", "discord", "level_cross", "BTCUSDT", {"level": 95000.0}, repeat=False, enabled=True)
    stored = mapping.RULES.values(rule)
    assert stored[4] == '{"level":95000.0}' and stored[11] == 0 and stored[15] == 1
    assert mapping.RULES(stored) == rule
    digest = DigestRow(3, 1, 2, 480, 24, 127, ("prices", "liquidations"), 0, enabled=False)
    assert mapping.DIGESTS.values(digest)[6] == "prices,liquidations"
    assert mapping.DIGESTS(mapping.DIGESTS.values(digest)) == digest
    empty = mapping.DIGESTS([*mapping.DIGESTS.values(digest)[:6], "", *mapping.DIGESTS.values(digest)[7:]])
    assert empty.contents == ()
    settings = GuildSettingsRow(1, None, 5, {"b": 1, "a": [1, 2]}, 9)
    assert mapping.GUILD_SETTINGS.values(settings)[3] == '{"a":[1,2],"b":1}'  # sorted keys: stable rows
    assert mapping.GUILD_SETTINGS(mapping.GUILD_SETTINGS.values(settings)) == settings


def test_named_tuple_rows_map_by_field_order_and_renamed_fields_keep_their_column() -> None:
    row = ("BTCUSDT", "1m", 0, "binance", 1.0, 2.0, 0.5, 1.5, 3.0, None, 1)
    candle = mapping.CANDLES(row)
    assert candle == Candle("BTCUSDT", "1m", 0, "binance", 1.0, 2.0, 0.5, 1.5, 3.0, None, True)
    assert candle.closed is True
    assert "values_json" in mapping.EVENTS.names and "values" not in mapping.EVENTS.names
    assert mapping.EVENTS.marks == ",".join("?" * len(mapping.EVENTS.names))


class _Named:
    """A value JSON cannot encode: stored as its str() (``default=str``)."""

    def __str__(self) -> str:
        return "named \u00e9"


@pytest.mark.parametrize(
    "value",
    [
        {"t": 1767245340000, "off": ["above", "below"], "latch": {}},
        {"b": 1, "a": [1.5, 2e-7, 1e22, -0.0, True, None, 'é\n"\u2603', {"z": {}, "y": []}], "c": _Named()},
        {3: "int keys sort too", 1: (1, "tuple")},
        "a string alone",
        12.5,
        [],
    ],
)
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    # dumps builds its C encoder once; the text must stay byte for byte json.dumps's with the same options.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)
    assert mapping.dumps(value) == expected


def test_dumps_writes_non_finite_numbers_as_null_and_refuses_unsortable_keys() -> None:
    assert mapping.dumps({"b": [math.inf], "a": math.nan}) == '{"a":null,"b":[null]}'
    assert mapping.dumps({"ok": 1}) == '{"ok":1}'  # nothing left behind by the failed attempt
    with pytest.raises(TypeError):
        mapping.dumps({"a": 1, 2: 3})  # as json.dumps with sort_keys
