"""A rule made active in a later loading batch answers its own symbol's new data at once.

The candles here are SYNTHETIC (flat at 100, then one forming candle to 110). Loaded a batch at a time,
a rule appended after the first batch used to be missing from the per-symbol index the data-driven
evaluation reads, so a live crossing waited for the next evaluation of every rule (15 s in the app).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.common import default_config
from bot.alerts.engine import make_engine
from bot.alerts.routing import AlertRouter
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import Candle

NOW = 1_796_479_620_000  # a minute boundary
SYMBOLS = [f"S{i:02d}USDT" for i in range(12)]


def test_a_rule_of_the_last_batch_fires_on_its_symbols_forming_candle(tmp_path: Path) -> None:
    repo = Repo(open_database(tmp_path / "rules.db"))
    for symbol in SYMBOLS:
        settings = {"level": 105.0, "direction": "up", "use_wicks": True}
        repo.save_rule(
            RuleRow(f"r-{symbol.lower()}", "config", "level_cross", symbol, settings, created_at=NOW)
        )
    history = MarketHistory()
    ingest = Ingest(repo, history)
    for symbol in SYMBOLS:
        ingest.candles([Candle(symbol, "1m", NOW - i * 60_000, "binance", 100, 101, 99, 100, 1, 100, True)
                        for i in range(5, 0, -1)])  # fmt: skip
        ingest.candles([Candle(symbol, "1m", NOW, "binance", 100, 101, 99, 100, 1, 100, False)])
    engine = make_engine(
        default_config().engine, repo, history, AlertRouter(repo, [], console=True, discord=False)
    )

    async def evaluate() -> None:
        engine.evaluate(NOW + 5_000, None)

    assert asyncio.run(engine.load_gradually(evaluate, budget_s=0.0, page=5)) == len(SYMBOLS)
    last = SYMBOLS[-1]
    ingest.candles([Candle(last, "1m", NOW, "binance", 100, 110, 99, 110, 1, 100, False)])
    (event,) = engine.evaluate(NOW + 9_000, {last})
    assert (event.rule_id, event.state) == (f"r-{last.lower()}", "firing")
    repo.close()
