"""Every REST fault class against every REST poller: classified, reported, waited out, recovered.

Each case is a real poller built by ``build_feeds`` against the emulator; the fault is injected on the
route it uses. Every test checks the health state the fault leads to and that the next allowed poll
recovers (``ok``, data stored). Time is the manual clock, so backoff and Retry-After waits cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from feeds.health import FeedState, HealthRegistry
from feeds.ingest import Ingest
from feeds.poller import Poller
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.binance import WeightLimiter
from tests.feeds.conftest import EmulatorFactory, FeedFactory, ManualClock
from tests.feeds.helpers import ms


def _count(table: str, where: str = "1") -> Callable[[Ingest], int]:
    def count(ingest: Ingest) -> int:
        return int(ingest.repo.conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()[0])

    return count


@dataclass(frozen=True)
class Case:
    """One REST poller: how to build it, which route it calls, where its rows land."""

    id: str
    feed: str
    route: str
    health: str
    stored: Callable[[Ingest], int]
    poller: Callable[[Any], Poller] = lambda feed: feed.poller
    options: dict[str, Any] = field(default_factory=dict)
    also: tuple[str, ...] = ()
    geo_block: bool = False  # for the spot fallbacks: Binance answers 451 first
    timeout_section: str = ""

    def build(self, build: FeedFactory, emu: ExchangeEmulator, timeout: float = 3.0) -> Any:
        """Build the feed (a timeout a loaded machine cannot trip by accident unless a test shortens it)
        and switch a spot feed to its fallback if needed."""
        section = self.timeout_section or self.feed
        options = {k: dict(v) for k, v in self.options.items()}
        options.setdefault(section, {})["timeout_seconds"] = timeout
        feed = build(self.feed, symbols=["BTCUSDT"], also=self.also, **options)
        if self.geo_block:
            emu.set_geo_block(True)
        return feed


CASES = [
    # Polling: the REST poller's fault handling is under test (with streams it only repairs gaps).
    Case(
        "binance_spot",
        "binance_spot",
        "/api/v3/klines",
        "binance_spot",
        _count("candles"),
        options={"binance_spot": {"candles": "poll"}},
    ),
    Case(
        "coinbase",
        "binance_spot",
        "/products/*/candles",
        "coinbase",
        _count("candles", "source = 'coinbase'"),
        also=("coinbase",),
        geo_block=True,
        timeout_section="coinbase",
    ),
    Case(
        "kraken",
        "binance_spot",
        "/0/public/OHLC",
        "kraken",
        _count("candles", "source = 'kraken'"),
        options={"binance_spot": {"fallback": "kraken"}},
        also=("kraken",),
        geo_block=True,
        timeout_section="kraken",
    ),
    Case(
        "binance_funding",
        "binance_futures",
        "/fapi/v1/premiumIndex",
        "binance_futures.funding",
        _count("funding", "settled = 0"),
        poller=lambda feed: feed.funding_poller,
        options={"binance_futures": {"liquidations": False}},
    ),
    Case(
        "binance_open_interest",
        "binance_futures",
        "/fapi/v1/openInterest",
        "binance_futures.open_interest",
        _count("open_interest"),
        poller=lambda feed: feed.oi_poller,
        options={"binance_futures": {"liquidations": False}},
    ),
    Case(
        "bybit_tickers",
        "bybit",
        "/v5/market/tickers",
        "bybit.tickers",
        _count("funding", "source = 'bybit'"),
        options={"bybit": {"liquidations": False}},
    ),
    Case(
        "okx_rest",
        "okx",
        "/api/v5/public/liquidation-orders",
        "okx.liquidations",
        _count("liquidations", "source = 'okx'"),
        options={"okx": {"mode": "rest"}},
    ),
    Case(
        "fear_greed",
        "fear_greed",
        "/fng/",
        "fear_greed",
        _count("fear_greed"),
        options={"fear_greed": {"stale_after_seconds": 3600}},  # the smallest allowed
    ),
]
IDS = [c.id for c in CASES]


async def _fails_then_recovers(
    case: Case,
    poller: Poller,
    emu: ExchangeEmulator,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    *,
    kind: str,
    wait_s: float,
) -> None:
    """Poll into the injected fault, check the state, wait ``wait_s`` and check the recovery."""
    health = registry.get(case.health)
    assert not await poller.run()
    snap = health.snapshot()
    assert snap.last_error is not None and snap.last_error.startswith(f"{kind}:"), snap.last_error
    assert snap.state is FeedState.STALE  # no success yet, so nothing to trust
    before = ingest.repo.conn.total_changes
    clock.advance(wait_s)
    assert await poller.run(), health.snapshot().last_error
    assert health.state() is FeedState.OK and case.stored(ingest) > 0
    assert ingest.repo.conn.total_changes > before


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest, clock: ManualClock) -> Case:
    """Return one REST poller case, with the clock at noon of the last recorded day.

    From there the recording goes on for 12 hours, so candles keep coming while the test moves time
    through Retry-After and backoff waits (later than the recording, every feed would rightly go stale).
    """
    clock.ms = ms("2026-01-20T12:00")
    param: Case = request.param
    return param


async def test_timeout(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
) -> None:
    # 1 s, not less: the recovery poll must get its answer in time on a loaded 2-core CI machine (at 0.2 s
    # a healthy answer came late under load and the test failed); the injected delay stays far beyond it.
    feed = case.build(build, emu, timeout=1.0)
    emu.delay(case.route, 5.0)
    await _fails_then_recovers(
        case, case.poller(feed), emu, ingest, registry, clock, kind="timeout", wait_s=10
    )


async def test_connection_refused_until_the_server_is_back(
    case: Case,
    emu: ExchangeEmulator,
    make_emulator: EmulatorFactory,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
) -> None:
    feed = case.build(build, emu)
    poller = case.poller(feed)
    port = emu.port
    if case.geo_block:  # switch to the fallback while the server is up, then take the server down
        assert await poller.run()
        ingest.repo.conn.execute("DELETE FROM candles")
    await emu.stop()
    assert not await poller.run()
    assert (registry.get(case.health).last_error or "").startswith("connection:")
    await make_emulator(port=port, geo_block=case.geo_block)
    clock.advance(10)
    assert await poller.run()
    assert registry.get(case.health).state() is FeedState.OK and case.stored(ingest) > 0


@pytest.mark.parametrize(("status", "kind"), [(429, "rate_limited"), (418, "banned")])
async def test_retry_after_is_honoured_then_recovers(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    status: int,
    kind: str,
) -> None:
    feed = case.build(build, emu)
    poller = case.poller(feed)
    emu.fail(case.route, status, retry_after=120, body='{"code":-1003,"msg":"Too much request weight used"}')
    assert not await poller.run()
    health = registry.get(case.health)
    assert (health.last_error or "").startswith(f"{kind}:") and "120" in (health.last_error or "")
    sent = len(emu.requests(case.route))
    for _ in range(5):  # the scheduler keeps calling; nothing may be sent before Retry-After passes
        clock.advance(20)
        assert not await poller.run()
    assert len(emu.requests(case.route)) == sent
    clock.advance(21)  # 121 s after the 429/418
    assert await poller.run()
    assert health.state() is FeedState.OK and case.stored(ingest) > 0


async def test_server_error_backs_off_goes_stale_and_recovers(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
) -> None:
    feed = case.build(build, emu)
    poller = case.poller(feed)
    health = registry.get(case.health)
    assert await poller.run()
    assert health.state() is FeedState.OK
    emu.fail(case.route, 503, times=None)
    assert not await poller.run()
    assert health.state() is FeedState.DEGRADED and (health.last_error or "").startswith("server:")
    sent = len(emu.requests(case.route))
    # A scheduler calling 70 times over a little more than stale_after (60 s; 1 h for Fear & Greed).
    step = max(1.0, health.stale_after_ms / 1000 / 60)
    for _ in range(70):
        clock.advance(step)
        assert not await poller.run()
    assert health.state() is FeedState.STALE
    if step == 1.0:
        # Backoff (1, 2, 4, 8, 8, ... s in the fast tuning) spaces the attempts out: far fewer than 70.
        assert 5 <= len(emu.requests(case.route)) - sent <= 15
    emu.clear_faults()
    clock.advance(10)
    assert await poller.run()
    assert health.state() is FeedState.OK


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        ("malformed", "malformed"),
        ("cut_json", "malformed"),
        ("truncate", "truncated"),
        ("drop", "connection"),
    ],
)
async def test_broken_bodies(
    case: Case,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    clock: ManualClock,
    inject: str,
    kind: str,
) -> None:
    feed = case.build(build, emu)
    if inject == "drop":
        emu.drop(case.route, times=2)  # aiohttp retries an idempotent GET once on a dropped connection
    else:
        getattr(emu, inject)(case.route)
    await _fails_then_recovers(case, case.poller(feed), emu, ingest, registry, clock, kind=kind, wait_s=10)


# --- items with missing or wrong-typed fields: skipped, the rest kept ---------------------------------------


@dataclass(frozen=True)
class MangleCase:
    """A list endpoint, how to break every second item, and how to run the poll that reads it."""

    id: str
    feed: str
    route: str
    drop: tuple[str | int, ...]
    retype: dict[str | int, Any]
    run: Callable[[Any], Any]
    stored: Callable[[Ingest], int]
    full: int  # rows stored when nothing is broken
    options: dict[str, Any] = field(default_factory=dict)


MANGLE_CASES = [
    MangleCase(
        "klines",
        "binance_spot",
        "/api/v3/klines",
        (),
        {4: "n/a"},
        lambda f: f.backfill(),
        _count("candles"),
        49,
    ),
    MangleCase(
        "funding_history",
        "binance_futures",
        "/fapi/v1/fundingRate",
        ("fundingRate",),
        {},
        lambda f: f.funding_poller.run(f.backfill_funding),
        _count("funding"),
        6,
        {"binance_futures": {"liquidations": False}},
    ),
    MangleCase(
        "open_interest_history",
        "binance_futures",
        "/futures/data/openInterestHist",
        (),
        {"sumOpenInterest": {"v": 1}},
        lambda f: f.oi_poller.run(f.backfill_open_interest),
        _count("open_interest"),
        576,
        {"binance_futures": {"liquidations": False}},
    ),
    MangleCase(
        "fear_greed",
        "fear_greed",
        "/fng/",
        (),
        {"value": None},
        lambda f: f.backfill(),
        _count("fear_greed"),
        60,
    ),
]


@pytest.mark.parametrize("mc", MANGLE_CASES, ids=[m.id for m in MANGLE_CASES])
async def test_items_with_missing_or_wrong_fields_are_skipped_and_the_rest_kept(
    mc: MangleCase,
    emu: ExchangeEmulator,
    build: FeedFactory,
    ingest: Ingest,
    registry: HealthRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = build(mc.feed, symbols=["BTCUSDT"], **mc.options)
    emu.mangle(mc.route, drop=mc.drop, retype=mc.retype, every=2, times=None)
    await mc.run(feed)
    kept = mc.stored(ingest)
    assert mc.full // 2 <= kept < mc.full  # every second item was broken: about half is kept
    skipped_logs = [r for r in caplog.records if "bad item" in r.getMessage()]
    assert len(skipped_logs) == 1  # logged once, not once per item
    assert all(s.state is not FeedState.DEGRADED for s in registry.snapshots())  # not a failure


# --- request weight -----------------------------------------------------------------------------------------


async def test_weight_header_keeps_the_poller_under_the_limit(
    emu: ExchangeEmulator, build: FeedFactory, registry: HealthRegistry, clock: ManualClock
) -> None:
    # The emulator counts weight per minute on the test's clock, with a limit of 12 (klines weigh 2), and
    # another client on the same IP has already used 6 of it: only the header can tell the feed.
    clock.ms -= clock.ms % 60_000  # the start of a minute, where Binance's window starts
    emu.binance.spot_weight = WeightLimiter(12, 60.0, 120.0, now=lambda: clock() / 1000)
    emu.binance.spot_weight.charge(6)
    feed = build(
        "binance_spot", binance_spot={"max_weight_per_minute": 12, "backfill_days": 0, "candles": "poll"}
    )
    polls = [await feed.poller.run() for _ in range(3)]  # 2 symbols x weight 2 per poll
    statuses = [r.status for r in emu.requests("/api/v3/klines")]
    assert statuses == [200] * len(statuses)  # never a 429, let alone a 418
    assert len(statuses) == 3 and polls == [True, False, False]  # 6 + 2 + 2 + 2 = 12: the 4th would exceed
    health = registry.get("binance_spot")
    assert (health.last_error or "").startswith("budget:")
    clock.advance(60)  # the next window
    assert await feed.poller.run(), health.last_error
    assert health.state() is FeedState.OK
    assert [r.status for r in emu.requests("/api/v3/klines")] == [200] * 5
