"""Personal alerts end to end through the real bot and the emulator: a member's rule fires into their DMs,
closed DMs pause it and the member is told once, quotas, leaving the server, and /privacy's deletion
checked in the database."""

from __future__ import annotations

from collections.abc import Callable

import discord
import pytest

from bot.alerts.engine import Engine
from bot.alerts.model import DMS_CLOSED_REASON
from bot.alerts.personal import MEMBER_LEFT_REASON, pause_for_closed_dms
from bot.alerts.routing import AlertRouter
from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.discord.cogs import privacy as privacy_cog
from bot.notify.discord.sink import DiscordSink
from bot.replay.pipeline import run_replay
from bot.services import Service
from bot.services.rules import RuleOptions
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.scenario import scenario_data
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, InteractionReply, StoredMessage, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    CLOSED_DMS_ID,
    GUILD_ID,
    MEMBER_ID,
    OWNER_ID,
)

MakeSink = Callable[..., DiscordSink]
CROSSING = ("2026-01-13T00:00Z", "2026-01-14T03:00Z")  # BTC closes above $95,000 at 23:00 on the 13th


async def add_personal(emu: DiscordEmulator, user_id: int, level: float = 95000, **extra: object) -> str:
    """Add a BTC level alert as a member through /alert add (no deliver: a DM for members)."""
    reply = await emu.slash(
        "alert add",
        {"detector": "level_cross", "symbol": "btc", "settings": f"level={level} direction=up", **extra},
        user_id=user_id,
    )
    assert reply.ephemeral and reply.embeds, reply.content
    return str(reply.embeds[0]["footer"]["text"]).removeprefix("rule ")


async def replay_crossing(config: Config, repo: Repo, sink: DiscordSink) -> None:
    """Replay the hours around BTC's break of $95,000 through the engine and the Discord sink."""
    await run_replay(
        config,
        scenario_data(),
        repo,
        [sink],
        lambda r: AlertRouter(r, [], console=False, discord=True),
        start=parse_time(CROSSING[0]),
        end=parse_time(CROSSING[1]),
    )


def followups_after(emu: DiscordEmulator, reply: InteractionReply) -> list[StoredMessage]:
    """Return the followups of an interaction, including ones sent after its answer."""
    record = emu.world.interactions[reply.interaction_id]
    return [emu.world.messages[i] for i in record.followup_ids]


async def test_a_members_personal_alert_fires_into_their_dms(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, config: Config, make_sink: MakeSink
) -> None:
    rule_id = await add_personal(discord_emu, MEMBER_ID, note="my level")
    row = repo.rule(rule_id)
    assert row is not None and row.deliver == "dm" and row.owner_id == MEMBER_ID and row.channel_id is None

    await replay_crossing(config, repo, make_sink(tripwire))

    [dm] = discord_emu.dm_messages_to(MEMBER_ID)
    assert dm.embeds[0]["title"] == "BTC broke above $95,000" and "my level" in dm.embeds[0]["description"]
    assert dm.embeds[0]["footer"]["text"].startswith(f"rule {rule_id} · level_cross")
    assert dm.content == ""  # nobody is pinged in a DM
    assert discord_emu.messages_in(ALERTS_CHANNEL_ID) == []  # and nothing went to the server's channels
    listed = await discord_emu.slash("alert list", user_id=MEMBER_ID)
    assert (
        listed.embeds[0]["title"] == "Your alerts (1 active of 1)"
        and "→ DM" in listed.embeds[0]["description"]
    )


async def test_closed_dms_pause_the_alerts_and_the_member_is_told_once_at_their_next_command(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, config: Config, make_sink: MakeSink
) -> None:
    first = await add_personal(discord_emu, CLOSED_DMS_ID)
    second = await add_personal(discord_emu, CLOSED_DMS_ID, level=120000)  # does not fire, paused as well

    await replay_crossing(config, repo, make_sink(tripwire))

    for rule_id in (first, second):
        row = repo.rule(rule_id)
        assert row is not None and not row.enabled and row.status_reason == DMS_CLOSED_REASON
    assert discord_emu.dm_messages_to(CLOSED_DMS_ID) == []
    refused = discord_emu.requests_matching("POST", "/channels/*/messages", status=403)
    assert len(refused) == 1  # tried once, never again
    [failed] = [
        r
        for r in repo.conn.execute(
            "SELECT status, error FROM outbox WHERE target = ?", (f"user:{CLOSED_DMS_ID}",)
        )
    ]
    assert failed[0] == "failed" and "50007" in failed[1]

    reply = await discord_emu.slash("price", {"symbol": "btc"}, user_id=CLOSED_DMS_ID)
    assert not reply.ephemeral and reply.embeds[0]["title"].startswith("BTC is at $")  # the answer, for all
    await discord_emu.wait_until(lambda: len(followups_after(discord_emu, reply)) == 1)
    [notice] = followups_after(discord_emu, reply)
    assert notice.ephemeral and "could not send you a direct message" in notice.content
    assert f"`{first}`" in notice.content and f"`{second}`" in notice.content
    assert repo.notices(CLOSED_DMS_ID) == []

    later = await discord_emu.slash("alert list", user_id=CLOSED_DMS_ID)
    assert "DMs are closed" in later.embeds[0]["description"]
    await discord_emu.slash("price", {"symbol": "eth"}, user_id=CLOSED_DMS_ID)
    assert followups_after(discord_emu, later) == []  # told once
    # Another replay of the crossing queues nothing: the rules stay paused, no DM is retried.
    await replay_crossing(config, repo, make_sink(tripwire))
    assert len(discord_emu.requests_matching("POST", "/channels/*/messages", status=403)) == 1


async def test_the_notice_also_follows_a_command_that_failed(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, service: Service, clock: Clock
) -> None:
    # Added without a command: the notice must wait for the one below, not follow the /alert add.
    rule_id = service.add_rule(
        GUILD_ID, CLOSED_DMS_ID, "level_cross", "BTCUSDT", {"level": 95000}, RuleOptions(deliver="dm")
    ).id
    pause_for_closed_dms(repo, CLOSED_DMS_ID, clock.now)  # as the sink does on a 50007
    bad = await discord_emu.slash("price", {"symbol": "doge"}, user_id=CLOSED_DMS_ID)
    assert bad.ephemeral and bad.content.startswith("Unknown symbol")
    await discord_emu.wait_until(lambda: len(followups_after(discord_emu, bad)) == 1)
    [notice] = followups_after(discord_emu, bad)
    assert notice.ephemeral and f"`/alert resume {rule_id}`" in notice.content


async def test_the_personal_quota_holds(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    for level in range(90000, 95000, 1000):  # the test config allows 5 per member
        await add_personal(discord_emu, MEMBER_ID, level=level)
    over = await discord_emu.slash(
        "alert add",
        {"detector": "level_cross", "symbol": "btc", "settings": "level=99000"},
        user_id=MEMBER_ID,
    )
    assert over.ephemeral and over.content.startswith("You already have 5 personal alerts")
    assert len(repo.rules(owner_id=MEMBER_ID)) == 5
    # A channel alert is still refused to a member, with the way to get it by DM.
    channel = await discord_emu.slash(
        "alert add",
        {"detector": "level_cross", "symbol": "btc", "settings": "level=1", "deliver": "channel"},
        user_id=MEMBER_ID,
    )
    assert "use `deliver: dm`" in channel.content


async def test_a_member_manages_only_their_own_alerts(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    server_rule = await add_personal(discord_emu, OWNER_ID)  # an admin's default: the server's channel
    mine = await add_personal(discord_emu, MEMBER_ID)
    server_row = repo.rule(server_rule)
    assert server_row is not None and server_row.deliver == "channel"

    choices = await discord_emu.autocomplete("alert pause", {"rule": ""}, "rule", user_id=MEMBER_ID)
    assert [c["value"] for c in choices] == [mine]
    refused = await discord_emu.slash("alert pause", {"rule": server_rule}, user_id=MEMBER_ID)
    assert refused.ephemeral and "belongs to someone else" in refused.content
    paused = await discord_emu.slash("alert pause", {"rule": mine}, user_id=MEMBER_ID)
    assert paused.embeds[0]["title"] == f"Alert {mine} paused"
    removed = await discord_emu.slash("alert remove", {"rule": mine}, user_id=MEMBER_ID)
    assert removed.embeds[0]["title"] == f"Alert {mine} removed" and repo.rule(mine) is None
    admin_list = await discord_emu.slash("alert list", user_id=OWNER_ID)
    assert admin_list.embeds[0]["title"] == "This server's alerts (1 active of 1)"


async def test_a_member_who_left_gets_no_dm_and_their_alerts_there_pause(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, config: Config, make_sink: MakeSink
) -> None:
    rule_id = await add_personal(discord_emu, MEMBER_ID)
    discord_emu.remove_member(GUILD_ID, MEMBER_ID)  # no members intent: the bot is not told

    await replay_crossing(config, repo, make_sink(tripwire))

    assert discord_emu.dm_messages_to(MEMBER_ID) == []
    row = repo.rule(rule_id)
    assert row is not None and not row.enabled and row.status_reason == MEMBER_LEFT_REASON
    assert discord_emu.requests_matching("GET", f"/guilds/{GUILD_ID}/members/{MEMBER_ID}", status=404)


async def test_with_the_members_intent_leaving_pauses_at_once(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service, repo: Repo
) -> None:
    config = parse_config(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"guild_ids": [GUILD_ID], "members_intent": True}}
    )
    # The Server Members toggle in the Developer Portal (off by default, like the emulator's).
    discord_emu.allowed_privileged_intents = 1 << 1
    async with connected_bot(lambda: TripwireBot(config, service, **client_options())):
        assert discord_emu.gateway.identifies[-1]["intents"] & (1 << 1)  # GUILD_MEMBERS asked for
        rule_id = await add_personal(discord_emu, MEMBER_ID)
        discord_emu.remove_member(GUILD_ID, MEMBER_ID)
        await discord_emu.wait_until(lambda: (r := repo.rule(rule_id)) is not None and not r.enabled)
        row = repo.rule(rule_id)
        assert row is not None and row.status_reason == MEMBER_LEFT_REASON


async def test_members_intent_without_the_portal_toggle_stops_with_a_clear_error(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service
) -> None:
    config = parse_config(
        {"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"guild_ids": [GUILD_ID], "members_intent": True}}
    )
    # Discord closes with 4014 (gateway.mdx "Gateway Restrictions"); discord.py raises this, naming the
    # Developer Portal, and the bot's connect task ends with it (bot/ops/gateway.py logs it).
    with pytest.raises(discord.PrivilegedIntentsRequired, match="developer portal"):
        async with connected_bot(lambda: TripwireBot(config, service, **client_options())):
            pass
    assert [c.server_close_code for c in discord_emu.gateway.connections] == [4014]
    assert discord_emu.gateway.identifies == []


async def test_privacy_shows_then_deletes_the_members_rows(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    config: Config,
    make_sink: MakeSink,
    engine: Engine,
) -> None:
    fired = await add_personal(discord_emu, MEMBER_ID)
    waiting = await add_personal(discord_emu, MEMBER_ID, level=120000)
    others = await add_personal(discord_emu, OWNER_ID, deliver="dm")
    await replay_crossing(config, repo, make_sink(tripwire))
    assert len(discord_emu.dm_messages_to(MEMBER_ID)) == 1 and len(discord_emu.dm_messages_to(OWNER_ID)) == 1

    def count(sql: str, *params: object) -> int:
        return int(repo.conn.execute(sql, params).fetchone()[0])

    member = f"user:{MEMBER_ID}"
    assert count("SELECT COUNT(*) FROM alert_events WHERE rule_id = ?", fired) == 1
    assert count("SELECT COUNT(*) FROM outbox WHERE target = ?", member) == 1

    shown = await discord_emu.slash("privacy", user_id=MEMBER_ID)
    assert shown.ephemeral and shown.embeds[0]["title"] == "What Tripwire stores about you"
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert (
        f"`{fired}`" in fields["Your personal alerts (2)"]
        and f"`{waiting}`" in fields["Your personal alerts (2)"]
    )
    assert fields["Their alert history"] == "1 alerts" and fields["Direct messages"] == "1 queued or sent"

    done = await discord_emu.click(shown, "privacy:forget", user_id=MEMBER_ID)
    assert done.embeds[0]["title"] == "Deleted what Tripwire stored about you"

    assert count("SELECT COUNT(*) FROM rules WHERE owner_id = ?", MEMBER_ID) == 0
    assert count("SELECT COUNT(*) FROM alert_events WHERE rule_id IN (?, ?)", fired, waiting) == 0
    assert count("SELECT COUNT(*) FROM outbox WHERE target = ?", member) == 0
    assert count("SELECT COUNT(*) FROM detector_state WHERE rule_id IN (?, ?)", fired, waiting) == 0
    assert count("SELECT COUNT(*) FROM alert_state WHERE rule_id IN (?, ?)", fired, waiting) == 0
    # The other member's alert and its history are untouched, and the engine no longer runs the removed ones.
    assert (
        repo.rule(others) is not None
        and count("SELECT COUNT(*) FROM alert_events WHERE rule_id = ?", others) == 1
    )
    assert {r.id for r in engine.rules()} & {fired, waiting} == set()
    again = await discord_emu.slash("privacy", user_id=MEMBER_ID)
    assert again.embeds[0]["title"] == "Nothing is stored about you" and again.components == []


async def test_privacy_works_in_direct_messages_too(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, service: Service
) -> None:
    config = parse_config({"symbols": ["BTCUSDT"]})  # global commands: usable in DMs
    async with connected_bot(lambda: TripwireBot(config, service, **client_options())):
        reply = await discord_emu.slash("privacy", in_dm=True, user_id=MEMBER_ID)
        assert reply.embeds[0]["title"] == "Nothing is stored about you"


async def test_privacys_delete_button_is_disabled_before_its_token_expires(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, the button had no timeout handler: it stayed looking active after it stopped answering.
    discord_emu.config.interaction_token_ttl = 1.5  # Discord: 15 minutes
    monkeypatch.setattr(privacy_cog, "CONFIRM_TIMEOUT_S", 0.3)
    await add_personal(discord_emu, MEMBER_ID)
    shown = await discord_emu.slash("privacy", user_id=MEMBER_ID)
    [button] = shown.buttons()
    assert button["custom_id"] == "privacy:forget" and not button.get("disabled")
    message = shown.message_id or 0
    await discord_emu.wait_until(
        lambda: all(b.get("disabled") for b in discord_emu.message(message).components[0]["components"]),
        timeout=1.2,
    )
    assert discord_emu.requests_matching(status=401) == []
