"""``tripwire launch``: the whole multi-process bot on one host, as child processes of this one.

It asks Discord how many shards the bot should run (``GET /gateway/bot``, the ``shards`` it recommends, and
``session_start_limit.max_concurrency``), splits them into clusters of contiguous shards, and runs
``tripwire run --role market`` (``--market-processes`` of them: one leads, the others stand by) and one
``tripwire run --role discord --shards A-B --shard-count N`` per cluster, supervised by
``bot.ops.supervisor`` (restarts with backoff, ordered stop). PostgreSQL only, as the roles are.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from dataclasses import dataclass
from typing import Any

from bot.config import Config, load_config, load_secrets
from bot.errors import UserError
from storage.pg_url import is_postgres_url

DISCORD_API = "https://discord.com/api/v10"
# Shards per cluster when --clusters is not given: discord.py runs many shards on one event loop, and 8
# shards (at most 20,000 guilds by Discord's 2,500 per shard) keep one process's memory and loop modest.
SHARDS_PER_CLUSTER = 8
# Discord lets max_concurrency shards IDENTIFY per 5 s (gateway.mdx, "Session Start Limit Object"): a
# cluster is started once the previous one's shards have had their turns.
IDENTIFY_WINDOW_S = 5.0
MARKET_GROUP, DISCORD_GROUP = 0, 1


@dataclass(frozen=True)
class GatewayBot:
    """What ``GET /gateway/bot`` recommends."""

    shards: int
    max_concurrency: int


@dataclass(frozen=True)
class Layout:
    """The processes to run: shard ranges per cluster and how many market processes."""

    shard_count: int
    clusters: list[tuple[int, int]]
    market_processes: int
    max_concurrency: int

    def commands(self, config_path: str) -> list[tuple[str, int, list[str]]]:
        """Return (name, stop group, argv) of every process, market role first."""
        base = [sys.executable, "-m", "bot", "run", "--config", config_path]
        found = [
            (f"market-{i + 1}", MARKET_GROUP, [*base, "--role", "market"])
            for i in range(self.market_processes)
        ]
        for first, last in self.clusters:
            shards = ["--shards", f"{first}-{last}", "--shard-count", str(self.shard_count)]
            found.append((f"discord-{first}-{last}", DISCORD_GROUP, [*base, "--role", "discord", *shards]))
        return found

    def start_gap_s(self, name: str) -> float:
        """Return how long to wait after starting ``name`` before the next process (IDENTIFY budget)."""
        if not name.startswith("discord-"):
            return 0.0
        first, last = (int(part) for part in name.removeprefix("discord-").split("-"))
        return math.ceil((last - first + 1) / self.max_concurrency) * IDENTIFY_WINDOW_S


def split_shards(shard_count: int, clusters: int) -> list[tuple[int, int]]:
    """Return ``clusters`` contiguous inclusive shard ranges covering 0..shard_count-1, as even as can be."""
    if not 1 <= clusters <= shard_count:
        raise UserError(f"--clusters must be between 1 and the shard count ({shard_count}), not {clusters}")
    size, extra = divmod(shard_count, clusters)
    ranges, first = [], 0
    for i in range(clusters):
        last = first + size + (1 if i < extra else 0) - 1
        ranges.append((first, last))
        first = last + 1
    return ranges


async def fetch_gateway_bot(api_base: str, token: str) -> GatewayBot:
    """Ask Discord for the recommended shard count and IDENTIFY concurrency of this bot."""
    import aiohttp

    url = api_base.rstrip("/") + "/gateway/bot"
    headers = {"Authorization": f"Bot {token}", "User-Agent": "DiscordBot (tripwire, launch)"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.get(url, headers=headers) as resp,
        ):
            body: Any = await resp.json(content_type=None) if resp.status == 200 else await resp.text()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise UserError(
            f"cannot reach Discord at {api_base} for /gateway/bot ({exc}); pass --shard-count"
        ) from exc
    if status == 401:
        raise UserError("Discord refused the bot token (401 on /gateway/bot): check TRIPWIRE_DISCORD_TOKEN")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("shards"), int):
        raise UserError(f"Discord answered /gateway/bot with {status}: {str(body)[:200]}; pass --shard-count")
    limit = body.get("session_start_limit") or {}
    return GatewayBot(int(body["shards"]), max(1, int(limit.get("max_concurrency", 1))))


def plan(args: argparse.Namespace, config: Config) -> Layout:
    """Return the layout the arguments and Discord's recommendation give."""
    secrets = load_secrets()
    concurrency = 1
    shard_count = args.shard_count
    token = secrets.token()
    if token is None and shard_count is None:
        raise UserError(
            "no Discord bot token to ask /gateway/bot: set TRIPWIRE_DISCORD_TOKEN or pass --shard-count"
        )
    if token is not None:
        # Asked even with --shard-count: max_concurrency paces the clusters' starts.
        api_base = config.discord.api_base or secrets.discord_api_base or DISCORD_API
        gateway = asyncio.run(fetch_gateway_bot(api_base, token))
        shard_count = shard_count or gateway.shards
        concurrency = gateway.max_concurrency
    assert shard_count is not None
    clusters = args.clusters or math.ceil(shard_count / SHARDS_PER_CLUSTER)
    return Layout(shard_count, split_shards(shard_count, clusters), args.market_processes, concurrency)


def cmd_launch(args: argparse.Namespace) -> int:
    """Run the market role and the Discord clusters as supervised child processes until SIGTERM/SIGINT."""
    config = load_config(args.config)
    if not isinstance(config.storage.database, str) or not is_postgres_url(config.storage.database):
        raise UserError(
            "tripwire launch runs the bot as several processes, which share a PostgreSQL database: set "
            '[storage] url = "postgresql://…" (README, "Scaling out"), or run one process with `tripwire run`'
        )
    layout = plan(args, config)
    commands = layout.commands(args.config)
    print(
        f"{layout.shard_count} shards in {len(layout.clusters)} clusters "
        f"({', '.join(f'{a}-{b}' for a, b in layout.clusters)}), {layout.market_processes} market processes, "
        f"IDENTIFY max_concurrency {layout.max_concurrency}"
    )
    if args.dry_run:
        for name, _group, argv in commands:
            print(f"{name}: {' '.join(argv)}")
        return 0
    return asyncio.run(_supervise(layout, commands))


async def _supervise(layout: Layout, commands: list[tuple[str, int, list[str]]]) -> int:
    from bot.ops.supervisor import Child, Supervisor

    supervisor = Supervisor(
        [Child(name, argv, group) for name, group, argv in commands],
        start_gap_s=lambda child: layout.start_gap_s(child.name),
    )
    supervisor.install_signal_handlers(asyncio.get_running_loop())
    return await supervisor.run()


def positive(text: str) -> int:
    """Parse a whole number of at least 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_config: str) -> None:
    """Add ``tripwire launch``."""
    launch = sub.add_parser(
        "launch",
        help="run the bot as several processes: the market role and the Discord clusters (PostgreSQL)",
    )
    launch.add_argument(
        "--config", "-c", default=default_config, help=f"config file (default {default_config})"
    )
    launch.add_argument(
        "--shard-count",
        type=positive,
        metavar="N",
        help="total shards (default: what Discord's /gateway/bot recommends)",
    )
    launch.add_argument(
        "--clusters",
        type=positive,
        metavar="N",
        help=f"Discord processes the shards are split into (default: one per {SHARDS_PER_CLUSTER} shards)",
    )
    launch.add_argument(
        "--market-processes",
        type=positive,
        metavar="N",
        default=2,
        help="market role processes: one leads, the others stand by (default 2)",
    )
    launch.add_argument("--dry-run", action="store_true", help="print the processes it would run and exit")
    launch.set_defaults(handler=cmd_launch)
