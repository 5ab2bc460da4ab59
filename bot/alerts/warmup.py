"""Which history the loaded rules need, and which of them are still warming up.

A rule on an indicator does not fire before it has the closed candles its warm-up needs
(``DetectorSettings.history_needed``; the detectors enforce it). This module says, for the feeds, how many
closed candles of which interval each symbol's rules need (the spot feed fetches the intervals above its
own from the venue), and, for the commands, how far a rule is from warm: how many it has and needs, and
roughly when it will be warm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.alerts.rules import ActiveRule
from detectors.base import DetectorSettings
from detectors.market_history import MarketHistory, bucket_start
from storage.rows import INTERVAL_MS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WarmUp:
    """One interval a rule has too few closed candles of."""

    interval: str
    have: int
    need: int
    # When enough candles will have closed if no older history arrives (UTC ms): an upper bound.
    ready_at: int
    # The feed fetches this interval's history from the exchange: it should be warm within a poll or two.
    fetched: bool


def needed(settings: DetectorSettings) -> dict[str, int]:
    """Return a rule's {interval: closed candles needed}, empty when its detector fails to say."""
    try:
        wanted = settings.history_needed()
        return {str(k): int(v) for k, v in wanted.items() if k in INTERVAL_MS and int(v) > 0}
    except Exception:  # a plugin's bug must not stop the feeds or a command: the rule reads as warm
        log.exception("history_needed of %s failed", type(settings).__name__)
        return {}


def candle_needs(rules: Iterable[ActiveRule]) -> dict[str, dict[str, int]]:
    """Return symbol -> interval -> the most closed candles any of the rules on that symbol needs."""
    result: dict[str, dict[str, int]] = {}
    for rule in rules:
        for interval, count in needed(rule.detector.settings).items():
            per_symbol = result.setdefault(rule.detector.symbol, {})
            per_symbol[interval] = max(per_symbol.get(interval, 0), count)
    return result


def closed_count(history: MarketHistory, symbol: str, interval: str, now: int) -> int:
    """Return how many closed candles of ``interval`` a rule on ``symbol`` reads at ``now``.

    The series ``Snapshot.candles(interval)`` slices (the base one for a finer interval), counted by a
    bisect instead of building its candles: /status asks this of every rule.
    """
    series = history.ensure_aggregated(symbol, INTERVAL_MS[interval])
    return 0 if series is None else series.closed_until(now)


def warming(
    settings: DetectorSettings,
    history: MarketHistory,
    symbol: str,
    now: int,
    fetched: Callable[[str, int], bool] | None = None,
) -> tuple[WarmUp, ...]:
    """Return the intervals a rule on ``symbol`` has too few closed candles of at ``now`` (empty: warm).

    ``fetched(interval, need)`` says whether the feeds bring that much history of the interval from the
    exchange (None: they do not).
    """
    short: list[WarmUp] = []
    for interval, need in sorted(needed(settings).items(), key=lambda item: INTERVAL_MS[item[0]]):
        have = closed_count(history, symbol, interval, now)
        if have >= need:
            continue
        step = INTERVAL_MS[interval]
        # The forming candle closes at its bucket's end; each further missing one, an interval later.
        ready_at = bucket_start(now, step) + (need - have) * step
        short.append(WarmUp(interval, have, need, ready_at, fetched is not None and fetched(interval, need)))
    return tuple(short)
