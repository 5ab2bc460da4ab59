"""Sample Hyperliquid's public accounts for the measured liquidation map, within a request budget.

Accounts come from the trades frames the liquidation stream (feeds.hyperliquid) already receives: one
websocket, one subscription per coin, no extra request. Every ``period_s`` a round reads the open interest
and mark prices once (``metaAndAssetCtxs``, weight 20), then the state of the most recently seen accounts
(``clearinghouseState``, weight 2 each), and stores each watched coin's positions with the venue's own
``liquidationPx`` and what share of open interest they hold (feeds.ingest → the measured_* tables).

The budget. Requests are spaced evenly (``window_s · weight / budget`` apart: one account a second at the
default 120 a minute), and a ``WeightBudget`` refuses any request that would pass ``budget`` within a
window (the round then waits for the next window): the sample never spends more than its share of the
1,200 a minute Hyperliquid allows an IP, whatever the clock or the account count does. A 429 from the venue
(another program on the same IP) is waited out the same way. One account's refused or malformed answer is
skipped; the round goes on with the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.liqmap.params import ASSET_CTXS_WEIGHT, CLEARINGHOUSE_STATE_WEIGHT, HyperliquidSample
from feeds.base import Feed, NowMs, PollJob, Stream
from feeds.context import FeedContext
from feeds.errors import FeedError
from feeds.health import FeedHealth
from feeds.http import HttpClient, WeightBudget
from feeds.hyperliquid import HyperliquidLiquidationStream
from feeds.hyperliquid_positions import AccountBook, MeasuredPosition, parse_clearinghouse_state
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.rows import HOUR_MS, MeasuredPositionRow, MeasuredSample

log = logging.getLogger(__name__)

SOURCE = "hyperliquid"
INFO_PATH = "/info"
# With no account seen yet (just started, a quiet market), the book is looked at again this soon.
EMPTY_BOOK_RECHECK_S = 5.0
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """How many accounts, how often and within what weight (the config's plan, in seconds)."""

    max_accounts: int
    period_s: float
    budget: int  # weight per window
    window_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: HyperliquidSample) -> SamplePlan:
        """Return the plan of ``[liqmap.hyperliquid]``."""
        return cls(settings.max_accounts, settings.poll_minutes * 60, settings.budget_weight_per_minute)

    def spacing_s(self, weight: int) -> float:
        """Return how long after a request of this weight the next may go, to spread the budget evenly."""
        return self.window_s * weight / self.budget


@dataclass
class RoundResult:
    """What one round read."""

    at: int
    accounts_read: int
    positions: list[MeasuredPosition] = field(default_factory=list)
    open_interest: dict[str, tuple[float, float]] = field(default_factory=dict)  # coin → (OI coins, mark)
    skipped: list[str] = field(default_factory=list)


def parse_asset_ctxs(payload: Any, coins: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Return (open interest in coins, mark price) per coin of a ``metaAndAssetCtxs`` answer."""
    if not isinstance(payload, list) or len(payload) != 2:
        raise FeedError("malformed", "metaAndAssetCtxs is not [meta, contexts]")
    meta, contexts = payload
    names = [str(asset.get("name")) for asset in meta.get("universe", [])]
    out: dict[str, tuple[float, float]] = {}
    for name, ctx in zip(names, contexts, strict=False):
        if name in coins:
            try:
                out[name] = (float(ctx["openInterest"]), float(ctx["markPx"]))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def position_row(p: MeasuredPosition, symbol: str, hour: int, at: int) -> MeasuredPositionRow:
    """Return a sampled position as stored under the watched symbol and the round's hour."""
    return MeasuredPositionRow(
        SOURCE, symbol, hour, p.user, p.side, p.size, p.value_usd, p.entry, p.liquidation_px, p.leverage,
        p.margin, at,
    )  # fmt: skip


class HyperliquidSampler:
    """The sampling loop: a round every ``period_s``, each request within the budget."""

    def __init__(
        self,
        plan: SamplePlan,
        coins: Mapping[str, str],
        http: HttpClient,
        ingest: Ingest,
        health: FeedHealth,
        failures: FailureLog,
        now_ms: NowMs,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = "hyperliquid.positions"
        self.plan = plan
        self.coins = dict(coins)  # Hyperliquid coin → canonical symbol
        self.http = http
        # The hard cap: WeightBudget refuses what would pass the plan's budget in a window.
        http.budget = WeightBudget(plan.budget, now_ms, plan.window_s)
        self.ingest = ingest
        self.health = health
        self.failures = failures
        self.now_ms = now_ms
        self.sleep = sleep
        self.book = AccountBook(plan.max_accounts)
        self.rounds = 0
        self.waits = 0  # times a request waited for the budget or a 429

    def on_trades(self, frame: dict[str, Any]) -> None:
        """Note the parties of a trades frame (the liquidation stream calls this for every one)."""
        self.book.add_trades(frame)

    async def run(self) -> None:
        """Sample, store and wait for the next round, until cancelled."""
        while True:
            started = self.now_ms()
            try:
                result = await self.sample()
            except FeedError as exc:
                self.failures.failure(f"{self.name}:round", f"hyperliquid sample: {exc}")
                self.health.failure(str(exc))
            else:
                if result is None:  # no account seen trading yet: look again soon, not a period later
                    await self.sleep(min(EMPTY_BOOK_RECHECK_S, self.plan.period_s))
                    continue
                self.store(result)
            left = self.plan.period_s - (self.now_ms() - started) / 1000
            await self.sleep(max(left, self.plan.spacing_s(CLEARINGHOUSE_STATE_WEIGHT)))

    async def sample(self) -> RoundResult | None:
        """Read the open interest and the accounts once; None when no account has been seen yet."""
        accounts = self.book.accounts()[: self.plan.max_accounts]
        if not accounts:
            return None
        contexts = await self._post({"type": "metaAndAssetCtxs"}, ASSET_CTXS_WEIGHT)
        result = RoundResult(self.now_ms(), len(accounts))
        result.open_interest = parse_asset_ctxs(contexts, list(self.coins))
        for user in accounts:
            try:
                state = await self._post(
                    {"type": "clearinghouseState", "user": user}, CLEARINGHOUSE_STATE_WEIGHT
                )
                positions = parse_clearinghouse_state(user, state)
            except FeedError as exc:
                if exc.kind != "http":  # 422 and the like concern this account; the rest end the round
                    raise
                result.skipped.append(f"{user}: {exc}")
                continue
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                result.skipped.append(f"{user}: malformed state ({type(exc).__name__} {exc})")
                continue
            result.positions += [p for p in positions if p.coin in self.coins]
        result.at = self.now_ms()
        self.failures.skipped(f"{self.name}:account", result.skipped)
        return result

    async def _post(self, body: dict[str, str], weight: int) -> Any:
        """POST /info once the budget allows it (waiting out our budget and the venue's 429s)."""
        while True:
            try:
                answer = await self.http.post_json(INFO_PATH, body, weight=weight)
            except FeedError as exc:
                if exc.kind not in ("budget", "rate_limited"):
                    raise
                self.waits += 1
                await self.sleep(exc.retry_after if exc.retry_after is not None else self.plan.window_s)
                continue
            await self.sleep(self.plan.spacing_s(weight))
            return answer

    def rows(self, result: RoundResult) -> list[tuple[MeasuredSample, list[MeasuredPositionRow]]]:
        """Return each watched coin's sample and positions of a round, as stored."""
        hour = result.at - result.at % HOUR_MS
        out = []
        for coin, symbol in self.coins.items():
            oi_coins, mark = result.open_interest.get(coin, (0.0, 0.0))
            mine = [p for p in result.positions if p.coin == coin]
            positions = [position_row(p, symbol, hour, result.at) for p in mine]
            sample = MeasuredSample(
                SOURCE,
                symbol,
                hour,
                result.at,
                result.accounts_read,
                len({p.user for p in mine}),
                sum(p.value_usd for p in mine),
                oi_coins * mark,
                mark,
            )
            out.append((sample, positions))
        return out

    def store(self, result: RoundResult) -> None:
        """Store a round and mark the feed alive."""
        self.ingest.measured(self.rows(result))
        self.rounds += 1
        self.health.success(result.at)
        log.info(
            "hyperliquid sample: %d accounts read, %d positions in %s",
            result.accounts_read,
            len(result.positions),
            ", ".join(self.coins),
        )


class HyperliquidSampleFeed(Feed):
    """The measured map's sample as a feed: no poll job, one loop fed by the liquidation stream's trades."""

    name = "hyperliquid_sample"

    def __init__(
        self,
        settings: HyperliquidSample,
        stream: HyperliquidLiquidationStream,
        http: HttpClient,
        context: FeedContext,
    ) -> None:
        coins = dict(stream.coins)
        plan = SamplePlan.from_settings(settings)
        # No data kind a rule reads (the engine holds alerts back by kind): the sample's health is its own.
        health = context.registry.register(
            "hyperliquid.positions",
            set(),
            list(coins.values()),
            # A round takes up to a period; two missed rounds make the sample stale.
            stale_after_s=2 * plan.period_s + 60,
        )
        self.sampler = HyperliquidSampler(
            plan, coins, http, context.ingest, health, context.failures, context.now_ms
        )
        stream.trade_listeners.append(self.sampler.on_trades)

    def jobs(self) -> list[PollJob]:
        """Return nothing to schedule: the sampler paces itself."""
        return []

    def streams(self) -> list[Stream]:
        """Return the sampling loop."""
        return [self.sampler]
