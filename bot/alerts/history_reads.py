"""Tell the in-memory history what each loaded rule reads, so it keeps that and no more (issue 24).

The engine calls ``require`` when it builds a rule and ``release`` when the rule goes; the history
(``MarketHistory.require``) keeps each series as far back as its symbols' rules read, and reads older rows
back from the database when a new rule reads further.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from detectors.base import MARKET_SYMBOL, Detector
from detectors.market_history import MarketHistory
from detectors.read_bounds import EVERY_SYMBOL

log = logging.getLogger(__name__)


def reads_of(detector: Detector) -> Mapping[str, int] | None:
    """Return what a rule's detector says it reads (None: it does not say, or saying failed)."""
    try:
        return detector.settings.history_reads()
    except Exception:  # a plugin's bug must not stop its rule: it keeps everything instead
        log.exception("history_reads of %s failed", type(detector.settings).__name__)
        return None


def require(history: MarketHistory, rule_id: str, detector: Detector) -> None:
    """Keep what ``detector`` (a loaded rule's) reads of its symbol and peers."""
    if not history.bounded:
        return
    if detector.reads_every_symbol():
        symbols: tuple[str, ...] = (EVERY_SYMBOL,)
    else:
        symbols = (detector.symbol, *detector.peer_symbols())
    history.require(rule_id, [s for s in symbols if s != MARKET_SYMBOL], reads_of(detector))
