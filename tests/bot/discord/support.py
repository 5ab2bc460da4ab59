"""Helpers for the end-to-end tests: queueing alerts the way the engine does, draining the outbox, and what
the emulator shows."""

from __future__ import annotations

from typing import Any

from bot.notify.outbox import OutboxDispatcher
from storage.repo import OutboxRow, Repo
from tests.bot.support import Clock
from tests.emulators.discord_api import DiscordEmulator, StoredMessage


def alert_payload(
    rule_id: str,
    title: str,
    *,
    guild_id: int | None,
    role_id: int | None = None,
    at: int = 1_768_345_200_000,
    event_id: int = 0,
    note: str | None = None,
) -> dict[str, Any]:
    """Return an outbox payload with the keys the engine writes (bot/alerts/engine.py _payload, target)."""
    return {
        "event_id": event_id,
        "state": "firing",
        "rule_id": rule_id,
        "detector": "level_cross",
        "symbol": "BTCUSDT",
        "kind": "cross_up",
        "severity": "warning",
        "title": title,
        "values": {"level": 95000.0, "price": 95400.5, "direction": "up", "basis": "1h close"},
        "at": at,
        "late": False,
        "direction": "up",
        "note": note,
        "stateful": False,
        "guild_id": guild_id,
        "role_id": role_id,
    }


def queue_alerts(
    repo: Repo,
    target: str,
    titles: list[str],
    *,
    rule_id: str,
    guild_id: int | None,
    now: int,
    role_id: int | None = None,
) -> list[int]:
    """Queue one alert per title for ``target`` and return the outbox ids."""
    ids = []
    with repo.transaction():
        for title in titles:
            ids.append(
                repo.enqueue(
                    event_id=None,
                    sink="discord",
                    target=target,
                    kind="alert",
                    payload=alert_payload(rule_id, title, guild_id=guild_id, role_id=role_id),
                    now=now,
                )
            )
    return ids


async def drain(repo: Repo, dispatcher: OutboxDispatcher, clock: Clock, *, rounds: int = 30) -> None:
    """Run delivery passes, moving the clock to each retry's due time, until nothing is pending."""
    for _ in range(rounds):
        await dispatcher.run_once()
        due = repo.next_outbox_due()
        if due is None:
            return
        clock.now = max(clock.now, due)
    raise AssertionError(f"outbox still has {repo.outbox_depth()} pending rows after {rounds} passes")


def titles(messages: list[StoredMessage]) -> list[str]:
    """Return the embed titles of messages, in order."""
    return [m.embeds[0]["title"] for m in messages if m.embeds]


def bot_messages(emu: DiscordEmulator, channel_id: int) -> list[StoredMessage]:
    """Return the messages the bot posted in a channel (not interaction replies)."""
    return [m for m in emu.messages_in(channel_id) if m.source == "channel"]


def rows(repo: Repo, ids: list[int]) -> list[OutboxRow]:
    """Return outbox rows by id."""
    found = [repo.outbox_row(i) for i in ids]
    assert all(r is not None for r in found)
    return [r for r in found if r is not None]
