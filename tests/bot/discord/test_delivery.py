"""Alerts from the outbox to Discord through the real bot and the emulator: the replayed crossing, faults,
broken channels, closed DMs, re-sends and bursts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import discord.http
import pytest

from bot.alerts.engine import Engine
from bot.alerts.model import BROKEN_PREFIX, DMS_CLOSED_REASON
from bot.alerts.routing import AlertRouter
from bot.config import Config
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import NO_EMBED_LINKS, DiscordSink, Rate, group_nonce
from bot.notify.outbox import Delivered, OutboxDispatcher
from bot.replay.pipeline import run_replay
from bot.services import Service
from bot.services.rules import RuleOptions
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.discord.support import alert_payload, bot_messages, drain, queue_alerts, rows, titles
from tests.bot.scenario import scenario_data
from tests.bot.support import Clock, record_firing
from tests.emulators.discord_api import DiscordEmulator, RateLimitRule
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    CLOSED_DMS_ID,
    EMBED_LINKS,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    MOD_ROLE_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
    SEND_MESSAGES,
)

MakeSink = Callable[..., DiscordSink]
TITLES = [f"BTC alert {n}" for n in range(1, 5)]


def add_rule(service: Service, channel_id: int | None = None, **options: object) -> str:
    """Create a BTC 95k rule in the test guild as its owner and return its id."""
    rule = service.add_rule(
        GUILD_ID,
        OWNER_ID,
        "level_cross",
        "BTCUSDT",
        {"level": 95000, "direction": "up"},
        RuleOptions(channel_id=channel_id, **options),  # type: ignore[arg-type]
        is_admin=True,
    )
    return rule.id


async def test_a_replayed_crossing_posts_one_alert_pinging_only_the_rules_role(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    config: Config,
    make_sink: MakeSink,
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "btc",
            "settings": "level=95000 direction=up",
            "role": MOD_ROLE_ID,
            "note": "@everyone @here <@&999> the level analysts watched",
        },
        user_id=OWNER_ID,
    )
    assert reply.ephemeral and reply.embeds[0]["title"].startswith("Alert btc-level-")
    rule_id = reply.embeds[0]["footer"]["text"].removeprefix("rule ")

    summary = await run_replay(
        config,
        scenario_data(),
        repo,
        [make_sink(tripwire)],
        lambda r: AlertRouter(r, [], console=False, discord=True),
        start=parse_time("2026-01-13T00:00Z"),
        end=parse_time("2026-01-14T03:00Z"),
    )

    assert summary.fired == 1 and summary.delivered == 1
    [alert] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert alert.content == f"<@&{MOD_ROLE_ID}>"
    embed = alert.embeds[0]
    assert embed["title"] == "BTC broke above $95,000"
    assert embed["color"] == 0x2ECC71  # up
    assert "the level analysts watched" in embed["description"] and "<t:" in embed["description"]
    assert embed["footer"]["text"].startswith(f"rule {rule_id} · level_cross · BTCUSDT · source binance")
    [request] = discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")
    assert request.json is not None
    # Only the rule's role may ping: no @everyone/@here, no users, no other role, whatever the note says.
    assert request.json["allowed_mentions"] == {"parse": [], "roles": [MOD_ROLE_ID]}
    assert request.json["enforce_nonce"] is True and request.json["nonce"].startswith("tw")
    assert bot_messages(discord_emu, GENERAL_CHANNEL_ID) == []


@pytest.mark.parametrize(
    ("fault", "injected", "errors_met"),
    [
        ({"status": 429, "retry_after": 0.2}, "route 429 with Retry-After", []),
        ({"status": 429, "retry_after": 0.2, "is_global": True}, "global 429", []),
        ({"status": 429, "via": False}, "429 without Via (discord.py gives up at once)", ["rate_limited"]),
        ({"status": 500}, "500, retried by discord.py", []),
        ({"status": 503, "times": 2}, "503, which discord.py does not retry", ["server_error"] * 2),
    ],
    ids=["route-429", "global-429", "429-no-via", "500", "503x2"],
)
async def test_rest_faults_delay_but_never_lose_or_repeat_an_alert(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    fault: dict[str, object],
    injected: str,
    errors_met: list[str],
) -> None:
    ids = queue_alerts(
        repo, f"channel:{ALERTS_CHANNEL_ID}", TITLES, rule_id="r1", guild_id=GUILD_ID, now=clock.now
    )
    hit = discord_emu.fail_next("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", **fault)  # type: ignore[arg-type]
    errors: list[str] = []  # what the sink reports to the tripwire_discord_errors metric
    sink = make_sink(tripwire, on_error=errors.append)
    dispatcher = OutboxDispatcher(repo, [sink], clock)

    await drain(repo, dispatcher, clock)

    assert hit.hits == hit.times, injected
    # Only what reached the sink counts: discord.py sleeps through a 429 with Via and retries a 500 itself.
    assert errors == errors_met, injected
    messages = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert titles(messages) == TITLES
    delivered = rows(repo, ids)
    assert [r.status for r in delivered] == ["delivered"] * 4
    assert [r.remote_id for r in delivered] == [str(m.id) for m in messages]
    assert discord_emu.count_429 == (hit.times if fault["status"] == 429 else 0)


@pytest.mark.parametrize("fault", ["op7", "op9", "close4000"])
async def test_gateway_faults_during_delivery_lose_and_repeat_nothing(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    fault: str,
) -> None:
    # 2 sends per 0.3 s per channel, which discord.py learns from the headers: the faults land mid-delivery.
    discord_emu.config.rate_limits.message_create = RateLimitRule(2, 0.3)
    first = [f"{t} (before)" for t in TITLES]
    queue_alerts(repo, f"channel:{ALERTS_CHANNEL_ID}", first, rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    sink = make_sink(tripwire)
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    sessions = len(discord_emu.gateway.identifies) + len(discord_emu.gateway.resumes)
    delivering = asyncio.create_task(drain(repo, dispatcher, clock))
    await discord_emu.wait_until(lambda: len(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) >= 1)
    back = asyncio.ensure_future(tripwire.wait_for("ready" if fault == "op9" else "resumed"))
    if fault == "op7":
        discord_emu.gateway_reconnect()
    elif fault == "op9":
        discord_emu.gateway_invalidate(resumable=False)
    else:
        discord_emu.gateway_close(4000)
    # More alerts arrive while the bot reconnects.
    second = [f"{t} (during)" for t in TITLES]
    queue_alerts(repo, f"channel:{ALERTS_CHANNEL_ID}", second, rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    await delivering
    await drain(repo, dispatcher, clock)

    assert titles(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == first + second
    await discord_emu.wait_until(
        lambda: len(discord_emu.gateway.identifies) + len(discord_emu.gateway.resumes) > sessions
    )
    # After a fresh IDENTIFY (op 9) discord.py waits for the GUILD_CREATEs in a task of its own and then
    # dispatches `ready`; after a RESUME, `resumed`. Wait for it, so the bot is whole and no task outlives
    # the test.
    await asyncio.wait_for(back, timeout=10)
    # The bot came back: it still answers commands after the fault.
    reply = await discord_emu.slash("price", {"symbol": "BTCUSDT"})
    assert reply.embeds[0]["title"].startswith("BTC is at $")


@pytest.mark.parametrize(
    ("channel_id", "reason"),
    [
        (GENERAL_CHANNEL_ID, "the channel no longer exists (Unknown Channel)"),
        (PRIVATE_CHANNEL_ID, "Tripwire cannot see the channel (Missing Access)"),
    ],
    ids=["deleted-10003", "hidden-50001"],
)
async def test_an_unusable_channel_breaks_the_rule_and_tells_the_ops_channel_once(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    engine: Engine,
    service: Service,
    clock: Clock,
    make_sink: MakeSink,
    channel_id: int,
    reason: str,
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, ALERTS_CHANNEL_ID)
    rule_id = add_rule(service, channel_id)
    if channel_id == GENERAL_CHANNEL_ID:
        discord_emu.delete_channel(GENERAL_CHANNEL_ID)
    ids = queue_alerts(
        repo, f"channel:{channel_id}", TITLES, rule_id=rule_id, guild_id=GUILD_ID, now=clock.now
    )
    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire)], clock)

    await drain(repo, dispatcher, clock)
    ids += queue_alerts(
        repo, f"channel:{channel_id}", ["late one"], rule_id=rule_id, guild_id=GUILD_ID, now=clock.now
    )
    await drain(repo, dispatcher, clock)

    assert [r.status for r in rows(repo, ids)] == ["failed"] * 5
    # The first failure ends the pass's attempts on that channel; the late row tries once more.
    assert len(discord_emu.requests_matching("POST", f"/channels/{channel_id}/messages")) == 2
    rule = repo.rule(rule_id)
    assert rule is not None and not rule.enabled and rule.status_reason == f"{BROKEN_PREFIX}{reason}"
    assert rule_id not in [r.id for r in engine.rules()]
    [ops] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert (
        f"`{rule_id}`" in ops.embeds[0]["description"]
        and f"/alert resume {rule_id}" in ops.embeds[0]["description"]
    )
    assert ops.content == "" and discord_emu.requests_matching(
        "POST", f"/channels/{ALERTS_CHANNEL_ID}/messages"
    )[0].json["allowed_mentions"] == {"parse": []}  # type: ignore[index]
    listing = await discord_emu.slash("alert list", user_id=OWNER_ID)
    assert f"⚠️ {BROKEN_PREFIX}{reason}" in listing.embeds[0]["description"]


async def test_missing_permissions_is_permanent_too(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    service: Service,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    rule_id = add_rule(service, ALERTS_CHANNEL_ID)
    # The emulator's permission model refuses it as Discord would: the channel is visible, not writable.
    discord_emu.set_overwrite(ALERTS_CHANNEL_ID, GUILD_ID, deny=SEND_MESSAGES)
    queue_alerts(
        repo, f"channel:{ALERTS_CHANNEL_ID}", TITLES[:1], rule_id=rule_id, guild_id=GUILD_ID, now=clock.now
    )

    errors: list[str] = []
    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire, on_error=errors.append)], clock), clock)

    assert errors == ["forbidden"]
    rule = repo.rule(rule_id)
    assert rule is not None and rule.status_reason is not None and "Missing Permissions" in rule.status_reason
    assert len(bot_messages(discord_emu, GENERAL_CHANNEL_ID)) == 1
    assert bot_messages(discord_emu, ALERTS_CHANNEL_ID) == []


async def _deny_embed_links(tripwire: TripwireBot, discord_emu: DiscordEmulator, channel_id: int) -> None:
    """Take Embed Links from everyone in a channel and wait until the bot's cache has seen it."""
    discord_emu.set_overwrite(channel_id, GUILD_ID, deny=EMBED_LINKS)

    def seen() -> bool:
        channel = tripwire.get_channel(channel_id)
        assert isinstance(channel, discord.TextChannel) and channel.guild.me is not None
        return not channel.permissions_for(channel.guild.me).embed_links

    await discord_emu.wait_until(seen, 5)


async def test_a_channel_without_embed_links_is_reported_before_anything_is_sent(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    service: Service,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    rule_id = add_rule(service, ALERTS_CHANNEL_ID, role_id=MOD_ROLE_ID)
    # Without Embed Links the emulator (as Discord, an assumption: the documents are silent) keeps the
    # message but drops its embed: this alert would be a bare role ping, and one a restarted bot could not
    # recognise (bot.notify.discord.adoption), so the sink reports the channel instead of posting.
    await _deny_embed_links(tripwire, discord_emu, ALERTS_CHANNEL_ID)
    [row_id] = queue_alerts(
        repo,
        f"channel:{ALERTS_CHANNEL_ID}",
        TITLES[:1],
        rule_id=rule_id,
        guild_id=GUILD_ID,
        now=clock.now,
        role_id=MOD_ROLE_ID,
    )

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    assert discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages") == []
    assert [r.status for r in rows(repo, [row_id])] == ["failed"]
    rule = repo.rule(rule_id)
    assert rule is not None and not rule.enabled and rule.status_reason == f"{BROKEN_PREFIX}{NO_EMBED_LINKS}"
    [ops] = bot_messages(discord_emu, GENERAL_CHANNEL_ID)
    assert f"`{rule_id}`" in ops.embeds[0]["description"] and "Embed Links" in ops.embeds[0]["description"]


async def test_past_the_nonce_window_a_channel_that_lost_embed_links_gets_no_second_post(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    service: Service,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    # Synthetic timings: Discord keeps a nonce "the past few minutes"; here 0.3 s, the sink trusts 0.2 s.
    discord_emu.config.nonce_window = 0.3
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    rule_id = add_rule(service, ALERTS_CHANNEL_ID, role_id=MOD_ROLE_ID)
    [row_id] = queue_alerts(
        repo,
        f"channel:{ALERTS_CHANNEL_ID}",
        TITLES[:1],
        rule_id=rule_id,
        guild_id=GUILD_ID,
        now=clock.now,
        role_id=MOD_ROLE_ID,
    )
    first = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))
    assert isinstance(first[0], Delivered)
    # The channel had no Embed Links when that send reached Discord (the bot's cache had not heard yet):
    # Discord kept the role ping without the embed, so the message carries no footer reference. The
    # process was killed before recording the id and came back after Discord forgot the nonce: a look-up
    # would find nothing to recognise, and a re-send would post a second bare ping.
    [row] = rows(repo, [row_id])
    repo.conn.execute("UPDATE message_groups SET remote_id = NULL WHERE id = ?", (row.group_id,))
    [bare] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert bare.content == f"<@&{MOD_ROLE_ID}>"
    bare.payload["embeds"] = []
    await _deny_embed_links(tripwire, discord_emu, ALERTS_CHANNEL_ID)
    await asyncio.sleep(0.35)

    again = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))

    assert bot_messages(discord_emu, ALERTS_CHANNEL_ID) == [bare]
    assert len(discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")) == 1
    assert discord_emu.requests_matching("GET", f"/channels/{ALERTS_CHANNEL_ID}/messages") == []
    assert not isinstance(again[0], Delivered) and NO_EMBED_LINKS in again[0].error  # type: ignore[union-attr]
    rule = repo.rule(rule_id)
    assert rule is not None and rule.status_reason == f"{BROKEN_PREFIX}{NO_EMBED_LINKS}"


async def test_closed_dms_pause_the_rule_and_open_ones_get_the_alert(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    service: Service,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    closed = add_rule(service, deliver="dm")
    open_rule = service.add_rule(
        GUILD_ID, MEMBER_ID, "level_cross", "BTCUSDT", {"level": 96000}, RuleOptions(deliver="dm")
    ).id
    blocked = queue_alerts(
        repo, f"user:{CLOSED_DMS_ID}", TITLES[:2], rule_id=closed, guild_id=GUILD_ID, now=clock.now
    )
    queue_alerts(repo, f"user:{MEMBER_ID}", TITLES[:1], rule_id=open_rule, guild_id=GUILD_ID, now=clock.now)

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    assert [r.status for r in rows(repo, blocked)] == ["failed", "failed"]
    rule = repo.rule(closed)
    assert rule is not None and not rule.enabled and rule.status_reason == DMS_CLOSED_REASON
    assert titles(discord_emu.dm_messages_to(MEMBER_ID)) == TITLES[:1]
    assert (
        bot_messages(discord_emu, GENERAL_CHANNEL_ID) == []
    )  # closed DMs are the member's choice, not ops news


async def test_a_resend_after_a_crash_returns_the_first_message(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    [row_id] = queue_alerts(
        repo, f"channel:{ALERTS_CHANNEL_ID}", TITLES[:1], rule_id="r1", guild_id=GUILD_ID, now=clock.now
    )

    first = await make_sink(tripwire).deliver(rows(repo, [row_id]))
    # The process died after Discord created the message but before its id was recorded: the same group
    # is sent again under the same nonce, and Discord returns the message it already created.
    [row] = rows(repo, [row_id])
    assert row.status == "pending" and row.group_id is not None
    repo.conn.execute("UPDATE message_groups SET remote_id = NULL WHERE id = ?", (row.group_id,))
    again = await make_sink(tripwire).deliver(rows(repo, [row_id]))
    # ...and died once more after recording the message id but before marking the row: an edit shows the
    # same row again instead of a send.
    third = await make_sink(tripwire).deliver(rows(repo, [row_id]))

    assert isinstance(first[0], Delivered) and first == again == third
    [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert message.embeds[0]["title"] == TITLES[0] and message.edits == 1
    sent = discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")
    group = repo.message_group(row.group_id)
    assert group is not None and group.remote_id == str(message.id)
    assert [r.json["nonce"] for r in sent if r.json] == [group_nonce(group)] * 2


@pytest.mark.parametrize("where", ["channel", "dm"])
async def test_a_resend_after_the_nonce_window_adopts_the_first_message_instead_of_posting_again(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    where: str,
) -> None:
    # Synthetic timings: Discord keeps a nonce "the past few minutes"; here 0.3 s, the sink trusts 0.2 s.
    discord_emu.config.nonce_window = 0.3
    target = f"channel:{ALERTS_CHANNEL_ID}" if where == "channel" else f"user:{MEMBER_ID}"
    [row_id] = queue_alerts(repo, target, TITLES[:1], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    first = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))
    # The process died after Discord created the message but before its id was recorded, and came back
    # after Discord had forgotten the nonce: sent again, the nonce would post a second message.
    [row] = rows(repo, [row_id])
    assert isinstance(first[0], Delivered) and row.group_id is not None
    repo.conn.execute("UPDATE message_groups SET remote_id = NULL WHERE id = ?", (row.group_id,))
    await asyncio.sleep(0.35)
    again = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))

    posted = (
        bot_messages(discord_emu, ALERTS_CHANNEL_ID)
        if where == "channel"
        else [m for m in discord_emu.dm_messages_to(MEMBER_ID) if m.source == "channel"]
    )
    [message] = posted
    assert again == first == [Delivered(row_id, str(message.id))]
    group = repo.message_group(row.group_id)
    assert group is not None and group.remote_id == str(message.id) and group.adopted_at is not None
    assert group.attempted_at is not None and group.attempted_at <= group.adopted_at
    # Found by the reference in its footer: a fetched message carries no nonce.
    assert message.embeds[0]["footer"]["text"].endswith(f" · ref {group_nonce(group)}")
    looked = discord_emu.requests_matching("GET", f"/channels/{message.channel_id}/messages")
    assert len(looked) == 1 and looked[0].status == 200


async def test_a_resend_inside_the_nonce_window_trusts_the_nonce_and_a_lost_send_is_posted(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    discord_emu.config.nonce_window = 0.3
    [row_id] = queue_alerts(
        repo, f"channel:{ALERTS_CHANNEL_ID}", TITLES[:1], rule_id="r1", guild_id=GUILD_ID, now=clock.now
    )
    # The first attempt never reached Discord (a 500 it did not act on), then the sink was down a while:
    # the look-up finds nothing and the alert is posted, once.
    discord_emu.fail_next("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", 503)
    failed = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))
    assert not isinstance(failed[0], Delivered)
    await asyncio.sleep(0.35)
    posted = await make_sink(tripwire, nonce_window_s=0.2).deliver(rows(repo, [row_id]))
    [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert posted == [Delivered(row_id, str(message.id))]
    assert len(discord_emu.requests_matching("GET", f"/channels/{ALERTS_CHANNEL_ID}/messages")) == 1
    group = repo.message_group(rows(repo, [row_id])[0].group_id or 0)
    assert group is not None and group.adopted_at is None
    # Inside the window no look-up is made: Discord's nonce check covers the re-send.
    [row2] = queue_alerts(
        repo, f"channel:{GENERAL_CHANNEL_ID}", TITLES[1:2], rule_id="r2", guild_id=GUILD_ID, now=clock.now
    )
    discord_emu.fail_next("POST", f"/channels/{GENERAL_CHANNEL_ID}/messages", 503)
    await make_sink(tripwire, nonce_window_s=60.0).deliver(rows(repo, [row2]))
    await make_sink(tripwire, nonce_window_s=60.0).deliver(rows(repo, [row2]))
    assert discord_emu.requests_matching("GET", f"/channels/{GENERAL_CHANNEL_ID}/messages") == []
    assert len(bot_messages(discord_emu, GENERAL_CHANNEL_ID)) == 1


@pytest.mark.parametrize("limit", [RateLimitRule(5, 1.0), RateLimitRule(3, 0.4), RateLimitRule(2, 0.25)])
async def test_a_burst_to_one_channel_never_meets_a_429(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    limit: RateLimitRule,
) -> None:
    # The sink knows no per-channel limit: whatever the emulator's message bucket is (Discord's shape, 5
    # per 5 s, run faster here, or others), the pace comes from the X-RateLimit headers.
    discord_emu.config.rate_limits.message_create = limit
    burst = [f"Alert {n}" for n in range(12)]
    queue_alerts(repo, f"channel:{ALERTS_CHANNEL_ID}", burst, rule_id="r1", guild_id=GUILD_ID, now=clock.now)

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    assert titles(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == burst
    assert discord_emu.count_429 == 0
    sends = discord_emu.requests_matching("POST", f"/channels/{ALERTS_CHANNEL_ID}/messages")
    assert {r.response_headers["X-RateLimit-Limit"] for r in sends} == {str(limit.limit)}
    # 12 sends at `limit` per window span at least this many full windows: the bucket was waited out.
    windows = (len(sends) - 1) // limit.limit
    assert sends[-1].at - sends[0].at >= windows * limit.per * 0.95


@pytest.mark.parametrize("paced", [True, False], ids=["global-pacing", "control-without-pacing"])
async def test_a_burst_across_channels_stays_under_the_global_limit(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    paced: bool,
) -> None:
    # discord.py learns per-route buckets from responses but has no pre-emptive global limiter; only the
    # sink's own global pacing keeps a many-channel burst under Discord's global requests-per-second.
    discord_emu.config.rate_limits.global_per_second = 6
    discord_emu.config.rate_limits.message_create = RateLimitRule(50, 1.0)
    await asyncio.sleep(1.0)  # let the emulator's global window that counted login and sync run out
    channels = [ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID]
    for channel in channels:
        queue_alerts(
            repo,
            f"channel:{channel}",
            [f"{channel}-{n}" for n in range(5)],
            rule_id="r1",
            guild_id=GUILD_ID,
            now=clock.now,
        )
    sink = make_sink(tripwire, global_rate=Rate(5, 1.0) if paced else Rate(1000, 1.0))

    await drain(repo, OutboxDispatcher(repo, [sink], clock), clock)

    for channel in channels:
        assert titles(bot_messages(discord_emu, channel)) == [f"{channel}-{n}" for n in range(5)]
    if paced:
        assert discord_emu.count_429 == 0
    else:
        assert discord_emu.count_429 > 0  # the control: without pacing the same burst is refused


def queue(repo: Repo, kind: str, event_id: int, payload: dict[str, object], now: int) -> int:
    """Queue one row of ``kind`` for the alerts channel."""
    with repo.transaction():
        return repo.enqueue(
            event_id=event_id,
            sink="discord",
            target=f"channel:{ALERTS_CHANNEL_ID}",
            kind=kind,
            payload=payload,
            now=now,
        )


async def test_folded_alerts_are_added_to_the_message_they_fold_into(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    at = clock.now
    parent = record_firing(repo, "cascade", "BTC shorts liquidated: $109M in 1h", at, guild_id=GUILD_ID)
    payload = alert_payload(
        "cascade", "BTC shorts liquidated: $109M in 1h", guild_id=GUILD_ID, role_id=MOD_ROLE_ID
    )
    queue(repo, "alert", parent, {**payload, "event_id": parent}, clock.now)
    fold_ids: list[int] = []
    for n, title in enumerate(["BTC broke above $95,000", "BTC up 3.1% in 4h"]):
        child = record_firing(repo, f"lesser{n}", title, at + n + 1, guild_id=GUILD_ID)
        fold = {
            **alert_payload(f"lesser{n}", title, guild_id=GUILD_ID, at=at + n + 1),
            "parent_event_id": parent,
        }
        fold_ids.append(queue(repo, "fold", child, fold, clock.now))
        # The first fold is queued with its parent and goes out in the parent's first send; the second
        # comes in a later pass and is edited in.
        await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert message.content == f"<@&{MOD_ROLE_ID}>" and message.edits == 1
    also = message.embeds[0]["fields"][-1]
    assert also["name"] == "Also while this lasts (2)"
    assert (
        also["value"].startswith("• BTC broke above $95,000 · <t:") and "• BTC up 3.1% in 4h" in also["value"]
    )
    edits = discord_emu.requests_matching("PATCH", f"/channels/{ALERTS_CHANNEL_ID}/messages/{message.id}")
    assert [r.json["allowed_mentions"] for r in edits if r.json] == [{"parse": []}]
    folds = rows(repo, fold_ids)
    assert [(r.status, r.attempts, r.remote_id) for r in folds] == [("delivered", 1, str(message.id))] * 2


async def test_a_fold_whose_message_is_gone_is_posted_on_its_own_without_a_ping(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    parent = record_firing(repo, "cascade", "Cascade", clock.now, guild_id=GUILD_ID)
    queue(
        repo,
        "alert",
        parent,
        {**alert_payload("cascade", "Cascade", guild_id=GUILD_ID, role_id=MOD_ROLE_ID)},
        clock.now,
    )
    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)
    [original] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    discord_emu.world.delete_message(original)
    child = record_firing(repo, "lesser", "Lesser", clock.now + 1, guild_id=GUILD_ID)
    fold = {
        **alert_payload("lesser", "Lesser", guild_id=GUILD_ID, role_id=MOD_ROLE_ID),
        "parent_event_id": parent,
    }
    queue(repo, "fold", child, fold, clock.now)

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    [alone] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert alone.embeds[0]["title"] == "Lesser" and alone.content == ""


async def test_a_network_failure_is_retried_later(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = queue_alerts(
        repo, f"channel:{ALERTS_CHANNEL_ID}", TITLES[:2], rule_id="r1", guild_id=GUILD_ID, now=clock.now
    )
    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire)], clock)
    with monkeypatch.context() as patched:
        # Nothing listens on the discard port: the connection is refused, as when the network is down.
        patched.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")
        await dispatcher.run_once()
    first = rows(repo, ids)
    assert [r.status for r in first] == ["pending", "pending"] and first[0].error is not None
    assert first[0].error.startswith("network error: ClientConnectorError")
    assert first[1].error == f"waiting behind outbox {ids[0]}"  # keeps its place in the channel's order

    await drain(repo, dispatcher, clock)

    assert titles(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == TITLES[:2]
