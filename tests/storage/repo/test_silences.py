"""Silences: one-off and recurring windows."""

from __future__ import annotations

from storage.repo import Repo
from storage.rows import HOUR_MS as H

T0 = 1_768_341_600_000  # 2026-01-13 22:00 UTC


def test_silences_one_off_and_recurring_windows(repo: Repo) -> None:
    week = 7 * 24 * H
    one_off = repo.add_silence(guild_id=1, starts_at=T0, ends_at=T0 + H, symbol="BTCUSDT", now=T0)
    weekly = repo.add_silence(guild_id=1, starts_at=T0, ends_at=T0 + 2 * H, recurrence="weekly", now=T0)
    other_guild = repo.add_silence(guild_id=2, starts_at=T0, ends_at=T0 + H, now=T0)
    assert {s.id for s in repo.active_silences(T0 + 1, guild_id=1)} == {one_off, weekly}
    assert {s.id for s in repo.active_silences(T0 + 90 * 60_000, guild_id=1)} == {weekly}  # one-off ended
    assert repo.active_silences(T0 + 3 * H, guild_id=1) == []
    # The mute window comes back a week later, for the same two hours.
    assert {s.id for s in repo.active_silences(T0 + week + H, guild_id=1)} == {weekly}
    assert repo.active_silences(T0 + week + 2 * H) == []
    assert {s.id for s in repo.active_silences(T0 + 1)} == {one_off, weekly, other_guild}
    assert [s.id for s in repo.silences(1, T0 + 3 * H)] == [weekly]
    assert repo.delete_silence(weekly, 1) and not repo.delete_silence(other_guild, 1)
