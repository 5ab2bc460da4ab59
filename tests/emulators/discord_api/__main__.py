"""Run the Discord emulator standalone: `python -m tests.emulators.discord_api --port 8765`.

It prints the REST base, the gateway URL and the environment variables the Tripwire bot reads, then logs
every message the bot posts in readable form until interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .server import DiscordEmulator
from .state import (
    ChannelConfig,
    EmulatorConfig,
    GuildConfig,
    MemberConfig,
    RateLimitRule,
    RoleConfig,
    default_config,
)

log = logging.getLogger("discord_emulator")


# Privileged intents by their Developer Portal names (gateway.mdx "Privileged Intents").
PRIVILEGED_INTENT_BITS = {"members": 1 << 1, "presences": 1 << 8, "message_content": 1 << 15}


def parse_rule(text: str) -> RateLimitRule:
    """Parse "LIMIT/SECONDS" (e.g. "5/5") into a rule."""
    limit, _, per = text.partition("/")
    return RateLimitRule(int(limit), float(per or 1))


def parse_guild(text: str, template: GuildConfig) -> GuildConfig:
    """Parse "ID:NAME[:chan1,chan2]" into a guild with the default members and roles."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[0].isdigit():
        raise argparse.ArgumentTypeError(f"--guild expects ID:NAME[:chan1,chan2], got {text!r}")
    guild_id, name = int(parts[0]), parts[1]
    names = parts[2].split(",") if len(parts) > 2 and parts[2] else ["alerts", "general"]
    # Ids derived from the guild id keep channels and roles unique across guilds.
    channels = [ChannelConfig(id=guild_id + 100 + i, name=n, position=i) for i, n in enumerate(names)]
    template_roles = [r for r in template.roles if r.id != template.id]  # @everyone is re-created per guild
    role_ids = {r.id: guild_id + 200 + i for i, r in enumerate(template_roles)}
    roles = [
        RoleConfig(id=role_ids[r.id], name=r.name, permissions=r.permissions, position=r.position)
        for r in template_roles
    ]
    members = [
        MemberConfig(user=m.user, roles=[role_ids[r] for r in m.roles if r in role_ids])
        for m in template.members
    ]
    return GuildConfig(
        id=guild_id, name=name, owner_id=template.owner_id, channels=channels, members=members, roles=roles
    )


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    """Return the emulator config for the command-line arguments."""
    config = default_config(host=args.host, port=args.port, token=args.token)
    config.heartbeat_interval_ms = args.heartbeat_ms
    config.gateway.heartbeat_ack_delay = args.heartbeat_ack_ms / 1000
    config.interaction_ack_timeout = None if args.ack_timeout <= 0 else args.ack_timeout
    config.rate_limits.enabled = not args.no_rate_limits
    config.rate_limits.message_create = parse_rule(args.message_rate)
    config.rate_limits.global_per_second = args.global_rate
    # The Developer Portal's privileged-intent toggles (all off unless named).
    config.gateway.privileged_intents = sum(PRIVILEGED_INTENT_BITS[name] for name in args.privileged_intent)
    if args.guild:
        template = config.guilds[0]
        config.guilds = [parse_guild(text, template) for text in args.guild]
    return config


def banner(emu: DiscordEmulator) -> str:
    """Return the start-up text: URLs, identities, how to point the bot here and send a command."""
    config = emu.config
    lines = [
        "Discord API emulator (discord.py 2.7.1 compatible) is running",
        f"  REST base     {emu.api_base}",
        f"  Gateway       {emu.gateway_url}",
        f"  Control API   {emu.base_url}/_control  (not under /api/v10)",
        f"  Bot           {config.bot.username} id={config.bot.id}  application id={config.application_id}",
        f"  Bot token     {config.token}  (emulator-only)",
    ]
    for guild in config.guilds:
        chans = ", ".join(f"#{c.name}={c.id}" for c in guild.channels)
        users = ", ".join(f"{m.user.username}={m.user.id}" for m in guild.members)
        lines += [
            f"  Guild         {guild.name} id={guild.id}",
            f"    channels    {chans}",
            f"    members     {users}",
        ]
    lines += [
        "",
        "Point the bot at it:",
        f"  export TRIPWIRE_DISCORD_API_BASE={emu.api_base}",
        f"  export TRIPWIRE_DISCORD_GATEWAY_URL={emu.gateway_url}",
        f"  export TRIPWIRE_DISCORD_TOKEN={config.token}",
        "  (in Python: discord.http.Route.BASE and discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,",
        "   see tests/emulators/discord_api/harness.py patch_discord_py)",
        "",
        "Send a slash command once the bot has synced its commands:",
        f"  python -m tests.emulators.discord_api.send_command --port {emu.port} /price symbol:BTCUSDT",
        "",
    ]
    return "\n".join(lines)


async def serve(config: EmulatorConfig) -> None:
    """Run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with DiscordEmulator(config, log_messages=True) as emu:
        print(banner(emu), flush=True)
        await stop.wait()
        log.info("stopping; %d requests served, %d responses 429", len(emu.requests), emu.count_429)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the emulator."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.discord_api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--token", default="emulator-bot-token", help="the bot token the emulator accepts")
    parser.add_argument(
        "--guild", action="append", help="ID:NAME[:chan1,chan2], repeatable (default: one test guild)"
    )
    parser.add_argument("--heartbeat-ms", type=int, default=41_250)
    parser.add_argument(
        "--heartbeat-ack-ms",
        type=float,
        default=50.0,
        help="hold each heartbeat ACK this long, a network round trip (0: at once, which makes discord.py "
        'log "Can\'t keep up ... behind")',
    )
    parser.add_argument(
        "--ack-timeout", type=float, default=3.0, help="seconds to answer an interaction; 0=off"
    )
    parser.add_argument("--message-rate", default="5/5", help="messages per channel, LIMIT/SECONDS")
    parser.add_argument("--global-rate", type=int, default=50, help="requests per second, all routes")
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument(
        "--privileged-intent",
        action="append",
        default=[],
        choices=sorted(PRIVILEGED_INTENT_BITS),
        help="switch on a privileged intent, as in the Developer Portal (members for members_intent = true)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="also log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    logging.getLogger("aiohttp.access").setLevel(logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(build_config(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
