"""ReadBounds: the longest window each symbol's loaded rules read, kept as rules come and go."""

from __future__ import annotations

from detectors.read_bounds import EVERY_SYMBOL, EVERYTHING, ReadBounds


def test_the_longest_window_follows_the_rules_added_and_removed() -> None:
    bounds = ReadBounds()
    assert bounds.add("a", ["BTC"], {"1h": 10, "funding": 5}) == {"BTC"}
    assert bounds.add("b", ["BTC", "ETH"], {"1h": 30}) == {"BTC", "ETH"}
    assert bounds.add("c", ["BTC"], {"1h": 30}) == set()  # no longer window: nothing to do
    assert bounds.of("BTC") == {"1h": 30, "funding": 5}
    assert bounds.remove("b") == {"ETH"}  # BTC still has c's 30
    assert bounds.of("BTC") == {"1h": 30, "funding": 5}
    assert bounds.of("ETH") == {}
    assert bounds.remove("c") == {"BTC"}
    assert bounds.of("BTC") == {"1h": 10, "funding": 5}
    assert bounds.remove("missing") == set()


def test_a_rule_added_again_replaces_what_it_read() -> None:
    bounds = ReadBounds()
    bounds.add("a", ["BTC"], {"1h": 50})
    bounds.add("a", ["BTC"], {"1h": 20})
    assert bounds.of("BTC") == {"1h": 20}


def test_unknown_reads_and_reads_of_every_symbol() -> None:
    bounds = ReadBounds()
    bounds.add("plugin", ["SOL"], None)
    assert EVERYTHING in bounds.of("SOL")
    bounds.add("all-markets", [EVERY_SYMBOL], {"liquidations": 7})
    bounds.add("btc", ["BTC"], {"liquidations": 3, "1m": 4})
    assert bounds.of("BTC") == {"liquidations": 7, "1m": 4}
    assert bounds.of("XRP") == {"liquidations": 7}
    assert bounds.clear() == {"SOL", EVERY_SYMBOL, "BTC"}
    assert bounds.of("BTC") == {}
