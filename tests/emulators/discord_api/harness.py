"""Point discord.py at an emulator and run a bot against it with test-friendly client options.

Client options tests should use (see `client_options()`):
- guild_ready_timeout=0.1: on_ready fires once no GUILD_CREATE came for this long
  (state.py _delay_ready; default 2 s).
- heartbeat_timeout: how long the client waits for *any* frame before closing 4000 and RESUMEing
  (gateway.poll_event); keep it small when a test makes the gateway go silent.
- chunk_guilds_at_startup=False: the emulator sends every member anyway, but this avoids op 8 waits.
- before_identify_hook: every IDENTIFY but the first sleeps 5 s (client.py before_identify_hook), the
  max_concurrency window; BotRunner replaces it on the bot instance with a wait of the emulator's
  `config.gateway.identify_window` (none for a RemoteEmulator: `no_identify_delay`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import discord
import discord.gateway
import discord.http
import yarl

from .server import DiscordEmulator

ClientT = TypeVar("ClientT", bound=discord.Client)

#: Options for discord.Client / commands.Bot that keep tests fast against the emulator.
TEST_CLIENT_OPTIONS: dict[str, Any] = {
    "guild_ready_timeout": 0.1,
    "heartbeat_timeout": 5.0,
    "chunk_guilds_at_startup": False,
}


def client_options(**overrides: Any) -> dict[str, Any]:
    """Return TEST_CLIENT_OPTIONS with overrides applied."""
    return {**TEST_CLIENT_OPTIONS, **overrides}


class Endpoints(Protocol):
    """Anything with the two URLs discord.py needs: a DiscordEmulator or a RemoteEmulator."""

    @property
    def api_base(self) -> str:
        """Return the REST base, e.g. http://127.0.0.1:8765/api/v10."""

    @property
    def gateway_url(self) -> str:
        """Return the gateway websocket URL, e.g. ws://127.0.0.1:8765/."""


@dataclass(frozen=True)
class RemoteEmulator:
    """URLs and token of an emulator in another process (`python -m tests.emulators.discord_api`)."""

    api_base: str
    gateway_url: str
    token: str = "emulator-bot-token"


@contextlib.contextmanager
def patch_discord_py(emu: Endpoints) -> Iterator[None]:
    """Send discord.py's REST and gateway traffic to the emulator, restoring the real URLs afterwards.

    Route.BASE is read each time a Route is built (http.py Route.__init__), webhook/interaction calls
    included; DEFAULT_GATEWAY is used by DiscordWebSocket.from_client (a plain Client never GETs /gateway).
    """
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = emu.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


async def no_identify_delay(shard_id: int | None, *, initial: bool = False) -> None:
    """Replace Client.before_identify_hook, which sleeps 5 s before every IDENTIFY but the first."""
    return None


def identify_delay(seconds: float) -> Callable[..., Coroutine[Any, Any, None]]:
    """Return a before_identify_hook that waits `seconds` before every IDENTIFY but the first.

    discord.py waits 5 s, Discord's max_concurrency window (gateway.mdx "Rate Limiting"); an IDENTIFY
    sooner gets op 9 and discord.py tries again at once, so the wait must match the emulator's window.
    """

    async def hook(shard_id: int | None, *, initial: bool = False) -> None:
        if not initial:
            await asyncio.sleep(seconds)

    return hook


class BotRunner:
    """Log a bot in, run connect() in a task, wait for on_ready, and shut it down cleanly."""

    def __init__(
        self, bot: discord.Client, emu: DiscordEmulator | RemoteEmulator, *, token: str | None = None
    ) -> None:
        self.bot = bot
        self.token = token or (emu.token if isinstance(emu, RemoteEmulator) else emu.config.token)
        self.task: asyncio.Task[None] | None = None
        if isinstance(emu, DiscordEmulator):
            bot.before_identify_hook = identify_delay(emu.config.gateway.identify_window)  # type: ignore[method-assign]
        else:
            bot.before_identify_hook = no_identify_delay  # type: ignore[method-assign]

    async def start(self, *, wait_ready: bool = True, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Log in (GET /users/@me, /oauth2/applications/@me), connect, and wait until ready."""
        await self.bot.login(self.token)
        self.task = asyncio.create_task(self.bot.connect(reconnect=True), name="discord-emu-bot-connect")
        if wait_ready:
            await self.wait_ready(timeout)

    async def wait_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait for on_ready; if connect() ends first, raise what it raised."""
        assert self.task is not None
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, self.task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
            if self.task in done:
                self.task.result()
                raise RuntimeError("bot.connect() returned before the bot was ready")
            raise TimeoutError(f"bot not ready within {timeout}s")

    @property
    def connect_error(self) -> BaseException | None:
        """Return the exception connect() ended with, if it ended with one."""
        if self.task is None or not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def stop(self) -> BaseException | None:
        """Close the bot (websocket, HTTP session) and await connect(); return its exception, if any."""
        await self.bot.close()
        if self.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=5.0)
            except TimeoutError:
                self.task.cancel()
            except Exception as exc:  # the connect error is returned for the caller to judge
                return exc
        return self.connect_error


@contextlib.asynccontextmanager
async def connected_bot(
    bot: ClientT,
    emu: DiscordEmulator | RemoteEmulator,
    *,
    token: str | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> AsyncIterator[ClientT]:
    """Yield the bot logged in, connected and ready; close it afterwards and re-raise a connect() crash."""
    runner = BotRunner(bot, emu, token=token)
    try:
        await runner.start(timeout=timeout)
    except BaseException:
        await runner.stop()
        raise
    failed = False
    try:
        yield bot
    except BaseException:
        failed = True
        raise
    finally:
        error = await runner.stop()
        # An exception in an event parser escapes Client.connect() (state.py parsers are not guarded),
        # so a payload the emulator got wrong shows up here.
        if error is not None and not failed:
            raise error
