"""Play recorded data through the live pipeline (ingest → history → detectors → engine → outbox → sinks).

Nothing here is replay-specific but the clock and the door rows come in by: at the time each would have
become known, a row goes through the same guard into the same in-memory history the live feeds fill (by
``bot.replay.feed.ReplayFeed``, which stores the rows in one batch per chunk), the engine evaluates at
each of those times, and the outbox is delivered by the same dispatcher and sinks. Work is committed in
chunks; the engine's per-rule ``evaluated_at`` is committed with each chunk (and the chunk's rows with it),
so a replay killed and restarted on the same database skips what it had already committed and neither
repeats nor loses an alert.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from bot.alerts.engine import Engine, make_engine
from bot.alerts.model import Router
from bot.alerts.rules import sync_config_rules
from bot.config import Config
from bot.notify.outbox import OutboxDispatcher, Sink
from bot.replay.feed import ReplayFeed
from detectors.market_history import MarketHistory
from feeds.replay import Timeline
from storage.repo import Repo
from storage.rows import HOUR_MS

log = logging.getLogger(__name__)

# Commit and deliver at least this often (wall-clock seconds): keeps output flowing on long replays while
# amortising transaction cost over many ticks.
COMMIT_EVERY_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What a replay did."""

    rows: int
    ticks: int
    evaluated_ticks: int
    fired: int
    resolved: int
    delivered: int
    # Of ``fired``: alerts a silence kept from being sent. Of ``resolved``: ends announced by a notice.
    silenced: int
    ends_announced: int
    seconds: float
    first: int | None
    last: int | None
    # When this database had already been played up to a later time than the start: ticks up to here
    # were not evaluated again (an interrupted replay resuming, or a database a live bot has used).
    resumed_after: int | None = None


class SimulatedClock:
    """A clock the replay moves forward; everything downstream reads time from it."""

    def __init__(self, start: int) -> None:
        self.now = start

    def __call__(self) -> int:
        """Return the simulated time now (UTC ms)."""
        return self.now


class ProgressBar:
    """A one-line progress bar on a terminal stream, drawn at most ten times a second."""

    def __init__(self, stream: TextIO, total: int, enabled: bool) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, label: str) -> None:
        """Redraw the bar if enough time has passed."""
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = int(width * done / self.total)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done / self.total:5.1f}% {label}"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar."""
        if self._drawn:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


async def run_replay(
    config: Config,
    data: Timeline,
    repo: Repo,
    sinks: Sequence[Sink],
    router_factory: Callable[[Repo], Router],
    *,
    start: int | None = None,
    end: int | None = None,
    progress: TextIO | None = None,
    clock: SimulatedClock | None = None,
    pace: float = 0.0,
    on_engine: Callable[[Engine], None] | None = None,
) -> ReplaySummary:
    """Replay ``data`` from ``start`` to ``end`` (UTC ms) and return a summary.

    Rows available before ``start`` are ingested as history without evaluating rules (warm-up). Pass
    ``clock`` to share the simulated clock with sinks built beforehand (the Discord sink's grouping
    windows and cap are in simulated time too). With ``pace`` the replay waits that many wall-clock
    seconds per simulated hour between the ticks it has not evaluated before, committing each tick on its
    own (a restarted replay runs through what it had already done at full speed). ``on_engine`` is given
    the engine once it is loaded (for sinks that switch rules off when their channel breaks).
    """
    began = time.monotonic()
    timeline = data.timeline()
    # Cut only a timeline that goes past the end: a backtest's StoredTimeline builds each instant's batch
    # when it is read, and a list of them all would undo what it saves.
    if end is not None and timeline and timeline[-1][0] > end:
        timeline = [(t, b) for t, b in timeline if t <= end]
    first_tick = start if start is not None else (timeline[0][0] if timeline else 0)
    # Where an interrupted run of this replay on the same database had got to.
    resumed_at = max((at for _, at in repo.all_detector_states().values()), default=first_tick)
    clock = clock if clock is not None else SimulatedClock(first_tick)
    clock.now = max(first_tick, resumed_at)
    history = MarketHistory()
    feed = ReplayFeed(repo, history)
    sync_config_rules(repo, config, first_tick)
    engine = make_engine(
        config.engine,
        repo,
        history,
        router_factory(repo),
        report_before_creation=True,
        retention=config.storage.retention,
    )
    engine.load()
    if on_engine is not None:
        on_engine(engine)
    dispatcher = OutboxDispatcher(repo, sinks, clock)
    # Deliver whatever a previous, interrupted run of this replay had queued but not sent.
    await dispatcher.run_once()
    bar = ProgressBar(progress or sys.stderr, len(timeline), enabled=progress is not None)
    rows = evaluated = 0
    last_commit = time.monotonic()
    index = 0
    count = len(timeline)
    previous: int | None = None
    # Bound once: the inner loop runs once per instant (1.5M in a year's replay, bench.replay).
    take, evaluate, monotonic = feed.take, engine.evaluate, time.monotonic
    while index < count:
        tick = timeline[index][0]
        if pace > 0 and previous is not None and tick >= first_tick and tick > resumed_at:
            await asyncio.sleep(min(pace * 24, pace * (tick - previous) / HOUR_MS))
        with repo.transaction():
            while index < count:
                tick, batch = timeline[index]
                index += 1
                previous = tick
                clock.now = tick
                rows += take(batch)
                if tick >= first_tick:
                    recorded = evaluate(tick, flush=False)
                    evaluated += 1
                    if recorded or (pace > 0 and tick > resumed_at):
                        break  # commit now so the alert is delivered promptly (or the pace is kept)
                # The wall clock read every 32 instants, not at each: a chunk's length only has to be
                # about COMMIT_EVERY_SECONDS.
                if not index & 31 and monotonic() - last_commit >= COMMIT_EVERY_SECONDS:
                    break
            feed.store()
            engine.flush()
        last_commit = time.monotonic()
        await dispatcher.run_once()
        bar.update(index, _label(clock.now))
    await _drain(dispatcher, clock)
    bar.close()
    return ReplaySummary(
        rows=rows,
        ticks=len(timeline),
        evaluated_ticks=evaluated,
        fired=engine.fired,
        resolved=engine.resolved,
        delivered=dispatcher.delivered,
        silenced=engine.silenced,
        ends_announced=engine.ends_announced,
        seconds=time.monotonic() - began,
        first=timeline[0][0] if timeline else None,
        last=timeline[-1][0] if timeline else None,
        resumed_after=resumed_at if resumed_at > first_tick else None,
    )


async def _drain(dispatcher: OutboxDispatcher, clock: SimulatedClock) -> None:
    """Deliver what is still queued at the end, letting simulated time pass for retries."""
    for _ in range(64):
        next_due = dispatcher.repo.next_outbox_due()
        if next_due is None:
            return
        clock.now = max(clock.now, next_due)
        await dispatcher.run_once()
    log.warning("replay ended with %d alerts still undelivered", dispatcher.repo.outbox_depth())


def _label(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))
