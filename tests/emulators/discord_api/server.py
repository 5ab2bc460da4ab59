"""The emulator object: aiohttp app, middleware (record, faults, rate limits, auth) and the public API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from .driver import Driver, InteractionReply
from .faults import Fault, FaultInjector
from .gateway import Gateway
from .interactions_rest import InteractionApi
from .payloads import member_payload, role_payload, user_payload
from .ratelimit import CLOUDFLARE_BAN_BODY, Decision, InvalidRequestLimiter, RateLimiter
from .recording import BODY_KEY, RecordedPart, RecordedRequest, Recorder, parse_body
from .rest import API_PREFIX, RestApi, error_response, json_response
from .state import (
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    EmulatorConfig,
    StoredAttachment,
    StoredMessage,
    default_config,
)
from .world import ApiError, World

log = logging.getLogger(__name__)

# Routes that Discord serves without a bot token (the interaction token is the credential);
# GET /gateway is public too.
_TOKEN_ROUTES = ("/interactions/", "/webhooks/")
# Discord does not rate limit interaction callbacks through the bot's buckets.
_UNLIMITED_ROUTES = ("POST /interactions/{interaction_id}/{interaction_token}/callback",)
_MAJOR_PARAMS = ("channel_id", "guild_id", "webhook_id")


class DiscordEmulator:
    """A local Discord: REST under /api/v10, gateway websocket at /, control API under /_control."""

    def __init__(self, config: EmulatorConfig | None = None, *, log_messages: bool = False) -> None:
        self.config = config or default_config()
        self.world = World(self.config)
        self.recorder = Recorder()
        self.faults = FaultInjector()
        self.ratelimiter = RateLimiter(self.config.rate_limits)
        self.invalid_requests = InvalidRequestLimiter(self.config.rate_limits)
        self.gateway = Gateway(self)
        self.driver = Driver(self)
        self.served_429: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        # The Developer Portal's privileged-intent toggles (none by default); tests may change it live.
        self.allowed_privileged_intents = self.config.gateway.privileged_intents
        self._runner: web.AppRunner | None = None
        self._port = self.config.port
        self._changed: asyncio.Event | None = None
        self.world.message_listeners.append(self.gateway.on_message_event)
        if log_messages:
            self.world.message_listeners.append(_log_message)

    # -- lifecycle ---------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Return the aiohttp application with every route."""
        from .control import ControlApi

        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.add_routes(RestApi(self).routes())
        app.add_routes(InteractionApi(self).routes())
        app.add_routes(ControlApi(self).routes())
        app.add_routes(
            [
                web.get("/", self.gateway.handle),
                web.get("/_cdn/attachments/{c}/{a}/{f}", self._cdn),
                web.get("/_cdn/ephemeral-attachments/{c}/{a}/{f}", self._cdn),
            ]
        )
        return app

    async def start(self) -> DiscordEmulator:
        """Start listening (an ephemeral port unless the config names one)."""
        self._changed = asyncio.Event()
        self._runner = web.AppRunner(self.build_app(), handle_signals=False, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self.world.base_url = self.base_url
        log.info("Discord emulator listening on %s", self.base_url)
        return self

    async def stop(self) -> None:
        """Close gateway connections and stop the server."""
        self.gateway.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """Return the bound port."""
        return self._port

    @property
    def base_url(self) -> str:
        """Return http://host:port."""
        return f"http://{self.config.host}:{self._port}"

    @property
    def api_base(self) -> str:
        """Return the REST base to put in discord.http.Route.BASE."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Return the websocket URL to put in DiscordWebSocket.DEFAULT_GATEWAY (also resume_gateway_url)."""
        return f"ws://{self.config.host}:{self._port}/"

    # -- change notification -----------------------------------------------------------------------

    def notify(self) -> None:
        """Wake everything waiting in wait_until."""
        if self._changed is not None:
            self._changed.set()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until predicate() is true, re-checking after every change; raise TimeoutError."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            # The short cap re-checks conditions that change without a notify (e.g. time passing).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 0.05))

    # -- middleware --------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        path = request.path
        if path.startswith(("/_control", "/_cdn")):
            response: web.StreamResponse = await handler(request)
            return response
        api_path = path.removeprefix(API_PREFIX) if path.startswith(API_PREFIX + "/") else path
        raw = await request.read()
        body = parse_body(raw, request.headers.get("Content-Type", ""))
        request[BODY_KEY] = body
        resource = request.match_info.route.resource
        template = resource.canonical.removeprefix(API_PREFIX) if resource is not None else None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        record = RecordedRequest(
            method=request.method,
            path=api_path,
            route=f"{request.method} {template}" if template else None,
            query=dict(request.query),
            headers=headers,
            has_authorization="Authorization" in request.headers,
            json=body.json,
            parts=[RecordedPart(p.name, p.filename, p.content_type, p.data) for p in body.parts],
            at=time.monotonic(),
        )
        self.recorder.add(record)
        client = request.remote or "unknown"
        if path != "/" and self.invalid_requests.banned(client):
            # A banned client reaches nothing under /api/v10 (the gateway is another host on Discord).
            response = web.Response(status=429, text=CLOUDFLARE_BAN_BODY, content_type="text/html")
            # Cloudflare's page, not an API answer: exempt from the OpenAPI check like a fault's body.
            record.response_faked = True
        else:
            try:
                response = await self._serve(request, handler, record)
            except ApiError as error:
                response = error_response(error)
            if path != "/":
                scope = response.headers.get("X-RateLimit-Scope")
                self.invalid_requests.record(client, response.status, scope)
        record.status = response.status
        record.response_headers = dict(response.headers)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            record.response_body = response.body
        if response.status == 429:
            self.served_429.append(record)
        self.notify()
        return response

    async def _serve(
        self, request: web.Request, handler: Callable[[web.Request], Any], record: RecordedRequest
    ) -> web.StreamResponse:
        fault = self.faults.take(request.method, record.path)
        if fault is not None:
            record.injected = True
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                record.response_faked = True
                return _fault_response(fault)
        if request.match_info.http_exception is not None:
            self.unhandled.append(record)
            status = request.match_info.http_exception.status
            return json_response(
                {"message": f"{status}: {request.match_info.http_exception.reason}", "code": 0}, status
            )
        if record.path == "/":
            response: web.StreamResponse = await handler(request)
            return response
        assert record.route is not None
        template = record.route.split(" ", 1)[1]
        if not template.startswith(_TOKEN_ROUTES) and template != "/gateway":
            expected = f"Bot {self.config.token}"
            if request.headers.get("Authorization") != expected:
                return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        limit_headers: dict[str, str] = {}
        if record.route not in _UNLIMITED_ROUTES:
            decision = self._rate_limit(request, record)
            if not decision.allowed:
                return _rate_limited_response(decision)
            limit_headers = decision.headers
        try:
            response = await handler(request)
        except ApiError as error:
            response = error_response(error)
        response.headers.update(limit_headers)
        return response

    def _rate_limit(self, request: web.Request, record: RecordedRequest) -> Decision:
        """Count a request against its route's bucket (per major parameters) and the global limit."""
        assert record.route is not None
        major = ":".join(request.match_info.get(k, "") for k in _MAJOR_PARAMS)
        if "webhook_token" in request.match_info:
            major += ":" + request.match_info["webhook_token"]
        return self.ratelimiter.check(record.route, major, counts_global=record.has_authorization)

    async def _cdn(self, request: web.Request) -> web.Response:
        """Serve uploaded attachment bytes (Attachment.url points here, so Attachment.read() works)."""
        att_id = int(request.match_info["a"]) if request.match_info["a"].isdigit() else -1
        upload = self.world.uploads.get(att_id)
        if upload is not None:
            return web.Response(
                body=upload.data, content_type=upload.content_type or "application/octet-stream"
            )
        for msg in self.world.messages.values():
            for att in msg.attachment_files:
                if att.id == att_id:
                    return web.Response(
                        body=att.data, content_type=att.content_type or "application/octet-stream"
                    )
        return web.Response(status=404, text="Not Found")

    # -- recording and assertions ------------------------------------------------------------------

    def requests_matching(
        self, method: str | None = None, path: str | None = None, *, status: int | None = None
    ) -> list[RecordedRequest]:
        """Return recorded requests by method, path pattern ("/channels/*/messages") and status."""
        return self.recorder.matching(method, path, status=status)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Return every request in arrival order."""
        return self.recorder.requests

    @property
    def count_429(self) -> int:
        """Return how many 429 responses were served (rate limits and injected ones)."""
        return len(self.served_429)

    def messages_in(
        self, channel_id: int, *, include_deleted: bool = False, include_ephemeral: bool = False
    ) -> list[StoredMessage]:
        """Return the messages in a channel in send order (ephemeral/deleted ones on request)."""
        return self.world.messages_in(
            channel_id, include_deleted=include_deleted, include_ephemeral=include_ephemeral
        )

    def dm_messages_to(self, user_id: int) -> list[StoredMessage]:
        """Return the messages the bot delivered in its DM channel with a user."""
        channel_id = self.world.dm_channels.get(user_id)
        return [] if channel_id is None else self.world.messages_in(channel_id)

    def message(self, message_id: int) -> StoredMessage:
        """Return a stored message by id (deleted ones too)."""
        return self.world.messages[message_id]

    def commands_synced(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Return the commands last PUT for a guild (or global when guild_id is None)."""
        return list(self.world.commands.get(guild_id, []))

    # -- faults ------------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
        retry_after: float = 0.5,
        is_global: bool = False,
        via: bool = True,
        raw_body: str | None = None,
        scope: str | None = None,
    ) -> Fault:
        """Answer the next `times` requests matching method + path pattern with `status`.

        For a 429, `scope="shared"` makes it a per-resource limit (rate-limits.mdx "Example Exceeded
        Resource Rate Limit Response"), which is not counted toward the invalid-request limit.
        """
        return self.faults.add(
            Fault(
                method=method.upper(),
                path=path,
                times=times,
                status=status,
                code=code,
                message=message,
                retry_after=retry_after,
                is_global=is_global,
                via=via,
                raw_body=raw_body,
                scope=scope,
            )
        )

    def delay_next(self, method: str, path: str, seconds: float, *, times: int = 1) -> Fault:
        """Hold the next `times` matching requests for `seconds` before serving them normally."""
        return self.faults.add(Fault(method=method.upper(), path=path, times=times, delay=seconds))

    def gateway_reconnect(self) -> None:
        """Send op 7 RECONNECT on the live gateway connections."""
        self.gateway.reconnect()

    def gateway_invalidate(self, resumable: bool = False) -> None:
        """Send op 9 INVALID SESSION with d=resumable."""
        self.gateway.invalidate(resumable)

    def gateway_close(self, code: int, reason: str = "") -> None:
        """Close the live gateway connections with a close code (4000, 4004, 4009, ...)."""
        self.gateway.close(code, reason)

    def gateway_request_heartbeat(self) -> None:
        """Send op 1 (a heartbeat request) on the live connections; the client must heartbeat at once."""
        self.gateway.request_heartbeat()

    def gateway_stop_acking(self) -> None:
        """Stop sending HEARTBEAT_ACK on the live connections."""
        self.gateway.stop_acking()

    def gateway_go_silent(self) -> None:
        """Send nothing more on the live connections (the client times out after heartbeat_timeout)."""
        self.gateway.go_silent()

    # -- world changes -----------------------------------------------------------------------------

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """Remove a member (they left or were kicked) and dispatch GUILD_MEMBER_REMOVE."""
        guild = self.world.guilds[guild_id]
        member = guild.member(user_id)
        if member is None:
            raise LookupError(f"user {user_id} is not in guild {guild_id}")
        guild.members.remove(member)
        self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(guild_id), "user": user_payload(member.user)}
        )

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel (later sends give 404 10003) and dispatch CHANNEL_DELETE."""
        channel = self.world.channels[channel_id]
        data = self.world.channel_json(channel)
        channel.deleted = True
        self.gateway.dispatch("CHANNEL_DELETE", data)

    def set_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0, member: bool = False
    ) -> None:
        """Set a channel overwrite for a role (the guild id is @everyone) or a member; CHANNEL_UPDATE.

        allow = deny = 0 removes it. Takes effect at once for REST and for interaction payloads.
        """
        kind = MEMBER_OVERWRITE if member else ROLE_OVERWRITE
        channel = self.world.set_overwrite(channel_id, target_id, allow=allow, deny=deny, kind=kind)
        self.gateway.dispatch("CHANNEL_UPDATE", self.world.channel_json(channel))

    def set_role_permissions(self, guild_id: int, role_id: int, permissions: int) -> None:
        """Change a role's permissions (guild id: @everyone) and dispatch GUILD_ROLE_UPDATE."""
        role = self.world.set_role_permissions(guild_id, role_id, permissions)
        data = {"guild_id": str(guild_id), "role": role_payload(role, self.config.bot.id)}
        self.gateway.dispatch("GUILD_ROLE_UPDATE", data)

    def set_bot_permissions(self, guild_id: int, permissions: int) -> None:
        """Change the permissions of the bot's managed role in a guild (GUILD_ROLE_UPDATE)."""
        guild = self.world.guilds[guild_id]
        self.set_role_permissions(guild_id, guild.bot_role().id, permissions)

    def user_message(self, channel_id: int, user_id: int, content: str) -> StoredMessage:
        """Post a message as a user (dispatches MESSAGE_CREATE, e.g. for prefix commands)."""
        author = self.world.user(user_id)
        msg = self.world.build_message(channel_id, {"content": content}, [], author=author, source="user")
        self.world.add_message(msg)
        self.notify()
        return msg

    # -- driving the bot ---------------------------------------------------------------------------

    async def slash(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any] | None = None,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        permissions: int | str | None = None,
        in_dm: bool = False,
        timeout: float = 5.0,  # noqa: ASYNC109
        wait_for_followup: bool = True,
        check_permissions: bool = True,
    ) -> InteractionReply:
        """Invoke "/name [group] [sub]" with options as a user; return what that user sees."""
        return await self.driver.slash(
            name,
            options,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            permissions=permissions,
            in_dm=in_dm,
            timeout=timeout,
            wait_for_followup=wait_for_followup,
            check_permissions=check_permissions,
        )

    def upload(self, filename: str, data: bytes, content_type: str | None = None) -> StoredAttachment:
        """Attach a file as a user does to an ATTACHMENT option; pass the result as the option's value."""
        return self.world.upload(filename, data, content_type)

    async def autocomplete(
        self,
        name: str | Sequence[str],
        options: Mapping[str, Any],
        focused: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Type into an autocomplete option; return the offered choices [{"name", "value"}]."""
        return await self.driver.autocomplete(
            name, options, focused, guild_id=guild_id, channel_id=channel_id, user_id=user_id, timeout=timeout
        )

    async def click(
        self,
        message: InteractionReply | StoredMessage | int,
        custom_id: str,
        *,
        user_id: int | None = None,
        values: Sequence[str] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        wait_for_followup: bool = True,
    ) -> InteractionReply:
        """Click a component on a message (defaults to the user who invoked the command)."""
        return await self.driver.click(
            message,
            custom_id,
            user_id=user_id,
            values=values,
            timeout=timeout,
            wait_for_followup=wait_for_followup,
        )


def _rate_limited_response(decision: Decision) -> web.Response:
    """Return the 429 of a refused request, with its rate-limit headers."""
    body: dict[str, Any] = {
        "message": "You are being rate limited.",
        "retry_after": decision.retry_after,
        "global": decision.is_global,
    }
    if decision.is_global:
        body["code"] = 0
    # discord.py (http.py HTTPClient.request) only treats a 429 with a Via header as a rate limit.
    return json_response(body, 429, {**decision.headers, "Via": "1.1 google"})


def _fault_response(fault: Fault) -> web.Response:
    """Build the response for an injected fault."""
    status = fault.status or 500
    headers: dict[str, str] = {}
    if fault.raw_body is not None:
        return web.Response(status=status, text=fault.raw_body, content_type="text/html")
    if status == 429:
        scope = fault.scope or ("global" if fault.is_global else "user")
        default = (
            "The resource is being rate limited." if scope == "shared" else "You are being rate limited."
        )
        body: dict[str, Any] = {
            "message": fault.message or default,
            "retry_after": fault.retry_after,
            "global": fault.is_global,
        }
        headers["Retry-After"] = str(max(1, int(fault.retry_after + 0.999)))
        headers["X-RateLimit-Scope"] = scope
        if fault.is_global:
            headers["X-RateLimit-Global"] = "true"
        if fault.via:
            headers["Via"] = "1.1 google"
        return json_response(body, status, headers)
    if fault.code is not None:
        return error_response(ApiError(status, fault.code, fault.message))
    return json_response({"message": fault.message or f"{status}: injected fault", "code": 0}, status)


def _log_message(event: str, message: StoredMessage) -> None:
    """Log a message event in readable form (for the standalone CLI)."""
    from .render import describe_message

    log.info("%s %s", event, describe_message(message))


__all__ = ["DiscordEmulator", "member_payload"]
