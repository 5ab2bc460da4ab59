"""The alert pipeline's shared vocabulary: the names every layer of the pipeline reads.

Delivery targets, the router protocol, what an evaluation recorded, inhibition, severity order, and the
rule-status words. It sits below the engine, the routing, the notifiers and the services, so none of them
imports another for a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from detectors.base import SEVERITIES
from storage.repo import RuleRow

# Rule status reasons the delivery side writes, so front ends (and the DM notice) can recognise them.
BROKEN_PREFIX = "broken: "
DMS_CLOSED_REASON = "paused: the member's DMs are closed"
PAUSED_REASON = "paused by "
# The detector name of rules whose alerts arrive from outside (an inbound webhook route) instead of being
# computed: the engine records them when they arrive and never evaluates such a rule.
WEBHOOK_DETECTOR = "webhook"
# The outbox sink that posts alert events to the operator's [[webhooks_out]] URLs (bot.notify.webhooks).
WEBHOOK_SINK = "webhook"
# Key of a guild's settings (guild_settings.settings) that attaches a chart to its alerts.
CHART_ALERTS = "chart_alerts"


@dataclass(frozen=True, slots=True)
class Target:
    """Where one alert is delivered: a sink ('discord', 'console', 'webhook') and its address there."""

    sink: str
    address: str
    guild_id: int | None = None
    role_id: int | None = None


class Router(Protocol):
    """Decides where a rule's alerts go."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the delivery targets for an alert of ``rule`` with ``severity``."""


class RuleRefresher(Protocol):
    """The part of the engine that commands and notifiers need: pick up a changed rule."""

    def refresh_rule(self, rule_id: str) -> None:
        """Reload one rule from the database."""


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """What the engine recorded in one evaluation (returned for callers, metrics and tests)."""

    event_id: int
    rule_id: str
    dedupe_key: str
    state: str
    title: str
    at: int
    late: bool
    silenced: bool
    queued: int


@dataclass(frozen=True, slots=True)
class Inhibition:
    """While an ``inhibitors`` alert fires for a symbol, fold new ``inhibited`` alerts of it into it."""

    inhibitors: frozenset[str]
    inhibited: frozenset[str]


def severity_at_least(severity: str, minimum: str) -> bool:
    """Return True when ``severity`` ranks at or above ``minimum`` (info < warning < critical)."""
    order: tuple[str, ...] = SEVERITIES
    return order.index(severity) >= order.index(minimum)
