"""/silence through the real bot and the Discord emulator: adding, listing and removing silences, who may,
bad input, and a silence muting the replayed breakout's BTC alerts until it ends."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.discord.client import TripwireBot
from bot.services import Service
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.discord.noise_support import (
    BREAKOUT_FROM,
    ETH_LINES,
    RESOLVED_BY,
    listed,
    replay,
    roomy_message_limits,  # noqa: F401 - an autouse fixture
    scenario_config,
)
from tests.bot.discord.support import bot_messages, titles
from tests.bot.discord.test_properties import check_reply_content
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    OWNER_ID,
)


async def test_add_list_and_remove_a_silence(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    added = await discord_emu.slash(
        "silence add",
        {"symbol": "btc", "detector": "round_levels", "duration": "2h", "reason": "chop around 95k"},
        user_id=OWNER_ID,
    )
    assert added.ephemeral and added.embeds[0]["title"] == "Silence #1 added"
    text = added.embeds[0]["description"]
    assert "**BTCUSDT · round_levels**" in text and "chop around 95k" in text
    assert f"ends <t:{(clock.now + 7_200_000) // 1000}:R>" in text
    weekly = await discord_emu.slash(
        "silence add",
        {"duration": "1h", "repeat": "weekly", "starts": "sun 03:00", "reason": "exchange maintenance"},
        user_id=OWNER_ID,
    )
    assert "1h every week · next <t:1768705200:f>" in weekly.embeds[0]["description"]  # Sun 18 Jan 03:00

    listing = await discord_emu.slash("silence list", user_id=OWNER_ID)
    assert listing.embeds[0]["title"] == "Silences (1 in force of 2)"
    lines = listing.embeds[0]["description"].splitlines()
    assert lines[0].startswith("🔇 `#1`") and lines[1].startswith("⏳ `#2` **every alert**")
    choices = await discord_emu.autocomplete(
        "silence remove", {"silence": "maint"}, "silence", user_id=OWNER_ID
    )
    assert [c["value"] for c in choices] == ["2"]

    removed = await discord_emu.slash("silence remove", {"silence": "#1"}, user_id=OWNER_ID)
    assert removed.embeds[0]["title"] == "Silence #1 removed"
    assert [s.id for s in repo.silences(GUILD_ID, clock.now)] == [2]


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ({"duration": "soon"}, "I could not read `soon` as a duration"),
        ({"until": "whenever"}, "I could not read `whenever` as a time"),
        ({}, "Give either a duration"),
        ({"duration": "1h", "detector": "moon_phase"}, "Unknown alert type `moon_phase`"),
        ({"duration": "1h", "rule": "nope"}, "There is no alert `nope` in this server"),
        ({"duration": "1d", "repeat": "daily"}, "A daily mute window must be shorter than 1d"),
    ],
)
async def test_bad_input_is_answered_privately_with_what_to_fix(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, options: dict[str, str], answer: str
) -> None:
    reply = await discord_emu.slash("silence add", options, user_id=OWNER_ID)
    assert reply.ephemeral and reply.content.startswith(answer)


async def test_only_server_managers_may_silence(tripwire: TripwireBot, discord_emu: DiscordEmulator) -> None:
    with pytest.raises(PermissionError):
        await discord_emu.slash("silence add", {"duration": "1h"}, user_id=MEMBER_ID)
    # A client that ignores default_member_permissions is refused by the bot itself.
    for name, options in (
        ("silence add", {"duration": "1h"}),
        ("silence list", {}),
        ("silence remove", {"silence": "1"}),
    ):
        reply = await discord_emu.slash(name, options, user_id=MEMBER_ID, check_permissions=False)
        assert reply.ephemeral and reply.content == "You need the Manage Server permission to do that."


async def test_a_silence_mutes_the_breakout_then_alerts_resume_when_it_ends(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, service: Service, clock: Clock
) -> None:
    clock.now = parse_time("2026-01-13T22:30Z")
    await discord_emu.slash("silence add", {"symbol": "BTCUSDT", "duration": "1h"}, user_id=OWNER_ID)
    config = scenario_config()

    await replay(tripwire, repo, config, BREAKOUT_FROM, RESOLVED_BY)

    # 23:00, BTC, silenced: nothing; 00:00, the silence over: the daily close. The cascade's end is not
    # told either: nobody was told it began.
    assert titles(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == ["BTC closed the day above $95,000"]
    [eth] = bot_messages(discord_emu, GENERAL_CHANNEL_ID)  # other symbols were never muted
    assert listed(eth) == ETH_LINES
    # The history keeps the muted alerts, marked silenced (what /status and /history show).
    btc = repo.events(symbol="BTCUSDT", since=BREAKOUT_FROM, newest_first=False)
    muted = [(e.title, e.state) for e in btc if e.silenced_by is not None]
    assert len(muted) == 5 and all(state == "firing" for _, state in muted)
    assert [e.title for e in btc if e.silenced_by is None and e.state == "firing"] == [
        "BTC closed the day above $95,000"
    ]
    clock.now = parse_time("2026-01-13T23:10Z")
    # The bot routes as the replay did: a muted alert was posted nowhere, so where its rule's route
    # points decides who sees it (bot.services.visibility).
    service.config = service.config.model_copy(update={"routes": config.routes})
    status = service.status(GUILD_ID)
    assert status.last_alerts and all(a.silenced for a in status.last_alerts if a.symbol == "BTCUSDT")
    reply = await discord_emu.slash("status", user_id=OWNER_ID)
    assert "(silenced)" in next(f["value"] for f in reply.embeds[0]["fields"] if f["name"] == "Last alerts")


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80).filter(str.strip)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(duration=TEXT, until=TEXT, starts=TEXT, reason=TEXT, silence=TEXT)
async def test_silence_commands_with_any_text_answer_or_explain(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    duration: str,
    until: str,
    starts: str,
    reason: str,
    silence: str,
) -> None:
    for options in ({"duration": duration, "starts": starts, "reason": reason}, {"until": until}):
        reply = await discord_emu.slash("silence add", options, user_id=OWNER_ID)
        check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
    reply = await discord_emu.slash("silence remove", {"silence": silence}, user_id=OWNER_ID)
    check_reply_content(reply.content, reply.ephemeral, bool(reply.embeds))
    assert (
        len(
            await discord_emu.autocomplete(
                "silence remove", {"silence": silence}, "silence", user_id=OWNER_ID
            )
        )
        <= 25
    )
