"""Readiness checks: small callables the composition root hands to the web server's ``/readyz``.

A check answers one question (can the database be read, is any feed current, is Discord connected) with
a ``CheckResult``. Checks may be plain or async; ``run_checks`` runs them side by side, and turns an
exception or a check that hangs into a failed result instead of a failed request.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.ops.instruments import FeedHealthView

DEFAULT_TIMEOUT_S = 2.0
WRITES_STUCK_AFTER_S = 30.0  # a write lock held longer than this by someone else is not a hiccup


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The answer of one check; ``detail`` is shown in the ``/readyz`` JSON."""

    ok: bool
    detail: str = ""


Check = Callable[[], CheckResult | Awaitable[CheckResult]]


async def _run_one(check: Check, timeout_s: float) -> CheckResult:
    try:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, timeout_s)
        return outcome
    except TimeoutError:
        return CheckResult(False, f"no answer within {timeout_s:g} s")
    except Exception as exc:
        return CheckResult(False, f"{type(exc).__name__}: {exc}")


async def run_checks(
    checks: Mapping[str, Check], timeout_s: float = DEFAULT_TIMEOUT_S
) -> dict[str, CheckResult]:
    """Run every check concurrently and return their results by name."""
    names = list(checks)
    results = await asyncio.gather(*(_run_one(checks[name], timeout_s) for name in names))
    return dict(zip(names, results, strict=True))


def database_check(ping: Callable[[], object], file_problem: Callable[[], str | None] | None = None) -> Check:
    """Return a check that passes when ``ping()`` reads the database and its file is still the one opened.

    A deleted database stays readable through the open descriptor, so reading alone says "ready" while
    every write is lost at the next start; ``file_problem`` (``Repo.file_problem``) compares the file's
    device and inode with those at open.
    """

    def check() -> CheckResult:
        ping()
        problem = file_problem() if file_problem is not None else None
        if problem is not None:
            return CheckResult(False, problem)
        return CheckResult(True, "readable")

    return check


def writes_check(blocked_for: Callable[[], float], stuck_after_s: float = WRITES_STUCK_AFTER_S) -> Check:
    """Return a check that says writes wait for another connection's lock, failing once that lasts long.

    A short wait is normal (a ``tripwire db prune`` chunk); the bot keeps answering and the writes are
    applied when the lock is free. A wait past ``stuck_after_s`` means something holds the database:
    not ready, so an orchestrator or the operator looks.
    """

    def check() -> CheckResult:
        waited = blocked_for()
        if waited <= 0:
            return CheckResult(True, "writable")
        detail = f"degraded: writes waiting {waited:.1f} s for another connection's lock"
        return CheckResult(waited < stuck_after_s, detail)

    return check


def feeds_check(snapshots: Callable[[], Iterable[FeedHealthView]]) -> Check:
    """Return a check that fails only when every active feed is stale (one current feed still alerts)."""

    def check() -> CheckResult:
        active = [f for f in snapshots() if getattr(f, "active", True)]
        if not active:
            return CheckResult(True, "no feeds configured")
        stale = sorted(f.name for f in active if str(f.state) == "stale")
        current = len(active) - len(stale)
        detail = f"{current} of {len(active)} feeds current"
        if stale:
            detail += f"; stale: {', '.join(stale)}"
        return CheckResult(current > 0, detail)

    return check


def discord_check(connected: Callable[[], bool]) -> Check:
    """Return a check that passes while the Discord gateway connection is up."""

    def check() -> CheckResult:
        return CheckResult(True, "connected") if connected() else CheckResult(False, "not connected")

    return check
