"""/chart and charts on alerts through the real bot and the emulator, on the replayed January 2026 data."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from bot.alerts.model import CHART_ALERTS
from bot.charts.spec import ChartSpec
from bot.discord.client import TripwireBot
from bot.notify.alert_charts import AlertCharts
from bot.notify.discord.sink import DiscordSink
from bot.notify.outbox import OutboxDispatcher
from bot.services.history import HistoryService
from detectors.base import MARKET_SYMBOL
from detectors.market_history import MarketHistory
from storage.repo import GuildSettingsRow, OutboxRow, Repo
from tests.bot.discord.support import alert_payload, bot_messages, drain
from tests.bot.history_support import (  # noqa: F401 - the replayed_* are this module's fixtures
    crossing_event_id,
    replayed_config,
    replayed_history,
)
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID

PNG = b"\x89PNG\r\n\x1a\n"
MakeSink = Callable[..., DiscordSink]


async def test_chart_posts_a_png_after_a_deferred_reply(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    reply = await discord_emu.slash(
        "chart", {"symbol": "BTCUSDT", "interval": "1h", "window": "7d"}, user_id=MEMBER_ID
    )
    assert reply.deferred and not reply.ephemeral
    [image] = reply.attachments
    assert image.data.startswith(PNG) and image.size < 1_000_000 and image.content_type == "image/png"
    assert image.filename == "btcusdt-1h.png" and (image.width, image.height) == (1200, 700)
    embed = reply.embeds[0]
    assert embed["title"] == "BTCUSDT · 1h · last 7d"
    assert embed["image"]["url"] == image.url
    assert "candles: binance" in embed["description"]

    auto = await discord_emu.slash("chart", {"symbol": "eth", "window": "30d"}, user_id=MEMBER_ID)
    # 30 days asked over the 5 days stored: the chart is fitted to the data and says so.
    assert auto.embeds[0]["title"] == "ETHUSDT · 1h · 4d 23h stored of 30d asked"
    assert "nothing stored before" in auto.embeds[0]["description"]


async def test_chart_refuses_bad_options_privately_before_deferring(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    for options, message in [
        ({"symbol": "doge"}, "Unknown symbol `doge`"),
        ({"symbol": "BTCUSDT", "window": "5m"}, "The window must be at least 1h"),
        ({"symbol": "BTCUSDT", "window": "1y"}, "I could not read `1y` as a window"),
        ({"symbol": "BTCUSDT", "window": "120d"}, "The window can be at most"),
        ({"symbol": "BTCUSDT", "interval": "1w", "window": "1d"}, "A 1d window holds no whole 1w candle"),
        ({"symbol": "BTCUSDT", "interval": "7m"}, "Unknown interval `7m`"),
    ]:
        bad = await discord_emu.slash("chart", options, user_id=MEMBER_ID)
        assert bad.ephemeral and not bad.deferred and bad.content.startswith(message), (options, bad.content)
        assert not bad.attachments


def queue_crossing(repo: Repo, clock: Clock) -> list[int]:
    """Queue the btc-95k alert for #alerts as the engine does (the guild's payload) and return its row."""
    event_id = crossing_event_id(repo)
    payload = alert_payload("btc-95k", "BTC broke above $95,000", guild_id=GUILD_ID, event_id=event_id)
    with repo.transaction():
        row = repo.enqueue(
            event_id=event_id,
            sink="discord",
            target=f"channel:{ALERTS_CHANNEL_ID}",
            kind="alert",
            payload=payload,
            now=clock.now,
        )
    return [row]


async def test_an_alert_carries_its_chart_when_the_server_switched_charts_on(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    sink = make_sink(tripwire, attachments=AlertCharts(repo))
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    queue_crossing(repo, clock)
    await drain(repo, dispatcher, clock)
    [plain] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert not plain.attachments and "image" not in plain.embeds[0]

    reply = await discord_emu.slash("setup", {"chart_alerts": True}, user_id=OWNER_ID)
    assert {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}["Charts on alerts"] == "on"
    queue_crossing(repo, clock)
    await drain(repo, dispatcher, clock)
    charted = bot_messages(discord_emu, ALERTS_CHANNEL_ID)[-1]
    [image] = charted.attachments
    event_id = crossing_event_id(repo)
    assert image.filename == f"alert-{event_id}.png" and image.data.startswith(PNG)
    assert image.size < 1_000_000 and (image.width, image.height) == (1000, 560)
    assert charted.embeds[0]["image"]["url"] == image.url
    assert f" · /why {event_id} · ref twg" in charted.embeds[0]["footer"]["text"]
    assert charted.embeds[0]["timestamp"].startswith("2026-01-13T23:00")


async def test_an_alert_whose_chart_fails_is_posted_without_it(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(row: OutboxRow) -> None:
        raise RuntimeError("matplotlib exploded")

    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire, attachments=broken)], clock)
    queue_crossing(repo, clock)
    with caplog.at_level(logging.ERROR, logger="bot.notify.discord.sink"):
        await drain(repo, dispatcher, clock)
    [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert message.embeds[0]["title"] == "BTC broke above $95,000" and not message.attachments
    assert any("attachment hook failed" in r.getMessage() for r in caplog.records)


async def test_charts_on_alerts_skip_market_wide_alerts_and_deliveries_that_are_not_new_alerts(
    repo: Repo, history: MarketHistory, clock: Clock
) -> None:
    charts = AlertCharts(repo)
    with repo.transaction():
        repo.save_guild_settings(
            GuildSettingsRow(GUILD_ID, ALERTS_CHANNEL_ID, None, {CHART_ALERTS: True}, clock.now)
        )
    event_id = crossing_event_id(repo)
    base = alert_payload("btc-95k", "t", guild_id=GUILD_ID, event_id=event_id)

    def row(kind: str = "alert", **payload: object) -> OutboxRow:
        return OutboxRow(
            id=1,
            event_id=event_id,
            sink="discord",
            target=f"channel:{ALERTS_CHANNEL_ID}",
            kind=kind,
            payload={**base, **payload},
            status="pending",
            attempts=0,
            next_attempt_at=0,
            created_at=0,
            delivered_at=None,
            remote_id=None,
            error=None,
        )

    assert charts.wanted(row())
    assert not charts.wanted(row("fold")) and not charts.wanted(row("resolve", state="resolved"))
    assert not charts.wanted(row(symbol=MARKET_SYMBOL)) and not charts.wanted(row(guild_id=None))
    assert AlertCharts(repo, everywhere=True).wanted(row(guild_id=None))
    attachment = await charts(row())
    assert attachment is not None and attachment.data.startswith(PNG)
    assert (await charts(row())) == attachment, "drawn once per alert"


async def test_chart_reads_and_draws_off_the_event_loop(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    chart = HistoryService.chart

    def recorded(self: HistoryService, *args: Any, **kwargs: Any) -> ChartSpec:
        threads.append(threading.current_thread())
        return chart(self, *args, **kwargs)

    monkeypatch.setattr(HistoryService, "chart", recorded)
    reply = await discord_emu.slash("chart", {"symbol": "btc", "window": "90d"}, user_id=MEMBER_ID)
    assert reply.attachments and threads and threads[0] is not threading.main_thread()
