"""Meta-tests over the command tree: unique names, Discord's limits (the 8,000 characters of a command
included), permissions, every detector offered by /alert add, and every command documented in the
README's commands table."""

from __future__ import annotations

import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot.config import Config
from bot.discord.checks import require_manage_guild
from bot.discord.client import TripwireBot
from bot.discord.cogs.alerts import MAX_DETECTOR_CHOICES, detector_choices
from bot.services import Service
from detectors.base import Detector
from detectors.registry import detector_classes
from tests.bot.discord.detectors_for_tests import KitchenSink, many_detectors
from tests.emulators.discord_api.command_size import MAX_COMMAND_SIZE, command_size
from tests.emulators.discord_api.send_command import build_parser as build_send_command_parser
from tests.emulators.discord_api.send_command import parse_command

README = Path(__file__).resolve().parents[3] / "README.md"
NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
MANAGE_GUILD = 1 << 5
# Commands that change server settings: they need Manage Server, declared and checked at run time. The
# /alert commands are every member's (their personal alerts); the service checks what each may change.
MANAGING = ("setup", "digest", "liqfeed", "silence", "webhook")
MEMBERS = ("alert", "privacy")
# Discord: at most 100 top-level chat-input commands, 25 subcommands or options on one level
# (application-commands.mdx, "Registering a Command" and Application Command Option Structure).
MAX_COMMANDS = 100
MAX_PER_LEVEL = 25


@pytest.fixture
async def bot(config: Config, service: Service) -> AsyncIterator[TripwireBot]:
    """Yield the bot with its cogs added (no connection, no sync)."""
    bot = TripwireBot(config, service, sync_commands=False)
    await bot.setup_hook()
    yield bot
    await bot.close()


def commands_of(bot: TripwireBot) -> list[app_commands.Command[Any, ..., Any]]:
    """Return every leaf command (what a user can run) of the bot."""
    return [c for c in bot.tree.walk_commands() if isinstance(c, app_commands.Command)]


def usage(command: app_commands.Command[Any, ..., Any]) -> str:
    """Return the usage line the README documents: required options bare, optional ones in brackets."""
    options = [p.display_name if p.required else f"[{p.display_name}]" for p in command.parameters]
    return " ".join([f"/{command.qualified_name}", *options])


def readme_commands() -> list[str]:
    """Return the code of the first cell of each row of the README's commands table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        match = re.match(r"^\| `([^`]+)` \|", line)
        if match:
            found.append(match.group(1).replace("\\|", "|"))
    return found


async def test_command_names_are_unique(bot: TripwireBot) -> None:
    names = [c.qualified_name for c in bot.tree.walk_commands()]
    assert len(names) == len(set(names))
    top = [c.name for c in bot.tree.get_commands()]
    assert len(top) == len(set(top))
    for command in commands_of(bot):
        options = [p.display_name for p in command.parameters]
        assert len(options) == len(set(options)), command.qualified_name


async def test_every_command_is_documented_in_the_readme(bot: TripwireBot) -> None:
    documented = readme_commands()
    missing = [usage(c) for c in commands_of(bot) if usage(c) not in documented]
    assert not missing, "add a row to README.md's ## Commands table for each of: " + "; ".join(missing)
    slash_rows = [d.split(" [")[0] for d in documented if d.startswith("/")]
    known = {usage(c) for c in commands_of(bot)}
    stale = [d for d in documented if d.startswith("/") and d not in known]
    assert not stale, f"README documents commands the bot does not have: {stale} (rows: {slash_rows})"


def detector_option(bot: TripwireBot, path: str) -> dict[str, Any]:
    """Return the `detector` option of an /alert subcommand as synced to Discord."""
    alert = bot.tree.get_command("alert")
    assert alert is not None
    [sub] = [o for o in alert.to_dict(bot.tree)["options"] if o["name"] == path]
    [option] = [o for o in sub["options"] if o["name"] == "detector"]
    return option


async def test_every_registered_detector_is_a_choice_of_alert_add_test_and_detectors(
    bot: TripwireBot,
) -> None:
    for path in ("add", "test", "detectors"):
        option = detector_option(bot, path)
        assert [c["value"] for c in option["choices"]] == list(detector_classes()), path
        assert "autocomplete" not in option or not option["autocomplete"]
        assert all(
            len(c["name"]) <= 100 and c["name"].startswith(c["value"] + ": ") for c in option["choices"]
        )


def tree_sizes(bot: TripwireBot) -> dict[str, int]:
    """Return the characters Discord counts for each top-level command of the bot."""
    return {c.name: command_size(c.to_dict(bot.tree)) for c in bot.tree.get_commands()}


def check_levels(option: dict[str, Any], where: str) -> None:
    """Assert that no level of a command holds more than 25 options or subcommands."""
    children = option.get("options") or []
    assert len(children) <= MAX_PER_LEVEL, (where, len(children))
    for child in children:
        check_levels(child, f"{where} {child['name']}")


async def test_every_command_fits_discords_8000_characters_with_every_built_in_detector(
    bot: TripwireBot, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = tree_sizes(bot)
    largest = max(sizes, key=lambda name: sizes[name])
    with capsys.disabled():
        # Printed so the headroom stays visible in the test output (pytest -s or -rA shows it too).
        print(f"\nlargest command: /{largest}, {sizes[largest]:,} of {MAX_COMMAND_SIZE:,} characters")
    over = {name: size for name, size in sizes.items() if size > MAX_COMMAND_SIZE}
    assert not over, f"commands over Discord's {MAX_COMMAND_SIZE:,} characters: {over}"
    assert len(sizes) <= MAX_COMMANDS
    for command in bot.tree.get_commands():
        check_levels(command.to_dict(bot.tree), command.name)


@pytest.mark.parametrize("count", [26, 60])
async def test_with_many_plugin_detectors_the_tree_still_fits(
    config: Config, service: Service, count: int
) -> None:
    builtin = detector_classes()
    detectors: dict[str, type[Detector]] = {**builtin, **many_detectors(count - len(builtin))}
    assert len(detectors) == count
    bot = TripwireBot(config, service, detectors=detectors, sync_commands=False)
    await bot.setup_hook()
    try:
        sizes = tree_sizes(bot)
        assert max(sizes.values()) <= MAX_COMMAND_SIZE, sizes
        for path in ("add", "test", "detectors"):
            option = detector_option(bot, path)
            # More than Discord's 25 choices: autocomplete.
            assert option.get("autocomplete") is True and not option.get("choices"), (count, path)
    finally:
        await bot.close()


def test_25_long_labels_are_past_the_budget() -> None:
    # 25 plugins described at length would not fit three times in /alert: autocomplete, though 25 is
    # as many choices as Discord allows.
    plugins = many_detectors(MAX_DETECTOR_CHOICES)
    assert len(plugins) == MAX_DETECTOR_CHOICES and detector_choices(plugins) is None


async def test_the_most_detectors_listed_as_choices_still_fit(config: Config, service: Service) -> None:
    # Add plugins while their labels stay within the choices budget: the last such tree is the largest
    # /alert with choices, and it must fit too.
    extra = 0
    while detector_choices({**detector_classes(), **many_detectors(extra + 1)}) is not None:
        extra += 1
    assert extra > 0
    detectors: dict[str, type[Detector]] = {**detector_classes(), **many_detectors(extra)}
    bot = TripwireBot(config, service, detectors=detectors, sync_commands=False)
    await bot.setup_hook()
    try:
        assert len(detector_option(bot, "add")["choices"]) == len(detectors)
        assert tree_sizes(bot)["alert"] <= MAX_COMMAND_SIZE
    finally:
        await bot.close()


async def test_a_few_plugins_keep_choices(config: Config, service: Service) -> None:
    detectors = {**detector_classes(), "kitchen_sink": KitchenSink}
    bot = TripwireBot(config, service, detectors=detectors, sync_commands=False)
    await bot.setup_hook()
    try:
        option = detector_option(bot, "add")
        assert [c["value"] for c in option["choices"]][-1] == "kitchen_sink"
        assert max(tree_sizes(bot).values()) <= MAX_COMMAND_SIZE
    finally:
        await bot.close()


async def test_commands_fit_discord_limits(bot: TripwireBot) -> None:
    for command in bot.tree.walk_commands():
        assert NAME.match(command.name), command.qualified_name
        assert 1 <= len(command.description) <= 100, command.qualified_name
    for command in commands_of(bot):
        parameters = command.parameters
        assert len(parameters) <= 25, command.qualified_name
        required = [p.required for p in parameters]
        assert required == sorted(required, reverse=True), f"{command.qualified_name}: required options first"
        for parameter in parameters:
            assert NAME.match(parameter.display_name), (command.qualified_name, parameter.display_name)
            assert 1 <= len(parameter.description) <= 100, (command.qualified_name, parameter.display_name)
            assert len(parameter.choices) <= 25
    # The whole payload Discord receives must also build without error.
    for command in bot.tree.get_commands():
        assert command.to_dict(bot.tree)["name"] == command.name


async def test_managing_commands_need_manage_server_declared_and_at_run_time(bot: TripwireBot) -> None:
    for command in commands_of(bot):
        root = command.root_parent or command
        managing = command.qualified_name.startswith(MANAGING)
        declared = root.default_permissions is not None and root.default_permissions.value == MANAGE_GUILD
        assert (require_manage_guild in command.checks) == managing, command.qualified_name
        if managing:
            assert declared, command.qualified_name
    for name in ("price", "liquidations", "funding", "oi", "fng", "status", "liqprice", *MEMBERS):
        command = bot.tree.get_command(name)
        assert command is not None and command.default_permissions is None


EMULATOR_README = README.parent / "tests" / "emulators" / "discord_api" / "README.md"


def send_command_examples() -> list[tuple[str, list[str]]]:
    """Return each documented ``send_command`` call (README, emulator README) as (where, arguments)."""
    found = []
    for path in (README, EMULATOR_README):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "discord_api.send_command " in line and not line.lstrip().startswith("#"):
                words = shlex.split(line, comments=True)
                found.append(
                    (
                        f"{path.name}: {line.strip()}",
                        words[words.index("tests.emulators.discord_api.send_command") + 1 :],
                    )
                )
    return found


async def test_every_documented_send_command_names_a_real_command(bot: TripwireBot) -> None:
    commands = {c.qualified_name: c for c in commands_of(bot)}
    examples = send_command_examples()
    assert len(examples) >= 8
    clicks = 0
    for where, argv in examples:
        args = build_send_command_parser().parse_args(argv)
        if args.click:
            clicks += 1
            continue
        path, options = parse_command(args.command)
        command = commands.get(" ".join(path))
        assert command is not None, f"{where}: no /{' '.join(path)} command"
        names = {p.display_name for p in command.parameters}
        assert set(options) <= names, (
            f"{where}: /{command.qualified_name} has no option {set(options) - names}"
        )
        assert {p.display_name for p in command.parameters if p.required} <= set(options), where
        if args.autocomplete:
            (focused,) = [p for p in command.parameters if p.display_name == args.autocomplete]
            assert focused.autocomplete, f"{where}: {args.autocomplete} does not autocomplete"
    assert clicks == 2  # one per README: how to press a button
