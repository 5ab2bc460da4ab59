"""Shard slices: the parse, the formula, and claiming only a slice's outbox rows on both backends."""

from __future__ import annotations

import pytest

from storage.repo import Repo
from storage.shards import ShardSlice
from tests.storage.test_postgres import _pg

# Synthetic guild ids: timestamp part k << 22 puts the guild on shard k % count.
GUILDS = {k: (1_000_000 + k) << 22 for k in range(4)}  # guild on shard (1_000_000 + k) % 4 == k


def test_a_range_parses_and_its_guilds_follow_discords_formula() -> None:
    shards = ShardSlice.parse("2-3", 4)
    assert (shards.first, shards.last, shards.count, shards.ids) == (2, 3, 4, [2, 3])
    assert ShardSlice.parse("1", 4).ids == [1]
    assert [shards.shard_of(g) for g in GUILDS.values()] == [0, 1, 2, 3]
    assert [shards.holds(g) for g in GUILDS.values()] == [False, False, True, True]
    assert not shards.holds(None) and ShardSlice.parse("0-1", 4).holds(None)  # DMs are shard 0's


@pytest.mark.parametrize(
    ("text", "count", "message"),
    [
        ("3-1", 4, "not a range"),
        ("0-4", 4, "not a range"),
        ("a-b", 4, "write a range"),
        ("0", 0, "at least 1"),
    ],
)
def test_a_bad_range_says_what_is_wrong(text: str, count: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShardSlice.parse(text, count)


def _queue_spread(repo: Repo) -> dict[str, int]:
    """Queue one alert per guild's channel, one DM, and one ops row without a guild; return their ids."""
    ids = {}
    for shard, guild in GUILDS.items():
        ids[f"guild{shard}"] = repo.enqueue(
            event_id=None,
            sink="discord",
            target=f"channel:{guild + 101}",
            kind="ops",
            payload={"guild_id": guild},
            now=1000,
        )
    # A personal alert of a rule in guild 3 goes to the member's DMs: shard 0's, not guild 3's.
    ids["dm"] = repo.enqueue(
        event_id=None, sink="discord", target="user:42", kind="ops", payload={"guild_id": GUILDS[3]}, now=1000
    )
    ids["no guild"] = repo.enqueue(
        event_id=None, sink="discord", target="channel:7", kind="ops", payload={"guild_id": None}, now=1000
    )
    return ids


def test_a_slice_claims_its_guilds_rows_and_shard_0_the_dms(any_repo: Repo) -> None:
    ids = _queue_spread(any_repo)
    with any_repo.transaction():
        low = {r.id for r in any_repo.claim_due_outbox("discord", 2000, shards=ShardSlice(0, 1, 4))}
        high = {r.id for r in any_repo.claim_due_outbox("discord", 2000, shards=ShardSlice(2, 3, 4))}
    assert low == {ids["guild0"], ids["guild1"], ids["dm"], ids["no guild"]}
    assert high == {ids["guild2"], ids["guild3"]}


def test_two_clusters_claiming_at_once_split_the_rows_by_shard(pg_url: str) -> None:
    first, second = _pg(pg_url), _pg(pg_url)
    ids = _queue_spread(first)
    with first.transaction():
        one = {r.id for r in first.claim_due_outbox("discord", 2000, shards=ShardSlice(0, 1, 4))}
        # A second process with an overlapping slice, while the first still holds its claim: it gets
        # only what the first did not lock.
        with second.transaction():
            both = {r.id for r in second.claim_due_outbox("discord", 2000, shards=ShardSlice(0, 3, 4))}
    assert one == {ids["guild0"], ids["guild1"], ids["dm"], ids["no guild"]}
    assert both == {ids["guild2"], ids["guild3"]}
    first.close()
    second.close()
