"""Noise control on the replayed January 2026 breakout, through the real bot and the Discord emulator:
grouping, inhibition shown in the grouped message, resolve edits, the per-channel cap, and grouped
delivery staying exactly-once across crashes and deleted messages."""

from __future__ import annotations

from bot.discord.client import TripwireBot
from bot.notify.alert_charts import AlertCharts
from bot.notify.discord.sink import DiscordSink
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher
from storage.repo import Repo
from tests.bot.discord.noise_support import (
    BREAKOUT_FROM,
    BREAKOUT_TO,
    BTC_LINES,
    ETH_LINES,
    FOLDED,
    RESOLVED_BY,
    all_rows,
    folded_under,
    listed,
    replay,
    roomy_message_limits,  # noqa: F401 - an autouse fixture
    scenario_config,
)
from tests.bot.discord.support import bot_messages, drain, queue_alerts, rows, titles
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID, MOD_ROLE_ID


async def test_the_breakout_hour_is_one_grouped_message_per_channel(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config = scenario_config()

    summary = await replay(tripwire, repo, config, BREAKOUT_FROM, BREAKOUT_TO)

    assert summary.fired == 8
    [btc] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    [eth] = bot_messages(discord_emu, GENERAL_CHANNEL_ID)
    assert btc.embeds[0]["title"] == "3 alerts: BTC" and listed(btc) == BTC_LINES
    assert eth.embeds[0]["title"] == "3 alerts: ETH" and listed(eth) == ETH_LINES
    # Inhibition: the round level and the volume spike are lines under the squeeze, not messages.
    assert folded_under(btc) == FOLDED and folded_under(eth) == []
    assert btc.content == f"<@&{MOD_ROLE_ID}>" and eth.content == ""
    assert btc.embeds[0]["color"] == 0xC0392B  # the cascade is critical
    # One request per channel: the whole hour went out in each message's first send.
    assert btc.edits == 0 and eth.edits == 0
    assert len(discord_emu.requests_matching("POST", "/channels/*/messages")) == 2


async def test_without_a_group_window_the_same_hour_is_a_burst(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config = scenario_config(group_window_seconds=0)

    await replay(tripwire, repo, config, BREAKOUT_FROM, BREAKOUT_TO)

    btc = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert titles(btc) == BTC_LINES and titles(bot_messages(discord_emu, GENERAL_CHANNEL_ID)) == ETH_LINES
    # The folded alerts are still no messages of their own: they are listed in the squeeze's message.
    squeeze = btc[1].embeds[0]["fields"][-1]
    assert squeeze["name"] == "Also while this lasts (2)"
    assert [line.split(" · ")[0].removeprefix("• ") for line in squeeze["value"].splitlines()] == FOLDED


async def test_alerts_ending_edit_the_grouped_message_to_say_how_long_they_lasted(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config = scenario_config()

    summary = await replay(tripwire, repo, config, BREAKOUT_FROM, RESOLVED_BY)

    assert summary.resolved >= 2
    first, later = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    lines = first.embeds[0]["description"].splitlines()
    ended = [line for line in lines if "ended after 1h" in line]
    assert [line.split("**")[1] for line in ended] == BTC_LINES[:2]  # the cascade and the squeeze
    assert all(line.startswith("⏹") for line in ended) and "ended" not in lines[-1]
    assert first.edits == 1 and len(first.history) == 1
    # No separate "Ended" message: the message of the next hour is the daily close, nothing else.
    assert titles([later]) == ["BTC closed the day above $95,000"]
    resolves = [row for row in all_rows(repo) if row.kind == "resolve"]
    assert len(resolves) == 2 and {(r.status, r.remote_id) for r in resolves} == {
        ("delivered", str(first.id))
    }


async def test_a_single_alerts_message_is_edited_when_it_ends(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    # Only the cascade routed to #alerts: its message is the full alert embed, edited when it ends.
    config = scenario_config(group_by=["rule"])
    config = config.model_copy(
        update={"routes": [config.routes[0].model_copy(update={"detectors": ["liquidation_cascade"]})]}
    )

    await replay(tripwire, repo, config, BREAKOUT_FROM, RESOLVED_BY)

    [cascade] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    embed = cascade.embeds[0]
    assert embed["title"] == BTC_LINES[0] and embed["color"] == 0x95A5A6  # grey: over
    assert "⏹ **Ended after 1h** · <t:1768348800:R>" in embed["description"]
    assert cascade.content == f"<@&{MOD_ROLE_ID}>" and cascade.edits == 1


async def test_a_rule_can_ask_for_a_separate_notice_or_none(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config = scenario_config(
        {"btc-liquidations": {"resolve_notice": "message"}, "btc-squeeze": {"resolve_notice": "none"}}
    )

    await replay(tripwire, repo, config, BREAKOUT_FROM, RESOLVED_BY)

    first, later = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    ended = [line for line in first.embeds[0]["description"].splitlines() if "ended after" in line]
    assert [line.split("**")[1] for line in ended] == BTC_LINES[:1]  # the squeeze's end is not told
    # The cascade's end is also a line of the next message, grouped with the daily close.
    assert listed(later) == [f"Ended: {BTC_LINES[0]}", "BTC closed the day above $95,000"]
    assert later.embeds[0]["description"].splitlines()[0].endswith("ended after 1h")


async def test_past_the_channel_cap_alerts_are_summarised_in_one_message(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    # Everything to #alerts, one message per alert, at most 3 messages a minute.
    config = scenario_config(group_window_seconds=0, channel_max_per_minute=3)
    config = config.model_copy(update={"routes": [config.routes[0].model_copy(update={"symbols": []})]})

    await replay(tripwire, repo, config, BREAKOUT_FROM, BREAKOUT_TO)

    messages = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert len(messages) == 3
    assert titles(messages[:2]) == BTC_LINES[:2]
    summary = messages[2].embeds[0]
    assert summary["title"] == "+4 more alerts"
    assert summary["description"].startswith("This channel reached its limit of 3 messages a minute")
    assert listed(messages[2]) == [BTC_LINES[2], *ETH_LINES]
    assert messages[2].content == ""  # a summary pings nobody
    assert {r.status for r in all_rows(repo)} == {"delivered"}


async def test_the_summary_is_edited_while_the_cap_lasts_then_messages_resume(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    policy = GroupingPolicy(window_ms=0, max_per_minute=3)
    sink = DiscordSink(tripwire, repo, tripwire.service.engine, clock, grouping=policy)
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    target = f"channel:{ALERTS_CHANNEL_ID}"
    queue_alerts(repo, target, ["a1", "a2", "a3", "a4"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)
    clock.now += 30_000
    queue_alerts(repo, target, ["b1", "b2"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)
    clock.now += 31_000  # a minute after the first two messages: room for ordinary ones again
    queue_alerts(repo, target, ["c1"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)

    messages = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert [m.embeds[0]["title"] for m in messages] == ["a1", "a2", "+4 more alerts", "c1"]
    assert listed(messages[2]) == ["a3", "a4", "b1", "b2"] and messages[2].edits == 1


async def test_a_role_pinged_alert_does_not_join_a_message_that_cannot_ping_it(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    sink = DiscordSink(tripwire, repo, tripwire.service.engine, clock, grouping=GroupingPolicy())
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    target = f"channel:{ALERTS_CHANNEL_ID}"
    queue_alerts(repo, target, ["quiet 1"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)
    clock.now += 5_000
    queue_alerts(repo, target, ["loud"], rule_id="r2", guild_id=GUILD_ID, now=clock.now, role_id=MOD_ROLE_ID)
    queue_alerts(repo, target, ["quiet 2"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)

    first, second = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    # An edit pings nobody, so the pinging alert opened a message of its own; the quiet one still joined
    # the newest message of the window.
    assert titles([first]) == ["quiet 1"] and first.edits == 0
    assert listed(second) == ["loud", "quiet 2"] and second.content == f"<@&{MOD_ROLE_ID}>"


async def test_an_alert_added_to_a_deleted_message_is_posted_anew(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    sink = DiscordSink(tripwire, repo, tripwire.service.engine, clock, grouping=GroupingPolicy())
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    target = f"channel:{ALERTS_CHANNEL_ID}"
    queue_alerts(repo, target, ["first"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await drain(repo, dispatcher, clock)
    [original] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    discord_emu.world.delete_message(original)
    ids = queue_alerts(repo, target, ["second"], rule_id="r1", guild_id=GUILD_ID, now=clock.now + 1)

    await drain(repo, dispatcher, clock)

    [again] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert titles([again]) == ["second"]
    [row] = rows(repo, ids)
    assert row.status == "delivered" and row.remote_id == str(again.id)


async def test_a_grouped_message_keeps_its_first_alerts_chart_through_its_edits(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    config = scenario_config()

    await replay(
        tripwire, repo, config, BREAKOUT_FROM, RESOLVED_BY, attachments=AlertCharts(repo, everywhere=True)
    )

    first = bot_messages(discord_emu, ALERTS_CHANNEL_ID)[0]
    [chart] = first.attachments
    cascade = repo.events(rule_id="btc-liquidations", limit=1, newest_first=False)[0]
    assert chart.filename == f"alert-{cascade.id}.png" and chart.data.startswith(b"\x89PNG")
    # Edited when the cascade and the squeeze ended, it still shows the chart inside its embed.
    assert first.edits == 1 and "ended after 1h" in first.embeds[0]["description"]
    assert first.embeds[0]["image"]["url"] == chart.url
