"""The emulator's config snippet is a valid Tripwire config (test_scheduler.py in tests/feeds runs on it)."""

from __future__ import annotations

import tomllib

from bot.config import parse_config
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml


def test_snippet_is_a_valid_tripwire_feeds_section() -> None:
    data = tomllib.loads(
        'symbols = ["BTCUSDT"]\n' + tripwire_feeds_toml("http://127.0.0.1:8766", "ws://127.0.0.1:8766")
    )
    config = parse_config(data)
    feeds = config.feeds
    assert feeds.binance_spot.base_url == feeds.coinbase.base_url == "http://127.0.0.1:8766"
    assert feeds.binance_futures.ws_url == "ws://127.0.0.1:8766/market"
    assert feeds.okx.ws_url.endswith("/ws/v5/public") and feeds.bybit.ws_url.endswith("/v5/public/linear")
    assert feeds.fear_greed.base_url == feeds.okx.rest_url == feeds.bybit.rest_url == "http://127.0.0.1:8766"
