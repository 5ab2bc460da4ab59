"""/alert test: run a rule over the stored history before it goes live, then enable it with one button.

``/alert test`` takes exactly the options of ``/alert add`` (read by the same ``AlertCog`` methods, with
the same checks) plus ``period``; ``/alert test-rule`` backtests a rule the server already has (a name of
its own: Discord does not let a subcommand group share a level with a leaf of the same name). The replay
runs in a worker thread, and the answer is private: how often the rule would have fired, when, and its
chart.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.checks import guild_id_of
from bot.discord.cogs.alerts import (
    RULE_DESCRIPTIONS,
    AlertCog,
    Deliver,
    Note,
    RuleInput,
    with_detector_option,
)
from bot.discord.render import rules as render
from bot.discord.render.history import backtest_embed
from bot.discord.transformers import Cooldown, Expiry, SettingsText, Symbol, is_manager
from bot.discord.transformers_history import BacktestPeriod, VisibleRule, guild_scope, history_of, viewer_of
from bot.discord.views import MAX_VIEW_LIFETIME_S, OwnedView, ViewTracker
from bot.parsing import no_such_rule
from bot.services.backtest import BacktestPreview, BacktestService, RuleDraft
from bot.services.rules import RuleView
from detectors.base import Detector
from storage.repo import RuleRow

log = logging.getLogger(__name__)

# The Enable button answers this long after the test (and never past MAX_VIEW_LIFETIME_S after the command:
# an interaction token lives 15 minutes).
ENABLE_TIMEOUT_S = 600.0
# Backtests run at once; more wait their turn (each holds a worker thread and a core for up to seconds).
MAX_CONCURRENT_BACKTESTS = 2
CHART_FILENAME = "backtest.png"

Check = Callable[[discord.Interaction[Any]], Any]


class EnableRuleView(OwnedView):
    """The "Enable this rule" button under a backtest: creates (or resumes) the rule once."""

    def __init__(
        self,
        owner_id: int,
        enable: Callable[[discord.Interaction[Any]], RuleView],
        *,
        timeout: float,
        lifetime: float = MAX_VIEW_LIFETIME_S,
        done: str = "created",
    ) -> None:
        super().__init__(owner_id, timeout=timeout, lifetime=lifetime)
        self._enable = enable
        self.done = done
        self._lock = asyncio.Lock()
        self.created: RuleView | None = None

    @discord.ui.button(label="Enable this rule", style=discord.ButtonStyle.success)
    async def enable(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        """Create the rule (same checks and quotas as /alert add), unless this button already did."""
        async with self._lock:
            if self.created is not None:
                # A second press (a double click, or a client that missed the disabled button) creates
                # nothing: the view stays listening so it can say so instead of leaving it unanswered.
                await interaction.response.send_message(
                    f"Already enabled as `{self.created.id}`.", ephemeral=True
                )
                return
            rule = self._enable(interaction)
            self.created = rule
            button.disabled = True
            button.label = f"Enabled as {rule.id}"[:80]  # Discord: button labels are at most 80 characters
            await interaction.response.edit_message(view=self)
        created = render.rule_embed(rule, f"Alert {rule.id} {self.done}")
        await interaction.followup.send(embed=created, ephemeral=True)


class AlertTestCog(commands.Cog, name="Backtests"):
    """Backtest alerts before creating them (the ``/alert test`` group inside ``/alert``)."""

    def __init__(
        self,
        tester: BacktestService,
        alerts: AlertCog,
        detectors: Mapping[str, type[Detector]] | None = None,
        *,
        view_timeout_s: float = ENABLE_TIMEOUT_S,
        view_lifetime_s: float = MAX_VIEW_LIFETIME_S,
    ) -> None:
        self.service = tester.service
        self.alerts = alerts
        self.tester = tester
        self.view_timeout_s = view_timeout_s
        self.view_lifetime_s = view_lifetime_s
        self.views = ViewTracker()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_BACKTESTS)
        group = alerts.app_command
        assert group is not None, "AlertCog is a GroupCog"
        offered = detectors if detectors is not None else alerts.detectors
        group.add_command(self._test_command(offered))
        group.add_command(self._existing_command())

    async def cog_unload(self) -> None:
        """Stop the Enable buttons' timeouts when the bot closes."""
        self.views.stop_all()

    def period_description(self) -> str:
        """Return the `period` option's description, with the configured limits."""
        limits = self.tester.limits
        return (
            "How much stored history to test over, e.g. 7d or 30d "
            f"(default {limits.default_days:g}d, at most {limits.max_days:g}d)"
        )

    def _test_command(self, detectors: Mapping[str, type[Detector]]) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(**RULE_DESCRIPTIONS, period=self.period_description())
        async def test(
            interaction: discord.Interaction[Any],
            detector: str,
            symbol: Symbol | None = None,
            settings: SettingsText | None = None,
            deliver: Deliver | None = None,
            channel: discord.TextChannel | None = None,
            role: discord.Role | None = None,
            note: Note | None = None,
            repeat: bool | None = None,
            cooldown: Cooldown | None = None,
            expires: Expiry | None = None,
            period: BacktestPeriod | None = None,
        ) -> None:
            given = RuleInput(
                detector, symbol, settings, deliver, channel, role, note, repeat, cooldown, expires
            )
            await cog.test_options(interaction, given, period)

        return app_commands.Command(
            name="test",
            description="Backtest an alert on stored history first, then enable it with a button",
            callback=with_detector_option(test, detectors),
        )

    def _existing_command(self) -> app_commands.Command[Any, ..., None]:
        cog = self

        @app_commands.describe(rule="The alert's id, e.g. btc-level-7f3a", period=self.period_description())
        async def test_existing(
            interaction: discord.Interaction[Any], rule: VisibleRule, period: BacktestPeriod | None = None
        ) -> None:
            await cog.test_existing(interaction, rule, period)

        return app_commands.Command(
            name="test-rule", description="Backtest one of this server's alerts", callback=test_existing
        )

    def _add_checks(self) -> Sequence[Check]:
        """Return the run-time checks of /alert add."""
        group = self.alerts.app_command
        found = group.get_command("add") if group is not None else None
        return list(found.checks) if isinstance(found, app_commands.Command) else []

    async def test_options(
        self, interaction: discord.Interaction[Any], given: RuleInput, period: int | None
    ) -> None:
        """Backtest the rule /alert test's options describe (those of /alert add)."""
        days = self.tester.check_period(period)
        settings, options = self.alerts.described_rule(interaction, given)
        # Refused now rather than when "Enable this rule" is pressed after a backtest that cannot be used.
        self.service.check_delivery(options, is_admin=is_manager(interaction))
        draft = self.tester.draft(given.detector, given.symbol, settings, options)
        checks = self._add_checks()
        guild_id = guild_id_of(interaction)

        def enable(press: discord.Interaction[Any]) -> RuleView:
            for check in checks:
                check(press)  # the same permission checks as /alert add, for the member pressing
            return self.tester.enable(guild_id, press.user.id, draft, is_admin=is_manager(press))

        await self._answer(interaction, self.tester.draft_row(draft), days, draft, enable, "created")

    async def test_existing(
        self, interaction: discord.Interaction[Any], rule_id: str, period: int | None
    ) -> None:
        """Backtest a rule the server already has (offering to resume it when it is paused)."""
        days = self.tester.check_period(period)
        scope = guild_scope(interaction)
        if scope is None:
            raise app_commands.NoPrivateMessage()
        row = self.tester.existing(scope, rule_id)
        viewer = viewer_of(interaction)
        if row.id not in {r.id for r in history_of(interaction).visible_rules(scope, viewer)}:
            # A rule posting only where the member cannot read: the same answer as a rule that is not there.
            raise no_such_rule(rule_id)
        guild_id = scope.guild_id
        checks = self._add_checks()

        def resume(press: discord.Interaction[Any]) -> RuleView:
            for check in checks:
                check(press)
            return self.tester.resume(guild_id, press.user.id, row.id, is_admin=is_manager(press))

        # A paused rule of this server can be switched on from here; a running or config one cannot.
        paused = not row.enabled and row.guild_id == guild_id
        await self._answer(interaction, row, days, None, resume if paused else None, "resumed")

    async def _answer(
        self,
        interaction: discord.Interaction[Any],
        row: RuleRow,
        days: float,
        draft: RuleDraft | None,
        enable: Callable[[discord.Interaction[Any]], RuleView] | None,
        done: str,
    ) -> None:
        # Everything the member typed was checked above; the replay takes from a fraction of a second to
        # a few seconds, past Discord's 3 s to answer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        end = self.service.now_ms()
        async with self._slots:
            # The replay is CPU-bound work on a private in-memory database: off the event loop.
            result = await asyncio.to_thread(self.tester.run, row, days, end)
        preview = BacktestPreview(days, result, draft, self.tester.warming(row, self.service.now_ms()))
        summary = self.service.summarize(row.detector, row.settings)
        png = result.chart_png
        embed = backtest_embed(preview, summary, CHART_FILENAME if png else None)
        extra: dict[str, Any] = {}
        if png:
            extra["file"] = discord.File(io.BytesIO(png), filename=CHART_FILENAME)
        view: EnableRuleView | None = None
        if enable is not None:
            # The button's life counts from the command, so the replay's own seconds are part of it.
            view = EnableRuleView(
                interaction.user.id,
                enable,
                timeout=self.view_timeout_s,
                lifetime=self.view_lifetime_s,
                done=done,
            )
            self.views.add(view)
            view.attach(interaction)
            extra["view"] = view
        await interaction.followup.send(embed=embed, ephemeral=True, **extra)
