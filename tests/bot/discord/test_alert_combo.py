"""A combo rule through the real bot and the Discord emulator: `when` typed in /alert add's `settings`
(quoted or not), its mistakes answered privately with the character they are at, its autocomplete saying
what is wrong while it is typed, and /alert test backtesting it on the replayed January 2026 data."""

from __future__ import annotations

import pytest

from bot.config import Config
from bot.discord.client import TripwireBot
from detectors.market_history import MarketHistory
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.history_support import history_config, load_replayed
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID

WHEN = "rsi(14, 4h) > 70 and close > ema(50, 4h) and close(1d) > 95000"


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


async def test_alert_add_reads_a_quoted_or_unquoted_when_and_refuses_a_mistake_privately(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    for settings, message in [
        (
            'when="rsi(14, 4h) > 70 and close > emma(50, 1d)"',
            "Invalid `settings` for combo: `when`: at character 30 (`rsi(14, 4h) > 70 and close > emma`): "
            "unknown name emma (did you mean ema?)",
        ),
        (
            'when="rsi(14, 4x) > 70"',
            "Invalid `settings` for combo: `when`: at character 9 (`rsi(14, 4x`): unknown interval 4x",
        ),
        ('when="close > 96,120"', "`when`: at character 11 (`close > 96,`): write numbers without commas"),
        ('when="rsi(14, 4h) > 70', "A quote in `when=rsi(14, 4h) > 70` is never closed."),
        ("interval=4h", "combo needs `when`"),
    ]:
        reply = await discord_emu.slash(
            "alert add", {"detector": "combo", "symbol": "btc", "settings": settings}, user_id=OWNER_ID
        )
        assert reply.ephemeral and not reply.embeds and message in reply.content, reply.content
    assert repo.rules(guild_id=GUILD_ID) == []

    quoted = await discord_emu.slash(
        "alert add", {"detector": "combo", "symbol": "btc", "settings": f'when="{WHEN}"'}, user_id=OWNER_ID
    )
    assert quoted.embeds, quoted.content
    unquoted = await discord_emu.slash(
        "alert add",
        {
            "detector": "combo",
            "symbol": "eth",
            "settings": "when=rsi(14) >= 70 and close > sma(20) interval=4h",
        },
        user_id=MEMBER_ID,
    )
    assert unquoted.embeds, unquoted.content
    stored = {r.symbol: r.settings for r in repo.rules(guild_id=GUILD_ID)}
    assert stored["BTCUSDT"] == {"when": WHEN, "interval": "1h"}
    assert stored["ETHUSDT"] == {"when": "rsi(14) >= 70 and close > sma(20)", "interval": "4h"}


async def test_the_settings_autocomplete_says_what_is_wrong_while_when_is_typed(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    async def offered(settings: str) -> list[dict[str, str]]:
        return await discord_emu.autocomplete(
            "alert add", {"detector": "combo", "settings": settings}, "settings", user_id=MEMBER_ID
        )

    first = await offered("")
    assert first[0] == {"name": "when= (needed: text, 1 to 400 characters)", "value": "when="}
    example = await offered("when=")
    assert example == [
        {
            "name": 'when="rsi(14, 4h) > 70 and close > ema(50, 1d)" (e.g.)',
            "value": 'when="rsi(14, 4h) > 70 and close > ema(50, 1d)"',
        }
    ]
    typing = await offered('when="rsi(14, 4h) > 70 and cl')
    assert typing[0] == {
        "name": "✗ when: at character 22 (rsi(14, 4h) > 70 and cl): unknown name cl (did you mean close?); "
        "known…",
        "value": 'when="rsi(14, 4h) > 70 and cl',  # picking the hint leaves the text as typed
    }
    assert {"name": 'when="rsi(14, 4h) > 70 and cl"', "value": 'when="rsi(14, 4h) > 70 and cl"'} in typing
    # Unquoted and halfway: the mistake is said, and no other setting is offered in the middle of it.
    halfway = await offered("when=rsi(14, ")
    assert [c["value"] for c in halfway] == ["when=rsi(14, "]
    assert halfway[0]["name"].startswith("✗ when: at character 8 (rsi(14,): expected a number or an interval")
    # Once it reads, it is offered quoted, then the other settings after it.
    done = await offered("when=close > ema(50, 1d)")
    assert done[0]["value"] == 'when="close > ema(50, 1d)"'
    assert 'when="close > ema(50, 1d)" interval=4h' in [c["value"] for c in done]
    assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in typing + halfway + done)


async def test_alert_test_backtests_a_combo_and_says_each_value_when_it_would_have_fired(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    options = {"detector": "combo", "symbol": "BTCUSDT", "settings": f'when="{WHEN}"', "period": "30d"}
    reply = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral, reply.content
    embed = reply.embeds[0]
    assert embed["title"] == "Backtest: this alert would have fired 2 times in 20 days"
    [when] = [f["value"] for f in embed["fields"] if f["name"] == "When"]
    first, second = parse_time("2026-01-14T00:00Z") // 1000, parse_time("2026-01-14T16:00Z") // 1000
    assert f"<t:{first}:f>" in when and f"<t:{second}:f>" in when
    assert (
        "BTC combo: RSI(14, 4h) 76.5 > 70 and close 95,414 > EMA(50, 4h) 91,472 and 1d close 95,414 > 95000"
        in when
    )
    bad = await discord_emu.slash(
        "alert test", {**options, "settings": 'when="rsi(14, 4h) > "'}, user_id=OWNER_ID
    )
    assert bad.ephemeral and not bad.deferred
    assert bad.content.startswith(
        "Invalid `settings` for combo: `when`: at character 14 (`rsi(14, 4h) >`): expected a number or a "
        "market value"
    ), bad.content


async def test_alert_detectors_explains_combo_with_a_quoted_example(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    page = await discord_emu.slash("alert detectors", {"detector": "combo"}, user_id=MEMBER_ID)
    embed = page.embeds[0]
    assert embed["title"] == "Detector combo"
    example = (
        '`/alert add detector:combo symbol:BTCUSDT settings:when="rsi(14, 4h) > 70 and close > ema(50, 1d)"`'
    )
    assert example in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["when (required)"].startswith("Conditions that must all hold: comparisons (< <= > >=)")
    assert fields["interval (optional)"].endswith("Default: `1h`.")
