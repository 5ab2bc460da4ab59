"""/alert test, /alert add and /why for retest, sustained volume and open-interest rebuilds, through the real
bot and the emulator, on the replayed January 2026 scenario (its example rules include one of each)."""

from __future__ import annotations

import pytest

from bot.discord.client import TripwireBot
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.history_support import replayed_config, replayed_history  # noqa: F401 - fixtures
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, InteractionReply
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID

RETEST = {"detector": "retest", "symbol": "BTCUSDT", "settings": "level=95000 direction=up"}
SUSTAINED = {
    "detector": "volume_spike",
    "symbol": "ETHUSDT",
    "settings": "multiple=2.5 window=72 consecutive=3",
}
REBUILD = {
    "detector": "open_interest",
    "symbol": "BTCUSDT",
    "settings": "pct=5 window_hours=4 rebuild_pct=50 changes=false",
}


@pytest.fixture(autouse=True)
def after_the_scenario(clock: Clock) -> None:
    """Move the clock past the scenario's last candle, so a 30-day backtest covers January 1 to 20."""
    clock.now = parse_time("2026-01-21T00:00Z")


def firings(reply: InteractionReply) -> tuple[str, str]:
    """Return the backtest's title and its When field."""
    embed = reply.embeds[0]
    [when] = [f["value"] for f in embed["fields"] if f["name"] == "When"]
    return embed["title"], when


@pytest.mark.parametrize(
    ("options", "count", "span", "titles"),
    [
        (
            RETEST,
            1,
            "20 days",
            ["BTC retested $95,000 as support and held: 3 1h closes above (now $95,245.60)"],
        ),
        (
            SUSTAINED,
            3,
            "10.7 days",  # ETH's candles begin on the 9th
            [
                "ETH sustained volume: 3 1h candles in a row at 3.5×+ the 3d average before them",
                "ETH sustained volume: 3 1h candles in a row at 2.7×+ the 3d average before them",
                "ETH sustained volume: 3 1h candles in a row at 4.7×+ the 3d average before them",
            ],
        ),
        (REBUILD, 1, "20 days", ["BTC open interest rebuilt 55% of its -6.7% flush in 17h from the low"]),
    ],
    ids=["retest", "sustained-volume", "oi-rebuild"],
)
async def test_backtests_tell_the_january_story_and_add_creates_the_rule(
    tripwire: TripwireBot,
    discord_emu: DiscordEmulator,
    repo: Repo,
    options: dict[str, str],
    count: int,
    span: str,
    titles: list[str],
) -> None:
    reply = await discord_emu.slash("alert test", options, user_id=OWNER_ID)
    assert reply.deferred and reply.ephemeral, reply.content
    title, when = firings(reply)
    # The 30 days asked for hold the bundled data's 20 (ETH's 10.7): the backtest says the span it covered.
    assert title == f"Backtest: this alert would have fired {count} time{'s' if count > 1 else ''} in {span}"
    lines = when.splitlines()
    assert len(lines) == count and all(t in line for t, line in zip(titles, lines, strict=True)), lines

    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    added = await discord_emu.slash("alert add", options, user_id=OWNER_ID)
    assert added.embeds, added.content
    rule_id = str(added.embeds[0]["footer"]["text"]).removeprefix("rule ")
    stored = repo.rule(rule_id)
    assert stored is not None and stored.detector == options["detector"] and stored.guild_id == GUILD_ID


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {**RETEST, "settings": "level=95000 step=5000"},
            "Invalid `settings` for retest: give one of `level` (one price), `step` (every multiple of it)",
        ),
        (
            {**RETEST, "settings": "level=95000 hold=0"},
            "Invalid `settings` for retest: `hold` must be at least 1",
        ),
        (
            {**SUSTAINED, "settings": "consecutive=49"},
            "Invalid `settings` for volume_spike: `consecutive` must be at most 48",
        ),
        (
            {**REBUILD, "settings": "changes=false"},
            "Invalid `settings` for open_interest: with `changes = false` set `rebuild_pct`",
        ),
    ],
)
async def test_bad_settings_are_refused_privately_by_add_and_test(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, options: dict[str, str], message: str
) -> None:
    rules_before = repo.rules(guild_id=GUILD_ID)
    for command in ("alert test", "alert add"):
        bad = await discord_emu.slash(command, options, user_id=OWNER_ID)
        assert bad.ephemeral and bad.content.startswith(message), (command, bad.content)
    assert repo.rules(guild_id=GUILD_ID) == rules_before


def event_of(repo: Repo, rule_id: str, at: str) -> int:
    """Return the id of the rule's alert that fired at ``at``."""
    [event] = [e for e in repo.events(rule_id=rule_id) if e.state == "firing" and e.at == parse_time(at)]
    return event.id


async def test_why_explains_a_retest(tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo) -> None:
    event_id = event_of(repo, "btc-retest-95k", "2026-01-14T02:00Z")
    reply = await discord_emu.slash("why", {"alert_id": f"#{event_id}"}, user_id=MEMBER_ID)
    embed = reply.embeds[0]
    assert embed["title"] == (
        f"Why #{event_id} fired: BTC retested $95,000 as support and held: 3 1h closes above (now $95,245.60)"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Level"] == "$95,000" and fields["Outcome"] == "held as support"
    broke, touched = parse_time("2026-01-13T23:00Z") // 1000, parse_time("2026-01-14T00:00Z") // 1000
    assert (fields["Break close"], fields["Broke at"]) == ("$95,757.21", f"<t:{broke}:f>")
    assert (fields["Came back to"], fields["Came back by"]) == ("$95,055.01", f"<t:{touched}:f>")
    assert (fields["Close"], fields["Candles since the break"]) == ("$95,245.60", "3")
    assert (fields["Break margin"], fields["Touch margin"], fields["Candle size"]) == ("0.5%", "0.2%", "1h")
    assert fields["Rule when it fired"] == (
        "`btc-retest-95k` (config file) · `level=$95,000 direction=either interval=1h break_pct=0.5 "
        "touch_pct=0.2 within=24 hold=3` · cooldown 15m"
    )


async def test_why_explains_sustained_volume_and_an_open_interest_rebuild(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    volume = event_of(repo, "eth-volume-sustained", "2026-01-14T17:00Z")
    fields = {
        f["name"]: f["value"]
        for f in (await discord_emu.slash("why", {"alert_id": str(volume)}, user_id=MEMBER_ID)).embeds[0][
            "fields"
        ]
    }
    began = parse_time("2026-01-14T14:00Z") // 1000
    assert (fields["Candles in a row"], fields["Times the average"], fields["Run began"]) == (
        "3",
        "2.7×",
        f"<t:{began}:f>",
    )
    assert (fields["Volume"], fields["Average volume"], fields["Candles averaged"]) == (
        "136,208",
        "15,081",
        "72",
    )
    assert (fields["Open"], fields["Close"], fields["Price change"]) == ("$3,302.79", "$3,370.26", "+2.04%")

    rebuild = event_of(repo, "btc-oi-rebuild", "2026-01-20T16:00Z")
    fields = {
        f["name"]: f["value"]
        for f in (await discord_emu.slash("why", {"alert_id": str(rebuild)}, user_id=MEMBER_ID)).embeds[0][
            "fields"
        ]
    }
    low = parse_time("2026-01-19T23:00Z") // 1000
    assert (fields["Regained of the drop"], fields["Flush"]) == ("54.55%", "-6.73%")
    assert (fields["Before the flush"], fields["Low"], fields["Now"]) == ("$9.3B", "$8.7B", "$9.0B")
    assert (fields["Low at"], fields["Took from the low"]) == (f"<t:{low}:f>", "17h")
