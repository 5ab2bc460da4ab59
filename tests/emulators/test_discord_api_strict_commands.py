"""The emulator refuses application commands the way Discord's documents say Discord does.

Source of each rule: discord-api-docs c98d64bc ``developers/interactions/application-commands.mdx``
("AC", line numbers), ``developers/reference.mdx`` (the TOO_LARGE error) and
``developers/topics/opcodes-and-status-codes.mdx`` (30032, 30034). All commands here are synthetic.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.emulators._strict_helpers import Api, api_fixture, assert_error, assert_form_error  # noqa: F401
from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.command_size import command_size
from tests.emulators.discord_api.state import GUILD_ID

# These tests send requests Discord refuses, on purpose (the emulator must refuse them too).
pytestmark = pytest.mark.discord_invalid_requests


def command(name: str = "price", options: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """Return a synthetic valid CHAT_INPUT command."""
    body: dict[str, Any] = {"name": name, "type": 1, "description": "Show a price"}
    body["options"] = [string_option()] if options is None else options
    body.update(extra)
    return body


def string_option(name: str = "symbol", **extra: Any) -> dict[str, Any]:
    """Return a synthetic STRING option."""
    return {"name": name, "type": 3, "description": "Market symbol", **extra}


def subcommand(name: str, options: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a synthetic SUB_COMMAND option."""
    return {"name": name, "type": 1, "description": "A subcommand", "options": options or []}


async def create(api: Api, body: Any, mode: str, guild_id: int | None = GUILD_ID) -> tuple[int, Any, str]:
    """Send one command by bulk overwrite ("put") or single create ("post"); return the error prefix too."""
    if mode == "put":
        status, data = await api.call("PUT", api.commands_path(guild_id), [body])
        return status, data, "0."
    status, data = await api.call("POST", api.commands_path(guild_id), body)
    return status, data, ""


MODES = pytest.mark.parametrize("mode", ["put", "post"])


# -- valid commands pass ----------------------------------------------------------------------------


@pytest.mark.parametrize("guild_id", [None, GUILD_ID])
async def test_valid_commands_pass_bulk_and_single_create(api: Api, guild_id: int | None) -> None:
    status, stored = await api.call("PUT", api.commands_path(guild_id), [command(), command("alert")])
    assert status == 200 and [c["name"] for c in stored] == ["price", "alert"]
    # AC "Create Global Application Command": 201 for a new name, 200 when it overwrote one.
    status, made = await api.call("POST", api.commands_path(guild_id), command("status"))
    assert status == 201 and made["name"] == "status"
    status, again = await api.call("POST", api.commands_path(guild_id), command("price", description="New"))
    assert status == 200 and again["id"] == stored[0]["id"] and again["description"] == "New"
    status, listed = await api.call("GET", api.commands_path(guild_id))
    assert [c["name"] for c in listed] == ["price", "alert", "status"]


# -- size (AC L450) ---------------------------------------------------------------------------------


def sized_command(extra_description: int) -> dict[str, Any]:
    """Return a synthetic command of 8,000 counted characters plus ``extra_description``.

    Counted by hand: name 3 + description 97; options o1..o3 each 2 + 98 with 25 choices of 50 + 50
    characters (3 * (100 + 2,500)); option o4 2 + 98. Total 100 + 7,800 + 100 = 8,000.
    """
    choices = [{"name": f"c{k:02d}".ljust(50, "n"), "value": f"v{k:02d}".ljust(50, "v")} for k in range(25)]
    options = [string_option(f"o{i}", description="d" * 98, choices=choices) for i in (1, 2, 3)]
    options.append(string_option("o4", description="d" * (98 + extra_description)))
    return command("big", options=options, description="d" * 97)


@MODES
async def test_command_over_8000_characters_is_refused(api: Api, mode: str) -> None:
    assert command_size(sized_command(0)) == 8000
    status, data, _ = await create(api, sized_command(0), mode)
    assert status in (200, 201), data
    status, data, prefix = await create(api, sized_command(1), mode)
    # developers/reference.mdx: {"_errors": [APPLICATION_COMMAND_TOO_LARGE]} for the command; in a bulk
    # body under its index (the emulator's documented assumption).
    assert_form_error(
        status,
        data,
        prefix.rstrip("."),
        "APPLICATION_COMMAND_TOO_LARGE",
        "Command exceeds maximum size (8000)",
    )


async def test_size_check_can_be_switched_off(api: Api, discord_emu: DiscordEmulator) -> None:
    discord_emu.config.enforce_command_size = False
    status, data, _ = await create(api, sized_command(1), "put")
    assert status == 200, data


# -- choices (AC L122/L124), autocomplete (AC L88) --------------------------------------------------


@MODES
@pytest.mark.parametrize(
    ("choice", "field", "code"),
    [
        ({"name": "", "value": "a"}, "name", "BASE_TYPE_BAD_LENGTH"),
        ({"name": "n" * 101, "value": "a"}, "name", "BASE_TYPE_BAD_LENGTH"),
        ({"name": "ok", "value": "v" * 101}, "value", "BASE_TYPE_MAX_LENGTH"),
    ],
)
async def test_choice_name_and_string_value_lengths(
    api: Api, mode: str, choice: dict[str, Any], field: str, code: str
) -> None:
    good = {"name": "n" * 100, "value": "v" * 100}
    status, data, prefix = await create(api, command(options=[string_option(choices=[good, choice])]), mode)
    assert_form_error(status, data, f"{prefix}options.0.choices.1.{field}", code)


async def test_number_choice_value_is_not_a_string_limit(api: Api) -> None:
    option = {
        "name": "level",
        "type": 10,
        "description": "Price",
        "choices": [{"name": "big", "value": 1e120}],
    }
    status, data, _ = await create(api, command(options=[option]), "put")
    assert status == 200, data


@MODES
async def test_autocomplete_with_choices_is_refused(api: Api, mode: str) -> None:
    option = string_option(autocomplete=True, choices=[{"name": "btc", "value": "BTCUSDT"}])
    status, data, prefix = await create(api, command(options=[option]), mode)
    assert_form_error(
        status, data, f"{prefix}options.0.autocomplete", "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES"
    )
    status, data, _ = await create(api, command(options=[string_option(autocomplete=True)]), mode)
    assert status in (200, 201), data


# -- options: unique names (AC L86), required first, 25 per level, lengths (AC L81-82) ---------------


@MODES
async def test_duplicate_option_names_are_refused(api: Api, mode: str) -> None:
    status, data, prefix = await create(api, command(options=[string_option("a"), string_option("a")]), mode)
    assert_form_error(status, data, f"{prefix}options.1.name", "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME")
    # The same name in two different subcommands is fine (unique within one array).
    tree = [subcommand("x", [string_option("a")]), subcommand("y", [string_option("a")])]
    status, data, _ = await create(api, command(options=tree), mode)
    assert status in (200, 201), data


@MODES
async def test_required_option_after_optional_is_refused(api: Api, mode: str) -> None:
    options = [string_option("a"), string_option("b", required=True)]
    status, data, prefix = await create(api, command(options=options), mode)
    assert_form_error(
        status, data, f"{prefix}options.1.required", "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
    )


@MODES
@pytest.mark.parametrize("level", ["options", "choices", "subcommands"])
async def test_at_most_25_per_level(api: Api, mode: str, level: str) -> None:
    def build(n: int) -> tuple[dict[str, Any], str]:
        if level == "options":
            return command(options=[string_option(f"o{i}") for i in range(n)]), "options"
        if level == "choices":
            choices = [{"name": f"c{i}", "value": f"v{i}"} for i in range(n)]
            return command(options=[string_option(choices=choices)]), "options.0.choices"
        group = {
            "name": "g",
            "type": 2,
            "description": "Group",
            "options": [subcommand(f"s{i}") for i in range(n)],
        }
        return command(options=[group]), "options.0.options"

    status, data, _ = await create(api, build(25)[0], mode)
    assert status in (200, 201), data
    body, path = build(26)
    status, data, prefix = await create(api, body, mode)
    assert_form_error(
        status, data, f"{prefix}{path}", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
    )


@MODES
@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("min_length", -1, "NUMBER_TYPE_MIN"),
        ("min_length", 6001, "NUMBER_TYPE_MAX"),
        ("max_length", 0, "NUMBER_TYPE_MIN"),
        ("max_length", 6001, "NUMBER_TYPE_MAX"),
    ],
)
async def test_string_length_bounds(api: Api, mode: str, key: str, value: int, code: str) -> None:
    status, data, prefix = await create(api, command(options=[string_option(**{key: value})]), mode)
    assert_form_error(status, data, f"{prefix}options.0.{key}", code)


async def test_string_length_bounds_at_the_edges_pass(api: Api) -> None:
    options = [
        string_option("a", min_length=0, max_length=6000),
        string_option("b", min_length=6000, max_length=1),
    ]
    status, data, _ = await create(api, command(options=options), "put")
    assert status == 200, data


@MODES
@pytest.mark.parametrize("description", ["", "d" * 101])
async def test_option_description_length(api: Api, mode: str, description: str) -> None:
    status, data, prefix = await create(api, command(options=[string_option(description=description)]), mode)
    assert_form_error(status, data, f"{prefix}options.0.description", "BASE_TYPE_BAD_LENGTH")


# -- subcommands (AC L558-561) ----------------------------------------------------------------------


@MODES
async def test_subcommands_mixed_with_value_options_are_refused(api: Api, mode: str) -> None:
    status, data, prefix = await create(api, command(options=[subcommand("add"), string_option()]), mode)
    assert_form_error(status, data, f"{prefix}options", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID")


@MODES
async def test_groups_hold_only_subcommands(api: Api, mode: str) -> None:
    group = {"name": "g", "type": 2, "description": "Group", "options": [string_option()]}
    status, data, prefix = await create(api, command(options=[group]), mode)
    assert_form_error(status, data, f"{prefix}options.0.options", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID")
    nested = subcommand("add", [{"name": "g", "type": 2, "description": "Group", "options": []}])
    status, data, prefix = await create(api, command(options=[nested]), mode)
    assert_form_error(
        status, data, f"{prefix}options.0.options.0.type", "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID"
    )


# -- names (AC L18) ---------------------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("name", ["Price", "ÉCLAIR", "price!", "two words", "a" * 33, ""])
async def test_invalid_chat_input_names_are_refused(api: Api, mode: str, name: str) -> None:
    status, data, prefix = await create(api, command(name), mode)
    assert_form_error(status, data, f"{prefix}name", "APPLICATION_COMMAND_INVALID_NAME")
    status, data, prefix = await create(api, command(options=[string_option(name)]), mode)
    assert_form_error(status, data, f"{prefix}options.0.name", "APPLICATION_COMMAND_INVALID_NAME")


@pytest.mark.parametrize("name", ["prix-éclair", "o'clock", "नमस्ते", "สวัสดี", "日本", "a" * 32, "ß_1"])
async def test_documented_name_characters_pass(api: Api, name: str) -> None:
    status, data, _ = await create(api, command(name, options=[string_option(name)]), "put")
    assert status == 200, data


async def test_user_commands_may_be_mixed_case_with_spaces(api: Api) -> None:
    status, data, _ = await create(api, {"name": "Show Profile", "type": 2}, "put")
    assert status == 200, data


# -- 100 CHAT_INPUT commands per scope (AC L169-174) ------------------------------------------------


@pytest.mark.parametrize("guild_id", [None, GUILD_ID])
async def test_at_most_100_chat_input_commands_per_scope(
    api: Api, discord_emu: DiscordEmulator, guild_id: int | None
) -> None:
    discord_emu.config.command_creates_per_day = None
    many = [command(f"c{i}") for i in range(100)]
    status, data = await api.call("PUT", api.commands_path(guild_id), [*many, {"name": "Profile", "type": 2}])
    assert status == 200, data
    status, data = await api.call("POST", api.commands_path(guild_id), command("c100"))
    assert_error(status, data, 400, 30032)
    status, data = await api.call("PUT", api.commands_path(guild_id), [*many, command("c100")])
    assert_error(status, data, 400, 30032)
    # Overwriting an existing name does not add one.
    status, data = await api.call("POST", api.commands_path(guild_id), command("c5", description="Again"))
    assert status == 200, data


# -- daily creates per guild (AC L177, L1269) -------------------------------------------------------


async def test_daily_command_creates_per_guild_are_limited(api: Api, discord_emu: DiscordEmulator) -> None:
    discord_emu.config.command_creates_per_day = 3
    discord_emu.config.command_create_window = 0.3
    three = [command("a"), command("b"), command("c")]
    status, data = await api.call("PUT", api.commands_path(GUILD_ID), three)
    assert status == 200, data
    # Re-syncing the same names creates nothing (AC L1269: only new commands count).
    status, data = await api.call("PUT", api.commands_path(GUILD_ID), three)
    assert status == 200, data
    status, data = await api.call("POST", api.commands_path(GUILD_ID), command("d"))
    assert_error(
        status, data, 400, 30034, "Maximum number of daily application command creates has been reached (3)"
    )
    status, data = await api.call("PUT", api.commands_path(GUILD_ID), [*three, command("d")])
    assert_error(status, data, 400, 30034)
    assert [c["name"] for c in discord_emu.commands_synced(GUILD_ID)] == ["a", "b", "c"]
    # The documents state the limit per guild: global creates are not counted.
    status, data = await api.call("PUT", api.commands_path(None), [command("d"), command("e")])
    assert status == 200, data
    await asyncio.sleep(0.35)  # the configured window (a day on Discord) has passed
    status, data = await api.call("POST", api.commands_path(GUILD_ID), command("d"))
    assert status == 201, data
