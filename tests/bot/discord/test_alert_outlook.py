"""/alert add says what the new rule will do now when it is not obvious (issue 22), through the emulator.

The clock is 2026-01-13 23:00 UTC on the bundled scenario: the hour BTC broke $95,000 has just closed, with
$109M of shorts liquidated in it. A cascade rule added then used to wait for calm without saying so.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.discord.client import TripwireBot
from detectors.base import format_price
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, OWNER_ID


@pytest.fixture
def clock() -> Clock:
    """Return a clock at the close of the breakout hour."""
    return Clock(parse_time("2026-01-13T23:00Z"))


async def add(emu: DiscordEmulator, options: dict[str, Any]) -> dict[str, Any]:
    """Add a channel alert as the server owner and return the reply's embed."""
    reply = await emu.slash("alert add", {"deliver": "channel", **options}, user_id=OWNER_ID)
    assert reply.embeds, reply.content
    embed: dict[str, Any] = reply.embeds[0]
    return embed


def now_field(embed: dict[str, Any]) -> str | None:
    """Return the reply's "Now" field, if it has one."""
    return next((f["value"] for f in embed.get("fields", []) if f["name"] == "Now"), None)


async def test_alert_add_says_what_the_rule_will_do_now(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    cascade = await add(
        discord_emu, {"detector": "liquidation_cascade", "symbol": "BTCUSDT", "settings": "min_usd=20000000"}
    )
    assert now_field(cascade) == (
        "A cascade of BTC shorts is under way (over $20.0M in 1h): this rule fires on the next one, once "
        "the window has fallen below $10.0M."
    )
    # No ETH liquidation series is bundled: the baseline is unknown, and the reply says so.
    eth = await add(discord_emu, {"detector": "liquidation_cascade", "symbol": "ETHUSDT"})
    assert now_field(eth) == (
        "No ETH liquidation is known yet: the rule learns the baseline for 24h from the first one and "
        "cannot fire before."
    )
    level = await add(
        discord_emu, {"detector": "level_cross", "symbol": "BTCUSDT", "settings": "level=95000 direction=up"}
    )
    said = now_field(level)
    assert said is not None and said.startswith("BTC is at $"), said
    assert said.endswith(
        f", above $95,000 already: the rule fires when price crosses up again, once it has been back below "
        f"{format_price(95000 * 0.995)}."
    )
    # Where nothing needs saying (round levels simply watch), the reply has no "Now".
    rounds = await add(
        discord_emu, {"detector": "round_levels", "symbol": "BTCUSDT", "settings": "step=5000"}
    )
    assert now_field(rounds) is None
    assert len(repo.rules(origin="discord")) == 4
