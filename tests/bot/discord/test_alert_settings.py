"""/alert add's `settings` text: read into a detector's settings or refused with the setting's name and
what it takes, completed as it is typed, explained by /alert detectors; and the `detector` option as
choices, or autocomplete once plugins bring more than Discord can list."""

from __future__ import annotations

import pytest

from bot.config import Config
from bot.discord.client import TripwireBot
from bot.errors import UserError
from bot.services import Service
from bot.services.detector_settings import (
    PICK_DETECTOR_HINT,
    TOO_LONG_HINT,
    complete_settings,
    example_text,
    parse_settings,
    setting_specs,
)
from detectors.fear_greed import FearGreed
from detectors.level_cross import LevelCross, LevelCrossSettings
from detectors.registry import detector_classes
from storage.repo import Repo
from tests.bot.discord.detectors_for_tests import (
    Basis,
    ClashingSettings,
    KitchenSink,
    KitchenSinkSettings,
    many_detectors,
)
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, OWNER_ID


def values(choices: list[tuple[str, str]]) -> list[str]:
    """Return the values of (name, value) choices."""
    return [value for _, value in choices]


# -- reading the text ----------------------------------------------------------------------------------


def test_a_settings_text_becomes_what_the_settings_model_validates() -> None:
    text = 'threshold=5 peers="ETHUSDT, SOLUSDT" ceiling=OFF mode=SLOW basis=wick label="two words" loud=yes'
    settings = parse_settings("kitchen_sink", KitchenSinkSettings, text)
    assert settings == {
        "threshold": "5",
        "peers": ["ETHUSDT", "SOLUSDT"],
        "ceiling": None,
        "mode": "slow",
        "basis": "wick",
        "label": "two words",
        "loud": "yes",
    }
    validated = KitchenSinkSettings.model_validate(settings)
    assert (validated.threshold, validated.basis, validated.loud) == (5.0, Basis.WICK, True)
    assert parse_settings("kitchen_sink", KitchenSinkSettings, "threshold=1 peers=none")["peers"] == []


def test_a_setting_named_like_a_common_option_is_its_own_word() -> None:
    # With one option per setting a plugin's `note` clashed with /alert add's `note` and was left out.
    assert parse_settings("clashing", ClashingSettings, 'note="my own"') == {"note": "my own"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "lvel=95000",
            "level_cross has no setting `lvel`. Did you mean `level`? "
            "Its settings: level, direction, hysteresis_pct, confirm, use_wicks.",
        ),
        (
            "direction=up",
            "level_cross needs `level` (number, greater than 0): Price level in the quote currency (USDT). "
            "Add it to `settings`, e.g. `level=95000`.",
        ),
        ("", "level_cross needs `level` (number, greater than 0)"),
        ("95000", "`95000` is not a setting: write each one as name=value, e.g. `level=95000`."),
        ("level=1 level=2", "`level` is given twice."),
        ("level=", "`level` has no value: it takes a number, greater than 0, e.g. `level=95000`."),
        ('level=1 note="open', "A quote in `note=open` is never closed."),
    ],
)
def test_a_wrong_settings_text_says_which_setting_and_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_settings("level_cross", LevelCrossSettings, text)
    assert info.value.message.startswith(message), info.value.message


def test_bounds_and_types_are_refused_by_pydantic_with_the_settings_name(service: Service) -> None:
    # Said in a member's words, naming the `settings` option they typed, never pydantic's "Input should be".
    for text, message in [
        ("level=-5", "Invalid `settings` for level_cross: `level` must be greater than 0."),
        (
            "level=1 hysteresis_pct=50",
            "Invalid `settings` for level_cross: `hysteresis_pct` must be at most 20.",
        ),
        ("level=lots", "Invalid `settings` for level_cross: `level` must be a number, e.g. level=95000."),
        ("level=1 direction=sideways", "`direction` must be one of up, down, either."),
        ("level=1 use_wicks=maybe", "`use_wicks` must be yes or no, e.g. use_wicks=no."),
        ("level=inf", "`level` must be a finite number, e.g. level=95000."),
    ]:
        with pytest.raises(UserError, match=r"^Invalid `settings` for level_cross: ") as info:
            service.add_rule(
                GUILD_ID, OWNER_ID, "level_cross", "BTCUSDT", service.parse_settings("level_cross", text)
            )
        assert message in info.value.message, (text, info.value.message)
        assert "Input should" not in info.value.message and "options" not in info.value.message


def test_pydantic_errors_of_every_kind_read_as_a_members_words() -> None:
    from pydantic import ValidationError

    from bot.services.detector_settings import settings_problem

    for given, message in [
        ({"threshold": 1, "count": "two"}, "`count` must be a whole number, e.g. count=3"),
        ({"threshold": 1, "count": 1.5}, "`count` must be a whole number"),
        ({"threshold": 1, "count": 10}, "`count` must be less than 10"),
        ({"threshold": 1, "peers": ["A"] * 6}, "`peers` must have at most 5 items"),
        ({"threshold": 1, "label": "x" * 21}, "`label` must have at most 20 characters"),
        ({"threshold": 1, "mode": "medium"}, "`mode` must be one of fast, slow"),
        ({}, "`threshold` is needed"),
        ({"threshold": 1, "colour": "red"}, "`colour` is not a setting of kitchen_sink"),
    ]:
        with pytest.raises(ValidationError) as info:
            KitchenSinkSettings.model_validate(given)
        text = settings_problem("kitchen_sink", KitchenSinkSettings, info.value).message
        assert text.startswith("Invalid `settings` for kitchen_sink: ") and message in text, (given, text)
        assert "Input should" not in text, text


def test_a_symbol_is_needed_exactly_when_the_detector_watches_one(service: Service) -> None:
    with pytest.raises(UserError, match=r"^level_cross needs a symbol, e\.g\. `symbol:BTCUSDT`"):
        service.validate_rule("level_cross", None, {"level": 1})
    with pytest.raises(UserError, match=r"^fear_greed watches the whole market, not one symbol"):
        service.validate_rule("fear_greed", "BTCUSDT", {})
    assert service.validate_rule("fear_greed", None, {})[0] == "MARKET"


def test_the_help_of_each_setting_names_its_type_default_and_bounds() -> None:
    specs = {s.name: s for s in setting_specs(KitchenSinkSettings)}
    assert next(iter(specs)) == "threshold" and specs["threshold"].required
    assert specs["threshold"].type_text == "number, greater than 0, at most 1000000"
    assert specs["count"].type_text == "whole number, greater than 0, less than 10"
    assert specs["mode"].type_text == "one of fast, slow" and specs["mode"].default_text == "fast"
    assert specs["basis"].allowed == ("close", "wick")
    assert specs["loud"].type_text == "yes/no" and specs["loud"].default_text == "no"
    assert specs["peers"].type_text == "comma-separated list, at most 5 items"
    assert (
        specs["ceiling"].type_text == "number, greater than 0, or off"
        and specs["ceiling"].default_text == "0.05"
    )
    assert specs["label"].type_text == "text, at most 20 characters, or off"
    assert example_text(KitchenSinkSettings) == "threshold=1"  # no example given: just inside the bound
    assert example_text(LevelCrossSettings) == "level=95000"


# -- completing the text -------------------------------------------------------------------------------


def test_completion_offers_the_next_required_setting_first_then_the_optional_ones() -> None:
    offered = complete_settings(LevelCrossSettings, "")
    assert offered[0] == ("level= (needed: number, greater than 0)", "level=")
    assert ("direction=either (default)", "direction=either") in offered
    assert ("hysteresis_pct= (default 0.5; 0 to 20)", "hysteresis_pct=") in offered
    assert "confirm=off" in values(offered) and "use_wicks=yes" in values(offered)


def test_completion_of_a_value_offers_the_allowed_values() -> None:
    assert values(complete_settings(LevelCrossSettings, "level=95000 direction=")) == [
        "level=95000 direction=up",
        "level=95000 direction=down",
        "level=95000 direction=either",
    ]
    assert values(complete_settings(LevelCrossSettings, "level=95000 direction=d")) == [
        "level=95000 direction=down"
    ]
    # A name being typed is completed; a misspelt one gets the closest names.
    assert values(complete_settings(LevelCrossSettings, "level=1 hyst")) == ["level=1 hysteresis_pct="]
    assert values(complete_settings(LevelCrossSettings, "lvel=9")) == ["level=9"]
    # After a value, the next settings follow it; one given already is not offered again.
    after = values(complete_settings(LevelCrossSettings, "level=95000 "))
    assert after[0] == "level=95000 direction=up" and not any(
        v.startswith("level=95000 level") for v in after
    )


def test_completion_never_cuts_a_value_and_offers_at_most_25() -> None:
    long = "level=95000 " + " ".join(f"hysteresis_pct={i}" for i in range(12))
    assert len(long) > 100
    # Past 100 typed characters no choice can carry the text (a value is at most 100): nothing at all.
    assert complete_settings(LevelCrossSettings, long) == []
    # Up to 100, when every completion would pass 100, one hint that leaves the text as typed if picked.
    near = "level=95000 direction=up hysteresis_pct=0.5" + "0" * 51 + " "
    assert len(near) == 95  # the shortest completion, confirm=1h, would make it 105
    assert complete_settings(LevelCrossSettings, near) == [(TOO_LONG_HINT, near)]
    for text in ("", "threshold=5 ", "basis=", "pe"):
        offered = complete_settings(KitchenSinkSettings, text)
        assert 0 < len(offered) <= 25
        assert all(len(name) <= 100 and len(value) <= 100 for name, value in offered)


# -- through Discord -----------------------------------------------------------------------------------


async def test_settings_autocomplete_follows_the_chosen_detector(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    typed = {"detector": "level_cross", "settings": "level=95000 direction="}
    choices = await discord_emu.autocomplete("alert add", typed, "settings", user_id=MEMBER_ID)
    assert [c["value"] for c in choices] == [
        "level=95000 direction=up",
        "level=95000 direction=down",
        "level=95000 direction=either",
    ]
    tested = await discord_emu.autocomplete(
        "alert test", {"detector": "correlated_move", "settings": ""}, "settings", user_id=MEMBER_ID
    )
    assert tested[0]["value"] == "symbols="
    # No detector picked yet: one hint, whose value is what was typed (picking it changes nothing).
    assert await discord_emu.autocomplete(
        "alert add", {"settings": "lev"}, "settings", user_id=MEMBER_ID
    ) == [{"name": PICK_DETECTOR_HINT, "value": "lev"}]
    assert await discord_emu.autocomplete("alert add", {"settings": ""}, "settings", user_id=MEMBER_ID) == [
        {"name": PICK_DETECTOR_HINT, "value": ""}
    ]
    # Past 100 typed characters the text cannot be a choice's value (at most 100): nothing is offered.
    assert (
        await discord_emu.autocomplete("alert add", {"settings": "x" * 101}, "settings", user_id=MEMBER_ID)
        == []
    )


async def test_symbol_errors_and_a_market_wide_alert_through_discord(
    tripwire: TripwireBot, discord_emu: DiscordEmulator, repo: Repo
) -> None:
    await discord_emu.slash("setup", {"alert_channel": ALERTS_CHANNEL_ID}, user_id=OWNER_ID)
    no_symbol = await discord_emu.slash(
        "alert add", {"detector": "level_cross"}, user_id=OWNER_ID
    )  # without settings either: the symbol is said first
    assert no_symbol.ephemeral and no_symbol.content.startswith(
        "level_cross needs a symbol, e.g. `symbol:BTCUSDT`"
    )
    symbol = await discord_emu.slash(
        "alert add",
        {"detector": "fear_greed", "symbol": "btc", "settings": "record_days=60"},
        user_id=OWNER_ID,
    )
    assert symbol.ephemeral and symbol.content.startswith("fear_greed watches the whole market")
    unknown = await discord_emu.slash(
        "alert add", {"detector": "fear_greed", "settings": "record=60"}, user_id=OWNER_ID
    )
    assert unknown.content.startswith("fear_greed has no setting `record`. Did you mean `record_days`?")
    made = await discord_emu.slash(
        "alert add", {"detector": "fear_greed", "settings": "record_days=60"}, user_id=OWNER_ID
    )
    assert made.embeds, made.content
    [rule] = repo.rules(guild_id=GUILD_ID)
    assert (rule.detector, rule.symbol, rule.settings["record_days"]) == ("fear_greed", "MARKET", 60)


async def test_alert_detectors_lists_every_detector_and_explains_one(
    tripwire: TripwireBot, discord_emu: DiscordEmulator
) -> None:
    listed = await discord_emu.slash("alert detectors", user_id=MEMBER_ID)
    assert listed.ephemeral
    embed = listed.embeds[0]
    assert embed["title"] == f"Detectors ({len(detector_classes())})"
    lines = embed["description"].splitlines()
    assert [line.split("`")[1] for line in lines] == list(detector_classes())
    assert lines[0] == f"`level_cross` {LevelCross.description}"

    one = await discord_emu.slash("alert detectors", {"detector": "level_cross"}, user_id=MEMBER_ID)
    embed = one.embeds[0]
    assert embed["title"] == "Detector level_cross"
    assert (
        "Example: `/alert add detector:level_cross symbol:BTCUSDT settings:level=95000`"
        in embed["description"]
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert list(fields) == [
        "level (required)",
        "direction (optional)",
        "hysteresis_pct (optional)",
        "confirm (optional)",
        "use_wicks (optional)",
    ]
    assert fields["hysteresis_pct (optional)"] == (
        "Re-arm only after price comes back this far (%) beyond the level. "
        "Takes: number, 0 to 20. Default: `0.5`."
    )
    assert fields["confirm (optional)"].endswith("Takes: one of 1h, 4h, 1d, 1w, or off. Default: `off`.")

    market = await discord_emu.slash("alert detectors", {"detector": "fear_greed"}, user_id=MEMBER_ID)
    assert "Watches the whole market: no `symbol`." in market.embeds[0]["description"]
    assert (
        f"/alert add detector:fear_greed settings:{example_text(FearGreed.Settings)}`"
        in (market.embeds[0]["description"])
    )


async def test_with_26_detectors_the_detector_option_autocompletes_and_works(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot, config: Config, service: Service, repo: Repo
) -> None:
    # Plugins enough to make 26 whatever the number of built-ins.
    plugins = many_detectors(26 - len(detector_classes()) - 1)
    detectors = {**detector_classes(), "kitchen_sink": KitchenSink, **plugins}
    assert len(detectors) == 26
    service.detectors = dict(detectors)
    service.setup(GUILD_ID, ALERTS_CHANNEL_ID, None)
    async with connected_bot(lambda: TripwireBot(config, service, detectors=detectors, **client_options())):
        [alert] = [c for c in discord_emu.commands_synced(GUILD_ID) if c["name"] == "alert"]
        add = next(o for o in alert["options"] if o["name"] == "add")
        option = next(o for o in add["options"] if o["name"] == "detector")
        assert option["autocomplete"] is True and "choices" not in option
        found = await discord_emu.autocomplete(
            "alert add", {"detector": "kitchen"}, "detector", user_id=OWNER_ID
        )
        assert found == [
            {"name": "kitchen_sink: Test detector with settings of every kind", "value": "kitchen_sink"}
        ]
        everything = await discord_emu.autocomplete(
            "alert add", {"detector": ""}, "detector", user_id=OWNER_ID
        )
        assert len(everything) == 25
        reply = await discord_emu.slash(
            "alert add", {"detector": max(plugins), "settings": "level=7"}, user_id=OWNER_ID
        )
        assert reply.embeds, reply.content
        unknown = await discord_emu.slash(
            "alert add", {"detector": "nope", "settings": "a=1"}, user_id=OWNER_ID
        )
        assert unknown.ephemeral and unknown.content.startswith("Unknown detector `nope`")
