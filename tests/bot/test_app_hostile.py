"""The live app against hostile upstreams and a wrong host clock: alerts, /history, /status, ops channel.

The real app runs against the exchange and Discord emulators. The poisoned frames are synthetic (a
price x size that overflows a double, a time in 2099), pushed on Binance's liquidation stream before a
real-sized one.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.app import App
from bot.config import Secrets
from bot.services.base import FeedStatusView
from bot.services.history import HistoryQuery, HistoryService
from storage.db import open_database
from storage.repo import Repo
from tests.bot.test_app import free_port, live_config, on_emulator, scrape, seed_known_liquidations
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID, MOD_ROLE_ID
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.helpers import wait_for

YEAR_2099 = 4_083_955_200_000
TEN_MINUTES = 600_000


def _force_order(now: int, price: str, qty: str, at: int | None = None) -> dict[str, object]:
    """Return a Binance forceOrder event (a forced BUY: a short liquidated), synthetic values."""
    t = now if at is None else at
    return {
        "e": "forceOrder",
        "E": t,
        "o": {"s": "BTCUSDT", "S": "BUY", "o": "LIMIT", "f": "IOC", "q": qty, "p": price, "ap": price,
              "X": "FILLED", "l": qty, "z": qty, "T": t},
    }  # fmt: skip


async def test_poisoned_liquidations_change_no_alert_and_leave_history_working(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    seed_known_liquidations(tmp_path / "live.db", int(time.time() * 1000))  # the baseline is known
    config = live_config(
        emu,
        tmp_path / "live.db",
        discord=on_emulator(discord_emu),
        http={"enabled": True, "port": free_port()},
        routes=[{"guild_id": GUILD_ID, "channel_id": ALERTS_CHANNEL_ID, "role_id": MOD_ROLE_ID}],
        rules=[
            {
                "id": "btc-cascade",
                "detector": "liquidation_cascade",
                "symbol": "BTCUSDT",
                "min_usd": 1_000_000,
                "multiple": 1,
            }
        ],
    )
    app = App(config, Secrets(), token=discord_emu.config.token, discord_options=client_options())
    await app.start()
    try:
        assert app.parts is not None
        await wait_for(
            lambda: len(emu.ws_connections("binance")) > 0, within=10, what="the liquidation stream"
        )
        now = int(time.time() * 1000)
        # Unguarded, the first was stored as usd=inf and posted as "$infB"; the second emptied the baseline.
        assert await emu.push_ws("binance", _force_order(now, "1e300", "1e10")) >= 1
        assert await emu.push_ws("binance", _force_order(now, "95000", "50", at=YEAR_2099)) >= 1
        assert await emu.push_ws("binance", _force_order(now + 1, "95000", "50")) >= 1
        await discord_emu.wait_until(lambda: discord_emu.messages_in(ALERTS_CHANNEL_ID), timeout=15)
        (message,) = discord_emu.messages_in(ALERTS_CHANNEL_ID)
        title = message.embeds[0]["title"]
        assert "BTC shorts liquidated" in title and "inf" not in title.lower()
        repo = app.parts.repo
        usd = repo.conn.execute(
            "SELECT usd, ts FROM liquidations WHERE source = 'binance' AND ts > ?", (now - 60_000,)
        ).fetchall()
        assert usd == [(4_750_000.0, now + 1)]
        assert app.parts.ingest.guard.refused == {
            "liquidations:binance:number": 1,
            "liquidations:binance:time": 1,
        }
        families = await scrape(app)
        refused = {
            (s.labels["source"], s.labels["kind"], s.labels["reason"]): s.value
            for s in families["tripwire_rows_refused"].samples
        }
        assert refused == {
            ("binance", "liquidations", "number"): 1.0,
            ("binance", "liquidations", "time"): 1.0,
        }
        page = HistoryService(app.parts.service).history(HistoryQuery(GUILD_ID, viewer_id=1))
        # /history reads every stored event's JSON (json_extract): one Infinity in it used to fail them all.
        assert page.total == 1 and page.items[0].title == title
    finally:
        await app.stop()


async def test_a_host_ten_minutes_ahead_is_said_once_on_status_and_to_ops(
    make_emulator: EmulatorFactory, discord_emu: DiscordEmulator, tmp_path: Path
) -> None:
    emu = await make_emulator(shift_to="now")
    config = live_config(
        emu,
        tmp_path / "live.db",
        discord=on_emulator(discord_emu) | {"ops_channel_id": GENERAL_CHANNEL_ID},
        watchdog={"debounce_seconds": 0},
        http={"enabled": True, "port": free_port()},
    )

    def host_ms() -> int:
        return time.time_ns() // 1_000_000 + TEN_MINUTES

    app = App(
        config, Secrets(), token=discord_emu.config.token, discord_options=client_options(), now_ms=host_ms
    )
    await app.start()
    try:
        assert app.parts is not None

        def ops_texts() -> list[str]:
            messages = discord_emu.messages_in(GENERAL_CHANNEL_ID)
            return [str(m.embeds[0] if m.embeds else m.payload.get("content")) for m in messages]

        await discord_emu.wait_until(lambda: any("Clock skew" in t for t in ops_texts()), timeout=15)
        statuses = {s.name: s for s in app.parts.service.feeds.statuses()}  # what /status lists
        clock = statuses["clock"]
        assert (
            clock.state == "degraded" and clock.detail is not None and "ahead of the venues" in clock.detail
        )
        # Corrected: nothing is stale, and the fallback waits on standby.
        await wait_for(
            lambda: all(s.state in ("ok", "standby") for n, s in statuses_now(app).items() if n != "clock"),
            within=10,
            what="every feed ok or standby",
        )
        assert statuses_now(app)["coinbase"].state == "standby"
        families = await scrape(app)
        (offset,) = families["tripwire_clock_offset_seconds"].samples
        assert -601.5 <= offset.value <= -598.5
        states = {s.labels["feed"]: s.value for s in families["tripwire_feed_state"].samples}
        assert states and set(states.values()) == {0.0}, states  # the README's paging rule stays quiet
        # Said once, though every answer since has confirmed the offset.
        assert sum("Clock skew" in t for t in ops_texts()) == 1
        assert not any("is stale" in t for t in ops_texts())
    finally:
        await app.stop()
    assert Repo(open_database(tmp_path / "live.db")).outbox_depth() == 0


def statuses_now(app: App) -> dict[str, FeedStatusView]:
    """Return /status's feed lines by name."""
    assert app.parts is not None
    return {s.name: s for s in app.parts.service.feeds.statuses()}
