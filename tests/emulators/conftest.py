"""Fixtures for emulator-backed tests (defined in discord_api/fixtures.py)."""

from tests.emulators.discord_api.fixtures import ConnectBot, connected_bot, discord_config, discord_emu

__all__ = ["ConnectBot", "connected_bot", "discord_config", "discord_emu"]
