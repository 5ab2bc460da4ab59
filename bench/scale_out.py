"""Scaling out: 10,000 emulated guilds, 50,000 personal rules, 200 symbols, 4 Discord clusters on PostgreSQL.

What runs, and where:

- **PostgreSQL** (``TRIPWIRE_BENCH_PG_URL``, default the test server) in a scratch schema dropped afterwards,
  and **Redis** (``TRIPWIRE_BENCH_REDIS_URL``, default database 13 of 127.0.0.1:6379) for the clusters'
  shared global REST limit.
- **The Discord emulator** (tests/emulators/discord_api), in this process, with 10,000 SYNTHETIC guilds
  spread evenly over 4 shards by Discord's formula ``(guild_id >> 22) % 4``: 2,500 per shard, exactly the
  most one gateway connection may hold (the emulator, like Discord, closes 4011 above it). Each guild has an
  #alerts channel and one member of its own who owns its rules. Discord's own ``/gateway/bot`` would
  recommend more shards (about one per 1,000 guilds; the emulator says 10 here): 4 is the fewest allowed.
- **4 clusters as real processes**: ``tripwire run --role discord --shards i-i --shard-count 4``, each
  delivering its guilds' outbox rows (the cluster of shard 0 also every direct message, as Discord sends
  events without a guild to shard 0 only).
- **The engine in this process** (the market role's engine, built as ``Engine`` over the same PostgreSQL
  schema; no exchange feeds), holding 50,000 SYNTHETIC personal rules (members' ``level_cross`` rules,
  owner set; a share delivered by direct message, the rest to their guild's #alerts) over 200 synthetic
  symbols. A synthetic price path raises every symbol by 1 per step; the levels are chosen so exactly
  ``--alerts`` rules fire, spread evenly over the steps, one per guild (so no channel's 5 messages / 5 s
  limit is what is measured); the other rules' levels are never reached.

Measured: alert-to-message latency, from the time the engine wrote on the outbox row (its evaluation
time, wall clock) to the emulator storing the message (wall clock, same machine), p50 and p99; resident
memory of each cluster process (VmRSS and its peak VmHWM from /proc) and of this process (engine and
emulator together), and what loading the rules added to it; the database size (``pg_total_relation_size``
of every table in the schema; no market history is stored by this bench, only rules, states, events and
the outbox). The grouping window is 0 (each alert its own message; the default 20 s would add its wait).

The baseline, in the same run: the same rules and price path on one single-process bot on SQLite (engine,
bot and outbox dispatcher in this process, as ``tripwire run`` is), with the guilds that receive an alert
in one unsharded connection; its latency is what the ratio compares with.

    python -m bench.scale_out [--smoke] [--guilds N] [--rules N] [--symbols N] [--clusters N] [--alerts N]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg

from bench.common import Figure, machine, parser, report, rss_mb
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
from storage.repo.mapping import RULES
from storage.rows import HOUR_MS, MINUTE_MS, Candle, RuleRow
from tests.emulators.discord_api import DiscordEmulator, client_options
from tests.emulators.discord_api.harness import connected_bot, patch_discord_py
from tests.emulators.discord_api.sharding import alerts_channel_of, guild_id_on_shard, shard_of
from tests.emulators.discord_api.state import (
    OWNER_ID,
    ChannelConfig,
    EmulatorConfig,
    GuildConfig,
    MemberConfig,
    StoredMessage,
    UserConfig,
    default_config,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
# Synthetic member ids: one member per guild, who owns that guild's rules.
MEMBER_BASE = 1_300_000_000_000_000_000
START_PRICE = 100.0
# Far above the price path (which rises by 1 per step): the levels of the rules that never fire.
UNREACHED_LEVEL = 1_000.0


@dataclass(frozen=True, slots=True)
class Size:
    """The bench's scale: the world, the rules, the processes and the alerts."""

    guilds: int
    rules: int
    symbols: int
    clusters: int
    alerts: int
    steps: int
    step_seconds: float
    dm_share: float = 0.2
    seed: int = 21

    def __post_init__(self) -> None:
        if self.alerts > self.guilds or self.alerts > self.rules or self.guilds > self.rules:
            raise ValueError("need alerts <= guilds <= rules (one firing rule per guild)")


FULL = Size(guilds=10_000, rules=50_000, symbols=200, clusters=4, alerts=400, steps=8, step_seconds=2.0)
SMOKE = Size(guilds=8, rules=24, symbols=4, clusters=2, alerts=4, steps=2, step_seconds=0.5, dm_share=0.5)


@dataclass(slots=True)
class Plan:
    """The synthetic world: guild ids, rules, which fire at which step."""

    size: Size
    guild_ids: list[int]
    rules: list[RuleRow]
    fire_step: dict[str, int] = field(default_factory=dict)  # rule id -> step that crosses its level
    t0: int = 0  # open time of the first candle

    @property
    def symbols(self) -> list[str]:
        """Return the synthetic symbol names."""
        return [f"SYN{k:03d}USDT" for k in range(self.size.symbols)]

    def candles(self, step: int) -> list[Candle]:
        """Return the candle of ``step`` for every symbol: close START_PRICE + step (SYNTHETIC)."""
        close = START_PRICE + step
        open_time = self.t0 + step * MINUTE_MS
        return [
            Candle(s, "1m", open_time, "synthetic", close - 0.2, close + 0.1, close - 0.3, close, 1.0)
            for s in self.symbols
        ]


def member_of(guild_index: int) -> int:
    """Return the synthetic id of the member who owns guild ``guild_index``'s rules."""
    return MEMBER_BASE + guild_index


def make_plan(size: Size, now_ms: int) -> Plan:
    """Place the guilds on the shards and write the rules; choose the firing ones (seeded)."""
    rng = random.Random(size.seed)
    guild_ids = [guild_id_on_shard(g % size.clusters, size.clusters, g) for g in range(size.guilds)]
    t0 = now_ms // MINUTE_MS * MINUTE_MS - (size.steps + 2) * MINUTE_MS
    firing = sorted(rng.sample(range(size.guilds), size.alerts))  # rule g is guild g's first rule
    plan = Plan(size, guild_ids, [], t0=t0)
    step_of = {g: 1 + j % size.steps for j, g in enumerate(firing)}
    symbols = plan.symbols
    for i in range(size.rules):
        g = i % size.guilds
        fires = i in step_of
        level = START_PRICE + step_of[i] - 0.5 if fires else UNREACHED_LEVEL + i % 97
        dm = rng.random() < size.dm_share
        rule = RuleRow(
            f"r{i:05d}",
            "discord",
            "level_cross",
            symbols[i % size.symbols],
            {"level": level, "direction": "up"},
            guild_id=guild_ids[g],
            owner_id=member_of(g),
            channel_id=None if dm else alerts_channel_of(guild_ids[g]),
            deliver="dm" if dm else "channel",
            created_at=t0 - HOUR_MS,  # older than the candles: their crossings are news
            updated_at=t0 - HOUR_MS,
        )
        plan.rules.append(rule)
        if fires:
            plan.fire_step[rule.id] = step_of[i]
    return plan


def world(plan: Plan, guild_indices: Sequence[int], shards: int) -> EmulatorConfig:
    """Return an emulator world of the plan's guilds ``guild_indices`` (SYNTHETIC ids and names)."""
    config = default_config(heartbeat_interval_ms=10_000)
    config.gateway.identify_window = 0.1  # max_concurrency's 5 s per IDENTIFY would only slow the start
    owner = next(m.user for m in config.guilds[0].members if m.user.id == OWNER_ID)
    config.guilds = []
    for g in guild_indices:
        guild_id = plan.guild_ids[g]
        assert shard_of(guild_id, shards) == g % shards or shards != plan.size.clusters
        member = UserConfig(id=member_of(g), username=f"member{g}")
        config.guilds.append(
            GuildConfig(
                id=guild_id,
                name=f"Bench server {g}",
                owner_id=owner.id,
                channels=[ChannelConfig(id=alerts_channel_of(guild_id), name="alerts")],
                members=[MemberConfig(user=owner), MemberConfig(user=member)],
            )
        )
    return config


def save_rules(repo: Repo, rules: Sequence[RuleRow]) -> None:
    """Insert the rules in one transaction (no change notice each: no process runs yet)."""
    with repo.transaction():
        repo.conn.executemany(
            f"INSERT INTO rules ({RULES.columns}) VALUES ({RULES.marks})", [RULES.values(r) for r in rules]
        )


def progress(text: str) -> None:
    """Say where a long run is (its phases take minutes at full size on a small machine)."""
    print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)


def wall_ms() -> int:
    """Return the wall clock in epoch ms (the clock the engine and the dispatchers use live)."""
    return int(time.time() * 1000)


@dataclass(slots=True)
class Market:
    """The engine with its rules loaded and every rule's side of its level learned (step 0)."""

    repo: Repo
    engine: Engine
    history: MarketHistory
    load_rss_mb: float
    load_s: float
    # Each step's evaluation time (written on its outbox rows) -> wall ms when its transaction had committed.
    committed: dict[int, int] = field(default_factory=dict)


def start_market(database: str, plan: Plan) -> Market:
    """Store the rules, load them into an engine and evaluate the first candle (no alert)."""
    repo = Repo(open_database(database))
    save_rules(repo, plan.rules)
    history = MarketHistory()
    before, began = rss_mb() or 0.0, time.perf_counter()
    engine = Engine(
        repo, history, AlertRouter(repo, [], console=False, discord=True), late_after_ms=24 * HOUR_MS
    )
    engine.load()
    history.add_candles(plan.candles(0))
    engine.evaluate(wall_ms())
    load_s = time.perf_counter() - began
    return Market(repo, engine, history, (rss_mb() or 0.0) - before, load_s)


async def play(market: Market, plan: Plan, dispatcher: OutboxDispatcher | None = None) -> int:
    """Play the price path's steps, ``step_seconds`` apart; return the alerts the engine recorded.

    Without a dispatcher (the clusters' run) the engine evaluates in a thread, as if in its own process:
    the emulator shares this event loop, and the clusters are woken by the outbox's NOTIFY. With one (the
    single-process baseline) it evaluates on the loop and wakes the dispatcher, as ``tripwire run`` does.
    """
    fired = 0
    for step in range(1, plan.size.steps + 1):
        began = time.monotonic()
        market.history.add_candles(plan.candles(step))
        now = wall_ms()
        if dispatcher is None:
            fired += len(await asyncio.to_thread(market.engine.evaluate, now))
        else:
            fired += len(market.engine.evaluate(now))
            dispatcher.wake()
        market.committed[now] = wall_ms()
        await asyncio.sleep(max(0.0, plan.size.step_seconds - (time.monotonic() - began)))
    return fired


class Seen:
    """When the emulator stored each message (wall clock, ms), by message id."""

    def __init__(self) -> None:
        self.at: dict[int, int] = {}

    def __call__(self, event: str, message: StoredMessage) -> None:
        """Record a created message's time."""
        if event == "MESSAGE_CREATE":
            self.at.setdefault(message.id, wall_ms())


@dataclass(slots=True)
class Latencies:
    """Alert-to-message times (ms) of the delivered alerts, and how many alerts were not delivered."""

    total: list[float] = field(default_factory=list)  # the engine's evaluation time -> message stored
    after_commit: list[float] = field(default_factory=list)  # the step's commit -> message stored
    dm: list[float] = field(default_factory=list)  # total, direct messages only
    channel: list[float] = field(default_factory=list)  # total, guild channels only
    missing: int = 0
    messages: int = 0  # every message the emulator stored: more than the alerts would be one posted twice


def latencies(market: Market, seen: Seen) -> Latencies:
    """Match each alert row to the message the emulator stored for it; return the times."""
    rows = market.repo.conn.execute(
        "SELECT status, target, created_at, remote_id FROM outbox WHERE kind = 'alert'"
    ).fetchall()
    found = Latencies(messages=len(seen.at))
    for status, target, created_at, remote_id in rows:
        message_id = int(str(remote_id).rsplit("/", 1)[-1]) if remote_id else None
        if status != "delivered" or message_id not in seen.at:
            found.missing += 1
            continue
        at = seen.at[message_id]
        found.total.append(float(at - created_at))
        found.after_commit.append(float(at - market.committed.get(created_at, created_at)))
        (found.dm if str(target).startswith("user:") else found.channel).append(float(at - created_at))
    return found


async def wait_delivered(repo: Repo, expected: int, deadline_s: float) -> None:
    """Wait until ``expected`` alert rows are delivered, or the deadline passes."""
    ends = time.monotonic() + deadline_s
    query = "SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND status = 'delivered'"
    while time.monotonic() < ends:
        if repo.conn.execute(query).fetchone()[0] >= expected:
            return
        await asyncio.sleep(0.25)


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q`` quantile (0-1) of ``values``, nearest rank (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


# --- the clusters ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_schema(url: str) -> Iterator[tuple[str, str]]:
    """Create an empty schema; yield (its name, a URL using it); drop it afterwards."""
    schema = f"bench_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        joiner = "&" if "?" in url else "?"
        yield schema, f"{url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def cluster_config(path: Path, emu: DiscordEmulator, url: str, redis_url: str) -> Path:
    """Write the clusters' config file: the database, the emulator, the shared limit, no grouping wait."""
    path.write_text(
        f'symbols = ["BTCUSDT"]\n[storage]\nurl = "{url}"\n[engine]\ngroup_window_seconds = 0\n'
        f'[discord]\napi_base = "{emu.api_base}"\ngateway_url = "{emu.gateway_url}"\n'
        f'shared_rate_url = "{redis_url}"\n',
        encoding="utf-8",
    )
    return path


@dataclass(slots=True)
class Cluster:
    """One ``tripwire run --role discord`` child process and what it printed."""

    shard: int
    process: asyncio.subprocess.Process
    ready: asyncio.Event
    log: list[str]
    reader: asyncio.Task[None] | None = None


async def start_cluster(config: Path, token: str, shard: int, count: int) -> Cluster:
    """Start the cluster of shard ``shard`` of ``count``; its log is read as it comes."""
    env = {**os.environ, "TRIPWIRE_DISCORD_TOKEN": token, "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config),
        "--role", "discord", "--shards", str(shard), "--shard-count", str(count),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    cluster = Cluster(shard, process, asyncio.Event(), [])
    cluster.reader = asyncio.create_task(read_log(cluster))
    return cluster


async def read_log(cluster: Cluster) -> None:
    """Keep the last lines of a cluster's log; set ``ready`` when it says it is."""
    assert cluster.process.stderr is not None
    async for raw in cluster.process.stderr:
        line = raw.decode(errors="replace").rstrip()
        cluster.log = [*cluster.log[-40:], line]
        if "Discord cluster of" in line and " ready in " in line:
            cluster.ready.set()


async def wait_ready(clusters: Sequence[Cluster], within_s: float) -> None:
    """Wait for every cluster to say it is ready; raise with its log when one exits or the time is up."""
    ends = time.monotonic() + within_s
    for cluster in clusters:
        while not cluster.ready.is_set():
            if cluster.process.returncode is not None or time.monotonic() > ends:
                raise RuntimeError(f"cluster {cluster.shard} did not start:\n" + "\n".join(cluster.log[-20:]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(cluster.ready.wait(), 0.5)


def memory_of(pid: int) -> tuple[float, float]:
    """Return (VmRSS, VmHWM) of a process in MB, from /proc."""
    found = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key = line.split(maxsplit=1)[0] if line.strip() else ""
            if key in found:
                found[key] = int(line.split()[1]) / 1024
    return found["VmRSS:"], found["VmHWM:"]


async def stop_clusters(clusters: Sequence[Cluster]) -> None:
    """Stop every cluster with SIGTERM (its orderly shutdown), killing one that does not end."""
    for cluster in clusters:
        if cluster.process.returncode is None:
            cluster.process.terminate()
    for cluster in clusters:
        try:
            await asyncio.wait_for(cluster.process.wait(), 30)
        except TimeoutError:
            cluster.process.kill()
            await cluster.process.wait()
        if cluster.reader is not None:
            with contextlib.suppress(Exception):
                await cluster.reader


def database_size_mb(url: str, schema: str) -> tuple[float, list[tuple[str, float]]]:
    """Return the schema's tables' total size in MB and the largest three."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename, pg_total_relation_size(format('%%I.%%I', schemaname, tablename))"
            " FROM pg_tables WHERE schemaname = %s ORDER BY 2 DESC",
            (schema,),
        ).fetchall()
    sizes = [(name, size / 2**20) for name, size in rows]
    return sum(s for _, s in sizes), sizes[:3]


@dataclass(slots=True)
class Result:
    """What one run measured."""

    latency: Latencies
    fired: int
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)  # process -> (rss, peak) MB
    db_mb: float = 0.0
    largest: list[tuple[str, float]] = field(default_factory=list)
    load_rss_mb: float = 0.0
    load_s: float = 0.0
    start_s: float = 0.0


async def scaled_out(size: Size, pg_url: str, redis_url: str, deadline_s: float) -> Result:
    """Run the clusters, the engine and the emulator; return the figures."""
    plan = make_plan(size, wall_ms())
    with scratch_schema(pg_url) as (schema, url), tempfile.TemporaryDirectory() as tmp:
        market = await asyncio.to_thread(start_market, url, plan)
        progress(f"PostgreSQL: {size.rules:,} rules stored and loaded in {market.load_s:.1f} s")
        seen = Seen()
        async with DiscordEmulator(world(plan, range(size.guilds), size.clusters)) as emu:
            emu.world.message_listeners.append(seen)
            config = cluster_config(Path(tmp) / "cluster.toml", emu, url, redis_url)
            began = time.monotonic()
            clusters = [
                await start_cluster(config, emu.config.token, i, size.clusters) for i in range(size.clusters)
            ]
            try:
                await wait_ready(clusters, within_s=max(120.0, size.guilds / 20))
                start_s = time.monotonic() - began
                progress(f"{size.clusters} clusters ready in {start_s:.1f} s")
                fired = await play(market, plan)
                await wait_delivered(market.repo, fired, deadline_s)
                progress(f"{fired} alerts recorded and delivered")
                found = latencies(market, seen)
                memory = {f"cluster of shard {c.shard}": memory_of(c.process.pid) for c in clusters}
            finally:
                await stop_clusters(clusters)
            memory["engine + emulator (bench process)"] = memory_of(os.getpid())
        market.repo.close()
        db_mb, largest = database_size_mb(url, schema)
    return Result(found, fired, memory, db_mb, largest, market.load_rss_mb, market.load_s, start_s)


async def single_process(size: Size, deadline_s: float) -> Result:
    """Run the same rules and price path on one SQLite bot in this process (the baseline)."""
    plan = make_plan(size, wall_ms())
    receiving = sorted({plan.guild_ids.index(r.guild_id) for r in plan.rules if r.id in plan.fire_step})  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        market = await asyncio.to_thread(start_market, str(Path(tmp) / "bench.db"), plan)
        progress(f"baseline: SQLite, {size.rules:,} rules stored and loaded in {market.load_s:.1f} s")
        config = parse_config({"symbols": ["BTCUSDT"], "engine": {"group_window_seconds": 0}})
        service = Service(market.repo, market.engine, config, wall_ms)
        seen = Seen()
        async with DiscordEmulator(world(plan, receiving, 1)) as emu:
            emu.world.message_listeners.append(seen)
            with patch_discord_py(emu):
                bot = TripwireBot(config, service, **client_options())
                async with connected_bot(bot, emu, timeout=60):
                    sink = DiscordSink(
                        bot,
                        market.repo,
                        market.engine,
                        wall_ms,
                        grouping=GroupingPolicy.from_config(config.engine),
                    )
                    dispatcher = OutboxDispatcher(market.repo, [sink], wall_ms)
                    stop = asyncio.Event()
                    runner = asyncio.create_task(dispatcher.run(stop, idle_seconds=0.05))
                    fired = await play(market, plan, dispatcher)
                    await wait_delivered(market.repo, fired, deadline_s)
                    progress(f"baseline: {fired} alerts recorded and delivered")
                    stop.set()
                    runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await runner
        found = latencies(market, seen)
        market.repo.close()
    return Result(found, fired, load_rss_mb=market.load_rss_mb, load_s=market.load_s)


def figures(size: Size, scaled: Result, single: Result) -> list[Figure]:
    """Return the figures of both runs and their ratios."""
    lat, base = scaled.latency, single.latency
    p50, p99 = percentile(lat.total, 0.5), percentile(lat.total, 0.99)
    b50, b99 = percentile(base.total, 0.5), percentile(base.total, 0.99)
    where = f"{size.clusters} clusters on PostgreSQL"
    out = [
        Figure(
            f"alerts delivered (of {size.alerts})",
            len(lat.total),
            "alerts",
            float(size.alerts),
            better="higher",
            note=f"engine recorded {scaled.fired}; {lat.missing} not delivered",
        ),
        Figure("  messages the emulator stored (none twice)", lat.messages, "messages", float(size.alerts)),
        Figure(f"alert-to-message p50, {where}", p50, "ms"),
        Figure(f"alert-to-message p99, {where}", p99, "ms"),
        Figure("alert-to-message p50, one SQLite process (baseline)", b50, "ms"),
        Figure("alert-to-message p99, one SQLite process (baseline)", b99, "ms"),
        Figure("  ratio p50: clusters / one process", p50 / b50 if b50 else 0.0, "x"),
        Figure("  ratio p99: clusters / one process", p99 / b99 if b99 else 0.0, "x"),
        Figure(
            f"  from the step's commit, p50, {where}",
            percentile(lat.after_commit, 0.5),
            "ms",
            note=f"p99 {percentile(lat.after_commit, 0.99):,.0f} ms",
        ),
        Figure(
            "  from the step's commit, p50, one process",
            percentile(base.after_commit, 0.5),
            "ms",
            note=f"p99 {percentile(base.after_commit, 0.99):,.0f} ms",
        ),
        Figure(
            f"  direct messages ({len(lat.dm)}, all by shard 0) p50",
            percentile(lat.dm, 0.5),
            "ms",
            note=f"p99 {percentile(lat.dm, 0.99):,.0f} ms",
        ),
        Figure(
            f"  guild channels ({len(lat.channel)}) p50",
            percentile(lat.channel, 0.5),
            "ms",
            note=f"p99 {percentile(lat.channel, 0.99):,.0f} ms",
        ),
    ]
    for name, (rss, peak) in scaled.memory.items():
        out.append(Figure(f"memory: {name}", rss, "MB", note=f"peak {peak:,.0f} MB"))
    out += [
        Figure(
            f"memory: engine grew by loading {size.rules:,} rules",
            scaled.load_rss_mb,
            "MB",
            note=f"PostgreSQL, {scaled.load_s:.1f} s with the first evaluation",
        ),
        Figure("  the same on SQLite (baseline)", single.load_rss_mb, "MB", note=f"{single.load_s:.1f} s"),
        Figure(
            "database size (PostgreSQL schema)",
            scaled.db_mb,
            "MB",
            note="largest: " + ", ".join(f"{n} {s:.1f}" for n, s in scaled.largest),
        ),
        Figure(f"clusters started and ready ({size.clusters})", scaled.start_s, "s"),
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the scaled-out bot and the single-process baseline; print the figures."""
    args_parser = parser(__doc__ or "")
    args_parser.add_argument("--guilds", type=int, default=FULL.guilds)
    args_parser.add_argument("--rules", type=int, default=FULL.rules)
    args_parser.add_argument("--symbols", type=int, default=FULL.symbols)
    args_parser.add_argument("--clusters", type=int, default=FULL.clusters, help="one shard each")
    args_parser.add_argument("--alerts", type=int, default=FULL.alerts)
    args_parser.add_argument("--steps", type=int, default=FULL.steps)
    args_parser.add_argument("--deadline", type=float, default=120.0, help="stop waiting for deliveries (s)")
    args = args_parser.parse_args(argv)
    size = SMOKE if args.smoke else Size(
        args.guilds, args.rules, args.symbols, args.clusters, args.alerts, args.steps, FULL.step_seconds
    )  # fmt: skip
    pg_url = os.environ.get("TRIPWIRE_BENCH_PG_URL", DEFAULT_PG_URL)
    redis_url = os.environ.get("TRIPWIRE_BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    print(f"machine: {machine()}")
    print(
        f"world: {size.guilds:,} SYNTHETIC guilds on {size.clusters} shards"
        f" ({size.guilds // size.clusters:,} each),"
        f" {size.rules:,} personal level_cross rules ({size.dm_share:.0%} by DM) over {size.symbols} symbols;"
        f" {size.alerts} alerts over {size.steps} steps {size.step_seconds:g} s apart; clusters:"
        f" `tripwire run --role discord` child processes; engine and emulator in this process"
    )
    try:
        psycopg.connect(pg_url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return 0 if report("scale_out", [Figure("skipped: no PostgreSQL", 0, "-", note=str(exc)[:80])]) else 1
    scaled = asyncio.run(scaled_out(size, pg_url, redis_url, args.deadline))
    single = asyncio.run(single_process(size, args.deadline))
    ok = report("scale_out", figures(size, scaled, single))
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
