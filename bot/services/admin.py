"""The /setup and /status commands' logic and their views."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

from bot.alerts.model import CHART_ALERTS
from bot.alerts.routing import AlertRouter, unrouted
from bot.alerts.warmup import WarmUp
from bot.services.base import FeedStatusView, ServiceBase
from bot.services.visibility import Viewer, guild_scope, may_see_rule, planned, visible_events
from detectors.base import SEVERITIES
from storage.repo import AlertEventRow, RuleRow

log = logging.getLogger(__name__)

# /status lists the newest five alerts the caller may see among this many of the newest (a member who may
# read none of the last 200 sees none: the list is a glance, /history is the full answer).
STATUS_CANDIDATES = 200


@dataclass(frozen=True, slots=True)
class GuildSetupView:
    """A guild's alert and ops channels after /setup."""

    guild_id: int
    alert_channel_id: int | None
    ops_channel_id: int | None
    changed: bool
    chart_alerts: bool = False
    # How many config-file rules no [[routes]] entry names post in this alert channel (the home server's).
    config_rules_here: int = 0


@dataclass(frozen=True, slots=True)
class WarmingRule:
    """A rule that cannot fire yet: too few closed candles for its indicators' warm-up."""

    rule_id: str
    symbol: str
    detector: str
    warming: tuple[WarmUp, ...]


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
    # Deliveries of this server's alerts (all, outside a server) that failed for good, still kept.
    outbox_failed: int = 0
    # Config-file rules whose alerts go nowhere, and why (bot.alerts.routing.unrouted); None: none.
    unrouted: str | None = None
    unrouted_count: int = 0
    # Enabled rules the caller may see that are still warming up (they do not fire yet).
    warming: tuple[WarmingRule, ...] = ()


def package_version() -> str:
    """Return the installed Tripwire version, or "unknown" when running from a bare checkout."""
    try:
        return metadata.version("tripwire")
    except metadata.PackageNotFoundError:
        return "unknown"


class AdminCommands(ServiceBase):
    """Set a guild's channels and report the bot's health."""

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
        here = self._config_rules_posting_in(guild_id, row.alert_channel_id)
        log.info(
            "guild %s set alert channel %s, ops channel %s, charts on alerts %s",
            guild_id,
            row.alert_channel_id,
            row.ops_channel_id,
            charts,
        )
        return GuildSetupView(
            guild_id,
            row.alert_channel_id,
            row.ops_channel_id,
            changed=True,
            chart_alerts=charts,
            config_rules_here=here,
        )

    def _config_rules_posting_in(self, guild_id: int, channel_id: int | None) -> int:
        """Return how many enabled config-file rules post in the guild's alert channel for want of a route."""
        router = AlertRouter.for_config(self.repo, self.config, console=False, discord=True)
        if channel_id is None or router.home_guild_id != guild_id:
            return 0
        return sum(
            1
            for rule in self.repo.rules(origin="config", enabled_only=True)
            if not router.named_by_a_route(rule)
        )

    def status(self, guild_id: int | None = None, viewer: Viewer | None = None) -> StatusView:
        """Return feed health, the last alerts ``viewer`` may see, version, uptime, database size, rules."""
        now = self.now_ms()
        events: Sequence[AlertEventRow] = self._last_alerts(guild_id, viewer, now)
        rules = self.repo.rules(guild_id=guild_id) if guild_id is not None else self.repo.rules()
        settings = self.repo.guild_settings(guild_id) if guild_id is not None else None
        # An outgoing webhook is a destination too (the app's router has them).
        every = AlertRouter.for_config(self.repo, self.config, console=False, discord=True, webhooks=True)
        lost = unrouted(every, self.repo.rules(origin="config"))
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
            outbox_failed=self.repo.failed_outbox(guild_id),
            unrouted=lost.describe() if lost is not None else None,
            unrouted_count=lost.count if lost is not None else 0,
            warming=self._warming_rules(guild_id, viewer, now),
        )

    def _warming_rules(
        self, guild_id: int | None, viewer: Viewer | None, now: int
    ) -> tuple[WarmingRule, ...]:
        """Return the enabled rules ``viewer`` may see (all without one) that are still warming up."""
        router: AlertRouter | None = None
        found: list[WarmingRule] = []
        # A server's own rules and the config file's (routed to it or not: the viewer check decides).
        candidates = (
            self.repo.rules(enabled_only=True)
            if guild_id is None
            else list(
                {
                    r.id: r
                    for r in (
                        *self.repo.rules(guild_id=guild_id, enabled_only=True),
                        *self.repo.rules(origin="config", enabled_only=True),
                    )
                }.values()
            )
        )
        for rule in candidates:
            short = self.warming_of(rule.detector, rule.symbol, rule.settings, now)
            if not short:
                continue
            if viewer is not None:
                router = router or AlertRouter.for_config(self.repo, self.config, console=False, discord=True)
                if not self._visible_rule(viewer, router, rule):
                    continue
            found.append(WarmingRule(rule.id, rule.symbol, rule.detector, short))
        return tuple(found)

    @staticmethod
    def _visible_rule(viewer: Viewer, router: AlertRouter, rule: RuleRow) -> bool:
        return may_see_rule(viewer, rule, planned(router, rule, SEVERITIES[-1]))

    def _last_alerts(self, guild_id: int | None, viewer: Viewer | None, now: int) -> list[AlertEventRow]:
        """Return the five newest alerts ``viewer`` may see (all of them for a caller with no viewer)."""
        wanted = 5 if viewer is None else STATUS_CANDIDATES
        router = AlertRouter.for_config(self.repo, self.config, console=False, discord=True)
        if guild_id is not None:
            # The server's alerts as /history lists them (issue 22: /status listed a config rule's alert
            # posted nowhere, or in another server, which /history rightly did not).
            viewer_id = viewer.user_id if viewer is not None else 0
            scope = guild_scope(self.repo, router, guild_id, viewer_id, viewer.channels if viewer else ())
            events = self.repo.scoped_events(scope, until=now + 1, limit=wanted)
        else:
            events = self.repo.events(limit=wanted, until=now + 1)
        if viewer is None:
            return events
        return [e for e, _ in visible_events(self.repo, router, viewer, events)][:5]
