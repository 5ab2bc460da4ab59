"""Timelines built from stored rows (for backtests) match the ones the CSV loader builds."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bot.alerts.routing import AlertRouter
from bot.config import load_config
from bot.replay.pipeline import run_replay
from feeds.replay import RecordedData, load_file, parse_time, recorded_from_repo, store_recorded
from storage.db import open_database
from storage.repo import Repo
from storage.rows import Candle, Liquidation
from tests.conftest import DATA, ROOT

SCENARIO_START = parse_time("2026-01-01")


def bundled() -> RecordedData:
    data = RecordedData()
    for path in sorted(DATA.glob("*.csv")):
        if "news" not in path.name:
            load_file(path, data)
    return data


@pytest.fixture(scope="module")
def stored() -> Iterator[Repo]:
    db = open_database(":memory:")
    repo = Repo(db)
    store_recorded(repo, bundled())
    yield repo
    db.conn.close()


def alerts_of(data: RecordedData) -> list[tuple[object, ...]]:
    config = load_config(ROOT / "config.example.toml")
    db = open_database(":memory:")
    repo = Repo(db)
    asyncio.run(
        run_replay(
            config,
            data,
            repo,
            [],
            lambda r: AlertRouter(r, config.routes, console=False, discord=False),
            start=SCENARIO_START,
        )
    )
    events = repo.events(limit=1000, newest_first=False)
    db.conn.close()
    return [(e.rule_id, e.state, e.at, e.title, e.values) for e in events]


def test_candles_are_placed_at_the_same_availability_times(stored: Repo) -> None:
    from_csv = bundled()
    from_repo = recorded_from_repo(stored, ["BTCUSDT", "ETHUSDT"])

    def candles(data: RecordedData) -> dict[int, list[Candle]]:
        return {t: sorted(b.candles) for t, b in data.timeline() if b.candles}

    assert candles(from_repo) == candles(from_csv)
    assert set(from_repo.batches) == set(from_csv.batches)


def test_liquidation_buckets_become_available_at_the_end_of_their_hour(stored: Repo) -> None:
    hour = parse_time("2026-01-13T22:00Z")
    data = recorded_from_repo(stored, ["BTCUSDT"], hour, hour + 3_600_000)
    (available,) = [t for t, b in data.timeline() if b.liquidation_buckets]
    assert available == hour + 3_600_000
    shorts = [b for b in data.batches[available].liquidation_buckets if b.side == "short"]
    assert len(shorts) == 1 and shorts[0].ts == hour
    assert shorts[0].usd == pytest.approx(109_000_000, rel=0.01)


def test_single_liquidations_are_available_at_their_own_time(repo: Repo) -> None:
    event = Liquidation("BTCUSDT", parse_time("2026-01-13T22:17Z"), "binance", "short", 95100.0, 0.5, 47550.0)
    repo.insert_liquidations([event])
    data = recorded_from_repo(repo, ["BTCUSDT"])
    assert data.batches[event.ts].liquidations == [event]


def test_a_candle_still_forming_is_left_out(repo: Repo) -> None:
    t = parse_time("2026-01-13T22:00Z")
    repo.upsert_candles(
        [
            Candle("BTCUSDT", "1m", t, "binance", 1, 2, 0.5, 1.5, 10.0, None, True),
            Candle("BTCUSDT", "1m", t + 60_000, "binance", 1.5, 2, 1, 1.8, 3.0, None, False),
        ]
    )
    data = recorded_from_repo(repo, ["BTCUSDT"])
    assert [c.open_time for b in data.batches.values() for c in b.candles] == [t]
    assert list(data.batches) == [t + 60_000]


def test_replaying_from_the_repo_gives_the_same_alerts_as_replaying_the_csvs(stored: Repo) -> None:
    from_csv = alerts_of(bundled())
    fired = [a[0] for a in from_csv if a[1] == "firing"]
    assert fired.count("btc-95k") == 1 and fired.count("btc-95k-daily-close") == 1
    assert alerts_of(recorded_from_repo(stored, ["BTCUSDT", "ETHUSDT"])) == from_csv
