"""Durability: ``tripwire replay --discord`` killed with SIGKILL at random points 20+ times and restarted on
the same database leaves the Discord emulator exactly as one uninterrupted run does: no alert lost, none
duplicated, every grouped message the same (see tests/bot/durability.py; bench/durability.py does 100+)."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from tests.bot.durability import (
    CHANNELS,
    alert_lines,
    compare,
    describe,
    emulator,
    run_beyond_nonce_window,
    run_durability,
)

KILLS = 21


async def test_a_replay_killed_at_random_points_posts_exactly_what_an_uninterrupted_one_posts(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1_000_000)
    before = asyncio.all_tasks()
    outcome = await run_durability(tmp_path, KILLS, seed=seed)
    await asyncio.sleep(0)
    assert {t for t in asyncio.all_tasks() - before if not t.done()} == set(), "tasks left running"

    report = f"seed {seed}: {json.dumps(describe(outcome), indent=1)}"
    assert outcome.kills >= 20 and outcome.kills_in_a_request >= 7, report
    # Enough to compare: the breakout week's grouped messages, their edits and lines in both channels.
    assert outcome.messages >= 15 and outcome.lines >= 25, report
    assert outcome.lost == [], report
    assert outcome.duplicated == [], report
    assert outcome.differing_messages == [], report
    assert outcome.nonconforming == [], report
    # Every run killed inside a request had connected (a send needs a ready client), as had the
    # uninterrupted run and the last, completed one; every connection was compressed (checked_traffic).
    assert outcome.compressed_connections >= outcome.kills_in_a_request + 2, report


async def test_a_bot_killed_mid_send_and_down_past_the_nonce_window_neither_repeats_nor_loses_an_alert(
    tmp_path: Path,
) -> None:
    # Synthetic timings: Discord's window is "a few minutes"; here it is 2 s, the bot assumes 1 s (below it,
    # as its default is below Discord's) and stays down 2.5 s after each kill.
    # The control bot assumes 600 s, far above the emulator's 2 s, so it never looks and trusts the nonce.
    outcome = await run_beyond_nonce_window(
        tmp_path,
        6,
        nonce_window=2.0,
        assumed_window=1.0,
        downtime=2.5,
        control_kills=2,
        control_window=600.0,
        on_progress=print,
    )
    report = json.dumps(describe(outcome), indent=1)
    print(
        f"kills: {outcome.kills}, duplicates: {len(outcome.duplicated)}, lost: {len(outcome.lost)},"
        f" adopted: {outcome.adopted}; control: {outcome.control_kills} kills,"
        f" {len(outcome.control_duplicated)} duplicated alert lines, {outcome.control_adopted} adopted;"
        f" {outcome.requests_checked} requests on {len(outcome.routes_checked)} routes conform,"
        f" {outcome.compressed_connections} compressed gateway connections"
    )
    assert outcome.kills == 6 and outcome.messages >= 15, report
    # The downtime really outlasts the emulator's window: the bot that does not look posts again.
    assert outcome.control_kills == 2 and outcome.control_adopted == 0, report
    assert len(outcome.control_duplicated) >= 1, report
    # Its traffic fits Discord's OpenAPI document, over discord.py's compressed gateway.
    assert outcome.nonconforming == [], report
    assert outcome.requests_checked > 0 and outcome.compressed_connections >= outcome.kills + 1, report
    # Every kill left at least one message Discord had created but the bot had not recorded (sometimes two:
    # the two channels are sent to at once); each was found and taken after the restart (before this, each
    # was posted a second time: 6 duplicated messages, 18 alert lines, in 6 kills).
    assert outcome.adopted >= outcome.kills, report
    assert outcome.duplicated == [], report
    assert outcome.lost == [], report
    assert outcome.differing_messages == [], report


async def test_the_comparison_sees_a_lost_and_a_repeated_alert() -> None:
    async with emulator() as baseline, emulator() as killed:
        for emu in (baseline, killed):
            for title in ("BTC broke above $95,000", "ETH +7.6% in 24h"):
                emu.world.add_message(
                    emu.world.build_message(
                        CHANNELS[0],
                        {"embeds": [{"title": title, "timestamp": "2026-01-13T23:00:00+00:00"}]},
                        [],
                    )
                )
        gone = killed.messages_in(CHANNELS[0])[1]
        killed.world.delete_message(gone)
        again = {"embeds": [{"title": "BTC broke above $95,000", "timestamp": "2026-01-13T23:00:00+00:00"}]}
        killed.world.add_message(killed.world.build_message(CHANNELS[0], again, []))

        messages, lines, lost, duplicated, differing = compare(baseline, killed)

    assert (messages, lines) == (2, 2)
    assert lost == [f"#{CHANNELS[0]}: ETH +7.6% in 24h @2026-01-13T23:00:00+00:00"]
    assert duplicated == [f"#{CHANNELS[0]}: BTC broke above $95,000 @2026-01-13T23:00:00+00:00"]
    assert differing and alert_lines(killed.messages_in(CHANNELS[0])[0]) == [
        "BTC broke above $95,000 @2026-01-13T23:00:00+00:00"
    ]
