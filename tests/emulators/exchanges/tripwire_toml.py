"""The ``[feeds.*]`` tables of a Tripwire config that point every feed at a running emulator.

Keys are those of ``feeds.config.FeedsConfig``, so the snippet passes ``tripwire check-config``. The
Binance futures ``ws_url`` is the ``/market`` base: the feed appends ``/ws/!forceOrder@arr`` itself.

``write_config`` writes them into a config file, so nothing has to be pasted by hand: a new file starts
as ``config.example.toml``; an existing one keeps everything (comments included, through tomlkit) but
the feeds' URLs, which are pointed at the emulator.
"""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.items import Table

EXAMPLE_CONFIG = Path(__file__).resolve().parents[3] / "config.example.toml"


def feed_urls(base_url: str, ws_url: str) -> dict[str, dict[str, str]]:
    """Return, per feed section, the URL options that point it at the emulator."""
    return {
        "binance_spot": {"base_url": base_url, "ws_url": ws_url},
        "coinbase": {"base_url": base_url},
        "kraken": {"base_url": base_url},
        "binance_futures": {"rest_url": base_url, "ws_url": f"{ws_url}/market"},
        "bybit": {"rest_url": base_url, "ws_url": f"{ws_url}/v5/public/linear"},
        "okx": {"rest_url": base_url, "ws_url": f"{ws_url}/ws/v5/public"},
        # Gate, HTX, Deribit and Hyperliquid keep their default (off); a config switches them on.
        "gate": {"rest_url": base_url, "ws_url": f"{ws_url}/v4/ws/usdt"},
        "htx": {"ws_url": f"{ws_url}/linear-swap-notification"},
        "deribit": {"ws_url": f"{ws_url}/ws/api/v2"},
        "hyperliquid": {"rest_url": base_url, "ws_url": f"{ws_url}/hyperliquid/ws"},
        "fear_greed": {"base_url": base_url},
        "positioning": {
            "binance_url": base_url,
            "bybit_url": base_url,
            "deribit_url": base_url,
            "hyperliquid_url": base_url,
            "okx_url": base_url,
            "gate_url": base_url,
        },
        # Off by default (it needs TRIPWIRE_ETF_API_KEY: the emulator's is etf.API_KEY).
        "etf": {"base_url": base_url},
    }


def tripwire_feeds_toml(base_url: str, ws_url: str) -> str:
    """Return TOML for every feed section, with each base URL on the emulator."""
    tables = [
        f"[feeds.{feed}]\n" + "".join(f'{key} = "{url}"\n' for key, url in urls.items())
        for feed, urls in feed_urls(base_url, ws_url).items()
    ]
    return "# Tripwire feeds pointed at the local exchange emulator\n" + "\n".join(tables)


def write_config(path: Path, base_url: str, ws_url: str, template: Path = EXAMPLE_CONFIG) -> bool:
    """Point the feeds of the config at ``path`` at the emulator; return True when the file was new.

    A missing file is created from ``template``; in an existing one only the feeds' URL options change.
    """
    created = not path.exists()
    doc = tomlkit.parse((template if created else path).read_text(encoding="utf-8"))
    feeds = doc.get("feeds")
    if feeds is None:
        feeds = tomlkit.table(is_super_table=True)
        doc["feeds"] = feeds
    for feed, urls in feed_urls(base_url, ws_url).items():
        table = feeds.get(feed)
        if table is None:
            table = tomlkit.table()
            feeds[feed] = table
        assert isinstance(table, Table)
        for key, url in urls.items():
            table[key] = url
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return created
