"""Scheduled digests end to end: /digest commands, an APScheduler job posting on schedule under a simulated
clock, jobs restored after a restart with a missed digest posted once (late), a broken channel, and
/digest now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Config
from bot.digests.jobs import DigestJobs, job_id, trigger_of
from bot.digests.service import DigestService
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.notify.outbox import OutboxDispatcher
from bot.services import Service
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.discord.support import bot_messages, drain
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    OWNER_ID,
)

MakeSink = Callable[..., DiscordSink]
LATE_AFTER_MS = 300_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Scheduled:
    """The pieces a running bot schedules digests with: APScheduler, the jobs, the service, delivery."""

    def __init__(self, repo: Repo, config: Config, clock: Clock, sink: DiscordSink | None = None) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.dispatcher = OutboxDispatcher(repo, [sink] if sink else [], clock)
        self.jobs = DigestJobs(
            self.scheduler,
            repo,
            config.symbols,
            clock,
            late_after_ms=LATE_AFTER_MS,
            on_queued=self.dispatcher.wake,
        )
        self.service = DigestService(
            repo, config.symbols, clock, max_per_guild=3, jobs=self.jobs, on_queued=self.dispatcher.wake
        )

    def deliver_with(self, sink: DiscordSink) -> None:
        """Deliver through ``sink`` (built once the bot it posts with exists)."""
        self.dispatcher.sinks[sink.name] = sink

    def start(self) -> list[int]:
        """Start APScheduler and restore the jobs from the database (what the bot does at start)."""
        self.scheduler.start()
        return self.jobs.start()

    def stop(self) -> None:
        """Stop APScheduler (the bot exits)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)


def digest_of(emu: DiscordEmulator, channel_id: int) -> list[dict[str, object]]:
    """Return the digest embeds the bot posted in a channel."""
    return [
        m.embeds[0]
        for m in bot_messages(emu, channel_id)
        if m.embeds and "digest" in m.embeds[0]["footer"]["text"]
    ]


async def test_digest_commands_need_manage_server(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    with pytest.raises(PermissionError):  # Discord's client does not offer /digest to members
        await discord_emu.slash("digest list", user_id=MEMBER_ID)
    crafted = await discord_emu.slash(
        "digest set",
        {"channel": ALERTS_CHANNEL_ID, "time": "08:00"},
        user_id=MEMBER_ID,
        check_permissions=False,
    )
    assert crafted.ephemeral and crafted.content == "You need the Manage Server permission to do that."
    bad = await discord_emu.slash(
        "digest set", {"channel": ALERTS_CHANNEL_ID, "time": "teatime"}, user_id=OWNER_ID
    )
    assert bad.ephemeral and bad.content.startswith("I could not read `teatime` as a time")
    assert repo.digests() == []


async def test_a_digest_posts_on_schedule_under_a_simulated_clock(
    discord_emu: DiscordEmulator,
    connected_bot: ConnectBot,
    service: Service,
    repo: Repo,
    config: Config,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    pieces = Scheduled(repo, config, clock)
    bot = TripwireBot(config, service, digests=pieces.service, **client_options())
    try:
        async with connected_bot(bot):
            pieces.deliver_with(make_sink(bot))
            pieces.start()
            reply = await discord_emu.slash(
                "digest set",
                {"channel": ALERTS_CHANNEL_ID, "time": "00:00", "contents": "all"},
                user_id=OWNER_ID,
            )
            assert reply.ephemeral and reply.embeds[0]["title"].startswith("Digest #")
            [digest] = repo.digests(GUILD_ID)
            job = pieces.scheduler.get_job(job_id(digest.id))
            assert job is not None
            # APScheduler's trigger: the next run after "now" (the simulated noon of 2026-01-14) is midnight.
            now = datetime.fromtimestamp(clock.now / 1000, tz=UTC)
            assert job.trigger.get_next_fire_time(None, now) == datetime(2026, 1, 15, tzinfo=UTC)
            listed = await discord_emu.slash("digest list", user_id=OWNER_ID)
            assert (
                f"**#{digest.id}** in <#{ALERTS_CHANNEL_ID}> · daily at 00:00 UTC"
                in listed.embeds[0]["description"]
            )

            # Midnight comes: APScheduler runs the job (made due now in real time) with the clock at the slot.
            clock.now = parse_time("2026-01-15T00:00Z")
            pieces.scheduler.modify_job(job.id, next_run_time=datetime.now(UTC))
            await discord_emu.wait_until(lambda: repo.outbox_depth() == 1)
            await drain(repo, pieces.dispatcher, clock)

            [message] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
            embed = message.embeds[0]
            assert embed["title"] == "Market digest: 24h to 2026-01-15 00:00 UTC"
            fields = {f["name"]: f["value"] for f in embed["fields"]}
            assert fields["Prices (24h change)"].startswith("BTC $96,951.78 ▲ +1.6%")
            assert fields["Liquidations (24h)"].startswith("Shorts $57.8M · longs $12.1M")
            assert fields["Fear & Greed"].startswith("48 → 61 Greed")
            assert "Posted late" not in embed["description"]
            [chart] = message.attachments
            assert chart.filename == "digest.png" and chart.data.startswith(PNG_SIGNATURE)
            assert embed["image"]["url"] == chart.url
            # The job firing again for the same slot posts nothing.
            await pieces.jobs.run(digest.id)
            assert repo.outbox_depth() == 0 and len(bot_messages(discord_emu, ALERTS_CHANNEL_ID)) == 1
    finally:
        pieces.stop()


async def test_jobs_are_restored_after_a_restart_and_a_missed_digest_posts_once_marked_late(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    config: Config,
    clock: Clock,
    make_sink: MakeSink,
) -> None:
    first = Scheduled(repo, config, clock, make_sink(tripwire))
    first.start()
    digest_id = first.service.set_digest(
        GUILD_ID, OWNER_ID, ALERTS_CHANNEL_ID, "00:00", contents="prices,fng"
    ).id
    assert first.scheduler.get_job(job_id(digest_id)) is not None
    first.stop()  # the bot stops at noon of the 14th...

    clock.now = parse_time("2026-01-16T05:00Z")  # ...and starts again 41 hours later: two midnights passed
    second = Scheduled(repo, config, clock, make_sink(tripwire))
    try:
        queued = second.start()
        assert len(queued) == 1
        restored = second.scheduler.get_job(job_id(digest_id))
        row = repo.digest(digest_id)
        assert restored is not None and row is not None and str(restored.trigger) == str(trigger_of(row))
        await drain(repo, second.dispatcher, clock)
        [late] = digest_of(discord_emu, ALERTS_CHANNEL_ID)
        assert late["title"] == "Market digest: 24h to 2026-01-16 00:00 UTC"
        assert "⏱ Posted late" in str(late["description"]) and "(5h late)" in str(late["description"])

        # Another restart a few minutes later owes nothing more.
        clock.now += 10 * 60_000
        assert second.jobs.catch_up() == []
        third = Scheduled(repo, config, clock, make_sink(tripwire))
        try:
            assert third.start() == []
        finally:
            third.stop()
        # The next midnight posts on time.
        clock.now = parse_time("2026-01-17T00:00Z")
        await second.jobs.run(digest_id)
        await drain(repo, second.dispatcher, clock)
        digests = digest_of(discord_emu, ALERTS_CHANNEL_ID)
        assert len(digests) == 2 and "Posted late" not in str(digests[1].get("description"))
    finally:
        second.stop()


async def test_digest_now_list_and_remove(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    reply = await discord_emu.slash(
        "digest set",
        {"channel": GENERAL_CHANNEL_ID, "time": "every 6h", "days": "weekdays", "contents": "prices, alerts"},
        user_id=OWNER_ID,
    )
    digest_id = int(reply.embeds[0]["footer"]["text"].removeprefix("digest #"))
    choices = await discord_emu.autocomplete("digest now", {"digest": ""}, "digest", user_id=OWNER_ID)
    assert [c["value"] for c in choices] == [
        str(digest_id)
    ] and "every 6h from 00:00 UTC, Mon–Fri" in choices[0]["name"]

    now = await discord_emu.slash("digest now", {"digest": str(digest_id)}, user_id=OWNER_ID)
    assert now.ephemeral and now.embeds[0]["title"] == f"Digest #{digest_id} is on its way to its channel"
    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)
    [posted] = digest_of(discord_emu, GENERAL_CHANNEL_ID)
    assert posted["title"] == "Market digest: 6h to 2026-01-14 12:00 UTC"
    assert "Posted on request" in str(posted["description"])
    assert [f["name"] for f in posted["fields"]] == ["Prices (6h change)", "Alerts fired (0)"]  # type: ignore[index]

    removed = await discord_emu.slash("digest remove", {"digest": f"#{digest_id}"}, user_id=OWNER_ID)
    assert removed.embeds[0]["title"] == f"Digest #{digest_id} removed" and repo.digests() == []
    missing = await discord_emu.slash("digest now", {"digest": str(digest_id)}, user_id=OWNER_ID)
    assert missing.ephemeral and missing.content.startswith(f"There is no digest #{digest_id}")
    # Not a number at all ("²" is a digit to str.isdigit, not to int): a private hint, not a crash.
    for typed in ("abc", "²", "#" + "9" * 19):
        wrong = await discord_emu.slash("digest remove", {"digest": typed}, user_id=OWNER_ID)
        assert wrong.ephemeral and wrong.content == "Pick a digest from the list (/digest list shows them)."


async def test_a_digest_whose_channel_is_gone_switches_off_and_tells_the_ops_channel(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock, make_sink: MakeSink
) -> None:
    await discord_emu.slash("setup", {"ops_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await discord_emu.slash(
        "digest set", {"channel": GENERAL_CHANNEL_ID, "time": "08:00"}, user_id=OWNER_ID
    )
    digest_id = int(reply.embeds[0]["footer"]["text"].removeprefix("digest #"))
    discord_emu.delete_channel(GENERAL_CHANNEL_ID)
    await discord_emu.slash("digest now", {"digest": str(digest_id)}, user_id=OWNER_ID)
    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    digest = repo.digest(digest_id)
    assert digest is not None and not digest.enabled and "Unknown Channel" in (digest.status_reason or "")
    [ops] = bot_messages(discord_emu, ALERTS_CHANNEL_ID)
    assert f"Digest #{digest_id} is switched off" in ops.embeds[0]["description"]
    listed = await discord_emu.slash("digest list", user_id=OWNER_ID)
    assert "⚠️ broken: the channel no longer exists" in listed.embeds[0]["description"]
