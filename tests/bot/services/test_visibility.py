"""The one visibility rule, case by case (bot.services.visibility); the commands' end-to-end matrix is in
tests/bot/discord/test_visibility.py. All ids are synthetic."""

from __future__ import annotations

from typing import Any

import pytest

from bot.services.visibility import Delivery, Viewer, may_see, may_see_rule, may_show_publicly
from storage.repo import AlertEventRow, RuleRow

GUILD = 10
OTHER_GUILD = 20
OPEN, PRIVATE, GENERAL = 101, 102, 103
OTHER_CHANNEL = 201
OWNER, MEMBER = 1, 2


def event(guild_id: int | None, rule: dict[str, Any] | None = None) -> AlertEventRow:
    """Return a synthetic firing event of a (maybe removed) rule."""
    return AlertEventRow(
        1, "k", "r", "level_cross", "BTCUSDT", guild_id, "firing", "cross_up", "warning", "t", {},
        rule or {}, 0, 0, False, None, None,
    )  # fmt: skip


def member(readable: set[int], *, admin: bool = False, here: int | None = GENERAL) -> Viewer:
    """Return a member of GUILD who may read ``readable``, asking in ``here``."""
    channels = frozenset({OPEN, PRIVATE, GENERAL})
    return Viewer(MEMBER, GUILD, channels, frozenset(readable), admin, here, frozenset({OPEN, GENERAL}))


POSTED_OPEN: list[Delivery] = [(f"channel:{OPEN}", GUILD)]
POSTED_PRIVATE: list[Delivery] = [(f"channel:{PRIVATE}", GUILD)]
PERSONAL = {"deliver": "dm", "owner_id": MEMBER}


@pytest.mark.parametrize(
    ("case", "viewer", "alert", "deliveries", "sees"),
    [
        ("posted where they read", member({OPEN}), event(GUILD), POSTED_OPEN, True),
        ("posted where they cannot read", member({OPEN}), event(GUILD), POSTED_PRIVATE, False),
        (
            "posted in two channels, one readable",
            member({OPEN}),
            event(GUILD),
            POSTED_OPEN + POSTED_PRIVATE,
            True,
        ),
        ("their own removed personal alert", member(set()), event(GUILD, PERSONAL), [], True),
        (
            "someone else's personal alert",
            member({OPEN}),
            event(GUILD, {**PERSONAL, "owner_id": OWNER}),
            [],
            False,
        ),
        (
            "a personal alert known by its DM only",
            member(set()),
            event(GUILD),
            [(f"user:{OWNER}", GUILD)],
            False,
        ),
        ("their personal alert of another server", member(set()), event(OTHER_GUILD, PERSONAL), [], False),
        (
            "a config alert posted in another server",
            member({OPEN}),
            event(None),
            [(f"channel:{OTHER_CHANNEL}", OTHER_GUILD)],
            False,
        ),
        (
            "a config alert routed here by the payload",
            member({OPEN}),
            event(None),
            [(f"channel:{OPEN}", GUILD)],
            True,
        ),
        ("never posted, channel unknown: member", member({OPEN}), event(GUILD), [], False),
        ("never posted, channel unknown: manager", member({OPEN}, admin=True), event(GUILD), [], True),
        (
            "a DM: a server's channel alert",
            Viewer(MEMBER, None, readable=frozenset()),
            event(GUILD),
            POSTED_OPEN,
            False,
        ),
        (
            "a DM: their own personal alert",
            Viewer(MEMBER, None, readable=frozenset()),
            event(GUILD, PERSONAL),
            [],
            True,
        ),
    ],
)
def test_may_see(
    case: str, viewer: Viewer, alert: AlertEventRow, deliveries: list[Delivery], sees: bool
) -> None:
    assert may_see(viewer, alert, deliveries) is sees, case


def test_a_public_reply_shows_only_what_everyone_in_its_channel_reads() -> None:
    asked_in_general = member({OPEN, PRIVATE, GENERAL})
    assert may_show_publicly(asked_in_general, event(GUILD), POSTED_OPEN)  # @everyone reads #open
    assert not may_show_publicly(asked_in_general, event(GUILD), POSTED_PRIVATE)
    assert may_show_publicly(member({PRIVATE}, here=PRIVATE), event(GUILD), POSTED_PRIVATE)
    assert not may_show_publicly(member({OPEN}, here=OPEN), event(GUILD, PERSONAL), [])


def test_a_rule_is_seen_where_it_posts() -> None:
    # Only the fields the rule reads matter; the rest stay None.
    fields = {name: None for name in RuleRow.__dataclass_fields__}
    fields.update(
        id="r", origin="discord", guild_id=GUILD, owner_id=OWNER, channel_id=PRIVATE, deliver="channel"
    )
    row = RuleRow(**fields)
    assert not may_see_rule(member({OPEN}), row, POSTED_PRIVATE)
    assert may_see_rule(member({OPEN, PRIVATE}), row, POSTED_PRIVATE)
    personal = RuleRow(**{**fields, "deliver": "dm", "owner_id": MEMBER})
    assert may_see_rule(member(set()), personal, [(f"user:{MEMBER}", GUILD)])
    assert not may_see_rule(member(set()), RuleRow(**{**fields, "deliver": "dm"}), [(f"user:{OWNER}", GUILD)])
