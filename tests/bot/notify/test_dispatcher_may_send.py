"""A delivering process that may not send (a Discord cluster whose shard lease is gone) sends nothing.

The rows it claimed stay pending for the process that holds the lease now; the check is made after each
claim, so a backlog drained in one pass stops at the batch where the lease went.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.notify.outbox import Delivered, OutboxDispatcher, Outcome
from storage.repo import OutboxRow, Repo
from storage.shards import ShardSlice


class RecordingSink:
    """Accept every row and remember which were sent."""

    name = "discord"

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        self.sent.extend(row.id for row in rows)
        return [Delivered(row.id, f"m{row.id}") for row in rows]


def queue(repo: Repo, count: int) -> list[int]:
    return [
        repo.enqueue(
            event_id=None, sink="discord", target="user:7", kind="ops", payload={"text": str(i)}, now=1000
        )
        for i in range(count)
    ]


async def test_a_dispatcher_that_may_not_send_leaves_its_claimed_rows_pending(repo: Repo) -> None:
    ids = queue(repo, 3)
    sink = RecordingSink()
    dispatcher = OutboxDispatcher(
        repo, [sink], lambda: 2000, shards=ShardSlice(0, 0, 1), may_send=lambda: False
    )
    assert await dispatcher.run_once() == 0
    assert sink.sent == []
    assert repo.outbox_depth() == len(ids)


async def test_a_lease_lost_mid_backlog_stops_the_pass_at_that_batch(repo: Repo) -> None:
    ids = queue(repo, 5)
    sink = RecordingSink()
    answers = iter([True, False])  # held for the first batch, gone before the second
    dispatcher = OutboxDispatcher(
        repo, [sink], lambda: 2000, batch=2, shards=ShardSlice(0, 0, 1), may_send=lambda: next(answers)
    )
    assert await dispatcher.run_once() == 2
    assert sink.sent == ids[:2]
    assert repo.outbox_depth() == 3
