"""Alert history, "why did this fire" and charts for the chat front ends: no ``import discord`` here.

A guild sees its own rules' alerts and those of config-file rules routed to it (by the config's
``[[routes]]`` now, or by where they were delivered then); never another guild's, and never another
member's direct-message alerts. Like every other query, these answer "as of now" (the service's clock).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bot.alerts.routing import AlertRouter
from bot.alerts.warmup import WarmUp, needed
from bot.charts.data import chart_spec_from_repo
from bot.charts.indicator_data import indicator_plots
from bot.charts.spec import ChartSpec, Theme
from bot.errors import UserError
from bot.parsing import echo, format_duration, no_such_rule
from bot.services import Service
from bot.services.base import describe_settings
from bot.services.visibility import (
    Delivery,
    Viewer,
    guild_scope,
    may_see_rule,
    may_show_publicly,
    planned,
    rule_shows_publicly,
    visible_events,
)
from detectors.base import MARKET_SYMBOL, SEVERITIES
from storage.repo import AlertEventRow, EventScope, OutboxRow, RuleRow
from storage.rows import DAY_MS, HOUR_MS, INTERVAL_MS

HISTORY_PAGE_SIZE = 8
# /chart windows: an hour is a handful of 1m candles; 90 days of 1d candles is the longest useful view
# (and what a backtest covers at most).
MIN_CHART_WINDOW_S = 3600
MAX_CHART_WINDOW_S = 90 * 86_400
DEFAULT_CHART_WINDOW_S = 7 * 86_400
# How far back /why looks for the data a rule read: a day covers every detector's evaluation window
# except the longest funding and open-interest gaps, which get their own lookback.
SOURCE_LOOKBACK_MS = {
    "candles": DAY_MS,
    "liquidations": DAY_MS,
    "funding": 9 * HOUR_MS,
    "open_interest": DAY_MS,
    "fear_greed": 2 * DAY_MS,
}


# The data kinds whose stored rows carry no detail, in words (/why's Data field).
_DATA_WORDS = {"funding": "funding rates", "open_interest": "open interest", "fear_greed": "Fear & Greed"}


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """What /history asks for; ``until`` and ``max_id`` pin the list so pages stay put while alerts arrive."""

    guild_id: int
    viewer_id: int
    channel_ids: frozenset[int] = frozenset()
    symbol: str | None = None
    rule_id: str | None = None
    since: int | None = None
    until: int | None = None
    max_id: int | None = None
    # Who asks and what they may read (see bot.services.visibility.Viewer); None: every channel.
    readable: frozenset[int] | None = None
    is_admin: bool = False
    here: int | None = None
    open_channels: frozenset[int] = frozenset()
    # The ids of the alerts the member may see, newest first, once the first page was read: turning a
    # page then reads only its own alerts (the visibility rule ran once, over the whole list).
    pinned: tuple[int, ...] | None = None

    @property
    def viewer(self) -> Viewer:
        """Return who asks, as the visibility rule reads it."""
        return Viewer(
            self.viewer_id,
            self.guild_id,
            self.channel_ids,
            self.readable,
            self.is_admin,
            self.here,
            self.open_channels,
        )


@dataclass(frozen=True, slots=True)
class AlertLine:
    """One past alert as /history lists it."""

    event_id: int
    rule_id: str
    detector: str
    symbol: str
    title: str
    severity: str
    at: int
    recorded_at: int
    late: bool
    silenced: bool
    folded_into: int | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of a guild's alerts, newest first."""

    query: HistoryQuery
    items: tuple[AlertLine, ...]
    page: int
    pages: int
    total: int
    page_size: int
    # Whether the list holds an alert not everyone reading the channel may see: answer privately.
    private: bool = False

    @property
    def has_previous(self) -> bool:
        """Return whether a newer page exists."""
        return self.page > 0

    @property
    def has_next(self) -> bool:
        """Return whether an older page exists."""
        return self.page + 1 < self.pages


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """A rule as it was when its alert fired (the event's stored copy)."""

    id: str
    detector: str
    symbol: str
    origin: str | None
    settings: Mapping[str, Any]
    summary: str
    repeat: bool | None
    cooldown_s: int | None
    pending_s: int | None
    pending_evaluations: int | None = None


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    """The newest row of one data source the rule read, as of the alert's market time."""

    kind: str
    source: str
    detail: str
    newest_at: int
    age_s: float


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """Where an alert was (or was to be) posted in the guild, and how that went."""

    target: str
    kind: str
    status: str
    delivered_at: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class WhyRuleView:
    """What /why shows about a rule itself: whether it can fire yet, and its last alert."""

    rule_id: str
    detector: str
    symbol: str
    summary: str
    enabled: bool
    status_reason: str | None
    # Closed candles per interval the rule needs before it may fire (its indicators' warm-up).
    needs: Mapping[str, int]
    warming: tuple[WarmUp, ...]
    last_alert: AlertLine | None


@dataclass(frozen=True, slots=True)
class WhyView:
    """Everything /why shows about one alert: its values, the rule then and now, its data and delivery."""

    event_id: int
    title: str
    state: str
    kind: str
    severity: str
    symbol: str
    detector: str
    at: int
    recorded_at: int
    late: bool
    late_after_s: float
    values: Mapping[str, Any]
    rule: RuleSnapshot
    rule_now: Literal["unchanged", "changed", "removed"]
    rule_now_summary: str | None
    silenced_by: int | None
    folded_into: int | None
    fired_event_id: int | None
    sources: tuple[SourceFreshness, ...] = field(default=())
    deliveries: tuple[DeliveryLine, ...] = field(default=())
    # Whether the alert is not for everyone reading the channel: answer privately.
    private: bool = False
    # How the detector computes what it decided on, in one line (indicator detectors declare one).
    formula: str | None = None

    @property
    def delay_s(self) -> float:
        """Return how long after its market time the alert was recorded."""
        return max(0.0, (self.recorded_at - self.at) / 1000)


def span_text(seconds: int) -> str:
    """Return a window as people ask for one: ``7d``, ``30d``, ``12h`` (not ``1w``, ``4w 2d``)."""
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return format_duration(seconds)


def _days_hours(seconds: int) -> str:
    """Return a span as ``4d 23h`` (days and hours, never weeks: windows are asked for in days)."""
    days, hours = divmod(seconds // 3600, 24)
    return (
        " ".join(part for part in (f"{days}d" if days else "", f"{hours}h" if hours else "") if part) or "0h"
    )


def _line(event: AlertEventRow) -> AlertLine:
    return AlertLine(
        event_id=event.id,
        rule_id=event.rule_id,
        detector=event.detector,
        symbol=event.symbol,
        title=event.title,
        severity=event.severity,
        at=event.at,
        recorded_at=event.recorded_at,
        late=event.late,
        silenced=event.silenced_by is not None,
        folded_into=event.inhibited_by,
    )


class HistoryService:
    """Answer /history, /why and /chart from the stored alerts and market data."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.repo = service.repo
        self.config = service.config

    # --- what a guild may see ------------------------------------------------------------------------

    def scope(self, guild_id: int, viewer_id: int, channel_ids: Iterable[int] = ()) -> EventScope:
        """Return which alert events ``viewer_id`` may see in a guild whose channels are ``channel_ids``."""
        return guild_scope(self.repo, self._router(), guild_id, viewer_id, channel_ids)

    def visible_rules(self, scope: EventScope, viewer: Viewer | None = None) -> list[RuleRow]:
        """Return the guild's rules and the config rules routed to it that ``viewer`` may see."""
        own = [r for r in self.repo.rules(guild_id=scope.guild_id) if r.id not in scope.hidden_rules]
        routed = [r for r in self.repo.rules(origin="config") if r.id in scope.routed]
        found = own + routed
        if viewer is None:
            return found
        router = self._router()
        return [r for r in found if may_see_rule(viewer, r, self._planned(router, r, SEVERITIES[-1]))]

    def rule_choices(self, viewer: Viewer, current: str) -> list[tuple[str, str]]:
        """Return (rule id, label) pairs of the rules ``viewer`` may see that match what was typed."""
        if viewer.guild_id is None:
            return []
        typed = current.strip().lower()
        scope = self.scope(viewer.guild_id, viewer.user_id, viewer.channels)
        found = [r for r in self.visible_rules(scope, viewer) if typed in r.id or typed in r.symbol.lower()]
        return [(r.id, f"{r.id} · {r.symbol} {r.detector}"[:100]) for r in found[:25]]

    def alert_choices(self, viewer: Viewer, current: str) -> list[tuple[str, str]]:
        """Return (id, label) pairs of the newest alerts ``viewer`` may see whose number or title match."""
        if viewer.guild_id is None:
            return []
        typed = current.strip().lstrip("#").lower()
        now = self.service.now_ms()
        scope = self.scope(viewer.guild_id, viewer.user_id, viewer.channels)
        events = self.repo.scoped_events(scope, until=now + 1, state=None, limit=200)
        visible = [e for e, _ in self.visible_events(viewer, events)]
        found = [e for e in visible if not typed or typed in str(e.id) or typed in e.title.lower()]
        return [(str(e.id), f"#{e.id} · {e.title}"[:100]) for e in found[:25]]

    # --- the one visibility rule, applied to stored events ------------------------------------------

    def _router(self) -> AlertRouter:
        return AlertRouter.for_config(self.repo, self.config, console=False, discord=True)

    @staticmethod
    def _planned(router: AlertRouter, rule: RuleRow, severity: str) -> list[Delivery]:
        return planned(router, rule, severity)

    def visible_events(
        self, viewer: Viewer, events: Iterable[AlertEventRow]
    ) -> list[tuple[AlertEventRow, list[Delivery]]]:
        """Return the events ``viewer`` may see (in order), each with where it was delivered."""
        return visible_events(self.repo, self._router(), viewer, events)

    # --- /history ------------------------------------------------------------------------------------

    def history(self, query: HistoryQuery, page: int = 0, page_size: int = HISTORY_PAGE_SIZE) -> HistoryPage:
        """Return one page of the alerts the member may see (silenced, folded and late too), newest first."""
        private = False
        if query.pinned is None:
            query, private = self._pin(query)
        ids = query.pinned or ()
        total = len(ids)
        pages = max(1, math.ceil(total / page_size))
        page = min(max(page, 0), pages - 1)
        shown = [self.repo.event(i) for i in ids[page * page_size : (page + 1) * page_size]]
        items = tuple(_line(e) for e in shown if e is not None)
        return HistoryPage(query, items, page, pages, total, page_size, private)

    def _pin(self, query: HistoryQuery) -> tuple[HistoryQuery, bool]:
        """Return the query with its list pinned, and whether the list must be shown privately."""
        scope = self.scope(query.guild_id, query.viewer_id, query.channel_ids)
        symbol = self.service.resolve_symbol(query.symbol) if query.symbol is not None else None
        rule_id = query.rule_id.strip() if query.rule_id is not None else None
        until = self.service.now_ms() + 1
        # Visibility depends on each member's channels, so it is decided per event, not in SQL: the server's
        # candidates are read whole (LIMIT -1: no limit in SQLite) and filtered by the one rule. Pinning the
        # list keeps pages put while alerts arrive, and makes turning a page cheap.
        candidates = self.repo.scoped_events(
            scope, symbol=symbol, rule_id=rule_id or None, since=query.since, until=until, limit=-1
        )
        visible = self.visible_events(query.viewer, candidates)
        private = any(not may_show_publicly(query.viewer, e, d) for e, d in visible)
        ids = tuple(e.id for e, _ in visible)
        pinned = replace(
            query, symbol=symbol, rule_id=rule_id or None, until=until, max_id=max(ids, default=0), pinned=ids
        )
        return pinned, private

    # --- /why ----------------------------------------------------------------------------------------

    def why(
        self,
        guild_id: int,
        viewer_id: int,
        event_id: int,
        channel_ids: Iterable[int] = (),
        *,
        viewer: Viewer | None = None,
    ) -> WhyView:
        """Return the stored evidence of one alert the member may see, or raise UserError."""
        scope = self.scope(guild_id, viewer_id, channel_ids)
        viewer = viewer if viewer is not None else Viewer(viewer_id, guild_id, frozenset(channel_ids))
        found = self.repo.scoped_event(event_id, scope)
        visible = self.visible_events(viewer, [found]) if found is not None else []
        event, deliveries = visible[0] if visible else (None, [])
        if event is None:
            # The same answer whether the alert does not exist or belongs elsewhere: nothing leaks.
            raise UserError(f"There is no alert #{event_id} in this server; /history lists them.")
        snapshot = self._snapshot(event)
        current = self.repo.rule(event.rule_id)
        if current is None:
            rule_now: Literal["unchanged", "changed", "removed"] = "removed"
            now_summary = None
        else:
            same = (current.detector, current.symbol, current.settings) == (
                snapshot.detector,
                snapshot.symbol,
                dict(snapshot.settings),
            )
            rule_now = "unchanged" if same else "changed"
            now_summary = describe_settings(self.service.ordered_settings(current.detector, current.settings))
        fired = event.values.get("fired_event_id")
        return WhyView(
            event_id=event.id,
            title=event.title,
            state=event.state,
            kind=event.kind,
            severity=event.severity,
            symbol=event.symbol,
            detector=event.detector,
            at=event.at,
            recorded_at=event.recorded_at,
            late=event.late,
            late_after_s=self.config.engine.late_after_seconds,
            values=event.values,
            rule=snapshot,
            rule_now=rule_now,
            rule_now_summary=now_summary,
            silenced_by=event.silenced_by,
            folded_into=event.inhibited_by,
            fired_event_id=fired if isinstance(fired, int) else None,
            sources=self._sources(event),
            deliveries=tuple(
                DeliveryLine(r.target, r.kind, r.status, r.delivered_at, r.error)
                for r in self.repo.event_outbox(event.id)
                if self._in_guild(r, scope)
            ),
            private=not may_show_publicly(viewer, event, deliveries),
            formula=self._formula(event.detector),
        )

    def _formula(self, detector: str) -> str | None:
        """Return the one-line formula the detector declares (indicator detectors do), or None."""
        formula = getattr(self.service.detectors.get(detector), "formula", None)
        return formula if isinstance(formula, str) and formula else None

    def why_rule(self, guild_id: int, viewer: Viewer, rule_id: str) -> WhyRuleView:
        """Return whether a rule the member may see can fire yet (its warm-up) and its last alert."""
        scope = self.scope(guild_id, viewer.user_id, viewer.channels)
        wanted = rule_id.strip()
        rule = next((r for r in self.visible_rules(scope, viewer) if r.id == wanted), None)
        if rule is None:
            raise no_such_rule(rule_id)
        now = self.service.now_ms()
        cls = self.service.detectors.get(rule.detector)
        needs: dict[str, int] = {}
        if cls is not None:
            try:
                needs = needed(cls.Settings.model_validate(rule.settings))
            except ValueError:
                needs = {}
        candidates = self.repo.scoped_events(scope, rule_id=rule.id, since=None, until=now + 1, limit=50)
        last = next(iter(self.visible_events(viewer, candidates)), None)
        return WhyRuleView(
            rule_id=rule.id,
            detector=rule.detector,
            symbol=rule.symbol,
            summary=describe_settings(self.service.ordered_settings(rule.detector, rule.settings)),
            enabled=rule.enabled,
            status_reason=rule.status_reason,
            needs=needs,
            warming=self.service.warming_of(rule.detector, rule.symbol, rule.settings, now),
            last_alert=_line(last[0]) if last is not None else None,
        )

    @staticmethod
    def _in_guild(row: OutboxRow, scope: EventScope) -> bool:
        # A config rule routed to several servers: show only this one's deliveries.
        return row.target in scope.targets or row.payload.get("guild_id") == scope.guild_id

    def _snapshot(self, event: AlertEventRow) -> RuleSnapshot:
        stored = event.rule
        raw = stored.get("settings")
        settings = self.service.ordered_settings(event.detector, raw if isinstance(raw, dict) else {})

        def optional(key: str, kind: type[Any]) -> Any:
            value = stored.get(key)
            return value if isinstance(value, kind) else None

        return RuleSnapshot(
            id=event.rule_id,
            detector=str(stored.get("detector") or event.detector),
            symbol=str(stored.get("symbol") or event.symbol),
            origin=optional("origin", str),
            settings=settings,
            summary=describe_settings(settings),
            repeat=optional("repeat", bool),
            cooldown_s=optional("cooldown_s", int),
            pending_s=optional("pending_s", int),
            pending_evaluations=optional("pending_evaluations", int),
        )

    def _sources(self, event: AlertEventRow) -> tuple[SourceFreshness, ...]:
        cls = self.service.detectors.get(event.detector)
        uses = cls.uses if cls is not None else ("candles",)
        found: list[SourceFreshness] = []
        for kind in uses:
            if kind != "fear_greed" and event.symbol == MARKET_SYMBOL:
                continue
            lookback = SOURCE_LOOKBACK_MS.get(kind)
            if lookback is None:
                continue  # a plugin's own kind of data: nothing stored to point at
            for detail, source, newest in self.repo.newest_observations(
                kind, event.symbol, event.at - lookback, event.at
            ):
                if kind == "candles":
                    # A candle is known up to its close, or up to the alert while it was still forming.
                    newest = min(newest + INTERVAL_MS.get(detail, 0), event.at)
                    detail = f"{detail} candles"
                elif kind == "liquidations":
                    detail = "hourly totals" if detail == "hourly" else "liquidation orders"
                elif not detail:
                    # Series with no detail of their own are named by what they are ("binance funding rates").
                    detail = _DATA_WORDS.get(kind, kind.replace("_", " "))
                found.append(
                    SourceFreshness(kind, source, detail, newest, max(0.0, (event.at - newest) / 1000))
                )
        return tuple(found)

    # --- /chart --------------------------------------------------------------------------------------

    def check_chart(self, symbol: str, interval: str | None, window_s: int | None) -> tuple[str, int]:
        """Return the symbol and window (s) a chart asks for, or raise UserError; reads no market data."""
        name = self.service.resolve_symbol(symbol)
        if interval is not None and interval not in INTERVAL_MS:
            raise UserError(f"Unknown interval {echo(interval)}; use one of {', '.join(INTERVAL_MS)}.")
        window = DEFAULT_CHART_WINDOW_S if window_s is None else window_s
        if not MIN_CHART_WINDOW_S <= window <= MAX_CHART_WINDOW_S:
            raise UserError(
                f"The window must be between {format_duration(MIN_CHART_WINDOW_S)} and "
                f"{format_duration(MAX_CHART_WINDOW_S)}; you asked for {format_duration(window)}."
            )
        if interval is not None and INTERVAL_MS[interval] > window * 1000:
            raise UserError(
                f"A {format_duration(window)} window holds no whole {interval} candle; pick a shorter "
                "interval or a longer window."
            )
        return name, window

    def chart(
        self,
        symbol: str,
        interval: str | None = None,
        window_s: int | None = None,
        *,
        viewer: Viewer | None = None,
        theme: Theme = "dark",
    ) -> ChartSpec:
        """Return the chart of ``symbol`` over the last ``window_s``: the guild's levels and alerts drawn."""
        name, window = self.check_chart(symbol, interval, window_s)
        end = self.service.now_ms()
        start = end - window * 1000
        rules: list[RuleRow] = []
        events: list[AlertEventRow] = []
        if viewer is not None and viewer.guild_id is not None:
            # Outside a server (a DM): the market alone, no server's rules or alerts.
            scope = self.scope(viewer.guild_id, viewer.user_id, viewer.channels)
            router = self._router()
            # The chart is posted in the channel: it draws what everyone reading there may see, no more.
            rules = [
                r
                for r in self.visible_rules(scope, viewer)
                if r.enabled
                and r.symbol == name
                and rule_shows_publicly(viewer, r, self._planned(router, r, SEVERITIES[-1]))
            ]
            candidates = self.repo.scoped_events(scope, symbol=name, since=start, until=end + 1, limit=1000)
            events = [
                e for e, d in self.visible_events(viewer, candidates) if may_show_publicly(viewer, e, d)
            ]
        spec = chart_spec_from_repo(self.repo, name, interval, start, end, rules, events, theme=theme)
        # Name the interval drawn, which chart_data picks when none was asked for, and the span drawn when
        # less is stored than was asked for (the subtitle says from when); draw the indicators of the
        # indicator rules shown (an RSI pane with its levels, moving averages over the candles).
        drawn = (end - (spec.start if spec.start is not None else start)) // 1000
        span = (
            f"last {span_text(window)}"
            if drawn >= window
            else f"{_days_hours(drawn)} stored of {span_text(window)} asked"
        )
        return replace(
            spec,
            title=f"{name} · {spec.interval} · {span}",
            indicators=indicator_plots(self.repo, rules, name, start, end),
        )
