"""Replay speed: a year of SYNTHETIC one-minute candles for 2 symbols through the whole pipeline.

The data is made up (``bench.synthetic``: a seeded random walk with liquidations, funding, open interest
and Fear & Greed, every row labelled ``synthetic``). It is replayed by ``bot.replay.pipeline.run_replay``,
the code
path of ``tripwire replay``: each row is handed to the real Ingest (SQLite file in WAL mode + in-memory
history) at the time it becomes known, and the engine evaluates every rule of ``config.example.toml`` (every
detector) at each of those times, queueing alerts in the outbox that a counting sink drains.

Two figures frame it, both measured in the same run:

* the storage floor: the same rows written into the same schema with one executemany per table in one
  transaction, nothing else around them. The replay cannot cost less than storing its rows; the target is
  at most 1.6 times that floor;
* the peers' way (``bench.peer_baseline``): a vectorised recompute per candle, numpy and TA-Lib over each
  rule's window, as a pandas or TA-Lib bot does, with the history already in memory as arrays. The target is
  ten times faster than it. It is timed on a slice of candle closes after a month's warm-up (the range
  rule's window) and extrapolated per candle; the output says so.

The old baseline is kept and labelled as what it is: a pure-Python stateless recompute (Tripwire's own
detectors, built afresh at every candle and re-walking their windows), which flatters the replay.

Wall seconds on a shared machine move with the load, so CPU seconds of the replay and of the floor are
printed too. The alerts of the replay are summarised in one digest (every alert event's rule, state,
times, title and values, in order); on the year (and on 60 days, a quicker check) it must equal the
digest the per-instant replay recorded (``ALERTS_DIGESTS``), so a faster replay shows it records the same
alerts.

    python -m bench.replay [--smoke] [--days N] [--runs N]
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import Figure, default_config, machine, parser, report, timer
from bench.peer_baseline import market_arrays, recompute_for, time_per_candle
from bench.synthetic import synthetic_market
from bot.alerts.routing import AlertRouter
from bot.alerts.rules import instantiate, rule_row_from_spec
from bot.config import Config
from bot.notify.outbox import Delivered, Outcome
from bot.replay.pipeline import ReplaySummary, run_replay
from detectors.base import MARKET_SYMBOL, DetectorSettings
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


# The digest of the alert events of the 365-day synthetic replay (``alerts_digest``) as the per-instant replay
# records them (main at 244bf91, 28 example rules; the detector changes merged since c38dba0 had moved it from
# b8e85932c50706d532e837765f033fff): a faster replay must record the same alerts byte for byte. A change to
# the example rules or a detector changes it on purpose: record the new one with the change.
# 60a439b2 since the indicators moved from talipp to TA-Lib's streams (the ind-perf merge, aa3258b; it was
# 11e97ced80e922a5ceb8dae7b19fe5de): the same 6,206 events at the same times with the same titles; one golden
# cross and its end store SMA(50) as 64909.0695109 instead of 64909.06951089 (1.5e-13 apart, TA-Lib's running
# sum against talipp's), checked by dumping both commits' events and comparing them field by field.
YEAR_ALERTS_DIGEST = "60a439b2e0027a547143467201e24b52"
# The same for shorter spans (``--days``), for a quicker check while working on the replay: recorded by the
# per-instant replay before ReplayFeed (main at 244bf91).
ALERTS_DIGESTS = {365.0: YEAR_ALERTS_DIGEST, 60.0: "8d1d548ab190782e856fcbeb6d82c5c2"}


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """One replay's wall and CPU seconds, its summary, its alerts per rule and the digest of its alerts."""

    seconds: float
    cpu_seconds: float
    summary: ReplaySummary
    by_rule: Counter[str]
    digest: str


def alerts_digest(repo: Repo) -> str:
    """Return the md5 of every alert event recorded (rule, state, times, title, values), in order."""
    md5 = hashlib.md5(usedforsecurity=False)
    rows = repo.conn.execute(
        "SELECT rule_id, dedupe_key, state, kind, severity, title, values_json, at, recorded_at, late "
        "FROM alert_events ORDER BY id"
    )
    for row in rows:
        md5.update(repr(tuple(row)).encode())
    return md5.hexdigest()


def replay_once(config: Config, data: RecordedData) -> ReplayRun:
    """Replay ``data`` into a fresh database file and return what it took and what it recorded."""
    sink = CountingSink()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "replay.db"))
        cpu_began = time.process_time()
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
        cpu_seconds = time.process_time() - cpu_began
        digest = alerts_digest(repo)
        repo.close()
    return ReplayRun(seconds, cpu_seconds, summary, sink.by_rule, digest)


def storage_floor(data: RecordedData) -> tuple[float, float]:
    """Return the wall and CPU seconds to write every row of ``data`` in one executemany per kind, at once.

    The same rows into the same schema (triggers and indexes included) with nothing else around them: what
    storing the replay's rows costs at the very least, whatever the pipeline does.
    """
    batches = [batch for _, batch in data.timeline()]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "floor.db"))
        cpu_began = time.process_time()
        with timer() as elapsed, repo.transaction():
            repo.upsert_candles([row for b in batches for row in b.candles])
            repo.upsert_liquidation_buckets([row for b in batches for row in b.liquidation_buckets])
            repo.insert_liquidations([row for b in batches for row in b.liquidations])
            repo.upsert_funding([row for b in batches for row in b.funding])
            repo.upsert_open_interest([row for b in batches for row in b.open_interest])
            repo.upsert_fear_greed([row for b in batches for row in b.fear_greed])
        seconds = elapsed()
        cpu_seconds = time.process_time() - cpu_began
        repo.close()
    return seconds, cpu_seconds


INDICATOR_DETECTORS = frozenset({"rsi", "ma_cross", "macd", "bollinger", "stoch_rsi", "combo"})


def rule_window_ms(settings: DetectorSettings, detector: str) -> int:
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
    if detector in INDICATOR_DETECTORS:
        # Its warm-up on its interval, and the candle before it.
        return int(settings.lookback_ms().get("candles", DAY_MS))
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


def vectorised_per_candle(
    config: Config, data: RecordedData, warmup_days: float, slice_candles: int
) -> tuple[float, float, float]:
    """Return wall and CPU seconds per candle of the peers' way (``bench.peer_baseline``) on a slice.

    The slice starts after the warm-up. Also return the sum of the rules' results (printed, so the work
    is used).
    """
    market = market_arrays(data)
    start = data.timeline()[0][0]
    rules = []
    for spec in config.rule_specs():
        row = rule_row_from_spec(spec, config, start)
        settings = instantiate(row).settings
        rules.append(
            recompute_for(row.detector, settings, row.symbol, rule_window_ms(settings, row.detector))
        )
    first = int(warmup_days * 1440)
    cpu_began = time.process_time()
    seconds, checksum = time_per_candle(market, rules, first, slice_candles, time.perf_counter)
    cpu_seconds = time.process_time() - cpu_began
    candles = min(slice_candles, len(next(iter(market.symbols.values())).t) - first) * len(market.symbols)
    return seconds, cpu_seconds / max(candles, 1), checksum


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--days", type=float, default=365.0, help="days of synthetic data (default 365)")
    args_parser.add_argument("--runs", type=int, default=1, help="replays to take the median of")
    args_parser.add_argument(
        "--no-old-baseline", action="store_true", help="skip the pure-Python stateless recompute"
    )
    args = args_parser.parse_args(argv)
    days = 2.0 if args.smoke else args.days
    runs = 1 if args.smoke else args.runs
    config = default_config()
    with timer() as gen_time:
        data = synthetic_market(int(days * 1440))
    candle_count = sum(len(b.candles) for b in data.batches.values())
    liquidation_count = sum(len(b.liquidations) for b in data.batches.values())
    floors = [storage_floor(data) for _ in range(runs)]
    floor = statistics.median(f[0] for f in floors)
    floor_cpu = statistics.median(f[1] for f in floors)
    results = [replay_once(config, data) for _ in range(runs)]
    seconds = statistics.median(r.seconds for r in results)
    cpu_seconds = statistics.median(r.cpu_seconds for r in results)
    first = results[0]
    summary, by_rule = first.summary, first.by_rule
    # Baselines: a slice of candle closes once the rules' windows (30 days for the range rule) are filled.
    warmup = min(31.0, days / 2)
    vectorised_slice = 20 if args.smoke else 3000
    vectorised, vectorised_cpu, checksum = vectorised_per_candle(config, data, warmup, vectorised_slice)
    naive = None if args.no_old_baseline else naive_per_candle(config, data, warmup, 3 if args.smoke else 60)
    ours = seconds / max(candle_count, 1)
    ours_cpu = cpu_seconds / max(candle_count, 1)
    silent = sorted({r.common.id for r in config.rule_specs()} - set(by_rule))
    figures = [
        Figure(
            f"replay {days:g} days x 2 symbols (synthetic)",
            seconds,
            "s",
            note=f"median of {runs}; {candle_count:,} candles, {summary.ticks:,} ticks; "
            f"{cpu_seconds:.1f} s CPU",
        ),
        Figure("  per candle", ours * 1e6, "us"),
        Figure(
            "  storage floor: the rows alone into SQLite",
            floor,
            "s",
            note=f"one executemany per table, same schema; {floor_cpu:.1f} s CPU",
        ),
        Figure("  replay / storage floor", seconds / floor, "x", 1.6, note="wall seconds, same run"),
        Figure("  replay / storage floor, CPU seconds", cpu_seconds / floor_cpu, "x", note="same run"),
        Figure(
            "  vectorised recompute (numpy, TA-Lib) / replay",
            vectorised / ours,
            "x",
            10.0,
            better="higher",
            note=f"the peers' way: {vectorised * 1e6:,.1f} us/candle on a slice of "
            f"{vectorised_slice:,} closes, "
            f"extrapolated: {vectorised * candle_count:,.0f} s for the whole replay",
        ),
    ]
    figures.append(
        Figure(
            "  vectorised recompute / replay, CPU seconds",
            vectorised_cpu / ours_cpu,
            "x",
            note=f"{vectorised_cpu * 1e6:,.1f} us/candle against {ours_cpu * 1e6:,.1f}",
        )
    )
    if naive is not None:
        figures.append(
            Figure(
                "  old baseline, pure-Python recompute / replay",
                naive / ours,
                "x",
                better="higher",
                note=f"not the peers' way (flatters us): {naive * 1e6:,.0f} us/candle on a slice",
            )
        )
    figures.append(
        Figure("  alerts delivered", summary.delivered, "alerts", note=f"{len(by_rule)} rules fired")
    )
    if days in ALERTS_DIGESTS:
        same = first.digest == ALERTS_DIGESTS[days]
        figures.append(
            Figure(
                "  alerts equal to the recorded digest",
                float(same),
                "yes=1",
                1.0,
                better="higher",
                note=f"digest {first.digest}",
            )
        )
    print(f"machine: {machine()}")
    print(
        f"data: SYNTHETIC seeded random walk, {candle_count:,} 1m candles, "
        f"{liquidation_count:,} liquidations, generated in {gen_time():.1f} s"
    )
    print("alerts per rule: " + ", ".join(f"{k} {v}" for k, v in sorted(by_rule.items())))
    print(f"alerts digest: {first.digest}")
    print(f"vectorised recompute: sum of the rules' results {checksum:.6g}")
    if silent:
        print(f"rules that never fired on this data: {', '.join(silent)}")
    ok = report("replay", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
