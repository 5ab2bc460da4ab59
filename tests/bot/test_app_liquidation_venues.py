"""The live app on the exchange emulators with Gate, HTX, Deribit and Hyperliquid switched on.

It stores BTC and ETH liquidations from every enabled venue, and when one venue stops, /liquidations'
total and the live feed say they are without it. Frames are the corpus shapes, stamped now (synthetic
sizes and prices).
"""

from __future__ import annotations

import copy
import io
import time
import tomllib
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import Secrets, parse_config
from feeds.liq_coverage import venues_down
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import live_frames, wait_for

VENUES = ("gate", "htx", "deribit", "hyperliquid")
SYMBOLS = ("BTCUSDT", "ETHUSDT")
VAULT = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"


class ShiftedClock:
    """The host clock plus an offset a test moves forward (the venues' clocks do not move with it)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return time.time_ns() // 1_000_000 + self.offset_ms


def config(emu: ExchangeEmulator, db: Path) -> Any:
    feeds: dict[str, dict[str, Any]] = tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url))["feeds"]
    for name, section in feeds.items():
        section["enabled"] = name in VENUES
        if name in VENUES:
            section["stale_after_seconds"] = 10
    # The test moves the app's clock; the venues' Date headers must not pull it back.
    feeds["limits"] = {"correct_clock": False}
    return parse_config({"symbols": list(SYMBOLS), "storage": {"path": str(db)}, "feeds": feeds})


async def push_everywhere(emu: ExchangeEmulator, venues: tuple[str, ...]) -> None:
    """Push one BTC and one ETH liquidation to each venue's subscribers, stamped now."""
    now = time.time_ns() // 1_000_000
    if "gate" in venues:
        await emu.gate.push(
            [
                {"price": 95000.0, "size": -100, "time_ms": now, "contract": "BTC_USDT"},
                {"price": 3300.0, "size": 20, "time_ms": now, "contract": "ETH_USDT"},
            ]
        )
    if "htx" in venues:
        (recorded,) = [f for f in live_frames() if str(f.get("topic", "")).startswith("public.")]
        for code, price in (("BTC-USDT", 95000.0), ("ETH-USDT", 3300.0)):
            frame = copy.deepcopy(recorded)
            frame["topic"] = f"public.{code}.liquidation_orders"
            item = frame["data"][0]
            item.update(contract_code=code, pair=code, symbol=code.split("-")[0], created_at=now, price=price)
            item["trade_turnover"] = item["amount"] * price
            await emu.htx.push(frame)
    if "deribit" in venues:
        for name, price in (("BTC-PERPETUAL", 95000.0), ("ETH-PERPETUAL", 3300.0)):
            trade = {"trade_id": "1", "trade_seq": 1, "timestamp": now, "price": price, "amount": 1000.0,
                     "direction": "buy", "liquidation": "T", "instrument_name": name}  # fmt: skip
            await emu.deribit.push(name, [trade])
    if "hyperliquid" in venues:
        for coin, price in (("BTC", "95000.0"), ("ETH", "3300.0")):
            trade = {"coin": coin, "side": "A", "px": price, "sz": "1.0", "time": now, "hash": "0x0",
                     "tid": 1, "users": [VAULT, "0xabc"]}  # fmt: skip
            await emu.hyperliquid.push([trade])


def stored(app: App) -> set[tuple[str, str]]:
    assert app.parts is not None
    cur = app.parts.repo.conn.execute("SELECT DISTINCT source, symbol FROM liquidations")
    return {(r[0], r[1]) for r in cur.fetchall()}


async def test_every_enabled_venue_stores_btc_and_eth_and_a_stopped_one_is_named(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    clock = ShiftedClock()
    app = App(config(emu, tmp_path / "venues.db"), Secrets(), token=None, console=io.StringIO(), now_ms=clock)
    await app.start()
    try:
        assert app.parts is not None
        await emu.wait_ws("gate", subscribed="!all", within=10)
        await emu.wait_ws("htx", subscribed="*", within=10)
        await emu.wait_ws("deribit", subscribed="trades.ETH-PERPETUAL.100ms", within=10)
        await emu.wait_ws("hyperliquid", subscribed="ETH", within=10)
        await push_everywhere(emu, VENUES)
        expected = {(venue, symbol) for venue in VENUES for symbol in SYMBOLS}
        await wait_for(lambda: expected <= stored(app), within=10, what="BTC and ETH from every venue")
        view = app.parts.service.liquidations(None, 3600)
        assert [v.name for v in view.venues] == ["Gate", "HTX", "Deribit", "Hyperliquid"]
        assert view.without == ()

        # HTX stops: every handshake refused from now on, its connection cut.
        emu.ws_refuse("htx", times=10_000)
        await emu.ws_drop("htx")
        clock.offset_ms += 15_000  # past stale_after_seconds for a feed that hears nothing
        await push_everywhere(emu, ("gate", "deribit", "hyperliquid"))  # the others keep delivering
        await wait_for(
            lambda: [c.source for c in venues_down(app.parts.health)] == ["htx"] if app.parts else False,
            within=10,
            what="HTX, and only HTX, down",
        )
        view = app.parts.service.liquidations(None, 3600)
        assert view.without == ("HTX",)
        assert view.coverage_of("htx") is not None and view.coverage_of("htx").down  # type: ignore[union-attr]
    finally:
        await app.stop()
