"""The ETF flow feed against the SoSoValue emulator, and its strict parser on changed formats."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from feeds.errors import FeedError, PayloadError
from feeds.etf_flows import EtfFlowFeed, parse_inflow_chart
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.scheduler import build_feeds
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.etf import API_KEY, KEY_HEADER, PATH
from tests.feeds.conftest import FAST, FeedFactory, ManualClock
from tests.feeds.helpers import emulator_feeds_config

DOCS = {
    "code": 0,
    "msg": None,
    "data": {
        "list": [
            {
                "date": "2024-04-12",
                "totalNetInflow": -55066297.0,
                "totalValueTraded": 4706120449.0,
                "totalNetAssets": 56216535367.0,
                "cumNetInflow": 13534833596.095,
            }
        ]
    },
}
READ_AT = 1_768_000_000_000


def changed(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Return the docs' answer with one day edited."""
    payload = copy.deepcopy(DOCS)
    edit(payload["data"]["list"][0])
    return payload


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (changed(lambda d: d.pop("totalNetInflow")), "no totalNetInflow"),
        (changed(lambda d: d.update(netInflow=d.pop("totalNetInflow"))), "no totalNetInflow"),
        (changed(lambda d: d.update(totalNetInflow="-55066297")), "str '-55066297', not a number"),
        (changed(lambda d: d.update(totalNetInflow="n/a")), "not a number"),
        (changed(lambda d: d.update(totalNetInflow=None)), "NoneType"),
        (changed(lambda d: d.update(totalNetInflow=True)), "bool"),
        (changed(lambda d: d.update(totalNetAssets=float("inf"))), "not a finite dollar amount"),
        (changed(lambda d: d.update(date="12/04/2024")), "not YYYY-MM-DD"),
        (changed(lambda d: d.update(date="2024-02-30")), "not a calendar date"),
        (changed(lambda d: d.update(date=1712880000000)), "not YYYY-MM-DD"),
        ({"code": 0, "msg": None, "data": {"items": []}}, "neither a list of days"),
        ({"code": 0, "msg": None, "data": {"list": [], "page": 1}}, "neither a list of days"),
        ({"data": []}, "envelope"),
        ("<html>SoSoValue</html>", "envelope"),
    ],
)
def test_a_changed_format_is_refused_whole(payload: Any, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_inflow_chart(payload, "BTC", READ_AT)


def test_one_bad_day_refuses_the_good_ones_too() -> None:
    """Nothing is stored from an answer with one bad day: a half-read answer would be a guess."""
    payload = copy.deepcopy(DOCS)
    payload["data"]["list"].append({**payload["data"]["list"][0], "date": "2024-04-11", "cumNetInflow": "x"})
    with pytest.raises(PayloadError, match="day 1: cumNetInflow"):
        parse_inflow_chart(payload, "BTC", READ_AT)


def test_a_repeated_or_future_day_is_refused() -> None:
    payload = copy.deepcopy(DOCS)
    payload["data"]["list"] *= 2
    with pytest.raises(PayloadError, match="2024-04-12 is given twice"):
        parse_inflow_chart(payload, "BTC", READ_AT)
    with pytest.raises(PayloadError, match="after the time it was read"):
        parse_inflow_chart(DOCS, "BTC", 1_712_880_000_000 - 1)


def test_a_failure_code_is_an_api_error_and_nulls_are_kept_as_absent() -> None:
    with pytest.raises(FeedError) as info:
        parse_inflow_chart({"code": 1, "msg": "invalid type", "data": None}, "ETH", READ_AT)
    assert info.value.kind == "api" and "invalid type" in str(info.value)
    (row,) = parse_inflow_chart(changed(lambda d: d.update(totalNetAssets=None)), "BTC", READ_AT)
    assert row.net_assets_usd is None and row.net_usd == -55066297.0 and row.fetched_at == READ_AT


@pytest.fixture
def build_etf(build: FeedFactory) -> Callable[..., EtfFlowFeed]:
    """Build the ETF feed as the FeedManager does, with a key, pointed at the emulator."""

    def make(key: str | None = API_KEY, **options: Any) -> EtfFlowFeed:
        feed = build("etf", symbols=("BTCUSDT",), etf=options, etf_api_key=key)
        assert isinstance(feed, EtfFlowFeed)
        return feed

    return make


async def test_feed_stores_both_assets_with_their_source(
    build_etf: Callable[..., EtfFlowFeed], ingest: Ingest, registry: HealthRegistry, clock: ManualClock
) -> None:
    feed = build_etf()
    await feed.backfill()
    btc, eth = ingest.repo.etf_flows("BTC"), ingest.repo.etf_flows("ETH")
    assert [(r.date, r.net_usd) for r in btc] == [("2024-04-11", 91269283.0), ("2024-04-12", -55066297.0)]
    assert [r.date for r in eth] == ["2026-01-12", "2026-01-13", "2026-01-14"]
    assert {(r.source, r.fetched_at) for r in btc + eth} == {("sosovalue", clock())}
    for name in ("etf.btc", "etf.eth"):
        # Polled without error; the docs' 2024 days are old, so BTC's newest day says "stale", as it should.
        assert registry.get(name).consecutive_failures == 0 and registry.get(name).last_error is None
    assert registry.get("etf.btc").state() is FeedState.STALE
    # The in-memory history has them too, keyed by asset: an ETHUSDT rule reads ETH's flows.
    assert [p.date for p in ingest.history.view("ETHUSDT", clock()).etf_flows()] == [r.date for r in eth]


async def test_the_key_travels_in_its_header_only(
    build_etf: Callable[..., EtfFlowFeed], emu: ExchangeEmulator
) -> None:
    await build_etf().backfill()
    (first, *_) = emu.log.matching(PATH)
    assert {k.lower(): v for k, v in first.headers.items()}[KEY_HEADER] == API_KEY
    assert first.status == 200 and API_KEY not in json.dumps(first.to_json())


async def test_a_wrong_key_is_refused_loudly_and_nothing_is_stored(
    build_etf: Callable[..., EtfFlowFeed], ingest: Ingest, registry: HealthRegistry, caplog: Any
) -> None:
    feed = build_etf(key="not-the-key")
    await feed.backfill()
    health = registry.get("etf.btc")
    assert health.state() is not FeedState.OK
    assert health.last_error is not None and "HTTP 401" in health.last_error
    assert "AUTH_REQUIRED" in health.last_error or "invalid API key" in health.last_error
    assert ingest.repo.etf_flows("BTC") == []
    assert "not-the-key" not in caplog.text


async def test_a_changed_format_from_the_venue_shows_in_health_and_stores_nothing(
    build_etf: Callable[..., EtfFlowFeed], emu: ExchangeEmulator, ingest: Ingest, registry: HealthRegistry
) -> None:
    emu.etf.answers["us-btc-spot"] = changed(lambda d: d.update(netFlow=d.pop("totalNetInflow")))
    feed = build_etf()
    await feed.backfill()
    assert "no totalNetInflow" in (registry.get("etf.btc").last_error or "")
    assert ingest.repo.etf_flows("BTC") == []
    # One asset's bad answer does not stop the other's.
    assert len(ingest.repo.etf_flows("ETH")) == 3
    assert registry.get("etf.eth").consecutive_failures == 0


def test_the_feed_refuses_to_start_without_a_key(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock
) -> None:
    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"etf"})
    with pytest.raises(ValueError, match="TRIPWIRE_ETF_API_KEY"):
        build_feeds(config, ["BTCUSDT"], ingest, None, clock, HealthRegistry(clock), None, FAST)  # type: ignore[arg-type]


def test_off_by_default() -> None:
    from feeds.config import FeedsConfig

    assert FeedsConfig().etf.enabled is False


async def test_the_feed_manager_passes_the_key_and_stores_both_assets(
    emu: ExchangeEmulator, ingest: Ingest, clock: ManualClock
) -> None:
    from feeds.scheduler import FeedManager

    config = emulator_feeds_config(emu.base_url, emu.ws_url, only={"etf"})
    manager = FeedManager(
        config, ["BTCUSDT", "ETHUSDT"], ingest, None, clock, tuning=FAST, etf_api_key=API_KEY
    )
    await manager.start()  # the backfill reads both assets before start returns
    try:
        assert {r.asset for r in ingest.repo.etf_flows("BTC") + ingest.repo.etf_flows("ETH")} == {
            "BTC",
            "ETH",
        }
        jobs = {job.id for job in manager.scheduler.get_jobs()}  # type: ignore[union-attr]
        assert {"etf.btc", "etf.eth"} <= jobs
    finally:
        await manager.stop()
