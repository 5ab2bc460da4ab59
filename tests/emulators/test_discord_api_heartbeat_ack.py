"""Heartbeat ACKs take a round trip, so discord.py measures its latency right (no "Can't keep up").

discord.py's keep-alive thread notes the time of a heartbeat only after the event loop reports the send
done (discord/gateway.py, KeepAliveHandler.run). An emulator in another process that answers at once on
loopback gets its ACK handled first: the latency is then measured from the previous heartbeat, reads as
the whole interval, and with Discord's 41.25 s interval every beat logged "Can't keep up, shard ID None
websocket is 41.3s behind". The emulator now holds each ACK for ``heartbeat_ack_delay`` (50 ms, a
network round trip; ``--heartbeat-ack-ms``).

Run as a developer runs it: the standalone emulator process, a real discord.py client in this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys

import discord
import pytest
from discord import gateway

from tests.emulators.discord_api import RemoteEmulator, client_options, connected_bot, patch_discord_py

INTERVAL_MS = 200


async def measured_latencies(monkeypatch: pytest.MonkeyPatch, *emulator_args: str) -> list[float]:
    """Connect to a standalone emulator for 2.5 s; return the latency discord.py measured at each ACK."""
    seen: list[float] = []
    ack = gateway.KeepAliveHandler.ack

    def noting_ack(handler: gateway.KeepAliveHandler) -> None:
        ack(handler)
        seen.append(handler.latency)

    # Observe what discord.py computes; its own ack() still does the work.
    monkeypatch.setattr(gateway.KeepAliveHandler, "ack", noting_ack)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.emulators.discord_api",
        "--port",
        "0",
        "--heartbeat-ms",
        str(INTERVAL_MS),
        *emulator_args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        text = ""
        async with asyncio.timeout(15):
            while "TRIPWIRE_DISCORD_TOKEN=" not in text:
                text += (await proc.stdout.readline()).decode()
        api = re.search(r"TRIPWIRE_DISCORD_API_BASE=(\S+)", text)
        url = re.search(r"TRIPWIRE_DISCORD_GATEWAY_URL=(\S+)", text)
        assert api and url, text
        remote = RemoteEmulator(api_base=api[1], gateway_url=url[1], token="emulator-bot-token")
        bot = discord.Client(intents=discord.Intents.default(), **client_options())
        with patch_discord_py(remote):
            async with connected_bot(bot, remote):
                await asyncio.sleep(2.5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
    return seen


async def test_latency_is_the_round_trip_not_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = await measured_latencies(monkeypatch)
    assert len(seen) >= 8, seen
    # About the 50 ms the ACK is held; never the 200 ms since the previous beat.
    assert all(s < INTERVAL_MS / 1000 / 2 for s in seen), seen


async def test_an_ack_sent_at_once_is_measured_against_the_previous_beat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The control, and the cause: without the round trip, beats measure the whole interval (how many
    # depends on thread scheduling: most of them when the machine is idle, so one is asked for here).
    seen = await measured_latencies(monkeypatch, "--heartbeat-ack-ms", "0")
    assert any(s >= INTERVAL_MS / 1000 * 0.8 for s in seen), seen
