"""The large-liquidation feed in `tripwire run`: real exchange frames through the real feeds, to Discord.

The burst test pushes several hundred events in the venues' wire formats (a synthetic cascade made from
recorded frames, see ``tests/bot/liqfeed_burst.py``) with the feed's shipped pacing, on a clock the test
moves, so its 70 s of storm, summary and calm take a few real seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Secrets
from bot.liqfeed.feed import Pacing, size_marker
from detectors.base import format_usd
from feeds.base import system_now_ms
from storage.db import open_database
from storage.repo import Repo
from storage.rows import Liquidation
from tests.bot.liqfeed_burst import Cascade, Expected, Second
from tests.bot.support import Clock
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


MIN_USD = 25_000
STORM = "🌊 Liquidations are coming faster than this channel can show"
CALM = "✅ Liquidations have calmed down"


def usd_total(events: Sequence[Expected]) -> Decimal:
    """Return the USD total of events."""
    return sum((e.usd for e in events), Decimal(0))


def side_field(events: Sequence[Expected], side: str) -> str:
    """Return a "Longs/Shorts liquidated" field value as the feed should show it for these events."""
    mine = [e for e in events if e.side == side]
    return f"{format_usd(float(usd_total(mine)))} ({len(mine)})"


async def test_a_burst_of_hundreds_through_the_exchange_websockets_is_batched_summarised_and_announced_once(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    # The feed's windows run on the app's clock. The test moves it and ticks the feed, as the feed's own
    # loop does when its timer runs out: the 70 s the storm takes on that clock pass in a few real seconds,
    # and every frame is ingested before the window it belongs to closes, the same way on every run.
    clock = Clock(system_now_ms())
    config = live_config(emu, tmp_path / "live.db", discord=on_emulator(discord_emu))
    app = App(
        config, Secrets(), token=discord_emu.config.token, now_ms=clock, discord_options=client_options()
    )
    before = set(asyncio.all_tasks())
    parts = await app.start()
    try:
        await set_feed_and_wait_for_streams(emu, discord_emu, min_usd=MIN_USD)
        feed = parts.liqfeed
        assert feed is not None and feed.pacing == Pacing()  # the shipped defaults
        # Subscribed after the feed: once a row is in this list, the feed has taken note of it.
        ingested: list[Liquidation] = []
        parts.ingest.subscribe_rows("liquidations", ingested.extend)
        cascade = Cascade(emu, scale=50)
        pushed: list[Expected] = []

        async def push(second: Second) -> list[Expected]:
            for venue, frame in second.frames:
                assert await emu.push_ws(venue, frame) >= 1
            pushed.extend(second.events)
            await wait_for(
                lambda: len(ingested) >= len(pushed), within=10, what="the feeds to ingest the frames"
            )
            return [e for e in second.events if e.usd >= MIN_USD]

        def step(ms: int) -> None:
            clock.now += ms
            feed.tick()

        seconds: list[list[Expected]] = []
        for _ in range(20):  # 20 s of cascade: 23 events a second over the three venues
            seconds.append(await push(cascade.second(clock.now)))
            step(1_000)
        # Windows close every 2 s; the fourth within 10 s (at 8 s) would be one message too many: the switch.
        assert feed.mode(GUILD_ID) == "summary"
        step(18_000)  # 38 s: the first summary is due; six windows closed in it, too many to call it calm
        assert feed.mode(GUILD_ID) == "summary"
        step(30_000)  # 68 s: a quiet interval, nothing to summarise: back to live
        assert feed.mode(GUILD_ID) == "live"
        after = Second()
        largest = max(cascade.recorded, key=lambda liq: Decimal(liq.sz) * Decimal(liq.bk_px))
        cascade.okx(after, clock.now, [largest])
        single = await push(after)
        step(2_000)
        # Delivery follows the emulator's message bucket (5 per 5 s): wait for every message the feed queued.
        queued = feed.queued
        await discord_emu.wait_until(
            lambda: len(discord_emu.messages_in(ALERTS_CHANNEL_ID)) >= queued, timeout=20
        )
    finally:
        await app.stop()
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done()]
    assert not leaked, leaked

    # Every pushed event was parsed into the row it stands for: venue, position side, size.
    assert sorted((r.source, r.ts, r.side) for r in ingested) == sorted(
        (e.source, e.ts, e.side) for e in pushed
    )
    usd_of = {(r.source, r.ts): r.usd for r in ingested}
    assert all(usd_of[e.source, e.ts] == pytest.approx(float(e.usd), rel=1e-12) for e in pushed)
    kept = [e for s in seconds for e in s] + single
    assert (len(pushed), len(kept)) == (461, 299)  # several hundred over the threshold, and some under

    # The windows: 0-2 s, 2-4 s and 4-6 s are posted; the one closing at 8 s is the switch, so its events
    # and the rest of the storm make the 8-38 s summary. 38-68 s is empty and calm; then one event, live.
    batches = [seconds[0] + seconds[1], seconds[2] + seconds[3], seconds[4] + seconds[5]]
    storm = [e for s in seconds[6:] for e in s]
    posted = discord_emu.messages_in(ALERTS_CHANNEL_ID)
    titles = [m.embeds[0]["title"] for m in posted]
    assert titles == [
        *(f"💥 {len(b)} liquidations: {format_usd(float(usd_total(b)))}" for b in batches),
        STORM,
        f"📊 {len(storm)} liquidations in 30s: {format_usd(float(usd_total(storm)))}",
        CALM,
        "🐋 BTC long liquidated: $26.5M",  # the largest recorded: 614.02 contracts at $86,184.9, ×50
    ]
    assert titles.count(STORM) == 1 and titles.count(CALM) == 1
    assert discord_emu.count_429 == 0
    for message, events in zip([*posted[:3], posted[4]], [*batches, storm], strict=True):
        fields = {f["name"]: f["value"] for f in message.embeds[0]["fields"]}
        assert fields["Longs liquidated"] == side_field(events, "long")
        assert fields["Shorts liquidated"] == side_field(events, "short")
    for message, events in zip(posted[:3], batches, strict=True):
        lines = message.embeds[0]["description"].split("\n")
        top = max(events, key=lambda e: e.usd)
        assert lines[0].startswith(
            f"{size_marker(float(top.usd))} **BTC** {top.side} {format_usd(float(top.usd))}"
        )
        assert len(lines) == 11 and lines[-1].startswith(f"… and {len(events) - 10} smaller")

    # The exact totals behind the rounded figures, in the outbox rows these messages were posted from.
    repo = Repo(open_database(tmp_path / "live.db"))
    assert repo.outbox_depth() == 0
    rows = repo.conn.execute(
        "SELECT payload, remote_id FROM outbox WHERE kind = 'liqfeed' ORDER BY id"
    ).fetchall()
    assert [remote for _, remote in rows] == [str(m.id) for m in posted]
    payloads = [json.loads(payload) for payload, _ in rows]
    counted = [p for p in payloads if p["type"] in ("batch", "summary")]
    assert sum(p["count"] for p in counted) == len(kept)  # every event over the threshold, once
    for payload, events in zip(counted, [*batches, storm, single], strict=True):
        for side in ("long", "short"):
            mine = [e for e in events if e.side == side]
            assert payload[f"{side}_count"] == len(mine)
            assert payload[f"{side}_usd"] == pytest.approx(float(usd_total(mine)), rel=1e-9)
