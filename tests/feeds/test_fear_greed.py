"""alternative.me Fear & Greed: strings parsed, published labels kept, backfill then daily polls."""

from __future__ import annotations

import pytest

from feeds.errors import FeedError
from feeds.fear_greed import FearGreedFeed, parse_fng
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from tests.conftest import DATA
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FeedFactory, ManualClock
from tests.feeds.helpers import csv_rows, ms

LABELLED = DATA / "alternative_me_fear_greed_2025-12-01_2026-01-20.csv"


def _payload_from_csv() -> dict[str, object]:
    """Rebuild the API's shape (strings, newest first) from the recorded daily values and labels."""
    rows = csv_rows(LABELLED)
    data = [
        {
            "value": r["value"],
            "value_classification": r["classification"],
            "timestamp": str(ms(r["date"]) // 1000),
        }
        for r in reversed(rows)
    ]
    return {"name": "Fear and Greed Index", "data": data, "metadata": {"error": None}}


def test_reference_example_keeps_the_published_labels() -> None:
    # The example in the exchange reference, captured from the real API: 46 is Fear, 47 Neutral.
    payload = {
        "name": "Fear and Greed Index",
        "data": [
            {
                "value": "47",
                "value_classification": "Neutral",
                "timestamp": "1778112000",
                "time_until_update": "30392",
            },
            {"value": "46", "value_classification": "Fear", "timestamp": "1778025600"},
        ],
        "metadata": {"error": None},
    }
    parsed = parse_fng(payload)
    assert [(r.date, r.value, r.classification) for r in parsed.rows] == [
        ("2026-05-06", 46, "Fear"),
        ("2026-05-07", 47, "Neutral"),
    ]
    assert parsed.rows[1].ts == 1778112000000 and parsed.rows[1].source == "alternative.me"


def test_recorded_january_values() -> None:
    parsed = parse_fng(_payload_from_csv())
    by_date = {r.date: (r.value, r.classification) for r in parsed.rows}
    assert len(parsed.rows) == 51 and parsed.skipped == []
    assert by_date["2026-01-13"] == (26, "Fear")
    assert by_date["2026-01-15"] == (61, "Greed")  # the jump after the squeeze, dated by publication day


def test_bad_days_are_skipped_and_api_errors_raised() -> None:
    payload = _payload_from_csv()
    data = payload["data"]
    assert isinstance(data, list)
    data[0] = {**data[0], "value": "101"}
    data[1] = {**data[1], "timestamp": None}
    data[2] = {**data[2], "value": 50}  # a number where the API sends a string
    parsed = parse_fng(payload)
    assert len(parsed.rows) == 48 and len(parsed.skipped) == 3
    with pytest.raises(FeedError) as info:
        parse_fng({"name": "x", "data": [], "metadata": {"error": "Invalid limit"}})
    assert info.value.kind == "api"


async def test_first_start_backfills_then_polls_ask_only_for_recent_days(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: FearGreedFeed = build("fear_greed")
    await feed.backfill()
    rows = ingest.repo.fear_greed()
    assert len(rows) == 60 and rows[-1].date == "2026-01-20"
    by_date = {r.date: (r.value, r.classification) for r in rows}
    assert by_date["2026-01-15"] == (61, "Greed") and by_date["2026-01-14"] == (48, "Neutral")
    assert emu.requests("/fng/")[0].query == {"limit": "60", "format": "json"}
    clock.advance(3600)  # 2026-01-21 has begun: its value may be out, so ask for it and the day before
    assert await feed.poller.run()
    assert emu.requests("/fng/")[-1].query["limit"] == "3"
    snap = registry.get("fear_greed").snapshot()
    assert snap.state is FeedState.OK and snap.lag_ms == clock() - ms("2026-01-20T00:00")


async def test_restart_after_days_down_asks_for_the_missing_days(
    emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest, clock: ManualClock
) -> None:
    feed: FearGreedFeed = build("fear_greed")
    clock.ms = ms("2026-01-10T12:00")
    await feed.backfill()
    assert ingest.repo.latest_fear_greed().date == "2026-01-10"  # type: ignore[union-attr]
    clock.ms = ms("2026-01-20T12:00")
    await feed.backfill()
    assert emu.requests("/fng/")[-1].query["limit"] == "12"
    dates = [r.date for r in ingest.repo.fear_greed()]
    assert dates[-11:] == [f"2026-01-{d:02d}" for d in range(10, 21)]


async def test_a_stalled_index_turns_stale(
    emu: ExchangeEmulator, build: FeedFactory, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed: FearGreedFeed = build("fear_greed")
    await feed.backfill()
    clock.advance(3 * 86400)  # the API keeps answering, but with the same old day
    assert await feed.poller.run()
    assert registry.get("fear_greed").state() is FeedState.STALE
    assert "fear_greed" in registry.stale_kinds("MARKET")
