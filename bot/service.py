"""What the slash commands do, as plain Python: no ``import discord`` here.

Each method returns a frozen dataclass for a front end to render, or raises ``UserError`` with a message
meant for the person who asked (freqtrade's RPC layer is the model). Queries answer "as of now" (the
injected clock), so a test or a replay can ask about any moment of the stored history. Rule changes are
written through the repo and then announced to the engine with ``refresh_rule``.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from bot.config import RULE_ID_PATTERN, Config
from bot.derivatives import (
    FundingSourceView,
    FundingView,
    OpenInterestSourceView,
    OpenInterestView,
    funding_view,
    open_interest_view,
)
from bot.detector_settings import (
    MAX_CHOICE_CHARS,
    MAX_CHOICES,
    SettingSpec,
    complete_settings,
    example_text,
    parse_settings,
    setting_specs,
    shorten,
)
from bot.errors import UserError
from bot.markets import canonical_symbol, resolve_market
from bot.parsing import (
    check_length,
    check_quota,
    echo,
    format_duration,
    known_detector,
    no_such_rule,
    optional_text,
    resolve_symbol,
    symbol_matches,
)
from bot.silences import SilenceCommands
from detectors.base import MARKET_SYMBOL, Detector, format_price, short_symbol
from detectors.registry import detector_classes
from feeds.instruments import InstrumentRegistry
from storage.repo import AlertEventRow, Repo, RuleRow
from storage.rows import DAY_MS, HOUR_MS, INTERVAL_MS, Candle

log = logging.getLogger(__name__)

# Binance, Bybit and OKX settle USD-M perpetual funding every 8 hours at 00:00, 08:00 and 16:00 UTC.
FUNDING_INTERVAL_MS = 8 * HOUR_MS
# Liquidation windows people may ask about: from a few minutes to the week the "usual" is measured over.
MIN_WINDOW_S = 5 * 60
MAX_WINDOW_S = 7 * 86_400
USUAL_DAYS = 7
# A price older than this is shown as stale (the feed watchdog has its own, configurable, thresholds).
STALE_PRICE_S = 15 * 60
MAX_NOTE_CHARS = 300
MAX_COOLDOWN_S = 30 * 86_400
MAX_EXPIRY_S = 365 * 86_400
# Status reasons the delivery side writes, so front ends (and issue 9's DM notice) can recognise them.
BROKEN_PREFIX = "broken: "
DMS_CLOSED_REASON = "paused: the member's DMs are closed"
PAUSED_REASON = "paused by "
# Key of a guild's settings (guild_settings.settings) that attaches a chart to its alerts.
CHART_ALERTS = "chart_alerts"
_RULE_ID = re.compile(RULE_ID_PATTERN)


# --- protocols for what the service is given ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatusView:
    """One feed's health as /status shows it."""

    name: str
    state: str  # "ok", "degraded", "stale", "disabled", or "refused" (a venue does not list a symbol)
    last_success_ms: int | None = None
    lag_s: float | None = None
    detail: str | None = None


class FeedHealth(Protocol):
    """Anything that reports feed health (the live feed registry, or a fixed list in tests)."""

    def statuses(self) -> list[FeedStatusView]:
        """Return the current state of every feed."""


class RuleRefresher(Protocol):
    """The part of the engine the service needs: pick up a changed rule."""

    def refresh_rule(self, rule_id: str) -> None:
        """Reload one rule from the database."""


class NoFeedHealth:
    """A FeedHealth for when no feeds run (replay, tests, ``--no-feeds``)."""

    def statuses(self) -> list[FeedStatusView]:
        """Return no feeds."""
        return []


# --- views returned to front ends -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PriceView:
    """Last price of a symbol with its 24-hour range and where it came from."""

    symbol: str
    price: float
    at: int
    change_24h_pct: float | None
    high_24h: float
    low_24h: float
    volume_24h: float
    quote_volume_24h: float | None
    source: str
    interval: str
    age_s: float
    stale: bool


@dataclass(frozen=True, slots=True)
class SourceLiquidations:
    """Liquidated USD of one exchange/source by position side."""

    source: str
    long_usd: float
    short_usd: float


@dataclass(frozen=True, slots=True)
class LiquidationEvent:
    """One large liquidation, or one large hourly bucket for sources that only publish totals."""

    symbol: str
    ts: int
    source: str
    side: str
    usd: float
    price: float | None
    aggregated: bool


@dataclass(frozen=True, slots=True)
class LiquidationsView:
    """Liquidations over a window, by side and source, compared with the usual for such a window."""

    symbol: str | None
    window_s: int
    start: int
    end: int
    long_usd: float
    short_usd: float
    by_source: tuple[SourceLiquidations, ...]
    largest: tuple[LiquidationEvent, ...]
    usual_usd: float | None
    usual_days: int
    latest_at: int | None

    @property
    def total_usd(self) -> float:
        """Return long plus short."""
        return self.long_usd + self.short_usd

    @property
    def ratio_to_usual(self) -> float | None:
        """Return the total as a multiple of the usual window, or None without a baseline."""
        if self.usual_usd is None or self.usual_usd <= 0:
            return None
        return self.total_usd / self.usual_usd


@dataclass(frozen=True, slots=True)
class FearGreedSince:
    """The last earlier day the index was at least as high (or as low) as today."""

    date: str | None  # None: never, within the stored history
    value: int | None
    days: int  # days since then (or the days of history searched)


@dataclass(frozen=True, slots=True)
class FearGreedView:
    """Today's Fear & Greed value, its published classification and how it compares."""

    value: int
    classification: str | None
    date: str
    at: int
    yesterday: int | None
    last_week: int | None
    highest_since: FearGreedSince
    lowest_since: FearGreedSince
    source: str

    @property
    def change_1d(self) -> int | None:
        """Return the change since yesterday."""
        return None if self.yesterday is None else self.value - self.yesterday

    @property
    def change_7d(self) -> int | None:
        """Return the change since a week ago."""
        return None if self.last_week is None else self.value - self.last_week


@dataclass(frozen=True, slots=True)
class RuleOptions:
    """Options every rule has whatever its detector (the common part of /alert add)."""

    channel_id: int | None = None
    role_id: int | None = None
    note: str | None = None
    repeat: bool = True
    cooldown_s: int | None = None
    expires_in_s: int | None = None
    deliver: Literal["channel", "dm"] = "channel"


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule as /alert list shows it, with the current price's distance to its level when it has one."""

    id: str
    detector: str
    symbol: str
    settings: Mapping[str, Any]
    summary: str
    guild_id: int | None
    owner_id: int | None
    channel_id: int | None
    role_id: int | None
    deliver: str
    note: str | None
    repeat: bool
    cooldown_s: int
    expires_at: int | None
    enabled: bool
    status_reason: str | None
    level: float | None = None
    price: float | None = None
    distance_pct: float | None = None

    @property
    def broken(self) -> bool:
        """Return whether delivery disabled the rule (channel gone, access lost)."""
        return not self.enabled and (self.status_reason or "").startswith(BROKEN_PREFIX)


@dataclass(frozen=True, slots=True)
class GuildSetupView:
    """A guild's alert and ops channels after /setup."""

    guild_id: int
    alert_channel_id: int | None
    ops_channel_id: int | None
    changed: bool
    chart_alerts: bool = False


@dataclass(frozen=True, slots=True)
class AlertSummary:
    """One recent alert for /status."""

    event_id: int
    rule_id: str
    symbol: str
    title: str
    at: int
    late: bool
    silenced: bool


@dataclass(frozen=True, slots=True)
class StatusView:
    """The bot's health: feeds, recent alerts, version, uptime, database size and rule counts."""

    version: str
    uptime_s: float
    started_at: int
    db_size_bytes: int
    feeds: tuple[FeedStatusView, ...]
    last_alerts: tuple[AlertSummary, ...]
    rules_enabled: int
    rules_total: int
    outbox_pending: int
    alert_channel_id: int | None = None
    ops_channel_id: int | None = None
    symbols: tuple[str, ...] = field(default=())


# --- helpers ------------------------------------------------------------------------------------------


def package_version() -> str:
    """Return the installed Tripwire version, or "unknown" when running from a bare checkout."""
    try:
        return metadata.version("tripwire")
    except metadata.PackageNotFoundError:
        return "unknown"


def pct_change(new: float | None, old: float | None) -> float | None:
    """Return the change from ``old`` to ``new`` in percent, or None when either is missing or old is 0."""
    if new is None or old is None or old == 0:
        return None
    return (new - old) / old * 100


def next_funding_time(now: int) -> int:
    """Return the next 8-hourly funding settlement (00:00/08:00/16:00 UTC) strictly after ``now``."""
    return (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def settings_error(detector: str, error: ValidationError) -> UserError:
    """Turn a detector Settings validation error into one readable message naming each option."""
    problems: list[str] = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "options"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "is not an option of this alert"
        problems.append(f"`{where}`: {message}")
    shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
    return UserError(f"Invalid {detector} options: {shown}.")


# Length a detector's choice label aims at (Discord allows 100).
LABEL_CHARS = 64


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    """A detector as /alert detectors explains it."""

    name: str
    description: str
    market_wide: bool
    settings: tuple[SettingSpec, ...]
    example: str  # a settings text showing the syntax, e.g. ``level=95000``


def detector_label(cls: type[Detector]) -> str:
    """Return ``name: what it watches``, short (a choice of the `detector` option)."""
    # The description up to its first parenthesis says what it watches; the rest is for /alert detectors.
    # Kept to about 64 characters: the label is repeated in three options of /alert (add, test,
    # detectors), and every character counts towards Discord's 8,000 per command.
    what = cls.description.split(" (")[0].strip()
    room = max(LABEL_CHARS - len(cls.name) - 2, 16)
    return f"{cls.name}: {shorten(what, room)}"[:MAX_CHOICE_CHARS]


def describe_settings(settings: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> str:
    """Return a rule's settings compactly (``level=$95,000 direction=up``), leaving out default values."""
    parts = []
    for key, value in settings.items():
        if value is None or (defaults is not None and key in defaults and defaults[key] == value):
            continue
        if key == "level" and isinstance(value, int | float):
            parts.append(f"{key}={format_price(float(value))}")
        elif isinstance(value, list | tuple):
            parts.append(f"{key}={','.join(str(v) for v in value)}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


class Service(SilenceCommands):
    """Answer market queries and manage rules, silences and guild settings for the chat front ends."""

    def __init__(
        self,
        repo: Repo,
        engine: RuleRefresher,
        config: Config,
        now_ms: Callable[[], int],
        feeds: FeedHealth | None = None,
        *,
        detectors: Mapping[str, type[Detector]] | None = None,
        started_at: int | None = None,
        new_suffix: Callable[[], str] = lambda: secrets.token_hex(2),
    ) -> None:
        self.repo = repo
        self.engine = engine
        self.config = config
        self.now_ms = now_ms
        self.feeds: FeedHealth = feeds if feeds is not None else NoFeedHealth()
        self.detectors = dict(detectors) if detectors is not None else detector_classes()
        self.started_at = started_at if started_at is not None else now_ms()
        self._new_suffix = new_suffix
        # The venues' instrument lists once the feeds have read them (None before, and without feeds).
        self.instruments: InstrumentRegistry | None = None

    # --- symbols -------------------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Return the configured symbols."""
        return list(self.config.symbols)

    def resolve_symbol(self, text: str) -> str:
        """Return the configured symbol ``text`` names, or raise UserError listing the known ones."""
        return self.resolve_market(text)[0]

    def resolve_market(self, text: str) -> tuple[str, str | None]:
        """Return (watched symbol, what it resolved to on each venue) for a market or venue symbol.

        ``PEPE``, ``1000PEPEUSDT`` and ``PEPE-USDT-SWAP`` all name PEPEUSDT. Raise UserError for a
        market no venue lists (with the closest ones) or one not watched; without instrument lists, the
        configured symbols are all that is known.
        """
        if self.instruments is None or not self.instruments.venues():
            try:
                return resolve_symbol(text, self.config.symbols), None
            except UserError:
                symbol = canonical_symbol(text)
                if symbol not in self.config.symbols:
                    raise
                return symbol, f"{text.strip()} -> {symbol}"
        try:
            return resolve_market(text, self.config.symbols, self.instruments)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def symbol_choices(self, current: str) -> list[str]:
        """Return up to 25 configured symbols matching what was typed (for autocomplete)."""
        return symbol_matches(current, self.config.symbols)

    def _symbol_or_default(self, symbol: str | None) -> str:
        return self.resolve_symbol(symbol) if symbol is not None else self.config.symbols[0]

    # --- market queries ------------------------------------------------------------------------------

    def _finest_interval(self, symbol: str) -> str | None:
        intervals = [i for i in self.repo.candle_intervals(symbol) if i in INTERVAL_MS]
        return min(intervals, key=lambda i: INTERVAL_MS[i]) if intervals else None

    def _recent_candles(self, symbol: str, now: int, span_ms: int) -> tuple[str, list[Candle]] | None:
        interval = self._finest_interval(symbol)
        if interval is None:
            return None
        # Candles that opened before now: the newest may still be forming (its close is the last price).
        rows = self.repo.candles(symbol, interval, now - span_ms - INTERVAL_MS[interval], now)
        return (interval, rows) if rows else None

    def price(self, symbol: str) -> PriceView:
        """Return the last price of ``symbol`` with its 24h change, range, volume, source and age."""
        name = self.resolve_symbol(symbol)
        now = self.now_ms()
        found = self._recent_candles(name, now, DAY_MS)
        if found is None:
            raise UserError(f"No price data for {name} yet; the spot feed has not delivered any candles.")
        interval, rows = found
        length = INTERVAL_MS[interval]
        last = rows[-1]
        window = [c for c in rows if c.open_time >= now - DAY_MS]
        if not window:
            window = [last]
        # The 24h change compares with the price 24 hours ago: the open of the first candle in the window.
        first = window[0]
        quote = [c.quote_volume for c in window if c.quote_volume is not None]
        at = min(last.open_time + length, now)
        age = max(0.0, (now - at) / 1000)
        return PriceView(
            symbol=name,
            price=last.c,
            at=at,
            change_24h_pct=pct_change(last.c, first.o) if first.open_time <= now - DAY_MS + length else None,
            high_24h=max(c.h for c in window),
            low_24h=min(c.l for c in window),
            volume_24h=sum(c.volume for c in window),
            quote_volume_24h=sum(quote) if len(quote) == len(window) else None,
            source=last.source,
            interval=interval,
            age_s=age,
            stale=age > max(STALE_PRICE_S, 2 * length / 1000),
        )

    def liquidations(self, symbol: str | None, window_s: int) -> LiquidationsView:
        """Return long vs short liquidations over the last ``window_s`` (one symbol or all), by source,
        the largest events, and the average of such a window over the previous week."""
        name = self.resolve_symbol(symbol) if symbol is not None else None
        if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
            raise UserError(
                f"The window must be between {format_duration(MIN_WINDOW_S)} and "
                f"{format_duration(MAX_WINDOW_S)}; you asked for {format_duration(window_s)}."
            )
        now = self.now_ms()
        window_ms = window_s * 1000
        start = now - window_ms
        totals = self.repo.liquidation_totals(name, start, now)
        largest = [
            LiquidationEvent(r.symbol, r.ts, r.source, r.side, r.usd, r.price, False)
            for r in self.repo.largest_liquidations(name, start, now, 5)
        ]
        if not largest:
            largest = [
                LiquidationEvent(r.symbol, r.ts, r.source, r.side, r.usd, None, True)
                for r in self.repo.largest_liquidation_buckets(name, start, now, 5)
            ]
        baseline_start = start - USUAL_DAYS * DAY_MS
        latest = self.repo.last_liquidation_time(name, now)
        usual: float | None = None
        if latest is not None and self.repo.last_liquidation_time(name, start) is not None:
            before = self.repo.liquidation_totals(name, baseline_start, start)
            if before.count:
                usual = before.total_usd * window_ms / (USUAL_DAYS * DAY_MS)
        by_source = tuple(
            SourceLiquidations(source, pair[0], pair[1])
            for source, pair in sorted(totals.by_source.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))
        )
        return LiquidationsView(
            symbol=name,
            window_s=window_s,
            start=start,
            end=now,
            long_usd=totals.long_usd,
            short_usd=totals.short_usd,
            by_source=by_source,
            largest=tuple(largest),
            usual_usd=usual,
            usual_days=USUAL_DAYS,
            latest_at=latest,
        )

    def funding(self, symbol: str | None = None) -> FundingView:
        """Return funding of ``symbol`` (default: the first configured) per venue, with its interval,
        annualised rate and next settlement, the 24h change and 7-day average of one venue's settled
        history (named), and a cross-venue line (see ``bot.derivatives``)."""
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        view = funding_view(name, self.repo.funding(name, now - 8 * DAY_MS, now + 1), now, self.instruments)
        if view is None:
            raise UserError(f"No funding data for {name} yet; the futures feeds have not reported any.")
        return view

    def open_interest(self, symbol: str | None = None) -> OpenInterestView:
        """Return the open interest of ``symbol`` (default: the first configured) per venue and summed,
        each on one side of the market, with the sum's changes."""
        name = self._symbol_or_default(symbol)
        now = self.now_ms()
        rows = self.repo.open_interest(name, now - 8 * DAY_MS, now + 1)
        funding = funding_view(
            name, self.repo.funding(name, now - 8 * DAY_MS, now + 1), now, self.instruments
        )
        upcoming = funding.next_funding_at if funding is not None else next_funding_time(now)
        view = open_interest_view(name, rows, now, upcoming)
        if view is None:
            raise UserError(f"No open-interest data for {name} yet; the futures feeds have not reported any.")
        return view

    def fear_greed(self) -> FearGreedView:
        """Return today's Fear & Greed Index, its change vs yesterday and last week, and since when it was
        last this high and this low."""
        now = self.now_ms()
        rows = self.repo.fear_greed(None, now + 1)
        if not rows:
            raise UserError("No Fear & Greed data yet; the index is fetched once a day from alternative.me.")
        today = rows[-1]
        by_ts = {r.ts: r.value for r in rows}

        def since(higher: bool) -> FearGreedSince:
            for row in reversed(rows[:-1]):
                if (row.value >= today.value) if higher else (row.value <= today.value):
                    return FearGreedSince(row.date, row.value, (today.ts - row.ts) // DAY_MS)
            return FearGreedSince(None, None, (today.ts - rows[0].ts) // DAY_MS)

        return FearGreedView(
            value=today.value,
            classification=today.classification,
            date=today.date,
            at=today.ts,
            yesterday=by_ts.get(today.ts - DAY_MS),
            last_week=by_ts.get(today.ts - 7 * DAY_MS),
            highest_since=since(True),
            lowest_since=since(False),
            source=today.source,
        )

    # --- rules ---------------------------------------------------------------------------------------

    def _new_rule_id(self, detector: str, symbol: str) -> str:
        asset = "market" if symbol == MARKET_SYMBOL else short_symbol(symbol).lower()
        kind = detector.split("_")[0].lower()
        for _ in range(20):
            candidate = f"{asset[:12]}-{kind[:12]}-{self._new_suffix()}"
            if _RULE_ID.match(candidate) and self.repo.rule(candidate) is None:
                return candidate
        raise RuntimeError("could not find a free rule id after 20 tries")

    def validate_rule(
        self, detector: str, symbol: str | None, settings: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """Return the symbol and settings (as stored) of a rule of ``detector``, or raise UserError."""
        cls = known_detector(detector, self.detectors)
        name = self.rule_symbol(detector, symbol)

        def check_finite(values: Mapping[str, Any]) -> None:
            for key, value in values.items():
                # pydantic accepts inf for a float with gt=0; no market level or threshold is infinite.
                if isinstance(value, float) and not math.isfinite(value):
                    raise UserError(
                        f"Invalid {detector} options: `{echo(key)[1:-1]}` must be a finite number."
                    )

        check_finite(settings)
        try:
            validated = cls.Settings.model_validate(dict(settings))
        except ValidationError as exc:
            raise settings_error(detector, exc) from None
        stored = validated.model_dump(mode="json")
        check_finite(stored)  # "inf" typed as text becomes a float only in validation
        return name, stored

    def rule_symbol(self, detector: str, symbol: str | None) -> str:
        """Return the symbol a rule of ``detector`` watches (MARKET for a market-wide one), or raise
        UserError when one is missing or given to a detector that takes none."""
        cls = known_detector(detector, self.detectors)
        if cls.market_wide:
            # MARKET is what a stored market-wide rule carries (a drafted rule enabled after /alert test).
            if symbol is not None and symbol != MARKET_SYMBOL:
                raise UserError(f"{detector} watches the whole market, not one symbol: leave out `symbol`.")
            return MARKET_SYMBOL
        if symbol is None:
            example = self.symbols[0] if self.symbols else "BTCUSDT"
            raise UserError(
                f"{detector} needs a symbol, e.g. `symbol:{example}` (watched: {', '.join(self.symbols)})."
            )
        return self.resolve_symbol(symbol)

    # --- detectors and their settings as members type them -------------------------------------------

    def detector_info(self, detector: str) -> DetectorInfo:
        """Return a detector's help: what it watches, each setting, an example settings text."""
        cls = known_detector(detector, self.detectors)
        return DetectorInfo(
            name=cls.name,
            description=" ".join(cls.description.split()),
            market_wide=cls.market_wide,
            settings=tuple(setting_specs(cls.Settings)),
            example=example_text(cls.Settings),
        )

    def detector_infos(self) -> list[DetectorInfo]:
        """Return the help of every detector, in registration order."""
        return [self.detector_info(name) for name in self.detectors]

    def parse_settings(self, detector: str, text: str | None) -> dict[str, Any]:
        """Read a settings text (``level=95000 direction=up``) for ``detector``, or raise UserError."""
        cls = known_detector(detector, self.detectors)
        return parse_settings(detector, cls.Settings, text)

    def settings_choices(self, detector: str | None, text: str) -> list[tuple[str, str]]:
        """Return (name, value) completions of a settings text being typed (none for an unknown detector)."""
        cls = self.detectors.get(detector or "")
        return complete_settings(cls.Settings, text) if cls is not None else []

    def detector_choices(self, current: str) -> list[tuple[str, str]]:
        """Return up to 25 (label, name) detectors whose name or description holds what was typed."""
        typed = current.strip().lower()
        found = [
            (detector_label(cls), name)
            for name, cls in self.detectors.items()
            if typed in name.lower() or typed in cls.description.lower()
        ]
        # Names starting with what was typed first: the usual way to pick one.
        found.sort(key=lambda choice: not choice[1].startswith(typed))
        return found[:MAX_CHOICES]

    def check_delivery(self, options: RuleOptions, *, is_admin: bool) -> None:
        """Refuse a channel alert to a member without Manage Server (their alerts come by DM)."""
        if options.deliver == "channel" and not is_admin:
            raise UserError(
                "Alerts in channels need the Manage Server permission; use `deliver: dm` to get this alert "
                "by direct message."
            )

    def add_rule(
        self,
        guild_id: int,
        user_id: int,
        detector: str,
        symbol: str | None,
        settings: Mapping[str, Any],
        options: RuleOptions | None = None,
        *,
        is_admin: bool = False,
    ) -> RuleView:
        """Validate and store a new rule of ``detector`` in a guild, then hand it to the engine."""
        options = options or RuleOptions()
        name, stored_settings = self.validate_rule(detector, symbol, settings)
        self.check_delivery(options, is_admin=is_admin)
        self._check_options(guild_id, options)
        self._check_user_quota(guild_id, user_id, options.deliver)
        check_quota(
            self.repo.count_rules(guild_id=guild_id),
            self.config.discord.max_rules_per_guild,
            "alerts",
            "/alert remove",
        )
        for existing in self.repo.rules(guild_id=guild_id):
            if (
                existing.detector == detector
                and existing.symbol == name
                and existing.settings == stored_settings
                and existing.channel_id == options.channel_id
                and existing.deliver == options.deliver
                and (options.deliver == "channel" or existing.owner_id == user_id)
            ):
                raise UserError(f"Alert `{existing.id}` already does exactly this.")
        now = self.now_ms()
        cooldown = options.cooldown_s
        row = RuleRow(
            id=self._new_rule_id(detector, name),
            origin="discord",
            detector=detector,
            symbol=name,
            settings=stored_settings,
            guild_id=guild_id,
            owner_id=user_id,
            channel_id=options.channel_id,
            role_id=options.role_id,
            deliver=options.deliver,
            note=optional_text(options.note),
            repeat=options.repeat,
            cooldown_s=self.config.engine.default_cooldown_seconds if cooldown is None else cooldown,
            expires_at=now + options.expires_in_s * 1000 if options.expires_in_s else None,
            created_at=now,
            updated_at=now,
        )
        with self.repo.transaction():
            self.repo.save_rule(row)
        self.engine.refresh_rule(row.id)
        log.info("rule %s (%s %s) added in guild %s by user %s", row.id, detector, name, guild_id, user_id)
        return self._view(row, now)

    def _check_user_quota(self, guild_id: int, user_id: int, deliver: str) -> None:
        limit = self.config.discord.max_rules_per_user
        if deliver == "dm":
            # One inbox however many servers: personal alerts count across all of them.
            personal = sum(1 for r in self.repo.rules(owner_id=user_id) if r.deliver == "dm")
            if personal >= limit:
                raise UserError(
                    f"You already have {personal} personal alerts, the most one member may have ({limit}). "
                    "Remove one with /alert remove first."
                )
            return
        owned = self.repo.count_rules(guild_id=guild_id, owner_id=user_id)
        if owned >= limit:
            raise UserError(
                f"You already have {owned} alerts here, the most one member may have "
                f"({limit}). Remove one with /alert remove first."
            )

    def _check_options(self, guild_id: int, options: RuleOptions) -> None:
        if options.deliver == "dm" and (options.channel_id is not None or options.role_id is not None):
            raise UserError("An alert delivered by DM has no channel or role; leave those options out.")
        check_length(options.note, "note", MAX_NOTE_CHARS)
        if options.cooldown_s is not None and not 0 <= options.cooldown_s <= MAX_COOLDOWN_S:
            raise UserError(f"The cooldown must be between 0 and {format_duration(MAX_COOLDOWN_S)}.")
        if options.expires_in_s is not None and not 60 <= options.expires_in_s <= MAX_EXPIRY_S:
            raise UserError(f"The expiry must be between 1m and {format_duration(MAX_EXPIRY_S)} from now.")
        if options.role_id is not None and options.role_id == guild_id:
            # The @everyone role has the guild's id; mentioning it would ping the whole server.
            raise UserError("Alerts never ping @everyone; pick a role made for alerts.")
        if options.deliver == "channel" and options.channel_id is None:
            settings = self.repo.guild_settings(guild_id)
            if settings is None or settings.alert_channel_id is None:
                raise UserError(
                    "Pick a channel for this alert, or set the server's default alert channel with /setup."
                )

    def _guild_rule(self, guild_id: int, user_id: int, rule_id: str, is_admin: bool) -> RuleRow:
        row = self.repo.rule(rule_id.strip())
        if row is None or row.guild_id != guild_id:
            raise no_such_rule(rule_id)
        if not is_admin and row.owner_id != user_id:
            raise UserError(
                f"Alert `{row.id}` belongs to someone else; only its owner or an admin can change it."
            )
        if not is_admin and row.deliver != "dm":
            # A member manages their personal alerts; the server's channel alerts need Manage Server, even
            # the ones they created while they had it.
            raise UserError(
                f"Alert `{row.id}` posts in a channel; changing it needs the Manage Server permission."
            )
        return row

    def list_rules(self, guild_id: int, user_id: int, *, is_admin: bool) -> list[RuleView]:
        """Return the guild's rules (admins) or the member's own, with distances to levels."""
        rows = self.repo.rules(guild_id=guild_id, owner_id=None if is_admin else user_id)
        now = self.now_ms()
        prices: dict[str, float | None] = {}
        return [self._view(row, now, prices) for row in rows]

    def rule_choices(
        self, guild_id: int, user_id: int, *, is_admin: bool, current: str
    ) -> list[tuple[str, str]]:
        """Return (rule id, label) pairs for autocomplete, matching what was typed, at most 25."""
        typed = current.strip().lower()
        rows = self.repo.rules(guild_id=guild_id, owner_id=None if is_admin else user_id)
        # What a member may change: their personal alerts (see _guild_rule).
        rows = rows if is_admin else [r for r in rows if r.deliver == "dm"]
        found = [r for r in rows if typed in r.id or typed in r.symbol.lower()]
        # Labels need only the settings: no price is read while someone types.
        return [
            (r.id, f"{r.id} · {r.symbol} {self.summarize(r.detector, r.settings)}"[:100]) for r in found[:25]
        ]

    def remove_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Delete a rule of the guild (its alert history is kept) and tell the engine."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        with self.repo.transaction():
            self.repo.delete_rule(row.id)
        self.engine.refresh_rule(row.id)
        log.info("rule %s removed in guild %s by user %s", row.id, guild_id, user_id)
        return self._view(row, self.now_ms())

    def pause_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Disable a rule until it is resumed."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        if not row.enabled:
            raise UserError(f"Alert `{row.id}` is already paused ({row.status_reason or 'disabled'}).")
        return self._set_enabled(row, False, f"{PAUSED_REASON}<@{user_id}>")

    def resume_rule(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Enable a paused (or broken, once fixed) rule again."""
        row = self._guild_rule(guild_id, user_id, rule_id, is_admin)
        if row.enabled:
            raise UserError(f"Alert `{row.id}` is already running.")
        if row.expires_at is not None and row.expires_at <= self.now_ms():
            raise UserError(f"Alert `{row.id}` has expired; add it again with a new expiry.")
        return self._set_enabled(row, True, None)

    def _set_enabled(self, row: RuleRow, enabled: bool, reason: str | None) -> RuleView:
        now = self.now_ms()
        with self.repo.transaction():
            self.repo.set_rule_enabled(row.id, enabled, reason, now)
        self.engine.refresh_rule(row.id)
        updated = self.repo.rule(row.id)
        assert updated is not None
        return self._view(updated, now)

    def _defaults(self, detector: str) -> dict[str, Any]:
        cls = self.detectors.get(detector)
        if cls is None:
            return {}
        return {
            name: info.default for name, info in cls.Settings.model_fields.items() if not info.is_required()
        }

    def ordered_settings(self, detector: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Return a rule's settings in the order its detector declares them."""
        # Stored JSON has sorted keys; people read options in the order the detector declares them.
        cls = self.detectors.get(detector)
        order = list(cls.Settings.model_fields) if cls is not None else []
        return dict(sorted(settings.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))

    def summarize(self, detector: str, settings: Mapping[str, Any]) -> str:
        """Return a rule's settings compactly, leaving out its detector's defaults."""
        return describe_settings(self.ordered_settings(detector, settings), self._defaults(detector))

    def _view(self, row: RuleRow, now: int, prices: dict[str, float | None] | None = None) -> RuleView:
        level_value = row.settings.get("level")
        level = float(level_value) if isinstance(level_value, int | float) else None
        price: float | None = None
        distance: float | None = None
        if level is not None and row.symbol != MARKET_SYMBOL:
            cache = prices if prices is not None else {}
            if row.symbol not in cache:
                found = self._recent_candles(row.symbol, now, HOUR_MS)
                cache[row.symbol] = found[1][-1].c if found else None
            price = cache[row.symbol]
            if price:
                distance = (level - price) / price * 100
        return RuleView(
            id=row.id,
            detector=row.detector,
            symbol=row.symbol,
            settings=self.ordered_settings(row.detector, row.settings),
            summary=self.summarize(row.detector, row.settings),
            guild_id=row.guild_id,
            owner_id=row.owner_id,
            channel_id=row.channel_id,
            role_id=row.role_id,
            deliver=row.deliver,
            note=row.note,
            repeat=row.repeat,
            cooldown_s=row.cooldown_s,
            expires_at=row.expires_at,
            enabled=row.enabled,
            status_reason=row.status_reason,
            level=level,
            price=price,
            distance_pct=distance,
        )

    # --- guild settings and status -------------------------------------------------------------------

    def guild_setup(self, guild_id: int) -> GuildSetupView:
        """Return a guild's current alert and ops channels."""
        current = self.repo.guild_settings(guild_id)
        return GuildSetupView(
            guild_id,
            current.alert_channel_id if current else None,
            current.ops_channel_id if current else None,
            changed=False,
            chart_alerts=bool(current.settings.get(CHART_ALERTS)) if current else False,
        )

    def setup(
        self,
        guild_id: int,
        alert_channel_id: int | None = None,
        ops_channel_id: int | None = None,
        chart_alerts: bool | None = None,
    ) -> GuildSetupView:
        """Set the guild's default alert channel, ops channel and charts on alerts (None keeps each)."""
        if alert_channel_id is None and ops_channel_id is None and chart_alerts is None:
            return self.guild_setup(guild_id)
        row = self.repo.update_guild_settings(
            guild_id,
            self.now_ms(),
            alert_channel_id=alert_channel_id,
            ops_channel_id=ops_channel_id,
            settings={CHART_ALERTS: chart_alerts} if chart_alerts is not None else None,
        )
        charts = bool(row.settings.get(CHART_ALERTS))
        log.info(
            "guild %s set alert channel %s, ops channel %s, charts on alerts %s",
            guild_id,
            row.alert_channel_id,
            row.ops_channel_id,
            charts,
        )
        return GuildSetupView(
            guild_id, row.alert_channel_id, row.ops_channel_id, changed=True, chart_alerts=charts
        )

    def status(self, guild_id: int | None = None) -> StatusView:
        """Return feed health, the last alerts, version, uptime, database size and rule counts."""
        now = self.now_ms()
        events: Sequence[AlertEventRow] = (
            self.repo.guild_events(guild_id, limit=5, before=now + 1)
            if guild_id is not None
            else self.repo.events(limit=5, until=now + 1)
        )
        rules = self.repo.rules(guild_id=guild_id) if guild_id is not None else self.repo.rules()
        settings = self.repo.guild_settings(guild_id) if guild_id is not None else None
        return StatusView(
            version=package_version(),
            uptime_s=max(0.0, (now - self.started_at) / 1000),
            started_at=self.started_at,
            db_size_bytes=self.repo.size_bytes(),
            feeds=tuple(self.feeds.statuses()),
            last_alerts=tuple(
                AlertSummary(e.id, e.rule_id, e.symbol, e.title, e.at, e.late, e.silenced_by is not None)
                for e in events
            ),
            rules_enabled=sum(1 for r in rules if r.enabled),
            rules_total=len(rules),
            outbox_pending=self.repo.outbox_depth(),
            alert_channel_id=settings.alert_channel_id if settings else None,
            ops_channel_id=settings.ops_channel_id if settings else None,
            symbols=tuple(self.config.symbols),
        )


__all__ = [
    "BROKEN_PREFIX",
    "CHART_ALERTS",
    "DMS_CLOSED_REASON",
    "AlertSummary",
    "FearGreedSince",
    "FearGreedView",
    "FeedHealth",
    "FeedStatusView",
    "FundingSourceView",
    "FundingView",
    "GuildSetupView",
    "LiquidationsView",
    "OpenInterestSourceView",
    "OpenInterestView",
    "PriceView",
    "RuleOptions",
    "RuleView",
    "Service",
    "StatusView",
    "settings_error",
]
