"""Fixtures shared by the bot's tests (tests/bot and tests/bot/discord)."""

from __future__ import annotations

import pytest

from tests.emulators.discord_api.state import EmulatorConfig, default_config


@pytest.fixture
def discord_config() -> EmulatorConfig:
    """Return the default emulator world for tests that run the real bot (and sync its commands)."""
    config = default_config(heartbeat_interval_ms=500)
    # TEMP until the cmdtree branch lands: the real bot's /alert is over Discord's 8,000 characters.
    config.enforce_command_size = False
    return config
