"""The emulator's parts on their own: rate-limit windows, path patterns, multipart parsing, validation."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.emulators.discord_api import DiscordEmulator, RateLimitConfig, RateLimitRule, patch_discord_py
from tests.emulators.discord_api.faults import path_matches
from tests.emulators.discord_api.ratelimit import MESSAGE_CREATE_ROUTE, RateLimiter
from tests.emulators.discord_api.recording import parse_body
from tests.emulators.discord_api.rest import validate_commands
from tests.emulators.discord_api.state import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    GUILD_ID,
    MANAGE_GUILD,
    MEMBER_ID,
    MOD_ID,
    OWNER_ID,
    default_config,
)
from tests.emulators.discord_api.world import ApiError, png_size, validate_embeds


def test_bucket_counts_down_then_refuses_until_the_window_ends() -> None:
    limiter = RateLimiter(RateLimitConfig(message_create=RateLimitRule(5, 5.0)))
    decisions = [
        limiter.check(MESSAGE_CREATE_ROUTE, "C1", counts_global=True, now=100.0 + i / 10) for i in range(6)
    ]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.headers["X-RateLimit-Remaining"] for d in decisions] == ["4", "3", "2", "1", "0", "0"]
    assert decisions[0].headers["X-RateLimit-Reset-After"] == "5.000"
    assert decisions[5].retry_after == pytest.approx(4.5) and not decisions[5].is_global
    # Another channel is another bucket (channel_id is a major parameter); the same hash is reported.
    other = limiter.check(MESSAGE_CREATE_ROUTE, "C2", counts_global=True, now=100.6)
    assert other.allowed and other.headers["X-RateLimit-Bucket"] == decisions[0].headers["X-RateLimit-Bucket"]
    assert limiter.check(MESSAGE_CREATE_ROUTE, "C1", counts_global=True, now=105.0).allowed


def test_global_limit_spans_routes_and_only_counts_authenticated_requests() -> None:
    limiter = RateLimiter(RateLimitConfig(global_per_second=3))
    routes = ["GET /users/@me", "GET /channels/{channel_id}", MESSAGE_CREATE_ROUTE]
    assert all(limiter.check(r, "x", counts_global=True, now=10.0).allowed for r in routes)
    assert limiter.check(
        "GET /webhooks/{webhook_id}/{webhook_token}", "w", counts_global=False, now=10.1
    ).allowed
    refused = limiter.check("GET /users/@me", "", counts_global=True, now=10.2)
    assert not refused.allowed and refused.is_global and refused.headers["X-RateLimit-Global"] == "true"
    assert refused.retry_after == pytest.approx(0.8)
    assert limiter.check("GET /users/@me", "", counts_global=True, now=11.0).allowed


def test_reset_after_is_rounded_up_so_a_client_never_wakes_early() -> None:
    limiter = RateLimiter(RateLimitConfig(default=RateLimitRule(1, 1.0)))
    limiter.check("GET /x", "", counts_global=False, now=0.0)
    refused = limiter.check("GET /x", "", counts_global=False, now=0.0004)
    assert refused.retry_after == 1.0  # 0.9996 rounded up to the millisecond


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/channels/*/messages", "/channels/1/messages", True),
        ("/channels/{channel_id}/messages", "/channels/1/messages", True),
        ("/channels/*/messages", "/channels/1/messages/2", False),
        ("/webhooks/**", "/webhooks/1/tok/messages/@original", True),
        ("/users/@me", "/users/@me/channels", False),
    ],
)
def test_path_patterns(pattern: str, path: str, expected: bool) -> None:
    assert path_matches(pattern, path) is expected


async def _serialize(form: aiohttp.FormData) -> tuple[bytes, str]:
    payload = form()
    chunks: list[bytes] = []

    class Sink:
        async def write(self, data: bytes) -> None:
            chunks.append(bytes(data))

    await payload.write(Sink())  # type: ignore[arg-type]
    return b"".join(chunks), payload.content_type


@given(data=st.binary(max_size=4096), text=st.text(max_size=50))
def test_multipart_file_bytes_survive_exactly(data: bytes, text: str) -> None:
    # Built exactly as discord.py (http.py HTTPClient.request) builds its forms.
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json", json.dumps({"content": text, "attachments": [{"id": 0, "filename": "a.bin"}]})
    )
    form.add_field("files[0]", data, filename="a.bin", content_type="application/octet-stream")
    raw, content_type = asyncio.run(_serialize(form))
    body = parse_body(raw, content_type)
    assert body.json == {"content": text, "attachments": [{"id": 0, "filename": "a.bin"}]}
    assert [(p.name, p.filename, p.data) for p in body.files] == [("files[0]", "a.bin", data)]


def test_png_size_reads_ihdr() -> None:
    header = (
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")
    )
    assert png_size(header + b"\x08\x02\x00\x00\x00") == (640, 480)
    assert png_size(b"GIF89a") is None


def test_embed_limits_match_discord() -> None:
    validate_embeds([{"title": "t" * 256, "description": "d" * 4096}])
    with pytest.raises(ApiError) as total:
        validate_embeds([{"description": "d" * 4096}, {"description": "d" * 2000}])
    assert total.value.code == 50035 and total.value.errors == {
        "embeds": {
            "_errors": [
                {"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}
            ]
        }
    }
    with pytest.raises(ApiError):
        validate_embeds([{"fields": [{"name": "n", "value": ""}]}])
    with pytest.raises(ApiError):
        validate_embeds([{}] * 11)


def test_command_validation_rejects_what_discord_rejects() -> None:
    ok = {
        "name": "price",
        "description": "Price",
        "options": [{"type": 3, "name": "symbol", "description": "s"}],
    }
    assert validate_commands([ok]) == [ok]
    with pytest.raises(ApiError):
        validate_commands([ok, dict(ok)])  # duplicate name
    with pytest.raises(ApiError):
        validate_commands([{**ok, "description": ""}])
    optional_then_required = [
        {"type": 3, "name": "a", "description": "a"},
        {"type": 3, "name": "b", "description": "b", "required": True},
    ]
    with pytest.raises(ApiError):
        validate_commands([{**ok, "options": optional_then_required}])


def test_member_permissions_follow_roles_owner_and_admin() -> None:
    guild = default_config().guilds[0]
    assert guild.permissions_of(OWNER_ID) == ALL_PERMISSIONS
    assert guild.permissions_of(MOD_ID) & MANAGE_GUILD
    assert not guild.permissions_of(MEMBER_ID) & MANAGE_GUILD
    guild.everyone_role().permissions |= ADMINISTRATOR
    assert guild.permissions_of(MEMBER_ID) == ALL_PERMISSIONS


async def test_patch_discord_py_sets_and_restores_urls() -> None:
    real_base = discord.http.Route.BASE
    real_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with DiscordEmulator(default_config()) as emu:
        with patch_discord_py(emu):
            assert discord.http.Route("GET", "/users/@me").url == f"{emu.api_base}/users/@me"
            assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == emu.gateway_url
    assert discord.http.Route.BASE == real_base == "https://discord.com/api/v10"
    assert real_gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


@pytest.mark.discord_invalid_requests  # bad on purpose: the emulator must refuse them
async def test_every_json_response_has_the_exact_content_type(discord_emu: DiscordEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        for path, status in [("/users/@me", 401), ("/nope", 404), ("/gateway", 200)]:
            async with session.get(discord_emu.api_base + path) as resp:
                assert resp.status == status
                assert resp.headers["Content-Type"] == "application/json"
        async with session.get(f"{discord_emu.base_url}/_control/state") as resp:
            state = await resp.json()
    assert state["guilds"][0]["id"] == str(GUILD_ID)
    assert [r.path for r in discord_emu.unhandled] == ["/nope"]
