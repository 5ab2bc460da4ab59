"""Rules still warming up say so, through the real bot and the Discord emulator.

The database holds the bundled scenario: BTCUSDT hours from 2026-01-01, ETHUSDT from 2026-01-09 13:00. At
the clock's 2026-01-14 12:00, BTC has 13 closed days (1st to 13th) and ETH 4 (10th to 13th); an RSI(14)
rule needs 16 closed candles of its interval (its warm-up and the candle before), so a 1d one is warming up
and a 1h one is not.
"""

from __future__ import annotations

from typing import Any

from bot.discord.client import TripwireBot
from bot.services import Service
from bot.services.history import HistoryService
from bot.services.visibility import Viewer
from storage.repo import Repo
from storage.rows import DAY_MS
from tests.bot.scenario import BREAKOUT_DAY_NOON
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, MOD_ID, OWNER_ID

DAY_START = BREAKOUT_DAY_NOON - BREAKOUT_DAY_NOON % DAY_MS
RSI_1D = {"detector": "rsi", "symbol": "BTCUSDT", "settings": "interval=1d period=14 above=70"}


def fields(embed: dict[str, Any]) -> dict[str, str]:
    """Return an embed's fields by name."""
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def rule_id_of(embed: dict[str, Any]) -> str:
    """Return the rule id in a rule embed's footer."""
    return str(embed["footer"]["text"]).removeprefix("rule ")


async def add(emu: DiscordEmulator, options: dict[str, Any], user_id: int = OWNER_ID) -> dict[str, Any]:
    """Add a rule through /alert add and return the reply's embed."""
    reply = await emu.slash("alert add", options, user_id=user_id)
    assert reply.ephemeral and reply.embeds, reply.content
    return reply.embeds[0]


async def test_alert_add_says_what_a_1d_rsi_rule_has_and_needs_and_when_it_is_warm(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    embed = await add(discord_emu, RSI_1D)
    # 13 closed days, 3 missing: with no older history the 16th closes at the end of the 16th.
    warm_at = (DAY_START + 3 * DAY_MS) // 1000
    assert fields(embed)["Warming up"] == (
        "13 of 16 closed 1d candles; fetching the rest from the exchange now "
        f"(at the latest warm <t:{warm_at}:R> (<t:{warm_at}:f>))\nIt does not fire until then."
    )
    eth = await add(discord_emu, {**RSI_1D, "symbol": "ETHUSDT"})
    assert fields(eth)["Warming up"].startswith("4 of 16 closed 1d candles;")
    hourly = await add(discord_emu, {**RSI_1D, "settings": "interval=1h period=14 above=70"})
    assert "Warming up" not in fields(hourly)
    assert repo.rule(rule_id_of(embed)) is not None  # warming up, yet created and enabled


async def test_why_on_a_rule_says_whether_it_can_fire_yet(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    cold = rule_id_of(await add(discord_emu, RSI_1D))
    warm = rule_id_of(await add(discord_emu, {**RSI_1D, "settings": "interval=1h period=14 below=30"}))
    reply = await discord_emu.slash("why", {"rule": cold}, user_id=MEMBER_ID)
    assert reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == f"Why {cold} is warming up"
    assert fields(embed)["Warming up"].startswith("13 of 16 closed 1d candles;")
    assert fields(embed)["Last alert"] == "none yet"
    ready = (await discord_emu.slash("why", {"rule": warm}, user_id=MEMBER_ID)).embeds[0]
    assert ready["title"] == f"Why {warm} can fire"
    assert fields(ready)["Warm"] == "It has the 16 closed 1h candles its indicators need."
    both = await discord_emu.slash("why", {"rule": cold, "alert_id": 1}, user_id=MEMBER_ID)
    neither = await discord_emu.slash("why", {}, user_id=MEMBER_ID)
    for bad in (both, neither):
        assert bad.ephemeral and bad.content == (
            "Give an alert number (`alert_id`) or a rule (`rule`), one of the two."
        )
    unknown = await discord_emu.slash("why", {"rule": "btc-rsi-zzzz"}, user_id=MEMBER_ID)
    assert unknown.ephemeral and unknown.content.startswith("There is no alert `btc-rsi-zzzz` in this server")


async def test_status_lists_the_rules_warming_up_that_the_member_may_see(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    public = rule_id_of(await add(discord_emu, RSI_1D))
    # A member's personal (DM) rule: its owner sees it warming up, another member does not.
    personal = rule_id_of(await add(discord_emu, {**RSI_1D, "symbol": "ETHUSDT"}, user_id=MEMBER_ID))
    await add(discord_emu, {**RSI_1D, "settings": "interval=1h period=14 above=70"})  # warm: not listed
    seen_by_mod = fields((await discord_emu.slash("status", {}, user_id=MOD_ID)).embeds[0])
    lines = seen_by_mod["Warming up (not firing yet)"].splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"`{public}` BTC rsi: 13 of 16 closed 1d candles;")
    seen_by_owner = fields((await discord_emu.slash("status", {}, user_id=MEMBER_ID)).embeds[0])
    listed = seen_by_owner["Warming up (not firing yet)"]
    assert f"`{personal}` ETH rsi: 4 of 16 closed 1d candles;" in listed and f"`{public}`" in listed


async def test_alert_test_says_the_live_rule_is_still_warming_up(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    reply = await discord_emu.slash("alert test", {**RSI_1D, "period": "7d"}, user_id=OWNER_ID, timeout=30)
    assert reply.deferred and reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"].startswith("Backtest: this alert would have fired")
    assert fields(embed)["Live, it is warming up"].startswith("13 of 16 closed 1d candles;")
    hourly = {**RSI_1D, "settings": "interval=1h period=14 above=70", "period": "7d"}
    warm = await discord_emu.slash("alert test", hourly, user_id=OWNER_ID, timeout=30)
    assert "Live, it is warming up" not in fields(warm.embeds[0])


async def test_chart_draws_the_indicator_of_a_rule_it_shows(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, service: Service
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    rule_id = rule_id_of(await add(discord_emu, {**RSI_1D, "settings": "interval=1h period=14 above=70"}))
    spec = HistoryService(service).chart("BTCUSDT", "1h", 3 * 86_400, viewer=Viewer(OWNER_ID, GUILD_ID))
    [plot] = spec.indicators
    assert (plot.rule_id, plot.placement, plot.levels) == (rule_id, "oscillator", (70.0,))
    assert [s.name for s in plot.series] == ["RSI(14, 1h)"] and len(plot.series[0].values) == 73
    reply = await discord_emu.slash("chart", {"symbol": "BTCUSDT", "interval": "1h"}, user_id=OWNER_ID)
    [image] = reply.attachments  # drawn with its RSI pane, through the bot's own path
    assert image.data.startswith(b"\x89PNG") and image.filename == "btcusdt-1h.png"
