"""The gateway websocket: HELLO, IDENTIFY/READY, heartbeats, RESUME with replay, dispatches and faults."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

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
PRIVILEGED_INTENTS = GUILD_MEMBERS | (1 << 8) | MESSAGE_CONTENT

# Close codes after which Discord will not accept a RESUME of the session.
_SESSION_ENDING_CLOSES = {4007, 4009}

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
        self.closed = False
        self.client_close_code: int | None = None

    def send(self, frame: dict[str, Any]) -> None:
        """Queue a JSON frame."""
        if not self.closed:
            self.queue.put_nowait(frame)

    def close(self, code: int, reason: str = "") -> None:
        """Queue a close with this code after the frames already queued."""
        if not self.closed:
            self.queue.put_nowait((code, reason))

    async def writer(self) -> None:
        """Send queued frames as plain TEXT JSON.

        discord.py (gateway.py received_message) only decompresses BINARY frames, so the `compress`
        query parameter can be ignored.
        """
        while True:
            item = await self.queue.get()
            if item is None:
                return
            try:
                if isinstance(item, tuple):
                    await self.ws.close(code=item[0], message=item[1].encode())
                    return
                if not self.silent:
                    await self.ws.send_str(json.dumps(item))
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

    # -- serving -----------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Run one websocket connection until either side closes it."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(next(self._numbers), ws, dict(request.query))
        self.connections.append(conn)
        writer = asyncio.create_task(conn.writer(), name=f"discord-emu-gateway-writer-{conn.number}")
        conn.send(
            {"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None, "t": None}
        )
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._on_frame(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    conn.close(4002, "Error while decoding payload.")
                else:
                    break
        finally:
            conn.closed = True
            conn.client_close_code = ws.close_code
            self.client_close_codes.append(ws.close_code)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.queue.put_nowait(None)
            try:
                await asyncio.wait_for(writer, timeout=2)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            self.emu.notify()
        return ws

    def _on_frame(self, conn: Connection, text: str) -> None:
        try:
            frame = json.loads(text)
            op = frame.get("op")
        except (ValueError, AttributeError):
            conn.close(4002, "Error while decoding payload.")
            return
        data = frame.get("d")
        logged = copy.deepcopy(data)
        if isinstance(logged, dict) and "token" in logged:
            logged["token"] = "<redacted>"
        self.received.append(ReceivedOp(conn.number, op, logged))
        if op == HEARTBEAT:
            conn.heartbeats += 1
            if conn.acking and not conn.silent:
                conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None})
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
        self.emu.notify()

    def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return
        if data.get("token") != self.emu.config.token:
            conn.close(4004, "Authentication failed.")
            return
        intents = int(data.get("intents") or 0)
        if intents & PRIVILEGED_INTENTS & ~self.emu.allowed_privileged_intents:
            conn.close(4014, "Disallowed intent(s).")
            return
        session = Session(id=secrets.token_hex(16), intents=intents, identify=data)
        self.sessions[session.id] = session
        conn.session, session.conn = session, conn
        logged = dict(data, token="<redacted>")
        self.identifies.append(logged)
        if data.get("presence"):
            self.presence_updates.append(data["presence"])
        config = self.emu.config
        me = user_payload(config.bot)
        me.update({"verified": True, "mfa_enabled": False, "flags": 0, "email": None})
        ready: dict[str, Any] = {
            "v": 10,
            "user": me,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.emu.world.guilds.values()],
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
        for guild in self.emu.world.guilds.values():
            self._dispatch_to(session, "GUILD_CREATE", self.guild_payload(guild))

    def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.emu.config.token:
            conn.close(4004, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalidated:
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
        missed = [e for e in session.events if e.seq > seq]
        for event in missed:
            conn.send({"op": DISPATCH, "t": event.t, "s": event.seq, "d": event.d})
        self.resumes.append(ResumeRecord(session.id, seq, [e.t for e in missed]))
        self._dispatch_to(session, "RESUMED", {})

    def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild = self.emu.world.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
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
        """Dispatch an event to every live session whose intents include it; return how many got it."""
        needed = _EVENT_INTENTS.get(event, 0) if intent is None else intent
        count = 0
        for session in self.sessions.values():
            if session.invalidated or (needed and not session.intents & needed):
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
        for session in self.sessions.values():
            if session.invalidated or not session.intents & intent:
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
        return [c for c in self.connections if not c.closed]

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
        return session

    def shutdown(self) -> None:
        """Close all connections with 1001 (going away); aiohttp's runner cleanup waits for the handlers."""
        for conn in self._live():
            conn.close(1001, "Emulator stopping.")
