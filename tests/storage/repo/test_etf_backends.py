"""ETF flow days on both backends: a day read again replaces its row and keeps the time of that reading.

SYNTHETIC values: the rows only need the shapes the table stores.
"""

from __future__ import annotations

from storage.repo import Repo
from storage.rows import DAY_MS, EtfFlow

DAY = 1_768_262_400_000  # 2026-01-13 00:00 UTC


def test_etf_days_upsert_and_read_back_alike(repo: Repo) -> None:
    first = EtfFlow("BTC", "2026-01-13", DAY, "sosovalue", 640e6, 2.5e9, 1.2e11, 5.7e10, DAY + DAY_MS)
    repo.upsert_etf_flows(
        [
            first,
            EtfFlow("BTC", "2026-01-12", DAY - DAY_MS, "sosovalue", -20e6, None, None, None, DAY),
            EtfFlow("ETH", "2026-01-13", DAY, "sosovalue", 130e6, None, None, None, DAY + DAY_MS),
        ]
    )
    revised = first._replace(net_usd=646e6, fetched_at=DAY + 2 * DAY_MS)  # the source revised the day
    repo.upsert_etf_flows([revised])
    assert repo.etf_flows("BTC") == [
        EtfFlow("BTC", "2026-01-12", DAY - DAY_MS, "sosovalue", -20e6, None, None, None, DAY),
        revised,
    ]
    assert repo.latest_etf_flow("BTC") == revised
    older = repo.latest_etf_flow("BTC", before=DAY)
    assert older is not None and older.date == "2026-01-12"
    assert [r.asset for r in repo.etf_flows("ETH", DAY, DAY + 1)] == ["ETH"]
    assert repo.latest_etf_flow("SOL") is None
