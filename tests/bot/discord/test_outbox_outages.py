"""Issue 17, finding 2: the outbox must wait out any outage and deliver every alert once, in order.

On a simulated clock (the dispatcher and sink take one, so hours pass in seconds), alerts are queued
before, during and after a Discord outage served by the emulator: a 100 s 429 storm, a 1-hour outage of
503s, a 6-hour outage with the connection refused, and a gateway that is not ready for 20 minutes. Before
the fix each of these marked alerts failed after 12 attempts and never sent them. The synthetic alerts
are numbered per channel so order and duplicates show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import discord.http
import pytest

from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher
from bot.ops.instruments import register_tripwire_metrics
from bot.ops.metrics import Registry
from bot.services import Service
from storage.repo import OutboxRow, Repo
from storage.rows import HOUR_MS, MINUTE_MS
from tests.bot.discord.support import bot_messages, drain, queue_alerts, titles
from tests.bot.promtext import parse_strict
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, RateLimitRule, StoredMessage
from tests.emulators.discord_api.faults import Fault
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MOD_ROLE_ID,
    OWNER_ID,
)

MakeSink = Callable[..., DiscordSink]
CHANNELS = (ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
SECOND_MS = 1000


@dataclass
class Outage:
    """Discord unreachable from ``start`` to ``end`` (simulated ms), the way ``mode`` says."""

    start: int
    end: int
    # "503": every send answered 503 (discord.py does not retry it); "429": every send answered 429
    # without Via (discord.py raises at once); "refused": the connection is refused.
    mode: str


class Condition:
    """Discord's condition at a given simulated time."""

    def at(self, now: int) -> None:
        """Make Discord as it is at ``now``."""

    def restore(self) -> None:
        """Bring Discord back for good."""


class World(Condition):
    """The emulator's REST side as the outage makes it at a given simulated time."""

    def __init__(self, emu: DiscordEmulator, monkeypatch: pytest.MonkeyPatch, outage: Outage) -> None:
        self.emu = emu
        self.monkeypatch = monkeypatch
        self.outage = outage
        self.base = discord.http.Route.BASE
        self.fault: Fault | None = None

    def at(self, now: int) -> None:
        """Make Discord down or up for ``now``."""
        down = self.outage.start <= now < self.outage.end
        if self.outage.mode == "refused":
            # Nothing listens on the discard port: the connection is refused, as when the network is down.
            discord.http.Route.BASE = "http://127.0.0.1:9/api/v10" if down else self.base
            return
        if down and self.fault is None:
            status = 503 if self.outage.mode == "503" else 429
            self.fault = self.emu.fail_next("POST", "/channels/*/messages", status, times=10**9, via=False)
        elif not down and self.fault is not None:
            self.emu.faults.faults.remove(self.fault)
            self.fault = None

    def restore(self) -> None:
        """Bring Discord back for good."""
        discord.http.Route.BASE = self.base
        if self.fault is not None:
            self.emu.faults.faults.remove(self.fault)
            self.fault = None


class GatewayNotReady(Condition):
    """The gateway not ready (as while discord.py connects or reconnects) until a simulated time."""

    def __init__(self, bot: TripwireBot, until: int) -> None:
        self.bot = bot
        self.until = until
        # discord.py clears this event while the gateway (re)connects; is_ready() reads it.
        bot._ready.clear()

    def at(self, now: int) -> None:
        """Become ready once the time comes."""
        if now >= self.until:
            self.restore()

    def restore(self) -> None:
        """Be ready."""
        self.bot._ready.set()


@pytest.fixture
def fast_channels(discord_emu: DiscordEmulator) -> None:
    """Let the emulator's message bucket allow a backlog to go out without real waiting."""
    discord_emu.config.rate_limits.message_create = RateLimitRule(50, 0.2)


def all_rows(repo: Repo) -> list[OutboxRow]:
    """Return every outbox row, oldest first."""
    ids = [int(r[0]) for r in repo.conn.execute("SELECT id FROM outbox ORDER BY id")]
    found = [repo.outbox_row(i) for i in ids]
    return [r for r in found if r is not None]


def timeline(start: int, end: int, every_ms: int) -> Iterator[int]:
    """Yield the simulated times at which the synthetic alerts are queued."""
    at = start
    while at < end:
        yield at
        at += every_ms


async def run_through(
    repo: Repo,
    dispatcher: OutboxDispatcher,
    clock: Clock,
    world: Condition,
    queue_at: list[int],
    *,
    max_passes: int = 5000,
    role_id: int | None = None,
) -> dict[int, list[str]]:
    """Queue an alert per channel at each time of ``queue_at`` while delivering as the live loop would.

    The clock jumps to whichever comes first, the next alert or the next row due, as the live loop wakes
    for either. Returns the titles queued per channel, in order.
    """
    queued: dict[int, list[str]] = {channel: [] for channel in CHANNELS}
    pending = sorted(queue_at)
    for _ in range(max_passes):
        while pending and pending[0] <= clock.now:
            pending.pop(0)
            for channel in CHANNELS:
                title = f"{channel} alert {len(queued[channel]) + 1}"
                queue_alerts(
                    repo,
                    f"channel:{channel}",
                    [title],
                    rule_id="r1",
                    guild_id=GUILD_ID,
                    now=clock.now,
                    role_id=role_id,
                )
                queued[channel].append(title)
        world.at(clock.now)
        await dispatcher.run_once()
        due = repo.next_outbox_due()
        upcoming = [t for t in (due, pending[0] if pending else None) if t is not None]
        if not upcoming:
            world.restore()
            return queued
        clock.now = max(clock.now + 1, min(upcoming))
    raise AssertionError(f"{repo.outbox_depth()} rows still pending after {max_passes} passes")


def assert_every_alert_once_in_order(emu: DiscordEmulator, repo: Repo, queued: dict[int, list[str]]) -> None:
    """Check each channel shows each queued alert exactly once, in the order queued, and none failed."""
    for channel in CHANNELS:
        assert titles(bot_messages(emu, channel)) == queued[channel]
    assert repo.failed_outbox() == 0 and repo.outbox_depth() == 0


@pytest.mark.usefixtures("fast_channels")
async def test_finding_2_a_100_second_429_storm_drops_no_alert(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = clock.now
    world = World(discord_emu, monkeypatch, Outage(start + 10 * SECOND_MS, start + 110 * SECOND_MS, "429"))
    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire)], clock)

    queued = await run_through(
        repo, dispatcher, clock, world, list(timeline(start, start + 3 * MINUTE_MS, 15 * SECOND_MS))
    )

    assert_every_alert_once_in_order(discord_emu, repo, queued)
    assert sum(len(q) for q in queued.values()) == 24
    assert discord_emu.count_429 > 24  # the storm was met, many times over
    # A 429 is a wait, not an attempt: no row was charged for the storm.
    assert max(r.attempts for r in all_rows(repo)) == 1


@pytest.mark.usefixtures("fast_channels")
@pytest.mark.parametrize(
    ("hours", "mode"), [(1, "503"), (6, "refused")], ids=["1h-of-503", "6h-connection-refused"]
)
async def test_finding_2_an_outage_of_hours_drops_no_alert(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    monkeypatch: pytest.MonkeyPatch,
    hours: int,
    mode: str,
) -> None:
    start = clock.now
    outage = Outage(start + 5 * MINUTE_MS, start + 5 * MINUTE_MS + hours * HOUR_MS, mode)
    world = World(discord_emu, monkeypatch, outage)
    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire)], clock)

    queued = await run_through(
        repo, dispatcher, clock, world, list(timeline(start, outage.end + 30 * MINUTE_MS, 20 * MINUTE_MS))
    )

    assert_every_alert_once_in_order(discord_emu, repo, queued)
    # Delivery resumed within the backoff cap (10 minutes) of Discord coming back.
    delivered = [r.delivered_at for r in all_rows(repo)]
    assert all(at is not None for at in delivered)
    assert max(at for at in delivered if at is not None) <= outage.end + 30 * MINUTE_MS + 10 * MINUTE_MS


@pytest.mark.usefixtures("fast_channels")
async def test_finding_2_a_gateway_not_ready_for_20_minutes_spends_no_attempt(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = clock.now
    sink = make_sink(tripwire, ready_timeout_s=0.005, not_ready_retry_ms=5_000)
    dispatcher = OutboxDispatcher(repo, [sink], clock)
    world = GatewayNotReady(tripwire, until=start + 20 * MINUTE_MS)
    queued = await run_through(
        repo, dispatcher, clock, world, list(timeline(start, start + 25 * MINUTE_MS, 5 * MINUTE_MS))
    )

    assert_every_alert_once_in_order(discord_emu, repo, queued)
    assert max(r.attempts for r in all_rows(repo)) == 1


def shown_titles(messages: list[StoredMessage]) -> list[str]:
    """Return the alert titles messages show, in order: a single alert's title, a list's bold lines."""
    shown: list[str] = []
    for message in messages:
        embed = message.embeds[0]
        if re.fullmatch(r"\d+ (late )?alerts(: .*)?", embed["title"]):
            shown += [t for t in re.findall(r"\*\*(.+?)\*\*", embed["description"]) if t != "Delivered late."]
        else:
            shown.append(embed["title"])
    return shown


@pytest.mark.usefixtures("fast_channels")
async def test_finding_2_alerts_held_by_a_6_hour_outage_are_posted_late_in_one_list(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = clock.now
    outage = Outage(start + 30 * MINUTE_MS, start + 30 * MINUTE_MS + 6 * HOUR_MS, "503")
    world = World(discord_emu, monkeypatch, outage)
    grouping = GroupingPolicy(window_ms=20_000, max_per_minute=10, late_after_ms=10 * MINUTE_MS)
    dispatcher = OutboxDispatcher(repo, [make_sink(tripwire, grouping=grouping)], clock)

    queued = await run_through(
        repo,
        dispatcher,
        clock,
        world,
        list(timeline(start, outage.end + HOUR_MS, 20 * MINUTE_MS)),
        role_id=MOD_ROLE_ID,
    )

    assert repo.failed_outbox() == 0 and repo.outbox_depth() == 0
    for channel in CHANNELS:
        messages = bot_messages(discord_emu, channel)
        # Every alert once, in order, whether posted on time or in the late list.
        assert shown_titles(messages) == queued[channel]
        late = [m for m in messages if "Delivered late." in m.embeds[0]["description"]]
        # What the outage held 10 minutes or more (its 18 alerts, one every 20 minutes) is said late: the
        # first one as the message it was placed in before the outage, the rest in one list.
        held = [
            r.payload["title"]
            for r in all_rows(repo)
            if r.target == f"channel:{channel}"
            and r.delivered_at is not None
            and r.delivered_at - r.created_at >= 10 * MINUTE_MS
        ]
        assert len(held) == 18 and shown_titles(late) == held
        assert [m.embeds[0]["title"] for m in late] == [held[0], "17 late alerts"]
        assert not any(m.content for m in late)  # their moment has passed: they ping nobody
        on_time = [m for m in messages if m not in late]
        assert on_time and all(m.content == f"<@&{MOD_ROLE_ID}>" for m in on_time)


async def test_finding_2_an_alert_discord_refuses_is_told_in_ops_status_and_metrics(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    clock: Clock,
    make_sink: MakeSink,
    service: Service,
) -> None:
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
    target = f"channel:{ALERTS_CHANNEL_ID}"
    [refused_id] = queue_alerts(repo, target, ["Refused"], rule_id="r1", guild_id=GUILD_ID, now=clock.now)
    # The one kind of failure no wait can cure besides a broken channel: Discord refuses the message itself.
    discord_emu.fail_next(
        "POST", f"/channels/{ALERTS_CHANNEL_ID}/messages", 400, code=50035, message="Invalid Form Body"
    )

    await drain(repo, OutboxDispatcher(repo, [make_sink(tripwire)], clock), clock)

    refused = repo.outbox_row(refused_id)
    assert refused is not None and refused.status == "failed"
    [notice] = bot_messages(discord_emu, GENERAL_CHANNEL_ID)
    text = notice.embeds[0]["description"]
    assert f"An alert could not be delivered to <#{ALERTS_CHANNEL_ID}> and will not be retried" in text
    assert "refused (400, code 50035)" in text
    assert bot_messages(discord_emu, ALERTS_CHANNEL_ID) == []
    # /status says so ...
    reply = await discord_emu.slash("status", {}, user_id=OWNER_ID)
    fields = {f["name"]: f["value"] for f in reply.embeds[0]["fields"]}
    assert fields["Failed deliveries"] == "1 (see the ops channel)"
    # ... and so does /metrics.
    registry = Registry()
    register_tripwire_metrics(registry, outbox_failed=repo.failed_outbox)
    assert parse_strict(registry.render())["tripwire_outbox_failed"].samples[0].value == 1
