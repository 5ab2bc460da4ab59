"""Run one REST sync under the rules every poller shares: wait, back off, report health, never crash."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from feeds.backoff import Backoff
from feeds.base import NowMs
from feeds.errors import FeedError
from feeds.health import FeedHealth, Rejections
from feeds.logonce import FailureLog

log = logging.getLogger(__name__)

T = TypeVar("T")

# A sync fetches and ingests; it returns the newest data time it saw (for the feed's lag), or None.
Sync = Callable[[], Awaitable[int | None]]


class Poller:
    """One poll of one feed: skipped while a Retry-After or backoff wait runs, else sync and report.

    After a failure the next attempt waits for the longer of the venue's Retry-After and an exponential
    backoff, so a venue in trouble is asked less and less often (up to the backoff cap) instead of being
    hammered every interval; one success resets it.
    """

    def __init__(
        self,
        name: str,
        sync: Sync,
        health: FeedHealth,
        failures: FailureLog,
        now_ms: NowMs,
        backoff: Backoff,
    ) -> None:
        self.name = name
        self.sync = sync
        self.health = health
        self.failures = failures
        self.now_ms = now_ms
        self.backoff = backoff
        self.not_before = 0  # epoch ms
        self.runs = 0
        self.skips = 0

    async def run(self, sync: Sync | None = None) -> bool:
        """Poll once (with ``sync``, default the poller's own) unless told to wait; return True on success."""
        now = self.now_ms()
        if now < self.not_before:
            self.skips += 1
            return False
        self.runs += 1
        try:
            newest = await (sync or self.sync)()
        except asyncio.CancelledError:
            raise
        except FeedError as exc:
            if exc.kind == "geo_blocked":
                self._geo_blocked(exc)
            self._failed(str(exc), exc.retry_after)
            return False
        except Exception as exc:  # a bug or a payload nobody foresaw: report it, keep the loop alive
            self._failed(f"unexpected {type(exc).__name__}: {exc}", None, exc_info=exc)
            return False
        self.health.success(newest)
        self.backoff.reset()
        self.not_before = 0
        self.failures.success(self.name)
        return True

    def _geo_blocked(self, exc: FeedError) -> None:
        """Stand by (said once) when other feeds provide this one's kinds.

        Bybit and OKX serve funding and open interest when Binance futures answers 451. It keeps polling
        (backing off), and a success brings it back.
        """
        others = self.health.stand_by("HTTP 451 restricted location")
        if others:
            self.failures.once(
                f"{self.name}:451-standby",
                "%s: the venue refuses this location (HTTP 451); %s now from %s (standby until it answers)",
                self.name,
                ", ".join(sorted(self.health.kinds)),
                ", ".join(others),
            )

    def _failed(self, message: str, retry_after: float | None, exc_info: BaseException | None = None) -> None:
        self.health.failure(message)
        wait = max(retry_after or 0.0, self.backoff.next_delay())
        self.not_before = self.now_ms() + int(wait * 1000)
        level = logging.ERROR if exc_info is not None else logging.WARNING
        self.failures.failure(self.name, message, level=level, exc_info=exc_info)


async def each_symbol(
    symbols: Sequence[str],
    call: Callable[[str], Awaitable[T]],
    failures: FailureLog,
    key: str,
    rejections: Rejections | None = None,
    venue: str = "",
    *,
    concurrency: int = 1,
) -> list[T]:
    """Run ``call(symbol)`` per symbol, ``concurrency`` at a time; a symbol the venue rejects is skipped.

    A watched spot pair may have no perpetual on a venue; that is worth a log line (once per interval),
    not a dead feed. A symbol the venue says it does not list (``unknown_symbol``) is recorded in
    ``rejections`` under ``venue`` (reported once) and not asked again. Anything else (timeouts, 5xx,
    rate limits, garbage) fails the whole poll: the first such error is raised once the calls already
    under way have ended (the ones not started yet are not sent).

    Requests one at a time made a poll of 200 symbols at a 50 ms round trip last 10 s; a few in flight
    divide that while the venue's weight budget (``feeds.http.WeightBudget``) still bounds the rate.
    """
    found: dict[int, T] = {}
    fatal: list[FeedError] = []
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, symbol: str) -> None:
        if rejections is not None and rejections.refused(venue, symbol):
            return
        async with gate:
            if fatal:
                return  # the poll has already failed: send nothing more
            try:
                result = await call(symbol)
            except FeedError as exc:
                if exc.kind == "unknown_symbol" and rejections is not None:
                    rejections.reject(venue, symbol, exc.message)
                    return
                if exc.kind not in ("http", "api", "unknown_symbol"):
                    fatal.append(exc)
                    return
                failures.failure(f"{key}:{symbol}", str(exc))
                return
            found[index] = result
            failures.success(f"{key}:{symbol}")

    # The first symbol goes alone: a venue refusing everyone (HTTP 451, a ban) is learned from one request.
    first = 1 if concurrency > 1 else len(symbols)
    for index, symbol in enumerate(symbols[:first]):
        await one(index, symbol)
        if fatal:
            break
    if not fatal and first < len(symbols):
        await asyncio.gather(*(one(i, s) for i, s in enumerate(symbols) if i >= first))
    if fatal:
        raise fatal[0]
    return [found[i] for i in sorted(found)]
