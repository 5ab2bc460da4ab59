"""Market names in the config are made canonical everywhere they are written, and said where."""

from __future__ import annotations

from bot.config import canonicalise_config_data, parse_config


def test_config_names_are_made_canonical_everywhere_and_said_where() -> None:
    data = {
        "symbols": ["BTCUSDT", "1000PEPEUSDT", "SHIB"],
        "rules": [{"id": "p", "detector": "level_cross", "symbol": "1000PEPEUSDT", "level": 0.00002}],
        "discord": {"presence_symbol": "SHIB"},
    }
    fixed, renamed = canonicalise_config_data(data)
    assert fixed["symbols"] == ["BTCUSDT", "PEPEUSDT", "SHIBUSDT"] and data["symbols"][1] == "1000PEPEUSDT"
    assert [str(r) for r in renamed] == [
        "symbols[1]: 1000PEPEUSDT is read as PEPEUSDT (prices and sizes per coin)",
        "symbols[2]: SHIB is read as SHIBUSDT (prices and sizes per coin)",
        "rules[0].symbol: 1000PEPEUSDT is read as PEPEUSDT (prices and sizes per coin)",
        "discord.presence_symbol: SHIB is read as SHIBUSDT (prices and sizes per coin)",
    ]
    config = parse_config(data)
    assert config.symbols == ["BTCUSDT", "PEPEUSDT", "SHIBUSDT"] and config.rules[0]["symbol"] == "PEPEUSDT"
