"""Tripwire's own metrics: their names and help texts in one place, read from the objects that keep them.

The composition root calls ``register_tripwire_metrics`` with whatever it built (a replay has no Discord
client, a bot without futures feeds no liquidations); each source is optional and only its metrics
appear. Objects are read through small protocols, so this module imports none of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from bot.ops.metrics import Counter, Gauge, Histogram, LabelValues, Registry
from storage.repo import PruneResult

# Feed states as numbers, for alerting rules like `tripwire_feed_state == 2` (the order is the severity).
# A standby feed (an unused fallback) is 0: nothing is wrong with it, and a rule paging on 2 must not fire.
FEED_STATE_VALUES = {"ok": 0, "standby": 0, "degraded": 1, "stale": 2}
# Rule evaluations take microseconds to a few hundred milliseconds: finer buckets than the defaults.
EVALUATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def tripwire_version() -> str:
    """Return the installed Tripwire version ("unknown" when running from an uninstalled tree)."""
    try:
        return metadata.version("tripwire")
    except metadata.PackageNotFoundError:
        return "unknown"


class FeedHealthView(Protocol):
    """One feed's health as ``feeds.health.HealthSnapshot`` has it."""

    @property
    def name(self) -> str:
        """Return the feed's name."""

    @property
    def state(self) -> str:
        """Return the feed's health state ("ok", "degraded" or "stale")."""

    @property
    def lag_ms(self) -> int | None:
        """Return how far the feed's newest data lags behind now, in ms (None when unknown)."""


class EngineCounts(Protocol):
    """The alert engine's counters."""

    fired: int
    silenced: int
    resolved: int


class DispatcherCounts(Protocol):
    """The outbox dispatcher's counters."""

    delivered: int
    failed: int
    retried: int


class EvaluatorCounts(Protocol):
    """The live evaluator's counters."""

    evaluations: int
    last_duration_s: float


@dataclass(frozen=True, slots=True)
class Instruments:
    """The metrics code updates directly (the rest are read at scrape time)."""

    registry: Registry
    evaluation_seconds: Histogram
    discord_errors: Counter
    retention_deleted: Counter
    retention_last_success: Gauge

    def record_retention(self, result: PruneResult) -> None:
        """Count what a retention run deleted and when it last succeeded (pass as ``on_result``)."""
        for table, rows in result.deleted.items():
            self.retention_deleted.inc(rows, table=table)
        self.retention_last_success.set(time.time())


def ingest_counts(counts: Mapping[str, int]) -> dict[LabelValues, float]:
    """Turn ``Ingest.counts`` ("kind:source" -> rows) into {(source, kind): rows}."""
    result: dict[LabelValues, float] = {}
    for key, rows in counts.items():
        kind, _, source = key.partition(":")
        result[(source, kind)] = float(rows)
    return result


def refused_counts(counts: Mapping[str, int]) -> dict[LabelValues, float]:
    """Turn ``RowGuard.refused`` ("kind:source:reason" -> rows) into {(source, kind, reason): rows}."""
    result: dict[LabelValues, float] = {}
    for key, rows in counts.items():
        kind, source, reason = [*key.split(":", 2), "", ""][:3]
        result[(source, kind, reason)] = float(rows)
    return result


def _register_ingest_metrics(
    registry: Registry,
    ingested: Callable[[], Mapping[str, int]] | None,
    refused: Callable[[], Mapping[str, int]] | None,
    clock_offset: Callable[[], float] | None,
) -> None:
    """Register the metrics of what the feeds delivered: rows stored, rows refused, the venues' clock."""
    if ingested is not None:
        read_ingested = ingested
        registry.counter_from(
            "tripwire_events_ingested",
            "Observation rows stored, by source and kind (candles, liquidations, funding, ...).",
            ["source", "kind"],
            lambda: ingest_counts(read_ingested()),
        )
    if refused is not None:
        read_refused = refused
        registry.counter_from(
            "tripwire_rows_refused",
            "Observation rows refused at ingest (not finite, out of bounds, or outside the time window).",
            ["source", "kind", "reason"],
            lambda: refused_counts(read_refused()),
        )
    if clock_offset is not None:
        registry.gauge_from(
            "tripwire_clock_offset_seconds",
            "The venues' clock minus the host's, from their Date headers and server times.",
            [],
            clock_offset,
        )


def register_tripwire_metrics(
    registry: Registry,
    *,
    ingested: Callable[[], Mapping[str, int]] | None = None,
    refused: Callable[[], Mapping[str, int]] | None = None,
    clock_offset: Callable[[], float] | None = None,
    feeds: Callable[[], Iterable[FeedHealthView]] | None = None,
    engine: EngineCounts | None = None,
    dispatcher: DispatcherCounts | None = None,
    evaluator: EvaluatorCounts | None = None,
    outbox_depth: Callable[[], int] | None = None,
    outbox_failed: Callable[[], int] | None = None,
    gateway_latency: Callable[[], float | None] | None = None,
    started_at: float | None = None,
) -> None:
    """Register Tripwire's metrics read at scrape time on ``registry`` (see ``tripwire_instruments``)."""
    version = tripwire_version()
    registry.gauge_from(
        "tripwire_build_info", "Tripwire version running (always 1).", ["version"], lambda: {(version,): 1.0}
    )
    start = time.time() if started_at is None else started_at
    registry.gauge_from(
        "tripwire_start_time_seconds", "When this process started (Unix time).", [], lambda: start
    )
    _register_ingest_metrics(registry, ingested, refused, clock_offset)
    if feeds is not None:
        read_feeds = feeds

        def lags() -> dict[LabelValues, float]:
            return {(f.name,): f.lag_ms / 1000 for f in read_feeds() if f.lag_ms is not None}

        def states() -> dict[LabelValues, float]:
            return {(f.name,): float(FEED_STATE_VALUES[str(f.state)]) for f in read_feeds()}

        registry.gauge_from(
            "tripwire_feed_lag_seconds", "Age of the newest data each feed delivered.", ["feed"], lags
        )
        registry.gauge_from(
            "tripwire_feed_state", "Feed state: 0 ok or standby, 1 degraded, 2 stale.", ["feed"], states
        )
    if engine is not None:
        counts = engine
        registry.counter_from(
            "tripwire_alerts",
            "Alert events recorded by the engine, by state (fired, silenced, resolved).",
            ["state"],
            lambda: {
                ("fired",): float(counts.fired),
                ("silenced",): float(counts.silenced),
                ("resolved",): float(counts.resolved),
            },
        )
    if dispatcher is not None:
        outbox = dispatcher
        registry.counter_from(
            "tripwire_deliveries",
            "Outbox delivery outcomes (delivered, failed for good, retried later).",
            ["outcome"],
            lambda: {
                ("delivered",): float(outbox.delivered),
                ("failed",): float(outbox.failed),
                ("retried",): float(outbox.retried),
            },
        )
    if evaluator is not None:
        live = evaluator
        registry.counter_from(
            "tripwire_evaluations", "Evaluation passes over the rules.", [], lambda: float(live.evaluations)
        )
        registry.gauge_from(
            "tripwire_evaluation_last_duration_seconds",
            "Time the last evaluation pass took.",
            [],
            lambda: live.last_duration_s,
        )
    if outbox_depth is not None:
        registry.gauge_from("tripwire_outbox_depth", "Deliveries waiting in the outbox.", [], outbox_depth)
    if outbox_failed is not None:
        # Only a permanent failure ends a delivery (an outage never does); each was told in the ops channel.
        registry.gauge_from(
            "tripwire_outbox_failed",
            "Deliveries that failed for good (channel gone, access removed, refused), kept until pruned.",
            [],
            outbox_failed,
        )
    if gateway_latency is not None:
        read_latency = gateway_latency

        def latency() -> float | None:
            value = read_latency()
            # discord.py reports inf/nan until the first heartbeat is acknowledged: no sample then.
            return value if value is not None and math.isfinite(value) else None

        registry.gauge_from(
            "tripwire_discord_gateway_latency_seconds", "Discord gateway heartbeat latency.", [], latency
        )


def tripwire_instruments(registry: Registry) -> Instruments:
    """Register the metrics code updates itself on ``registry`` and return them.

    Kept apart from ``register_tripwire_metrics``: the app builds these first and hands them to the parts
    that update them (the Discord sink, the evaluator, the retention job), which exist before the objects
    the scrape-time metrics read.
    """
    return Instruments(
        registry=registry,
        evaluation_seconds=registry.histogram(
            "tripwire_evaluation_duration_seconds",
            "Time one evaluation pass over the rules took.",
            buckets=EVALUATION_BUCKETS,
        ),
        discord_errors=registry.counter(
            "tripwire_discord_errors",
            "Discord API errors met while delivering, by kind (forbidden, not_found, rate_limited, "
            "server_error, unauthorized, rejected, network).",
            ["kind"],
        ),
        retention_deleted=registry.counter(
            "tripwire_retention_deleted_rows", "Rows deleted by the retention job, by table.", ["table"]
        ),
        retention_last_success=registry.gauge(
            "tripwire_retention_last_success_timestamp_seconds", "When the retention job last succeeded."
        ),
    )
