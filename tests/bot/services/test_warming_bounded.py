"""A draft rule's warm-up is counted on what a bounded history would hold once the rule is loaded (issue 24).

The live bot's history keeps what the loaded rules read; ``/alert test`` asks how warm a rule that is not
loaded yet would be, so the count must not stop at what the history happens to hold for the others.
SYNTHETIC candles: 30 days of 1h and the last two hours of 1m for BTCUSDT.
"""

from __future__ import annotations

from bench.common import default_config
from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.services import Service
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo
from storage.rows import HOUR_MS, MINUTE_MS, Candle

NOW = 1_768_435_200_000  # 2026-01-15 00:00 UTC
RSI_1H = {"interval": "1h", "period": 100, "above": 70}  # 101 closed hours: more than the floor keeps


def warming(*, bounded: bool) -> tuple[object, ...]:
    """Return what an RSI(100) 1h draft misses of its warm-up on a history filled through Ingest."""
    repo = Repo(open_database(":memory:"))
    history = MarketHistory(bounded=bounded)
    ingest = Ingest(repo, history)
    minutes = [NOW - (120 - i) * MINUTE_MS for i in range(120)]
    ingest.candles([Candle("BTCUSDT", "1m", t, "synthetic", 100.0, 100.2, 99.8, 100.1, 1.0) for t in minutes])
    # The hours come after the base (a backfill of the interval): what no rule reads is pruned as they come.
    hours = [NOW - (720 - i) * HOUR_MS for i in range(720)]
    ingest.candles([Candle("BTCUSDT", "1h", t, "synthetic", 100.0, 101.0, 99.0, 100.5, 1.0) for t in hours])
    engine = Engine(repo, history, AlertRouter(repo, [], console=False, discord=True))
    engine.load()
    service = Service(repo, engine, default_config(), lambda: NOW, history=history)
    return service.warming_of("rsi", "BTCUSDT", RSI_1H, NOW)


def test_a_draft_on_a_bounded_history_is_as_warm_as_on_an_unbounded_one() -> None:
    assert warming(bounded=False) == ()
    assert warming(bounded=True) == ()
