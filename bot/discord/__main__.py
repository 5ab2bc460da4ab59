"""Run the Discord front end on its own: ``python -m bot.discord``.

This is how to try Tripwire against the local Discord emulator (``python -m tests.emulators.discord_api``)
before ``tripwire run`` wires feeds, engine and Discord together: it loads the bundled January 2026 data
into a database, connects the bot (slash commands answer from that data, as of ``--at``), delivers the
outbox through the Discord sink, and with ``--replay-from`` plays the scenario so alerts of the rules
created with ``/alert add`` (and the config's routed rules) are posted. Digests scheduled with ``/digest set``
run as APScheduler jobs rebuilt from the database at start (a slot missed while it was down is posted once,
late). The token and, for the emulator,
``TRIPWIRE_DISCORD_API_BASE``/``TRIPWIRE_DISCORD_GATEWAY_URL`` come from the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC
from importlib import resources
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import ConfigError, load_config, load_secrets
from bot.digests.jobs import DigestJobs
from bot.digests.service import DigestService
from bot.discord.client import TripwireBot
from bot.engine import make_engine
from bot.errors import UserError
from bot.live import LiveEvaluator
from bot.notify.alert_charts import AlertCharts
from bot.notify.discord_sink import DiscordSink
from bot.notify.outbox import OutboxDispatcher
from bot.replay import run_replay
from bot.routing import AlertRouter
from bot.rules import sync_config_rules
from bot.service import Service
from detectors.history import MarketHistory
from feeds.ingest import Ingest
from feeds.replay import RecordedData, load_directory, parse_time
from storage.db import open_database
from storage.repo import Repo

log = logging.getLogger("bot.discord")


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.discord",
        description="Run Tripwire's Discord front end on the bundled data (e.g. against the local emulator).",
    )
    parser.add_argument("--config", "-c", help="config file (default: the bundled config.example.toml)")
    parser.add_argument("--db", default=":memory:", help="database file (default: in memory)")
    parser.add_argument(
        "--at", help="answer queries as of this UTC time, e.g. 2026-01-14T12:00Z (default: the real clock)"
    )
    parser.add_argument("--replay-from", help="after connecting, replay the bundled scenario from this time")
    parser.add_argument("--replay-to", help="...to this time (default: its end)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log discord.py's requests too")
    return parser


def _seed(repo: Repo, history: MarketHistory, data: RecordedData) -> None:
    ingest = Ingest(repo, history)
    with repo.transaction():
        for _, batch in data.timeline():
            ingest.candles(batch.candles)
            ingest.liquidation_buckets(batch.liquidation_buckets)
            ingest.liquidations(batch.liquidations)
            ingest.funding(batch.funding)
            ingest.open_interest(batch.open_interest)
            ingest.fear_greed(batch.fear_greed)


async def run(args: argparse.Namespace) -> int:
    """Connect the bot and serve until interrupted; return the exit status."""
    with resources.as_file(resources.files("bot.scenario")) as scenario:
        config = load_config(Path(args.config) if args.config else scenario / "config.example.toml")
        data = load_directory(Path(scenario))
    secrets = load_secrets()
    token = secrets.token()
    if token is None:
        raise UserError("set TRIPWIRE_DISCORD_TOKEN (the emulator prints the one it accepts)")
    frozen = parse_time(args.at) if args.at else None

    def now_ms() -> int:
        return frozen if frozen is not None else int(time.time() * 1000)

    db = open_database(args.db)
    repo = Repo(db)
    history = MarketHistory()
    _seed(repo, history, data)
    sync_config_rules(repo, config, now_ms())
    engine = make_engine(
        config.engine, repo, history, AlertRouter(repo, config.routes, console=False, discord=True)
    )
    engine.load()
    service = Service(repo, engine, config, now_ms)

    def wake() -> None:
        dispatcher.wake()

    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs = DigestJobs(
        scheduler,
        repo,
        config.symbols,
        now_ms,
        late_after_ms=int(config.engine.late_after_seconds * 1000),
        on_queued=wake,
    )
    digests = DigestService(
        repo,
        config.symbols,
        now_ms,
        max_per_guild=config.discord.max_digests_per_guild,
        jobs=jobs,
        on_queued=wake,
    )
    bot = TripwireBot(config, service, secrets=secrets, digests=digests)
    sink = DiscordSink(
        bot, repo, engine, now_ms, ops_channel_id=config.discord.ops_channel_id, attachments=AlertCharts(repo)
    )
    dispatcher = OutboxDispatcher(repo, [sink], now_ms)
    evaluator = LiveEvaluator(
        engine,
        now_ms,
        interval_seconds=config.engine.evaluate_seconds,
        on_recorded=lambda _: dispatcher.wake(),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with bot:
            await bot.login(token)
            connection = asyncio.create_task(bot.connect(), name="discord-connect")
            await bot.wait_until_ready()
            print("connected; press Ctrl-C to stop", flush=True)
            if args.replay_from:
                summary = await run_replay(
                    config,
                    data,
                    repo,
                    [sink],
                    lambda r: AlertRouter(r, config.routes, console=False, discord=True),
                    start=parse_time(args.replay_from),
                    end=parse_time(args.replay_to) if args.replay_to else None,
                )
                print(f"replayed: {summary.fired} alerts fired, {summary.delivered} delivered", flush=True)
                engine.load()  # the replay's engine moved the rules' state on
            scheduler.start()
            jobs.start()
            tasks = [
                asyncio.create_task(dispatcher.run(stop), name="outbox"),
                asyncio.create_task(evaluator.run(stop), name="evaluate"),
            ]
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            await asyncio.gather(*tasks)
            stopping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connection
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        db.conn.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("discord").setLevel(logging.WARNING)
    try:
        return asyncio.run(run(args))
    except (UserError, ConfigError) as exc:
        print(f"python -m bot.discord: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
