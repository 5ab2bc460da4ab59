"""Helpers for the emulator's strict-rule tests: raw REST calls and Discord's error-shape checks."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.emulators.discord_api import DiscordEmulator
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, MEMBER_ID, InteractionRecord


class Api:
    """Send REST requests to the emulator as the bot and return (status, parsed body)."""

    def __init__(self, session: aiohttp.ClientSession, emu: DiscordEmulator) -> None:
        self.session = session
        self.emu = emu

    async def call(
        self, method: str, path: str, body: Any = None, *, data: aiohttp.FormData | None = None
    ) -> tuple[int, Any]:
        """Send one request; the body is JSON unless `data` (multipart) is given."""
        url = self.emu.api_base + path
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.session.request(method, url, **kwargs) as resp:
            raw = await resp.read()
            return resp.status, (await resp.json(content_type=None)) if raw else None

    def commands_path(self, guild_id: int | None = None) -> str:
        """Return the global or guild command list path of the emulator's application."""
        app = self.emu.config.application_id
        return (
            f"/applications/{app}/commands"
            if guild_id is None
            else f"/applications/{app}/guilds/{guild_id}/commands"
        )

    async def send(self, body: dict[str, Any], channel_id: int = ALERTS_CHANNEL_ID) -> tuple[int, Any]:
        """POST a message to a channel."""
        return await self.call("POST", f"/channels/{channel_id}/messages", body)

    async def edit(
        self, message_id: str, body: dict[str, Any], channel_id: int = ALERTS_CHANNEL_ID
    ) -> tuple[int, Any]:
        """PATCH a message in a channel."""
        return await self.call("PATCH", f"/channels/{channel_id}/messages/{message_id}", body)

    def interaction(self, kind: int = 2) -> InteractionRecord:
        """Register a synthetic interaction (no gateway event) so its callback and webhook can be called."""
        world = self.emu.world
        record = InteractionRecord(
            id=world.snowflake(),
            token=secrets.token_urlsafe(16),
            type=kind,
            payload={},
            channel_id=ALERTS_CHANNEL_ID,
            guild_id=GUILD_ID,
            user_id=MEMBER_ID,
            created_at=time.monotonic(),
        )
        world.interactions[record.id] = record
        world.interactions_by_token[record.token] = record
        return record

    async def callback(self, record: InteractionRecord, ctype: int, data: dict[str, Any]) -> tuple[int, Any]:
        """POST an interaction callback."""
        return await self.call(
            "POST", f"/interactions/{record.id}/{record.token}/callback", {"type": ctype, "data": data}
        )

    def webhook_path(self, record: InteractionRecord) -> str:
        """Return the interaction webhook path (followups, @original)."""
        return f"/webhooks/{self.emu.config.application_id}/{record.token}"


@pytest.fixture(name="api")
async def api_fixture(discord_emu: DiscordEmulator) -> AsyncIterator[Api]:
    """Yield an Api on a session that carries the bot token."""
    headers = {"Authorization": f"Bot {discord_emu.config.token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Api(session, discord_emu)


def assert_form_error(status: int, body: Any, path: str, code: str, message: str | None = None) -> None:
    """Assert a 400 50035 "Invalid Form Body" whose `errors` tree holds exactly one error at `path`."""
    assert status == 400, (status, body)
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body", body
    node = body["errors"]
    for key in path.split(".") if path else []:
        assert list(node) == [key], (path, body["errors"])
        node = node[key]
    assert list(node) == ["_errors"], (path, body["errors"])
    (error,) = node["_errors"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    if message is not None:
        assert error["message"] == message, error


def assert_error(status: int, body: Any, expected_status: int, code: int, message: str | None = None) -> None:
    """Assert a plain Discord error {"code", "message"} with the given status."""
    assert status == expected_status and body["code"] == code, (status, body)
    assert "errors" not in body, body
    if message is not None:
        assert body["message"] == message, body
