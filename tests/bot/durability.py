"""The durability check: ``tripwire replay --discord`` killed with SIGKILL at random points and restarted on
the same database must leave the Discord emulator with exactly what one uninterrupted run leaves.

A run is a real ``tripwire replay`` process (the bundled January 2026 data and example rules, routed to
the emulator's channels, grouping on), posting through the live bot's Discord sink to an emulator served
from the calling event loop. Kills land at random moments, half of them just after the emulator received
one of the process's messages or edits, the moment a crash between Discord's answer and the database's
record of it would repeat or lose a line. Compared per channel: every message's final content and embeds,
and the alert lines they show (titles and their Discord timestamps).

Used by ``tests/bot/notify/test_durability.py`` (20+ kills) and ``bench/durability.py`` (100+).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.emulators.discord_api import DiscordEmulator, RateLimitRule, StoredMessage
from tests.emulators.discord_api.conformance import check_and_tally
from tests.emulators.discord_api.fixtures import check_discord_py_compression
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID, default_config

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = (ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)
# The week from the breakout to the end of the data: the cascade, the squeeze, the 95k break, their ends,
# the Fear & Greed records, the long squeeze of the 19th, the long liquidations of the 20th.
START = "2026-01-13T00:00Z"
END = "2026-01-21T00:00Z"
# Wall-clock seconds per simulated hour while a run may be killed (the replay would otherwise be over in
# a fraction of a second).
PACE = 0.03
ROUTES = f"""

# Added by the durability check: where the example rules' alerts go in the emulator.
[[routes]]
guild_id = {GUILD_ID}
channel_id = {ALERTS_CHANNEL_ID}
symbols = ["BTCUSDT"]

[[routes]]
guild_id = {GUILD_ID}
channel_id = {GENERAL_CHANNEL_ID}
symbols = ["ETHUSDT"]

[[routes]]
guild_id = {GUILD_ID}
channel_id = {ALERTS_CHANNEL_ID}
detectors = ["fear_greed"]
"""


@dataclass
class Outcome:
    """What one comparison found."""

    kills: int
    kills_in_a_request: int
    restarts: int
    messages: int
    lines: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    differing_messages: list[str] = field(default_factory=list)
    # Requests and answers that do not fit Discord's OpenAPI document (tests/emulators/discord_api/spec).
    nonconforming: list[str] = field(default_factory=list)
    baseline_seconds: float = 0.0
    killed_seconds: float = 0.0
    adopted: int = 0
    # What the OpenAPI and compression checks saw (checked_traffic).
    requests_checked: int = 0
    routes_checked: set[str] = field(default_factory=set)
    compressed_connections: int = 0
    compressed_frames: int = 0
    # The control run past the nonce window: a bot that trusts the nonce and never looks.
    control_kills: int = 0
    control_adopted: int = 0
    control_duplicated: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Tell whether the killed runs left exactly what the uninterrupted run left."""
        return not (self.lost or self.duplicated or self.differing_messages)


def write_config(directory: Path, *, nonce_window_s: float | None = None) -> Path:
    """Write config.example.toml with routes to the emulator's channels; return its path."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    settings = ""
    if nonce_window_s is not None:
        # The enforce_nonce window the bot assumes, for an emulator whose window is seconds long.
        settings += f"nonce_window_s = {nonce_window_s}\n"
    text = text.replace("[discord]\n", "[discord]\n" + settings, 1)
    name = "durability.toml" if nonce_window_s is None else f"durability-nonce-{nonce_window_s:g}.toml"
    path = directory / name
    path.write_text(text + ROUTES, encoding="utf-8")
    return path


def emulator(nonce_window: float | None = 180.0) -> DiscordEmulator:
    """Return an emulator whose rate limits are Discord's shape but roomy, so runs are quick."""
    config = default_config(nonce_window=nonce_window)
    config.rate_limits.message_create = RateLimitRule(50, 1.0)
    return DiscordEmulator(config)


def snapshot(message: StoredMessage) -> str:
    """Return a message's final state as people see it (content and embeds), ids left out."""
    return json.dumps({"content": message.content, "embeds": message.embeds}, sort_keys=True)


def alert_lines(message: StoredMessage) -> list[str]:
    """Return the alerts a message shows: its title (one alert) or each listed line, with its timestamp."""
    embed = message.embeds[0] if message.embeds else {}
    description = str(embed.get("description") or "")
    listed = [line for line in description.splitlines() if line.count("**") >= 2 and "<t:" in line]
    if listed:
        return [line.split("**")[1] + " @" + line.split("<t:")[1].split(":")[0] for line in listed]
    return [f"{embed.get('title')} @{embed.get('timestamp')}"]


def channel_state(emu: DiscordEmulator) -> dict[int, list[StoredMessage]]:
    """Return the bot's messages per channel, in order."""
    return {channel: [m for m in emu.messages_in(channel) if m.source == "channel"] for channel in CHANNELS}


class Runner:
    """Start ``tripwire replay --discord`` processes against one emulator and database."""

    def __init__(self, emu: DiscordEmulator, directory: Path, config: Path, db: Path | str) -> None:
        self.emu = emu
        self.directory = directory
        self.config = config
        self.db = db
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TRIPWIRE_DISCORD_TOKEN": emu.config.token,
            "TRIPWIRE_DISCORD_API_BASE": emu.api_base,
            "TRIPWIRE_DISCORD_GATEWAY_URL": emu.gateway_url,
        }

    async def start(self, pace: float) -> asyncio.subprocess.Process:
        """Start one replay run."""
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "-q",
            "replay",
            "--discord",
            "--config",
            str(self.config),
            "--db",
            str(self.db),
            "--from",
            START,
            "--to",
            END,
            "--format",
            "jsonl",
            "--pace",
            str(pace),
            cwd=self.directory,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )

    async def complete(self) -> None:
        """Run the replay to its end at full speed; fail with its stderr if it does not exit 0."""
        process = await self.start(0.0)
        assert process.stderr is not None
        _, err = await asyncio.wait_for(process.communicate(), 60)
        if process.returncode != 0:
            raise AssertionError(f"replay exited {process.returncode}: {err.decode()[-2000:]}")

    def bot_requests(self) -> int:
        """Return how many message posts and edits the emulator has received."""
        return len(self.emu.requests_matching("POST", "/channels/*/messages")) + len(
            self.emu.requests_matching("PATCH", "/channels/*/messages/*")
        )


async def kill_at_random(
    runner: Runner, kills: int, rng: random.Random, pace: float = PACE
) -> tuple[int, int]:
    """Start the replay and SIGKILL it, ``kills`` times, at random points; return (kills, kills in a request).

    The points cycle through three kinds: inside Discord's handling of one of the process's sends or edits
    (the emulator has done it; the process never hears back), a moment after such an answer, and
    anywhere at all (starting up, replaying, waiting between ticks, delivering).
    """
    in_request = done = 0
    while done < kills:
        process = await runner.start(pace)
        mode = done % 3
        if mode == 0:
            await _kill_inside_next_request(runner, process)
            in_request += 1
        elif mode == 1:
            await _kill_soon_after_next_answer(runner, process, rng)
        else:
            await asyncio.sleep(rng.uniform(0.1, 1.2))
        await reap_killed(process, f"the replay ended before kill {done + 1}; make it longer or slower")
        done += 1
    return done, in_request


async def reap_killed(process: asyncio.subprocess.Process, ended: str) -> None:
    """SIGKILL the replay if still running; fail with ``ended`` if it had finished, else with its stderr."""
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.wait()
    assert process.stderr is not None
    err = await process.stderr.read()
    if process.returncode == 0:
        raise AssertionError(ended)
    if process.returncode != -signal.SIGKILL:
        raise AssertionError(f"replay exited {process.returncode}: {err.decode()[-2000:]}")


async def _kill_soon_after_next_answer(
    runner: Runner, process: asyncio.subprocess.Process, rng: random.Random
) -> None:
    """Wait for the emulator to answer the process's next send or edit, then a random few milliseconds."""
    seen = runner.bot_requests()
    with contextlib.suppress(TimeoutError):
        await runner.emu.wait_until(lambda: runner.bot_requests() > seen or process.returncode is not None, 8)
    await asyncio.sleep(rng.uniform(0.0, 0.02))


async def _kill_inside_next_request(
    runner: Runner,
    process: asyncio.subprocess.Process,
    events: tuple[str, ...] = ("MESSAGE_CREATE", "MESSAGE_UPDATE"),
) -> None:
    """SIGKILL the process while the emulator handles its next send or edit, before the answer leaves."""
    killed = asyncio.Event()

    def kill(event: str, message: StoredMessage) -> None:
        if not killed.is_set() and event in events and process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            killed.set()

    runner.emu.world.message_listeners.append(kill)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(killed.wait(), 8)
    finally:
        runner.emu.world.message_listeners.remove(kill)


def compare(
    baseline: DiscordEmulator, killed: DiscordEmulator
) -> tuple[int, int, list[str], list[str], list[str]]:
    """Return (messages, lines, lost, duplicated, differing messages) of ``killed`` against ``baseline``."""
    expected, actual = channel_state(baseline), channel_state(killed)
    lost: list[str] = []
    duplicated: list[str] = []
    differing: list[str] = []
    messages = lines = 0
    for channel in CHANNELS:
        want = Counter(line for m in expected[channel] for line in alert_lines(m))
        have = Counter(line for m in actual[channel] for line in alert_lines(m))
        lost += [f"#{channel}: {line}" for line in (want - have).elements()]
        duplicated += [f"#{channel}: {line}" for line in (have - want).elements()]
        want_messages = [snapshot(m) for m in expected[channel]]
        have_messages = [snapshot(m) for m in actual[channel]]
        if want_messages != have_messages:
            differing.append(
                f"#{channel}: {len(want_messages)} messages expected, {len(have_messages)} found"
            )
        messages += len(want_messages)
        lines += sum(want.values())
    return messages, lines, lost, duplicated, differing


async def run_durability(
    directory: Path,
    kills: int,
    *,
    per_round: int = 24,
    seed: int = 1,
    on_progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Compare one uninterrupted replay with replays killed ``kills`` times in all, each on a fresh emulator.

    A replay has room for a couple of dozen kills before it is over, so more kills are spread over rounds
    of at most ``per_round``, each a new killed replay compared with the same uninterrupted one.
    """
    rng = random.Random(seed)
    config = write_config(directory)
    say = on_progress or (lambda _text: None)
    total = Outcome(kills=0, kills_in_a_request=0, restarts=0, messages=0, lines=0)
    async with emulator() as baseline:
        began = time.monotonic()
        await Runner(baseline, directory, config, directory / "baseline.db").complete()
        total.baseline_seconds = time.monotonic() - began
        say(f"uninterrupted run: {total.baseline_seconds:.1f} s")
        round_number = 0
        while total.kills < kills:
            round_number += 1
            wanted = min(per_round, kills - total.kills)
            async with emulator() as killed:
                runner = Runner(killed, directory, config, directory / f"killed-{round_number}.db")
                began = time.monotonic()
                done, in_request = await kill_at_random(runner, wanted, rng)
                await runner.complete()
                total.killed_seconds += time.monotonic() - began
                messages, lines, lost, duplicated, differing = compare(baseline, killed)
            checked_traffic(killed, total)
            total.kills += done
            total.kills_in_a_request += in_request
            total.restarts += done + 1
            total.messages += messages
            total.lines += lines
            total.lost += lost
            total.duplicated += duplicated
            total.differing_messages += differing
            say(
                f"round {round_number}: {done} kills, {messages} messages and {lines} alert lines compared, "
                f"{len(lost)} lost, {len(duplicated)} duplicated ({total.killed_seconds:.1f} s so far)"
            )
    checked_traffic(baseline, total)
    return total


def describe(outcome: Outcome) -> dict[str, Any]:
    """Return the outcome as plain data (for messages and the benchmark's output)."""
    return {
        "kills": outcome.kills,
        "kills_inside_a_request": outcome.kills_in_a_request,
        "messages_compared": outcome.messages,
        "alert_lines_compared": outcome.lines,
        "lost": outcome.lost,
        "duplicated": outcome.duplicated,
        "differing_messages": outcome.differing_messages,
        "nonconforming": outcome.nonconforming,
        "requests_checked_against_openapi": outcome.requests_checked,
        "routes_checked": len(outcome.routes_checked),
        "compressed_gateway_connections": outcome.compressed_connections,
        "control_kills": outcome.control_kills,
        "control_duplicated": len(outcome.control_duplicated),
    }


def checked_traffic(emu: DiscordEmulator, outcome: Outcome) -> None:
    """Check an emulator's traffic: OpenAPI conformance (into ``outcome``) and discord.py's compression.

    The compression check fails at once (an AssertionError) when a discord.py connection of the bot's
    processes was not compressed; its connections and frames are added to the outcome's figures.
    """
    report = check_and_tally(emu.requests)
    outcome.nonconforming += [str(m) for m in report.mismatches]
    outcome.requests_checked += report.requests
    outcome.routes_checked |= report.routes
    check_discord_py_compression(emu)
    for conn in emu.gateway.connections:
        identify = conn.session.identify if conn.session is not None else {}
        if identify.get("properties", {}).get("browser") == "discord.py":
            outcome.compressed_connections += 1
            outcome.compressed_frames += conn.compressed_frames


async def _kill_past_window(runner: Runner, kills: int, downtime: float, outcome: Outcome) -> None:
    """Kill the replay inside ``kills`` sends, staying down ``downtime`` s each time, then let it finish."""
    done = 0
    while done < kills:
        process = await runner.start(PACE)
        await _kill_inside_next_request(runner, process, ("MESSAGE_CREATE",))
        if process.returncode is None:
            process.send_signal(signal.SIGKILL)
        await process.wait()
        if process.returncode != -signal.SIGKILL:
            raise AssertionError(f"replay exited {process.returncode} before kill {done + 1}")
        done += 1
        # Down for longer than Discord remembers the nonce of the send it was killed in.
        await asyncio.sleep(downtime)
    await runner.complete()
    outcome.kills += done
    outcome.kills_in_a_request += done
    outcome.restarts += done + 1


def _adopted(db: Path) -> int:
    """Return how many messages an interrupted send had created were found and taken instead of re-posted."""
    with sqlite3.connect(db) as conn:
        found: int = conn.execute(
            "SELECT COUNT(*) FROM message_groups WHERE adopted_at IS NOT NULL"
        ).fetchone()[0]
    return found


async def run_beyond_nonce_window(
    directory: Path,
    kills: int,
    *,
    nonce_window: float,
    assumed_window: float | None,
    downtime: float,
    control_kills: int = 0,
    control_window: float = 600.0,
    on_progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Kill the replay inside ``kills`` sends, each time down longer than the emulator's nonce window.

    Discord drops a repeated nonce only "in the past few minutes" (resources/message.mdx): a bot that
    restarts after that and sends its unconfirmed message again under the same nonce posts it twice,
    unless it first looks for the message its killed run created. The emulator here keeps nonces for
    ``nonce_window`` seconds and the bot assumes ``assumed_window`` (None: the config's default).

    The control (``control_kills`` > 0) kills a bot that assumes ``control_window`` seconds, far above the
    emulator's, so it never looks and trusts the nonce: its duplicates (``control_duplicated``) show that
    the downtime really outlasts the emulator's window. Every emulator's traffic is checked against the
    OpenAPI document and for discord.py's transport compression (``checked_traffic``).
    """
    say = on_progress or (lambda _text: None)
    config = write_config(directory, nonce_window_s=assumed_window)
    total = Outcome(kills=0, kills_in_a_request=0, restarts=0, messages=0, lines=0)
    async with emulator() as baseline:
        await Runner(baseline, directory, config, directory / "baseline-nonce.db").complete()
        async with emulator(nonce_window) as killed:
            runner = Runner(killed, directory, config, directory / "killed-nonce.db")
            await _kill_past_window(runner, kills, downtime, total)
            messages, lines, lost, duplicated, differing = compare(baseline, killed)
        checked_traffic(killed, total)
        if control_kills:
            control = Outcome(kills=0, kills_in_a_request=0, restarts=0, messages=0, lines=0)
            trusting = write_config(directory, nonce_window_s=control_window)
            async with emulator(nonce_window) as repeated:
                runner = Runner(repeated, directory, trusting, directory / "control-nonce.db")
                await _kill_past_window(runner, control_kills, downtime, control)
                _, _, _, total.control_duplicated, _ = compare(baseline, repeated)
            checked_traffic(repeated, total)
            total.control_kills = control.kills
            total.control_adopted = _adopted(directory / "control-nonce.db")
    checked_traffic(baseline, total)
    total.adopted = _adopted(directory / "killed-nonce.db")
    total.messages, total.lines = messages, lines
    total.lost, total.duplicated, total.differing_messages = lost, duplicated, differing
    say(
        f"{total.kills} kills inside a send, each down {downtime:.1f} s (nonce window {nonce_window:.1f} s):"
        f" {messages} messages and {lines} alert lines compared, {total.adopted} messages adopted,"
        f" {len(duplicated)} duplicated, {len(lost)} lost; control (bot assumes {control_window:.0f} s, no"
        f" look-up): {total.control_kills} kills, {len(total.control_duplicated)} alert lines duplicated;"
        f" {total.requests_checked} requests on {len(total.routes_checked)} routes checked against the"
        f" OpenAPI document, {len(total.nonconforming)} mismatches; {total.compressed_connections} gateway"
        f" connections, {total.compressed_frames} frames, all compressed"
    )
    return total
