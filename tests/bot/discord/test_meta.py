"""Meta-tests over the command tree: unique names, Discord's limits, permissions, a subcommand for every
detector, and every command documented in the README's commands table."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from discord import app_commands

from bot.config import Config
from bot.discord.checks import require_manage_guild
from bot.discord.client import TripwireBot
from bot.discord.cogs.alerts import AlertCog
from bot.discord.settings_options import detector_options, settings_from_values
from bot.service import Service
from detectors.level_cross import LevelCross
from detectors.registry import detector_classes
from tests.bot.discord.detectors_for_tests import Clashing, KitchenSink, KitchenSinkSettings

README = Path(__file__).resolve().parents[3] / "README.md"
NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
MANAGE_GUILD = 1 << 5
# Commands that change server settings: they need Manage Server, declared and checked at run time. The
# /alert commands are every member's (their personal alerts); the service checks what each may change.
MANAGING = ("setup", "digest", "liqfeed")
MEMBERS = ("alert", "privacy")


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


async def test_every_registered_detector_has_an_alert_add_subcommand(bot: TripwireBot) -> None:
    add = bot.tree.get_command("alert")
    assert isinstance(add, app_commands.Group)
    group = add.get_command("add")
    assert isinstance(group, app_commands.Group)
    assert sorted(c.name for c in group.commands) == sorted(detector_classes())


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


def test_settings_of_every_kind_become_typed_options() -> None:
    options = {o.name: o for o in detector_options(KitchenSinkSettings)}
    assert next(iter(options)) == "threshold" and options["threshold"].required
    threshold = options["threshold"].annotation
    assert isinstance(threshold, app_commands.transformers.RangeTransformer)
    assert (threshold.min_value, threshold.max_value) == (0.0, 1_000_000.0)
    count = options["count"].annotation
    assert (count.min_value, count.max_value) == (1, 9)  # exclusive int bounds made inclusive
    assert [c.value for c in options["mode"].choices or ()] == ["fast", "slow"]
    assert [c.value for c in options["basis"].choices or ()] == ["close", "wick"]
    assert options["loud"].annotation is bool
    assert (
        options["peers"].parse == "list"
        and options["peers"].description == "Other symbols watched (comma-separated)"
    )
    assert options["ceiling"].parse == "nullable"
    assert (
        options["ceiling"].description
        == "A value that is on unless turned off ('off' to disable; default 0.05)"
    )
    assert options["mode"].description == "A literal choice (default fast)"
    assert options["label"].annotation.max_value == 20
    assert len(options["window_hours"].description) <= 100 and options["window_hours"].description.endswith(
        "…"
    )
    settings = settings_from_values(
        list(options.values()),
        {"threshold": 5.0, "peers": "ETHUSDT, SOLUSDT", "ceiling": "off", "mode": "slow", "label": None},
    )
    assert settings == {"threshold": 5.0, "peers": ["ETHUSDT", "SOLUSDT"], "ceiling": None, "mode": "slow"}
    assert KitchenSinkSettings.model_validate(settings).ceiling is None


async def test_a_detector_whose_settings_clash_is_left_out_with_an_error(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.discord.cogs.alerts"):
        cog = AlertCog(
            service, {"level_cross": LevelCross, "clashing": Clashing, "kitchen_sink": KitchenSink}
        )
    assert sorted(c.name for c in cog.add_group.commands) == ["kitchen_sink", "level_cross"]
    assert "detector clashing gets no /alert add subcommand" in caplog.text and "'note'" in caplog.text
