"""/history and /why through the real bot and the emulator, on the replayed January 2026 scenario: pages
newest first, buttons only for whoever asked and disabled at the ends and on timeout, and the evidence
behind the btc-95k alert."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from typing import Any

import pytest

from bot.discord.client import TripwireBot
from bot.discord.cogs.history import HistoryCog
from bot.discord.views import NOT_YOURS
from feeds.replay import parse_time
from storage.repo import Repo
from tests.bot.history_support import (  # noqa: F401 - the replayed_* are this module's fixtures
    CROSSING_AT,
    crossing_event_id,
    replayed_config,
    replayed_history,
)
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, InteractionReply
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID

NUMBER = re.compile(r"\*\*#(\d+)\*\*")


def numbers(reply: InteractionReply) -> list[int]:
    """Return the alert numbers a /history page lists, in order."""
    return [int(n) for n in NUMBER.findall(reply.embeds[0]["description"])]


def button(reply: InteractionReply, label: str) -> Mapping[str, Any]:
    """Return the reply's button with this label."""
    [found] = [b for b in reply.buttons() if b.get("label") == label]
    return found


def newest_firings(repo: Repo, until: int, since: int | None = None) -> list[int]:
    """Return the ids of the firing alerts up to ``until``, newest first, as the database orders them."""
    events = repo.events(since=since, until=until + 1, limit=10_000)
    return [e.id for e in events if e.state == "firing"]


async def test_history_pages_newest_first_and_only_for_whoever_asked(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    expected = newest_firings(repo, clock.now)
    reply = await discord_emu.slash("history", {}, user_id=MEMBER_ID)
    assert not reply.ephemeral and not reply.deferred
    assert numbers(reply) == expected[:8]
    embed = reply.embeds[0]
    assert embed["description"].startswith("all symbols · newest first\n")
    assert embed["footer"]["text"] == f"page 1/{-(-len(expected) // 8)} · {len(expected)} alerts · " + (
        "/why <number> explains one"
    )
    assert button(reply, "Previous")["disabled"] and not button(reply, "Next").get("disabled")

    refused = await discord_emu.click(reply, button(reply, "Next")["custom_id"], user_id=OWNER_ID)
    assert refused.ephemeral and refused.content == NOT_YOURS
    assert numbers(await discord_emu.click(reply, button(reply, "Next")["custom_id"])) == expected[8:16]
    page = discord_emu.message(reply.message_id or 0)
    assert page.embeds[0]["footer"]["text"].startswith("page 2/")
    assert not button(reply, "Previous").get("disabled")
    back = await discord_emu.click(reply, button(reply, "Previous")["custom_id"])
    assert numbers(back) == expected[:8] and button(back, "Previous")["disabled"]


async def test_history_filters_mark_folded_alerts_and_disable_buttons_at_the_ends(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo, clock: Clock
) -> None:
    since = parse_time("2026-01-13T00:00Z")
    expected = newest_firings(repo, clock.now, since)
    assert len(expected) > 8, "more than one page"
    reply = await discord_emu.slash("history", {"since": "2026-01-13"}, user_id=MEMBER_ID)
    assert numbers(reply) == expected[:8]
    last, seen, pages = reply, numbers(reply), [reply.embeds[0]["description"]]
    while len(seen) < len(expected):  # page on to the last page (how many depends on the example rules)
        assert not button(last, "Next").get("disabled"), (len(seen), len(expected))
        last = await discord_emu.click(reply, button(last, "Next")["custom_id"])
        seen += numbers(last)
        pages.append(last.embeds[0]["description"])
    assert seen == expected
    # The breakout hour's lesser alerts were folded into its main one; on which page depends on the rules.
    assert "📎 folded into #" in "\n".join(pages)
    assert button(last, "Next")["disabled"] and not button(last, "Previous").get("disabled")
    with pytest.raises(PermissionError, match="disabled"):  # a Discord client cannot press it
        await discord_emu.click(last, button(last, "Next")["custom_id"])

    btc = await discord_emu.slash("history", {"rule": "btc-95k"}, user_id=MEMBER_ID)
    assert numbers(btc) == [crossing_event_id(repo)] and not btc.buttons()
    line = f"<t:{CROSSING_AT // 1000}:f> · BTC broke above $95,000 · `btc-95k`"
    assert line in btc.embeds[0]["description"]
    choices = await discord_emu.autocomplete("history", {"rule": "btc-95k"}, "rule", user_id=MEMBER_ID)
    assert [c["value"] for c in choices] == ["btc-95k", "btc-95k-daily-close", "btc-95k-weekly-close"]
    none = await discord_emu.slash("history", {"rule": "nope"}, user_id=MEMBER_ID)
    assert none.embeds[0]["description"].startswith("No alerts match")

    for options, message in [
        ({"since": "soon"}, "I could not read `soon` as a time"),
        ({"since": "2027-01-01"}, "`2027-01-01` is in the future"),
        ({"symbol": "doge"}, "Unknown symbol `doge`"),
    ]:
        bad = await discord_emu.slash("history", options, user_id=MEMBER_ID)
        assert bad.ephemeral and bad.content.startswith(message), bad.content
    synced = {c["name"]: c for c in discord_emu.commands_synced(GUILD_ID)}
    assert synced["history"]["contexts"] == synced["why"]["contexts"] == [0]  # a server's alerts: no DMs


async def test_history_buttons_are_disabled_when_the_view_times_out(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    cog = tripwire.get_cog("History")
    assert isinstance(cog, HistoryCog)
    cog.page_timeout_s = 0.2
    reply = await discord_emu.slash("history", {}, user_id=MEMBER_ID)
    assert not button(reply, "Next").get("disabled")
    message = reply.message_id or 0
    await discord_emu.wait_until(
        lambda: all(b.get("disabled") for b in discord_emu.message(message).components[0]["components"])
    )


async def test_paging_for_longer_than_the_token_lives_never_meets_a_401_and_ends_disabled(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    # Tokens live TOKEN_TTL here (Discord: 15 minutes); the view must end, its buttons disabled, inside
    # that, however recently the member pressed a button (before, its timeout counted from the last press
    # and its final edit used the command's expired token: 401, buttons left looking active).
    token_ttl = 1.5
    discord_emu.config.interaction_token_ttl = token_ttl
    cog = tripwire.get_cog("History")
    assert isinstance(cog, HistoryCog)
    cog.page_timeout_s = 0.8  # idle timeout, longer than the gap between presses
    cog.view_lifetime_s = 1.0
    began = time.monotonic()
    reply = await discord_emu.slash("history", {}, user_id=MEMBER_ID)
    message = reply.message_id or 0
    pages = [numbers(reply)]
    label = "Next"
    while time.monotonic() - began < 2 * token_ttl:
        await asyncio.sleep(0.2)
        buttons = {b["label"]: b for b in discord_emu.message(message).components[0]["components"]}
        if all(b.get("disabled") for b in buttons.values()):
            break
        if buttons[label].get("disabled"):
            label = "Previous" if label == "Next" else "Next"
        try:
            pages.append(numbers(await discord_emu.click(reply, buttons[label]["custom_id"], timeout=1.0)))
        except PermissionError:
            break  # disabled between the look and the press, as a Discord client would show it
    await discord_emu.wait_until(
        lambda: all(b.get("disabled") for b in discord_emu.message(message).components[0]["components"]),
        timeout=3 * token_ttl,
    )
    assert len(pages) >= 4, "the member paged while the view lived"
    assert discord_emu.requests_matching(status=401) == []
    # The buttons were disabled by an edit through the command's token, while it still lived.
    edits = discord_emu.requests_matching("PATCH", "/webhooks/**")
    assert edits and all(r.status == 200 for r in edits)


async def test_why_shows_the_values_the_rule_and_the_data_of_the_btc_95k_alert(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    event_id = crossing_event_id(repo)
    reply = await discord_emu.slash("why", {"alert_id": f"#{event_id}"}, user_id=MEMBER_ID)
    assert not reply.ephemeral
    embed = reply.embeds[0]
    assert embed["title"] == f"Why #{event_id} fired: BTC broke above $95,000"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert (fields["Price"], fields["Level"], fields["Re-arms beyond"]) == ("$95,757.21", "$95,000", "0.5%")
    assert fields["Rule when it fired"] == (
        "`btc-95k` (config file) · `level=$95,000 direction=up hysteresis_pct=0.5 use_wicks=no`"
        " · cooldown 15m"
    )
    assert fields["Rule now"] == "unchanged since"
    assert fields["Data"] == f"binance 1h candles: newest <t:{CROSSING_AT // 1000}:f>, at the alert's time"
    assert fields["Timing"].endswith("(at once)")
    assert fields["Delivery"] == f"posted in <#{ALERTS_CHANNEL_ID}> <t:{CROSSING_AT // 1000}:R>"
    assert embed["footer"]["text"] == f"alert #{event_id} · rule btc-95k · level_cross · BTCUSDT"

    choices = await discord_emu.autocomplete("why", {"alert_id": "95,000"}, "alert_id", user_id=MEMBER_ID)
    assert {"name": f"#{event_id} · BTC broke above $95,000", "value": str(event_id)} in choices
    for value, message in [
        ("soon", "`soon` is not an alert number"),
        ("999999", "There is no alert #999999 in this server"),
    ]:
        bad = await discord_emu.slash("why", {"alert_id": value}, user_id=OWNER_ID)
        assert bad.ephemeral and bad.content.startswith(message), bad.content
