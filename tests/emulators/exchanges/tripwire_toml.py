"""The ``[feeds.*]`` tables of a Tripwire config that point every feed at a running emulator.

Keys are those of ``feeds.config.FeedsConfig``, so the snippet passes ``tripwire check-config``. The
Binance futures ``ws_url`` is the ``/market`` base: the feed appends ``/ws/!forceOrder@arr`` itself.
Gate, HTX, Deribit and Hyperliquid keep their default (off); a config switches them on.
"""

from __future__ import annotations


def tripwire_feeds_toml(base_url: str, ws_url: str) -> str:
    """Return TOML for every feed section, with each base URL on the emulator."""
    return f"""\
# Tripwire feeds pointed at the local exchange emulator
[feeds.binance_spot]
base_url = "{base_url}"

[feeds.coinbase]
base_url = "{base_url}"

[feeds.kraken]
base_url = "{base_url}"

[feeds.binance_futures]
rest_url = "{base_url}"
ws_url = "{ws_url}/market"

[feeds.bybit]
rest_url = "{base_url}"
ws_url = "{ws_url}/v5/public/linear"

[feeds.okx]
rest_url = "{base_url}"
ws_url = "{ws_url}/ws/v5/public"

[feeds.gate]
rest_url = "{base_url}"
ws_url = "{ws_url}/v4/ws/usdt"

[feeds.htx]
ws_url = "{ws_url}/linear-swap-notification"

[feeds.deribit]
ws_url = "{ws_url}/ws/api/v2"

[feeds.hyperliquid]
ws_url = "{ws_url}/hyperliquid/ws"

[feeds.fear_greed]
base_url = "{base_url}"
"""
