"""The Hyperliquid sample against the exchange emulator: a round within its budget, never past it.

Time is the test's ManualClock (the emulator follows it); the sampler's sleeps move it forward, so a round
of minutes runs in a moment. Accounts come from the recorded trades frame (three accounts) plus a
SYNTHETIC frame of the same shape naming 27 more (made-up addresses; the emulator answers them stand-in
states, see tests/emulators/exchanges/hyperliquid_info.py).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import aiohttp

from feeds.health import HealthRegistry
from feeds.http import HttpClient
from feeds.hyperliquid_sample import HyperliquidSampler, SamplePlan
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.repo import Repo
from tests.conftest import DATA
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.fixtures import EmulatorFactory
from tests.feeds.conftest import ManualClock

COINS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}
RECORDED_USER = "0x5e9ee1089755c3435139848e47e6635505d5a13a"  # the SDK cassette's account


class RecordingClient(HttpClient):
    """The real client, noting the (test clock) time and weight of every request it got an answer to."""

    sent: list[tuple[int, int]]

    async def post_json(self, path: str, body: Any, *, weight: int = 1) -> Any:
        """Send as HttpClient does; note the request once answered."""
        at = self.now_ms()
        answer = await super().post_json(path, body, weight=weight)
        self.sent.append((at, weight))
        return answer


def trades_frames(extra: int) -> list[dict[str, Any]]:
    """Return the recorded BTC trades frame and a SYNTHETIC one naming ``extra`` more accounts."""
    recorded = json.loads(
        (DATA / "fixtures" / "hyperliquid_ws_trades_BTC_first_two_20260728.json").read_text()
    )
    fills = [
        {"coin": "ETH", "side": "B", "px": "3300.0", "sz": "0.1", "time": 1, "hash": "0x0", "tid": i,
         "users": [f"0x{i:040x}", RECORDED_USER]}
        for i in range(1, extra + 1)
    ]  # fmt: skip
    return [recorded, {"channel": "trades", "data": fills}]


def make_sampler(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
    plan: SamplePlan,
    sleeps: list[float],
    *,
    retry_429_s: float = 60.0,
) -> tuple[HyperliquidSampler, RecordingClient]:
    http = RecordingClient(
        session, "hyperliquid", emu.base_url, timeout_s=5, now_ms=clock, default_retry_after_429_s=retry_429_s
    )
    http.sent = []
    health = registry.register("hyperliquid.positions", set(), list(COINS.values()),
                               stale_after_s=700)  # fmt: skip

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        await asyncio.sleep(0)

    sampler = HyperliquidSampler(plan, COINS, http, ingest, health, failures, clock, sleep=sleep)
    return sampler, http


async def test_a_round_reads_every_account_within_the_budget_and_stores_btc_and_eth(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    file_repo: Repo,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    plan = SamplePlan(max_accounts=30, period_s=300, budget=40)  # the round needs 20 + 30 x 2 = 80
    sampler, http = make_sampler(emu, session, ingest, registry, failures, clock, plan, [])
    for frame in trades_frames(27):
        sampler.on_trades(frame)
    started = clock.ms
    result = await sampler.sample()
    assert result is not None
    sampler.store(result)
    answered = emu.requests("/info")
    assert len(http.sent) == len(answered) == 31 and {r.status for r in answered} == {200}
    # Never more than the budget in one window of the budget's minute, and spread: 80 weight took 2 minutes.
    per_window = Counter[int]()
    for at, weight in http.sent:
        per_window[at // 60_000] += weight
    assert max(per_window.values()) <= 40 and len(per_window) >= 2
    assert clock.ms - started >= 60_000
    samples = {s.symbol: s for s in file_repo.measured_samples("hyperliquid", "BTCUSDT", 0, 2**62)}
    samples |= {s.symbol: s for s in file_repo.measured_samples("hyperliquid", "ETHUSDT", 0, 2**62)}
    assert set(samples) == {"BTCUSDT", "ETHUSDT"}
    for sample in samples.values():
        assert sample.accounts_read == 30 and 0 < sample.accounts <= 30
        assert sample.open_interest_usd > 1e8 and 0 < sample.coverage < 0.05
    btc = file_repo.measured_positions("hyperliquid", "BTCUSDT", samples["BTCUSDT"].hour)
    recorded = next(p for p in btc if p.user == RECORDED_USER)
    # The cassette's BTC short of 0.00785 with Hyperliquid's own liquidation price.
    assert (recorded.side, recorded.size, recorded.liquidation_px) == ("short", 0.00785, 173198.69592357)
    assert len({p.user for p in btc}) == samples["BTCUSDT"].accounts


async def test_the_budget_refuses_a_request_that_would_exceed_it(
    emu: ExchangeEmulator,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    sleeps: list[float] = []
    sampler, http = make_sampler(
        emu, session, ingest, registry, failures, clock, SamplePlan(5, 300, budget=40), sleeps
    )
    sampler.on_trades(trades_frames(2)[1])
    assert http.budget is not None
    clock.ms = clock.ms - clock.ms % 60_000 + 15_000  # 15 s into a budget window
    http.budget.reserve(30)  # this window's weight mostly spent (the previous round's end)
    result = await sampler.sample()
    # The first request (weight 20) would have passed 40: not sent, the sampler waited the window out.
    assert sleeps[0] == 45.0 and sampler.waits == 1
    assert result is not None and result.accounts_read == 3
    assert [w for _, w in http.sent] == [20, 2, 2, 2] and len(emu.requests("/info")) == 4
    assert http.sent[0][0] % 60_000 == 0  # sent at the start of the next window


async def test_a_429_from_the_venue_is_waited_out_and_a_bad_account_skipped(
    make_emulator: EmulatorFactory,
    session: aiohttp.ClientSession,
    ingest: Ingest,
    registry: HealthRegistry,
    failures: FailureLog,
    clock: ManualClock,
) -> None:
    # Another program on this IP: the venue's limit leaves us 24 weight per second (real time), which the
    # round's 20 + 19 x 2 passes.
    emu = await make_emulator(hyperliquid_weight_limit=24, hyperliquid_weight_window=1.0)
    real: list[float] = []

    async def pause(seconds: float) -> None:
        if seconds == 5.0:  # the 429 wait: let the venue's real-time window pass too
            real.append(seconds)
            await asyncio.sleep(1.05)

    sleeps: list[float] = []
    sampler, _http = make_sampler(
        emu, session, ingest, registry, failures, clock, SamplePlan(20, 300, budget=1000), sleeps,
        retry_429_s=5.0,
    )  # fmt: skip
    sleep = sampler.sleep

    async def both(seconds: float) -> None:
        await pause(seconds)
        await sleep(seconds)

    sampler.sleep = both
    sampler.on_trades(trades_frames(17)[1])
    sampler.book.add_trades({"channel": "trades", "data": [{"users": ["0xnot-an-address"]}]})
    result = await sampler.sample()
    assert result is not None and result.accounts_read == 19  # 17 + the recorded one + the bad one
    refused = [r for r in emu.requests("/info") if r.status == 429]
    # Each 429 was waited out before the next request: one refusal per wait, never a burst of them.
    assert refused and len(refused) == sampler.waits == len(real)
    assert len(result.skipped) == 1 and result.skipped[0].startswith("0xnot-an-address: http")
    assert len({p.user for p in result.positions}) >= 12  # the 18 good accounts, minus those holding none
