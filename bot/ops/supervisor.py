"""Run a multi-process bot's processes as children: start them, restart a crashed one, stop them in order.

``tripwire launch`` builds the children (the market role's processes, then the Discord clusters) and hands
them to ``Supervisor``. A child that exits on its own is started again after an exponential backoff (1 s,
doubling up to ``max_backoff_s``; back to 1 s once it has run for ``stable_after_s``), except after exit
status 2, a configuration or usage error a restart cannot fix: then every child is stopped and the
launcher exits 2, as ``tripwire run`` does. On SIGTERM/SIGINT the children are stopped in groups, in the
order given: each group gets SIGTERM, then SIGKILL after ``stop_timeout_s``. The launcher stops the market
role first, so no alert is queued after the clusters' last delivery pass, and the clusters last, so that
pass delivers what the market queued before it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

EXIT_USAGE = 2
# prctl(2) option: the signal the kernel sends a child when its parent dies (Linux only).
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask the kernel for SIGTERM when the launcher dies, even by SIGKILL (in the child, before exec).

    Otherwise the children of a killed launcher run on unsupervised, and a launcher started again would
    start a second set beside them.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process: its name, command line, stop group and what happened to it."""

    name: str
    argv: list[str]
    group: int  # stopped in ascending group order
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)
    backoff_s: float = 0.0


class Supervisor:
    """Start children, restart them with backoff, stop them group by group."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        stable_after_s: float = 60.0,
        stop_timeout_s: float = 30.0,
        start_gap_s: Callable[[Child], float] = lambda _child: 0.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.children = list(children)
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_after_s = stable_after_s
        self.stop_timeout_s = stop_timeout_s
        self.start_gap_s = start_gap_s
        self.env = env
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self.stopped_order: list[str] = []

    async def run(self) -> int:
        """Start the children in order, ``start_gap_s`` apart, and watch them until stopped; return a code."""
        watchers = []
        for child in self.children:
            if self.stopping.is_set():
                break
            await self._start(child)
            watchers.append(asyncio.create_task(self._watch(child), name=f"watch-{child.name}"))
            await self._sleep(self.start_gap_s(child))
        await self.stopping.wait()
        await self._stop_all()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        return self.exit_code

    def stop(self, reason: str = "requested") -> None:
        """Ask every child to stop, in group order (idempotent)."""
        if not self.stopping.is_set():
            log.info("launch: stopping every process (%s)", reason)
            self.stopping.set()

    def install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop on SIGTERM/SIGINT (children get their own SIGTERM from here, in order)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, signal.Signals(sig).name)

    async def _start(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(
            *child.argv,
            env=self.env,
            start_new_session=True,  # a Ctrl-C reaches the launcher only, which stops them in order
            preexec_fn=_die_with_parent,
        )
        child.starts += 1
        log.info("launch: %s started (pid %d): %s", child.name, child.process.pid, " ".join(child.argv[-6:]))

    async def _watch(self, child: Child) -> None:
        while not self.stopping.is_set():
            assert child.process is not None
            began = time.monotonic()
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            child.exits.append(code)
            if code == EXIT_USAGE:
                log.error("launch: %s exited 2 (a configuration or usage error): stopping", child.name)
                self.exit_code = EXIT_USAGE
                self.stop(f"{child.name} exited 2")
                return
            ran = time.monotonic() - began
            child.backoff_s = (
                self.first_backoff_s
                if ran >= self.stable_after_s or child.backoff_s == 0
                else min(child.backoff_s * 2, self.max_backoff_s)
            )
            log.warning(
                "launch: %s exited %d after %.1f s; starting it again in %.1f s",
                child.name,
                code,
                ran,
                child.backoff_s,
            )
            await self._sleep(child.backoff_s)
            if self.stopping.is_set():
                return
            await self._start(child)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _stop_all(self) -> None:
        for group in sorted({child.group for child in self.children}):
            members = [c for c in self.children if c.group == group and c.process is not None]
            for child in members:
                assert child.process is not None
                if child.process.returncode is None:
                    child.process.send_signal(signal.SIGTERM)
            for child in members:
                assert child.process is not None
                try:
                    await asyncio.wait_for(child.process.wait(), timeout=self.stop_timeout_s)
                except TimeoutError:
                    log.error("launch: %s did not stop within %g s: killed", child.name, self.stop_timeout_s)
                    child.process.kill()
                    await child.process.wait()
                self.stopped_order.append(child.name)
                log.info("launch: %s stopped (exit %s)", child.name, child.process.returncode)
