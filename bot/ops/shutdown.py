"""Graceful shutdown: the first SIGTERM/SIGINT stops the bot in order within a deadline, a second exits now.

The composition root registers an async stop callback for each part as it starts it (database, outbox,
engine, feeds, web server); ``Shutdown.run`` calls them in reverse order, so what started last stops
first: no new observations arrive while the outbox is flushed, and the database closes last. Each
callback gets what is left of the deadline; one that does not finish in time is cancelled and named in
the log. Callbacks reached after the deadline still get a short slice, because the last ones (closing
the database) take milliseconds and leave a cleaner file behind.

The first signal is handled on the event loop (it may touch the loop); the handler for a second one is a
plain signal handler that runs even while the loop is stuck, and exits the process at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# Whole-shutdown deadline. The deployment files give the service manager longer than this before it
# sends SIGKILL (systemd TimeoutStopSec, compose stop_grace_period); tests/test_deploy.py checks it.
DEFAULT_DEADLINE_S = 20.0
# What a callback reached after the deadline still gets.
LATE_SLICE_S = 1.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)

StopCallback = Callable[[], Awaitable[None]]
SignalCallback = Callable[[int], None]


def exit_now(signum: int) -> None:
    """Exit the process at once with 128 + signal number, as if killed by the signal."""
    # Called from a signal handler: write straight to the file descriptor, the logging module's locks
    # may be held by the code the signal interrupted.
    name = signal.Signals(signum).name
    os.write(2, f"tripwire: second {name}, exiting at once without finishing shutdown\n".encode())
    os._exit(128 + signum)


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop,
    on_first: SignalCallback,
    on_second: SignalCallback = exit_now,
    signals: Sequence[signal.Signals] = SIGNALS,
) -> Callable[[], None]:
    """Call ``on_first(signum)`` on the loop for the first signal, ``on_second`` for any later one.

    Returns a function that restores the default handlers.
    """

    def second(signum: int, _frame: object) -> None:
        on_second(signum)

    def first(signum: int) -> None:
        # From now on a signal must work even if shutdown hangs the loop, so it gets a raw handler.
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, second)
        on_first(signum)

    for sig in signals:
        loop.add_signal_handler(sig, first, sig)

    def uninstall() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)

    return uninstall


async def cancel_and_wait(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel the tasks still running and wait for all of them to end (what they raise is dropped)."""
    for task in tasks:
        if not task.done():
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """Which stop callbacks finished, ran out of time, or raised."""

    finished: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Return True when every callback finished."""
        return not self.timed_out and not self.failed


class Shutdown:
    """Coordinate a graceful stop: an event to wait for, and stop callbacks run in reverse order."""

    def __init__(self, deadline_s: float = DEFAULT_DEADLINE_S, *, late_slice_s: float = LATE_SLICE_S) -> None:
        self.deadline_s = deadline_s
        self.late_slice_s = late_slice_s
        self.reason: str | None = None
        self._event = asyncio.Event()
        self._callbacks: list[tuple[str, StopCallback]] = []
        self._report: ShutdownReport | None = None

    def register(self, name: str, callback: StopCallback) -> None:
        """Add a stop callback; register in start order, they run in reverse."""
        self._callbacks.append((name, callback))

    def request(self, reason: str = "requested") -> None:
        """Ask for shutdown (idempotent); whoever waits in ``wait()`` then calls ``run()``."""
        if self._event.is_set():
            return
        self.reason = reason
        log.info("shutting down (%s); a second signal exits at once", reason)
        self._event.set()

    @property
    def requested(self) -> bool:
        """Return True once shutdown was requested."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Wait until shutdown is requested."""
        await self._event.wait()

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """Request shutdown on the first SIGTERM/SIGINT and exit at once on a second."""
        return install_signal_handlers(loop, lambda signum: self.request(signal.Signals(signum).name))

    async def run(self) -> ShutdownReport:
        """Run the stop callbacks in reverse order within the deadline (once; later calls get the report)."""
        if self._report is not None:
            return self._report
        self.request()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        report = ShutdownReport()
        for name, callback in reversed(self._callbacks):
            budget = max(deadline - loop.time(), self.late_slice_s)
            try:
                await asyncio.wait_for(callback(), budget)
            except TimeoutError:
                log.error("shutdown: %s did not finish within %.1f s; abandoned", name, budget)
                report.timed_out.append(name)
            except Exception:
                log.exception("shutdown: %s failed", name)
                report.failed.append(name)
            else:
                log.debug("shutdown: %s stopped", name)
                report.finished.append(name)
        if report.clean:
            log.info("shutdown complete")
        else:
            log.warning(
                "shutdown finished with problems: timed out %s, failed %s",
                report.timed_out or "none",
                report.failed or "none",
            )
        self._report = report
        return report
