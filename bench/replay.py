"""Replay speed: a year of SYNTHETIC one-minute candles for 2 symbols through the whole pipeline.

The data is made up (``bench.synthetic``: a seeded random walk with liquidations, funding, open interest
and Fear & Greed, every row labelled ``synthetic``). It is replayed by ``bot.replay.pipeline.run_replay``,
the code
path of ``tripwire replay``: each row is handed to the real Ingest (SQLite file in WAL mode + in-memory
history) at the time it becomes known, and the engine evaluates every rule of ``config.example.toml`` (every
detector) at each of those times, queueing alerts in the outbox that a counting sink drains.

The baseline recomputes each rule from its full window at every candle instead of keeping rolling state: for
each candle close and each rule, a fresh detector with an empty state learns at the start of the rule's window
and is then evaluated at the close, so the same detector code walks every candle (or liquidation minute,
funding or open-interest point) of the window again. It would take hours over a year, so it is measured on a
slice of candle closes after a warm-up and extrapolated per candle; the output says so.

    python -m bench.replay [--smoke] [--days N] [--runs N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from bench.common import Figure, machine, parser, report, timer
from bench.synthetic import synthetic_market
from bot.alerts.routing import AlertRouter
from bot.alerts.rules import instantiate, rule_row_from_spec
from bot.config import Config, load_config
from bot.notify.outbox import Delivered, Outcome
from bot.replay.pipeline import ReplaySummary, run_replay
from detectors.base import MARKET_SYMBOL
from detectors.market_history import MarketHistory
from feeds.ingest import Ingest
from feeds.replay import Batch, RecordedData
from storage.db import open_database
from storage.repo import OutboxRow, Repo
from storage.rows import DAY_MS, HOUR_MS, MINUTE_MS


class CountingSink:
    """Accept every alert and count them per rule (the console sink's place, without the printing)."""

    name = "console"

    def __init__(self) -> None:
        self.by_rule: Counter[str] = Counter()

    async def deliver(self, rows: Sequence[OutboxRow]) -> list[Outcome]:
        """Count each row and report it delivered."""
        for row in rows:
            self.by_rule[str(row.payload["rule_id"])] += 1
        return [Delivered(row.id) for row in rows]


def default_config() -> Config:
    """Return the configuration with the default rules (config.example.toml, as bundled)."""
    with resources.as_file(resources.files("bot.scenario") / "config.example.toml") as path:
        return load_config(Path(path))


def replay_once(config: Config, data: RecordedData) -> tuple[float, ReplaySummary, Counter[str]]:
    """Replay ``data`` into a fresh database file; return wall seconds, the summary and alerts per rule."""
    sink = CountingSink()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "replay.db"))
        with timer() as elapsed:
            summary = asyncio.run(
                run_replay(
                    config,
                    data,
                    repo,
                    [sink],
                    lambda r: AlertRouter(r, config.routes, console=True, discord=False),
                )
            )
        seconds = elapsed()
        repo.close()
    return seconds, summary, sink.by_rule


def storage_floor(data: RecordedData) -> float:
    """Return the seconds to write every row of ``data`` in one executemany per kind, in one transaction.

    The same rows into the same schema (triggers and indexes included) with nothing else around them: what
    storing the replay's rows costs at the very least, whatever the pipeline does.
    """
    batches = [batch for _, batch in data.timeline()]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "floor.db"))
        with timer() as elapsed, repo.transaction():
            repo.upsert_candles([row for b in batches for row in b.candles])
            repo.upsert_liquidation_buckets([row for b in batches for row in b.liquidation_buckets])
            repo.insert_liquidations([row for b in batches for row in b.liquidations])
            repo.upsert_funding([row for b in batches for row in b.funding])
            repo.upsert_open_interest([row for b in batches for row in b.open_interest])
            repo.upsert_fear_greed([row for b in batches for row in b.fear_greed])
        seconds = elapsed()
        repo.close()
    return seconds


def rule_window_ms(settings: object, detector: str) -> int:
    """Return how far back a rule's decision reaches: what a stateless recompute must walk again."""
    hours = getattr(settings, "window_hours", None)
    if detector == "range_breakout":
        return int(getattr(settings, "days", 30)) * DAY_MS
    if detector in ("pct_move", "correlated_move", "open_interest") and hours is not None:
        return int(hours * HOUR_MS)
    if detector in ("volume_spike", "squeeze"):
        length = {"5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}[getattr(settings, "interval", "1h")]
        return (int(getattr(settings, "window", 24)) + 1) * length * MINUTE_MS
    if detector == "liquidation_cascade":
        return int(getattr(settings, "baseline_hours", 24)) * HOUR_MS
    if detector == "fear_greed":
        return int(getattr(settings, "lookback_days", 3650)) * DAY_MS
    if detector == "funding":
        return 12 * 8 * HOUR_MS  # the twelve settlements it learns from
    # level_cross / round_levels: the arm state depends on every close since the last re-arm; one day of
    # candles is what the stateless version re-reads (less than the two days the history keeps).
    return DAY_MS


def naive_per_candle(config: Config, data: RecordedData, warmup_days: float, slice_candles: int) -> float:
    """Return seconds per candle of the stateless baseline, measured on ``slice_candles`` candle closes."""
    timeline = data.timeline()
    start = timeline[0][0]
    warm_end = start + int(warmup_days * DAY_MS)
    history = MarketHistory()
    repo = Repo(open_database(":memory:"))
    ingest = Ingest(repo, history)
    rules = [rule_row_from_spec(spec, config, start) for spec in config.rule_specs()]
    detectors = [(row, rule_window_ms(instantiate(row).settings, row.detector)) for row in rules]
    measured = candles = 0
    seconds = 0.0
    with repo.transaction():
        for tick, batch in timeline:
            _ingest(ingest, batch)
            if tick < warm_end or not batch.candles:
                continue
            with timer() as elapsed:
                for row, window in detectors:
                    detector = instantiate(row)  # a fresh detector: no rolling state, no cached signals
                    symbol = MARKET_SYMBOL if detector.market_wide else row.symbol
                    state: dict[str, object] = {}
                    detector.evaluate(history.view(symbol, tick - window), state)
                    detector.evaluate(history.view(symbol, tick), state)
            seconds += elapsed()
            candles += len(batch.candles)
            measured += 1
            if measured >= slice_candles:
                break
    repo.close()
    return seconds / max(candles, 1)


def _ingest(ingest: Ingest, batch: Batch) -> None:
    ingest.candles(batch.candles)
    ingest.liquidations(batch.liquidations)
    ingest.funding(batch.funding)
    ingest.open_interest(batch.open_interest)
    ingest.fear_greed(batch.fear_greed)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--days", type=float, default=365.0, help="days of synthetic data (default 365)")
    args_parser.add_argument("--runs", type=int, default=1, help="replays to take the median of")
    args = args_parser.parse_args(argv)
    days = 2.0 if args.smoke else args.days
    runs = 1 if args.smoke else args.runs
    config = default_config()
    with timer() as gen_time:
        data = synthetic_market(int(days * 1440))
    candle_count = sum(len(b.candles) for b in data.batches.values())
    liquidation_count = sum(len(b.liquidations) for b in data.batches.values())
    floor = statistics.median(storage_floor(data) for _ in range(runs))
    results = [replay_once(config, data) for _ in range(runs)]
    seconds = statistics.median(r[0] for r in results)
    summary, by_rule = results[0][1], results[0][2]
    # Baseline: a slice of candle closes once the rules' windows (30 days for the range rule) are filled.
    warmup = min(31.0, days / 2)
    naive = naive_per_candle(config, data, warmup, 3 if args.smoke else 60)
    ours = seconds / max(candle_count, 1)
    silent = sorted({r.common.id for r in config.rule_specs()} - set(by_rule))
    figures = [
        Figure(
            f"replay {days:g} days x 2 symbols (synthetic)",
            seconds,
            "s",
            10.0 * days / 365,
            note=f"median of {runs}; {candle_count:,} candles, {summary.ticks:,} ticks",
        ),
        Figure("  per candle", ours * 1e6, "us"),
        Figure(
            "  storage floor: the rows alone into SQLite",
            floor,
            "s",
            note=f"one executemany per table, same schema; replay is {seconds / floor:.1f}x it",
        ),
        Figure(
            "  stateless-recompute baseline / replay",
            naive / ours,
            "x",
            50.0,
            better="higher",
            note=f"baseline {naive * 1e6:,.0f} us/candle on a slice, extrapolated: "
            f"{naive * candle_count / 3600:,.1f} h for the whole replay",
        ),
        Figure("  alerts delivered", summary.delivered, "alerts", note=f"{len(by_rule)} rules fired"),
    ]
    print(f"machine: {machine()}")
    print(
        f"data: SYNTHETIC seeded random walk, {candle_count:,} 1m candles, "
        f"{liquidation_count:,} liquidations, generated in {gen_time():.1f} s"
    )
    print("alerts per rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
    if silent:
        print(f"rules that never fired on this data: {', '.join(silent)}")
    ok = report("replay", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
