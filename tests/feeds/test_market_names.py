"""Market names as members and config files write them, made canonical without any instrument list."""

from __future__ import annotations

import pytest

from feeds.markets import canonical_symbol


@pytest.mark.parametrize(
    ("written", "symbol"),
    [
        ("1000PEPEUSDT", "PEPEUSDT"),
        ("SHIB1000USDT", "SHIBUSDT"),
        ("SHIB", "SHIBUSDT"),
        ("pepe", "PEPEUSDT"),
        ("PEPE-USDT-SWAP", "PEPEUSDT"),
        ("ETH/USDT", "ETHUSDT"),
        ("BTCFDUSD", "BTCFDUSD"),
        ("1000000MOGUSDT", "MOGUSDT"),
        ("SOLUSTD", "SOLUSTD"),  # no known quote and too long for a bare coin: left for the lists to judge
    ],
)
def test_canonical_symbol(written: str, symbol: str) -> None:
    assert canonical_symbol(written) == symbol
