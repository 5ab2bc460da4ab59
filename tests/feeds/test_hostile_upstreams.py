"""Hostile or broken upstreams against the real pollers and streams: nothing stored, one clear log line.

Each case runs the feed built by ``build_feeds`` against the exchange emulator, with the row guard on the
test's clock as the app builds it. The bodies and frames injected are synthetic (a runaway body, 200,000
levels of nesting, a price x size that overflows, a point stamped 2099); the frames around them are the
captured ones of tests/feeds/test_faults_ws.py.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest

from detectors.market_history import MarketHistory
from feeds.guard import RowGuard
from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from storage.repo import Repo
from tests.emulators.exchanges import ExchangeEmulator
from tests.feeds.conftest import FAST, FeedFactory, ManualClock
from tests.feeds.helpers import ms as iso_ms
from tests.feeds.helpers import running, wait_for
from tests.feeds.test_faults_rest import CASES, IDS, Case
from tests.feeds.test_faults_ws import VENUES, Venue, push_and_store, stored

CAP_MIB = 0.25
YEAR_2099 = iso_ms("2099-06-01T00:00")


@pytest.fixture
def ingest(file_repo: Repo, clock: ManualClock, request: pytest.FixtureRequest) -> Ingest:
    """Return an Ingest whose row guard reads the test's clock (as the app builds it) for the streams.

    The REST cases keep the guard's number checks only: the unshifted emulator serves its OKX recording
    (October 2026) beside January's candles, which a guard on the January clock rightly refuses.
    """
    timed = "venue" in request.fixturenames
    return Ingest(file_repo, MarketHistory(), guard=RowGuard(clock if timed else None))


def _total_rows(ingest: Ingest) -> int:
    tables = ("candles", "liquidations", "funding", "open_interest", "fear_greed")
    return sum(int(ingest.repo.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in tables)


def _build(case: Case, build: FeedFactory, emu: ExchangeEmulator) -> Any:
    options = {k: dict(v) for k, v in case.options.items()}
    options.setdefault(case.timeout_section or case.feed, {})["timeout_seconds"] = 3.0
    feed = build(case.feed, symbols=["BTCUSDT"], also=case.also, limits={"max_body_mib": CAP_MIB}, **options)
    if case.geo_block:
        emu.set_geo_block(True)
    return feed


async def _refused_then_recovers(
    case: Case,
    feed: Any,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    *,
    kind: str,
    says: str,
) -> None:
    poller = case.poller(feed)
    with caplog.at_level(logging.WARNING):
        assert not await poller.run()
    health = registry.get(case.health)
    error = health.snapshot().last_error
    assert error is not None and error.startswith(f"{kind}:") and says in error, error
    assert health.consecutive_failures == 1  # counted in the feed's health
    assert case.stored(ingest) == 0
    lines = [r.getMessage() for r in caplog.records if says in r.getMessage()]
    assert len(lines) == 1, lines  # one clear line
    clock.advance(10)
    assert await poller.run(), health.snapshot().last_error
    assert health.state() is FeedState.OK and case.stored(ingest) > 0


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest, clock: ManualClock) -> Case:
    """Return one REST poller case at noon of the last recorded day (as in test_faults_rest)."""
    clock.ms = iso_ms("2026-01-20T12:00")
    param: Case = request.param
    return param


# --- REST bodies --------------------------------------------------------------------------------------------


async def test_a_body_over_the_cap_is_refused_by_its_content_length(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = _build(case, build, emu)
    emu.malformed(case.route, body=b"[" + b"0," * 200_000 + b"0]")  # 400 KB of valid JSON, synthetic
    await _refused_then_recovers(
        case, feed, ingest, registry, clock, caplog, kind="oversized", says="body refused"
    )


async def test_a_chunked_runaway_body_is_cut_off_at_the_cap(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = _build(case, build, emu)
    # 256 MiB with no Content-Length: read whole, it would take seconds and a quarter of a GiB.
    emu.flood(case.route, 256 * 1024 * 1024)
    await _refused_then_recovers(
        case, feed, ingest, registry, clock, caplog, kind="oversized", says="body refused"
    )
    assert any(r.fault == "flood" for r in emu.requests())


@pytest.mark.parametrize(
    ("depth", "says"), [(100_000, "depth limit exceeded"), (100, "nested deeper than 32")]
)
async def test_deep_nesting_is_refused_cleanly(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    depth: int,
    says: str,
) -> None:
    feed = _build(case, build, emu)
    emu.malformed(case.route, body="[" * depth + "]" * depth)
    await _refused_then_recovers(case, feed, ingest, registry, clock, caplog, kind="malformed", says=says)


# --- websocket frames ---------------------------------------------------------------------------------------


@pytest.fixture(params=VENUES, ids=[v.name for v in VENUES])
def venue(request: pytest.FixtureRequest) -> Venue:
    """Return one liquidation stream."""
    param: Venue = request.param
    return param


@pytest.mark.parametrize(
    ("depth", "says"), [(100_000, "depth limit exceeded"), (100, "nested deeper than 32")]
)
async def test_a_deeply_nested_frame_costs_that_frame_only(
    venue: Venue,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
    depth: int,
    says: str,
) -> None:
    stream = venue.build(build)
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        assert await emu.push_ws(venue.name, '{"data":' + "[" * depth + "]" * depth + "}") == 1
        await push_and_store(emu, venue, ingest)
    assert stream.connections == 1 and stream.reconnect_reasons == []
    assert stored(ingest, venue.source) == 1
    lines = [r.getMessage() for r in caplog.records if says in r.getMessage()]
    assert len(lines) == 1, lines


async def test_a_frame_over_the_size_limit_ends_that_connection_only(
    venue: Venue, emu: ExchangeEmulator, build: FeedFactory, ingest: Ingest
) -> None:
    stream = venue.build(build, tuning=dataclasses.replace(FAST, max_frame_bytes=64 * 1024))
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        assert await emu.push_ws(venue.name, '{"pad":"' + "x" * 200_000 + '"}') == 1
        await wait_for(lambda: stream.connections == 2, what="a reconnect")
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        await push_and_store(emu, venue, ingest)
    assert "frame refused, over 65,536 bytes" in stream.reconnect_reasons[0], stream.reconnect_reasons
    assert stored(ingest, venue.source) == 1


def _poisoned(venue: Venue, **fields: Any) -> dict[str, Any]:
    """Return the venue's captured frame with fields of its one event replaced (synthetic values)."""
    frame = venue.frame(False)
    if venue.name == "binance":
        frame["o"] |= fields.get("binance", {})
    elif venue.name == "bybit":
        frame["data"][0] |= fields.get("bybit", {})
    else:
        frame["data"][0]["details"][0] |= fields.get("okx", {})
    return frame


OVERFLOW = {
    "binance": {"ap": "1e300", "p": "1e300", "z": "1e10", "q": "1e10"},
    "bybit": {"p": "1e300", "v": "1e10"},
}
OVERFLOW["okx"] = {"bkPx": "1e305", "sz": "1e10"}  # times ctVal 0.01: 1e313


@pytest.mark.parametrize(
    ("poison", "says"),
    [
        (OVERFLOW, "usd=inf"),
        (
            {"binance": {"T": YEAR_2099}, "bybit": {"T": YEAR_2099}, "okx": {"ts": str(YEAR_2099)}},
            "in the future",
        ),
        (
            {
                "binance": {"T": iso_ms("2001-01-01T00:00")},
                "bybit": {"T": iso_ms("2001-01-01T00:00")},
                "okx": {"ts": str(iso_ms("2001-01-01T00:00"))},
            },
            "too old",
        ),
    ],
    ids=["inf-notional", "year-2099", "year-2001"],
)
async def test_a_poisoned_liquidation_is_refused_and_the_stream_goes_on(
    venue: Venue,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
    poison: dict[str, dict[str, Any]],
    says: str,
) -> None:
    stream = venue.build(build)
    async with running(stream):
        await emu.wait_ws(venue.name, subscribed=venue.subscribed)
        assert await emu.push_ws(venue.name, _poisoned(venue, **poison)) == 1
        await push_and_store(emu, venue, ingest)  # the next good event is stored
    assert stored(ingest, venue.source) == 1
    assert ingest.repo.conn.execute("SELECT MAX(usd), MAX(ts) FROM liquidations").fetchone()[0] < 1e9
    lines = [r.getMessage() for r in caplog.records if "ingest: refused" in r.getMessage()]
    assert len(lines) == 1 and says in lines[0], lines
    assert stream.connections == 1 and stream.reconnect_reasons == []
