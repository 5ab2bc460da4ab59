"""The large-liquidation feed in `tripwire run`: real exchange frames through the real feeds, to Discord."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.app import App
from bot.config import Secrets
from storage.db import open_database
from storage.repo import Repo
from tests.bot.test_app import live_config, on_emulator
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.helpers import wait_for


async def set_feed_and_wait_for_streams(
    emu: ExchangeEmulator, discord_emu: DiscordEmulator, min_usd: float
) -> None:
    """Set the server's feed to #alerts as its owner, then wait until the three liquidation streams listen."""
    await discord_emu.wait_until(lambda: discord_emu.commands_synced(GUILD_ID) != [], timeout=10)
    reply = await discord_emu.slash(
        "liqfeed set", {"channel": ALERTS_CHANNEL_ID, "min_usd": min_usd}, user_id=OWNER_ID
    )
    assert reply.embeds[0]["title"] == "Liquidation feed set"
    await wait_for(lambda: len(emu.ws_connections("binance")) > 0, within=10, what="Binance's stream")
    await emu.wait_ws("bybit", subscribed="allLiquidation.BTCUSDT", within=10)
    await emu.wait_ws("okx", subscribed="liquidation-orders:SWAP", within=10)


async def test_liquidations_from_all_three_exchanges_reach_the_feed_channel_with_their_position_side(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")  # no recorded liquidations: only the frames pushed below
    config = live_config(emu, tmp_path / "live.db", discord=on_emulator(discord_emu))
    app = App(config, Secrets(), token=discord_emu.config.token, discord_options=client_options())
    before = set(asyncio.all_tasks())
    await app.start()
    try:
        await set_feed_and_wait_for_streams(emu, discord_emu, min_usd=1_000_000)
        now = int(time.time() * 1000)
        # Binance: a forced SELL of 30 BTC at 94,000 closes a long ($2.82M); a forced BUY of 1 BTC is a
        # short under the threshold.
        for side, qty in (("SELL", "30"), ("BUY", "1")):
            frame = {
                "e": "forceOrder",
                "E": now,
                "o": {"s": "BTCUSDT", "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": "94000",
                      "ap": "94000", "X": "FILLED", "l": qty, "z": qty, "T": now},
            }  # fmt: skip
            assert await emu.push_ws("binance", frame) >= 1
        # Bybit names the position: "Sell" is a short. 12 BTC at 94,100 ($1.13M).
        bybit = {
            "topic": "allLiquidation.BTCUSDT",
            "type": "snapshot",
            "ts": now,
            "data": [{"T": now, "s": "BTCUSDT", "S": "Sell", "v": "12", "p": "94100"}],
        }
        assert await emu.push_ws("bybit", bybit) >= 1
        # OKX: posSide long, 1,500 contracts of 0.01 BTC at 94,200 ($1.41M).
        okx = {
            "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
            "data": [
                {
                    "details": [{"bkLoss": "0", "bkPx": "94200", "ccy": "", "posSide": "long", "side": "sell",
                                 "sz": "1500", "ts": str(now)}],
                    "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP", "instType": "SWAP",
                    "uly": "BTC-USDT",
                }
            ],
        }  # fmt: skip
        assert await emu.push_ws("okx", okx) >= 1

        await discord_emu.wait_until(lambda: discord_emu.messages_in(ALERTS_CHANNEL_ID), timeout=15)
        (message,) = discord_emu.messages_in(ALERTS_CHANNEL_ID)  # one 2 s window: one message
        embed = message.embeds[0]
        assert embed["title"] == "💥 3 liquidations: $5.4M"
        lines = embed["description"].split("\n")
        assert [line.split(" · ")[0] for line in lines] == [
            "🦈 **BTC** long $2.8M at $94,000",
            "🦈 **BTC** long $1.4M at $94,200",
            "🦈 **BTC** short $1.1M at $94,100",
        ]
        assert [line.split(" · ")[1] for line in lines] == ["Binance", "OKX", "Bybit"]
        fields = {f["name"]: f["value"] for f in embed["fields"]}
        assert fields == {"Longs liquidated": "$4.2M (2)", "Shorts liquidated": "$1.1M (1)"}
        assert discord_emu.count_429 == 0
    finally:
        await app.stop()
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert not leaked, leaked
    assert Repo(open_database(tmp_path / "live.db")).outbox_depth() == 0
