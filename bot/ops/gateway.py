"""Connect a process's Discord client, close it, and serve until shutdown or until the connection ends.

The single-process bot (bot/app.py) and a Discord cluster (bot/roles/discord_cluster.py) hold their
gateway connection the same way: a task named ``discord-connect`` in the process's task list, which the
shutdown closes and which, ending on its own, ends the process with exit code 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.ops.shutdown import Shutdown

log = logging.getLogger(__name__)

CONNECTION_TASK = "discord-connect"


async def connect_discord(bot: Any, token: str, tasks: list[asyncio.Task[Any]]) -> None:
    """Log in, start the gateway connection as a task in ``tasks``, and wait until the client is ready.

    Raises why the connection ended if it ends before the client is ready (bad token, 4004, 4011, ...).
    """
    await bot.login(token)
    connection = asyncio.create_task(bot.connect(), name=CONNECTION_TASK)
    tasks.append(connection)
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({ready, connection}, return_when=asyncio.FIRST_COMPLETED)
    if connection in done:
        ready.cancel()
        connection.result()


def close_discord(bot: Any, tasks: list[asyncio.Task[Any]]) -> Callable[[], Awaitable[None]]:
    """Return a stop callback that closes the client and waits for its connection task to end."""

    async def close() -> None:
        await bot.close()
        connection = [t for t in tasks if t.get_name() == CONNECTION_TASK]
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(*connection)

    return close


async def run_until_stopped(
    shutdown: Shutdown, start: Callable[[], Awaitable[object]], serve: Callable[[], Awaitable[int]]
) -> int:
    """Start, serve until SIGTERM/SIGINT, then stop in order; return serve's exit code.

    The stop runs whether start or serve returned or raised; an unclean stop makes it at least 1.
    """
    loop = asyncio.get_running_loop()
    uninstall = shutdown.install_signal_handlers(loop)
    code = 0
    try:
        await start()
        code = await serve()
    finally:
        report = await shutdown.run()
        uninstall()
    return code if report.clean else max(code, 1)


async def serve_until_stopped(shutdown: Shutdown, tasks: list[asyncio.Task[Any]]) -> int:
    """Wait for a shutdown request (exit code 0), or for the Discord connection to end on its own (1)."""
    waiting = asyncio.create_task(shutdown.wait(), name="shutdown-wait")
    connection = next((t for t in tasks if t.get_name() == CONNECTION_TASK), None)
    watched: set[asyncio.Task[Any]] = {waiting} if connection is None else {waiting, connection}
    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if connection is not None and connection in done and not shutdown.requested:
        exc = None if connection.cancelled() else connection.exception()
        log.error("Discord connection ended: %s", exc or "closed by Discord")
        return 1
    return 0
