"""Typed reads and writes: the only package that speaks SQL to Tripwire's database.

Writes of observations are idempotent upserts on each table's natural key, so a re-poll or a replay
restarted on the same file never duplicates a row. Every method that changes several tables takes part in
the caller's ``transaction()``, which is how the engine writes an alert's state and its outbox row together.

``Repo`` is composed of one mixin per family of tables over ``RepoBase`` (the connection and its
transactions), the way Red-DiscordBot composes its large cogs; the row types live in ``storage.rows`` and
are re-exported here, so ``from storage.repo import Repo, RuleRow`` keeps working.
"""

from __future__ import annotations

from storage.repo.alerts import AlertsMixin
from storage.repo.base import RepoBase
from storage.repo.digests import DigestsMixin
from storage.repo.etf import EtfMixin
from storage.repo.feed_health import FeedHealthMixin
from storage.repo.guilds import GuildsMixin
from storage.repo.instruments import InstrumentsMixin
from storage.repo.liqmap import LiqMapMixin
from storage.repo.liquidations import LiquidationsMixin
from storage.repo.maintenance import (
    FINAL_OUTBOX_STATUSES,
    OBSERVATION_TABLES,
    STATE_TABLES,
    ChunkListener,
    MaintenanceMixin,
    RetentionPolicy,
)
from storage.repo.measured import MeasuredMixin, MeasuredRound
from storage.repo.members import MembersMixin
from storage.repo.observations import ObservationsMixin
from storage.repo.outbox import OutboxMixin
from storage.repo.positioning import PositioningMixin
from storage.repo.rules import RulesMixin
from storage.repo.silences import SilencesMixin
from storage.repo.webhooks import WebhooksMixin
from storage.rows import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    WEEK_MS,
    AlertEventRow,
    AlertStateRow,
    CandleCoverage,
    CandleSeries,
    DatabaseStats,
    DigestRow,
    EventScope,
    FeedHealthReport,
    GuildSettingsRow,
    InstrumentRow,
    LiqMapGrade,
    LiquidationTotals,
    MeasuredPositionRow,
    MeasuredSample,
    MemberData,
    MemberNoticeRow,
    MessageGroupRow,
    OutboxRow,
    PruneResult,
    RuleRow,
    SilenceRow,
    SpanStat,
    WebhookRouteRow,
)

__all__ = [
    "DAY_MS",
    "FINAL_OUTBOX_STATUSES",
    "HOUR_MS",
    "MINUTE_MS",
    "OBSERVATION_TABLES",
    "STATE_TABLES",
    "WEEK_MS",
    "AlertEventRow",
    "AlertStateRow",
    "CandleCoverage",
    "CandleSeries",
    "ChunkListener",
    "DatabaseStats",
    "DigestRow",
    "EventScope",
    "FeedHealthReport",
    "GuildSettingsRow",
    "InstrumentRow",
    "LiqMapGrade",
    "LiquidationTotals",
    "MeasuredPositionRow",
    "MeasuredRound",
    "MeasuredSample",
    "MemberData",
    "MemberNoticeRow",
    "MessageGroupRow",
    "OutboxRow",
    "PruneResult",
    "Repo",
    "RepoBase",
    "RetentionPolicy",
    "RuleRow",
    "SilenceRow",
    "SpanStat",
    "WebhookRouteRow",
]


class Repo(
    ObservationsMixin,
    PositioningMixin,
    EtfMixin,
    LiquidationsMixin,
    MembersMixin,  # before RulesMixin: a member's data is read through their rules
    RulesMixin,
    AlertsMixin,
    OutboxMixin,
    SilencesMixin,
    WebhooksMixin,
    GuildsMixin,
    DigestsMixin,
    InstrumentsMixin,
    LiqMapMixin,
    MeasuredMixin,
    FeedHealthMixin,
    MaintenanceMixin,
):
    """Typed access to one Tripwire database."""
