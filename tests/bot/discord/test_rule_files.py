"""Rules in bulk through the real bot and the emulator: /alert add with `levels`, /alert export and import.

The export's file is downloaded from the reply's attachment, the rules are removed, and the same bytes are
attached to /alert import (an ATTACHMENT option, resolved by the emulator as Discord does): Apply brings
back every rule with every setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from typing import Any

from bot.discord.client import TripwireBot
from bot.discord.views import NOT_YOURS
from storage.repo import Repo
from tests.emulators.discord_api import DiscordEmulator, InteractionReply
from tests.emulators.discord_api.state import (
    ALERTS_CHANNEL_ID,
    GENERAL_CHANNEL_ID,
    GUILD_ID,
    MEMBER_ID,
    MOD_ID,
    MOD_ROLE_ID,
    OWNER_ID,
)

# What a rule is, without the bookkeeping an import sets anew (when it was written).
VOLATILE = ("created_at", "updated_at")


def portable(repo: Repo) -> list[dict[str, Any]]:
    rows = [asdict(r) for r in repo.rules(guild_id=GUILD_ID)]
    return sorted(({k: v for k, v in r.items() if k not in VOLATILE} for r in rows), key=lambda r: r["id"])


def apply_button(reply: InteractionReply) -> str:
    [button] = [b for b in reply.buttons() if b.get("label") == "Apply"]
    return str(button["custom_id"])


async def test_levels_create_one_alert_per_level_in_one_reply(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    reply = await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "btc",
            "settings": "direction=up",
            "levels": "95000, 100000, 105000",
        },
        user_id=OWNER_ID,
    )
    assert reply.embeds, (reply.content, reply.callback_type)
    assert reply.ephemeral and reply.embeds[0]["title"] == "3 alerts created", reply.content
    assert sorted(r.settings["level"] for r in repo.rules(guild_id=GUILD_ID)) == [95000.0, 100000.0, 105000.0]
    assert reply.embeds[0]["description"].count("→ default channel") == 3
    # A mistake in one level creates none, and says which word.
    bad = await discord_emu.slash(
        "alert add", {"detector": "level_cross", "symbol": "btc", "levels": "110000, soon"}, user_id=OWNER_ID
    )
    assert bad.ephemeral and bad.content == "`soon` in `levels` is not a price."
    assert len(repo.rules(guild_id=GUILD_ID)) == 3


async def test_export_then_import_round_trips_every_rule_through_discord(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    await discord_emu.slash(
        "alert add",
        {
            "detector": "level_cross",
            "symbol": "btc",
            "settings": "level=95000 direction=up confirm=1d",
            "channel": GENERAL_CHANNEL_ID,
            "role": MOD_ROLE_ID,
            "note": "the big one",
            "repeat": False,
            "cooldown": "1h",
            "expires": "7d",
        },
        user_id=OWNER_ID,
    )
    await discord_emu.slash(
        "alert add",
        {"detector": "funding", "symbol": "eth", "settings": "high_pct=off low_pct=-0.05"},
        user_id=OWNER_ID,
    )
    await discord_emu.slash("alert add", {"detector": "fear_greed"}, user_id=OWNER_ID)
    personal = await discord_emu.slash(
        "alert add", {"detector": "level_cross", "symbol": "eth", "settings": "level=3500"}, user_id=MEMBER_ID
    )
    assert personal.embeds, personal.content
    before = portable(repo)
    assert len(before) == 4

    exported = await discord_emu.slash("alert export", {}, user_id=OWNER_ID)
    assert exported.ephemeral and exported.content.startswith("3 of this server's channel alerts.")
    [file] = exported.attachments
    assert file.filename.endswith(".toml")
    tables = tomllib.loads(file.data.decode())["rules"]
    assert len(tables) == 3 and not any(t.get("deliver") == "dm" for t in tables)  # the member's is theirs

    server_ids = [t["id"] for t in tables]
    for rule_id in server_ids:
        removed = await discord_emu.slash("alert remove", {"rule": rule_id}, user_id=OWNER_ID)
        assert removed.embeds[0]["title"] == f"Alert {rule_id} removed"
    assert len(repo.rules(guild_id=GUILD_ID)) == 1

    upload = discord_emu.upload(file.filename, file.data)
    plan = await discord_emu.slash("alert import", {"file": upload}, user_id=OWNER_ID)
    assert plan.ephemeral and plan.embeds[0]["title"] == "Import: 3 to create, 0 to change, 0 unchanged"
    assert len(repo.rules(guild_id=GUILD_ID)) == 1  # nothing changes before Apply
    # Only the member who imported may press Apply.
    other = await discord_emu.click(plan, apply_button(plan), user_id=MOD_ID)
    assert other.ephemeral and other.content == NOT_YOURS
    await discord_emu.click(plan, apply_button(plan), user_id=OWNER_ID)

    def applied() -> bool:
        messages = discord_emu.messages_in(ALERTS_CHANNEL_ID, include_ephemeral=True)
        return any(
            m.embeds and m.embeds[0].get("title", "").startswith("Imported: 3 created") for m in messages
        )

    await discord_emu.wait_until(applied)
    assert portable(repo) == before
    # The same file again: nothing to change, and no button.
    again = await discord_emu.slash(
        "alert import", {"file": discord_emu.upload(file.filename, file.data)}, user_id=OWNER_ID
    )
    assert again.embeds[0]["title"].startswith("Nothing to import: all 3 alerts") and not again.buttons()


async def test_members_import_personal_alerts_and_bad_files_are_answered_privately(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    personal = (
        b'[[rules]]\nid = "eth-3500"\ndetector = "level_cross"\nsymbol = "ETHUSDT"\nlevel = 3500\n'
        b'deliver = "dm"\n'
    )
    plan = await discord_emu.slash(
        "alert import", {"file": discord_emu.upload("mine.toml", personal)}, user_id=MEMBER_ID
    )
    assert plan.embeds[0]["title"] == "Import: 1 to create, 0 to change, 0 unchanged", plan.content
    await discord_emu.click(plan, apply_button(plan), user_id=MEMBER_ID)
    await discord_emu.wait_until(lambda: repo.rule("eth-3500") is not None)
    rule = repo.rule("eth-3500")
    assert rule is not None and (rule.owner_id, rule.deliver) == (MEMBER_ID, "dm")

    channel_rule = personal.replace(b'deliver = "dm"\n', b"").replace(b"eth-3500", b"eth-3600")
    refused = await discord_emu.slash(
        "alert import", {"file": discord_emu.upload("server.toml", channel_rule)}, user_id=MEMBER_ID
    )
    assert refused.ephemeral and refused.content.startswith("Nothing was imported: 1 problem in the file.")
    assert "rules[0] (eth-3600): Alerts in channels need the Manage Server permission" in refused.content

    for data, message in [
        (b"[[rules]\n", "The file is not valid TOML"),
        (b"\x89PNG\r\n\x1a\n", "The file is not UTF-8 text"),
        (
            b'[[rules]]\nid = "x"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = -1\n'
            b"channel_id = 5\n",
            "Nothing was imported",
        ),
    ]:
        bad = await discord_emu.slash(
            "alert import", {"file": discord_emu.upload("bad.toml", data)}, user_id=OWNER_ID
        )
        assert bad.ephemeral and bad.content.startswith(message), bad.content
    # A channel that is not the server's (or the bot cannot post in) is refused before any change.
    elsewhere = (
        b'[[rules]]\nid = "btc-1"\ndetector = "level_cross"\nsymbol = "BTCUSDT"\nlevel = 1\nchannel_id = 5\n'
    )
    refused = await discord_emu.slash(
        "alert import", {"file": discord_emu.upload("x.toml", elsewhere)}, user_id=OWNER_ID
    )
    assert (
        refused.ephemeral and refused.content == "Alert `btc-1`: <#5> is not a text channel of this server."
    )
    assert repo.rule("btc-1") is None
