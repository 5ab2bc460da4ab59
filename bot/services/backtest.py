"""/alert test as plain Python: validate a rule without storing it, backtest it, and enable it on request.

The backtest itself is ``bot.replay.backtest``: the same detector and engine code as the live bot over the
stored history, on a private in-memory database. ``run`` is synchronous and meant for ``asyncio.to_thread``: a
month of 1h candles replays in well under a second, 90 days of 1m candles in two or three, and the event
loop must keep answering Discord meanwhile. The limits are the config file's ``[backtest]`` section. No
``import discord`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.alerts.warmup import WarmUp
from bot.errors import UserError
from bot.parsing import format_duration, no_such_rule
from bot.replay.backtest import UNNAMED_RULE_ID, BacktestLimits, BacktestResult, backtest
from bot.services import Service
from bot.services.rules import RuleOptions, RuleView
from storage.repo import EventScope, RuleRow

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class RuleDraft:
    """A rule described by /alert test's options: validated, not stored."""

    detector: str
    symbol: str
    settings: Mapping[str, Any]
    options: RuleOptions


@dataclass(frozen=True, slots=True)
class BacktestPreview:
    """What /alert test answers: what the rule would have done, and what enabling it means."""

    days: float
    result: BacktestResult
    # The rule to create when someone presses "Enable this rule"; None when an existing rule was tested.
    draft: RuleDraft | None = None
    # What the live rule still misses of its warm-up now (it would not fire until then).
    warming: tuple[WarmUp, ...] = ()

    @property
    def existing(self) -> bool:
        """Return whether a stored rule was tested (rather than one described by options)."""
        return self.draft is None


class BacktestService:
    """Backtest rules for /alert test and create (or resume) them afterwards."""

    def __init__(self, service: Service, limits: BacktestLimits | None = None) -> None:
        self.service = service
        self.limits = limits or BacktestLimits.from_config(service.config.backtest)

    def check_period(self, period_s: int | None) -> float:
        """Return the days to test for a period in seconds (None: the limits' default), or raise UserError."""
        if period_s is None:
            return self.limits.default_days
        days = period_s / DAY_S
        if not 1 <= days <= self.limits.max_days:
            asked = format_duration(period_s)
            raise UserError(f"A backtest covers 1 to {self.limits.max_days:g} days; you asked for {asked}.")
        return days

    def draft(
        self, detector: str, symbol: str | None, settings: Mapping[str, Any], options: RuleOptions
    ) -> RuleDraft:
        """Validate a rule described by options, exactly as /alert add would, without storing it."""
        name, stored = self.service.validate_rule(detector, symbol, settings)
        return RuleDraft(detector, name, stored, options)

    def draft_row(self, draft: RuleDraft) -> RuleRow:
        """Return the unsaved rule a draft describes, with the cooldown and one-shot it would have."""
        cooldown = draft.options.cooldown_s
        return RuleRow(
            id=UNNAMED_RULE_ID,
            origin="discord",
            detector=draft.detector,
            symbol=draft.symbol,
            settings=dict(draft.settings),
            note=draft.options.note,
            repeat=draft.options.repeat,
            cooldown_s=self.service.config.engine.default_cooldown_seconds if cooldown is None else cooldown,
        )

    def existing(self, scope: EventScope, rule_id: str) -> RuleRow:
        """Return a rule of the guild (or a config rule routed to it) by id, or raise UserError."""
        row = self.service.repo.rule(rule_id.strip())
        visible = row is not None and (
            (row.guild_id == scope.guild_id and row.id not in scope.hidden_rules) or row.id in scope.routed
        )
        if row is None or not visible:
            raise no_such_rule(rule_id)
        return row

    def run(self, rule: RuleRow, days: float, end: int) -> BacktestResult:
        """Backtest ``rule`` over the ``days`` before ``end`` (blocking: call it in a worker thread)."""
        return backtest(
            self.service.repo,
            rule,
            end=end,
            days=days,
            config=self.service.config,
            limits=self.limits,
        )

    def warming(self, rule: RuleRow, now: int) -> tuple[WarmUp, ...]:
        """Return what the rule, live, still misses of its warm-up at ``now`` (empty: it is warm)."""
        return self.service.warming_of(rule.detector, rule.symbol, rule.settings, now)

    def enable(self, guild_id: int, user_id: int, draft: RuleDraft, *, is_admin: bool) -> RuleView:
        """Create the drafted rule, with every check and quota of /alert add."""
        return self.service.add_rule(
            guild_id, user_id, draft.detector, draft.symbol, draft.settings, draft.options, is_admin=is_admin
        )

    def resume(self, guild_id: int, user_id: int, rule_id: str, *, is_admin: bool) -> RuleView:
        """Resume a paused rule of the guild after its backtest, as /alert resume would."""
        return self.service.resume_rule(guild_id, user_id, rule_id, is_admin=is_admin)
