"""Tell the other processes of a bot at once that a rule, a silence, a setting or a digest changed.

On PostgreSQL several processes share one database (issue 21: the market role and the Discord clusters):
each keeps what it read in memory (the engine its rules, the repository the servers' settings), so a change
written by one must reach the others. The repository publishes a ``NOTIFY`` with every such write, and
PostgreSQL delivers a notification only when the transaction that sent it commits (never for one rolled
back), so a listener never hears of a change it cannot read yet. ``ChangeListener`` holds a ``LISTEN``
connection of its own (psycopg 3's ``AsyncConnection.notifies()``) and hands each change to a callback.

The channel is named after the schema, like the lease's key (storage.lease), so two bots sharing a database
in two schemas never hear each other. A process hears its own changes too; acting on one twice is a
reload, harmless, and cheaper than telling its connections apart. A listener that loses its connection
reconnects and reports ``Change("resync")``: whatever changed meanwhile was not heard, so the consumer
reloads everything.
On SQLite (one process) nothing is published and nothing needs to listen.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storage.pg_url import redact

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# What a notification is about: the key is a rule id, a silence id or a guild id. OUTBOX_QUEUED (no key):
# rows were queued, so a delivering process looks now instead of at its next idle poll.
RULE, SILENCE, SETTINGS, RESYNC, OUTBOX_QUEUED = "rule", "silence", "settings", "resync", "outbox"
# A scheduled digest was set, removed or switched off (key: its id): the scheduler rebuilds its job. A
# server's large-liquidation feed was set or switched off (key: the guild id): the running feed reloads it.
DIGEST, LIQFEED = "digest", "liqfeed"


def channel_name(schema: str) -> str:
    """Return the NOTIFY channel of the bot whose tables live in ``schema``."""
    return "tripwire_" + hashlib.blake2b(schema.encode(), digest_size=6).hexdigest()


# What the publisher runs, in the writing transaction (delivered at its commit).
PUBLISH_SQL = "SELECT pg_notify(?, ?)"


def publish_args(channel: str, kind: str, key: str | int | None) -> tuple[str, str]:
    """Return the parameters of ``PUBLISH_SQL`` for one change."""
    return channel, json.dumps({"kind": kind, "key": None if key is None else str(key)})


@dataclass(frozen=True, slots=True)
class Change:
    """One change another process committed: ``kind`` (rule, silence, settings, resync) and its key."""

    kind: str
    key: str | None = None


ChangeHandler = Callable[[Change], Awaitable[None] | None]


def parse(payload: str) -> Change | None:
    """Return the change a notification's payload describes, or None (with a warning) when unreadable."""
    try:
        data = json.loads(payload)
        kind, key = str(data["kind"]), data.get("key")
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable change notification: %.200s", payload)
        return None
    return Change(kind, None if key is None else str(key))


class ChangeListener:
    """Listen for the changes other processes commit and hand each to ``handler``, until stopped."""

    def __init__(
        self, url: str, handler: ChangeHandler, *, retry_seconds: float = 1.0, connect_timeout: int = 5
    ) -> None:
        self.url = url
        self.handler = handler
        self.retry_seconds = retry_seconds
        self.connect_timeout = connect_timeout
        self.heard = 0
        # Set once the LISTEN is in place (tests wait for it before writing).
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen (reconnecting after a lost connection, then reporting a resync) until ``stop`` is set."""
        import psycopg  # here: only a bot on PostgreSQL listens (storage.db.database_errors)

        first = True
        while not stop.is_set():
            try:
                await self._listen(stop, resync=not first)
            except (psycopg.OperationalError, OSError) as exc:
                log.warning("change listener: lost %s (%s); reconnecting", redact(self.url), str(exc).strip())
            self.listening.clear()
            first = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_seconds)

    async def _listen(self, stop: asyncio.Event, *, resync: bool) -> None:
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=self.connect_timeout
        )
        async with conn:
            row = await (await conn.execute("SELECT current_schema()")).fetchone()
            assert row is not None
            await conn.execute(f"LISTEN {channel_name(str(row[0]))}")
            self.listening.set()
            if resync:
                await self._handle(Change(RESYNC))
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await self._drain(conn, stopping)
            finally:
                stopping.cancel()

    async def _drain(self, conn: psycopg.AsyncConnection[Any], stopping: asyncio.Future[Any]) -> None:
        """Hand every notification on ``conn`` to the handler until ``stopping`` is done."""
        gen = conn.notifies()
        try:
            while True:
                nxt = asyncio.ensure_future(anext(gen))
                done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await nxt
                    return
                change = parse(nxt.result().payload)
                if change is not None:
                    self.heard += 1
                    await self._handle(change)
        finally:
            await gen.aclose()

    async def _handle(self, change: Change) -> None:
        try:
            result = self.handler(change)
            if result is not None:
                await result
        except Exception:  # one bad handler run must not stop the listening
            log.exception("change listener: handling %s failed", change)
