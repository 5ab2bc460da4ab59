"""The engine over an etf_flow rule (and a dvol one) fed as the live bot is: rows stored through Ingest.

SYNTHETIC daily flows. The rule sleeps between days (its detector says nothing changes until new flow rows
come) and must wake for each new day, though a day's rows are the coin's, not the rule's market's.
"""

from __future__ import annotations

from bot.alerts.engine import Engine
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from storage.repo import Repo, RuleRow
from storage.rows import DAY_MS, HOUR_MS, EtfFlow, ImpliedVol
from tests.conftest import ConsoleRouter

MONDAY = 1_767_571_200_000  # 2026-01-05 00:00 UTC


def day(n: int, musd: float) -> EtfFlow:
    """Return the flow of the n-th day from MONDAY, read at the end of it."""
    ts = MONDAY + n * DAY_MS
    return EtfFlow("BTC", f"2026-01-{5 + n:02d}", ts, "sosovalue", musd * 1e6, None, None, None, ts + DAY_MS)


def titles(repo: Repo) -> list[str]:
    """Return the titles queued for delivery, oldest first."""
    return [row.payload["title"] for row in repo.due_outbox("console", 2**62)]


def engine_over(repo: Repo, rule: RuleRow) -> tuple[Ingest, Engine]:
    """Store ``rule`` and return an Ingest and a loaded Engine sharing one in-memory history."""
    history = MarketHistory()
    repo.save_rule(rule)
    engine = Engine(repo, history, ConsoleRouter())
    engine.load()
    return Ingest(repo, history), engine


def test_each_day_over_the_threshold_fires_once_and_a_sleeping_rule_wakes_for_the_next(repo: Repo) -> None:
    rule = RuleRow("etf", "config", "etf_flow", "BTCUSDT", {"above_usd": 5e8}, created_at=MONDAY)
    ingest, engine = engine_over(repo, rule)
    flows = [100.0, 646.0, 50.0, 700.0]
    for n, musd in enumerate(flows):
        ingest.etf_flows([day(n, musd)])  # read just after the day ended
        for hour in range(24):
            engine.evaluate(MONDAY + (n + 1) * DAY_MS + hour * HOUR_MS)
    assert titles(repo) == [
        "BTC ETFs: +$646.0M on 2026-01-06, second inflow day in a row",
        "BTC ETFs: +$700.0M on 2026-01-08, fourth inflow day in a row",
    ]
    assert repo.etf_flows("BTC")[-1].net_usd == 700e6  # stored with its source as the live feed does
    # A restart on the same database does not send the last day again.
    engine = Engine(repo, ingest.history, ConsoleRouter())
    engine.load()
    assert engine.evaluate(MONDAY + 4 * DAY_MS + 23 * HOUR_MS) == []
    assert len(titles(repo)) == 2


def test_a_sleeping_dvol_rule_wakes_for_new_dvol_rows_too(repo: Repo) -> None:
    """DVOL is the coin's like the ETF flows: its rows wake the rules of every market of that coin."""
    rule = RuleRow("dvol", "config", "dvol", "BTCUSDT", {"pct": 15}, created_at=MONDAY)
    ingest, engine = engine_over(repo, rule)
    for hour, close in enumerate([40.0] * 30 + [48.0]):
        at = MONDAY + hour * HOUR_MS
        ingest.implied_vol([ImpliedVol("BTC", at, "deribit", "1h", close, close, close, close)])
        # An hourly DVOL candle's close holds at the hour's end: evaluate just after it, as a live poll would.
        engine.evaluate(at + HOUR_MS + 60_000)
    assert titles(repo) == ["BTC implied volatility jumped: DVOL 40.0 → 48.0 (+20.0% in 24h)"]
