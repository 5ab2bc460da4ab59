"""Every slash command through the real bot and the emulator: valid input, invalid input, no permission."""

from __future__ import annotations

import logging
import re
import time

import pytest

from bot.config import parse_config
from bot.discord.client import TripwireBot
from bot.discord.transformers import MAX_SETTINGS_CHARS
from bot.services import Service
from detectors.registry import detector_classes
from feeds.replay import parse_time
from storage.repo import Repo
from storage.rows import DepthBand, EtfFlow, ImpliedVol, LongShort, PredictedFunding
from tests.bot.scenario import FNG_61_DAY
from tests.bot.support import Clock, FixedFeeds
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER_ID,
    MOD_ID,
    MOD_ROLE_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
)

COMMANDS = {
    *("price", "liquidations", "funding", "oi", "positioning", "depth", "fng", "alert", "setup", "status"),
    "liqmap",
    *("chart", "history", "why"),
    *("liqfeed", "liqprice"),
    *("digest", "privacy"),
    *("silence", "webhook"),
}


async def add_btc_rule(emu: DiscordEmulator, level: float = 95000, user_id: int = OWNER_ID) -> str:
    """Set the default channel and add a BTC level rule through /alert add; return the rule id."""
    await emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await emu.slash(
        "alert add",
        {"detector": "level_cross", "symbol": "BTCUSDT", "settings": f"level={level}"},
        user_id=user_id,
    )
    assert reply.embeds, reply.content
    return str(reply.embeds[0]["footer"]["text"]).removeprefix("rule ")


async def test_commands_are_synced_to_the_configured_guild_only(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    synced = {c["name"]: c for c in discord_emu.commands_synced(GUILD_ID)}
    assert set(synced) == COMMANDS
    assert discord_emu.commands_synced(None) == []
    # Members see /alert (their personal alerts); what each may do is checked when a command runs.
    assert synced["alert"]["default_member_permissions"] is None
    assert synced["setup"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert synced["digest"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert synced["silence"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert synced["price"]["default_member_permissions"] is None
    assert synced["alert"]["contexts"] == [0]  # guild only
    add = next(o for o in synced["alert"]["options"] if o["name"] == "add")
    [detector] = [o for o in add["options"] if o["name"] == "detector"]
    assert detector["required"] and sorted(c["value"] for c in detector["choices"]) == sorted(
        detector_classes()
    )
    [settings] = [o for o in add["options"] if o["name"] == "settings"]
    assert settings["autocomplete"] and settings["max_length"] == MAX_SETTINGS_CHARS


async def test_price(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    reply = await discord_emu.slash("price", {"symbol": "btc"}, user_id=MEMBER_ID)
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == "BTC is at $94,792.99"
    assert embed["description"] == "BTCUSDT · 24h ▲ +3.04%"
    assert embed["footer"]["text"] == "source binance"
    assert "<t:1768392000:R>" in embed["fields"][-1]["value"]

    bad = await discord_emu.slash("price", {"symbol": "@everyone doge"}, user_id=MEMBER_ID)
    assert bad.ephemeral and not bad.embeds
    assert bad.content == "Unknown symbol `@\u200beveryone doge`. Tripwire watches: BTCUSDT, ETHUSDT."
    assert bad.callback is not None and bad.callback["data"]["allowed_mentions"] == {"parse": []}


async def test_symbol_autocomplete(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    assert await discord_emu.autocomplete("price", {"symbol": "et"}, "symbol") == [
        {"name": "ETHUSDT", "value": "ETHUSDT"}
    ]
    assert len(await discord_emu.autocomplete("liquidations", {"symbol": ""}, "symbol")) == 2
    window = await discord_emu.autocomplete("liquidations", {"window": "9h"}, "window")
    assert window == [{"name": "9h", "value": "9h"}]


async def test_liquidations(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    reply = await discord_emu.slash("liquidations", {"symbol": "BTCUSDT", "window": "24h"})
    assert reply.deferred and not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == "BTC: $161.5M liquidated in the last 1d, mostly shorts"
    assert "**5.1×** the usual 1d ($31.6M on average over the previous 7 days)" in embed["description"]
    assert [f["name"] for f in embed["fields"]] == ["coinglass", "Largest hours", "Window"]

    everything = await discord_emu.slash("liquidations", {})
    assert everything.embeds[0]["title"].startswith("All symbols: ")

    for window, message in [
        ("soon", "I could not read `soon` as a window"),
        ("1m", "The window must be at least 5m"),
        ("30d", "The window can be at most 1w"),
    ]:
        bad = await discord_emu.slash("liquidations", {"window": window})
        assert bad.ephemeral and bad.content.startswith(message), bad.content


async def test_funding_and_open_interest(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    funding = await discord_emu.slash("funding", {})
    embed = funding.embeds[0]
    # Binance's settled rate and its 8 h interval (from its settlements), not the newest snapshot.
    assert embed["title"] == "BTC funding is +0.0025% per 8h (longs pay shorts)"
    assert embed["description"].startswith(
        "BTCUSDT on binance · +2.7% a year at this rate (3 settlements a day)"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["From"] == "binance settlements"
    assert fields["Next funding"].startswith(f"<t:{parse_time('2026-01-14T16:00Z') // 1000}:R>")
    assert fields["binance · every 8h"].startswith("+0.0025% (settled, ")
    assert fields["coinglass · every 8h (assumed)"].startswith("+0.0077% (current, ")
    assert fields["Across 2 venues"].startswith("+0.0051% per 8h on average")
    oi = await discord_emu.slash("oi", {"symbol": "btc"})
    assert oi.embeds[0]["title"] == "BTC open interest is $8.9B"
    assert oi.embeds[0]["description"].startswith("BTCUSDT · on coinglass (one side)")
    for name in ("funding", "oi"):
        bad = await discord_emu.slash(name, {"symbol": "ETHUSDT"})
        assert bad.ephemeral and "data for ETHUSDT yet" in bad.content


async def test_funding_shows_hyperliquids_forecasts_apart(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    """SYNTHETIC predicted rows: listed as a forecast, the realised rates and their averages unchanged."""
    now = clock.now
    next_8h = now - now % (8 * 3_600_000) + 8 * 3_600_000
    repo.upsert_predicted_funding(
        [
            PredictedFunding("BTCUSDT", now - 60_000, "hyperliquid", "binance", 0.0001, next_8h, 8.0),
            PredictedFunding(
                "BTCUSDT", now - 60_000, "hyperliquid", "hyperliquid", -0.00002, now - 120_000, 1.0
            ),
            # Made three hours ago: about a settlement already past, not shown.
            PredictedFunding("BTCUSDT", now - 3 * 3_600_000, "hyperliquid", "bybit", 0.0003, next_8h, 8.0),
        ]
    )
    embed = (await discord_emu.slash("funding", {})).embeds[0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    forecast = fields["Next settlement, forecast by hyperliquid (not a paid rate)"]
    assert forecast.splitlines() == [
        f"binance: +0.0100% per 8h, due <t:{next_8h // 1000}:R>",
        "hyperliquid: -0.0020% per 1h",  # its stated boundary is past: no due time claimed
    ]
    assert fields["Across 2 venues"].startswith("+0.0051% per 8h on average")  # forecasts not averaged in


async def test_positioning(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    """/positioning over the bundled data plus SYNTHETIC ratio, DVOL and ETF flow rows written here."""
    now = clock.now
    day = now // 86_400_000 * 86_400_000 - 86_400_000  # yesterday: its figure is known now
    date = time.strftime("%Y-%m-%d", time.gmtime(day / 1000))
    repo.upsert_etf_flows([EtfFlow("BTC", date, day, "sosovalue", 646e6, None, None, None, now - 60_000)])
    repo.upsert_long_short(
        [
            LongShort("BTCUSDT", now - 600_000, "binance", "top_positions", "5m", 2.4, 0.7059),
            LongShort("BTCUSDT", now - 600_000, "bybit", "accounts", "5m", 1.5, 0.6),
        ]
    )
    repo.upsert_implied_vol(
        [
            ImpliedVol("BTC", now - 86_400_000 - 3_600_000, "deribit", "1h", 40.0, 40.0, 40.0, 40.0),
            ImpliedVol("BTC", now - 3_600_000, "deribit", "1h", 48.0, 48.0, 48.0, 48.0),
        ]
    )
    reply = await discord_emu.slash("positioning", {"symbol": "btc"})
    embed = reply.embeds[0]
    # CoinGlass's open interest is the one bundled; funding weighted by it is CoinGlass's rate alone.
    assert embed["title"] == "BTC positioning: $8.9B open interest, funding +0.0077% per 8h (+8.4%/yr)"
    assert "funding weighted by open interest" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["coinglass"].startswith("OI $8.9B (100%) · funding +0.0077% per 8h")
    assert fields["binance"].startswith("funding +0.0025% per 8h")
    assert fields["top-trader positions"].startswith("binance: 2.40 (71% long)")
    assert fields["accounts long/short"].startswith("bybit: 1.50 (60% long)")
    assert fields["BTC implied volatility (DVOL)"].startswith("48.0%/yr (+20.0% in 24h)")
    assert fields["BTC spot ETFs (US), last day"].startswith(f"+$646.0M net on {date} · sosovalue, read <t:")
    bad = await discord_emu.slash("positioning", {"symbol": "ETHUSDT"})
    assert bad.ephemeral and "No positioning data for ETHUSDT yet" in bad.content


async def test_depth(tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock) -> None:
    """/depth from SYNTHETIC depth rows: Binance reached every band, Bybit's snapshot stopped before ±2 %."""
    now = clock.now
    m = 1_000_000.0
    repo.upsert_depth(
        [
            DepthBand("BTCUSDT", now - 60_000, "binance", 50, 20 * m, 18 * m, True, True),
            DepthBand("BTCUSDT", now - 60_000, "binance", 200, 90 * m, 80 * m, True, True),
            DepthBand("BTCUSDT", now - 90_000, "bybit", 50, 10 * m, 9 * m, True, True),
            DepthBand("BTCUSDT", now - 90_000, "bybit", 200, 30 * m, 25 * m, False, True),
        ]
    )
    reply = await discord_emu.slash("depth", {"symbol": "btc"})
    embed = reply.embeds[0]
    assert embed["title"] == "BTC order-book depth across 2 venues"
    assert embed["description"].splitlines() == [
        "±0.5%: bids $30.0M · asks $27.0M",
        "±2%: bids ≥ $120.0M · asks ≥ $105.0M",
    ]
    fields = {f["name"].split(" · ")[0]: f["value"] for f in embed["fields"]}
    assert fields["bybit"].splitlines()[1] == "±2%: bids ≥ $30.0M · asks ≥ $25.0M"
    assert "ends inside the band" in embed["footer"]["text"]
    bad = await discord_emu.slash("depth", {"symbol": "ETHUSDT"})
    assert bad.ephemeral and "No order-book depth for ETHUSDT" in bad.content


async def test_fear_and_greed(tripwire: TripwireBot, discord_emu: DiscordEmulator, clock: Clock) -> None:
    clock.now = FNG_61_DAY
    reply = await discord_emu.slash("fng", {})
    embed = reply.embeds[0]
    assert embed["title"] == "Fear & Greed Index: 61 (Greed)"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Since yesterday"] == "+13 (from 48)"
    assert fields["Record"].startswith("Highest since 2025-10-")
    clock.now = parse_time("2017-01-01")
    empty = await discord_emu.slash("fng", {})
    assert empty.ephemeral and empty.content.startswith("No Fear & Greed data yet")


async def test_alert_add_valid_and_invalid(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "btc",
            "settings": "level=95000 direction=up",
            "channel": GENERAL_CHANNEL_ID,
            "role": MOD_ROLE_ID,
            "note": "the big one",
            "repeat": False,
            "cooldown": "1h",
            "expires": "7d",
        },
        user_id=MOD_ID,
    )
    assert reply.ephemeral
    rule_id = reply.embeds[0]["footer"]["text"].removeprefix("rule ")
    stored = repo.rule(rule_id)
    assert stored is not None
    assert (stored.channel_id, stored.role_id, stored.note, stored.repeat, stored.cooldown_s) == (
        GENERAL_CHANNEL_ID,
        MOD_ROLE_ID,
        "the big one",
        False,
        3600,
    )
    assert stored.settings["level"] == 95000 and stored.settings["direction"] == "up"
    assert stored.expires_at == stored.created_at + 7 * 86_400_000

    level_1 = {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=1"}
    for options, message in [
        (
            {**level_1, "settings": "level=-5"},
            "Invalid `settings` for level_cross: `level` must be greater than 0",
        ),
        (
            {**level_1, "settings": "level=0"},
            "Invalid `settings` for level_cross: `level` must be greater than 0",
        ),
        ({**level_1, "symbol": "XRPUSDT"}, "Unknown symbol `XRPUSDT`"),
        ({**level_1, "cooldown": "soon"}, "I could not read `soon` as a cooldown"),
        ({**level_1, "expires": "10y"}, "I could not read `10y` as a expiry"),
        (
            {**level_1, "settings": "level=1 hysteresis_pct=50"},
            "Invalid `settings` for level_cross: `hysteresis_pct` must be at most 20",
        ),
        ({**level_1, "role": GUILD_ID}, "Alerts never ping @everyone"),
        (
            {**level_1, "channel": PRIVATE_CHANNEL_ID},
            f"I cannot post in <#{PRIVATE_CHANNEL_ID}>: I need View Channel, Send Messages, Embed Links",
        ),
    ]:
        bad = await discord_emu.slash("alert add", options, user_id=OWNER_ID)
        assert bad.ephemeral and bad.content.startswith(message), (options, bad.content)


async def test_a_channel_alert_without_manage_server_is_refused(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    reply = await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "BTCUSDT",
            "settings": "level=1",
            "deliver": "channel",
            "channel": ALERTS_CHANNEL_ID,
        },
        user_id=MEMBER_ID,
    )
    assert reply.ephemeral and reply.content.startswith(
        "Alerts in channels need the Manage Server permission"
    )
    assert repo.rules(guild_id=GUILD_ID) == []


async def test_without_guild_ids_commands_sync_globally_and_queries_work_in_dms(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service
) -> None:
    config = parse_config({"symbols": ["BTCUSDT", "ETHUSDT"]})
    async with connected_bot(lambda: TripwireBot(config, service, **client_options())):
        assert {c["name"] for c in discord_emu.commands_synced(None)} == COMMANDS
        assert discord_emu.commands_synced(GUILD_ID) == []
        reply = await discord_emu.slash("price", {"symbol": "ETHUSDT"}, in_dm=True, user_id=MEMBER_ID)
        assert reply.embeds[0]["title"].startswith("ETH is at $")
        with pytest.raises(PermissionError, match="not available in DMs"):
            await discord_emu.slash("alert list", in_dm=True, user_id=OWNER_ID)


async def test_alert_list_shows_distance_to_the_level(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    rule_id = await add_btc_rule(discord_emu)
    reply = await discord_emu.slash("alert list", user_id=OWNER_ID)
    assert reply.ephemeral
    assert reply.embeds[0]["title"] == "This server's alerts (1 active of 1)"
    assert f"`{rule_id}` **BTC** level_cross level=$95,000" in reply.embeds[0]["description"]
    assert "price $94,792.99, +0.22% to the level" in reply.embeds[0]["description"]
    own = await discord_emu.slash("alert list", user_id=MEMBER_ID)
    assert own.embeds[0]["title"] == "Your alerts: none yet"


async def test_alert_remove_pause_resume(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    rule_id = await add_btc_rule(discord_emu)
    choices = await discord_emu.autocomplete("alert pause", {"rule": "btc"}, "rule", user_id=OWNER_ID)
    assert [c["value"] for c in choices] == [rule_id]
    assert choices[0]["name"].startswith(f"{rule_id} · BTCUSDT level=$95,000")

    paused = await discord_emu.slash("alert pause", {"rule": rule_id}, user_id=OWNER_ID)
    assert paused.embeds[0]["title"] == f"Alert {rule_id} paused"
    again = await discord_emu.slash("alert pause", {"rule": rule_id}, user_id=OWNER_ID)
    assert again.ephemeral and again.content.startswith(f"Alert `{rule_id}` is already paused")
    resumed = await discord_emu.slash("alert resume", {"rule": rule_id}, user_id=MOD_ID)
    assert resumed.embeds[0]["title"] == f"Alert {rule_id} resumed"
    refused = await discord_emu.slash("alert remove", {"rule": rule_id}, user_id=MEMBER_ID)
    assert refused.ephemeral and "belongs to someone else" in refused.content
    missing = await discord_emu.slash("alert remove", {"rule": "nope-123"}, user_id=OWNER_ID)
    assert missing.ephemeral and missing.content.startswith("There is no alert `nope-123` in this server")
    removed = await discord_emu.slash("alert remove", {"rule": rule_id}, user_id=OWNER_ID)
    assert removed.embeds[0]["title"] == f"Alert {rule_id} removed"
    assert repo.rule(rule_id) is None


async def test_setup(tripwire: TripwireBot, discord_emu: DiscordEmulator, service: Service) -> None:
    shown = await discord_emu.slash("setup", {}, user_id=OWNER_ID)
    assert shown.embeds[0]["title"] == "Server settings" and shown.ephemeral
    saved = await discord_emu.slash(
        "setup", {"alert_channel": ALERTS_CHANNEL_ID, "ops_channel": GENERAL_CHANNEL_ID}, user_id=MOD_ID
    )
    assert saved.embeds[0]["title"] == "Server settings saved"
    assert service.guild_setup(GUILD_ID).ops_channel_id == GENERAL_CHANNEL_ID
    hidden = await discord_emu.slash("setup", {"ops_channel": PRIVATE_CHANNEL_ID}, user_id=OWNER_ID)
    assert hidden.ephemeral and hidden.content.startswith(f"I cannot post in <#{PRIVATE_CHANNEL_ID}>")
    refused = await discord_emu.slash(
        "setup", {"alert_channel": GENERAL_CHANNEL_ID}, user_id=MEMBER_ID, check_permissions=False
    )
    assert refused.ephemeral and refused.content == "You need the Manage Server permission to do that."
    assert service.guild_setup(GUILD_ID).alert_channel_id == ALERTS_CHANNEL_ID


async def test_status(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    reply = await discord_emu.slash("status", {}, user_id=MEMBER_ID)
    assert reply.ephemeral and reply.deferred
    embed = reply.embeds[0]
    assert embed["title"] == "Tripwire is running; 1 feed(s) need attention"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    # The seeded database is about a megabyte: its size is shown in kB or MB (new tables cross the line).
    assert fields["Version"] == "0.1.0" and re.fullmatch(r"[0-9.,]+ (kB|MB)", fields["Database"])
    assert "🔴 binance_futures: stale" in fields["Feeds"] and "no message for 15m" in fields["Feeds"]
    assert embed["footer"]["text"] == "uptime 1h"


async def test_an_unexpected_error_is_logged_with_context_and_answered_privately(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, feeds: FixedFeeds, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> list[object]:
        raise RuntimeError("feed registry exploded")

    feeds.statuses = broken  # type: ignore[method-assign, assignment]
    with caplog.at_level(logging.ERROR, logger="bot.discord.tree"):
        reply = await discord_emu.slash("status", {}, user_id=MEMBER_ID)
    assert reply.ephemeral and reply.content.startswith("Something went wrong on my side; it has been logged")
    [record] = [r for r in caplog.records if r.name == "bot.discord.tree"]
    assert record.getMessage() == f"command /status failed for user {MEMBER_ID} in guild {GUILD_ID}"
    assert record.exc_info is not None and "feed registry exploded" in str(record.exc_info[1])
