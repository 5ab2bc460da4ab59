"""The four added liquidation venues' stream handlers against Bybit's, in the same process.

SYNTHETIC frames (seeded values for BTCUSDT and ETHUSDT) in each venue's wire format, shaped as the corpus
payloads in tests/data/corpus: Gate ``futures.public_liquidates`` updates (arrays of 10 contracts' items),
HTX ``notify`` frames **gzip-compressed** as HTX sends them (one item each), Deribit trades notifications
(10 trades, every one flagged ``liquidation``), Hyperliquid trades frames (10 trades, every one against
the liquidator vault). Each frame goes through the real stream handler (decompression, JSON decoding,
parsing, the venue's side and size conventions, health) into a buffer that only counts the rows: parsing
is measured, not SQLite (bench.ingest measures that). Baseline: Bybit's ``allLiquidation`` handler on the
same number of events, one per frame as Bybit sends them.

    python -m bench.liq_venues [--smoke] [--events N]
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
import statistics
import sys
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp

from bench.common import Figure, machine, parser, report, timer
from feeds.base import Tuning
from feeds.batch import LiquidationBuffer
from feeds.bybit import BybitLiquidationStream
from feeds.config import BybitFeedConfig, DeribitFeedConfig, HtxFeedConfig, HyperliquidFeedConfig
from feeds.deribit import DeribitLiquidationStream
from feeds.gate import parse_public_liquidates
from feeds.health import HealthRegistry
from feeds.htx import HtxLiquidationStream
from feeds.hyperliquid import HyperliquidLiquidationStream
from feeds.instruments import Instrument
from feeds.logonce import FailureLog
from storage.rows import Liquidation

NOW = 1_768_341_600_000  # 2026-01-13 22:00 UTC
PRICES = {"BTC": 95_000.0, "ETH": 3_300.0}
VAULT = "0x2e3d94f0562703b25c83308a05046ddaf9a8dd14"
PER_FRAME = 10

Event = tuple[str, float, float, bool, int]  # coin, price, qty, a buy (closes a short), ts


class CountingBuffer:
    """Stands in for LiquidationBuffer: counts rows, stores nothing."""

    def __init__(self) -> None:
        self.rows = 0

    def add(self, rows: list[Liquidation]) -> None:
        """Count the rows."""
        self.rows += len(rows)

    def flush_if_due(self) -> None:
        """Write nothing."""
        return None


def _events(n: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        coin = "BTC" if i % 2 == 0 else "ETH"
        price = PRICES[coin] * (1 + rng.uniform(-0.01, 0.01))
        qty = rng.paretovariate(1.3) * 2_000 / price
        out.append((coin, price, qty, rng.random() < 0.5, NOW + i))
    return out


def _chunks(items: list[Event]) -> list[list[Event]]:
    return [items[i : i + PER_FRAME] for i in range(0, len(items), PER_FRAME)]


def _gate(chunk: list[Event]) -> str:
    items = [
        {
            "price": p,
            "size": (-1 if buy else 1) * max(1, round(q / 0.0001)),
            "time_ms": t,
            "contract": f"{c}_USDT",
        }
        for c, p, q, buy, t in chunk
    ]
    update = {"channel": "futures.public_liquidates", "event": "update", "time": NOW // 1000, "time_ms": NOW}
    return json.dumps({**update, "result": items})


def _htx(event: Event) -> bytes:
    c, p, q, buy, t = event
    item = {
        "symbol": c,
        "contract_code": f"{c}-USDT",
        "direction": "buy" if buy else "sell",
        "offset": "close",
        "volume": 1,
        "price": p,
        "created_at": t,
        "amount": q,
        "trade_turnover": p * q,
        "contract_type": "swap",
        "pair": f"{c}-USDT",
        "business_type": "swap",
        "trade_partition": "USDT",
    }
    frame = {"op": "notify", "topic": f"public.{c}-USDT.liquidation_orders", "ts": t, "data": [item]}
    return gzip.compress(json.dumps(frame).encode())


def _deribit(chunk: list[Event]) -> str:
    trades = [
        {
            "trade_seq": t,
            "trade_id": str(t),
            "timestamp": t,
            "tick_direction": 1,
            "price": p,
            "mark_price": p,
            "instrument_name": f"{c}-PERPETUAL",
            "index_price": p,
            "direction": "buy" if buy else "sell",
            "amount": round(p * q, 1),
            "liquidation": "T",
        }
        for c, p, q, buy, t in chunk
    ]
    params = {"channel": "trades.BTC-PERPETUAL.100ms", "data": trades}
    return json.dumps({"jsonrpc": "2.0", "method": "subscription", "params": params})


def _hyperliquid(chunk: list[Event]) -> str:
    trades = [
        {
            "coin": c,
            "side": "B" if buy else "A",
            "px": f"{p:.1f}",
            "sz": f"{q:.5f}",
            "time": t,
            "hash": "0x0",
            "tid": t,
            "users": [VAULT, "0xabc"] if buy else ["0xabc", VAULT],
        }
        for c, p, q, buy, t in chunk
    ]
    return json.dumps({"channel": "trades", "data": trades})


def _bybit(event: Event) -> str:
    c, p, q, buy, t = event
    item = {"T": t, "s": f"{c}USDT", "S": "Buy" if buy else "Sell", "v": f"{q:.6g}", "p": f"{p:.6g}"}
    return json.dumps({"topic": f"allLiquidation.{c}USDT", "type": "snapshot", "ts": t, "data": [item]})


def frames(events: int, seed: int = 19) -> dict[str, list[Any]]:
    """Return each venue's SYNTHETIC frames carrying ``events`` liquidations."""
    evs = _events(events, seed)
    chunks = _chunks(evs)
    return {
        "gate": [_gate(c) for c in chunks],
        "htx": [_htx(e) for e in evs],
        "deribit": [_deribit(c) for c in chunks],
        "hyperliquid": [_hyperliquid(c) for c in chunks],
        "bybit": [_bybit(e) for e in evs],
    }


Handler = Callable[[Any], Awaitable[bool]]


def handlers(buffer: CountingBuffer) -> dict[str, Handler]:
    """Return each venue's real frame handler, writing to ``buffer`` (no connection is made)."""
    registry = HealthRegistry(lambda: NOW)
    failures = FailureLog(logging.getLogger("bench.liq_venues"), lambda: NOW)
    session, tuning, buf = cast(aiohttp.ClientSession, None), Tuning(), cast(LiquidationBuffer, buffer)
    watched = frozenset({"BTCUSDT", "ETHUSDT"})

    def health(name: str) -> Any:
        return registry.register(name, {"liquidations"}, watched, stale_after_s=60)

    htx = HtxLiquidationStream(
        HtxFeedConfig(),
        {"BTC-USDT": "BTCUSDT", "ETH-USDT": "ETHUSDT"},
        session,
        health("h"),
        failures,
        tuning,
        buf,
    )
    deribit = DeribitLiquidationStream(
        DeribitFeedConfig(), {"BTC-PERPETUAL": "BTCUSDT", "ETH-PERPETUAL": "ETHUSDT"}, session, health("d"),
        failures, tuning, buf, registry.rejections,
    )  # fmt: skip
    hyperliquid = HyperliquidLiquidationStream(
        HyperliquidFeedConfig(), {"BTC": "BTCUSDT", "ETH": "ETHUSDT"}, session, health("l"), failures, tuning,
        buf, registry.rejections,
    )  # fmt: skip
    bybit = BybitLiquidationStream(
        BybitFeedConfig(), watched, session, health("y"), failures, tuning, buf, registry.rejections
    )
    contracts = {
        f"{c}_USDT": Instrument("gate", "perp", f"{c}_USDT", c, "USDT", contract_size=0.0001) for c in PRICES
    }

    async def gate(text: str) -> bool:
        # The parse the Gate stream runs per update (decode + parse; names as the feed maps them).
        parsed, _ = parse_public_liquidates(json.loads(text), contracts, frozenset(contracts))
        buffer.add(parsed.rows)
        return True

    async def text_of(handler: Callable[[str], bool], text: str) -> bool:
        return handler(text)

    return {
        "gate": gate,
        "htx": lambda data: htx.on_binary(cast(Any, _NoSocket()), data),
        "deribit": lambda text: text_of(deribit.on_text, text),
        "hyperliquid": lambda text: text_of(hyperliquid.on_text, text),
        "bybit": lambda text: text_of(bybit.on_text, text),
    }


class _NoSocket:
    """HTX pings are answered on the socket; the benchmark's frames carry none."""

    async def send_str(self, data: str) -> None:
        raise AssertionError("no ping in the benchmark's frames")


async def _run(handler: Handler, items: list[Any]) -> None:
    for item in items:
        await handler(item)


def measure(name: str, items: list[Any]) -> tuple[float, int]:
    """Return (seconds, rows) for one venue's frames through its handler."""
    buffer = CountingBuffer()
    handler = handlers(buffer)[name]
    with timer() as elapsed:
        asyncio.run(_run(handler, items))
    return elapsed(), buffer.rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--events", type=int, default=100_000)
    args_parser.add_argument("--runs", type=int, default=3)
    args = args_parser.parse_args(argv)
    events = 1_000 if args.smoke else args.events
    runs = 1 if args.smoke else args.runs
    all_frames = frames(events)
    rates: dict[str, float] = {}
    for name, items in all_frames.items():
        results = [measure(name, items) for _ in range(runs)]
        rows = results[0][1]
        assert rows == events, f"{name}: {rows} rows from {events} events"
        rates[name] = rows / statistics.median(seconds for seconds, _ in results)
    figures = [Figure("bybit allLiquidation (baseline)", rates["bybit"], "events/s", better="higher")]
    for name in ("gate", "htx", "deribit", "hyperliquid"):
        figures.append(Figure(f"{name}", rates[name], "events/s", better="higher", note=f"median of {runs}"))
        figures.append(Figure(f"  {name} ratio to bybit", rates[name] / rates["bybit"], "x"))
    print(f"machine: {machine()}")
    report("liquidation venues: frame -> rows", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
