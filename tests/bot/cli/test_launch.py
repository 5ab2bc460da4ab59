"""``tripwire launch``: the layout from Discord's /gateway/bot (the Discord emulator's), and the supervisor
restarting a crashed child with backoff and stopping the market role before the Discord clusters."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.__main__ import build_parser
from bot.cli.launch import split_shards
from bot.errors import UserError
from bot.ops.supervisor import Child, Supervisor
from tests.emulators.discord_api import DiscordEmulator

ROOT = Path(__file__).resolve().parents[3]
PG_CONFIG = 'symbols = ["BTCUSDT"]\n[storage]\nurl = "postgresql://tripwire@127.0.0.1:5432/tripwire"\n'


def launch(argv: list[str]) -> int:
    """Run ``tripwire launch`` as the CLI does, without touching the process's logging."""
    args = build_parser().parse_args(["launch", *argv])
    return int(args.handler(args))


def fake(journal: Path, name: str, behaviour: str, group: int) -> Child:
    """Return a supervised stand-in child (tests/bot/launch_child.py)."""
    argv = [sys.executable, "-m", "tests.bot.launch_child", str(journal), name, behaviour]
    return Child(name, argv, group)


def events(journal: Path) -> list[str]:
    """Return the journal's lines without their times."""
    return [line.rsplit(" ", 1)[0] for line in journal.read_text().splitlines()]


def test_shards_are_split_into_even_contiguous_ranges() -> None:
    assert split_shards(4, 2) == [(0, 1), (2, 3)]
    assert split_shards(10, 3) == [(0, 3), (4, 6), (7, 9)]
    assert split_shards(1, 1) == [(0, 0)]
    ranges = split_shards(37, 5)
    assert ranges[0][0] == 0 and ranges[-1][1] == 36
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))


async def test_launch_asks_the_emulators_gateway_bot_for_the_shards(
    discord_emu: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    discord_emu.config.gateway.max_concurrency = 2
    config = tmp_path / "t.toml"
    config.write_text(PG_CONFIG)
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", discord_emu.config.token)
    monkeypatch.setenv("TRIPWIRE_DISCORD_API_BASE", discord_emu.api_base)
    assert await asyncio.to_thread(launch, ["--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    asked = [r for r in discord_emu.requests if r.path.endswith("/gateway/bot")]
    assert len(asked) == 1 and asked[0].status == 200
    recommended = asked[0].response["shards"]
    assert out[0] == (
        f"{recommended} shards in 1 clusters (0-{recommended - 1}), 2 market processes,"
        " IDENTIFY max_concurrency 2"
    ), out
    assert [line.split(":")[0] for line in out[1:]] == [
        "market-1",
        "market-2",
        f"discord-0-{recommended - 1}",
    ]
    assert out[3].endswith(f"--role discord --shards 0-{recommended - 1} --shard-count {recommended}")
    # Overrides: the count and the clusters as given (Discord still asked: its concurrency paces starts).
    argv = [
        "--config",
        str(config),
        "--dry-run",
        "--shard-count",
        "4",
        "--clusters",
        "2",
        "--market-processes",
        "1",
    ]
    assert await asyncio.to_thread(launch, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("4 shards in 2 clusters (0-1, 2-3), 1 market processes, IDENTIFY max_concurrency 2"), (
        out
    )
    assert len([r for r in discord_emu.requests if r.path.endswith("/gateway/bot")]) == 2


async def test_a_bad_token_is_said_so(
    discord_emu: DiscordEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "t.toml"
    config.write_text(PG_CONFIG)
    monkeypatch.setenv("TRIPWIRE_DISCORD_TOKEN", "not-the-token")
    monkeypatch.setenv("TRIPWIRE_DISCORD_API_BASE", discord_emu.api_base)
    with pytest.raises(UserError, match=r"Discord refused the bot token \(401 on /gateway/bot\)"):
        await asyncio.to_thread(launch, ["--config", str(config), "--dry-run"])


def test_launch_refuses_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "t.toml"
    config.write_text('symbols = ["BTCUSDT"]\n')
    with pytest.raises(UserError, match="share a PostgreSQL database"):
        launch(["--config", str(config), "--shard-count", "1", "--dry-run"])


def started(journal: Path) -> bool:
    """Return whether the crashing child started a third time and the last cluster started."""
    seen = events(journal) if journal.exists() else []
    return seen.count("discord-0-1 start") >= 3 and "discord-2-3 start" in seen


async def test_a_crashed_child_is_restarted_with_backoff_and_the_market_stops_first(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    children = [
        fake(journal, "market-1", "run", 0),
        fake(journal, "market-2", "run", 0),
        fake(journal, "discord-0-1", "crash-twice", 1),
        fake(journal, "discord-2-3", "run", 1),
    ]
    supervisor = Supervisor(
        children, first_backoff_s=0.3, max_backoff_s=5, stable_after_s=60, stop_timeout_s=10
    )
    running = asyncio.create_task(supervisor.run())
    try:
        async with asyncio.timeout(30):
            while not started(journal):  # noqa: ASYNC110 - a file is polled, there is no event
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        supervisor.stop("test")
        assert await asyncio.wait_for(running, 30) == 0
    crashed = children[2]
    assert crashed.starts == 3 and crashed.exits == [1, 1]
    assert crashed.backoff_s == 0.6  # 0.3, then doubled for a second quick crash
    times = {
        line.rsplit(" ", 1)[0] + f"#{i}": float(line.rsplit(" ", 1)[1])
        for i, line in enumerate(journal.read_text().splitlines())
    }
    starts = sorted(t for k, t in times.items() if k.startswith("discord-0-1 start"))
    assert starts[1] - starts[0] >= 0.3 and starts[2] - starts[1] >= 0.6
    # Stopped in order: both market processes got SIGTERM and ended before any Discord cluster was told.
    terms = [e for e in events(journal) if e.endswith(" term")]
    assert sorted(terms[:2]) == ["market-1 term", "market-2 term"] and sorted(terms[2:]) == [
        "discord-0-1 term",
        "discord-2-3 term",
    ]
    assert supervisor.stopped_order[:2] == ["market-1", "market-2"]
    assert all(child.process is not None and child.process.returncode == 0 for child in children)


async def test_a_child_with_a_usage_error_stops_them_all_with_exit_2(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    children = [fake(journal, "market-1", "run", 0), fake(journal, "discord-0-0", "usage", 1)]
    supervisor = Supervisor(children, first_backoff_s=0.1, stop_timeout_s=10)
    assert await asyncio.wait_for(supervisor.run(), 30) == 2
    assert events(journal).count("discord-0-0 start") == 1  # not restarted: a restart cannot fix it
    # The other child was stopped too (SIGTERM may come before its handler is set: -15 then).
    assert children[0].process is not None and children[0].process.returncode in (0, -15)


LAUNCHER = """
import asyncio, sys
from bot.ops.supervisor import Child, Supervisor
journal = sys.argv[1]
children = [
    Child(name, [sys.executable, "-m", "tests.bot.launch_child", journal, name, "run"], group)
    for name, group in (("market-1", 0), ("discord-0-0", 1))
]
asyncio.run(Supervisor(children).run())
"""


async def test_the_children_of_a_killed_launcher_are_stopped_too(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    launcher = await asyncio.create_subprocess_exec(sys.executable, "-c", LAUNCHER, str(journal), cwd=ROOT)
    try:
        async with asyncio.timeout(20):
            while not journal.exists() or len(events(journal)) < 2:  # noqa: ASYNC110 - a file is polled
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # their SIGTERM handlers are set
        launcher.kill()  # SIGKILL: the launcher cannot stop them itself
        await launcher.wait()
        async with asyncio.timeout(10):
            while sorted(e for e in events(journal) if e.endswith(" term")) != [  # noqa: ASYNC110
                "discord-0-0 term",
                "market-1 term",
            ]:
                await asyncio.sleep(0.05)
    finally:
        if launcher.returncode is None:
            launcher.kill()
        for pid in (
            journal.with_suffix(".pids").read_text().split() if journal.with_suffix(".pids").exists() else []
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)  # only if the test failed: they are gone otherwise
