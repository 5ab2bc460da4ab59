"""Durability of outgoing webhooks: ``tripwire replay`` posting every alert event to a receiver on 127.0.0.1,
SIGKILLed at random points (a third inside the receiver's handling of a request) and restarted on the same
database, delivers every event exactly once by Idempotency-Key, each correctly signed, the same events an
uninterrupted run delivers (see tests/bot/notify/webhook_durability.py)."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

from tests.bot.notify.webhook_durability import run_webhook_durability

KILLS = 12


async def test_a_replay_killed_during_delivery_delivers_every_event_exactly_once_by_key(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1_000_000)
    outcome = await run_webhook_durability(tmp_path, KILLS, seed=seed)
    report = f"seed {seed}: {json.dumps(dataclasses.asdict(outcome), indent=1)}"
    print(report)
    assert outcome.kills == KILLS and outcome.kills_in_a_request >= KILLS // 3, report
    assert outcome.bad_signatures == 0, report
    for hook in ("tripwire", "alertmanager"):
        # The breakout week: its cascades, squeezes, level breaks and their ends, firing and resolved.
        assert outcome.baseline_events[hook] >= 20, report
        assert outcome.distinct_keys[hook] == outcome.queued_events[hook] == outcome.baseline_events[hook]
        assert outcome.resolved_events[hook] >= 5, report  # ends are delivered too
    # A kill inside a request makes the bot send that event again: the receiver saw the same key twice.
    assert sum(outcome.resent.values()) >= outcome.kills_in_a_request, report
    assert outcome.lost == [] and outcome.extra == [], report
    assert outcome.differing_resends == [], report  # a re-send carries the very same body
    assert outcome.undelivered_rows == 0, report
