"""Graceful shutdown: callbacks in reverse order within a deadline; real signals to a real process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bot.ops.shutdown import Shutdown, install_signal_handlers
from tests.conftest import ROOT

# --- the coordinator, in process ------------------------------------------------------------------


async def test_callbacks_run_in_reverse_order_once() -> None:
    order: list[str] = []
    shutdown = Shutdown(deadline_s=1.0)
    for name in ("database", "outbox", "feeds"):

        async def stop(name: str = name) -> None:
            order.append(name)

        shutdown.register(name, stop)
    assert not shutdown.requested
    report = await shutdown.run()
    assert order == ["feeds", "outbox", "database"]
    assert report.finished == order and report.clean
    assert shutdown.requested and shutdown.reason == "requested"
    assert await shutdown.run() is report and order == ["feeds", "outbox", "database"]


async def test_a_slow_or_failing_callback_is_reported_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    shutdown = Shutdown(deadline_s=0.1, late_slice_s=0.05)

    async def close_database() -> None:
        ran.append("database")

    async def flush_outbox() -> None:
        await asyncio.sleep(10)

    async def stop_feeds() -> None:
        raise RuntimeError("socket already closed")

    shutdown.register("database", close_database)
    shutdown.register("outbox", flush_outbox)
    shutdown.register("feeds", stop_feeds)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="bot.ops.shutdown"):
        report = await shutdown.run()
    assert time.monotonic() - started < 1.0
    assert (report.finished, report.timed_out, report.failed) == (["database"], ["outbox"], ["feeds"])
    assert not report.clean and ran == ["database"]
    assert "outbox did not finish within 0.1 s" in caplog.text
    assert "feeds failed" in caplog.text and "socket already closed" in caplog.text


async def test_request_is_idempotent_and_releases_waiters() -> None:
    shutdown = Shutdown()
    waiter = asyncio.create_task(shutdown.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    shutdown.request("SIGTERM")
    shutdown.request("SIGINT")
    await asyncio.wait_for(waiter, 1)
    assert shutdown.reason == "SIGTERM"


async def test_first_signal_on_the_loop_second_through_the_raw_handler() -> None:
    loop = asyncio.get_running_loop()
    firsts: list[int] = []
    seconds: list[int] = []
    got_first = asyncio.Event()

    def on_first(signum: int) -> None:
        firsts.append(signum)
        got_first.set()

    uninstall = install_signal_handlers(loop, on_first, seconds.append, signals=(signal.SIGUSR1,))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(got_first.wait(), 1)
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.01)  # Python runs the raw handler at the next bytecode boundary
    finally:
        uninstall()
    assert firsts == [signal.SIGUSR1] and seconds == [signal.SIGUSR1, signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


# --- a real process receiving real signals ----------------------------------------------------------


class Child:
    """A running tests.bot.shutdown_child process whose stdout is read line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bot.shutdown_child", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, line: str, timeout: float = 10.0) -> None:
        """Read stdout until ``line`` appears."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            assert time.monotonic() < deadline, f"no {line!r} in {self.lines}"
            got = self.proc.stdout.readline()
            assert got, f"child ended before printing {line!r}: {self.lines}"
            self.lines.append(got.rstrip("\n"))

    def finish(self, timeout: float = 10.0) -> tuple[int, str]:
        """Wait for the exit; return the exit status and stderr, keeping the rest of stdout."""
        out, err = self.proc.communicate(timeout=timeout)
        self.lines += out.splitlines()
        return self.proc.returncode, err


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.communicate()


def _start(children: list[Child], *args: str) -> Child:
    child = Child(*args)
    children.append(child)
    child.wait_for("ready")
    return child


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_one_signal_stops_gracefully_in_reverse_order(children: list[Child], sig: signal.Signals) -> None:
    child = _start(children, "quick")
    child.proc.send_signal(sig)
    code, err = child.finish()
    assert code == 0, err
    assert child.lines == [
        "ready",
        f"stopping on {sig.name}",
        "feeds stopped",
        "outbox flushing",
        "outbox flushed",
        "database closed",
        "timed out: -",
    ]
    assert "shutdown complete" in err


def test_a_hung_step_is_abandoned_at_the_deadline_and_the_database_still_closes(
    children: list[Child],
) -> None:
    child = _start(children, "hangs", "0.3")
    started = time.monotonic()
    child.proc.send_signal(signal.SIGTERM)
    code, err = child.finish()
    assert code == 1
    assert time.monotonic() - started < 5
    assert "outbox flushed" not in child.lines
    assert child.lines[-2:] == ["database closed", "timed out: outbox"]
    assert "outbox did not finish within" in err


@pytest.mark.parametrize("mode", ["hangs", "blocks"])
def test_a_second_signal_exits_at_once(children: list[Child], mode: str) -> None:
    child = _start(children, mode, "60")
    child.proc.send_signal(signal.SIGTERM)
    child.wait_for("outbox flushing")
    started = time.monotonic()
    child.proc.send_signal(signal.SIGTERM)
    code, err = child.finish(timeout=5)
    # Even with the event loop blocked by a synchronous call, the raw handler exits the process.
    assert time.monotonic() - started < 2
    assert code == 128 + signal.SIGTERM
    assert "second SIGTERM, exiting at once" in err
    assert "database closed" not in child.lines
