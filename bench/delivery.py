"""Delivery of a burst: 500 alerts within 10 s to the local Discord emulator at Discord's real rate limits.

The emulator (tests/emulators/discord_api) enforces 5 messages per 5 s per channel and 50 requests/s
globally and answers 429 beyond them, like Discord. The real bot logs in to it, and the real outbox
dispatcher and Discord sink deliver while the alerts are queued into the outbox the way the engine queues
them (one ``alert`` row per alert and channel, half to #alerts and half to #general), 50 per second.

Targets: no response 429, every alert delivered, and at most 30 messages, which needs alerts for one
channel grouped into one message (``[engine] group_window_seconds`` and the per-channel cap). The run stops
waiting at ``--deadline`` seconds and says how many were delivered by then. The baseline is the burst's
own alert count: the messages/alerts ratio is what grouping brings.

    python -m bench.delivery [--smoke] [--alerts N] [--deadline S]
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from bench.common import Figure, machine, parser, report, timer
from bot.alerts.engine import Engine
from bot.alerts.routing import AlertRouter
from bot.config import parse_config
from bot.discord.client import TripwireBot
from bot.notify.discord.sink import DiscordSink
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import OutboxDispatcher
from bot.services import Service
from detectors.market_history import MarketHistory
from storage.db import open_database
from storage.repo import Repo
from tests.bot.discord.support import alert_payload
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.harness import connected_bot, patch_discord_py
from tests.emulators.discord_api.state import ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID, GUILD_ID, default_config

CHANNELS = (ALERTS_CHANNEL_ID, GENERAL_CHANNEL_ID)


def wall_ms() -> int:
    """Return the wall clock in epoch ms (the dispatcher's clock, as in the live bot)."""
    return int(time.time() * 1000)


async def burst(alerts: int, seconds: float, deadline: float) -> dict[str, float]:
    """Queue ``alerts`` over ``seconds`` while delivering; return counts and times."""
    repo = Repo(open_database(":memory:"))
    config = parse_config({"symbols": ["BTCUSDT", "ETHUSDT"], "discord": {"guild_ids": [GUILD_ID]}})
    engine = Engine(repo, MarketHistory(), AlertRouter(repo, [], console=False, discord=True))
    engine.load()
    service = Service(repo, engine, config, wall_ms)
    async with DiscordEmulator(default_config(heartbeat_interval_ms=500)) as emu:
        with patch_discord_py(emu):
            bot = TripwireBot(config, service, **client_options())
            async with connected_bot(bot, emu):
                await asyncio.sleep(1.1)  # let the global window that counted login and sync run out
                before_429 = emu.count_429
                # Built as `tripwire run` builds it: grouping per the default [engine] settings.
                sink = DiscordSink(
                    bot, repo, engine, wall_ms, grouping=GroupingPolicy.from_config(config.engine)
                )
                dispatcher = OutboxDispatcher(repo, [sink], wall_ms)
                stop = asyncio.Event()
                runner = asyncio.create_task(dispatcher.run(stop, idle_seconds=0.05))
                with timer() as elapsed:
                    for i in range(alerts):
                        with repo.transaction():
                            channel = CHANNELS[i % len(CHANNELS)]
                            payload = alert_payload(f"burst-{i % 50}", f"Alert {i}", guild_id=GUILD_ID)
                            repo.enqueue(
                                event_id=None,
                                sink="discord",
                                target=f"channel:{channel}",
                                kind="alert",
                                payload=payload,
                                now=wall_ms(),
                            )
                        dispatcher.wake()
                        await asyncio.sleep(seconds / alerts)
                    queued = elapsed()
                    # The outbox has no "empty" event to wait on: poll its depth.
                    while repo.outbox_depth() and elapsed() < deadline:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
                    took = elapsed()
                stop.set()
                if repo.outbox_depth():
                    # Past the deadline: stop the pass in progress too (it would pace out the whole queue).
                    runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
                messages = sum(
                    1 for c in CHANNELS for m in emu.messages_in(c) if m.source == "channel" and not m.deleted
                )
                result = {
                    "queued_s": queued,
                    "took_s": took,
                    "delivered": float(dispatcher.delivered),
                    "pending": float(repo.outbox_depth()),
                    "messages": float(messages),
                    "responses_429": float(emu.count_429 - before_429),
                }
    repo.close()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the burst and print its figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--alerts", type=int, default=500)
    args_parser.add_argument("--seconds", type=float, default=10.0, help="how long queueing the burst takes")
    args_parser.add_argument("--deadline", type=float, default=60.0, help="stop waiting after this many s")
    args = args_parser.parse_args(argv)
    alerts = 10 if args.smoke else args.alerts
    seconds = 1.0 if args.smoke else args.seconds
    r = asyncio.run(burst(alerts, seconds, args.deadline))
    delivered = int(r["delivered"])
    figures = [
        Figure("responses 429", r["responses_429"], "responses", 0.0),
        Figure(
            f"alerts delivered (of {alerts})",
            delivered,
            "alerts",
            float(alerts),
            better="higher",
            note=f"in {r['took_s']:.1f} s; {int(r['pending'])} still queued"
            if r["pending"]
            else f"all in {r['took_s']:.1f} s",
        ),
        Figure("Discord messages for the burst", r["messages"], "messages", 30.0),
        Figure("  messages / alerts delivered (grouping)", r["messages"] / max(delivered, 1), "x"),
    ]
    print(f"machine: {machine()}")
    print(
        f"burst: {alerts} alerts queued over {r['queued_s']:.1f} s to {len(CHANNELS)} channels; "
        "emulator limits 5 messages / 5 s per channel, 50 requests/s global"
    )
    ok = report("delivery", figures)
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
