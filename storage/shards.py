"""Which Discord shards a process serves, and which outbox rows that makes its own.

A guild's shard is ``(guild_id >> 22) % shard_count`` (Discord's sharding formula, developers/events/
gateway.mdx "Sharding"); what has no guild, a direct message, is shard 0's, as Discord sends events
without a guild to shard 0 only. A cluster serves a contiguous range of shards, ``first``-``last``.

An outbox row's guild is the ``guild_id`` every writer already puts in its payload (the engine's alerts
and resolves, digests, the liquidation feed, ops reports, quarantine and delivery notices), read only when
the row goes to a channel: a row to a member's direct messages (``user:…``) is shard 0's whatever server
its rule belongs to. No column repeats it, so the rows written before sharding was switched on route the
same way as new ones; the predicate is plain SQL on both dialects (PostgreSQL reads the JSON as jsonb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.dialect import Dialect

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True, slots=True)
class ShardSlice:
    """Shards ``first`` to ``last`` (inclusive) of ``count``."""

    first: int
    last: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"the shard count must be at least 1, not {self.count}")
        if not 0 <= self.first <= self.last < self.count:
            raise ValueError(
                f"shards {self.first}-{self.last} are not a range within 0-{self.count - 1}"
                f" (shard ids count from 0 and stay below the shard count {self.count})"
            )

    @classmethod
    def parse(cls, text: str, count: int) -> ShardSlice:
        """Read ``A-B`` (or one shard ``A``) of ``count`` shards; raise ValueError saying what is wrong."""
        found = _RANGE.match(text)
        if found is None:
            raise ValueError(f"shards {text!r}: write a range like 0-3, or one shard like 2")
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) is not None else first
        return cls(first, last, count)

    @property
    def ids(self) -> list[int]:
        """Return the shard ids of the slice, in order."""
        return list(range(self.first, self.last + 1))

    def shard_of(self, guild_id: int | None) -> int:
        """Return the shard that holds a guild (None: no guild, shard 0)."""
        return 0 if guild_id is None else (guild_id >> 22) % self.count

    def holds(self, guild_id: int | None) -> bool:
        """Return whether a guild (None: a direct message) is served by this slice."""
        return self.first <= self.shard_of(guild_id) <= self.last

    def outbox_predicate(self, dialect: Dialect) -> tuple[str, tuple[int, int, int]]:
        """Return SQL that is true for the outbox rows this slice delivers, and its parameters."""
        guild = dialect.json_number("payload", "$.guild_id")
        # NULL (a DM target, or a row without a guild) falls to shard 0 through the COALESCE.
        shard = f"COALESCE((CAST(CASE WHEN target LIKE 'channel:%' THEN {guild} END AS BIGINT) >> 22) % ?, 0)"
        return f"{shard} BETWEEN ? AND ?", (self.count, self.first, self.last)

    def __str__(self) -> str:
        shards = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        return f"shards {shards} of {self.count}"
