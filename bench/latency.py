"""Alert latency: liquidations at 1,000/s for 60 s, from a frame entering the feed layer to its alert queued.

SYNTHETIC Bybit ``allLiquidation`` frames (one event each, 200 symbols, seeded sizes) arrive at 1,000 per
second. Each goes where a websocket message goes in the live bot: the real Bybit stream handler, its
LiquidationBuffer (the live flush interval and batch size), Ingest, and the LiveEvaluator's data-driven path
(``ingest.subscribe(evaluator.notify)``, as ``bot.app`` wires it) into the engine, which records the alert
and queues its outbox row in one transaction. Every symbol has a liquidation_cascade rule; once per symbol,
at a random moment, one large liquidation pushes its one-minute window over the threshold, and the time
from that frame's arrival to the callback that reports the recorded alert is the latency measured.

The baseline is the same events handed straight to ``Ingest.liquidations`` one by one (no feed handler, no
buffer): the ratio shows what the feed layer's batching adds.

    python -m bench.latency [--smoke] [--seconds S] [--rate N]
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import aiohttp

from bench.common import Figure, default_config, machine, parser, report
from bot.alerts.engine import make_engine
from bot.alerts.live import LiveEvaluator
from bot.alerts.model import RecordedEvent
from bot.alerts.routing import AlertRouter
from detectors.market_history import MarketHistory
from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.bybit import BybitFeed
from feeds.config import BybitFeedConfig
from feeds.context import FeedContext
from feeds.health import HealthRegistry
from feeds.http import HttpClient
from feeds.ingest import Ingest
from feeds.logonce import FailureLog
from storage.db import open_database
from storage.repo import Repo, RuleRow
from storage.rows import HOUR_MS, Liquidation

MIN_USD = 5_000_000.0


def wall_ms() -> int:
    """Return the wall clock in epoch ms (the live bot's clock)."""
    return int(time.time() * 1000)


def percentile(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _save_cascade_rules(repo: Repo, symbols: list[str], now: int) -> None:
    """Store a liquidation_cascade rule per symbol, with a one-minute window over ``MIN_USD``."""
    with repo.transaction():
        for symbol in symbols:
            settings = {"window_minutes": 1, "min_usd": MIN_USD, "multiple": 1.0, "baseline_hours": 1}
            repo.save_rule(
                RuleRow(
                    f"cascade-{symbol}", "config", "liquidation_cascade", symbol, settings, created_at=now
                )
            )


def _bybit_handler(
    symbols: list[str], ingest: Ingest, tuning: Tuning | None
) -> tuple[Callable[[str], bool], LiquidationBuffer | None]:
    """Return the real Bybit stream's message handler and its liquidation buffer (no socket, no HTTP)."""
    http, session = cast(HttpClient, None), cast(aiohttp.ClientSession, None)
    context = FeedContext(
        symbols,
        ingest,
        session,
        HealthRegistry(wall_ms),
        FailureLog(logging.getLogger("bench.latency"), wall_ms),
        wall_ms,
        tuning or Tuning(),
    )
    feed = BybitFeed(BybitFeedConfig(), http, context)
    assert feed.stream is not None
    return feed.stream.on_text, feed.buffer


def _liquidation_frame(symbol: str, usd: float) -> tuple[str, Liquidation]:
    """Return a SYNTHETIC Bybit ``allLiquidation`` frame of one short liquidation, and its row."""
    ts = wall_ms()
    row = Liquidation(symbol, ts, "bybit", "short", 100.0, usd / 100.0, usd)
    item = {"T": ts, "s": symbol, "S": "Sell", "v": f"{usd / 100.0:.10g}", "p": "100"}
    text = json.dumps({"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts, "data": [item]})
    return text, row


Frames = asyncio.Queue[tuple[float, str, Liquidation]]


async def _read_frames(
    frames: Frames,
    stop: asyncio.Event,
    handle: Callable[[str], bool] | None,
    buffer: LiquidationBuffer | None,
    ingest: Ingest,
) -> None:
    """Feed the frames to the handler (or their rows straight to Ingest) until stopped and drained."""
    # The stream's read loop: wait for a message or for the buffer's flush time, whichever first.
    loop = asyncio.get_running_loop()
    while not stop.is_set() or not frames.empty():
        due = buffer.due() if buffer is not None else None
        wait = 0.05 if due is None else max(0.001, due - loop.time())
        try:
            _, text, row = await asyncio.wait_for(frames.get(), timeout=wait)
        except TimeoutError:
            text = ""
        if text:
            if handle is not None:
                handle(text)
            else:
                ingest.liquidations([row])
        if buffer is not None:
            buffer.flush_if_due()


async def _send_frames(
    frames: Frames,
    rng: random.Random,
    symbols: list[str],
    seconds: float,
    rate: int,
    entered: dict[str, float],
) -> None:
    """Queue ``rate`` frames a second for ``seconds``; once per symbol, at a random moment, a large one.

    The arrival time of each symbol's large frame goes into ``entered``.
    """
    big_at = {s: rng.uniform(0.1, 0.9) * seconds for s in symbols}
    started = time.perf_counter()
    sent = 0
    tick = 0.01
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(int(rate * (elapsed + tick)) - sent):
            symbol = rng.choice(symbols)
            big = symbol in big_at and elapsed >= big_at[symbol]
            usd = MIN_USD * 1.2 if big else rng.uniform(500, 5_000)
            text, row = _liquidation_frame(symbol, usd)
            arrival = time.perf_counter()
            if big:
                del big_at[symbol]
                entered[symbol] = arrival
            frames.put_nowait((arrival, text, row))
            sent += 1
        await asyncio.sleep(tick)


async def run(
    seconds: float,
    rate: int,
    symbols: list[str],
    *,
    feed_layer: bool,
    tuning: Tuning | None = None,
    seed: int = 9,
) -> list[float]:
    """Play the stream for ``seconds`` and return the latencies (ms) of the alerts it caused."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Repo(open_database(Path(tmp) / "latency.db"))
        config = default_config().model_copy(update={"symbols": symbols})
        _save_cascade_rules(repo, symbols, wall_ms())
        history = MarketHistory()
        # Bybit has been watched for two hours: a cascade rule holds until its baseline period is known.
        history.add_liquidations(
            Liquidation(symbol, wall_ms() - 2 * HOUR_MS, "bybit", "long", 0.0, 0.0, 1.0) for symbol in symbols
        )
        ingest = Ingest(repo, history)
        engine = make_engine(config.engine, repo, history, AlertRouter(repo, [], console=True, discord=False))
        engine.load()
        entered: dict[str, float] = {}
        latencies: list[float] = []

        def recorded(events: list[RecordedEvent]) -> None:
            landed = time.perf_counter()
            for event in events:
                symbol = event.rule_id.removeprefix("cascade-")
                if event.state == "firing" and symbol in entered:
                    latencies.append((landed - entered.pop(symbol)) * 1000)

        evaluator = LiveEvaluator(engine, wall_ms, interval_seconds=15.0, on_recorded=recorded)
        ingest.subscribe(evaluator.notify)
        evaluator.evaluate(None)  # every rule learns the quiet market first
        handle: Callable[[str], bool] | None = None
        buffer: LiquidationBuffer | None = None
        if feed_layer:
            handle, buffer = _bybit_handler(symbols, ingest, tuning)
        frames: Frames = asyncio.Queue()
        stop = asyncio.Event()
        periodic = asyncio.create_task(evaluator.run(stop))
        task = asyncio.create_task(_read_frames(frames, stop, handle, buffer, ingest))
        await _send_frames(frames, rng, symbols, seconds, rate, entered)
        stop.set()
        await task
        if buffer is not None:
            buffer.flush()
        await periodic
        repo.close()
    return latencies


def main(argv: list[str] | None = None) -> int:
    """Run the stream through the feed layer and straight into Ingest; print the latency figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--seconds", type=float, default=60.0)
    args_parser.add_argument("--rate", type=int, default=1000, help="events per second")
    args_parser.add_argument(
        "--flush-interval",
        type=float,
        help="LiquidationBuffer flush interval in s (default: the live Tuning's), to try another one",
    )
    args = args_parser.parse_args(argv)
    tuning = Tuning(flush_interval_s=args.flush_interval) if args.flush_interval is not None else Tuning()
    seconds = 1.0 if args.smoke else args.seconds
    rate = 200 if args.smoke else args.rate
    symbols = ["BTCUSDT", "ETHUSDT", *[f"SYN{i:03d}USDT" for i in range(8 if args.smoke else 198)]]
    feed = asyncio.run(run(seconds, rate, symbols, feed_layer=True, tuning=tuning))
    direct = asyncio.run(run(min(seconds, 20.0), rate, symbols, feed_layer=False))
    p99, direct_p99 = percentile(feed, 0.99), percentile(direct, 0.99)
    figures = [
        Figure("event -> outbox, p50", statistics.median(feed), "ms", note=f"{len(feed)} alerts"),
        Figure("event -> outbox, p99", p99, "ms", 20.0, note=f"max {max(feed):.1f} ms"),
        Figure(
            "  baseline without the feed layer, p99",
            direct_p99,
            "ms",
            note=f"p50 {statistics.median(direct):.2f} ms, {len(direct)} alerts",
        ),
        Figure("  p99 ratio feed layer / baseline", p99 / max(direct_p99, 1e-9), "x"),
    ]
    print(f"machine: {machine()}")
    print(
        f"stream: {rate:,} SYNTHETIC liquidations/s for {seconds:g} s over {len(symbols)} symbols; "
        f"feed buffer flushed every {tuning.flush_interval_s:g} s or {tuning.flush_max_events} events"
    )
    ok = report("latency", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
