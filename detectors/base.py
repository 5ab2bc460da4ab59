"""The detector contract: pure functions from a market snapshot and a small state dict to signals.

A detector is a class with ``name``, ``description``, ``Settings`` (a pydantic model) and a synchronous,
I/O-free ``evaluate(snapshot, state) -> list[Signal]``. It never reads the wall clock (``snapshot.now``
is the time), never touches the network or the database, and keeps what it must remember between
evaluations in ``state`` (a JSON-serialisable dict the engine persists with the alert state).

``evaluate`` returns the conditions that are *active* at ``snapshot.now``. The engine fires an alert once
when a condition becomes active (after the rule's pending period), and resolves it when the condition is no
longer returned. Edge-triggered detectors (a level crossing) therefore return their signal from the
crossing until the detector re-arms (price back beyond the hysteresis band); state-like detectors (a
liquidation cascade) return it for as long as the state lasts and mark it ``stateful`` so its end is
announced.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, NamedTuple, Protocol, cast

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar

# format_price and format_usd are re-exported: detectors and plugins have imported them from here.
from detectors.values import ValueSpecs
from detectors.values import format_price as format_price
from detectors.values import format_usd as format_usd

Severity = Literal["info", "warning", "critical"]
Direction = Literal["up", "down", "neutral"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")

MARKET_SYMBOL = "MARKET"
"""Symbol used by market-wide rules (Fear & Greed), which watch no single trading pair."""


@dataclass(frozen=True, slots=True)
class Signal:
    """A condition a detector found active for one rule at ``at`` (market time, UTC ms)."""

    rule_id: str
    symbol: str
    kind: str
    severity: Severity
    title: str
    values: Mapping[str, Any]
    at: int
    key: str = ""
    stateful: bool = False
    direction: Direction = "neutral"
    # Data kinds the signal was computed from ("candles", "liquidations", ...), so the engine can hold it
    # back while one of those feeds is stale.
    sources: tuple[str, ...] = field(default=())


class Bar(NamedTuple):
    """A candle as detectors see it: open time, OHLC, base volume and its interval length (ms)."""

    open_time: int
    o: float
    h: float
    l: float  # noqa: E741 - OHLC letter
    c: float
    volume: float
    interval_ms: int

    @property
    def close_time(self) -> int:
        """Return the time the candle closes (exclusive end)."""
        return self.open_time + self.interval_ms


class CandleColumns(NamedTuple):
    """Closed candles as columns (open times, highs, lows, closes), oldest first: no Bar built per candle."""

    t: Sequence[int]
    h: Sequence[float]
    l: Sequence[float]  # noqa: E741 - OHLC letter
    c: Sequence[float]


class LiquidationWindow(NamedTuple):
    """Liquidated USD by position side over a window, with a per-source breakdown."""

    long_usd: float
    short_usd: float
    by_source: Mapping[str, tuple[float, float]]

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd


class FundingPoint(NamedTuple):
    """A funding rate (decimal per interval) at ``ts``; ``settled`` False for an estimate."""

    ts: int
    rate: float
    settled: bool
    source: str


class OpenInterestPoint(NamedTuple):
    """Open interest at ``ts`` in USD and contracts (either may be None)."""

    ts: int
    usd: float | None
    contracts: float | None
    source: str


class LongShortPoint(NamedTuple):
    """A venue's long/short reading at ``ts``: longs (or taker buys) per short, and the long share."""

    ts: int
    ratio: float
    long_share: float | None
    source: str
    metric: str


class ImpliedVolPoint(NamedTuple):
    """A volatility-index close (annualised %) holding at ``ts`` (its candle's end), for the symbol's base."""

    ts: int
    close: float
    source: str


class EtfFlowPoint(NamedTuple):
    """One US trading day's net flow into the spot ETFs of the symbol's base currency (USD).

    ``ts`` is the trading day at 00:00 UTC; the point is visible from the end of that day (``known_at``),
    never before: the funds report after the US close.
    """

    ts: int
    date: str
    net_usd: float
    source: str

    @property
    def known_at(self) -> int:
        """Return when the day's figure can first be known (the end of its UTC day)."""
        return self.ts + 86_400_000


class DepthPoint(NamedTuple):
    """A venue's order book summed within one band of the mid at ``ts`` (USD)."""

    ts: int
    bid_usd: float
    ask_usd: float
    complete: bool
    source: str


class FearGreedPoint(NamedTuple):
    """A daily Fear & Greed value with its published classification."""

    ts: int
    date: str
    value: int
    classification: str | None


class Quiet(NamedTuple):
    """How long evaluating a rule again cannot change anything (see ``Detector.quiet``).

    The rule stays quiet while the time is before ``until`` (None: at any time) and no row of a kind in
    ``unchanged`` ("candles", "liquidations", "funding", "open_interest", "fear_greed") is added, revised or
    becomes visible. ``now_key`` names a state entry ``evaluate`` sets to the evaluation time: the engine
    keeps it current while the rule is quiet, the one change an evaluation would have made.

    Two refinements say which new rows cannot matter either. ``closes_within`` (with "candles" unchanged):
    new closed base candles closing within [low, high] (their high and low too, with ``wicks``) do not wake
    the rule, nor does a forming base candle within it or a closed one delivered again unchanged; any other
    candle change does. The detector's state may then lag behind the candles it has not read, so it must
    read every closed candle since the last one it processed when it is evaluated again (they stay in
    memory for two days; the engine wakes such a rule daily). ``usd_below`` (with "liquidations"
    unchanged): liquidations of the symbol adding less than this USD in all do not wake it.
    """

    until: int | None = None
    unchanged: tuple[str, ...] = ()
    now_key: str | None = None
    closes_within: tuple[float, float] | None = None
    wicks: bool = False
    usd_below: float | None = None


class DailyReach(NamedTuple):
    """When price last reached a level in the daily candles kept (``Snapshot.daily_reach``)."""

    open_time: int | None  # the last daily candle that reached it; None: none before ``before`` did
    extreme: float | None  # that candle's high (low)
    first_open_time: int | None  # the first daily candle kept, if it opens before ``before``


class Snapshot(Protocol):
    """A read-only view of one symbol's recent history as it was known at ``now``."""

    @property
    def symbol(self) -> str:
        """Return the symbol this view is for."""

    @property
    def now(self) -> int:
        """Return the evaluation time (UTC ms); nothing after it is visible."""

    @property
    def base_interval(self) -> str | None:
        """Return the finest candle interval stored for the symbol, or None before any candle."""

    def candles(
        self, interval: str | None = None, *, count: int | None = None, since: int | None = None
    ) -> Sequence[Bar]:
        """Return closed candles (close time <= now), oldest first, at ``interval`` (default: base).

        An interval finer than the base interval returns base candles (check ``Bar.interval_ms``).
        ``count`` keeps the newest N; ``since`` keeps candles opening at or after it.
        """

    def candle_columns(self, interval: str | None = None, *, since: int | None = None) -> CandleColumns:
        """Return the candles ``candles(interval, since=since)`` returns, as columns.

        For a detector scanning many candles for the first one that matters (a level rule woken after a
        day of closes inside its band): the candles it passes over cost no Bar each.
        """

    def daily_reach(self, price: float, *, high: bool, before: int) -> DailyReach:
        """Return the last closed daily candle opening before ``before`` whose high reached ``price``.

        With ``high`` False, whose low fell to it. Searched in all the daily history kept, which a bounded
        history holds as the days its rules read plus the record highs and lows of the older ones.
        """

    def forming(self, interval: str | None = None) -> Bar | None:
        """Return the candle still open at ``now`` (built from what is known so far), or None."""

    def last_price(self) -> tuple[int, float] | None:
        """Return (time, price) of the newest known trade price (forming candle close, else last close)."""

    def liquidations(self, start: int, end: int | None = None) -> LiquidationWindow:
        """Sum liquidated USD by position side over [start, min(end, now)), across sources."""

    def liquidation_buckets(self, bucket_ms: int, start: int) -> Sequence[tuple[int, float, float]]:
        """Return (bucket_start, long_usd, short_usd) for each bucket from ``start`` up to ``now``."""

    def liquidations_known_from(self) -> Mapping[str, int]:
        """Return, per source that reported the symbol's liquidations by now, the minute of its first one.

        What a source saw before its first report is unknown, not zero: a bot started an hour ago knows
        nothing of yesterday's liquidations, and one venue's backfilled day is not the day's total.
        """

    def funding(
        self, *, count: int | None = None, since: int | None = None, settled_only: bool = False
    ) -> Sequence[FundingPoint]:
        """Return funding points (preferred source) with ts <= now, oldest first."""

    def open_interest(
        self, *, count: int | None = None, since: int | None = None, until: int | None = None
    ) -> Sequence[OpenInterestPoint]:
        """Return open-interest points (preferred source) with ts <= now (and <= ``until``), oldest first."""

    def fear_greed(self, *, count: int | None = None, since: int | None = None) -> Sequence[FearGreedPoint]:
        """Return daily Fear & Greed values published at or before now, oldest first."""

    def open_interest_by_source(
        self, *, since: int | None = None, until: int | None = None, count: int | None = None
    ) -> Mapping[str, Sequence[OpenInterestPoint]]:
        """Return every venue's open-interest points with since <= ts <= min(until, now), per source.

        ``count`` keeps each venue's newest N of them.
        """

    def funding_by_source(self, *, since: int | None = None) -> Mapping[str, Sequence[FundingPoint]]:
        """Return every venue's funding points with since <= ts <= now, per source, oldest first."""

    def funding_interval_h(self, source: str) -> float | None:
        """Return the hours between a venue's settlements its instrument list states for the symbol.

        None when no list says (no registry, as in a replay, or a venue without one): the detectors then
        measure the interval from settlements, or assume 8 h, as before.
        """

    def long_short(self, metric: str, *, since: int | None = None) -> Sequence[LongShortPoint]:
        """Return long/short readings of one metric (every venue) with since <= ts <= now, oldest first."""

    def implied_vol(self, *, since: int | None = None) -> Sequence[ImpliedVolPoint]:
        """Return the volatility index of the symbol's base currency (DVOL) up to now, oldest first."""

    def etf_flows(self, *, since: int | None = None) -> Sequence[EtfFlowPoint]:
        """Return the daily ETF net flows of the symbol's base currency known by now, oldest first.

        ``since`` bounds the trading day (``EtfFlowPoint.ts``); one source, the first that reported.
        """

    def peer(self, symbol: str) -> Snapshot | None:
        """Return the view of another symbol at the same ``now`` (for cross-asset detectors)."""

    def depth(self, band_bp: int, *, since: int | None = None) -> Mapping[str, Sequence[DepthPoint]]:
        """Return each venue's order-book sums within ``band_bp`` of the mid up to now, oldest first."""

    def market_symbols(self) -> Sequence[str]:
        """Return every symbol the history holds data of (for rules watching the whole market)."""


# Bounds of a price (quote currency, USDT) a rule may name as a level or a step. The cheapest pairs quote
# near 1e-8 USDT and no asset trades anywhere near 1e9; outside them a value is a typo or an attack: a
# subnormal step (5e-324 passes gt=0) overflows price / step (issue 17, finding 1).
MIN_PRICE = 1e-9
MAX_PRICE = 1e9
# Bound of a USD amount a rule may name (liquidated, open interest): a trillion dollars is more than every
# crypto position ever liquidated in a day, many times over; above it the rule can never fire.
MAX_USD = 1e12
# Bound of a funding rate in percent per funding interval: venues clamp rates to a few percent.
MAX_FUNDING_PCT = 100.0


def check_price(value: float) -> float:
    """Return ``value`` if it is a price a rule may name (MIN_PRICE to MAX_PRICE), else raise ValueError."""
    if not MIN_PRICE <= value <= MAX_PRICE:
        raise ValueError(f"must be a price between {MIN_PRICE:g} and {MAX_PRICE:g}")
    return value


class DetectorSettings(BaseModel):
    """Base for detector Settings: unknown keys are errors, values are validated on assignment.

    No number may be infinite or NaN (``allow_inf_nan``): pydantic accepts ``inf`` for ``gt=0``, and no market
    level, threshold or window is infinite.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def lookback_ms(self) -> Mapping[str, int]:
        """Return how far back (ms) evaluation reads each data kind ("candles", "liquidations", ...).

        The bot refuses a rule that reads further back than the kind's retention keeps (its data would be
        pruned under it). A detector with no window of its own returns nothing.
        """
        return {}

    def history_reads(self) -> Mapping[str, int] | None:
        """Return how far back (ms) evaluation reads each series of its symbol, or None when not said.

        Keys are candle intervals ("1h": the 1h candles, as ``Snapshot.candles("1h")`` returns them;
        "base": the finest interval, ``candles()`` and ``forming()``) and the kinds "liquidations",
        "funding" and "open_interest"; a window counts back from the newest row. The live bot's in-memory
        history keeps of each series what its loaded rules read (``MarketHistory.require``), so a read
        further back than said would find the candles gone. None (the default) keeps everything the
        history's retention keeps of the rule's symbols: a detector that does not say stays correct.
        """
        return None

    def history_needed(self) -> Mapping[str, int]:
        """Return the closed candles each interval needs before the rule can fire ({"4h": 35}).

        An indicator rule does not fire until that many closed candles of its interval are known (its
        warm-up, ``detectors.indicators``); the feeds backfill at least this much at start, and
        ``/alert add``, ``/why`` and ``/status`` say "needs N closed 4h candles" while it is short. A
        detector that needs no particular history returns nothing.
        """
        return {}


# A detector's Settings type: ``class LevelCross(Detector[LevelCrossSettings])`` types ``self.settings``.
# Covariant, so every detector class is a ``type[Detector]``; the default keeps a bare ``Detector`` (any
# detector, as the engine and the registry hold them) meaning ``Detector[DetectorSettings]``.
SettingsT = TypeVar("SettingsT", bound=DetectorSettings, covariant=True, default=DetectorSettings)


class Detector(ABC, Generic[SettingsT]):
    """Base class of every detector plugin; one instance per rule."""

    name: ClassVar[str]
    description: ClassVar[str]
    Settings: ClassVar[type[DetectorSettings]]
    # A market-wide detector ignores the rule's symbol (its rules use MARKET_SYMBOL).
    market_wide: ClassVar[bool] = False
    # Data kinds this detector reads; a stale feed of one of them holds its alerts back.
    uses: ClassVar[tuple[str, ...]] = ("candles",)
    # How each key of its signals' values reads (kind and label, ``detectors.values``); a key left out is
    # described from its name, and a test checks the built-ins declare every key they return.
    value_specs: ClassVar[ValueSpecs] = {}

    def __init__(self, rule_id: str, symbol: str, settings: DetectorSettings) -> None:
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{self.name} needs {self.Settings.__name__}, got {type(settings).__name__}")
        self.rule_id = rule_id
        self.symbol = symbol
        # Checked just above against the class's Settings, which is the SettingsT it was declared with.
        self.settings: SettingsT = cast(SettingsT, settings)

    def peer_symbols(self) -> tuple[str, ...]:
        """Return the other symbols this rule reads through ``Snapshot.peer`` (a backtest loads them too)."""
        return ()

    def reads_every_symbol(self) -> bool:
        """Return whether evaluation reads every symbol's history (``Snapshot.market_symbols``)."""
        return False

    @abstractmethod
    def evaluate(self, snapshot: Snapshot, state: dict[str, Any]) -> list[Signal]:
        """Return the conditions active at ``snapshot.now``, updating ``state`` in place."""

    def describe_now(self, snapshot: Snapshot, state: Mapping[str, Any]) -> str | None:
        """Return, in words, what a rule created at ``snapshot.now`` will do, when it is not obvious.

        ``state`` is what the rule's first evaluation at ``snapshot.now`` left. The default reads the
        latches of ``detectors.latch.edge``: a condition that already holds is learnt, not fired on, so the
        rule waits for it to reset and fires the next time. None means the rule simply watches.
        """
        off = state.get("off")
        if not off:
            return None
        keys = ", ".join(str(key) for key in off)
        return (
            f"The condition already holds now ({keys}): a rule never fires on what was under way when it "
            "was created, so this one fires the next time it happens, once the condition has reset."
        )

    def quiet(self, state: dict[str, Any], now: int) -> Quiet | None:
        """Return how long evaluating again after ``now`` would return the same and leave ``state`` as it is.

        Called with the state ``evaluate`` just left at ``now``. The engine skips the rule's evaluations while
        it stays quiet, so the answer must be exact, never hopeful; None (the default, and the answer for a
        detector whose result moves with the clock, such as a rolling window ending now) means "evaluate
        every time".
        """
        return None

    def lasting_state(self, state: dict[str, Any]) -> object | None:
        """Return the part of ``state`` that evaluating the same data again could not rebuild, or None.

        The engine compares it (==) between evaluations and writes the state only when it changed, or
        when the state written last is older than a bound (``bot.alerts.saving``): the rest, such as an
        indicator rule's ``t``, is progress that a restart redoes from the state written last, to the
        same decisions, as a restarted replay redoes the ticks a quiet rule slept through. The answer
        must hold no object the detector changes in place later (copy lists and dicts into tuples).
        None (the default) means "all of it": the state is written after every evaluation.
        """
        return None

    def signal(
        self,
        *,
        kind: str,
        severity: Severity,
        title: str,
        values: Mapping[str, Any],
        at: int,
        key: str = "",
        stateful: bool = False,
        direction: Direction = "neutral",
    ) -> Signal:
        """Build a Signal for this rule."""
        return Signal(
            rule_id=self.rule_id,
            symbol=self.symbol,
            kind=kind,
            severity=severity,
            title=title,
            values=dict(values),
            at=at,
            key=key,
            stateful=stateful,
            direction=direction,
            sources=self.uses,
        )


def short_symbol(symbol: str) -> str:
    """Return the base asset of a USDT/USDC/USD pair for titles ("BTCUSDT" -> "BTC")."""
    for quote in ("USDT", "USDC", "FDUSD", "BUSD", "USD"):
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    return symbol


def pct_change(new: float | None, old: float | None) -> float | None:
    """Return the change from ``old`` to ``new`` in percent, or None when either is missing or old is 0."""
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100
