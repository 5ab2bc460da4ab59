"""/alert test and /alert add of an etf_flow rule through the real bot and the Discord emulator.

The market data is the bundled January 2026 scenario; the ETF flow rows are SYNTHETIC (written here, in the
shape the ETF feed stores), since no flows of those days are bundled: Friday the 9th an outflow, then four
inflow days from Monday the 12th, the 13th and 14th above $500M.
"""

from __future__ import annotations

import pytest

from bot.discord.client import TripwireBot
from detectors.market_history import MarketHistory
from feeds.replay import parse_time
from storage.repo import Repo
from storage.rows import EtfFlow
from tests.bot.history_support import replayed_config, replayed_history  # noqa: F401 - fixtures
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, OWNER_ID

FLOWS_MUSD = {
    "2026-01-09": -40.0,
    "2026-01-12": 116.0,
    "2026-01-13": 646.0,
    "2026-01-14": 840.0,
    "2026-01-15": 100.0,
}
ABOVE = {"detector": "etf_flow", "symbol": "BTCUSDT", "settings": "above_usd=500000000"}
STREAK = {"detector": "etf_flow", "symbol": "BTCUSDT", "settings": "streak_days=3 streak_direction=inflow"}


@pytest.fixture(autouse=True)
def after_the_scenario(clock: Clock, repo: Repo, history: MarketHistory) -> None:
    """Store the flows (after the scenario's database is loaded) and move the clock past its last candle."""
    clock.now = parse_time("2026-01-21T00:00Z")
    repo.upsert_etf_flows(
        EtfFlow("BTC", day, parse_time(f"{day}T00:00Z"), "sosovalue", musd * 1e6, None, None, None, clock.now)
        for day, musd in FLOWS_MUSD.items()
    )


@pytest.mark.parametrize(
    ("options", "lines"),
    [
        (
            ABOVE,
            [
                ("2026-01-14T00:00Z", "BTC ETFs: +$646.0M on 2026-01-13, second inflow day in a row"),
                ("2026-01-15T00:00Z", "BTC ETFs: +$840.0M on 2026-01-14, third inflow day in a row"),
            ],
        ),
        (STREAK, [("2026-01-15T00:00Z", "BTC ETFs: +$840.0M on 2026-01-14, third inflow day in a row")]),
    ],
    ids=["above", "streak"],
)
async def test_a_backtest_finds_the_days_and_add_creates_the_rule(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    options: dict[str, str],
    lines: list[tuple[str, str]],
) -> None:
    reply = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral, reply.content
    embed = reply.embeds[0]
    count = len(lines)
    assert (
        embed["title"]
        == f"Backtest: this alert would have fired {count} time{'s' if count > 1 else ''} in 20 days"
    )
    [when] = [f["value"] for f in embed["fields"] if f["name"] == "When"]
    found = when.splitlines()
    assert len(found) == count
    for line, (at, title) in zip(found, lines, strict=True):
        # Each day fires once its figure is known: at the end of its UTC day, never before.
        assert line.startswith(f"<t:{parse_time(at) // 1000}:f>") and line.endswith(title), line

    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    added = await discord_emu.slash("alert add", options, user_id=OWNER_ID)
    assert added.embeds, added.content
    rule_id = str(added.embeds[0]["footer"]["text"]).removeprefix("rule ")
    stored = repo.rule(rule_id)
    assert stored is not None and stored.detector == "etf_flow" and stored.guild_id == GUILD_ID


async def test_a_rule_that_can_never_fire_is_refused(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    reply = await discord_emu.slash(
        "alert add", {**ABOVE, "settings": "streak_direction=inflow"}, user_id=OWNER_ID
    )
    assert reply.ephemeral and "above_usd, below_usd or streak_days" in reply.content
    reply = await discord_emu.slash("alert add", {**ABOVE, "settings": "streak_days=1"}, user_id=OWNER_ID)
    assert reply.ephemeral and "streak_days" in reply.content and "at least 2" in reply.content
