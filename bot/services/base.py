"""The shared part of the slash commands' service: its state, symbols and recent candles (no discord).

``Service`` (in ``bot.services``) composes one mixin per command family over ``ServiceBase``, as
Red-DiscordBot composes its cogs. Each method returns a frozen dataclass for a front end to render, or raises
``UserError`` with a message meant for the person who asked (freqtrade's RPC layer is the model). Queries
answer "as of now" (the injected clock), so a test or a replay can ask about any moment of the stored
history. Rule changes are written through the repo and then announced to the engine with ``refresh_rule``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.alerts import history_reads
from bot.alerts.model import RuleRefresher
from bot.alerts.warmup import WarmUp, warming
from bot.config import Config
from bot.errors import UserError
from bot.parsing import resolve_symbol, symbol_matches
from bot.services.detector_settings import show
from detectors.base import Detector, format_price
from detectors.market_history import MarketHistory
from detectors.registry import detector_classes
from feeds.instruments import InstrumentRegistry
from feeds.markets import canonical_symbol, resolve_market
from storage.repo import Repo
from storage.rows import DAY_MS, INTERVAL_MS, Candle

log = logging.getLogger(__name__)

# --- protocols for what the service is given ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedStatusView:
    """One feed's health as /status shows it."""

    name: str
    state: str  # "ok", "degraded", "stale", "standby", "disabled", or "refused" (a symbol not listed)
    last_success_ms: int | None = None
    lag_s: float | None = None
    detail: str | None = None
    # A liquidation feed's coverage line ("Binance: lower bound (...)", feeds.liq_coverage), else None.
    coverage: str | None = None


class FeedHealth(Protocol):
    """Anything that reports feed health (the live feed registry, or a fixed list in tests)."""

    def statuses(self) -> list[FeedStatusView]:
        """Return the current state of every feed."""


class NoFeedHealth:
    """A FeedHealth for when no feeds run (replay, tests, ``--no-feeds``)."""

    def statuses(self) -> list[FeedStatusView]:
        """Return no feeds."""
        return []


def describe_settings(settings: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> str:
    """Return a rule's settings compactly (``level=$95,000 direction=up``), leaving out default values."""
    parts = []
    for key, value in settings.items():
        if value is None or (defaults is not None and key in defaults and defaults[key] == value):
            continue
        if key == "level" and isinstance(value, int | float):
            parts.append(f"{key}={format_price(float(value))}")
        else:
            parts.append(f"{key}={show(value)}")  # as a member types it: min_usd=20000000, not 20000000.0
    return " ".join(parts)


class ServiceBase:
    """What every command family shares: the repo, the engine, the config, the clock, feeds and detectors."""

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
        history: MarketHistory | None = None,
    ) -> None:
        self.repo = repo
        self.engine = engine
        # The in-memory history the engine evaluates on (how warm a rule is); the engine's own by default.
        engine_history = getattr(engine, "history", None)
        self.history = (
            history
            if history is not None
            else engine_history
            if isinstance(engine_history, MarketHistory)
            else None
        )
        self.config = config
        self.now_ms = now_ms
        self.feeds: FeedHealth = feeds if feeds is not None else NoFeedHealth()
        self.detectors = dict(detectors) if detectors is not None else detector_classes()
        self.started_at = started_at if started_at is not None else now_ms()
        self._new_suffix = new_suffix
        # The venues' instrument lists once the feeds have read them (None before, and without feeds).
        self.instruments: InstrumentRegistry | None = None
        # The live in-memory history the rules are evaluated on: /alert add says from it what a new rule
        # will do now (None: not said, e.g. a service without the engine's history).
        self.history = history

    # --- warm-up -------------------------------------------------------------------------------------

    def warming_of(
        self, detector: str, symbol: str, settings: Mapping[str, Any], now: int
    ) -> tuple[WarmUp, ...]:
        """Return the intervals a rule has too few closed candles of to fire (empty: warm, or unknown)."""
        cls = self.detectors.get(detector)
        if cls is None or self.history is None:
            return ()
        try:
            parsed = cls.Settings.model_validate(dict(settings))
        except ValueError:
            return ()  # a rule whose settings no longer validate is reported as broken elsewhere
        # A bounded history holds what the loaded rules read: a draft (/alert test) is counted on what it
        # would read once loaded, the older rows read back from the database for the count.
        probe = f"\0warming {detector} {symbol}"  # no rule id starts with NUL
        try:
            history_reads.require(self.history, probe, cls(probe, symbol, parsed))
        except Exception:  # a detector that cannot be built counts on what is held, as before
            log.exception("warming of %s: its detector could not be built", detector)
        try:
            return warming(parsed, self.history, symbol, now, self._history_fetched(symbol))
        finally:
            self.history.release(probe)

    def _history_fetched(self, symbol: str) -> Callable[[str, int], bool] | None:
        """Return whether the spot feed brings ``need`` closed candles of an interval of ``symbol``."""
        spot = self.config.feeds.binance_spot
        if not spot.enabled or symbol not in self.config.symbols:
            return None
        base = INTERVAL_MS[spot.interval]

        def fetched(interval: str, need: int) -> bool:
            step = INTERVAL_MS[interval]
            # Above the base interval: the venue's own klines, backfilled for the rule. The base interval
            # itself: as far back as the feed's backfill_days reaches.
            return step > base or (step == base and need * step <= spot.backfill_days * DAY_MS)

        return fetched

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
        configured symbols are all that is known. Every command family resolves names here, so /alert add
        and the market queries read a name the same way.
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

    # --- candles and rule settings, read by several command families ---------------------------------

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
