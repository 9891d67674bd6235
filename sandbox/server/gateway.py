"""The sandbox gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME, member chunks, dispatch.

One :class:`Session` per successful IDENTIFY. Every dispatched event gets the
session's next sequence number and is kept in a replay buffer, so a client that
lost its connection can RESUME and receive what it missed, as on Discord.
Frames are zlib-stream compressed when the client asks for it (discord.py does),
plain text frames otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from sandbox.server.core import SandboxServer

log = logging.getLogger(__name__)

# Opcodes
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
VOICE_STATE_UPDATE = 4
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11


# Intents
class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT
ALL_INTENTS = (1 << 26) - 1

# Which intent an event needs (guild events). Events not listed need none.
EVENT_INTENTS: dict[str, int] = {
    "GUILD_CREATE": Intent.GUILDS,
    "GUILD_UPDATE": Intent.GUILDS,
    "GUILD_DELETE": Intent.GUILDS,
    "GUILD_ROLE_CREATE": Intent.GUILDS,
    "GUILD_ROLE_UPDATE": Intent.GUILDS,
    "GUILD_ROLE_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "CHANNEL_UPDATE": Intent.GUILDS,
    "CHANNEL_DELETE": Intent.GUILDS,
    "CHANNEL_PINS_UPDATE": Intent.GUILDS,
    "THREAD_CREATE": Intent.GUILDS,
    "THREAD_UPDATE": Intent.GUILDS,
    "THREAD_DELETE": Intent.GUILDS,
    "THREAD_LIST_SYNC": Intent.GUILDS,
    "THREAD_MEMBER_UPDATE": Intent.GUILDS,
    "THREAD_MEMBERS_UPDATE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": Intent.GUILD_MEMBERS,
    "GUILD_SCHEDULED_EVENT_CREATE": Intent.GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": Intent.GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": Intent.GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_ADD": Intent.GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_REMOVE": Intent.GUILD_SCHEDULED_EVENTS,
    "MESSAGE_CREATE": Intent.GUILD_MESSAGES,
    "MESSAGE_UPDATE": Intent.GUILD_MESSAGES,
    "MESSAGE_DELETE": Intent.GUILD_MESSAGES,
    "MESSAGE_DELETE_BULK": Intent.GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": Intent.GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": Intent.GUILD_MESSAGE_REACTIONS,
    "TYPING_START": Intent.GUILD_MESSAGE_TYPING,
}
DM_EVENT_INTENTS: dict[str, int] = {
    "MESSAGE_CREATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_UPDATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_DELETE": Intent.DIRECT_MESSAGES,
    "CHANNEL_PINS_UPDATE": Intent.DIRECT_MESSAGES,
    "MESSAGE_REACTION_ADD": Intent.DIRECT_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": Intent.DIRECT_MESSAGE_REACTIONS,
    "TYPING_START": Intent.DIRECT_MESSAGE_TYPING,
}

REPLAY_BUFFER = 10_000
CHUNK_SIZE = 1000


@dataclass
class Session:
    session_id: str
    intents: int
    large_threshold: int
    seq: int = 0
    buffer: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    conn: Connection | None = None
    invalidated: bool = False

    def wants(self, event: str, *, dm: bool) -> bool:
        needed = (DM_EVENT_INTENTS if dm else EVENT_INTENTS).get(event, 0)
        return needed == 0 or bool(self.intents & needed)


class Connection:
    """One websocket. Frames are queued and written in order by a writer task."""

    def __init__(self, ws: web.WebSocketResponse, compress: bool, transport: Any) -> None:
        self.ws = ws
        self.transport = transport
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._zlib = zlib.compressobj() if compress else None
        self.session: Session | None = None
        self.writer = asyncio.get_running_loop().create_task(
            self._write(), name="sandbox-gateway-writer"
        )
        self.dropped = False

    def send(self, payload: dict | str) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.queue.put_nowait(text)

    async def _write(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                if text is None:
                    return
                if self.ws.closed:
                    continue
                if self._zlib is not None:
                    data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                continue
            finally:
                self.queue.task_done()

    @property
    def pending(self) -> int:
        return self.queue.qsize()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a network failure)."""
        self.dropped = True
        if self.transport is not None:
            self.transport.abort()

    def close_now(self, code: int) -> None:
        """Send a close frame with ``code`` ahead of anything still queued."""
        self.dropped = True
        asyncio.get_running_loop().create_task(
            self.ws.close(code=code), name="sandbox-gateway-close"
        )

    async def close(self, code: int, message: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.queue.join()
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=message.encode())


class Gateway:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.sessions: dict[str, Session] = {}
        self.connections: set[Connection] = set()
        self.heartbeat_interval_ms = 41_250
        self.allowed_intents = ALL_INTENTS  # privileged intents enabled in the "developer portal"
        self.identify_count = 0
        self.resume_count = 0
        self.request_members_count = 0

    # -- dispatch -----------------------------------------------------------

    def dispatch(
        self,
        event: str,
        data: dict,
        *,
        dm: bool = False,
        shape: Callable[[Session, dict], dict | None] | None = None,
        always: bool = False,
    ) -> None:
        """Send ``event`` to every session that should receive it.

        ``shape`` may adapt (or suppress, by returning None) the payload per
        session, e.g. to blank message content without the MESSAGE_CONTENT intent.
        """
        for session in list(self.sessions.values()):
            if session.invalidated or not (always or session.wants(event, dm=dm)):
                continue
            payload = shape(session, data) if shape is not None else data
            if payload is None:
                continue
            self._send_event(session, event, payload)

    def _send_event(self, session: Session, event: str, data: dict) -> None:
        session.seq += 1
        text = json.dumps({"op": DISPATCH, "t": event, "s": session.seq, "d": data})
        session.buffer.append((session.seq, text))
        if session.conn is not None and not session.conn.dropped:
            session.conn.send(text)

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.connections)

    def connected_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.conn is not None and not s.conn.dropped]

    # -- faults -------------------------------------------------------------

    def drop(self, close_code: int | None = None) -> int:
        """Cut every client connection (with a close frame carrying ``close_code``, or
        without any when it is None). Sessions stay resumable unless invalidated."""
        count = 0
        for conn in list(self.connections):
            if close_code is None:
                conn.abort()
            else:
                conn.close_now(close_code)
            count += 1
        return count

    def forget_sessions(self) -> None:
        """Drop every session (its client is gone for good: a crashed process)."""
        self.sessions.clear()

    def invalidate_sessions(self) -> None:
        """Make every existing session non-resumable (the next RESUME gets INVALID_SESSION)."""
        for session in self.sessions.values():
            session.invalidated = True

    async def reconnect_request(self) -> None:
        """Ask every client to reconnect and resume (op 7), like Discord does during deploys."""
        for conn in list(self.connections):
            conn.send({"op": RECONNECT, "d": None})

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.abort()
        for conn in list(self.connections):
            conn.queue.put_nowait(None)

    # -- websocket handler --------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = request.query
        compress = query.get("compress") == "zlib-stream"
        conn = Connection(ws, compress, request.transport)
        self.connections.add(conn)
        try:
            if query.get("encoding", "json") != "json":
                await conn.close(4002, "Decode error")
                return ws
            if query.get("v") not in (None, "10"):
                await conn.close(4012, "Invalid API version")
                return ws
            conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        await conn.close(4002, "Decode error")
                        break
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await conn.close(4002, "Decode error")
                    break
                if not await self._on_frame(conn, frame):
                    break
        finally:
            self.connections.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                log.debug("gateway connection closed with %s", ws.close_code)
                if not conn.dropped and ws.close_code in (1000, 1001):
                    # A clean close from the client ends its session, as on Discord.
                    self.sessions.pop(session.session_id, None)
            conn.queue.put_nowait(None)
        return ws

    async def _on_frame(self, conn: Connection, frame: dict) -> bool:
        op = frame.get("op")
        data = frame.get("d")
        if op == HEARTBEAT:
            conn.send({"op": HEARTBEAT_ACK})
            return True
        if op == IDENTIFY:
            return await self._identify(conn, data or {})
        if op == RESUME:
            return await self._resume(conn, data or {})
        if conn.session is None:
            await conn.close(4003, "Not authenticated")
            return False
        if op == REQUEST_GUILD_MEMBERS:
            self._request_members(conn, data or {})
            return True
        if op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            return True
        await conn.close(4001, "Unknown opcode")
        return False

    async def _identify(self, conn: Connection, data: dict) -> bool:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated")
            return False
        if data.get("token") != self.server.token:
            await conn.close(4004, "Authentication failed")
            return False
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents > ALL_INTENTS:
            await conn.close(4013, "Invalid intent(s)")
            return False
        if intents & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await conn.close(4014, "Disallowed intent(s)")
            return False
        self.identify_count += 1
        session = Session(
            session_id=secrets.token_hex(16),
            intents=intents,
            large_threshold=int(data.get("large_threshold") or 50),
        )
        conn.session = session
        session.conn = conn
        self.sessions[session.session_id] = session
        server = self.server
        ready = {
            "v": 10,
            "user": server.bot_user_public(),
            "guilds": [{"id": g.id, "unavailable": True} for g in server.guilds.values()],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": server.gateway_url,
            "application": {"id": server.application_id, "flags": server.application["flags"]},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": ["rotterdam"],
            "guild_join_requests": [],
            "user_settings": {},
            "auth_session_id_hash": secrets.token_hex(8),
            "_trace": ['["sandbox-gateway",{"micros":0}]'],
        }
        self._send_event(session, "READY", ready)
        for guild in server.guilds.values():
            self._send_event(session, "GUILD_CREATE", server.guild_create_payload(guild, session))
        return True

    async def _resume(self, conn: Connection, data: dict) -> bool:
        if data.get("token") != self.server.token:
            await conn.close(4004, "Authentication failed")
            return False
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        if (
            session is None
            or session.invalidated
            or not isinstance(seq, int)
            or seq > session.seq
            or (session.buffer and seq < session.buffer[0][0] - 1)
        ):
            conn.send({"op": INVALID_SESSION, "d": False})
            return True
        self.resume_count += 1
        if session.conn is not None and session.conn is not conn:
            session.conn.abort()
        session.conn = conn
        conn.session = session
        for number, text in session.buffer:
            if number > seq:
                conn.send(text)
        self._send_event(session, "RESUMED", {"_trace": ['["sandbox-gateway",{"micros":0}]']})
        return True

    def _request_members(self, conn: Connection, data: dict) -> None:
        self.request_members_count += 1
        session = conn.session
        assert session is not None
        guild = self.server.guilds.get(str(data.get("guild_id")))
        if guild is None:
            return
        query = data.get("query")
        limit = int(data.get("limit") or 0)
        user_ids = data.get("user_ids")
        if isinstance(user_ids, (int, str)):
            user_ids = [user_ids]
        needs_intent = user_ids is None and (query == "" or query is None)
        if needs_intent and not session.intents & Intent.GUILD_MEMBERS:
            self.server.record_violation(
                "GATEWAY",
                "op 8 REQUEST_GUILD_MEMBERS",
                data,
                400,
                4013,
                "Requesting all members needs the GUILD_MEMBERS intent",
            )
            return
        members: list[dict] = []
        not_found: list[str] = []
        if user_ids is not None:
            for uid in user_ids:
                member = guild.members.get(str(uid))
                if member is None:
                    not_found.append(str(uid))
                else:
                    members.append(member)
        else:
            needle = (query or "").lower()
            for member in guild.members.values():
                names = [member["user"]["username"], member.get("nick") or ""]
                if not needle or any(n.lower().startswith(needle) for n in names if n):
                    members.append(member)
                    if limit and len(members) >= limit:
                        break
        chunks = [members[i : i + CHUNK_SIZE] for i in range(0, len(members), CHUNK_SIZE)] or [[]]
        for index, chunk in enumerate(chunks):
            payload: dict[str, Any] = {
                "guild_id": guild.id,
                "members": [self.server.public_member(m) for m in chunk],
                "chunk_index": index,
                "chunk_count": len(chunks),
            }
            if index == 0 and not_found:
                payload["not_found"] = not_found
            if data.get("nonce") is not None:
                payload["nonce"] = data["nonce"]
            if data.get("presences"):
                payload["presences"] = []
            self._send_event(session, "GUILD_MEMBERS_CHUNK", payload)
