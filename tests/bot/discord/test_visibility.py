"""Each answer shows only what its reader may see (issue 17, findings 3, 4, 5, 9, 10), end to end through
the real bot and the Discord emulator, whose channel permission overwrites decide who reads what.

Four synthetic alerts are added to the replayed January 2026 scenario, each newer than its alerts:

- ``public``: a server rule's alert posted in #alerts, which every member may read;
- ``staff``: a server rule's alert posted in #staff-only (the Moderator role and the owner read it);
- ``personal``: Bob's (MEMBER_ID) personal alert, sent to his DMs, whose rule he has since removed;
- ``elsewhere``: a config-file rule's alert posted only in another server's channel.

The commands are synced globally (the default, no ``guild_ids``), so /status and /chart also answer in DMs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.charts.spec import ChartSpec
from bot.config import Config, parse_config
from bot.discord.client import TripwireBot
from bot.services import Service
from bot.services.history import HistoryService
from bot.services.rules import RuleOptions
from storage.repo import Repo
from tests.bot.history_support import (  # noqa: F401 - replayed_history is this module's fixture
    history_config_data,
    replayed_history,
)
from tests.bot.support import Clock, record_firing
from tests.emulators.discord_api import DiscordEmulator, InteractionReply
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    MOD_ID,
    OWNER_ID,
    PRIVATE_CHANNEL_ID,
    VIEW_CHANNEL,
)

# Synthetic: another server and its channel, which the emulator's bot is not in.
OTHER_GUILD = 1_190_000_000_000_009_000
OTHER_CHANNEL = 1_190_000_000_000_009_101
NAMES = ("public", "staff", "personal", "elsewhere")


@pytest.fixture(name="config")
def global_config() -> Config:
    """Return the example config routed to the emulator's guild, its commands synced globally."""
    data = history_config_data()
    data["discord"] = {**data["discord"], "guild_ids": []}
    return parse_config(data)


@pytest.fixture
def alerts(repo: Repo, clock: Clock, history: Any) -> dict[str, int]:
    """Record the four synthetic alerts (a minute apart, newest last) and where each was delivered."""
    found: dict[str, int] = {}
    plan: dict[str, tuple[int | None, dict[str, Any], str, int | None]] = {
        "public": (GUILD_ID, {"deliver": "channel"}, f"channel:{ALERTS_CHANNEL_ID}", GUILD_ID),
        "staff": (GUILD_ID, {"deliver": "channel"}, f"channel:{PRIVATE_CHANNEL_ID}", GUILD_ID),
        "personal": (GUILD_ID, {"deliver": "dm", "owner_id": MEMBER_ID}, f"user:{MEMBER_ID}", GUILD_ID),
        "elsewhere": (None, {"origin": "config"}, f"channel:{OTHER_CHANNEL}", OTHER_GUILD),
    }
    for n, (name, (guild_id, rule, target, target_guild)) in enumerate(plan.items()):
        at = clock.now - (len(plan) - n) * 60_000
        event_id = record_firing(
            repo, f"{name}-rule", f"synthetic {name} alert", at, guild_id=guild_id, rule=rule
        )
        with repo.transaction():
            repo.enqueue(
                event_id=event_id,
                sink="discord",
                target=target,
                kind="alert",
                payload={"guild_id": target_guild},
                now=at,
            )
        found[name] = event_id
    # None of the four rules exists any more (the personal one was removed by its owner): what each alert
    # stored is all there is to decide by.
    assert all(repo.rule(f"{name}-rule") is None for name in NAMES)
    return found


def shown(text: str) -> set[str]:
    """Return which synthetic alerts a reply's text names."""
    return {name for name in NAMES if f"synthetic {name} alert" in text}


def reply_text(reply: InteractionReply) -> str:
    """Return everything a reply shows: content, embed titles, descriptions and fields."""
    parts = [reply.content or ""]
    for embed in reply.embeds:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


# Who sees what: the guild's owner and a moderator read #staff-only; Bob reads #alerts and his own alert;
# Bob denied #alerts (a member overwrite) sees only his own.
MATRIX = {
    "owner": (OWNER_ID, {"public", "staff"}),
    "admin": (MOD_ID, {"public", "staff"}),
    "member": (MEMBER_ID, {"public", "personal"}),
    "member without #alerts": (MEMBER_ID, {"personal"}),
}


@pytest.fixture(params=list(MATRIX))
def viewer(request: pytest.FixtureRequest, discord_emu: DiscordEmulator) -> Iterator[tuple[int, set[str]]]:
    """Yield (user id, the synthetic alerts they may see) for each row of the matrix."""
    if request.param == "member without #alerts":
        discord_emu.set_overwrite(ALERTS_CHANNEL_ID, MEMBER_ID, deny=VIEW_CHANNEL, member=True)
    yield MATRIX[request.param]


async def test_every_command_that_shows_alerts_shows_each_reader_what_they_may_see(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    alerts: dict[str, int],
    viewer: tuple[int, set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, expected = viewer
    await discord_emu.wait_until(lambda: tripwire.is_ready())
    where = {"channel_id": GENERAL_CHANNEL_ID, "user_id": user}

    history = await discord_emu.slash("history", {}, **where)
    assert shown(reply_text(history)) == expected
    # A list with an alert not everyone in #general may read is answered to the reader alone.
    assert history.ephemeral == bool(expected - {"public"})

    for name, event_id in alerts.items():
        why = await discord_emu.slash("why", {"alert_id": str(event_id)}, **where)
        if name in expected:
            assert shown(reply_text(why)) == {name}
            assert why.ephemeral == (name != "public")
        else:
            assert why.ephemeral and why.content.startswith(f"There is no alert #{event_id}")

    offered = await discord_emu.autocomplete("why", {"alert_id": "synthetic"}, "alert_id", **where)
    assert shown(" ".join(c["name"] for c in offered)) == expected

    status = await discord_emu.slash("status", {}, **where)
    assert status.ephemeral and shown(reply_text(status)) == expected

    drawn: list[ChartSpec] = []
    service = tripwire.history
    assert isinstance(service, HistoryService)
    chart = service.chart

    def spy(*args: Any, **kwargs: Any) -> ChartSpec:
        spec = chart(*args, **kwargs)
        drawn.append(spec)
        return spec

    monkeypatch.setattr(service, "chart", spy)
    reply = await discord_emu.slash("chart", {"symbol": "BTCUSDT", "window": "24h"}, **where)
    assert not reply.ephemeral and reply.attachments
    # The chart is public in #general: its markers are the alerts everyone there may see.
    marked = {m.at for m in drawn[-1].markers}
    at = {name: tripwire.history.repo.event(i).at for name, i in alerts.items()}  # type: ignore[union-attr]
    assert {name for name in NAMES if at[name] in marked} == expected & {"public"}


async def test_finding_3_a_removed_personal_alert_stays_its_owners(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, alerts: dict[str, int]
) -> None:
    personal = alerts["personal"]
    for user in (OWNER_ID, MOD_ID):
        history = await discord_emu.slash("history", {}, user_id=user)
        assert "personal" not in shown(reply_text(history))
        why = await discord_emu.slash("why", {"alert_id": str(personal)}, user_id=user)
        assert why.ephemeral and why.content.startswith(f"There is no alert #{personal}")
        offered = await discord_emu.autocomplete("why", {"alert_id": ""}, "alert_id", user_id=user)
        assert str(personal) not in [c["value"] for c in offered]
    # Its owner still sees it, privately: the public channel's readers may not.
    mine = await discord_emu.slash("why", {"alert_id": str(personal)}, user_id=MEMBER_ID)
    assert mine.ephemeral and shown(reply_text(mine)) == {"personal"}


async def test_finding_4_status_lists_only_the_callers_alerts(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, alerts: dict[str, int]
) -> None:
    status = await discord_emu.slash("status", {}, user_id=MOD_ID)
    assert shown(reply_text(status)) == {"public", "staff"}
    # In a DM: no server's alerts, only the caller's own personal ones.
    for user, expected in ((OWNER_ID, set()), (MEMBER_ID, {"personal"})):
        dm = await discord_emu.slash("status", {}, user_id=user, in_dm=True)
        assert dm.ephemeral and shown(reply_text(dm)) == expected
        # Not one of the replayed scenario's alerts (all of them posted in the server's #alerts) either.
        assert "BTC broke above" not in reply_text(dm)


async def test_finding_5_alerts_of_a_channel_the_member_cannot_read_stay_hidden(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, alerts: dict[str, int]
) -> None:
    staff = alerts["staff"]
    history = await discord_emu.slash("history", {}, user_id=MEMBER_ID)
    assert "staff" not in shown(reply_text(history))
    why = await discord_emu.slash("why", {"alert_id": str(staff)}, user_id=MEMBER_ID)
    assert why.ephemeral and why.content.startswith(f"There is no alert #{staff}")
    # The moderator reads #staff-only: the same alert is theirs to see, privately outside that channel.
    mod = await discord_emu.slash("why", {"alert_id": str(staff)}, user_id=MOD_ID)
    assert mod.ephemeral and shown(reply_text(mod)) == {"staff"}
    inside = await discord_emu.slash(
        "why",
        {"alert_id": str(staff)},
        user_id=MOD_ID,
        channel_id=PRIVATE_CHANNEL_ID,
        check_permissions=False,
    )
    assert not inside.ephemeral and shown(reply_text(inside)) == {"staff"}


async def test_finding_9_admin_autocompletes_answer_members_nothing(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    await discord_emu.slash(
        "silence add", {"duration": "1h", "reason": "secret maintenance"}, user_id=OWNER_ID
    )
    await discord_emu.slash("digest set", {"channel": GENERAL_CHANNEL_ID, "time": "08:00"}, user_id=OWNER_ID)
    for command, option in (("silence remove", "silence"), ("digest remove", "digest")):
        assert await discord_emu.autocomplete(command, {option: ""}, option, user_id=OWNER_ID)
        assert await discord_emu.autocomplete(command, {option: ""}, option, user_id=MEMBER_ID) == []


async def test_finding_10_a_chart_that_fails_after_deferring_answers_privately(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    # 1m candles over 7 days: the options pass the checks made before deferring; drawing then refuses.
    reply = await discord_emu.slash(
        "chart", {"symbol": "BTCUSDT", "interval": "1m", "window": "7d"}, user_id=MEMBER_ID
    )
    assert reply.deferred
    assert reply.message is not None and reply.message.deleted  # the public "thinking" message is gone
    [error] = reply.followups
    assert error.ephemeral and "has no candles at 1m or finer" in (error.content or "")
    public = [m for m in discord_emu.world.messages.values() if m.channel_id == ALERTS_CHANNEL_ID]
    assert not [m for m in public if not m.deleted and not m.ephemeral and "candles" in (m.content or "")]


async def test_finding_5_a_rule_posting_where_the_member_cannot_read_is_not_offered(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, service: Service
) -> None:
    staff = service.add_rule(
        GUILD_ID,
        OWNER_ID,
        "level_cross",
        "BTCUSDT",
        {"level": 123_456},
        RuleOptions(channel_id=PRIVATE_CHANNEL_ID),
        is_admin=True,
    )
    for user, offered in ((MOD_ID, True), (MEMBER_ID, False)):
        choices = await discord_emu.autocomplete("history", {"rule": staff.id}, "rule", user_id=user)
        assert (staff.id in [c["value"] for c in choices]) is offered
    tested = await discord_emu.slash("alert test-rule", {"rule": staff.id}, user_id=MEMBER_ID)
    assert tested.ephemeral and f"`{staff.id}`" in (tested.content or "")
    assert "no alert" in (tested.content or "")
