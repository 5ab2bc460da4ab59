"""``tripwire db copy`` moves a live bot's database to PostgreSQL without repeating or losing an alert.

A ``tripwire replay --discord`` on a SQLite file is killed twice mid-stream (once inside Discord's handling
of one of its sends: the message exists, the bot never heard back), its database is copied to PostgreSQL,
and the replay is finished on the copy. The Discord emulator must then hold exactly what one uninterrupted
run posts: the copy carried each delivery's status, message id, message group and nonce.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

from tests.bot.durability import (
    ROOT,
    Outcome,
    Runner,
    _kill_inside_next_request,
    _kill_soon_after_next_answer,
    checked_traffic,
    compare,
    describe,
    emulator,
    reap_killed,
    write_config,
)

PACE = 0.03


async def _kill(runner: Runner, inside_a_request: bool) -> None:
    process = await runner.start(PACE)
    if inside_a_request:
        await _kill_inside_next_request(runner, process)
    else:
        await _kill_soon_after_next_answer(runner, process, random.Random(7))
    await reap_killed(process, "the replay ended before it was killed")


async def test_a_bot_moved_to_postgresql_mid_stream_posts_nothing_twice_and_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    config = write_config(tmp_path)
    async with emulator() as baseline:
        await Runner(baseline, tmp_path, config, tmp_path / "baseline.db").complete()
    # Synthetic timings: Discord's nonce window ("a few minutes") is 1 s here and the bot assumes 0.5 s, so
    # the copy (seconds) outlasts it: a re-sent message is not caught by its nonce, only the copied outbox
    # (delivered rows stay delivered) and message groups (a send that may have reached Discord is looked
    # for first) keep it from being posted twice.
    moved_config = write_config(tmp_path, nonce_window_s=0.5)
    async with emulator(nonce_window=1.0) as moved:
        on_sqlite = Runner(moved, tmp_path, moved_config, tmp_path / "live.db")
        await _kill(on_sqlite, inside_a_request=False)
        await _kill(on_sqlite, inside_a_request=True)
        posted_on_sqlite = on_sqlite.bot_requests()
        copy = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "db",
            "copy",
            "--from",
            f"sqlite:{tmp_path / 'live.db'}",
            "--to",
            pg_url,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(copy.communicate(), 120)
        assert copy.returncode == 0, err.decode()[-2000:]
        assert b"copied" in out and b"outbox" in out
        await Runner(moved, tmp_path, moved_config, pg_url).complete()
        messages, lines, lost, duplicated, differing = compare(baseline, moved)
    outcome = Outcome(kills=2, kills_in_a_request=1, restarts=3, messages=messages, lines=lines)
    checked_traffic(moved, outcome)
    report = json.dumps(describe(outcome), indent=1) + f" lost={lost} duplicated={duplicated}"
    # The SQLite run had posted part of the stream, and the PostgreSQL run posted the rest.
    assert (
        0
        < posted_on_sqlite
        < moved.requests_matching("POST", "/channels/*/messages").__len__()
        + len(moved.requests_matching("PATCH", "/channels/*/messages/*"))
    ), report
    assert messages >= 15 and lines >= 25, report
    assert lost == [], report
    assert duplicated == [], report
    assert differing == [], report
    assert outcome.nonconforming == [], report
