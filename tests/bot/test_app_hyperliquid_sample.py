"""The live app with [liqmap.hyperliquid] on: accounts found in the trades stream, their positions stored.

The exchange emulator serves Hyperliquid's websocket and POST /info; the trades pushed name SYNTHETIC
accounts (made-up addresses) the emulator answers stand-in states for, at its shifted "now" prices.
"""

from __future__ import annotations

import io
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.config import ConfigError, Secrets, parse_config
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")
ACCOUNTS = [f"0x{i:040x}" for i in range(1, 11)]


def config(emu: ExchangeEmulator, db: Path, *, sample: bool = True) -> Any:
    feeds: dict[str, dict[str, Any]] = tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url))["feeds"]
    for name, section in feeds.items():
        section["enabled"] = name == "hyperliquid"
    feeds["limits"] = {"correct_clock": False}
    # 10 accounts a minute within the IP's whole allowance: a round takes about two seconds here.
    plan = {"enabled": sample, "max_accounts": 10, "poll_minutes": 1, "budget_weight_per_minute": 1200}
    return parse_config(
        {
            "symbols": list(SYMBOLS),
            "storage": {"path": str(db)},
            "feeds": feeds,
            "liqmap": {"hyperliquid": plan},
        }
    )


def rounds(app: App, symbol: str) -> int:
    assert app.parts is not None
    return len(app.parts.repo.measured_samples("hyperliquid", symbol, 0, 2**62))


async def test_the_app_samples_accounts_from_the_trades_stream_and_stores_btc_and_eth(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    app = App(config(emu, tmp_path / "sample.db"), Secrets(), token=None, console=io.StringIO())
    await app.start()
    try:
        await emu.wait_ws("hyperliquid", subscribed="ETH", within=10)
        now = time.time_ns() // 1_000_000
        for coin in ("BTC", "ETH"):
            fills = [
                {"coin": coin, "side": "B", "px": "1.0", "sz": "1.0", "time": now, "hash": "0x0", "tid": i,
                 "users": [ACCOUNTS[i], ACCOUNTS[(i + 5) % 10]]}
                for i in range(5)
            ]  # fmt: skip
            await emu.hyperliquid.push(fills)
        await wait_for(lambda: rounds(app, "BTCUSDT") and rounds(app, "ETHUSDT"), within=20, what="a round")
        assert app.parts is not None
        repo: Repo = app.parts.repo
        for symbol in SYMBOLS:
            (sample,) = repo.measured_samples("hyperliquid", symbol, 0, 2**62)
            assert sample.accounts_read == 10 and sample.accounts > 0 and sample.coverage > 0
            positions = repo.measured_positions("hyperliquid", symbol, sample.hour)
            assert {p.user for p in positions} <= set(ACCOUNTS) and len(positions) == sample.accounts
            assert any(p.liquidation_px is not None for p in positions)
        served = emu.hyperliquid_info.served
        assert served["metaAndAssetCtxs"] >= 1 and served["clearinghouseState"] >= 10
        assert emu.hyperliquid_info.weight.refused == 0
        health = app.parts.health.get("hyperliquid.positions").snapshot()
        assert health.state.value == "ok"
    finally:
        await app.stop()


async def test_the_sample_needs_the_trades_stream(make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    emu = await make_emulator()
    raw = config(emu, tmp_path / "x.db")
    data = raw.model_dump()
    data["feeds"]["hyperliquid"]["enabled"] = False
    with pytest.raises(ConfigError, match=r"set \[feeds.hyperliquid\] enabled = true too"):
        parse_config(data)
