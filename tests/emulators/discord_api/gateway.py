"""The gateway websocket: HELLO, IDENTIFY/READY, heartbeats, RESUME with replay, dispatches and faults.

It enforces what developers/events/gateway.mdx and topics/opcodes-and-status-codes.mdx document: close
codes 4002 (undecodable or over 4,096 bytes), 4008 (over 120 events per 60 s), 4010-4014 (shard, sharding,
version, intents), op 9 for IDENTIFYs over max_concurrency, the daily session-start budget, closing a
connection that stops heartbeating, sessions ended by a client close with 1000/1001 or by idling, and
zlib-stream transport compression. The limits live in `config.gateway` (gateway_config.py).

Sharding ("Sharding"): a session identified with `shard: [shard_id, num_shards]` holds the guilds whose
`(guild_id >> 22) % num_shards` is its shard_id. READY lists only those guilds, GUILD_CREATE follows for
them only, and every guild event (interactions, messages, channel, role and member changes) goes only to
the sessions holding its guild; an event without a guild (a DM, a DM interaction) goes to shard 0 only.
Several sessions may hold the same shard (the document allows it): each gets the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import importlib
import itertools
import json
import logging
import secrets
import time
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .gateway_config import DEFINED_INTENTS, PRIVILEGED_INTENTS, GatewayConfig
from .gateway_limits import IdentifyLimits
from .payloads import guild_create_payload, guild_members, member_payload, user_payload
from .state import DM, GuildConfig, MemberConfig, StoredMessage

if TYPE_CHECKING:
    from .server import DiscordEmulator

log = logging.getLogger(__name__)

# Opcodes (Discord "Gateway Opcodes"; discord/gateway.py DiscordWebSocket constants).
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALIDATE_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# Intents (discord/flags.py Intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
__all__ = ["PRIVILEGED_INTENTS", "Gateway"]

# Close codes after which Discord will not accept a RESUME of the session.
_SESSION_ENDING_CLOSES = {4007, 4009}
# A client closing with these invalidates its session (gateway.mdx "Initiating a Disconnect").
_CLIENT_ENDING_CLOSES = {1000, 1001}

try:  # zstd-stream needs the zstandard package, as in discord.py (utils._ZSTD_SOURCE)
    zstandard: Any = importlib.import_module("zstandard")
except ImportError:  # pragma: no cover - depends on the environment
    zstandard = None

_EVENT_INTENTS = {
    "GUILD_CREATE": GUILDS,
    "GUILD_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
}


def event_guild(event: str, data: Any) -> int | None:
    """Return the guild an event belongs to (None: it has none, so it goes to shard 0).

    A guild object's own id is the guild (GUILD_CREATE/UPDATE/DELETE); any other event names it in
    `guild_id` when it has one (gateway-events.mdx).
    """
    if not isinstance(data, dict):
        return None
    raw = data.get("id") if event.startswith("GUILD_") and "guild_id" not in data else data.get("guild_id")
    return int(raw) if raw is not None else None


@dataclass
class GatewayEvent:
    """A dispatched event kept for replay on RESUME."""

    seq: int
    t: str
    d: Any


@dataclass
class ResumeRecord:
    """One successful RESUME: which session, from which sequence, and the events replayed."""

    session_id: str
    seq: int
    replayed: list[str]


@dataclass
class ReceivedOp:
    """A frame the client sent (the IDENTIFY/RESUME token is replaced by a marker)."""

    connection: int
    op: int | None
    d: Any


class Connection:
    """One websocket; frames go through a queue so they leave in the order they were produced."""

    def __init__(self, number: int, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.number = number
        self.ws = ws
        self.query = query
        self.queue: asyncio.Queue[dict[str, Any] | tuple[int, str] | None] = asyncio.Queue()
        self.session: Session | None = None
        self.acking = True
        self.silent = False
        self.heartbeats = 0
        self.heartbeat_requests = 0
        self.last_heartbeat = time.monotonic()
        self.received_at: deque[float] = deque()
        self.closed = False
        # The close code the emulator sent, once it decided to close (later frames are ignored).
        self.server_close_code: int | None = None
        self.client_close_code: int | None = None
        self.frames_sent = 0
        self.compressed_frames = 0
        # Transport compression (gateway.mdx "Transport Compression"): one context per connection.
        self.compression = query.get("compress")
        self._zlib = zlib.compressobj() if self.compression == "zlib-stream" else None
        self._zstd: Any = None
        if self.compression == "zstd-stream" and zstandard is not None:
            self._zstd = zstandard.ZstdCompressor().compressobj()

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a JSON frame."""
        if not self.closed:
            self.queue.put_nowait(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close with this code after the frames already queued."""
        if not self.closed and self.server_close_code is None:
            self.server_close_code = code
            self.queue.put_nowait((code, reason))

    @property
    def closing(self) -> bool:
        """Return whether the emulator has decided to close this connection."""
        return self.closed or self.server_close_code is not None

    def encode(self, frame: dict[str, Any]) -> str | bytes:
        """Return a frame as TEXT JSON, or compressed BINARY when the URL asked for it.

        zlib-stream: one zlib context for the whole connection, each message ended by Z_SYNC_FLUSH
        (`00 00 ff ff`), which is where discord.py (utils._ZlibDecompressionContext) inflates.
        zstd-stream: one zstd context, each message a flushed block (utils._ZstdDecompressionContext).
        """
        text = json.dumps(frame)
        if self._zlib is not None:
            return self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            block = self._zstd.compress(text.encode()) + self._zstd.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            return bytes(block)
        # Assumption: an unknown `compress` value (or zstd-stream without zstandard installed here) gets
        # plain text frames; the documents do not say what Discord does with one.
        return text

    async def writer(self) -> None:
        """Send queued frames in order; close when a close is queued."""
        while True:
            item = await self.queue.get()
            if item is None:
                return
            try:
                if isinstance(item, tuple):
                    await self.ws.close(code=item[0], message=item[1].encode())
                    return
                if not self.silent:
                    data = self.encode(item)
                    if isinstance(data, bytes):
                        await self.ws.send_bytes(data)
                        self.compressed_frames += 1
                    else:
                        await self.ws.send_str(data)
                    self.frames_sent += 1
            except (ConnectionResetError, RuntimeError) as exc:
                log.debug("gateway connection %s: send failed: %s", self.number, exc)
                return


@dataclass
class Session:
    """A gateway session: survives reconnects until invalidated."""

    id: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    events: list[GatewayEvent] = field(default_factory=list)
    conn: Connection | None = None
    invalidated: bool = False
    # When the session lost its last connection (time.monotonic), for the idle timeout.
    detached_at: float | None = None
    # (shard_id, num_shards) from IDENTIFY; (0, 1) for an unsharded session, which holds every guild.
    shard: tuple[int, int] = (0, 1)

    def holds(self, guild_id: int | None) -> bool:
        """Return whether this session gets a guild's events (None: an event without a guild, shard 0's)."""
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class Gateway:
    """Serve the gateway websocket for the emulator and expose its faults and records."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self._numbers = itertools.count(1)
        self.received: list[ReceivedOp] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[ResumeRecord] = []
        self.presence_updates: list[dict[str, Any]] = []
        self.client_close_codes: list[int | None] = []
        self.heartbeat_interval_ms = emu.config.heartbeat_interval_ms
        self.limits = IdentifyLimits(emu.config.gateway)
        # IDENTIFYs answered with op 9 because of max_concurrency.
        self.identify_rejections = 0

    @property
    def config(self) -> GatewayConfig:
        """Return the live gateway limits (emu.config.gateway)."""
        return self.emu.config.gateway

    @property
    def compressed_frames(self) -> int:
        """Return how many frames were sent compressed over all connections."""
        return sum(c.compressed_frames for c in self.connections)

    @property
    def frames_sent(self) -> int:
        """Return how many frames were sent over all connections."""
        return sum(c.frames_sent for c in self.connections)

    # -- serving -----------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Run one websocket connection until either side closes it."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(next(self._numbers), ws, dict(request.query))
        self.connections.append(conn)
        writer = asyncio.create_task(conn.writer(), name=f"discord-emu-gateway-writer-{conn.number}")
        watchdog: asyncio.Task[None] | None = None
        if self._version_ok(conn):
            interval_ms = self.heartbeat_interval_ms
            conn.send({"op": HELLO, "d": {"heartbeat_interval": interval_ms}, "s": None, "t": None})
            conn.last_heartbeat = time.monotonic()
            watchdog = asyncio.create_task(
                self._watch_heartbeats(conn, interval_ms / 1000),
                name=f"discord-emu-gateway-heartbeat-watch-{conn.number}",
            )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_frame(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    # Clients may not send compressed or binary JSON (gateway.mdx "Using ETF Encoding";
                    # the emulator speaks JSON only).
                    conn.close(4002, "Error while decoding payload.")
                else:
                    break
        finally:
            conn.closed = True
            conn.client_close_code = ws.close_code
            self.client_close_codes.append(ws.close_code)
            session = self._detach(conn)
            if (
                session is not None
                and session.conn is None  # not resumed on another connection meanwhile
                and conn.server_close_code is None
                and ws.close_code in _CLIENT_ENDING_CLOSES
            ):
                # gateway.mdx "Initiating a Disconnect": closing with 1000/1001 invalidates the session.
                session.invalidated = True
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            conn.queue.put_nowait(None)
            try:
                await asyncio.wait_for(writer, timeout=2)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            self.emu.notify()
        return ws

    def _version_ok(self, conn: Connection) -> bool:
        """Close with 4012 when the `v` query names a version the gateway does not serve."""
        version = conn.query.get("v")
        # Assumption: without `v` Discord uses its default version (6, reference.mdx "API Versions").
        if version is None:
            return True
        if not version.isdigit() or int(version) not in self.config.api_versions:
            conn.close(4012, "Invalid API version.")
            return False
        return True

    def _version(self, conn: Connection) -> int:
        version = conn.query.get("v")
        return int(version) if version and version.isdigit() else 6

    async def _watch_heartbeats(self, conn: Connection, interval: float) -> None:
        """Close a connection whose client stops heartbeating (gateway.mdx "Heartbeat Interval").

        The session stays resumable: the document says the client is then "forced to Resume".
        """
        while not conn.closing:
            grace = self.config.heartbeat_grace
            if grace is None:
                return
            left = conn.last_heartbeat + interval + grace - time.monotonic()
            if left <= 0:
                log.info("gateway connection %s: heartbeat overdue, closing", conn.number)
                self._detach(conn)
                conn.close(self.config.heartbeat_timeout_close_code, "Heartbeat timed out.")
                return
            await asyncio.sleep(left)

    def _over_send_limit(self, conn: Connection) -> bool:
        """Count a client event; return True when it is over 120 per 60 s (gateway.mdx "Rate Limiting")."""
        now = time.monotonic()
        window = conn.received_at
        window.append(now)
        while window and window[0] <= now - self.config.send_window:
            window.popleft()
        return len(window) > self.config.send_limit

    def _on_frame(self, conn: Connection, text: str) -> None:
        frame = self._accept_frame(conn, text)
        if frame is None:
            return
        op, data = frame.get("op"), frame.get("d")
        logged = copy.deepcopy(data)
        if isinstance(logged, dict) and "token" in logged:
            logged["token"] = "<redacted>"
        self.received.append(ReceivedOp(conn.number, op, logged))
        self._on_op(conn, op, data)
        self.emu.notify()

    def _accept_frame(self, conn: Connection, text: str) -> dict[str, Any] | None:
        """Return a client frame decoded, or None when it is ignored or closes the connection."""
        if conn.closing:
            return None  # the emulator is closing this connection: Discord reads nothing more from it
        if self._over_send_limit(conn):
            self._detach(conn)
            conn.close(4008, "Rate limited.")
            return None
        if len(text.encode()) > self.config.max_payload_bytes:
            # gateway.mdx "Sending Events": a payload over 4096 bytes closes the connection with 4002.
            conn.close(4002, "Error while decoding payload.")
            return None
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict):  # not JSON, or JSON that is not an object
            conn.close(4002, "Error while decoding payload.")
            return None
        return frame

    def _on_op(self, conn: Connection, op: object, data: Any) -> None:
        """Act on one client opcode; before IDENTIFY or RESUME only a heartbeat is allowed."""
        if op == HEARTBEAT:
            self._heartbeat(conn)
        elif op == IDENTIFY:
            self._identify(conn, data or {})
        elif op == RESUME:
            self._resume(conn, data or {})
        elif conn.session is None:
            conn.close(4003, "Not authenticated.")
        elif op == PRESENCE:
            self.presence_updates.append(data)
        elif op == REQUEST_MEMBERS:
            self._members_chunk(conn.session, data or {})
        elif op == VOICE_STATE:
            pass
        else:
            conn.close(4001, "Unknown opcode.")

    def _heartbeat(self, conn: Connection) -> None:
        """Note a heartbeat and acknowledge it after `heartbeat_ack_delay` (a round trip)."""
        conn.heartbeats += 1
        conn.last_heartbeat = time.monotonic()
        delay = self.config.heartbeat_ack_delay
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._ack, conn)
        else:
            self._ack(conn)

    def _ack(self, conn: Connection) -> None:
        """Send HEARTBEAT_ACK, unless the test made the connection silent or not acking meanwhile."""
        if conn.acking and not conn.silent:
            conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})

    def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return
        if data.get("token") != self.emu.config.token:
            conn.close(4004, "Authentication failed.")
            return
        intents = self._intents(conn, data)
        if intents is None:
            return
        shard = self._shard(conn, data)
        if shard is None:
            return
        if not self.limits.concurrency_allows(shard[0]):
            # gateway.mdx "Rate Limiting": over max_concurrency per 5 s gets op 9. No session exists to
            # resume, so d is false (assumption: the document does not give d for this case).
            self.identify_rejections += 1
            conn.send({"op": INVALIDATE_SESSION, "d": False, "s": None, "t": None})
            return
        if self.limits.exhausted():
            self._session_budget_spent()
            return
        self.limits.start_session(shard[0])
        session = Session(id=secrets.token_hex(16), intents=intents, identify=data, shard=shard)
        self.sessions[session.id] = session
        conn.session, session.conn = session, conn
        logged = dict(data, token="<redacted>")
        self.identifies.append(logged)
        if data.get("presence"):
            self.presence_updates.append(data["presence"])
        config = self.emu.config
        me = user_payload(config.bot)
        me.update({"verified": True, "mfa_enabled": False, "flags": 0, "email": None})
        held = [g for g in self.emu.world.guilds.values() if session.holds(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": me,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in held],
            "session_id": session.id,
            "session_type": "normal",
            # discord.py (gateway.received_message) reconnects for RESUME to this URL.
            "resume_gateway_url": self.emu.gateway_url,
            "application": {"id": str(config.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
        }
        if "shard" in data:
            # AutoShardedConnectionState.parse_ready reads data['shard'][0].
            ready["shard"] = data["shard"]
        self._dispatch_to(session, "READY", ready)
        for guild in held:
            self._dispatch_to(session, "GUILD_CREATE", self.guild_payload(guild))

    def _intents(self, conn: Connection, data: dict[str, Any]) -> int | None:
        """Return the IDENTIFY's intents, or close with 4013/4014 (gateway.mdx "Gateway Intents")."""
        raw = data.get("intents")
        if raw is None:
            if self._version(conn) >= 8:  # "intents are mandatory" from API v8
                conn.close(4013, "Invalid intent(s).")
                return None
            raw = 0
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0 or raw & ~DEFINED_INTENTS:
            conn.close(4013, "Invalid intent(s).")
            return None
        intents = raw
        if intents & PRIVILEGED_INTENTS & ~self.emu.allowed_privileged_intents:
            conn.close(4014, "Disallowed intent(s).")
            return None
        return intents

    def _shard(self, conn: Connection, data: dict[str, Any]) -> tuple[int, int] | None:
        """Return (shard_id, num_shards), (0, 1) unsharded; or close with 4010/4011 ("Sharding")."""
        raw = data.get("shard", [0, 1])
        valid = (
            isinstance(raw, list)
            and len(raw) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
            and raw[1] >= 1
            and 0 <= raw[0] < raw[1]
        )
        if not valid:
            conn.close(4010, "Invalid shard.")
            return None
        shard_id, count = raw
        # Sharding formula: shard_id = (guild_id >> 22) % num_shards.
        guilds = sum(1 for g in self.emu.world.guilds if (g >> 22) % count == shard_id)
        if guilds > self.config.guilds_per_shard:
            conn.close(4011, "Sharding required.")
            return None
        return shard_id, count

    def _session_budget_spent(self) -> None:
        """Do what gateway.mdx says happens at the 1,000-IDENTIFY limit: sessions end, the token is reset.

        Assumption: the connections are closed with 4004 (the token they identified with is no longer
        valid); the document names no close code. REST calls with the old token then get 401.
        """
        log.warning("gateway: session start limit reached; ending all sessions and resetting the token")
        self.emu.config.token = "reset-" + secrets.token_hex(12)
        for session in self.sessions.values():
            session.invalidated = True
        for live in self._live():
            self._detach(live)
            live.close(4004, "Authentication failed.")

    def request_heartbeat(self) -> None:
        """Send op 1 on the live connections; the client must heartbeat at once ("Heartbeat Requests")."""
        for conn in self._live():
            conn.heartbeat_requests += 1
            conn.send({"op": HEARTBEAT, "d": None, "s": None, "t": None})

    def _expired(self, session: Session) -> bool:
        """Return whether a session is dead: invalidated, or without a connection for session_timeout."""
        if session.invalidated:
            return True
        idle = session.detached_at
        timeout = self.config.session_timeout
        if session.conn is None and idle is not None and time.monotonic() - idle > timeout:
            session.invalidated = True
        return session.invalidated

    def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.emu.config.token:
            conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or self._expired(session):
            # Discord answers a RESUME of a dead session with op 9 d=false; the client then IDENTIFYs.
            conn.send({"op": INVALIDATE_SESSION, "d": False, "s": None, "t": None})
            return
        seq = int(data.get("seq") or 0)
        if seq > session.seq:
            conn.close(4007, "Invalid seq.")
            return
        if session.conn is not None and session.conn is not conn:
            session.conn.close(4000, "Session resumed elsewhere.")
        conn.session, session.conn = session, conn
        session.detached_at = None
        missed = [e for e in session.events if e.seq > seq]
        for event in missed:
            conn.send({"op": DISPATCH, "t": event.t, "s": event.seq, "d": event.d})
        self.resumes.append(ResumeRecord(session.id, seq, [e.t for e in missed]))
        self._dispatch_to(session, "RESUMED", {})

    def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.emu.world.guilds.get(int(data.get("guild_id") or 0))
        if guild is None or not session.holds(guild.id):
            return  # a guild of another shard: this session has no say in it
        members = [member_payload(m) for m in self._members(guild)]
        chunk = {
            "guild_id": str(guild.id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", chunk)

    # -- dispatching -------------------------------------------------------------------------------

    def _members(self, guild: GuildConfig) -> list[MemberConfig]:
        return guild_members(guild, self.emu.config)

    def guild_payload(self, guild: GuildConfig) -> dict[str, Any]:
        """Return the GUILD_CREATE payload for a guild as it is now."""
        return guild_create_payload(guild, self.emu.world.guild_channels(guild.id), self.emu.config)

    def _dispatch_to(self, session: Session, event: str, data: Any) -> None:
        session.seq += 1
        session.events.append(GatewayEvent(session.seq, event, data))
        if session.conn is not None:
            session.conn.send({"op": DISPATCH, "t": event, "s": session.seq, "d": data})

    def dispatch(self, event: str, data: Any, *, intent: int | None = None) -> int:
        """Dispatch an event to every live session that holds its guild and whose intents include it.

        Return how many sessions got it.
        """
        needed = _EVENT_INTENTS.get(event, 0) if intent is None else intent
        guild_id = event_guild(event, data)
        count = 0
        for session in self.sessions.values():
            if self._expired(session) or (needed and not session.intents & needed):
                continue
            if not session.holds(guild_id):
                continue
            self._dispatch_to(session, event, copy.deepcopy(data))
            count += 1
        self.emu.notify()
        return count

    def on_message_event(self, event: str, message: StoredMessage) -> None:
        """Dispatch MESSAGE_CREATE/UPDATE/DELETE as Discord does (not for ephemeral messages)."""
        if message.ephemeral:
            return
        channel = self.emu.world.channels.get(message.channel_id)
        is_dm = channel is not None and channel.type == DM
        intent = DIRECT_MESSAGES if is_dm else GUILD_MESSAGES
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if channel is not None and channel.guild_id is not None:
                data["guild_id"] = str(channel.guild_id)
            self.dispatch(event, data, intent=intent)
            return
        payload = self.emu.world.gateway_message(message)
        guild_id = None if channel is None else channel.guild_id
        for session in self.sessions.values():
            if self._expired(session) or not session.intents & intent or not session.holds(guild_id):
                continue
            self._dispatch_to(session, event, self._content_filtered(session, payload, is_dm))
        self.emu.notify()

    def _content_filtered(self, session: Session, payload: dict[str, Any], is_dm: bool) -> dict[str, Any]:
        """Blank content fields without the MESSAGE_CONTENT intent, except where Discord still sends them."""
        data = copy.deepcopy(payload)
        bot_id = str(self.emu.config.bot.id)
        mentioned = any(u.get("id") == bot_id for u in data.get("mentions", []))
        if session.intents & MESSAGE_CONTENT or is_dm or mentioned or data["author"]["id"] == bot_id:
            return data
        data.update(content="", embeds=[], attachments=[], components=[])
        return data

    # -- faults ------------------------------------------------------------------------------------

    def _live(self) -> list[Connection]:
        return [c for c in self.connections if not c.closing]

    def reconnect(self) -> None:
        """Send op 7 RECONNECT; events dispatched until the client RESUMEs are kept for replay."""
        for conn in self._live():
            self._detach(conn)
            conn.send({"op": RECONNECT, "d": None, "s": None, "t": None})

    def invalidate(self, resumable: bool) -> None:
        """Send op 9 INVALID SESSION; resumable=False ends the session, so the client must IDENTIFY."""
        for conn in self._live():
            session = self._detach(conn)
            if session is not None and not resumable:
                session.invalidated = True
            conn.send({"op": INVALIDATE_SESSION, "d": resumable, "s": None, "t": None})

    def close(self, code: int, reason: str = "") -> None:
        """Close every connection with a close code (4007/4009 also end the session, as on Discord)."""
        for conn in self._live():
            session = self._detach(conn)
            if session is not None and code in _SESSION_ENDING_CLOSES:
                session.invalidated = True
            conn.close(code, reason)

    def stop_acking(self) -> None:
        """Stop answering heartbeats on the current connections (events still flow)."""
        for conn in self._live():
            conn.acking = False

    def go_silent(self) -> None:
        """Send nothing more on the current connections; the client times out and RESUMEs."""
        for conn in self._live():
            self._detach(conn)
            conn.silent = True

    def _detach(self, conn: Connection) -> Session | None:
        session = conn.session
        if session is not None and session.conn is conn:
            session.conn = None
            session.detached_at = time.monotonic()
        return session

    def shutdown(self) -> None:
        """Close all connections with 1001 (going away); aiohttp's runner cleanup waits for the handlers."""
        for conn in self._live():
            conn.close(1001, "Emulator stopping.")
