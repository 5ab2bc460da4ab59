"""Backtest one rule over stored history: how often would it have fired, and when?

Nothing here evaluates a rule itself. The stored rows of the rule's symbol (and of the peers it compares
with) are turned back into a replay timeline (``recorded_from_repo``: each row at the time a live feed would
have known it) and played by ``run_replay`` into a fresh in-memory database that holds only this rule: the
same Ingest, history, detector and engine code as the live bot, with its cooldown, pending period and
one-shot behaviour, under a simulated clock. What the engine recorded there is the answer.

The source database is only read (a few range queries before the replay starts); all the work happens on
the private in-memory copy, so a backtest can run in a worker thread beside the live bot. Limits on the
window and the number of candles replayed (``[backtest]`` in the config file) keep one asked for from
Discord cheap; exceeding them is a ``UserError``. Which candles are replayed, and how they are held, is
``bot.replay.candles``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.alerts.model import Target
from bot.alerts.rules import instantiate, rule_row_from_spec
from bot.charts.data import chart_spec_from_repo, stored_span, utc_text
from bot.charts.spec import Theme
from bot.config import BacktestConfig, Config, ConfigError, RuleSpec, parse_rule
from bot.errors import UserError
from bot.notify.outbox import Delivered, Outcome
from bot.replay.candles import candle_plan, count_candles, stored_timeline
from bot.replay.pipeline import run_replay
from detectors.base import DetectorSettings
from detectors.registry import detector_classes
from storage.db import open_database
from storage.repo import AlertEventRow, OutboxRow, Repo, RuleRow
from storage.rows import DAY_MS, interval_ms

log = logging.getLogger(__name__)

# Id given to a rule described only by its options (`/alert test` before the rule has a name).
UNNAMED_RULE_ID = "backtest"
# How a chart labels the level and alerts of a rule not created yet.
NEW_RULE_LABEL = "new alert"

RuleInput = RuleRow | RuleSpec | Mapping[str, Any] | str


@dataclass(frozen=True, slots=True)
class BacktestLimits:
    """Bounds on one backtest, so one asked for from Discord stays a matter of seconds.

    The defaults are those of the config file's ``[backtest]`` section (``from_config`` reads it).
    """

    max_days: float = 90.0
    # Replayed candles in the window: 90 days of 1m candles of one symbol (129,600) with room to spare,
    # about 2.4 s of replay with its chart on one core (bench.charts).
    max_candles: int = 150_000
    default_days: float = 30.0
    # History ingested before the window, without evaluating, so rolling detectors start warm.
    warmup_days: float = 7.0

    @classmethod
    def from_config(cls, section: BacktestConfig) -> BacktestLimits:
        """Return the limits a config file's ``[backtest]`` section sets."""
        return cls(section.max_days, section.max_candles, section.default_days, section.warmup_days)


def warm_up_span(settings: DetectorSettings) -> int:
    """Return how far before the window (ms) a rule's indicators need history: their warm-up, one more candle.

    A 1d RSI(14) needs 16 closed days: ingested before the window, it can fire from the window's first day
    on, as the live rule (whose feed backfilled them) would.
    """
    try:
        needed = settings.history_needed()
    except Exception:  # a plugin's bug: the default pre-roll, the backtest reports what the rule did
        log.exception("history_needed of %s failed", type(settings).__name__)
        return 0
    return max(((count + 1) * interval_ms(interval) for interval, count in needed.items()), default=0)


@dataclass(frozen=True, slots=True)
class BacktestAlert:
    """One alert event the rule would have produced."""

    event_id: int
    # ``at`` is the market time of the condition (a crossing: the close that crossed); ``recorded_at``
    # when the engine would have posted it, later when the rule's cooldown held it back.
    at: int
    recorded_at: int
    state: str
    kind: str
    severity: str
    title: str
    values: Mapping[str, Any]
    late: bool
    # Whether it would have been posted (a firing always; the end of a state-like alert, such as a
    # cascade, too; the end of a level crossing is recorded but not announced).
    announced: bool


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """What one rule would have done over the span covered."""

    rule: RuleRow
    start: int
    end: int
    candles: int
    evaluations: int
    alerts: tuple[BacktestAlert, ...]
    chart_png: bytes | None
    seconds: float

    @property
    def fired(self) -> tuple[BacktestAlert, ...]:
        """Return the firings, oldest first."""
        return tuple(a for a in self.alerts if a.state == "firing")

    @property
    def resolved(self) -> tuple[BacktestAlert, ...]:
        """Return the resolutions, oldest first."""
        return tuple(a for a in self.alerts if a.state == "resolved")

    @property
    def fire_count(self) -> int:
        """Return how many times the rule would have fired."""
        return len(self.fired)

    def firings(self) -> list[tuple[int, str, Mapping[str, Any]]]:
        """Return (at, title, values) of each firing."""
        return [(a.at, a.title, a.values) for a in self.fired]


class _EverythingHere:
    """Route every alert of the backtest to the collecting sink."""

    def targets(self, rule: RuleRow, severity: str) -> list[Target]:
        """Return the one collecting target."""
        return [Target(_Collector.name, "backtest")]


class _Collector:
    """A sink that only notes which events would have been posted."""

    name = "collector"

    def __init__(self) -> None:
        self.event_ids: set[int] = set()

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Note each row's event and report it delivered."""
        for row in rows:
            if row.event_id is not None:
                self.event_ids.add(row.event_id)
        return [Delivered(row.id) for row in rows]


def _defaults() -> Config:
    # A Config needs one watched symbol to be valid; only its engine defaults are used here.
    return Config(symbols=["BTCUSDT"])


def _problems(exc: ConfigError) -> str:
    return "; ".join(str(p) for p in exc.problems)


def resolve_rule(repo: Repo, rule: RuleInput, config: Config | None = None) -> RuleRow:
    """Turn a rule id (looked up in ``repo``), a rule table, a RuleSpec or a RuleRow into a RuleRow.

    A table is validated by its detector's Settings (``UserError`` listing the problems); it needs no
    id. The default cooldown of a table or spec without one comes from ``config``.
    """
    config = config or _defaults()
    if isinstance(rule, RuleRow):
        return rule
    if isinstance(rule, str):
        found = repo.rule(rule)
        if found is None:
            raise UserError(f"no rule with id {rule!r}")
        return found
    if not isinstance(rule, RuleSpec):
        try:
            rule = parse_rule({"id": UNNAMED_RULE_ID, **rule})
        except ConfigError as exc:
            raise UserError(f"that rule is not valid: {_problems(exc)}") from None
    return rule_row_from_spec(rule, config, 0)


def _window(
    repo: Repo,
    row: RuleRow,
    market_wide: bool,
    start: int | None,
    end: int | None,
    days: float | None,
    limits: BacktestLimits,
) -> tuple[int, int]:
    """Return the window to evaluate, bounded by what is stored and by the limits."""
    if days is not None and not 0 < days <= limits.max_days:
        raise UserError(f"days must be more than 0 and at most {limits.max_days:g} ({days:g} was asked)")
    if market_wide:
        values = repo.fear_greed()
        if not values:
            raise UserError("no Fear & Greed values are stored to backtest this rule on")
        first, last = values[0].ts, values[-1].ts + DAY_MS
    else:
        first, last = stored_span(repo, row.symbol)
    stop = min(end, last) if end is not None else last
    begin = start if start is not None else stop - int((days or limits.default_days) * DAY_MS)
    if end is not None and start is not None and end <= start:
        raise UserError(f"the window ends ({utc_text(end)}) before it starts ({utc_text(start)})")
    begin = max(begin, first)
    if stop <= begin:
        raise UserError(
            f"nothing of {row.symbol} is stored in that window "
            f"(stored: {utc_text(first)} to {utc_text(last)} UTC)"
        )
    if stop - begin > limits.max_days * DAY_MS:
        raise UserError(
            f"a backtest covers at most {limits.max_days:g} days; that window is "
            f"{(stop - begin) / DAY_MS:.1f} days (narrow it with a start and end)"
        )
    return begin, stop


async def run_backtest(
    repo: Repo,
    rule: RuleInput,
    *,
    start: int | None = None,
    end: int | None = None,
    days: float | None = None,
    config: Config | None = None,
    limits: BacktestLimits | None = None,
    chart: bool = True,
    theme: Theme = "dark",
) -> BacktestResult:
    """Replay the stored history of the rule's symbol through this one rule and return what it did.

    The window is [start, end] in UTC ms; without ``start`` it is the last ``days`` (default
    ``limits.default_days``) before ``end``, and without ``end`` it ends at the newest stored candle.
    The rule runs enabled, whatever its stored state, with no expiry: testing a paused rule is the point.
    """
    began = time.monotonic()
    limits = limits or BacktestLimits()
    row = resolve_rule(repo, rule, config)
    cls = detector_classes().get(row.detector)
    if cls is None:
        raise UserError(f"rule {row.id} uses the detector {row.detector!r}, which is not installed")
    begin, stop = _window(repo, row, cls.market_wide, start, end, days, limits)
    # The rule's symbol and any it compares with (correlated_move reads its peers' candles too).
    detector = instantiate(row)
    peers = detector.peer_symbols()
    symbols = [] if cls.market_wide else list(dict.fromkeys([row.symbol, *peers]))
    warmup = max(int(limits.warmup_days * DAY_MS), warm_up_span(detector.settings))
    plan = [span for s in symbols for span in candle_plan(repo, s, begin - warmup, stop)]
    # Counted as replayed (one interval at a time, one candle per open time), not as stored: a live bot's
    # window also holds the 1h candles its pruned minutes were folded into, and maybe a second source.
    candles = count_candles(repo, plan, begin, stop)
    if candles > limits.max_candles:
        raise UserError(
            f"{candles:,} candles of {', '.join(symbols)} are stored in that window; a backtest is limited "
            f"to {limits.max_candles:,} (shorten the window)"
        )
    # A detector that reads Fear & Greed gets every stored value ("highest since October" needs the long
    # past; it is a few thousand rows); for the others, replaying eight years of daily ticks is waste.
    since = 0 if "fear_greed" in cls.uses else begin - warmup
    data = stored_timeline(repo, plan, symbols, begin - warmup, stop, since)

    # The engine settings (late threshold) of the caller's config, none of its rules: the sandbox holds
    # only the rule under test.
    replay_config = (config or _defaults()).model_copy(update={"rules": [], "routes": []})
    db = open_database(":memory:")
    sandbox = Repo(db)
    try:
        # Stored as a non-config rule so run_replay's sync of the (empty) config rule list keeps it.
        sandbox.save_rule(
            replace(row, origin="discord", enabled=True, expires_at=None, status_reason=None, guild_id=None)
        )
        collector = _Collector()
        summary = await run_replay(
            replay_config, data, sandbox, [collector], lambda _: _EverythingHere(), start=begin, end=stop
        )
        events = sandbox.events(rule_id=row.id, limit=1_000_000, newest_first=False)
        alerts = tuple(_alert(e, e.id in collector.event_ids) for e in events)
        covered = data.span(begin, stop) or (begin, stop)
        png = _chart(sandbox, row, events, covered, theme) if chart and not cls.market_wide else None
    finally:
        db.conn.close()
    return BacktestResult(
        rule=row,
        start=covered[0],
        end=covered[1],
        candles=candles,
        evaluations=summary.evaluated_ticks,
        alerts=alerts,
        chart_png=png,
        seconds=time.monotonic() - began,
    )


def backtest(
    repo: Repo,
    rule: RuleInput,
    *,
    start: int | None = None,
    end: int | None = None,
    days: float | None = None,
    config: Config | None = None,
    limits: BacktestLimits | None = None,
    chart: bool = True,
    theme: Theme = "dark",
) -> BacktestResult:
    """Run ``run_backtest`` to completion (for the CLI, or ``asyncio.to_thread`` from the bot)."""
    return asyncio.run(
        run_backtest(
            repo,
            rule,
            start=start,
            end=end,
            days=days,
            config=config,
            limits=limits,
            chart=chart,
            theme=theme,
        )
    )


def _alert(event: AlertEventRow, announced: bool) -> BacktestAlert:
    return BacktestAlert(
        event_id=event.id,
        at=event.at,
        recorded_at=event.recorded_at,
        state=event.state,
        kind=event.kind,
        severity=event.severity,
        title=event.title,
        values=event.values,
        late=event.late,
        announced=announced,
    )


def _backtest_subject(row: RuleRow) -> str:
    """Name the rule tested: its id, or for a rule not created yet (``/alert test``) its detector."""
    if row.id == NEW_RULE_LABEL:
        return f"Backtest: a new {row.detector} alert on {row.symbol}"
    return f"Backtest: {row.id}"


def _chart(
    sandbox: Repo, row: RuleRow, events: list[AlertEventRow], covered: tuple[int, int], theme: Theme
) -> bytes | None:
    fired = [e for e in events if e.state == "firing"]
    times = "time" if len(fired) == 1 else "times"
    if row.id == UNNAMED_RULE_ID:
        # The rule has no id yet: its level and markers are labelled as what it is, not as "backtest".
        row = dataclasses.replace(row, id=NEW_RULE_LABEL)
        fired = [dataclasses.replace(e, rule_id=NEW_RULE_LABEL) for e in fired]
    try:
        spec = chart_spec_from_repo(
            sandbox,
            row.symbol,
            None,
            covered[0],
            covered[1],
            [row],
            fired,
            theme=theme,
            title=f"{_backtest_subject(row)} would have fired {len(fired)} {times}",
            width_px=1000,
            height_px=560,
        )
    except UserError as exc:
        # The alerts are the answer; a chart that cannot be drawn (no candles in the window) is not fatal.
        log.info("no chart for the backtest of %s: %s", row.id, exc)
        return None
    from bot.charts.draw import render_chart  # matplotlib loads with the first chart, not at start-up

    return render_chart(spec)
