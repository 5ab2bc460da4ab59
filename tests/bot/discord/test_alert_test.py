"""/alert test through the real bot and the emulator: a backtest of "BTC crosses 95,000 up" over the
January 2026 data finds the one crossing of the 13th, with a chart, and its button creates the rule once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.discord.cogs.backtest import AlertTestCog
from bot.discord.views import NOT_YOURS
from bot.services.detector_settings import example_text
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.history_support import CROSSING_AT, history_config, history_config_data, load_replayed
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, InteractionReply
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, MOD_ID, OWNER_ID

PNG = b"\x89PNG\r\n\x1a\n"
CROSS_UP = {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=95000 direction=up"}
ENABLE = "Enable this rule"


@pytest.fixture
def config() -> Config:
    """Return the example config, its rules routed to the emulator's guild."""
    return history_config()


@pytest.fixture
def history(repo: Repo, clock: Clock) -> MarketHistory:
    """Fill the database with the replayed scenario and move the clock past its last candle."""
    load_replayed(repo)
    clock.now = parse_time("2026-01-21T00:00Z")
    return MarketHistory()


def enable_button(reply: InteractionReply) -> Mapping[str, Any]:
    """Return the reply's Enable button."""
    [button] = [b for b in reply.buttons() if str(b.get("label", "")).startswith("Enable")]
    return button


async def private_reply(emu: DiscordEmulator, title: str) -> None:
    """Wait for the ephemeral message titled ``title`` a button press sends after updating its message."""

    def sent() -> bool:
        messages = emu.messages_in(ALERTS_CHANNEL_ID, include_ephemeral=True)
        return any(m.ephemeral and m.embeds and m.embeds[0].get("title") == title for m in messages)

    await emu.wait_until(sent)


def discord_rules(repo: Repo) -> list[tuple[str, float]]:
    """Return (detector, level) of the rules created in the guild."""
    return [(r.detector, r.settings.get("level", 0.0)) for r in repo.rules(guild_id=GUILD_ID)]


async def test_a_backtest_of_btc_crossing_95000_finds_the_13th_and_its_button_creates_the_rule_once(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    reply = await discord_emu.slash("alert test", CROSS_UP, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral
    embed = reply.embeds[0]
    # The stored history (the bundled scenario's candles, Jan 1 to 21) covers 20 of the 30 days asked for:
    # the answer says the span it covered (issue 22), not the period asked for.
    assert embed["title"] == "Backtest: this alert would have fired 1 time in 20 days"
    assert embed["description"].startswith("`level_cross` on BTC · level=$95,000 direction=up\n")
    assert embed["description"].endswith("\nThe stored history covers 20 days of the 30 days asked for.")
    [when] = [f["value"] for f in embed["fields"] if f["name"] == "When"]
    assert when == f"<t:{CROSSING_AT // 1000}:f> (<t:{CROSSING_AT // 1000}:R>) · BTC broke above $95,000"
    [chart] = reply.attachments
    assert chart.data.startswith(PNG) and chart.size < 1_000_000 and embed["image"]["url"] == chart.url
    assert discord_rules(repo) == []

    # Only whoever ran the test may press; no alert channel yet: the same refusal as /alert add.
    other = await discord_emu.click(reply, enable_button(reply)["custom_id"], user_id=MOD_ID)
    assert other.ephemeral and other.content == NOT_YOURS
    early = await discord_emu.click(reply, enable_button(reply)["custom_id"])
    assert early.ephemeral and early.content.startswith("Pick a channel for this alert, or set the server's")
    assert discord_rules(repo) == []

    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    custom_id = enable_button(reply)["custom_id"]
    # A double click: both presses reach the bot before the first one's answer disables the button.
    first, second = await asyncio.gather(
        discord_emu.click(reply, custom_id), discord_emu.click(reply, custom_id)
    )
    assert discord_rules(repo) == [("level_cross", 95000.0)]
    [rule] = repo.rules(guild_id=GUILD_ID)
    assert (rule.owner_id, rule.settings["direction"]) == (OWNER_ID, "up")
    answers = sorted([first, second], key=lambda r: r.callback_type or 0)
    assert answers[0].content == f"Already enabled as `{rule.id}`." and answers[0].ephemeral
    await private_reply(discord_emu, f"Alert {rule.id} created")
    assert enable_button(answers[1]) == {**enable_button(answers[1]), "disabled": True}
    assert enable_button(answers[1])["label"] == f"Enabled as {rule.id}"


async def test_alert_test_refuses_bad_input_privately_and_members_test_personal_alerts(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    for options, message in [
        (
            {**CROSS_UP, "settings": "level=-5 direction=up"},
            "Invalid `settings` for level_cross: `level` must be greater than 0",
        ),
        ({**CROSS_UP, "symbol": "XRPUSDT"}, "Unknown symbol `XRPUSDT`"),
        ({**CROSS_UP, "period": "2h"}, "The period must be at least 1d"),
        ({**CROSS_UP, "period": "120d"}, "The period can be at most"),
        ({**CROSS_UP, "period": "soon"}, "I could not read `soon` as a period"),
        ({**CROSS_UP, "cooldown": "soon"}, "I could not read `soon` as a cooldown"),
    ]:
        bad = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
        assert bad.ephemeral and not bad.deferred and bad.content.startswith(message), (options, bad.content)
    # A member may backtest too (their alerts are personal ones), but not one for a channel.
    member = await discord_emu.slash("alert test", CROSS_UP, user_id=MEMBER_ID)
    assert member.ephemeral and member.embeds[0]["title"].startswith("Backtest:")
    channel = await discord_emu.slash("alert test", {**CROSS_UP, "deliver": "channel"}, user_id=MEMBER_ID)
    assert channel.ephemeral and channel.content.startswith("Alerts in channels need the Manage Server")
    missing = await discord_emu.slash("alert test-rule", {"rule": "nope-1"}, user_id=OWNER_ID)
    assert missing.ephemeral and missing.content.startswith("There is no alert `nope-1` in this server")
    assert repo.rules(guild_id=GUILD_ID) == []


async def test_an_existing_rule_is_backtested_and_a_paused_one_can_be_switched_on(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config_rule = await discord_emu.slash(
        "alert test-rule", {"rule": "btc-95k", "period": "90d"}, user_id=MOD_ID
    )
    assert config_rule.embeds[0]["title"] == "Backtest: btc-95k would have fired 1 time in 20 days"
    assert not config_rule.buttons(), "a running config rule has nothing to enable"
    choices = await discord_emu.autocomplete("alert test-rule", {"rule": "eth"}, "rule", user_id=MOD_ID)
    assert "eth-3500-close" in [c["value"] for c in choices]

    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    added = await discord_emu.slash("alert add", CROSS_UP, user_id=OWNER_ID)
    rule_id = added.embeds[0]["footer"]["text"].removeprefix("rule ")
    await discord_emu.slash("alert pause", {"rule": rule_id}, user_id=OWNER_ID)
    paused = await discord_emu.slash("alert test-rule", {"rule": rule_id}, user_id=OWNER_ID)
    assert paused.embeds[0]["title"] == f"Backtest: {rule_id} would have fired 1 time in 20 days"
    resumed = await discord_emu.click(paused, enable_button(paused)["custom_id"])
    assert enable_button(resumed)["label"] == f"Enabled as {rule_id}"
    await private_reply(discord_emu, f"Alert {rule_id} resumed")
    stored = repo.rule(rule_id)
    assert stored is not None and stored.enabled


async def test_the_enable_button_is_disabled_when_the_view_times_out(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    cog = tripwire.get_cog("Backtests")
    assert isinstance(cog, AlertTestCog)
    cog.view_timeout_s = 0.2
    reply = await discord_emu.slash("alert test", {**CROSS_UP, "period": "7d"}, user_id=OWNER_ID)
    # The week before the clock (Jan 14 to 21) has no new crossing: BTC was above $95,000 at its start.
    assert reply.embeds[0]["title"] == "Backtest: this alert would have fired 0 times in 7 days"
    message = reply.message_id or 0
    await discord_emu.wait_until(
        lambda: all(b.get("disabled") for b in discord_emu.message(message).components[0]["components"])
    )


async def test_the_enable_button_ends_before_the_commands_token_expires(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    # Tokens live 1.5 s here (Discord: 15 minutes); the button's idle timeout is far longer, so only the
    # view's life counted from the command (replay time included) can end it while the token still works.
    discord_emu.config.interaction_token_ttl = 1.5
    cog = tripwire.get_cog("Backtests")
    assert isinstance(cog, AlertTestCog)
    cog.view_timeout_s = 600.0
    cog.view_lifetime_s = 1.0
    reply = await discord_emu.slash("alert test", {**CROSS_UP, "period": "7d"}, user_id=OWNER_ID)
    message = reply.message_id or 0
    await discord_emu.wait_until(
        lambda: all(b.get("disabled") for b in discord_emu.message(message).components[0]["components"]),
        timeout=3.0,
    )
    assert discord_emu.requests_matching(status=401) == []


def short_backtests() -> Config:
    """Return the example config with backtests limited to two weeks (default one)."""
    data = history_config_data()
    data["backtest"] = {**data["backtest"], "max_days": 14, "default_days": 7}
    return parse_config(data)


@pytest.mark.parametrize("config", [short_backtests()])
async def test_the_period_is_bounded_by_the_config_files_backtest_limit(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    too_long = await discord_emu.slash("alert test", {**CROSS_UP, "period": "30d"}, user_id=OWNER_ID)
    assert too_long.ephemeral and too_long.content.startswith("The period can be at most 2w; you gave `30d`")
    offered = await discord_emu.autocomplete(
        "alert test", {**CROSS_UP, "period": ""}, "period", user_id=OWNER_ID
    )
    assert [c["value"] for c in offered] == ["7d", "14d"]
    # Two weeks before the clock (Jan 7 to 21) hold the crossing of the 13th.
    reply = await discord_emu.slash("alert test", {**CROSS_UP, "period": "14d"}, user_id=OWNER_ID)
    assert reply.embeds[0]["title"] == "Backtest: this alert would have fired 1 time in 14 days"
    cog = tripwire.get_cog("Backtests")
    assert isinstance(cog, AlertTestCog)
    assert cog.period_description().endswith("(default 7d, at most 14d)")


@pytest.mark.parametrize("detector", sorted(detector_classes()))
async def test_every_built_in_detector_can_be_backtested(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, detector: str
) -> None:
    cls = detector_classes()[detector]
    options = {"detector": detector, "settings": example_text(cls.Settings), "period": "7d"}
    if not cls.market_wide:
        options["symbol"] = "BTCUSDT"
    reply = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral, reply.content
    title = reply.embeds[0]["title"]
    # The span covered: 7 days of candles; Fear & Greed's daily values of Jan 14 to 20 span 6 days.
    covered = "6 days" if detector == "fear_greed" else "7 days"
    assert re.fullmatch(rf"Backtest: this alert would have fired \d+ times? in {covered}", title), title
    assert enable_button(reply)
