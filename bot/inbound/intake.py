"""Turn an accepted webhook alert into an alert event of its route's ``webhook`` rule, in the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from bot.alerts.engine import Engine
from bot.alerts.model import RecordedEvent
from bot.inbound.endpoint import RouteGone
from bot.inbound.payload import InboundAlert
from detectors.base import Severity, Signal
from storage.repo import Repo, WebhookRouteRow
from storage.writegate import WriteGate

# The kind of every webhook alert (what /history filters and the grouping may key on).
WEBHOOK_KIND = "webhook"


def webhook_signal(route: WebhookRouteRow, alert: InboundAlert, now: int) -> Signal:
    """Return the signal an alert of ``route`` stands for, as if a detector had raised it at ``now``."""
    return Signal(
        rule_id=route.rule_id,
        symbol=alert.symbol,
        kind=WEBHOOK_KIND,
        severity=alert.severity or cast(Severity, route.default_severity),
        title=alert.title,
        values={**alert.values, "route": route.name},
        at=now,
        key=alert.key,
        direction=alert.direction,
    )


class WebhookIntake:
    """Record webhook alerts through the engine, one at a time with the evaluation passes."""

    def __init__(
        self,
        repo: Repo,
        engine: Engine,
        now_ms: Callable[[], int],
        *,
        gate: WriteGate | None = None,
        on_recorded: Callable[[], None] | None = None,
    ) -> None:
        self.repo = repo
        self.engine = engine
        self.now_ms = now_ms
        self.gate = gate
        self.on_recorded = on_recorded

    async def record(self, route: WebhookRouteRow, alert: InboundAlert) -> RecordedEvent | None:
        """Record one alert (silences, routing, history, outbox) and count it on its route."""
        if self.gate is None:
            event = self._record(route, alert)
        else:
            # The engine's state is written by one pass at a time: wait for the write lock off the loop.
            async with self.gate.writing():
                event = self._record(route, alert)
        if event is not None and self.on_recorded is not None:
            self.on_recorded()
        return event

    def _record(self, route: WebhookRouteRow, alert: InboundAlert) -> RecordedEvent | None:
        now = self.now_ms()
        with self.repo.transaction():
            try:
                event = self.engine.receive(route.rule_id, webhook_signal(route, alert, now), now)
            except KeyError:
                raise RouteGone(
                    f"the alert of route {route.name!r} is paused or removed; resume it with /alert resume"
                ) from None
            self.repo.note_webhook_accepted(route.id, now)
        return event
