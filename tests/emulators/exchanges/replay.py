"""Replay recorded liquidation frames to the websocket venues at a configurable rate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

Push = Callable[[Any], Awaitable[int]]


class Replayer:
    """Push each venue's recorded frames, one every 1/rate seconds per venue, until stopped.

    The recording plays on whether or not anyone listens, as a live exchange would.
    """

    def __init__(self, sources: dict[str, tuple[Push, Iterator[Any]]], rate: float) -> None:
        if rate <= 0:
            raise ValueError("replay rate must be > 0 frames per second")
        self.sources = sources
        self.rate = rate
        self.sent: dict[str, int] = dict.fromkeys(sources, 0)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start one replay task per venue."""
        for venue, (push, frames) in self.sources.items():
            self._tasks.append(asyncio.create_task(self._run(venue, push, frames), name=f"replay-{venue}"))

    async def _run(self, venue: str, push: Push, frames: Iterator[Any]) -> None:
        while True:
            frame = next(frames)
            try:
                await push(frame)
            except ConnectionError:
                log.debug("replay %s: a client went away mid-send", venue)
            self.sent[venue] += 1
            await asyncio.sleep(1 / self.rate)

    async def stop(self) -> None:
        """Stop every replay task and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
