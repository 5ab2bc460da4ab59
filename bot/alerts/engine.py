"""The alert engine: signals in, alert events and outbox rows out, with a lifecycle that survives restarts.

For each rule the engine runs its detector on a point-in-time view of the history and compares the active
conditions with the alert state it keeps per dedupe key (``rule_id`` or ``rule_id:key``):

* a condition that appears becomes **pending**; it **fires** once it has been active for the rule's
  ``pending_s`` and seen on ``pending_evaluations`` consecutive evaluations, and the rule's cooldown
  since its last firing has passed (and no feed it depends on is stale). Firing records an alert event
  and queues one outbox row per delivery target, in the same transaction as the state change, so a crash
  can neither lose nor repeat it;
* a condition that disappears **resolves**: a firing alert records a resolved event (delivered when the
  alert was a state, such as a cascade, whose end people want to know);
* one-shot rules are disabled after their first firing; expired rules are disabled.

Detector state and each rule's ``evaluated_at`` are kept in memory and flushed with the same transaction,
so a restarted replay skips every tick it had already committed, and a restarted live bot evaluates once
at ``now`` on the backfilled history: a crossing missed while it was down is reported once, marked late.
A state whose lasting part did not change (``Detector.lasting_state``: an indicator rule's flags, not its
``t``) is written at most every ``bot.alerts.saving.MAX_UNSAVED_MS``: a restart redoes its evaluations
since the one written, to the same result.

A rule whose detector says it is quiet (``Detector.quiet``) is not evaluated again until its time comes or
the data it reads changes; its ``evaluated_at`` stays that of its last real evaluation, so a restarted
replay evaluates the skipped ticks again, to the same result. A quiet rule that keeps a clock in its state
(``Quiet.now_key``) has it set, when it wakes, to its symbol's latest evaluation, and written once per
``MAX_UNSAVED_MS`` (at the first pass over every rule in it) or with its next real evaluation: a restart
redoes the ticks since, to the same state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from bot.alerts import history_reads
from bot.alerts.loading import BatchSizer
from bot.alerts.model import WEBHOOK_DETECTOR, WEBHOOK_SINK, Inhibition, RecordedEvent, Router, Target
from bot.alerts.quarantine import describe_error, quarantine_rule
from bot.alerts.quiet import QuietRules
from bot.alerts.rules import ActiveRule, UnknownDetector, instantiate
from bot.alerts.saving import MAX_UNSAVED_MS, StateSaves
from bot.alerts.silencing import silence_matches
from bot.config import EngineConfig, RetentionConfig
from detectors.base import MARKET_SYMBOL, Quiet, Signal
from detectors.market_history import MarketHistory, SymbolView
from storage.db import database_errors
from storage.repo import AlertStateRow, Repo, RuleRow, SilenceRow
from storage.repo.state_json import StateEncoder

log = logging.getLogger(__name__)

# Gradual loading (Engine.load_gradually): rows read a page at a time, and rules made active in batches
# sized so building and first evaluating one takes about this long: the event loop is never held much
# longer (a Discord heartbeat, a command, a feed's frames wait at most that).
LOAD_PAGE = 500
LOAD_BUDGET_S = 0.025
# Between batches the loading task sleeps this long rather than sleep(0): a task woken by a timer (a
# heartbeat, a probe) needs two loop turns (the timer resolves its future, then the task steps), and after
# sleep(0) the loading task is first in line at both, so another waiter ran only every third batch.
LOAD_PAUSE_S = 0.001


class Engine:
    """Evaluate rules against the history and keep alert lifecycles in SQLite."""

    def __init__(
        self,
        repo: Repo,
        history: MarketHistory,
        router: Router,
        *,
        late_after_ms: int = 300_000,
        stale_kinds: Callable[[str], set[str]] | None = None,
        inhibition: Inhibition | None = None,
        report_before_creation: bool = False,
        retention: RetentionConfig | None = None,
        ops_channel_id: int | None = None,
        warn_unrouted: bool = False,
        liquidation_gaps: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.repo = repo
        # Live: an alert recorded with nowhere to go is logged (once per rule), never dropped in silence.
        self.warn_unrouted = warn_unrouted
        self._unrouted_told: set[str] = set()
        # The liquidation venues (display names) whose feed is down for a symbol: an alert computed from
        # liquidations then says its totals are without them (live only; replays have no feeds).
        self._liquidation_gaps = liquidation_gaps
        # A stored rule is validated again on load, its windows against what retention keeps (issue 17).
        self.retention = retention
        # Where a quarantined rule is reported when its server has no ops channel of its own.
        self.ops_channel_id = ops_channel_id
        # Live: events older than the rule are not news. Replays and backtests play history on purpose.
        self.report_before_creation = report_before_creation
        self.history = history
        self.router = router
        self.late_after_ms = late_after_ms
        self._stale_kinds = stale_kinds
        self.inhibition = inhibition
        self._rules: dict[str, ActiveRule] = {}
        # While load_gradually runs: ids of enabled rules read but not yet active (refresh_rule takes one
        # out, so a rule changed meanwhile is not overwritten by its older row); None otherwise.
        self._loading: set[str] | None = None
        # Rules whose alerts arrive from outside (webhook routes): recorded by receive(), never evaluated.
        self._external: dict[str, RuleRow] = {}
        self._order: list[ActiveRule] | None = None
        self._detector_state: dict[str, tuple[dict[str, Any], int]] = {}
        self._alerts: dict[str, dict[str, AlertStateRow]] = {}
        self._dirty: set[str] = set()
        # One view per symbol within an evaluation pass, so its rules share what they read (indicator_feed).
        self._views: dict[str, SymbolView] = {}
        self._state_json = StateEncoder()  # keeps latched alerts' text: most states change only in "t"
        # Which evaluated rules' states need writing: not an indicator rule's whose flags did not change.
        self._saves = StateSaves()
        # Quiet rules (Detector.quiet) sleep in ``_quiet``: a tick only costs the rules that can change.
        self._quiet = QuietRules(history)
        self._awake: set[str] | None = None  # ids of the rules not asleep (None: every rule)
        # The same per symbol (MARKET_SYMBOL: market-wide rules): an evaluation of a few symbols looks at
        # their awake rules only, not at every awake rule of every symbol (issue 24).
        self._awake_of: dict[str, set[str]] = {}
        self._due_rules: list[ActiveRule] | None = None  # the awake rules, in evaluation order
        self._position: dict[str, int] = {}  # rule id -> place in evaluation order
        self._open_alerts: set[str] = set()  # ids of rules with an alert pending or firing
        # The latest evaluation time of every rule (symbols=None), per symbol, and of any rule: a quiet
        # rule's clock (Quiet.now_key) is what it would have been evaluated at last, set when it is read.
        self._now_all = self._now_any = -(2**62)
        self._now_of: dict[str, int] = {}
        # The MAX_UNSAVED_MS period of the last pass over every rule whose flush settled every clock.
        self._clocks_period: int | None = None
        self._tx: AbstractContextManager[None] | None = None  # the evaluation's transaction, once it writes
        self._silences: list[SilenceRow] | None = None  # read at the first alert that needs them
        self._silences_at = 0
        self.fired = 0
        self.silenced = 0
        self.resolved = 0
        # Ends announced with a notice (a lasting condition's "Ended: ..."); the others end silently.
        self.ends_announced = 0

    # --- rules -------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load enabled rules, detector states and open alert states from the database."""
        self._settle_clocks(self._quiet.clocked)
        self._rules = {}
        self.history.release_all()  # each rule built below says again what it reads
        self._external = {}
        for row in self.repo.rules(enabled_only=True):
            self._activate(row)
        self._detector_state = self.repo.all_detector_states()
        self._saves = StateSaves()
        self._alerts = {}
        self._open_alerts = set()
        for state in self.repo.alert_states(include_resolved=True):
            self._alerts.setdefault(state.rule_id, {})[state.dedupe_key] = state
            if state.status != "resolved":
                self._open_alerts.add(state.rule_id)
        self._dirty.clear()
        self._wake_all()

    async def load_gradually(
        self,
        evaluate: Callable[[], Awaitable[object]],
        *,
        budget_s: float = LOAD_BUDGET_S,
        page: int = LOAD_PAGE,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Load what ``load`` loads without holding the event loop; return the rules made active.

        ``load`` and the first evaluation that follows it held the loop for the whole rule set (0.46 ms a
        rule, 22.8 s at 50k rules, issue 24). Here detector and alert states, then enabled rules, are read
        a page at a time; the rules are then made active in evaluation order, a batch at a time, and after
        each batch ``evaluate`` (the live evaluator's pass) evaluates what is active, so each batch's rules
        get their first evaluation (and fall asleep when quiet) before the next is built. Batches are sized
        so one takes about ``budget_s`` (bot.alerts.loading), and rules already active are not woken.
        Evaluated at one time, the batches record what ``load`` and one evaluation would
        (tests/bot/alerts/test_gradual_loading.py). When ``stop`` returns True (the bot is shutting
        down), no further batch is made active.
        """
        self._settle_clocks(self._quiet.clocked)
        self._rules, self._detector_state, self._alerts = {}, {}, {}
        self.history.release_all()  # each rule built below says again what it reads
        self._saves = StateSaves()
        self._external = {}
        self._order = None
        self._open_alerts = set()
        self._dirty.clear()
        self._loading = set()
        self._wake_all()
        try:
            await self._load_states(page)
            pending = await self._read_enabled_rules(page)
            self._loading = {row.id for row in pending}
            await self._activate_in_batches(pending, evaluate, budget_s, stop or (lambda: False))
        finally:
            self._loading = None
        return len(self._rules)

    async def _load_states(self, page: int) -> None:
        """Read every detector state and alert state, a page at a time."""
        after = ""
        while states := self.repo.detector_states_after(after, page):
            for rule_id, state, evaluated_at in states:
                self._detector_state.setdefault(rule_id, (state, evaluated_at))
            after = states[-1][0]
            await asyncio.sleep(LOAD_PAUSE_S)
        after = ""
        while alerts := self.repo.alert_states_after(after, page):
            for alert in alerts:
                self._alerts.setdefault(alert.rule_id, {}).setdefault(alert.dedupe_key, alert)
                if alert.status != "resolved":
                    self._open_alerts.add(alert.rule_id)
            after = alerts[-1].dedupe_key
            await asyncio.sleep(LOAD_PAUSE_S)

    async def _read_enabled_rules(self, page: int) -> list[RuleRow]:
        """Return the enabled rules, read a page at a time, in evaluation order."""
        # Pages come in id order, so evaluation order (inhibitors first, then by id) is the inhibitors of
        # every page, then the others: kept apart as they arrive, no sort of the whole set at the end.
        major = self.inhibition.inhibitors if self.inhibition else frozenset()
        first: list[RuleRow] = []
        rest: list[RuleRow] = []
        after = ""
        while rows := self.repo.enabled_rules_after(after, page):
            for row in rows:
                (first if row.detector in major else rest).append(row)
            after = rows[-1].id
            await asyncio.sleep(LOAD_PAUSE_S)
        return first + rest

    async def _activate_in_batches(
        self,
        pending: list[RuleRow],
        evaluate: Callable[[], Awaitable[object]],
        budget_s: float,
        stop: Callable[[], bool],
    ) -> None:
        """Make ``pending`` active in batches of about ``budget_s`` each, evaluating after each batch."""
        sizer = BatchSizer(budget_s)
        done = 0
        while done < len(pending) and not stop():
            # CPU time of this thread: what the batch holds the loop for, whatever else the host runs.
            began = time.thread_time()
            chunk = pending[done : sizer.next_batch(pending, done)]
            loading = self._loading if self._loading is not None else set()
            self._add_active([row for row in chunk if row.id in loading])
            loading.difference_update(row.id for row in chunk)
            await evaluate()
            done += len(chunk)
            sizer.measured(chunk, time.thread_time() - began)
            await asyncio.sleep(LOAD_PAUSE_S)

    def _order_key(self, row: RuleRow) -> tuple[bool, str]:
        # Inhibitors first, so a cascade firing in the same evaluation as a round-level break is already
        # known when the lesser alert is recorded and can absorb it.
        major = self.inhibition.inhibitors if self.inhibition else frozenset()
        return (row.detector not in major, row.id)

    def _add_active(self, rows: list[RuleRow]) -> None:
        """Make rules active without waking the sleeping ones; ``rows`` come in evaluation order."""
        added = [rule for row in rows if (rule := self._build(row)) is not None]
        if not added:
            return
        for rule in added:
            self._rules[rule.row.id] = rule
        order = self._order
        if order is not None and (
            not order or self._order_key(order[-1].row) < self._order_key(added[0].row)
        ):
            # They all sort after every active rule: appended, the order and positions stay valid.
            if self._awake is not None:
                for i, rule in enumerate(added, start=len(order)):
                    self._position[rule.row.id] = i
                    # Indexed by symbol too: an evaluation of a symbol's new data reads _awake_of, and a
                    # rule missing there waited for the next evaluation of every rule (up to 15 s).
                    self._awake_of.setdefault(_sleep_symbol(rule), set()).add(rule.row.id)
                self._awake.update(rule.row.id for rule in added)
            order.extend(added)
        else:
            self._order = None
            self._awake = None  # recomputed from the order, sleeping rules kept asleep
        self._due_rules = None

    def _activate(self, row: RuleRow) -> None:
        self._order = None
        self._wake_all()
        rule = self._build(row)
        if rule is not None:
            self._rules[row.id] = rule

    def _build(self, row: RuleRow) -> ActiveRule | None:
        """Return a rule ready to evaluate, or None (an external rule, or one skipped or quarantined)."""
        if row.detector == WEBHOOK_DETECTOR:
            self._external[row.id] = row
            return None
        try:
            detector = instantiate(row, self.retention)
        except UnknownDetector:
            # An uninstalled plugin: skipped, not quarantined, so reinstalling it brings the rule back.
            log.error("rule %s (%s) cannot run and is skipped: unknown detector", row.id, row.detector)
            return None
        except Exception as exc:  # settings a new version rejects, or a detector that cannot be built
            # Quarantined, not dropped: the owner and the ops channel learn why, and the row stays.
            now = max(self._now_any, row.updated_at)
            with self.repo.transaction():
                reason = f"its settings no longer validate ({describe_error(exc)})"
                quarantine_rule(self.repo, self.router, row, reason, now, ops_channel_id=self.ops_channel_id)
            return None
        history_reads.require(self.history, row.id, detector)  # the history keeps what it reads
        return ActiveRule(row, detector)

    def refresh_rule(self, rule_id: str) -> None:
        """Pick up a rule that was added, changed, paused or removed in the database."""
        self._settle_clocks(self._quiet.clocked)
        self._rules.pop(rule_id, None)
        self.history.release(rule_id)
        self._saves.forget(rule_id)
        if self._loading is not None:
            self._loading.discard(rule_id)  # its newer row is read here; the one read earlier is stale
        self._external.pop(rule_id, None)
        self._order = None
        self._wake_all()
        row = self.repo.rule(rule_id)
        if row is None:
            self._detector_state.pop(rule_id, None)
            self._alerts.pop(rule_id, None)
            self._dirty.discard(rule_id)
            return
        if row.enabled:
            self._activate(row)
        stored = self.repo.detector_state(rule_id)
        if stored is None:
            self._detector_state.pop(rule_id, None)
        elif self._loading is not None:
            self._detector_state.setdefault(rule_id, stored)  # its page of states may not be read yet
        self._alerts[rule_id] = {
            s.dedupe_key: s for s in self.repo.alert_states(rule_id, include_resolved=True)
        }
        self._open_alerts.discard(rule_id)
        if any(s.status != "resolved" for s in self._alerts[rule_id].values()):
            self._open_alerts.add(rule_id)

    def rules(self) -> list[ActiveRule]:
        """Return the rules being evaluated, in evaluation order."""
        if self._order is None:
            self._order = sorted(self._rules.values(), key=lambda r: self._order_key(r.row))
        return list(self._order)

    def wanted_intervals(self) -> set[str]:
        """Return candle intervals the rules' settings mention (to pre-aggregate them)."""
        intervals: set[str] = set()
        for rule in self._rules.values():
            for name in ("interval", "confirm"):
                value = getattr(rule.detector.settings, name, None)
                if isinstance(value, str):
                    intervals.add(value)
        return intervals

    # --- evaluation ----------------------------------------------------------------------------------

    def evaluate(
        self, now: int, symbols: Iterable[str] | None = None, *, flush: bool = True
    ) -> list[RecordedEvent]:
        """Evaluate the rules (of ``symbols``, or all) at ``now`` and record what changed.

        Each rule is evaluated at most once per ``now``; ticks at or before a rule's last evaluation are
        skipped, which is what makes a restarted replay resume instead of repeating.
        """
        awake = self._awake
        if symbols is None and awake is not None and not awake:
            due = self._due_when_all_asleep(now)
        else:
            due = self._due(now, symbols)
        if not due:
            # Every rule asleep: the usual tick of a replay (most of a year's 1.5M, bench.replay).
            if flush:
                self.flush()
            return []
        wanted = None if symbols is None else set(symbols)
        recorded: list[RecordedEvent] = []
        self._silences = None
        self._silences_at = now
        self._tx = None
        self._views = {}  # history only changes between passes
        try:
            for rule in due:
                try:
                    self._evaluate_rule(rule, now, wanted, recorded)
                except database_errors():
                    raise  # the database's trouble, not the rule's: the pass is rolled back and retried
                except Exception as exc:
                    # One rule's failure (its detector's evaluate or quiet, its signals) never costs another
                    # rule its alerts: it is quarantined and the pass goes on (issue 17, finding 1).
                    self._quarantine(rule, exc, now)
            if flush:
                self.flush()
        except BaseException as exc:
            tx, self._tx = self._tx, None
            if tx is not None:
                tx.__exit__(type(exc), exc, exc.__traceback__)  # rolls back, and re-raises here
            raise
        finally:
            self._views = {}
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.__exit__(None, None, None)
        return recorded

    def receive(self, rule_id: str, signal: Signal, now: int) -> RecordedEvent | None:
        """Record an alert that arrived from outside for an external rule (a webhook route's).

        It goes the way a detector's signal goes when it fires: the rule's cooldown per dedupe key, routing,
        silences (matched on the alert's own symbol), the history and the outbox, in one transaction. Such
        an alert is an event, not a state: it is closed at once, without a resolved event, so the next one
        of its key fires again. Return what was recorded, or None when the cooldown held it back.
        """
        row = self._external.get(rule_id)
        if row is None:
            raise KeyError(f"no enabled webhook rule {rule_id!r}")
        # The alert's symbol is its own (one route carries many): silences and the history match on it.
        row = replace(row, symbol=signal.symbol)
        key = f"{row.id}:{signal.key}" if signal.key else row.id
        alerts = self._alerts.setdefault(row.id, {})
        previous = alerts.get(key)
        fired_at = previous.fired_at if previous is not None else None
        if fired_at is not None and now - fired_at < row.cooldown_s * 1000:
            return None
        state = AlertStateRow(
            dedupe_key=key,
            rule_id=row.id,
            status="pending",
            since=now,
            pending_count=1,
            fired_at=fired_at,
            last_seen=now,
            last_event_id=previous.last_event_id if previous is not None else None,
            fire_count=previous.fire_count if previous is not None else 0,
        )
        recorded: list[RecordedEvent] = []
        self._silences = None
        self._silences_at = now
        self._tx = None
        try:
            fired = self._fire(row, state, signal, now, recorded)
            closed = replace(fired, status="resolved", since=now)
            self._save_alert_state(closed)
        except BaseException as exc:
            tx, self._tx = self._tx, None
            if tx is not None:
                tx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        tx, self._tx = self._tx, None
        if tx is not None:
            tx.__exit__(None, None, None)
        alerts[key] = closed
        return recorded[0] if recorded else None

    def _evaluate_rule(
        self, rule: ActiveRule, now: int, wanted: set[str] | None, recorded: list[RecordedEvent]
    ) -> None:
        """Evaluate one due rule at ``now``, record what changed and put it to sleep if it may."""
        row = rule.row
        market_wide = rule.detector.market_wide
        if wanted is not None and not market_wide and row.symbol not in wanted:
            return
        if row.expires_at is not None and now >= row.expires_at:
            self._disable(row, "expired", now)
            return
        stored = self._detector_state.get(row.id)
        if stored is not None and stored[1] >= now:
            return
        state: dict[str, Any] = stored[0] if stored is not None else {}
        symbol = MARKET_SYMBOL if market_wide else row.symbol
        view = self._views.get(symbol)
        if view is None:
            view = self._views[symbol] = self.history.view(symbol, now)
        signals = rule.detector.evaluate(view, state)
        self._detector_state[row.id] = (state, now)
        if self._saves.worth_writing(row.id, rule.detector, state, now):
            self._dirty.add(row.id)
        # Without signals and without an open alert there is nothing to apply.
        pending = (
            self._apply(rule, signals, now, recorded) if signals or row.id in self._open_alerts else False
        )
        quiet = rule.detector.quiet(state, now)
        if quiet is not None and not pending and row.id in self._rules:
            self._sleep(row, symbol, quiet, now)

    def _quarantine(self, rule: ActiveRule, exc: Exception, now: int) -> None:
        """Switch off a rule whose evaluation raised, keeping its state, and queue its notices."""
        row = rule.row
        log.error("detector %s failed on rule %s at %d", row.detector, row.id, now, exc_info=exc)
        self._begin()
        stored = self._detector_state.get(row.id)
        if stored is not None:
            try:
                self.repo.save_detector_state(row.id, stored[0], stored[1])
            except (TypeError, ValueError):  # a state the detector broke cannot be stored: keep the last one
                log.warning(
                    "rule %s: its detector state cannot be stored; the last stored one is kept", row.id
                )
        reason = f"its detector failed ({describe_error(exc)})"
        quarantine_rule(self.repo, self.router, row, reason, now, ops_channel_id=self.ops_channel_id)
        self._retire(row.id)

    def _active_silences(self) -> list[SilenceRow]:
        """Return the silences active at this evaluation's time, read once, when an alert needs them."""
        if self._silences is None:
            self._silences = self.repo.active_silences(self._silences_at)
        return self._silences

    # --- quiet rules -------------------------------------------------------------------------------

    def _wake_all(self) -> None:
        self._settle_clocks(self._quiet.clocked)
        self._quiet.clear()
        self._awake = None
        self._due_rules = None

    def _due_when_all_asleep(self, now: int) -> list[ActiveRule]:
        """Return ``_due(now, None)`` when every rule was asleep before ``now``.

        Unless one wakes now, nothing else is looked at: most of a year's 1.5M instants (bench.replay),
        where the full walk of ``_due`` cost 1.9 us each.
        """
        woken = self._quiet.wake(now)
        if woken:
            return self._due(now, None, woken)
        if now > self._now_all:  # _advance_clocks(now, None), inlined
            self._now_all = now
            if now > self._now_any:
                self._now_any = now
        return []

    def _due(
        self, now: int, symbols: Iterable[str] | None, woken: list[str] | None = None
    ) -> list[ActiveRule]:
        """Wake the sleeping rules whose time came or whose data changed; return the awake ones in order.

        ``woken``: the rules ``QuietRules.wake`` already woke at ``now``, when the caller asked it.
        """
        quiet = self._quiet
        if woken is None:
            woken = quiet.wake(now)
        if woken and quiet.clocked:
            self._settle_clocks(woken)  # at the evaluations before this one, as if advanced at each
        if symbols is not None and not isinstance(symbols, (set, frozenset)):
            symbols = set(symbols)
        self._advance_clocks(now, symbols)
        if self._awake is None:
            self._collect_awake()
        assert self._awake is not None
        if woken:
            self._awake.update(woken)
            rules, awake_of = self._rules, self._awake_of
            for rule_id in woken:  # every 1m indicator rule, every minute (issue 18): no set built per rule
                rule = rules.get(rule_id)
                if rule is not None:
                    symbol = _sleep_symbol(rule)
                    ids = awake_of.get(symbol)
                    if ids is None:
                        ids = awake_of[symbol] = set()
                    ids.add(rule_id)
            self._due_rules = None
        position, rules = self._position, self._rules
        if symbols is not None:
            # Only the awake rules of these symbols and the market-wide ones, in evaluation order.
            awake_of = self._awake_of
            ids = {i for symbol in (*symbols, MARKET_SYMBOL) for i in awake_of.get(symbol, ())}
            return [rules[i] for i in sorted(ids, key=position.__getitem__) if i in rules]
        if self._due_rules is None:
            self._due_rules = [rules[i] for i in sorted(self._awake, key=position.__getitem__)]
        return self._due_rules

    def _advance_clocks(self, now: int, symbols: set[str] | frozenset[str] | None) -> None:
        """Note the evaluation at ``now`` (of ``symbols``, or all) in the clocks quiet rules keep."""
        if now > self._now_any:
            self._now_any = now
        if symbols is None:
            if now > self._now_all:
                self._now_all = now
            return
        now_of = self._now_of
        for symbol in symbols:
            if now_of.get(symbol, -(2**62)) < now:
                now_of[symbol] = now

    def _collect_awake(self) -> None:
        """Index the rules not asleep, per symbol, and every rule's place in evaluation order."""
        order = self.rules()
        asleep = self._quiet.asleep
        self._position = {rule.row.id: i for i, rule in enumerate(order)}
        self._awake = set()
        self._awake_of = {}
        for rule in order:
            if rule.row.id not in asleep:
                self._awake.add(rule.row.id)
                self._awake_of.setdefault(_sleep_symbol(rule), set()).add(rule.row.id)
        self._due_rules = None

    def _settle_clocks(self, rule_ids: Iterable[str]) -> None:
        """Move the time quiet rules record in their state (Quiet.now_key) to their latest evaluation time.

        Each evaluation used to move every sleeping clock to its own time (1.5 us a tick of a year's replay,
        bench.replay); the clock is only read when the rule is evaluated again or its state is written, so
        it is set then, to the same value: the latest evaluation of the rule's symbol since it fell asleep.
        """
        clocked = self._quiet.clocked
        for rule_id in list(rule_ids):
            entry = clocked.pop(rule_id, None)
            rule = self._rules.get(rule_id)
            if entry is None or rule is None:
                continue
            if rule.detector.market_wide:
                clock = self._now_any
            else:
                clock = max(self._now_all, self._now_of.get(rule.row.symbol, -(2**62)))
            stored = self._detector_state[rule_id]
            if stored[1] < clock:
                stored[0][entry[1]] = clock
                if clock // MAX_UNSAVED_MS != stored[1] // MAX_UNSAVED_MS:
                    # Only the clock moved, which a restart redoes to the same state (the rule is quiet):
                    # written once per MAX_UNSAVED_MS, not at each flush of its symbol and each pass over
                    # every rule, which made a live minute at 500 symbols write 2,000 states that said
                    # nothing new and cost a third of the engine's time (issue 24, bench.live).
                    self._dirty.add(rule_id)
                self._detector_state[rule_id] = (stored[0], clock)
            if self._quiet.asleep.get(rule_id) == entry[0]:
                clocked[rule_id] = entry  # still asleep: its clock keeps moving

    def _sleep(self, row: RuleRow, symbol: str, quiet: Quiet, now: int) -> None:
        """Put a rule to sleep while evaluating it again would change nothing (``symbol``: _sleep_symbol)."""
        rule_id = row.id
        if self._quiet.sleep(rule_id, quiet, symbol, row.expires_at, now):
            awake = self._awake
            if awake is not None:
                awake.discard(rule_id)
                of_symbol = self._awake_of.get(symbol)
                if of_symbol is not None:
                    of_symbol.discard(rule_id)
            self._due_rules = None

    def _begin(self) -> None:
        """Open the evaluation's transaction at its first write: most evaluations write nothing."""
        if self._tx is None:
            self._tx = self.repo.transaction()
            self._tx.__enter__()

    def flush(self) -> None:
        """Write the detector state of every rule evaluated since the last flush."""
        period = self._now_all // MAX_UNSAVED_MS
        if self._quiet.clocked and period != self._clocks_period:
            # A sleeping rule's clock is settled when it is read (the rule wakes), and settled and written
            # here once per MAX_UNSAVED_MS, at the first pass over every rule in it. Settling the clocks of
            # the symbols just evaluated at every flush touched each one's rule state at each poll (most of
            # the engine's cache misses per poll at 500 symbols, bench.live --instructions, issue 24);
            # settling every clock at every flush made a live minute cost the square of the symbols.
            self._clocks_period = period
            self._settle_clocks(self._quiet.clocked)
        if not self._dirty:
            return
        rows: list[tuple[str, str, int]] = []
        # In key order: the timer's pass writes every clocked rule's state, and in the set's hash order
        # each write landed on another page of the table, none still in a cache at 500 symbols.
        for rule_id in sorted(self._dirty):
            stored = self._detector_state.get(rule_id)
            if stored is not None and rule_id in self._rules:
                rows.append((rule_id, self._state_json.encode(rule_id, stored[0]), stored[1]))
        # One statement for all, not one per rule: 200 symbols' 1m indicator rules write 1,000 a minute.
        with self.repo.transaction():
            self.repo.save_detector_states(rows)
        self._dirty.clear()

    def _apply(
        self,
        rule: ActiveRule,
        signals: list[Signal],
        now: int,
        recorded: list[RecordedEvent],
    ) -> bool:
        """Move the rule's alerts to the signals; return True when one of them is left pending."""
        row = rule.row
        alerts = self._alerts.setdefault(row.id, {})
        active: set[str] = set()
        pending = False
        for signal in signals:
            if signal.at < row.created_at and not self.report_before_creation:
                # Something that happened before the rule existed (history a fresh install backfills, or
                # data that arrived late) is not news to report; catch-up after downtime still reports
                # what happened while the bot was down, because the rule existed then.
                continue
            key = f"{row.id}:{signal.key}" if signal.key else row.id
            active.add(key)
            state = alerts.get(key)
            if state is None or state.status == "resolved":
                state = AlertStateRow(
                    dedupe_key=key,
                    rule_id=row.id,
                    status="pending",
                    since=now,
                    pending_count=0,
                    fired_at=state.fired_at if state else None,
                    last_seen=now,
                    last_event_id=state.last_event_id if state else None,
                    fire_count=state.fire_count if state else 0,
                    stateful=signal.stateful,
                )
                # Not saved here: a new alert is pending, and the pending branch below saves it.
            if state.status == "pending":
                state = replace(state, pending_count=state.pending_count + 1, last_seen=now)
                if self._ready(row, state, signal, now):
                    state = self._fire(row, state, signal, now, recorded)
                    if not row.repeat:
                        self._disable(row, "fired once (one-shot rule)", now)
                self._save_alert_state(state)
            alerts[key] = state
            # A pending alert is counted and may fire as time passes (pending period, cooldown).
            pending = pending or state.status == "pending"
        for key, state in list(alerts.items()):
            if key in active or state.status == "resolved":
                continue
            if state.status == "firing":
                self._resolve(rule, state, now, recorded)
            state = replace(state, status="resolved", since=now)
            self._save_alert_state(state)
            alerts[key] = state
        # Every alert not active now is resolved; the active ones are pending or firing.
        if active:
            self._open_alerts.add(row.id)
        else:
            self._open_alerts.discard(row.id)
        return pending

    def _save_alert_state(self, state: AlertStateRow) -> None:
        self._begin()
        self.repo.save_alert_state(state)

    def _ready(self, row: RuleRow, state: AlertStateRow, signal: Signal, now: int) -> bool:
        if now - state.since < row.pending_s * 1000 or state.pending_count < row.pending_evaluations:
            return False
        if state.fired_at is not None and now - state.fired_at < row.cooldown_s * 1000:
            return False
        if self._stale_kinds is not None and signal.sources:
            stale = self._stale_kinds(row.symbol)
            if stale.intersection(signal.sources):
                return False  # held back until the feed is fresh again; the watchdog reports the feed
        return True

    def _without(self, signal: Signal) -> list[str]:
        """Return the liquidation venues missing from a liquidation-based signal's totals."""
        if self._liquidation_gaps is None or "liquidations" not in signal.sources:
            return []
        return self._liquidation_gaps(signal.symbol)

    def _targets(self, row: RuleRow, severity: str) -> tuple[list[Target], int | None]:
        targets = self.router.targets(row, severity)
        silences = self._active_silences()
        kept: list[Target] = []
        silenced_by: int | None = None
        for target in targets:
            match = next((s for s in silences if silence_matches(s, row, severity, target.guild_id)), None)
            if match is None:
                kept.append(target)
            elif silenced_by is None:
                silenced_by = match.id
        if targets and not kept:
            return [], silenced_by
        return kept, None

    def _fire(
        self,
        row: RuleRow,
        state: AlertStateRow,
        signal: Signal,
        now: int,
        recorded: list[RecordedEvent],
    ) -> AlertStateRow:
        self._begin()
        late = now - signal.at > self.late_after_ms
        targets, silenced_by = self._targets(row, signal.severity)
        parent = self._inhibiting_event(row)
        parent_targets = self.repo.outbox_targets(parent) if parent is not None else set()
        folded = {(t.sink, t.address) for t in targets} & parent_targets
        values = dict(signal.values)
        event_id = self.repo.insert_event(
            dedupe_key=state.dedupe_key,
            rule_id=row.id,
            detector=row.detector,
            symbol=signal.symbol,
            guild_id=row.guild_id,
            state="firing",
            kind=signal.kind,
            severity=signal.severity,
            title=signal.title,
            values=values,
            rule=_rule_snapshot(row),
            at=signal.at,
            recorded_at=now,
            late=late,
            silenced_by=silenced_by,
            inhibited_by=parent if folded else None,
        )
        fired = replace(state, status="firing", fired_at=now, fire_count=state.fire_count + 1)
        if event_id is None:
            # Already recorded (a replay restarted on the same database): keep state, queue nothing.
            return fired
        payload = _payload(row, signal, event_id, "firing", signal.title, values, signal.at, late)
        without = self._without(signal)
        if without:
            payload["without"] = without
        for target in targets:
            is_folded = (target.sink, target.address) in folded
            self.repo.enqueue(
                event_id=event_id,
                sink=target.sink,
                target=target.address,
                kind="fold" if is_folded else "alert",
                payload={
                    **payload,
                    "guild_id": target.guild_id,
                    # A folded alert is a line in the parent's message: it mentions nobody itself.
                    "role_id": None if is_folded else target.role_id,
                    "parent_event_id": parent if is_folded else None,
                },
                now=now,
            )
        self.fired += 1
        if silenced_by is not None:
            self.silenced += 1
        elif not targets:
            self._tell_unrouted(row, event_id)
        recorded.append(
            RecordedEvent(
                event_id,
                row.id,
                state.dedupe_key,
                "firing",
                signal.title,
                signal.at,
                late,
                silenced_by is not None,
                len(targets),
            )
        )
        return replace(fired, last_event_id=event_id)

    def _resolve(
        self,
        rule: ActiveRule,
        state: AlertStateRow,
        now: int,
        recorded: list[RecordedEvent],
    ) -> None:
        self._begin()
        row = rule.row
        fired = self.repo.event(state.last_event_id) if state.last_event_id is not None else None
        if fired is None:
            return
        duration_s = max(0, (now - (state.fired_at or now)) // 1000)
        values = {**fired.values, "duration_s": duration_s, "fired_event_id": fired.id}
        title = f"Ended: {fired.title}"
        # A rule may ask for no resolve notice at all; the event is still recorded for history.
        announced = state.stateful and row.resolve_notice != "none"
        targets, silenced_by = self._targets(row, fired.severity) if announced else ([], None)
        # Only where the alert itself was shown: the end of a silenced alert is news to nobody.
        shown = self.repo.outbox_targets(fired.id) if targets or not announced else set()
        if not announced and any(sink == WEBHOOK_SINK for sink, _ in shown):
            # A webhook receiver is told every end (Alertmanager's "resolved"): how Discord shows an end
            # is the rule's resolve_notice, which is Discord's business only.
            targets = [t for t in self._targets(row, fired.severity)[0] if t.sink == WEBHOOK_SINK]
        targets = [t for t in targets if (t.sink, t.address) in shown]
        event_id = self.repo.insert_event(
            dedupe_key=state.dedupe_key,
            rule_id=row.id,
            detector=row.detector,
            symbol=fired.symbol,
            guild_id=row.guild_id,
            state="resolved",
            kind=fired.kind,
            severity=fired.severity,
            title=title,
            values=values,
            rule=_rule_snapshot(row),
            at=now,
            recorded_at=now,
            silenced_by=silenced_by,
        )
        if event_id is None:
            return
        payload = {
            "event_id": event_id,
            "fired_event_id": fired.id,
            "state": "resolved",
            "rule_id": row.id,
            "detector": row.detector,
            "symbol": fired.symbol,
            "kind": fired.kind,
            "severity": fired.severity,
            "title": title,
            "values": values,
            "at": now,
            "late": False,
            "direction": fired.values.get("direction", "neutral"),
            "note": row.note,
            "stateful": True,
            # "edit": the sink edits the alert's message; "message": it also posts a notice.
            "resolve_notice": row.resolve_notice,
        }
        for target in targets:
            self.repo.enqueue(
                event_id=event_id,
                sink=target.sink,
                target=target.address,
                kind="resolve",
                payload={**payload, "guild_id": target.guild_id, "role_id": None},
                now=now,
            )
        self.resolved += 1
        if targets:
            self.ends_announced += 1
        recorded.append(
            RecordedEvent(
                event_id,
                row.id,
                state.dedupe_key,
                "resolved",
                title,
                now,
                False,
                silenced_by is not None,
                len(targets),
            )
        )

    def _tell_unrouted(self, row: RuleRow, event_id: int) -> None:
        """Log, once per rule, that its alert was recorded with nowhere to deliver it."""
        if not self.warn_unrouted or row.id in self._unrouted_told:
            return
        self._unrouted_told.add(row.id)
        log.warning(
            "rule %s fired (alert #%d) but has no destination: it is recorded, not posted. /status says why; "
            "add [[routes]] for it or run /setup alert_channel",
            row.id,
            event_id,
        )

    def _inhibiting_event(self, row: RuleRow) -> int | None:
        """Return the event id of a firing inhibitor alert for the rule's symbol, if the rule is lesser."""
        policy = self.inhibition
        if policy is None or row.detector not in policy.inhibited:
            return None
        best: tuple[int, int] | None = None
        for other in self._rules.values():
            if other.row.symbol != row.symbol or other.row.detector not in policy.inhibitors:
                continue
            for state in self._alerts.get(other.id, {}).values():
                if state.status == "firing" and state.last_event_id is not None:
                    candidate = (state.fired_at or 0, state.last_event_id)
                    best = candidate if best is None or candidate > best else best
        return best[1] if best else None

    def _disable(self, row: RuleRow, reason: str, now: int) -> None:
        self._begin()
        self.repo.set_rule_enabled(row.id, False, reason, now)
        self._retire(row.id)
        log.info("rule %s disabled: %s", row.id, reason)

    def _retire(self, rule_id: str) -> None:
        """Stop evaluating a rule the database now says is disabled."""
        self._settle_clocks([rule_id])
        self._rules.pop(rule_id, None)
        self.history.release(rule_id)
        self._external.pop(rule_id, None)
        self._dirty.discard(rule_id)
        self._state_json.forget(rule_id)
        self._saves.forget(rule_id)
        self._order = None
        self._quiet.forget(rule_id)
        self._awake = None
        self._due_rules = None


def make_engine(
    config: EngineConfig,
    repo: Repo,
    history: MarketHistory,
    router: Router,
    *,
    stale_kinds: Callable[[str], set[str]] | None = None,
    report_before_creation: bool = False,
    retention: RetentionConfig | None = None,
    ops_channel_id: int | None = None,
    warn_unrouted: bool = False,
    liquidation_gaps: Callable[[str], list[str]] | None = None,
) -> Engine:
    """Build an Engine from the ``[engine]`` config section (``report_before_creation`` for replays).

    ``retention`` (``[storage.retention]``) and ``ops_channel_id`` (``[discord]``) are for quarantined rules.
    """
    inhibition = None
    if config.inhibit_lesser_alerts:
        inhibition = Inhibition(frozenset(config.inhibitors), frozenset(config.inhibited))
    return Engine(
        repo,
        history,
        router,
        late_after_ms=int(config.late_after_seconds * 1000),
        stale_kinds=stale_kinds,
        inhibition=inhibition,
        report_before_creation=report_before_creation,
        retention=retention,
        ops_channel_id=ops_channel_id,
        warn_unrouted=warn_unrouted,
        liquidation_gaps=liquidation_gaps,
    )


def _sleep_symbol(rule: ActiveRule) -> str:
    """Return the symbol a rule is filed under while it sleeps: its own, or MARKET_SYMBOL if market-wide."""
    return MARKET_SYMBOL if rule.detector.market_wide else rule.row.symbol


def _rule_snapshot(row: RuleRow) -> dict[str, Any]:
    """Return the rule as it was when the alert fired (for /why and history)."""
    return {
        "id": row.id,
        "detector": row.detector,
        "symbol": row.symbol,
        "settings": row.settings,
        "origin": row.origin,
        "repeat": row.repeat,
        "cooldown_s": row.cooldown_s,
        "pending_s": row.pending_s,
        "pending_evaluations": row.pending_evaluations,
        # Whose personal alert this was: /privacy deletes its history, digests leave it out.
        "owner_id": row.owner_id,
        "deliver": row.deliver,
    }


def _payload(
    row: RuleRow,
    signal: Signal,
    event_id: int,
    state: str,
    title: str,
    values: Mapping[str, Any],
    at: int,
    late: bool,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "state": state,
        "rule_id": row.id,
        "detector": row.detector,
        "symbol": signal.symbol,
        "kind": signal.kind,
        "severity": signal.severity,
        "title": title,
        "values": dict(values),
        "at": at,
        "late": late,
        "direction": signal.direction,
        "note": row.note,
        "stateful": signal.stateful,
    }
