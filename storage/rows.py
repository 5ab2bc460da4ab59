"""Typed rows, in the column order of their tables, and the one definition of the time units.

Observation rows are NamedTuples on purpose: a batch of them goes straight into ``executemany`` with no
conversion, which is what keeps ingest near SQLite's own speed during a liquidation cascade. The rows the
repository returns for rules, alerts, deliveries and settings are frozen dataclasses whose field order is
their table's column order (``storage.repo.mapping`` builds each mapper from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

# Time units in milliseconds, the unit of every timestamp Tripwire stores; every layer uses these.
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

Side = Literal["long", "short"]


class Candle(NamedTuple):
    """One OHLCV candle; ``open_time`` in UTC ms, ``closed`` False while the candle is still forming."""

    symbol: str
    interval: str
    open_time: int
    source: str
    o: float
    h: float
    l: float  # noqa: E741 - the OHLC letter is the clearest name here
    c: float
    volume: float
    quote_volume: float | None = None
    closed: bool = True


class Liquidation(NamedTuple):
    """One forced liquidation; ``side`` is the side of the liquidated position, ``usd`` its notional."""

    symbol: str
    ts: int
    source: str
    side: Side
    price: float
    qty: float
    usd: float


class Funding(NamedTuple):
    """A funding rate (decimal per interval) at ``ts``; ``settled`` False for an estimate."""

    symbol: str
    ts: int
    source: str
    rate: float
    mark_price: float | None = None
    next_funding_time: int | None = None
    settled: bool = True


class OpenInterest(NamedTuple):
    """Open interest at ``ts`` in contracts (base units) and/or USD."""

    symbol: str
    ts: int
    source: str
    contracts: float | None
    usd: float | None


LongShortMetric = Literal["accounts", "top_accounts", "top_positions", "taker_volume"]


class LongShort(NamedTuple):
    """A venue's long/short reading for a market over ``period`` starting at ``ts`` (migration 0012).

    ``ratio`` is longs (or taker buys) per short (or taker sell); ``long_share`` is longs / (longs + shorts)
    when the venue gives the parts.
    """

    symbol: str
    ts: int
    source: str
    metric: LongShortMetric
    period: str
    ratio: float
    long_share: float | None = None


class PredictedFunding(NamedTuple):
    """A forecast of ``venue``'s next funding rate made by ``source`` at ``ts`` (migration 0016).

    Hyperliquid's ``predictedFundings`` names the rate its own and two other venues will settle next: a
    prediction, never a realised rate, so it is kept apart from ``funding`` and never aggregated.
    """

    symbol: str
    ts: int
    source: str
    venue: str
    rate: float
    next_funding_time: int
    interval_h: float | None = None


class ImpliedVol(NamedTuple):
    """One candle of a volatility index (Deribit DVOL) of ``currency``, in annualised percent."""

    currency: str
    ts: int
    source: str
    resolution: str
    open: float
    high: float
    low: float
    close: float


class EtfFlow(NamedTuple):
    """One US trading day's net flow into the spot ETFs of ``asset`` ("BTC", "ETH"), as a source read it.

    ``net_usd`` is negative for a net outflow. ``ts`` is the trading day at 00:00 UTC (the day the flow is
    about, not when it was published); ``fetched_at`` is when Tripwire read it from ``source``. The other
    figures are stored as the source gave them (None when it gave none).
    """

    asset: str
    date: str
    ts: int
    source: str
    net_usd: float
    value_traded_usd: float | None
    net_assets_usd: float | None
    cum_net_usd: float | None
    fetched_at: int


class DepthBand(NamedTuple):
    """A venue's book summed within ``band_bp`` basis points of the mid, in USD; complete if it reached."""

    symbol: str
    ts: int
    source: str
    band_bp: int
    bid_usd: float
    ask_usd: float
    bid_complete: bool
    ask_complete: bool


class LiqMapGrade(NamedTuple):
    """A sweep of the modelled liquidation map compared with one venue's realized liquidations."""

    symbol: str
    venue: str  # liquidation source of the realized USD
    model_venue: str  # open-interest source the map was built from
    side: Side
    band_low: float
    band_high: float
    start: int
    end: int
    modelled_usd: float
    realized_usd: float
    basis: str
    graded_at: int

    @property
    def ratio(self) -> float | None:
        """Return realized / modelled, or None when nothing was modelled."""
        return self.realized_usd / self.modelled_usd if self.modelled_usd > 0 else None


class MeasuredPositionRow(NamedTuple):
    """One sampled account's position with the venue's own liquidation price (the measured map)."""

    venue: str
    symbol: str
    hour: int  # the hour the sampling round ended in, UTC ms
    user: str
    side: Side
    size: float
    value_usd: float
    entry: float
    liquidation_px: float | None
    leverage: float
    margin: Literal["cross", "isolated"]
    ts: int


class MeasuredSample(NamedTuple):
    """What one sampling round of a venue's accounts covered of one symbol."""

    venue: str
    symbol: str
    hour: int
    ts: int
    accounts_read: int
    accounts: int  # accounts holding a position in the symbol
    sampled_usd: float  # both sides
    open_interest_usd: float  # one side, as venues count open interest
    mark_px: float

    @property
    def coverage(self) -> float:
        """Return the share of open interest the sample holds (0..1).

        Open interest counts one side (every long has a short); the sample holds positions of both sides,
        so it is compared with twice the open interest.
        """
        if self.open_interest_usd <= 0:
            return 0.0
        return min(1.0, self.sampled_usd / (2 * self.open_interest_usd))


class FearGreed(NamedTuple):
    """One daily Fear & Greed value, dated by its publication day."""

    date: str
    ts: int
    value: int
    classification: str | None
    source: str = "alternative.me"


INTERVAL_MS: dict[str, int] = {
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": HOUR_MS,
    "2h": 2 * HOUR_MS,
    "4h": 4 * HOUR_MS,
    "6h": 6 * HOUR_MS,
    "8h": 8 * HOUR_MS,
    "12h": 12 * HOUR_MS,
    "1d": DAY_MS,
    "1w": WEEK_MS,
}


def interval_ms(interval: str) -> int:
    """Return the length of a candle interval in milliseconds, or raise ValueError naming the choices."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; use one of {', '.join(INTERVAL_MS)}") from None


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """One venue instrument as cached in ``instruments`` (``feeds.instruments.Instrument`` plus its time)."""

    venue: str
    kind: str
    symbol: str
    base: str
    quote: str
    multiplier: int = 1
    contract_size: float = 1.0
    inverse: bool = False
    funding_interval_h: float | None = None
    listed: bool = True
    status: str = ""
    fetched_at: int = 0


def funding_interval_ms(spacing_ms: int) -> int:
    """Return the funding interval two settlements ``spacing_ms`` apart stand for: the nearest whole hour.

    Venues stamp a settlement a few milliseconds to seconds after the funding time (Binance's recorded
    BTCUSDT series is 7 h 59 m 5x s apart at times), so the raw spacing reads "479m" where the venue means
    8 h. Every venue settles on whole hours (1, 2, 4, 8 h), so rounding to the hour is exact; a spacing
    under half an hour (a duplicate or a catch-up) is returned unchanged.
    """
    if spacing_ms < HOUR_MS // 2:
        return spacing_ms
    return max(1, round(spacing_ms / HOUR_MS)) * HOUR_MS


# --- rows the repository returns for reads --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiquidationTotals:
    """Liquidated USD by position side and source over a window."""

    long_usd: float = 0.0
    short_usd: float = 0.0
    count: int = 0
    by_source: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd


@dataclass(frozen=True, slots=True)
class SpanStat:
    """Row count and time span of one (table, source, symbol) slice, for ``tripwire db stats``."""

    table: str
    source: str
    symbol: str
    rows: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class CandleCoverage:
    """How many candles of one (interval, source) a symbol has in a window, and their open-time span."""

    interval: str
    source: str
    rows: int
    first_open: int
    last_open: int


@dataclass(frozen=True, slots=True)
class CandleSeries:
    """One (interval, source) series of a symbol's candles and the open times of its first and last."""

    interval: str
    source: str
    first_open: int
    last_open: int


@dataclass(frozen=True, slots=True)
class DatabaseStats:
    """Rows per table plus time spans per source and symbol."""

    rows_per_table: dict[str, int]
    spans: list[SpanStat]
    schema_version: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A stored alert rule; ``settings`` are the detector's own options, already validated."""

    id: str
    origin: str
    detector: str
    symbol: str
    settings: dict[str, Any]
    guild_id: int | None = None
    owner_id: int | None = None
    channel_id: int | None = None
    role_id: int | None = None
    deliver: str = "channel"
    note: str | None = None
    repeat: bool = True
    cooldown_s: int = 0
    pending_s: int = 0
    expires_at: int | None = None
    enabled: bool = True
    status_reason: str | None = None
    created_at: int = 0
    updated_at: int = 0
    # How the end of a state-like alert is told: "edit" its message, "message" (edit and post), "none".
    resolve_notice: str = "edit"
    # Consecutive evaluations a condition must be seen on before it fires (with pending_s, both must pass).
    pending_evaluations: int = 0


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """The lifecycle state of one dedupe key."""

    dedupe_key: str
    rule_id: str
    status: str
    since: int
    pending_count: int = 0
    fired_at: int | None = None
    last_seen: int | None = None
    last_event_id: int | None = None
    fire_count: int = 0
    stateful: bool = False


@dataclass(frozen=True, slots=True)
class AlertEventRow:
    """One recorded alert event (firing or resolved)."""

    id: int
    dedupe_key: str
    rule_id: str
    detector: str
    symbol: str
    guild_id: int | None
    state: str
    kind: str
    severity: str
    title: str
    values: dict[str, Any]
    rule: dict[str, Any]
    at: int
    recorded_at: int
    late: bool
    silenced_by: int | None
    inhibited_by: int | None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued delivery."""

    id: int
    event_id: int | None
    sink: str
    target: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: int
    created_at: int
    delivered_at: int | None
    remote_id: str | None
    error: str | None
    # The message group (one Discord message) this row is shown in, once the sink placed it.
    group_id: int | None = None


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """A silence: alerts matching every non-null matcher between starts_at and ends_at are muted."""

    id: int
    guild_id: int | None
    symbol: str | None
    detector: str | None
    rule_id: str | None
    severity: str | None
    starts_at: int
    ends_at: int
    recurrence: str | None
    created_by: int | None
    reason: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class WebhookRouteRow:
    """An inbound webhook route: its public id (in the URL), its rule, the hash of its secret, its limits."""

    id: str
    guild_id: int
    rule_id: str
    name: str
    secret_sha256: str
    default_severity: str
    max_body_bytes: int
    rate_per_minute: int
    created_by: int | None
    created_at: int
    last_used_at: int | None = None
    accepted: int = 0


@dataclass(frozen=True, slots=True)
class MessageGroupRow:
    """One delivered (or about to be delivered) message holding one or more outbox rows."""

    id: int
    sink: str
    target: str
    kind: str
    group_key: str
    window_ends_at: int
    created_at: int
    remote_id: str | None
    gone: bool
    # Wall-clock ms of the first send attempt (None: never tried) and of adopting a message found in Discord.
    attempted_at: int | None = None
    adopted_at: int | None = None


@dataclass(frozen=True, slots=True)
class GuildSettingsRow:
    """A guild's default alert and ops channels plus free-form settings."""

    guild_id: int
    alert_channel_id: int | None
    ops_channel_id: int | None
    settings: dict[str, Any]
    updated_at: int


@dataclass(frozen=True, slots=True)
class EventScope:
    """The alert events one guild may see: its own rules' events and those of config rules routed to it."""

    guild_id: int
    # Config-file rule id -> the severities of its alerts that are routed to the guild (a route's
    # min_severity can keep a guild's channel from getting a rule's info alerts).
    routed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Delivery targets inside the guild ("channel:<id>"): an event queued for one of them was sent there.
    targets: tuple[str, ...] = ()
    # Rules whose alerts stay private even in the guild: other members' direct-message alerts.
    hidden_rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedHealthReport:
    """The feeds' states a role last reported (``feed_health``): who wrote it, when, and each feed's line."""

    role: str
    writer: str  # "host:pid" of the process that wrote it
    written_at: int  # UTC ms
    statuses: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class DigestRow:
    """A scheduled market digest of a guild, posted in one channel (see migration 0002 for the schedule)."""

    id: int
    guild_id: int
    channel_id: int
    minute_of_day: int
    every_hours: int
    weekdays: int
    contents: tuple[str, ...]
    last_slot_at: int
    enabled: bool = True
    status_reason: str | None = None
    created_by: int | None = None
    created_at: int = 0
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class MemberNoticeRow:
    """Something to tell a member privately the next time they use a command."""

    id: int
    user_id: int
    kind: str
    text: str
    created_at: int


@dataclass(frozen=True, slots=True)
class MemberData:
    """What the database holds about one Discord user (what /privacy shows)."""

    personal_rules: list[RuleRow]
    created_rules: list[RuleRow]
    personal_events: int
    dm_deliveries: int
    notices: int
    digests_created: int
    silences_created: int
    liqfeeds_set: int  # servers whose liquidation feed they set up (their id is kept as "set by")
    server_events_naming: int  # past alerts of server rules they created (the rule copy keeps its owner)


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one prune removed (or, in a dry run, would remove) and what it folded into coarser rows."""

    # Rows deleted per table; in a dry run, rows that would be deleted.
    deleted: dict[str, int]
    # Coarse rows written by downsampling ("candles": 1h candles, "liquidations": hourly totals); in a
    # dry run, hours that would be folded.
    downsampled: dict[str, int]
    dry_run: bool
    # Write transactions used; each held the write lock for at most one chunk.
    chunks: int

    @property
    def total_deleted(self) -> int:
        """Return the number of rows deleted over all tables."""
        return sum(self.deleted.values())
