"""Price crossing -> Discord message at 200 symbols: spot candles on kline websockets against REST polling.

The real app (``bot.app.App``) runs against both local emulators: the exchange emulator serves Binance
spot (REST klines with a ``--rtt`` round trip added to every request, and the kline streams pushed every
2 s as Binance documents), the Discord emulator takes the alerts under Discord's rate limits. Every symbol
has a ``level_cross`` rule 5 % above its price (``use_wicks``: on the live price, not the close); once the
app is warm, one symbol at a time (``--gap`` seconds apart, so Discord's 5 messages per 5 s per channel
never queue them) trades 10 % higher (``KlineStreams.set_price``), and the time until the Discord
emulator stores the alert's message is the latency measured.

- **stream** (``[feeds.binance_spot] candles = "stream"``): the exchange event is the kline frame carrying
  the new price (what the venue publishes; figure "frame -> Discord"). The trade itself is up to one
  push (2 s) earlier on Binance's schedule: "trade -> Discord" includes that wait.
- **poll** (``candles = "poll"``, ``max_concurrent_requests = 1``): the app as it was, every symbol
  asked in turn every ``poll_seconds`` (15 s); the exchange event is the moment REST serves the price.

Both run in this process, one after the other, and the ratio of their p99 is printed.

    python -m bench.candle_latency [--smoke] [--symbols N] [--crossings N] [--gap S] [--rtt S]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import Figure, machine, parser, report
from bench.latency import percentile
from bot.app import App
from bot.config import Secrets, parse_config
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GUILD_ID, default_config
from tests.emulators.exchanges import ExchangeEmulator
from tests.emulators.exchanges.tripwire_toml import tripwire_feeds_toml
from tests.feeds.helpers import wait_for

KLINES = "/api/v3/klines"


@dataclass
class Run:
    """One mode's latencies (seconds) and what it took to get there."""

    mode: str
    from_event: list[float]
    from_trade: list[float]
    missed: int
    start_s: float
    rest_requests: int


def spot_symbols(emu: ExchangeEmulator, count: int) -> dict[str, Decimal]:
    """Return ``count`` USDT pairs the emulated Binance spot lists, with their price now (BTCUSDT first).

    Pairs priced under a cent are left out (their stand-in candles round to zero at 8 decimals), and so
    is any pair with no candle now (ETHUSDT's recording ends at 07:00 on its last day).
    """
    listed = sorted(
        s
        for s, item in emu.ctx.listings.spot.items()
        if s.endswith("USDT")
        and item.status == "TRADING"
        and item.price >= Decimal("0.01")
        and s != "BTCUSDT"
    )
    prices: dict[str, Decimal] = {}
    for symbol in ["BTCUSDT", *listed]:
        if len(prices) == count:
            break
        if emu.ctx.listed(emu.ctx.listings.spot, symbol):
            candle = emu.binance.klines.forming(symbol, "1m")
            if candle is not None:
                prices[symbol] = candle.close
    return prices


def app_config(
    emu: ExchangeEmulator,
    discord: DiscordEmulator,
    db: Path,
    symbols: list[str],
    mode: str,
    levels: dict[str, float],
    poll_seconds: float,
) -> Any:
    """Return the app's config: only Binance spot candles, a level rule per symbol, alerts to #alerts."""
    feeds: dict[str, dict[str, Any]] = tomllib.loads(tripwire_feeds_toml(emu.base_url, emu.ws_url))["feeds"]
    for name, section in feeds.items():
        section["enabled"] = name == "binance_spot"
    feeds["binance_spot"] |= {
        "candles": mode,
        "interval": "1m",
        "backfill_days": 0.05,
        "poll_seconds": poll_seconds,
        # The poll as it was before streams: one request at a time.
        "max_concurrent_requests": 1 if mode == "poll" else 8,
        "fallback": "none",
    }
    rules = [
        {
            "id": f"cross-{s.lower()}",
            "detector": "level_cross",
            "symbol": s,
            "level": level,
            "direction": "up",
            # The live price: the forming candle is probed at every evaluation (a close-based rule
            # waits for the candle to close, up to a minute, whatever the feed).
            "use_wicks": True,
            "note": f"bench [{s}]",
        }
        for s, level in levels.items()
    ]
    return parse_config(
        {
            "symbols": symbols,
            "storage": {"path": str(db)},
            "feeds": feeds,
            "discord": {
                "guild_ids": [GUILD_ID],
                "api_base": discord.api_base,
                "gateway_url": discord.gateway_url,
            },
            "routes": [{"guild_id": GUILD_ID, "channel_id": ALERTS_CHANNEL_ID}],
            # One message per alert, at once: grouping would turn later alerts into edits of the first.
            "engine": {"group_window_seconds": 0, "channel_max_per_minute": 60},
            "rules": rules,
        }
    )


def _arrivals(discord: DiscordEmulator, symbols: list[str]) -> dict[str, float]:
    """Return symbol -> time.monotonic() the emulator stored the first message naming its rule's note."""
    found: dict[str, float] = {}
    for message in discord.messages_in(ALERTS_CHANNEL_ID):
        text = json.dumps(message.payload)
        for symbol in symbols:
            if symbol not in found and f"bench [{symbol}]" in text:
                found[symbol] = message.stored_at
    return found


async def _warm(emu: ExchangeEmulator, app: App, symbols: list[str], mode: str, within: float) -> None:
    """Wait until every symbol's candles are stored (and, streaming, the stream carries them all)."""
    assert app.parts is not None
    repo = app.parts.repo

    def warm() -> bool:
        stored = all(repo.last_candle_time(s, "1m", "binance") is not None for s in symbols)
        subscribed = sum(len(c.subscriptions) for c in emu.ws_connections("binance-spot"))
        return stored and (mode == "poll" or subscribed >= len(symbols))

    await wait_for(warm, within=within, what=f"{mode}: every symbol's candles")
    # A push (or a poll) more: every rule has seen a price under its level before the first crossing.
    await asyncio.sleep(2.5)


async def run_mode(
    mode: str, symbols_n: int, crossings: int, gap: float, rtt: float, poll_seconds: float, seed: int = 24
) -> Run:
    """Start the emulators and the app in ``mode``, cross ``crossings`` levels, return the latencies."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        async with ExchangeEmulator(shift_to="now") as emu, DiscordEmulator(default_config()) as discord:
            prices = spot_symbols(emu, symbols_n)
            symbols = list(prices)
            levels = {s: float(p * Decimal("1.05")) for s, p in prices.items()}
            if rtt > 0:
                emu.delay(KLINES, rtt, times=None)  # the round trip to Binance, on every klines request
            config = app_config(emu, discord, Path(tmp) / "bench.db", symbols, mode, levels, poll_seconds)
            app = App(config, Secrets(), token=discord.config.token, discord_options=client_options())
            began = time.monotonic()
            await app.start()
            try:
                await discord.wait_until(lambda: discord.commands_synced(GUILD_ID) != [], timeout=30)
                await _warm(emu, app, symbols, mode, within=120 + symbols_n * rtt * 2)
                start_s = time.monotonic() - began
                requests_before = len(emu.requests(KLINES))
                crossed = rng.sample(symbols, min(crossings, len(symbols)))
                for symbol in crossed:
                    emu.binance.klines.set_price(
                        symbol, (prices[symbol] * Decimal("1.10")).quantize(Decimal("0.00000001"))
                    )
                    await asyncio.sleep(gap)
                with contextlib.suppress(AssertionError):  # a missed alert is counted, not fatal
                    await wait_for(
                        lambda: len(_arrivals(discord, crossed)) == len(crossed),
                        within=poll_seconds * 2 + symbols_n * rtt + 10,
                    )
                arrived = _arrivals(discord, crossed)
                rest_requests = len(emu.requests(KLINES)) - requests_before
            finally:
                await app.stop()
            live = emu.binance.klines.prices
            from_trade = [arrived[s] - live[s].set_at for s in crossed if s in arrived]
            if mode == "stream":
                from_event = [
                    arrived[s] - (live[s].pushed_at or live[s].set_at) for s in crossed if s in arrived
                ]
            else:
                from_event = from_trade
            return Run(mode, from_event, from_trade, len(crossed) - len(arrived), start_s, rest_requests)


def _figures(stream: Run, poll: Run, target_s: float) -> list[Figure]:
    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000 if values else float("nan")

    s99, p99 = ms(stream.from_event, 0.99), ms(poll.from_event, 0.99)
    return [
        Figure(
            "stream: frame -> Discord, p50",
            ms(stream.from_event, 0.5),
            "ms",
            note=f"{len(stream.from_event)} alerts, {stream.missed} missed",
        ),
        Figure(
            "stream: frame -> Discord, p99",
            s99,
            "ms",
            target_s * 1000,
            note=f"max {ms(stream.from_event, 1.0):.0f} ms",
        ),
        Figure(
            "stream: trade -> Discord, p99",
            ms(stream.from_trade, 0.99),
            "ms",
            note="includes Binance's 2 s push cadence",
        ),
        Figure(
            "stream: REST requests while crossing",
            stream.rest_requests,
            "",
            note="gap checks and the 1 page after each close",
        ),
        Figure(
            "  baseline poll: REST -> Discord, p50",
            ms(poll.from_event, 0.5),
            "ms",
            note=f"{len(poll.from_event)} alerts, {poll.missed} missed",
        ),
        Figure(
            "  baseline poll: REST -> Discord, p99", p99, "ms", note=f"max {ms(poll.from_event, 1.0):.0f} ms"
        ),
        Figure("  baseline poll: REST requests while crossing", poll.rest_requests, ""),
        Figure("  p99 ratio poll / stream", p99 / max(s99, 1e-9), "x"),
        Figure("  start to warm: stream / poll", stream.start_s, "s", note=f"poll {poll.start_s:.1f} s"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run both modes and print the latencies with their ratio."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--symbols", type=int, default=200)
    args_parser.add_argument("--crossings", type=int, default=40)
    args_parser.add_argument("--gap", type=float, default=1.5, help="seconds between two crossings")
    args_parser.add_argument("--rtt", type=float, default=0.05, help="seconds added to every klines request")
    args_parser.add_argument("--poll-seconds", type=float, default=15.0)
    args = args_parser.parse_args(argv)
    n, crossings, poll_s = (5, 3, 5.0) if args.smoke else (args.symbols, args.crossings, args.poll_seconds)
    stream = asyncio.run(run_mode("stream", n, crossings, args.gap, args.rtt, poll_s))
    poll = asyncio.run(run_mode("poll", n, crossings, args.gap, args.rtt, poll_s))
    print(f"machine: {machine()}")
    print(
        f"{n} symbols, {crossings} crossings {args.gap:g} s apart, {args.rtt * 1000:.0f} ms added to each"
        f" klines request, poll every {poll_s:g} s; both emulators, the real app"
    )
    ok = report("candle latency", _figures(stream, poll, 2.0))
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
