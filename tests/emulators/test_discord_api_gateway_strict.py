"""The emulator's gateway closes and answers like Discord (developers/events/gateway.mdx, c98d64bc).

Misbehaviour discord.py would never show is sent from a raw aiohttp websocket client; the valid case of
each rule is checked too, and what discord.py does about each answer where it matters. Timings are
shrunk through `config.gateway` so nothing waits long.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import discord
import pytest

from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.__main__ import build_config
from tests.emulators.discord_api.fixtures import ConnectBot
from tests.emulators.discord_api.state import GUILD_ID, EmulatorConfig

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
ZLIB_SUFFIX = b"\x00\x00\xff\xff"


class RawGateway:
    """A bare gateway client: sends whatever it is told, inflates zlib-stream frames like the docs show."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._inflator = zlib.decompressobj()
        self._buffer = bytearray()
        self.binary_frames = 0
        self.text_frames = 0

    async def send(self, frame: dict[str, Any] | str) -> None:
        """Send a frame (a dict as JSON, a str as it is)."""
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 2.0) -> dict[str, Any] | None:  # noqa: ASYNC109
        """Return the next gateway message, or None once the server has closed the connection."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.text_frames += 1
                return dict(json.loads(msg.data))
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.binary_frames += 1
                self._buffer.extend(msg.data)
                if msg.data[-4:] != ZLIB_SUFFIX:
                    continue
                text = self._inflator.decompress(bytes(self._buffer))
                self._buffer.clear()
                return dict(json.loads(text))
            return None

    async def recv_op(self, op: int, timeout: float = 2.0) -> dict[str, Any] | None:  # noqa: ASYNC109
        """Return the next message with this op (skipping others), or None when closed first."""
        while (message := await self.recv(timeout)) is not None:
            if message["op"] == op:
                return message
        return None

    async def close_code(self, timeout: float = 3.0) -> int | None:  # noqa: ASYNC109
        """Read until the server closes; return its close code."""
        while await self.recv(timeout) is not None:
            pass
        return self.ws.close_code


@asynccontextmanager
async def raw_gateway(emu: DiscordEmulator, query: str = "v=10&encoding=json") -> AsyncIterator[RawGateway]:
    """Open a raw websocket to the emulator's gateway with this query string."""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{emu.gateway_url}?{query}", autoclose=True) as ws,
    ):
        yield RawGateway(ws)


def identify(emu: DiscordEmulator, **fields: Any) -> dict[str, Any]:
    """Return an IDENTIFY payload (intents GUILDS unless given; None leaves the field out)."""
    data: dict[str, Any] = {
        "token": emu.config.token,
        "intents": GUILDS,
        "properties": {"os": "linux", "browser": "raw-test", "device": "raw-test"},
    }
    data.update(fields)
    return {"op": 2, "d": {k: v for k, v in data.items() if v is not None}}


async def ready(gw: RawGateway, emu: DiscordEmulator, **fields: Any) -> dict[str, Any]:
    """Read HELLO, IDENTIFY, and return READY's data (failing if the server closes instead)."""
    hello = await gw.recv()
    assert hello is not None and hello["op"] == 10
    await gw.send(identify(emu, **fields))
    message = await gw.recv_op(0)
    assert message is not None and message["t"] == "READY", f"closed with {gw.ws.close_code}"
    return dict(message["d"])


async def refused(gw: RawGateway, emu: DiscordEmulator, **fields: Any) -> int | None:
    """Read HELLO, IDENTIFY, and return the close code the server answers with."""
    assert (await gw.recv()) is not None
    await gw.send(identify(emu, **fields))
    return await gw.close_code()


# -- 4002: decode errors and the 4,096-byte payload limit ("Sending Events") -------------------------


def presence_of_size(size: int) -> str:
    """Return an op 3 frame exactly `size` bytes long (synthetic padding in the activity name)."""
    frame = {"op": 3, "d": {"since": None, "activities": [{"name": "", "type": 0}], "status": "online"}}
    base = len(json.dumps(frame))
    frame["d"]["activities"][0]["name"] = "x" * (size - base)  # type: ignore[index]
    text = json.dumps(frame)
    assert len(text.encode()) == size
    return text


async def test_a_payload_of_4096_bytes_is_read_and_one_more_byte_closes_with_4002(
    discord_emu: DiscordEmulator,
) -> None:
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu)
        await gw.send(presence_of_size(4096))
        await gw.send({"op": 1, "d": None})
        assert await gw.recv_op(11) is not None  # still open: the 4,096-byte frame was accepted
        assert len(discord_emu.gateway.presence_updates) == 1
        await gw.send(presence_of_size(4097))
        assert await gw.close_code() == 4002
    assert len(discord_emu.gateway.presence_updates) == 1  # the oversized one was not read


async def test_undecodable_json_closes_with_4002(discord_emu: DiscordEmulator) -> None:
    async with raw_gateway(discord_emu) as gw:
        assert await gw.recv() is not None
        await gw.send('{"op": 2, "d": ')
        assert await gw.close_code() == 4002


# -- 4008: 120 events per connection per 60 s ("Rate Limiting") ---------------------------------------


async def test_one_event_over_the_send_limit_closes_with_4008(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.send_limit = 5
    async with raw_gateway(discord_emu) as gw:
        assert await gw.recv() is not None
        for _ in range(5):  # heartbeats count: they are gateway events too
            await gw.send({"op": 1, "d": None})
            assert await gw.recv_op(11) is not None
        await gw.send({"op": 1, "d": None})
        assert await gw.close_code() == 4008
    assert discord_emu.gateway.connections[0].heartbeats == 5


async def test_the_send_limit_is_per_window(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.send_limit = 5
    discord_config.gateway.send_window = 0.3
    async with raw_gateway(discord_emu) as gw:
        assert await gw.recv() is not None
        for burst in range(2):
            for _ in range(5):
                await gw.send({"op": 1, "d": None})
                assert await gw.recv_op(11) is not None, f"closed in burst {burst}"
            await asyncio.sleep(0.35)
    assert discord_emu.gateway.connections[0].server_close_code is None


def test_discord_defaults_are_documented_figures() -> None:
    gateway = EmulatorConfig().gateway
    assert (gateway.send_limit, gateway.send_window) == (120, 60.0)
    assert (gateway.max_payload_bytes, gateway.guilds_per_shard) == (4096, 2500)
    assert (gateway.max_concurrency, gateway.identify_window) == (1, 5.0)
    assert (gateway.session_start_total, gateway.session_start_period) == (1000, 86_400.0)
    assert gateway.privileged_intents == 0


# -- 4010 invalid shard, 4011 sharding required ("Sharding") -----------------------------------------


@pytest.mark.parametrize("shard", [[3, 2], [-1, 2], [0, 0], [0], "0,1"])
async def test_an_invalid_shard_closes_with_4010(discord_emu: DiscordEmulator, shard: object) -> None:
    async with raw_gateway(discord_emu) as gw:
        assert await refused(gw, discord_emu, shard=shard) == 4010


async def test_a_valid_shard_gets_ready_with_its_shard(discord_emu: DiscordEmulator) -> None:
    async with raw_gateway(discord_emu) as gw:
        data = await ready(gw, discord_emu, shard=[1, 2])
        assert data["shard"] == [1, 2]


async def test_more_guilds_than_a_shard_may_hold_closes_with_4011(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.guilds_per_shard = 0  # the one guild is already too many
    async with raw_gateway(discord_emu) as gw:
        assert await refused(gw, discord_emu) == 4011
    # The shard that does not hold the guild (shard_id = (guild_id >> 22) % num_shards) is fine.
    other = 1 - (GUILD_ID >> 22) % 2
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu, shard=[other, 2])


# -- 4012 invalid API version -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["42", "5", "ten"])
async def test_an_invalid_api_version_closes_with_4012(discord_emu: DiscordEmulator, version: str) -> None:
    async with raw_gateway(discord_emu, f"v={version}&encoding=json") as gw:
        assert await gw.close_code() == 4012
    assert discord_emu.gateway.identifies == []


async def test_version_9_is_served(discord_emu: DiscordEmulator) -> None:
    async with raw_gateway(discord_emu, "v=9&encoding=json") as gw:
        await ready(gw, discord_emu)


async def test_discord_py_raises_on_4012(discord_emu: DiscordEmulator, connected_bot: ConnectBot) -> None:
    discord_emu.config.gateway.api_versions = frozenset({9})  # discord.py asks for v=10
    with pytest.raises(discord.ConnectionClosed) as info:
        async with connected_bot(lambda: discord.Client(intents=discord.Intents.none(), **client_options())):
            pass
    assert info.value.code == 4012


# -- 4013 invalid intents, 4014 disallowed intents ("Gateway Intents") --------------------------------


@pytest.mark.parametrize("intents", [None, 1 << 30, 1 << 17, -1, "1", True])
async def test_invalid_intents_close_with_4013(discord_emu: DiscordEmulator, intents: object) -> None:
    async with raw_gateway(discord_emu) as gw:
        assert await refused(gw, discord_emu, intents=intents) == 4013


async def test_every_defined_intent_without_privileged_ones_is_accepted(discord_emu: DiscordEmulator) -> None:
    defined = sum(1 << b for b in (*range(17), 20, 21, 24, 25)) & ~((1 << 1) | (1 << 8) | (1 << 15))
    for intents in (0, defined):
        async with raw_gateway(discord_emu) as gw:
            await ready(gw, discord_emu, intents=intents)
        await asyncio.sleep(0.15)  # the fixture's identify window


@pytest.mark.parametrize("privileged", [1 << 1, 1 << 8, 1 << 15])
async def test_a_privileged_intent_not_enabled_closes_with_4014(
    discord_emu: DiscordEmulator, privileged: int
) -> None:
    async with raw_gateway(discord_emu) as gw:
        assert await refused(gw, discord_emu, intents=GUILDS | privileged) == 4014


async def test_a_privileged_intent_enabled_in_the_portal_is_accepted(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    discord_emu.allowed_privileged_intents = GUILD_MEMBERS
    intents = discord.Intents.none()
    intents.guilds = intents.members = True
    async with connected_bot(lambda: discord.Client(intents=intents, **client_options())):
        assert discord_emu.gateway.identifies[0]["intents"] == GUILDS | GUILD_MEMBERS


# -- IDENTIFY limits: max_concurrency and the daily session-start budget --------------------------


async def gateway_bot(emu: DiscordEmulator, token: str | None = None) -> tuple[int, dict[str, Any]]:
    """GET /gateway/bot with the bot token; return the status and body."""
    headers = {"Authorization": f"Bot {token or emu.config.token}"}
    async with aiohttp.ClientSession() as http, http.get(emu.api_base + "/gateway/bot", headers=headers) as r:
        return r.status, await r.json()


async def test_an_identify_within_the_concurrency_window_gets_op_9(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.identify_window = 1.5
    async with raw_gateway(discord_emu) as first, raw_gateway(discord_emu) as second:
        await ready(first, discord_emu)
        assert await second.recv() is not None
        await second.send(identify(discord_emu))
        invalid = await second.recv_op(9)
        assert invalid is not None and invalid["d"] is False
        await asyncio.sleep(1.5)
        await second.send(identify(discord_emu))
        message = await second.recv_op(0)
        assert message is not None and message["t"] == "READY"
    assert discord_emu.gateway.identify_rejections == 1 and len(discord_emu.gateway.identifies) == 2


async def test_shards_in_different_concurrency_buckets_identify_together(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.max_concurrency = 2
    discord_config.gateway.identify_window = 5.0
    async with raw_gateway(discord_emu) as zero, raw_gateway(discord_emu) as one:
        await ready(zero, discord_emu, shard=[0, 2])
        await ready(one, discord_emu, shard=[1, 2])  # key 1 % 2 = 1, its own bucket


async def test_each_identify_spends_a_session_start_and_resume_does_not(discord_emu: DiscordEmulator) -> None:
    status, body = await gateway_bot(discord_emu)
    limit = body["session_start_limit"]
    assert status == 200 and limit["total"] == 1000 and limit["remaining"] == 1000
    assert 0 < limit["reset_after"] <= 86_400_000 and limit["max_concurrency"] == 1
    async with raw_gateway(discord_emu) as gw:
        session = (await ready(gw, discord_emu))["session_id"]
        await gw.ws.close(code=4000)
    assert (await gateway_bot(discord_emu))[1]["session_start_limit"]["remaining"] == 999
    async with raw_gateway(discord_emu) as gw:
        assert await gw.recv() is not None
        await gw.send({"op": 6, "d": {"token": discord_emu.config.token, "session_id": session, "seq": 1}})
        resumed = await gw.recv_op(0)
        assert resumed is not None and resumed["t"] != "READY"
    await asyncio.sleep(0.15)
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu)
    assert (await gateway_bot(discord_emu))[1]["session_start_limit"]["remaining"] == 998


async def test_the_budget_resets_after_its_period(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.session_start_period = 1.0
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu)
    assert (await gateway_bot(discord_emu))[1]["session_start_limit"]["remaining"] == 999
    await asyncio.sleep(1.05)
    assert (await gateway_bot(discord_emu))[1]["session_start_limit"]["remaining"] == 1000


async def test_an_identify_with_no_session_start_left_ends_every_session_and_resets_the_token(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.session_start_total = 1
    old_token = discord_emu.config.token
    async with raw_gateway(discord_emu) as live, raw_gateway(discord_emu) as late:
        await ready(live, discord_emu)
        await asyncio.sleep(0.15)
        assert (await gateway_bot(discord_emu))[1]["session_start_limit"]["remaining"] == 0
        assert await refused(late, discord_emu) == 4004
        assert await live.close_code() == 4004  # the running session is terminated too
    assert discord_emu.config.token != old_token
    assert (await gateway_bot(discord_emu, old_token))[0] == 401


# -- Heartbeats ("Sending Heartbeats", "Heartbeat Requests") -----------------------------------------


async def test_a_client_that_stops_heartbeating_is_closed_and_may_resume(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 100
    discord_config.gateway.heartbeat_grace = 0.1
    async with raw_gateway(discord_emu) as gw:
        session = (await ready(gw, discord_emu))["session_id"]
        assert await gw.close_code(timeout=3.0) == 4000
    assert discord_emu.gateway.connections[0].heartbeats == 0  # none was sent at all
    answer = await resume_answer(discord_emu, session)
    assert answer is not None and answer.get("t") == "RESUMED"


async def test_a_client_that_heartbeats_in_time_stays_connected(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 100
    discord_config.gateway.heartbeat_grace = 0.3
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu)
        for _ in range(10):  # 1 s, over twice interval + grace
            await asyncio.sleep(0.1)
            await gw.send({"op": 1, "d": None})
        assert await gw.recv_op(11) is not None
        assert discord_emu.gateway.connections[0].server_close_code is None


async def test_discord_py_heartbeats_in_time(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig, connected_bot: ConnectBot
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 100
    discord_config.gateway.heartbeat_grace = 0.4
    async with connected_bot(lambda: discord.Client(intents=discord.Intents.none(), **client_options())):
        await asyncio.sleep(1.5)
        conn = discord_emu.gateway.connections[0]
        assert conn.heartbeats >= 8 and conn.server_close_code is None
    assert len(discord_emu.gateway.connections) == 1


async def test_discord_py_answers_a_heartbeat_request_at_once(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    discord_emu.gateway.heartbeat_interval_ms = 30_000  # so the only later beat is the answer
    async with connected_bot(lambda: discord.Client(intents=discord.Intents.none(), **client_options())):
        conn = discord_emu.gateway.connections[0]
        await discord_emu.wait_until(lambda: conn.heartbeats == 1)  # sent on HELLO
        started = time.monotonic()
        discord_emu.gateway_request_heartbeat()
        await discord_emu.wait_until(lambda: conn.heartbeats == 2, timeout=2.0)
        assert time.monotonic() - started < 2.0 and conn.heartbeat_requests == 1  # not the 30 s interval


# -- Sessions: client close codes and idle expiry ("Initiating a Disconnect", "Resuming") -------------


async def resume_answer(emu: DiscordEmulator, session: str) -> dict[str, Any] | None:
    """Open a connection, RESUME the session, and return the first answer (RESUMED or op 9)."""
    async with raw_gateway(emu) as gw:
        assert await gw.recv() is not None
        await gw.send({"op": 6, "d": {"token": emu.config.token, "session_id": session, "seq": 1}})
        while (message := await gw.recv()) is not None:
            if message["op"] == 9 or message.get("t") == "RESUMED":
                return message
    return None


@pytest.mark.parametrize("code", [1000, 1001])
async def test_closing_with_1000_or_1001_ends_the_session(discord_emu: DiscordEmulator, code: int) -> None:
    async with raw_gateway(discord_emu) as gw:
        session = (await ready(gw, discord_emu))["session_id"]
        await gw.ws.close(code=code)
    await discord_emu.wait_until(lambda: discord_emu.gateway.connections[0].closed)
    answer = await resume_answer(discord_emu, session)
    assert answer is not None and answer["op"] == 9 and answer["d"] is False


async def test_closing_with_another_code_keeps_the_session(discord_emu: DiscordEmulator) -> None:
    async with raw_gateway(discord_emu) as gw:
        session = (await ready(gw, discord_emu))["session_id"]
        await gw.ws.close(code=4000)
    await discord_emu.wait_until(lambda: discord_emu.gateway.connections[0].closed)
    answer = await resume_answer(discord_emu, session)
    assert answer is not None and answer.get("t") == "RESUMED"


async def test_a_session_idle_past_its_timeout_cannot_be_resumed(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig
) -> None:
    discord_config.gateway.session_timeout = 0.2
    async with raw_gateway(discord_emu) as gw:
        session = (await ready(gw, discord_emu))["session_id"]
        await gw.ws.close(code=4000)
    await discord_emu.wait_until(lambda: discord_emu.gateway.connections[0].closed)
    await asyncio.sleep(0.3)
    answer = await resume_answer(discord_emu, session)
    assert answer is not None and answer["op"] == 9 and answer["d"] is False


async def test_discord_py_reidentifies_after_an_outage_longer_than_the_session_timeout(
    discord_emu: DiscordEmulator, discord_config: EmulatorConfig, connected_bot: ConnectBot
) -> None:
    discord_config.gateway.session_timeout = 0.0  # any outage is too long
    readies: list[float] = []

    class Bot(discord.Client):
        async def on_ready(self) -> None:
            readies.append(time.monotonic())

    async with connected_bot(lambda: Bot(intents=discord.Intents.none(), **client_options())):
        discord_emu.gateway_reconnect()  # op 7: discord.py closes 4000 and RESUMEs
        await discord_emu.wait_until(lambda: len(readies) == 2)
    gateway = discord_emu.gateway
    assert gateway.resumes == [] and len(gateway.identifies) == 2
    resumes_sent = [r for r in gateway.received if r.op == 6]
    assert len(resumes_sent) == 1  # it tried, got op 9 d=false, and identified again


# -- Transport compression ("Transport Compression") --------------------------------------------------


async def test_zlib_stream_frames_share_one_context_and_end_in_sync_flush(
    discord_emu: DiscordEmulator,
) -> None:
    async with raw_gateway(discord_emu, "v=10&encoding=json&compress=zlib-stream") as gw:
        data = await ready(gw, discord_emu)
        assert data["session_id"]
        guild = await gw.recv_op(0)
        assert guild is not None and guild["t"] == "GUILD_CREATE"
        assert gw.text_frames == 0 and gw.binary_frames >= 3  # HELLO, READY, GUILD_CREATE
    conn = discord_emu.gateway.connections[0]
    assert conn.compressed_frames == conn.frames_sent >= 3


async def test_without_compress_frames_are_plain_text(discord_emu: DiscordEmulator) -> None:
    async with raw_gateway(discord_emu) as gw:
        await ready(gw, discord_emu)
        assert gw.binary_frames == 0 and gw.text_frames >= 2
    assert discord_emu.gateway.compressed_frames == 0


# discord.py asks for zstd-stream only when zstandard (or Python 3.14's compression.zstd) imports; the
# project does not install it, so the suite runs with zlib-stream.
DISCORD_PY_COMPRESSION = "zstd-stream" if importlib.util.find_spec("zstandard") else "zlib-stream"


def test_discord_py_asks_for_zstd_only_when_zstandard_imports() -> None:
    assert discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE == DISCORD_PY_COMPRESSION


async def test_discord_py_receives_compressed_frames(
    discord_emu: DiscordEmulator, connected_bot: ConnectBot
) -> None:
    async with connected_bot(lambda: discord.Client(intents=discord.Intents.none(), **client_options())):
        discord_emu.gateway_reconnect()  # the RESUME connection is compressed too
        await discord_emu.wait_until(lambda: len(discord_emu.gateway.resumes) == 1)
        await asyncio.sleep(0.6)  # a heartbeat ACK on the new connection as well
    for conn in discord_emu.gateway.connections:
        assert conn.query.get("compress") == DISCORD_PY_COMPRESSION
        assert conn.frames_sent > 0 and conn.compressed_frames == conn.frames_sent


async def test_zstd_stream_frames_decompress_with_one_context(discord_emu: DiscordEmulator) -> None:
    zstandard = pytest.importorskip("zstandard")
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    async with raw_gateway(discord_emu, "v=10&encoding=json&compress=zstd-stream") as gw:
        msg = await gw.ws.receive(timeout=2)
        assert msg.type is aiohttp.WSMsgType.BINARY
        hello = json.loads(decompressor.decompress(msg.data))
        assert hello["op"] == 10


def test_the_standalone_emulator_switches_privileged_intents_on_by_name() -> None:
    args = argparse.Namespace(
        host="127.0.0.1",
        port=0,
        token="emulator-bot-token",
        heartbeat_ms=41_250,
        heartbeat_ack_ms=50.0,
        ack_timeout=3.0,
        no_rate_limits=False,
        message_rate="5/5",
        global_rate=50,
        guild=None,
        privileged_intent=["members"],
    )
    assert build_config(args).gateway.privileged_intents == GUILD_MEMBERS
    args.privileged_intent = []
    assert build_config(args).gateway.privileged_intents == 0
