"""``tripwire replay --discord``: deliver a replay's alerts to Discord through the live bot's Discord sink.

The replay itself is unchanged (``bot.replay.pipeline.run_replay``): the same engine, outbox and dispatcher,
with the same ``DiscordSink`` the live bot uses, grouping and cap included, all on the simulated clock. A
plain discord.py client is enough to post (no slash commands are synced). Run on a database file, a
replay killed at any point and started again on it resumes: nothing is posted twice, nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import discord

from bot.alerts.engine import Engine
from bot.alerts.model import Router
from bot.alerts.routing import home_guild
from bot.config import Config, Secrets
from bot.discord.client import EndpointOverride, bot_intents
from bot.errors import UserError
from bot.notify.discord.sink import DiscordSink, Rate
from bot.notify.grouping import GroupingPolicy
from bot.notify.outbox import Sink
from bot.replay.pipeline import ReplaySummary, SimulatedClock, run_replay
from feeds.replay import RecordedData
from storage.repo import Repo

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0


class _EngineRules:
    """Hand rule refreshes to the replay's engine once it exists (the sink is built before it)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def refresh_rule(self, rule_id: str) -> None:
        """Reload a rule the sink switched off."""
        if self.engine is not None:
            self.engine.refresh_rule(rule_id)


def check_discord_targets(config: Config, repo: Repo) -> None:
    """Refuse a Discord replay that could post nothing: no routes, no home alert channel, no Discord rules.

    Routes are the config's ``[[routes]]``; the home server's alert channel is bot.alerts.routing's.
    """
    home = home_guild(config)
    settings = repo.guild_settings(home) if home is not None else None
    if config.routes or repo.rules(origin="discord") or (settings and settings.alert_channel_id):
        return
    raise UserError(
        "--discord: nothing would be posted; add [[routes]] to the config (a channel for the config's "
        "rules) or use a database holding rules created with /alert add"
    )


async def replay_to_discord(
    config: Config,
    secrets: Secrets,
    token: str,
    data: RecordedData,
    repo: Repo,
    other_sinks: Sequence[Sink],
    router_factory: Callable[[Repo], Router],
    *,
    client_options: dict[str, Any] | None = None,
    **replay_options: Any,
) -> ReplaySummary:
    """Connect to Discord, replay ``data`` delivering to it (and ``other_sinks``), then disconnect."""
    check_discord_targets(config, repo)
    endpoints = EndpointOverride(
        config.discord.api_base or secrets.discord_api_base,
        config.discord.gateway_url or secrets.discord_gateway_url,
    )
    endpoints.apply()
    # Posting needs no cache: no waiting 2 s for every GUILD_CREATE before READY.
    options: dict[str, Any] = {"guild_ready_timeout": 0.1, **(client_options or {})}
    client = discord.Client(intents=bot_intents(), allowed_mentions=discord.AllowedMentions.none(), **options)
    try:
        async with client:
            try:
                await client.login(token)
            except discord.LoginFailure:
                raise UserError("--discord: Discord refused the token (TRIPWIRE_DISCORD_TOKEN)") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise UserError(f"--discord: could not connect to Discord: {exc}") from None
            connection = asyncio.create_task(client.connect(), name="discord-connect")
            try:
                await _until_ready(client, connection)
                clock = SimulatedClock(0)
                rules = _EngineRules()
                sink = DiscordSink(
                    client,
                    repo,
                    rules,
                    clock,
                    ops_channel_id=config.discord.ops_channel_id,
                    nonce_window_s=config.discord.nonce_window_s,
                    global_rate=Rate(config.discord.global_rate_per_s, 1.0),
                    grouping=GroupingPolicy.from_config(config.engine),
                )

                def engine_ready(engine: Engine) -> None:
                    rules.engine = engine

                return await run_replay(
                    config,
                    data,
                    repo,
                    [*other_sinks, sink],
                    router_factory,
                    clock=clock,
                    on_engine=engine_ready,
                    **replay_options,
                )
            finally:
                await client.close()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await connection
    finally:
        endpoints.restore()


async def _until_ready(client: discord.Client, connection: asyncio.Task[None]) -> None:
    """Wait for the gateway's READY, or fail with why the connection ended."""
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait(
        {ready, connection}, timeout=CONNECT_TIMEOUT_S, return_when="FIRST_COMPLETED"
    )
    if ready in done:
        return
    ready.cancel()
    if connection in done:
        exc = connection.exception()
        raise UserError(f"--discord: could not connect to Discord: {exc or 'the connection closed'}")
    raise UserError(f"--discord: Discord did not answer within {CONNECT_TIMEOUT_S:.0f} s")
