"""The sandbox server: state, actions that change it (and dispatch the matching
gateway events), permission checks, violation records, and the aiohttp app.

REST handlers live in :mod:`sandbox.server.rest` and
:mod:`sandbox.server.interactions`; both call the actions defined here so that
what the bot does over REST and what a simulated member does through the driver
go through the same code and produce the same events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.rules.errors import DiscordError, invalid_form_body
from sandbox.rules.permissions import P, base_permissions, channel_permissions, parse_bits
from sandbox.server import state as st
from sandbox.server.gateway import Gateway, Intent, Session
from sandbox.server.mentions import compute_pings
from sandbox.server.snowflake import Snowflakes

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-bot-token"

# What a fresh guild's @everyone may do (Discord's defaults for a new server).
EVERYONE_DEFAULT = int(
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.STREAM
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.USE_EXTERNAL_EMOJIS
    | P.CONNECT
    | P.SPEAK
    | P.USE_VAD
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.REQUEST_TO_SPEAK
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.USE_EXTERNAL_STICKERS
    | P.SEND_MESSAGES_IN_THREADS
    | P.USE_EMBEDDED_ACTIVITIES
    | P.SEND_VOICE_MESSAGES
    | P.SEND_POLLS
    | P.USE_EXTERNAL_APPS
)

# What hackbot's invite link asks for.
DEFAULT_BOT_PERMISSIONS = int(
    P.MANAGE_CHANNELS
    | P.MANAGE_ROLES
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.SEND_MESSAGES_IN_THREADS
    | P.CREATE_PUBLIC_THREADS
    | P.CREATE_PRIVATE_THREADS
    | P.MANAGE_THREADS
    | P.MANAGE_MESSAGES
    | P.PIN_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
    | P.MANAGE_EVENTS
    | P.CREATE_EVENTS
    | P.MENTION_EVERYONE
    | P.CONNECT
    | P.MOVE_MEMBERS
)

MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7
MESSAGE_FLAG_HAS_THREAD = 1 << 5
MESSAGE_FLAG_SUPPRESS_EMBEDS = 1 << 2
MESSAGE_FLAG_IS_COMPONENTS_V2 = 1 << 15

# Guild member flags (Discord docs, "Guild Member Flags").
MEMBER_FLAG_COMPLETED_ONBOARDING = 1 << 1
MEMBER_FLAG_STARTED_ONBOARDING = 1 << 3


def missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def missing_access() -> DiscordError:
    return DiscordError(403, 50001, "Missing Access")


def unknown(kind: str, code: int) -> DiscordError:
    return DiscordError(404, code, f"Unknown {kind}")


def _onboarding_field_error(path: tuple[str, ...], code: str, message: str) -> DiscordError:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {key: tree}
    return invalid_form_body(tree)


@dataclass
class Violation:
    """A request the sandbox (like Discord) refused, or a broken rule such as a missed deadline."""

    method: str
    path: str
    body: Any
    status: int
    code: int
    message: str
    errors: dict | None = None
    at: float = field(default_factory=time.time)
    # The traceback when the sandbox itself failed on the request (a SandboxFault).
    exception: str | None = None

    def __str__(self) -> str:
        detail = f" {json.dumps(self.errors)[:500]}" if self.errors else ""
        crash = f"\n{self.exception}" if self.exception else ""
        return (
            f"{self.method} {self.path} -> {self.status} {self.code} {self.message}{detail}{crash}"
        )


class SandboxServer:
    """A Discord-compatible server for one bot application.

    ``now`` is the time source for timestamps, snowflakes and the 15-minute
    interaction token lifetime (the driver passes the bot's :class:`bot.clock.Clock`
    so that ``sb.advance()`` moves Discord's clock too).
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "hackbot",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        validate: bool = True,
        rate_limits: Any = None,
        latency_ms: float = 0,
        seed: int = 0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        from sandbox.rules.faults import Faults
        from sandbox.rules.invalid_requests import InvalidRequests

        self.token = token
        self.snowflakes = Snowflakes()
        self._now = now or (lambda: datetime.now(UTC))
        self.rng = random.Random(seed)
        self.validate = validate
        self.faults = Faults(latency_ms=latency_ms, seed=seed)
        self.faults.on_gateway_drop(self._on_gateway_drop)
        self.rate_limiter = self._make_rate_limiter(rate_limits)
        self.bot_permissions = int(bot_permissions)

        # state
        self.users: dict[str, dict] = {}
        self.guilds: dict[str, st.GuildState] = {}
        self.messages: dict[str, dict] = {}
        self.channel_messages: dict[str, list[str]] = {}
        self.pins: dict[str, list[tuple[str, str]]] = {}  # channel id -> [(message id, pinned_at)]
        # enforce_nonce: (author id, nonce) -> (message id, when), for NONCE_WINDOW.
        self.nonces: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.dm_channels: dict[str, dict] = {}  # channel id -> DM channel
        self.global_commands: dict[str, dict] = {}
        # When commands were created, by scope ("global" or a guild id): 200 a day.
        self.command_creates: dict[str, list[datetime]] = {}
        self.attachments: dict[str, tuple[str, str, bytes]] = {}
        self.dms_closed: set[str] = set()  # users who do not accept DMs from the bot
        self.locales: dict[str, str] = {}  # user id -> client locale

        bot_id = self.snowflakes.next_str()
        self.application_id = bot_id
        self.bot_user = st.make_user(bot_id, bot_username, bot=True)
        self.bot_user.update(
            {"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}
        )
        self.users[bot_id] = self.bot_user
        self.application = {
            "id": bot_id,
            "name": bot_username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": (1 << 19) | (1 << 15) | (1 << 23),  # message content, members, limited
            "owner": {
                "id": "0",
                "username": "owner",
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
                "public_flags": 0,
                "flags": 0,
            },
            "team": None,
            "rpc_origins": [],
            "tags": [],
            "install_params": None,
            "custom_install_url": None,
            "approximate_guild_count": 1,
            "hook": True,
            "integration_types_config": {"0": {}},
            "bot": self.bot_user,
        }

        self.gateway = Gateway(self)
        self.interactions: Any = None  # set below (circular import avoidance)
        from sandbox.server.interactions import Interactions

        self.interactions = Interactions(self)

        # bookkeeping
        self.violations: list[Violation] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, route template, status)
        self.inflight = 0
        self.last_activity = time.monotonic()
        self.stats = {
            "requests": 0,
            "faults": 0,
            "rate_limited": 0,
            "storm_rate_limited": 0,
            "rejected": 0,
            "nonce_repeats": 0,
        }
        # Discord's 10,000 invalid requests per 10 minutes (sandbox/rules/invalid_requests.py).
        self.invalid_requests = InvalidRequests()
        # Called with (route, call) before a handler; one returning True swallows the request.
        self.before_handled: list[Callable[[str, Any], bool]] = []
        # Called with (route, call, result) after a handler succeeds, before the answer leaves.
        self.after_handled: list[Callable[[str, Any, Any], None]] = []

        # network
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None

    # -- configuration ------------------------------------------------------

    @staticmethod
    def _make_rate_limiter(rate_limits: Any) -> Any:
        from sandbox.rules.ratelimit import RateLimiter

        if rate_limits is False:
            return None
        if rate_limits is None:
            return RateLimiter()
        if isinstance(rate_limits, dict):
            return RateLimiter(**rate_limits)
        return rate_limits

    def now(self) -> datetime:
        return self._now()

    def set_clock(self, now: Callable[[], datetime]) -> None:
        self._now = now

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    def new_id(self) -> str:
        return self.snowflakes.next_str(self.now())

    # -- lifecycle ----------------------------------------------------------

    def make_app(self) -> web.Application:
        from sandbox.rules import limits
        from sandbox.server import pipeline

        # Room for the most a message may carry (10 files of the upload limit each) and its
        # JSON; a larger body is refused 413 / 40005 like a file over the limit.
        max_body = limits.ATTACHMENTS_MAX * limits.UPLOAD_SIZE_MAX + 8 * 1024 * 1024
        app = web.Application(client_max_size=max_body)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._serve_attachment)
        pipeline.add_routes(app, self)
        return app

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        found = self.attachments.get(request.match_info["attachment_id"])
        if found is None:
            return web.Response(status=404)
        _filename, content_type, data = found
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        self.host = host
        app = self.make_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        if port == 0:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, 0))
            self.port = sock.getsockname()[1]
            site: web.BaseSite = web.SockSite(self._runner, sock)
        else:
            self.port = port
            site = web.TCPSite(self._runner, host, port)
        await site.start()
        log.info("sandbox Discord listening on %s", self.url)
        return self.url

    async def stop(self) -> None:
        await self.gateway.close_all()
        self.interactions.cancel_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _on_gateway_drop(self, drop: Any) -> None:
        self.drop_gateway(close_code=drop.close_code, resumable=drop.resumable)

    def drop_gateway(self, *, close_code: int | None = 4000, resumable: bool = True) -> int:
        """Cut the bot's gateway connection(s); returns how many were cut.

        ``close_code=None`` aborts the TCP connection without a close frame (a
        network failure); otherwise a close frame with that code is sent (4000 lets
        the client resume). ``resumable=False`` makes the next RESUME fail with
        INVALID_SESSION, forcing a fresh IDENTIFY.
        """
        if not resumable:
            self.gateway.invalidate_sessions()
        return self.gateway.drop(close_code)

    # -- bookkeeping --------------------------------------------------------

    def record_violation(
        self,
        method: str,
        path: str,
        body: Any,
        status: int,
        code: int,
        message: str,
        errors: dict | None = None,
        exception: BaseException | None = None,
    ) -> Violation:
        violation = Violation(method, path, body, status, code, message, errors)
        if exception is not None:
            violation.exception = "".join(traceback.format_exception(exception)).rstrip()
        self.violations.append(violation)
        self.stats["rejected"] += 1
        log.warning("sandbox rejected: %s", violation)
        return violation

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    @property
    def busy(self) -> bool:
        return self.inflight > 0 or self.gateway.pending > 0

    # -- users, members ------------------------------------------------------

    def bot_user_public(self) -> dict:
        return st.public(self.bot_user)

    def public_member(self, member: dict) -> dict:
        return st.public(member)

    def guild(self, guild_id: str | int | None = None) -> st.GuildState:
        if guild_id is None:
            return next(iter(self.guilds.values()))
        guild = self.guilds.get(str(guild_id))
        if guild is None:
            raise unknown("Guild", 10004)
        return guild

    def member_of(self, guild: st.GuildState, user_id: str | int) -> dict:
        member = guild.members.get(str(user_id))
        if member is None:
            raise unknown("Member", 10007)
        return member

    def create_guild(
        self, *, guild_id: int | str | None = None, name: str = "Hackathon"
    ) -> st.GuildState:
        gid = str(guild_id) if guild_id is not None else self.new_id()
        now = self.now()
        owner = self.create_user("guild-owner")
        guild = st.GuildState(data=st.base_guild_data(gid, name, owner["id"]))
        guild.onboarding = st.make_onboarding(gid)
        guild.roles[gid] = st.make_role(gid, "@everyone", permissions=EVERYONE_DEFAULT, position=0)
        bot_role_id = self.new_id()
        guild.roles[bot_role_id] = st.make_role(
            bot_role_id,
            self.bot_user["username"],
            permissions=self.bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user["id"],
        )
        guild.members[owner["id"]] = st.make_member(owner, [], now)
        guild.members[self.bot_user["id"]] = st.make_member(self.bot_user, [bot_role_id], now)
        guild.data["joined_at"] = st.iso(now)
        self.guilds[gid] = guild
        general = st.make_channel(self.new_id(), gid, {"name": "general", "type": 0}, 0)
        guild.channels[general["id"]] = general
        self.channel_messages[general["id"]] = []
        guild.data["system_channel_id"] = general["id"]
        return guild

    def bot_role(self, guild: st.GuildState) -> dict:
        for role in guild.roles.values():
            if (role.get("tags") or {}).get("bot_id") == self.bot_user["id"]:
                return role
        raise LookupError("the bot has no managed role")

    def set_bot_permissions(self, permissions: int, guild: st.GuildState | None = None) -> None:
        """Change what the bot was "invited" with (its managed role), like an admin would."""
        guilds = [guild] if guild is not None else list(self.guilds.values())
        self.bot_permissions = int(permissions)
        for g in guilds:
            role = self.bot_role(g)
            role["permissions"] = str(int(permissions))
            self.gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": g.id, "role": st.public(role)})

    def create_user(self, username: str, *, bot: bool = False) -> dict:
        user = st.make_user(self.new_id(), username, bot=bot)
        self.users[user["id"]] = user
        return user

    def add_member(
        self,
        guild: st.GuildState,
        username: str,
        *,
        roles: Iterable[str] = (),
        bot: bool = False,
        locale: str = "en-US",
        nick: str | None = None,
    ) -> dict:
        role_ids = [self.resolve_role(guild, r)["id"] for r in roles]
        user = self.create_user(username, bot=bot)
        self.locales[user["id"]] = locale
        member = st.make_member(user, role_ids, self.now())
        member["nick"] = nick
        guild.members[user["id"]] = member
        self.gateway.dispatch("GUILD_MEMBER_ADD", {"guild_id": guild.id, **st.public(member)})
        return member

    def remove_member(self, guild: st.GuildState, user_id: str) -> None:
        member = guild.members.pop(str(user_id), None)
        if member is None:
            raise unknown("Member", 10007)
        for members in guild.thread_members.values():
            members.pop(str(user_id), None)
        self.gateway.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": guild.id, "user": st.public(member["user"])}
        )

    def resolve_role(self, guild: st.GuildState, name_or_id: str | int) -> dict:
        key = str(name_or_id)
        if key in guild.roles:
            return guild.roles[key]
        role = guild.role_by_name(key)
        if role is None:
            names = ", ".join(sorted(r["name"] for r in guild.roles.values()))
            raise ValueError(f"no role {name_or_id!r} in the guild (roles: {names})")
        return role

    def member_update(self, guild: st.GuildState, member: dict) -> None:
        payload = {"guild_id": guild.id, **st.public(member)}
        # Without GUILD_MEMBERS a bot still hears about its own member.
        is_bot = member["user"]["id"] == self.bot_user["id"]
        self.gateway.dispatch("GUILD_MEMBER_UPDATE", payload, always=is_bot)

    def set_member_roles(self, guild: st.GuildState, user_id: str, role_ids: list[str]) -> dict:
        member = self.member_of(guild, user_id)
        member["roles"] = [r for r in dict.fromkeys(role_ids) if r != guild.id]
        self.member_update(guild, member)
        return member

    # -- onboarding ----------------------------------------------------------

    def set_onboarding(self, guild: st.GuildState, payload: dict) -> dict:
        """Apply a (schema-valid) PUT /guilds/{id}/onboarding body with Discord's own rules,
        whoever asks (the bot's permissions are the route's business): field limits, a
        Community guild, options naming existing roles and channels, and the requirements of
        an enabled onboarding. Every field is optional; ``prompts`` replaces every prompt."""
        from sandbox.rules import limits

        limits.check_onboarding(payload)
        if "COMMUNITY" not in guild.data.get("features", []):
            # Onboarding is a feature of Community servers (Discord's help centre), but the
            # API docs neither say a non-Community guild is refused nor with which code. The
            # sandbox refuses with 350000, the documented code whose meaning fits ("Cannot
            # enable onboarding, requirements are not met"); Discord's real answer may differ.
            limits.check_onboarding_requirements(met=False, was_enabled=False)
        current = guild.onboarding
        new = dict(current)
        if payload.get("prompts") is not None:
            new["prompts"] = self._onboarding_prompts(guild, payload["prompts"], current["prompts"])
        if payload.get("default_channel_ids") is not None:
            ids = [str(c) for c in payload["default_channel_ids"]]
            for i, channel_id in enumerate(ids):
                channel = guild.channels.get(channel_id)
                if channel is None or channel["type"] in st.THREAD_TYPES:
                    # Not documented: the sandbox's own field error for an unknown channel.
                    raise _onboarding_field_error(
                        ("default_channel_ids", str(i)), "CHANNEL_INVALID", "Unknown channel"
                    )
            new["default_channel_ids"] = list(dict.fromkeys(ids))
        if payload.get("enabled") is not None:
            new["enabled"] = bool(payload["enabled"])
        if payload.get("mode") is not None:
            new["mode"] = int(payload["mode"])
        if new["enabled"]:
            counted = list(new["default_channel_ids"])
            if new["mode"] == 1:
                # ONBOARDING_ADVANCED "counts Default Channels and Questions towards
                # constraints": here, the channels the prompts' options give count too.
                counted += [
                    c for p in new["prompts"] for o in p["options"] for c in o["channel_ids"]
                ]
            limits.check_onboarding_requirements(
                met=limits.onboarding_requirements_met(
                    counted, lambda c: self.everyone_can_send(guild, c)
                ),
                was_enabled=current["enabled"],
            )
        guild.onboarding = new
        return new

    def _onboarding_prompts(
        self, guild: st.GuildState, prompts: list[dict], existing: list[dict]
    ) -> list[dict]:
        """The stored prompts: ids kept where the request names an existing prompt or option,
        new snowflakes otherwise (discord.py sends each prompt's index as its id, and no
        option ids)."""
        known_prompts = {p["id"] for p in existing}
        known_options = {o["id"] for p in existing for o in p["options"]}
        result = []
        for i, prompt in enumerate(prompts):
            options = []
            for j, option in enumerate(prompt.get("options") or []):
                role_ids = [str(r) for r in option.get("role_ids") or []]
                channel_ids = [str(c) for c in option.get("channel_ids") or []]
                path = ("prompts", str(i), "options", str(j))
                for k, role_id in enumerate(role_ids):
                    role = guild.roles.get(role_id)
                    if role is None or role_id == guild.id:
                        # Not documented: the sandbox's own field error for an unknown role.
                        raise _onboarding_field_error(
                            (*path, "role_ids", str(k)), "ROLE_INVALID", "Unknown role"
                        )
                for k, channel_id in enumerate(channel_ids):
                    channel = guild.channels.get(channel_id)
                    if channel is None or channel["type"] in st.THREAD_TYPES:
                        raise _onboarding_field_error(
                            (*path, "channel_ids", str(k)), "CHANNEL_INVALID", "Unknown channel"
                        )
                option_id = str(option.get("id") or "")
                options.append(
                    {
                        "id": option_id if option_id in known_options else self.new_id(),
                        "title": option["title"],
                        "description": option.get("description") or "",
                        "emoji": {
                            "id": str(option["emoji_id"]) if option.get("emoji_id") else None,
                            "name": option.get("emoji_name"),
                            "animated": bool(option.get("emoji_animated") or False),
                        },
                        "role_ids": list(dict.fromkeys(role_ids)),
                        "channel_ids": list(dict.fromkeys(channel_ids)),
                    }
                )
            prompt_id = str(prompt.get("id") or "")
            # Defaults of absent (or null) flags are not documented; these are the sandbox's.
            result.append(
                {
                    "id": prompt_id if prompt_id in known_prompts else self.new_id(),
                    "title": prompt["title"],
                    "options": options,
                    "single_select": bool(prompt.get("single_select") or False),
                    "required": bool(prompt.get("required") or False),
                    "in_onboarding": bool(
                        True if prompt.get("in_onboarding") is None else prompt["in_onboarding"]
                    ),
                    "type": int(prompt.get("type") or 0),
                }
            )
        return result

    def everyone_can_send(self, guild: st.GuildState, channel_id: str) -> bool:
        """Whether @everyone (a member with no role) may see and post in a guild channel."""
        channel = guild.channels.get(str(channel_id))
        if (
            channel is None
            or channel["type"] in st.THREAD_TYPES
            or channel["type"] == st.GUILD_CATEGORY
        ):
            return False
        nobody = {"user": {"id": "0"}, "roles": []}
        perms = channel_permissions(guild.perm_view(), nobody, channel)
        return bool(perms & P.VIEW_CHANNEL and perms & P.SEND_MESSAGES)

    def complete_onboarding(
        self, guild: st.GuildState, user_id: str, option_ids: Iterable[str]
    ) -> dict:
        """A member answers the onboarding prompts (joining, or later in Channels & Roles):
        Discord itself gives the roles of the chosen options, takes back those of options
        they chose before and no longer do, marks the member COMPLETED_ONBOARDING and sends
        one GUILD_MEMBER_UPDATE. None of it is a request of the bot, nor under its rate
        limits. Raises ``ValueError`` for what the client would not let them send."""
        onboarding = guild.onboarding
        member = self.member_of(guild, user_id)
        if not onboarding["enabled"]:
            raise ValueError("onboarding is not enabled in this server")
        chosen = list(dict.fromkeys(str(o) for o in option_ids))
        options = {o["id"]: o for p in onboarding["prompts"] for o in p["options"]}
        unknown_options = [o for o in chosen if o not in options]
        if unknown_options:
            raise ValueError(f"no onboarding option {unknown_options[0]!r}")
        for prompt in onboarding["prompts"]:
            picked = [o for o in prompt["options"] if o["id"] in chosen]
            if prompt["single_select"] and len(picked) > 1:
                raise ValueError(f"prompt {prompt['title']!r} takes one answer")
            if prompt["required"] and prompt["in_onboarding"] and not picked:
                raise ValueError(f"prompt {prompt['title']!r} must be answered")
        before = [o for o in member.get("_onboarding_options", []) if o in options]
        given = {r for o in chosen for r in options[o]["role_ids"]}
        dropped = {r for o in before for r in options[o]["role_ids"]} - given
        roles = [r for r in member["roles"] if r not in dropped]
        roles += [r for r in sorted(given) if r in guild.roles and r not in roles]
        member["_onboarding_options"] = chosen
        member["flags"] = int(member.get("flags") or 0) | MEMBER_FLAG_STARTED_ONBOARDING
        member["flags"] |= MEMBER_FLAG_COMPLETED_ONBOARDING
        return self.set_member_roles(guild, member["user"]["id"], roles)

    # -- permissions ---------------------------------------------------------

    def base_perms(self, guild: st.GuildState, user_id: str) -> int:
        member = guild.members.get(str(user_id))
        if member is None:
            return 0
        return base_permissions(guild.perm_view(), member)

    def channel_perms(self, guild: st.GuildState, user_id: str, channel: dict) -> int:
        member = guild.members.get(str(user_id))
        if member is None:
            return 0
        parent = None
        thread_members = None
        if channel["type"] in st.THREAD_TYPES:
            parent = guild.channels.get(channel["parent_id"])
            if parent is None:
                return 0
            thread_members = set(guild.thread_members.get(channel["id"], {}))
        return channel_permissions(guild.perm_view(), member, channel, parent, thread_members)

    def find_channel(self, channel_id: str | int) -> tuple[st.GuildState | None, dict]:
        cid = str(channel_id)
        for guild in self.guilds.values():
            channel = guild.channels.get(cid)
            if channel is not None:
                return guild, channel
        dm = self.dm_channels.get(cid)
        if dm is not None:
            return None, dm
        raise unknown("Channel", 10003)

    def can_view(self, member_id: str | int, channel_id: str | int) -> bool:
        guild, channel = self.find_channel(channel_id)
        if guild is None:
            return (
                str(member_id) in {r["id"] for r in channel["recipients"]}
                or str(member_id) == self.bot_user["id"]
            )
        return bool(self.channel_perms(guild, str(member_id), channel) & P.VIEW_CHANNEL)

    def can_send(self, member_id: str | int, channel_id: str | int) -> bool:
        guild, channel = self.find_channel(channel_id)
        if guild is None:
            return self.can_view(member_id, channel_id)
        perms = self.channel_perms(guild, str(member_id), channel)
        needed = (
            P.SEND_MESSAGES_IN_THREADS if channel["type"] in st.THREAD_TYPES else P.SEND_MESSAGES
        )
        if not perms & P.VIEW_CHANNEL or not perms & needed:
            return False
        locked = (channel.get("thread_metadata") or {}).get("locked")
        return not (locked and not perms & P.MANAGE_THREADS)

    def bot_channel_perms(self, guild: st.GuildState, channel: dict) -> int:
        return self.channel_perms(guild, self.bot_user["id"], channel)

    def require_bot(self, guild: st.GuildState, *flags: P, channel: dict | None = None) -> int:
        """Raise 50001/50013 unless the bot has ``flags`` (in ``channel`` if given)."""
        if channel is not None:
            perms = self.bot_channel_perms(guild, channel)
            if not perms & P.VIEW_CHANNEL:
                raise missing_access()
        else:
            perms = self.base_perms(guild, self.bot_user["id"])
        for flag in flags:
            if not perms & flag:
                raise missing_permissions()
        return perms

    def bot_top_position(self, guild: st.GuildState) -> int:
        member = guild.members[self.bot_user["id"]]
        return max(
            (guild.roles[r]["position"] for r in member["roles"] if r in guild.roles), default=0
        )

    def require_role_below_bot(self, guild: st.GuildState, role: dict) -> None:
        """Bots manage only roles below their own highest role, and never managed roles."""
        if role["managed"] or role["position"] >= self.bot_top_position(guild):
            raise missing_permissions()

    def require_grantable(
        self, guild: st.GuildState, bits: int, channel: dict | None = None
    ) -> None:
        """A bot can only grant or deny permissions it has itself (unless it is an administrator)."""
        perms = self.base_perms(guild, self.bot_user["id"])
        if perms & P.ADMINISTRATOR:
            return
        if channel is not None:
            perms = self.bot_channel_perms(guild, channel) or perms
            # MANAGE_ROLES granted by an overwrite in the channel lifts the restriction.
            if self._overwrite_grants_manage_roles(guild, channel):
                return
        if bits & ~perms:
            raise missing_permissions()

    def require_overwrite(
        self,
        guild: st.GuildState,
        overwrite: dict,
        channel: dict | None = None,
    ) -> None:
        """A permission overwrite the bot sets (creating a channel, editing one, or one
        overwrite): only permissions it has itself (``require_grantable``), and MANAGE_ROLES
        ("Manage Permissions") only as an administrator or with a MANAGE_ROLES overwrite of
        its own in the channel. Discord's change log, 2021-01-22: "Setting MANAGE_ROLES
        permission in channel overwrites is only possible for guild administrators or users
        with MANAGE_ROLES as a permission overwrite in the channel." The sandbox applies
        this to MANAGE_ROLES newly allowed; an allow the overwrite already had (set by a
        person) may be sent back unchanged, and a deny is left to the general rule."""
        allow = parse_bits(overwrite.get("allow"))
        deny = parse_bits(overwrite.get("deny"))
        self.require_grantable(guild, allow | deny, channel)
        if not allow & P.MANAGE_ROLES:
            return
        if channel is not None:
            target = str(overwrite.get("id"))
            previous = next(
                (o for o in channel.get("permission_overwrites", []) if o["id"] == target), None
            )
            if previous is not None and parse_bits(previous["allow"]) & P.MANAGE_ROLES:
                return
            if self._overwrite_grants_manage_roles(guild, channel):
                return
        if not self.base_perms(guild, self.bot_user["id"]) & P.ADMINISTRATOR:
            raise missing_permissions()

    def _overwrite_grants_manage_roles(self, guild: st.GuildState, channel: dict) -> bool:
        bot_member = guild.members[self.bot_user["id"]]
        ids = {*bot_member["roles"], self.bot_user["id"]}
        for ow in channel.get("permission_overwrites", []):
            if ow["id"] in ids and int(ow["allow"]) & P.MANAGE_ROLES:
                return True
        return False

    # -- channels ------------------------------------------------------------

    def channel_event(self, event: str, guild: st.GuildState, channel: dict) -> None:
        payload = st.public(channel)
        if channel["type"] in st.THREAD_TYPES:
            if channel["type"] == st.PRIVATE_THREAD and not self.can_view(
                self.bot_user["id"], channel["id"]
            ):
                return
            self.gateway.dispatch(event.replace("CHANNEL", "THREAD"), payload)
        else:
            self.gateway.dispatch(event, payload)

    def create_channel(self, guild: st.GuildState, payload: dict) -> dict:
        from sandbox.rules import limits

        if "name" in payload:
            kind = payload.get("type", 0)
            payload = {**payload, "name": limits.normalise_channel_name(payload["name"], kind)}
        position = len(guild.guild_channels())
        parent = guild.channels.get(str(payload.get("parent_id") or ""))
        if parent is not None and not payload.get("permission_overwrites"):
            # Without overwrites of its own, a new channel is synced with its category.
            payload = {**payload, "permission_overwrites": parent["permission_overwrites"]}
        channel = st.make_channel(self.new_id(), guild.id, payload, position)
        if payload.get("available_tags") and channel["type"] in (st.GUILD_FORUM, st.GUILD_MEDIA):
            channel["available_tags"] = [self._make_tag(t) for t in payload["available_tags"]]
        guild.channels[channel["id"]] = channel
        self.channel_messages[channel["id"]] = []
        self.channel_event("CHANNEL_CREATE", guild, channel)
        return channel

    def _make_tag(self, tag: dict) -> dict:
        return {
            "id": str(tag.get("id") or self.new_id()),
            "name": tag["name"],
            "moderated": bool(tag.get("moderated", False)),
            "emoji_id": tag.get("emoji_id"),
            "emoji_name": tag.get("emoji_name"),
        }

    def update_channel(self, guild: st.GuildState, channel: dict, changes: dict) -> dict:
        from sandbox.rules import limits

        if "name" in changes:
            name = limits.normalise_channel_name(changes["name"], channel["type"])
            changes = {**changes, "name": name}
        for key, value in changes.items():
            if key == "permission_overwrites":
                channel[key] = [
                    {
                        "id": str(o["id"]),
                        "type": int(o.get("type", 0)),
                        "allow": str(o.get("allow", "0") or "0"),
                        "deny": str(o.get("deny", "0") or "0"),
                    }
                    for o in value or []
                ]
            elif key == "available_tags":
                channel[key] = [self._make_tag(t) for t in value or []]
            elif key == "parent_id":
                channel[key] = str(value) if value else None
            elif key in ("archived", "auto_archive_duration", "locked", "invitable"):
                meta = channel.setdefault("thread_metadata", {})
                meta[key] = value
                if key == "archived":
                    meta["archive_timestamp"] = st.iso(self.now())
            elif key == "applied_tags":
                channel[key] = [str(t) for t in value or []]
            else:
                channel[key] = value
        self.channel_event("CHANNEL_UPDATE", guild, channel)
        return channel

    def delete_channel(self, guild: st.GuildState, channel: dict) -> dict:
        # Announced first: who receives a private thread's THREAD_DELETE depends on it existing.
        self.channel_event("CHANNEL_DELETE", guild, channel)
        guild.channels.pop(channel["id"], None)
        if channel["type"] not in st.THREAD_TYPES:
            for thread in [t for t in guild.threads() if t["parent_id"] == channel["id"]]:
                guild.channels.pop(thread["id"], None)
                guild.thread_members.pop(thread["id"], None)
            if channel["type"] == st.GUILD_CATEGORY:
                for child in guild.guild_channels():
                    if child.get("parent_id") == channel["id"]:
                        child["parent_id"] = None
                        self.channel_event("CHANNEL_UPDATE", guild, child)
        else:
            guild.thread_members.pop(channel["id"], None)
        for message_id in self.channel_messages.pop(channel["id"], []):
            self.messages.pop(message_id, None)
        self.pins.pop(channel["id"], None)
        return channel

    def set_overwrite(
        self, guild: st.GuildState, channel: dict, target_id: str, kind: int, allow: int, deny: int
    ) -> None:
        overwrites = [o for o in channel["permission_overwrites"] if o["id"] != target_id]
        overwrites.append({"id": target_id, "type": kind, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        self.channel_event("CHANNEL_UPDATE", guild, channel)

    def delete_overwrite(self, guild: st.GuildState, channel: dict, target_id: str) -> None:
        channel["permission_overwrites"] = [
            o for o in channel["permission_overwrites"] if o["id"] != target_id
        ]
        self.channel_event("CHANNEL_UPDATE", guild, channel)

    # -- threads -------------------------------------------------------------

    def create_thread(
        self,
        guild: st.GuildState,
        parent: dict,
        *,
        name: str,
        owner_id: str,
        thread_type: int,
        auto_archive_duration: int | None = None,
        invitable: bool = True,
        thread_id: str | None = None,
        applied_tags: list[str] | None = None,
        rate_limit_per_user: int = 0,
    ) -> dict:
        now = self.now()
        thread = {
            "id": thread_id or self.new_id(),
            "type": thread_type,
            "guild_id": guild.id,
            "parent_id": parent["id"],
            "owner_id": owner_id,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 0,
            "total_message_sent": 0,
            "rate_limit_per_user": rate_limit_per_user,
            "flags": 0,
            "applied_tags": [str(t) for t in applied_tags or []],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration
                or parent.get("default_auto_archive_duration")
                or 4320,
                "archive_timestamp": st.iso(now),
                "locked": False,
                "create_timestamp": st.iso(now),
            },
            "_last_activity": now,
        }
        if thread_type == st.PRIVATE_THREAD:
            thread["thread_metadata"]["invitable"] = invitable
        guild.channels[thread["id"]] = thread
        guild.thread_members[thread["id"]] = {}
        self.channel_messages[thread["id"]] = []
        self._add_thread_member(guild, thread, owner_id, dispatch=False)
        payload = st.public(thread)
        payload["newly_created"] = True
        if self.can_view(self.bot_user["id"], thread["id"]):
            if owner_id == self.bot_user["id"]:
                payload["member"] = self._thread_member_payload(guild, thread, owner_id)
            self.gateway.dispatch("THREAD_CREATE", payload)
        return thread

    def _thread_member_payload(self, guild: st.GuildState, thread: dict, user_id: str) -> dict:
        entry = guild.thread_members[thread["id"]][user_id]
        return {
            "id": thread["id"],
            "user_id": user_id,
            "join_timestamp": entry["join_timestamp"],
            "flags": 0,
        }

    def _add_thread_member(
        self, guild: st.GuildState, thread: dict, user_id: str, *, dispatch: bool = True
    ) -> bool:
        from sandbox.rules import limits

        members = guild.thread_members.setdefault(thread["id"], {})
        if user_id in members:
            return False
        limits.check_thread_member_add(len(members))
        members[user_id] = {
            "id": thread["id"],
            "user_id": user_id,
            "join_timestamp": st.iso(self.now()),
            "flags": 0,
        }
        thread["member_count"] = min(50, len(members))
        if dispatch:
            added = dict(members[user_id])
            member = guild.members.get(user_id)
            if member is not None:
                added["member"] = st.public(member)
            self._thread_members_update(guild, thread, added=[added])
        return True

    def _thread_members_update(
        self, guild: st.GuildState, thread: dict, *, added: list[dict] = (), removed: list[str] = ()
    ) -> None:
        payload = {
            "id": thread["id"],
            "guild_id": guild.id,
            "member_count": len(guild.thread_members.get(thread["id"], {})),
            "added_members": list(added),
            "removed_member_ids": list(removed),
        }
        bot_id = self.bot_user["id"]

        def shape(session: Session, data: dict) -> dict | None:
            if not self.can_view(bot_id, thread["id"]) and bot_id not in data["removed_member_ids"]:
                return None
            if session.intents & Intent.GUILD_MEMBERS:
                return data
            # Without GUILD_MEMBERS the bot only hears about itself.
            mine = [m for m in data["added_members"] if m["user_id"] == bot_id]
            gone = [u for u in data["removed_member_ids"] if u == bot_id]
            if not mine and not gone:
                return None
            return {**data, "added_members": mine, "removed_member_ids": gone}

        self.gateway.dispatch("THREAD_MEMBERS_UPDATE", payload, shape=shape)

    def add_thread_member(self, guild: st.GuildState, thread: dict, user_id: str) -> None:
        if user_id not in guild.members:
            raise unknown("Member", 10007)
        was_visible = self.can_view(self.bot_user["id"], thread["id"])
        if self._add_thread_member(guild, thread, user_id) and user_id == self.bot_user["id"]:
            if not was_visible:
                self.gateway.dispatch("THREAD_CREATE", st.public(thread))

    def remove_thread_member(self, guild: st.GuildState, thread: dict, user_id: str) -> None:
        members = guild.thread_members.get(thread["id"], {})
        if members.pop(user_id, None) is None:
            raise unknown("Member", 10007)
        thread["member_count"] = min(50, len(members))
        self._thread_members_update(guild, thread, removed=[user_id])

    # -- messages ------------------------------------------------------------

    def channel_guild(self, channel: dict) -> st.GuildState | None:
        gid = channel.get("guild_id")
        return self.guilds.get(gid) if gid else None

    def _pings(
        self,
        guild: st.GuildState | None,
        channel: dict,
        author_id: str,
        payload: dict,
        replied_user: str | None,
    ) -> dict:
        if guild is None:
            known = {r["id"] for r in channel.get("recipients", [])} | {self.bot_user["id"]}
            pings = compute_pings(
                payload.get("content") or "",
                payload.get("allowed_mentions"),
                known_users=known,
                mentionable_roles=set(),
                all_roles=set(),
                can_mention_everyone=False,
                replied_user_id=replied_user,
            )
            return pings.as_dict()
        perms = self.channel_perms(guild, author_id, channel)
        pings = compute_pings(
            payload.get("content") or "",
            payload.get("allowed_mentions"),
            known_users=set(self.users),
            mentionable_roles={r["id"] for r in guild.roles.values() if r["mentionable"]},
            all_roles=set(guild.roles) - {guild.id},
            can_mention_everyone=bool(perms & P.MENTION_EVERYONE),
            replied_user_id=replied_user,
        )
        return pings.as_dict()

    def _mention_user(self, guild: st.GuildState | None, user_id: str) -> dict:
        user = st.public(self.users[user_id])
        if guild is not None and user_id in guild.members:
            member = st.public(guild.members[user_id])
            member.pop("user", None)
            user["member"] = member
        return user

    def build_message(
        self,
        channel: dict,
        author: dict,
        payload: dict,
        *,
        message_type: int = 0,
        message_id: str | None = None,
        extra: dict | None = None,
        pings_from: str | None = None,
    ) -> dict:
        guild = self.channel_guild(channel)
        now = self.now()
        mid = message_id or self.new_id()
        reference = payload.get("message_reference")
        referenced = None
        replied_user = None
        if reference and reference.get("message_id"):
            referenced = self.messages.get(str(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise DiscordError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {
                                    "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                    "message": "Unknown message",
                                }
                            ]
                        }
                    },
                )
            if referenced is not None:
                replied_user = referenced["author"]["id"]
                message_type = 19 if message_type == 0 else message_type
        pings = self._pings(guild, channel, pings_from or author["id"], payload, replied_user)
        flags = int(payload.get("flags") or 0)
        message = {
            "id": mid,
            "channel_id": channel["id"],
            "author": st.public(author),
            "content": payload.get("content") or "",
            "timestamp": st.iso(now),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": pings["everyone"] or pings["here"],
            "mentions": [self._mention_user(guild, u) for u in pings["users"]],
            "mention_roles": list(pings["roles"]),
            "attachments": list(payload.get("attachments_resolved") or []),
            "embeds": [self._normalize_embed(e) for e in payload.get("embeds") or []],
            "pinned": False,
            "type": message_type,
            "flags": flags,
            "components": self._normalize_components(payload.get("components") or []),
            "_pinged": pings,
            "_allowed_mentions": payload.get("allowed_mentions"),
        }
        if guild is not None:
            message["guild_id"] = guild.id
            member = guild.members.get(author["id"])
            if member is not None:
                partial = st.public(member)
                partial.pop("user", None)
                message["member"] = partial
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if reference:
            message["message_reference"] = {
                "type": reference.get("type", 0),
                "message_id": str(reference["message_id"]) if reference.get("message_id") else None,
                "channel_id": str(reference.get("channel_id") or channel["id"]),
                "guild_id": guild.id if guild else None,
            }
            message["referenced_message"] = st.public(referenced) if referenced else None
        if payload.get("poll"):
            message["poll"] = payload["poll"]
        if extra:
            message.update(extra)
        return message

    @staticmethod
    def _normalize_embed(embed: dict) -> dict:
        embed = dict(embed)
        embed.setdefault("type", "rich")
        return embed

    def _normalize_components(self, components: list[dict]) -> list[dict]:
        counter = iter(range(1, 10_000))

        def walk(items: list[dict]) -> list[dict]:
            result = []
            for item in items:
                item = dict(item)
                item.setdefault("id", next(counter))
                if "components" in item:
                    item["components"] = walk(item["components"])
                if "accessory" in item:
                    item["accessory"] = walk([item["accessory"]])[0]
                if "component" in item:
                    item["component"] = walk([item["component"]])[0]
                result.append(item)
            return result

        return walk(components)

    def store_message(self, channel: dict, message: dict, *, dispatch: bool = True) -> dict:
        self.messages[message["id"]] = message
        self.channel_messages.setdefault(channel["id"], []).append(message["id"])
        channel["last_message_id"] = message["id"]
        if channel["type"] in st.THREAD_TYPES:
            channel["message_count"] = channel.get("message_count", 0) + 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1
            channel["_last_activity"] = self.now()
        if dispatch:
            self.dispatch_message("MESSAGE_CREATE", channel, message)
        return message

    def dispatch_message(self, event: str, channel: dict, message: dict) -> None:
        dm = channel["type"] == st.DM
        payload = st.public(message)
        bot_id = self.bot_user["id"]

        def shape(session: Session, data: dict) -> dict | None:
            if not dm and not self.can_view(bot_id, channel["id"]):
                return None
            privileged = (
                session.intents & Intent.MESSAGE_CONTENT
                or dm
                or data["author"]["id"] == bot_id
                or any(u["id"] == bot_id for u in data.get("mentions", []))
            )
            if privileged:
                return data
            blank = dict(data)
            blank.update({"content": "", "embeds": [], "attachments": [], "components": []})
            blank.pop("poll", None)
            return blank

        self.gateway.dispatch(event, payload, dm=dm, shape=shape)

    @staticmethod
    def _attachments_after_edit(message: dict, changes: dict) -> list[dict]:
        if "attachments_resolved" in changes:
            return list(changes["attachments_resolved"])
        if changes.get("attachments") is not None:
            keep = {str(a.get("id")) for a in changes["attachments"] if isinstance(a, dict)}
            return [a for a in message["attachments"] if a["id"] in keep]
        return list(message["attachments"])

    def message_after_edit(self, message: dict, changes: dict) -> dict:
        """The message an edit leaves, in the shape of a create payload: the stored
        message with ``changes`` applied and the flags it keeps (IS_COMPONENTS_V2 is never
        taken off once set; an edit may set it)."""
        result: dict[str, Any] = {}
        for key in ("content", "embeds", "components"):
            result[key] = changes[key] if key in changes else message.get(key)
        flags = int(message.get("flags") or 0)
        if changes.get("flags") is not None:
            flags |= int(changes["flags"]) & MESSAGE_FLAG_IS_COMPONENTS_V2
        result["flags"] = flags
        result["attachments"] = self._attachments_after_edit(message, changes)
        if message.get("poll"):
            result["poll"] = message["poll"]
        if message.get("sticker_items"):
            result["sticker_ids"] = [s["id"] for s in message["sticker_items"]]
        return result

    def check_edit(self, message: dict, changes: dict) -> None:
        """Discord checks an edit as the whole message it leaves, with the stored flags: an
        edit that empties it is 50006 "Cannot send an empty message", content or embeds
        added to a Components V2 message are refused like at creation (50035)."""
        from sandbox.rules import limits

        limits.check_message(self.message_after_edit(message, changes))

    def edit_message(
        self, channel: dict, message: dict, changes: dict, *, dispatch: bool = True
    ) -> dict:
        self.check_edit(message, changes)
        guild = self.channel_guild(channel)
        if "content" in changes or "allowed_mentions" in changes:
            content = changes.get("content", message["content"])
            allowed = changes.get("allowed_mentions", message.get("_allowed_mentions"))
            pings = self._pings(
                guild,
                channel,
                message["author"]["id"],
                {"content": content, "allowed_mentions": allowed},
                None,
            )
            # Editing never pings anyone anew; keep the record of who the text names.
            message["_pinged"] = pings
            message["mentions"] = [self._mention_user(guild, u) for u in pings["users"]]
            message["mention_roles"] = list(pings["roles"])
            message["mention_everyone"] = pings["everyone"] or pings["here"]
            message["_allowed_mentions"] = allowed
        if "content" in changes:
            message["content"] = changes["content"] or ""
        if changes.get("flags") is not None:
            # An edit changes SUPPRESS_EMBEDS and may set IS_COMPONENTS_V2 (never unset it).
            suppress = MESSAGE_FLAG_SUPPRESS_EMBEDS
            new = int(changes["flags"])
            message["flags"] = (message["flags"] & ~suppress) | (new & suppress)
            message["flags"] |= new & MESSAGE_FLAG_IS_COMPONENTS_V2
        if "embeds" in changes:
            message["embeds"] = [self._normalize_embed(e) for e in changes["embeds"] or []]
        if "components" in changes:
            message["components"] = self._normalize_components(changes["components"] or [])
        message["attachments"] = self._attachments_after_edit(message, changes)
        message["flags"] &= ~MESSAGE_FLAG_LOADING
        message["edited_timestamp"] = st.iso(self.now())
        if dispatch and not message.get("_ephemeral"):
            self.dispatch_message("MESSAGE_UPDATE", channel, message)
        return message

    def delete_message(self, channel: dict, message: dict) -> None:
        self.messages.pop(message["id"], None)
        ids = self.channel_messages.get(channel["id"], [])
        if message["id"] in ids:
            ids.remove(message["id"])
        pins = self.pins.get(channel["id"], [])
        self.pins[channel["id"]] = [p for p in pins if p[0] != message["id"]]
        if message.get("_ephemeral"):
            return
        payload = {"id": message["id"], "channel_id": channel["id"]}
        if channel.get("guild_id"):
            payload["guild_id"] = channel["guild_id"]
        bot_id = self.bot_user["id"]
        dm = channel["type"] == st.DM

        def shape(session: Session, data: dict) -> dict | None:
            if not dm and not self.can_view(bot_id, channel["id"]):
                return None
            return data

        self.gateway.dispatch("MESSAGE_DELETE", payload, dm=dm, shape=shape)

    def pin_message(self, channel: dict, message: dict) -> None:
        from sandbox.rules import limits

        pins = self.pins.setdefault(channel["id"], [])
        if any(p[0] == message["id"] for p in pins):
            return
        limits.check_pin(len(pins))
        pinned_at = st.iso(self.now())
        pins.insert(0, (message["id"], pinned_at))
        message["pinned"] = True
        self._pins_update(channel, pinned_at)
        self.dispatch_message("MESSAGE_UPDATE", channel, message)
        # Discord posts a system message ("X pinned a message") in the channel.
        system = self.build_message(
            channel,
            self.bot_user,
            {"content": ""},
            message_type=6,
            extra={
                "message_reference": {
                    "type": 0,
                    "message_id": message["id"],
                    "channel_id": channel["id"],
                    "guild_id": channel.get("guild_id"),
                }
            },
        )
        self.store_message(channel, system)

    def unpin_message(self, channel: dict, message: dict) -> None:
        pins = self.pins.setdefault(channel["id"], [])
        if not any(p[0] == message["id"] for p in pins):
            return
        self.pins[channel["id"]] = [p for p in pins if p[0] != message["id"]]
        message["pinned"] = False
        last = self.pins[channel["id"]][0][1] if self.pins[channel["id"]] else None
        self._pins_update(channel, last)
        self.dispatch_message("MESSAGE_UPDATE", channel, message)

    def _pins_update(self, channel: dict, last_pin: str | None) -> None:
        channel["last_pin_timestamp"] = last_pin
        payload = {"channel_id": channel["id"], "last_pin_timestamp": last_pin}
        if channel.get("guild_id"):
            payload["guild_id"] = channel["guild_id"]
        self.gateway.dispatch("CHANNEL_PINS_UPDATE", payload, dm=channel["type"] == st.DM)

    def channel_message_list(self, channel_id: str) -> list[dict]:
        return [
            self.messages[m]
            for m in self.channel_messages.get(str(channel_id), [])
            if m in self.messages
        ]

    def open_dm(self, user_id: str) -> dict:
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == user_id:
                return channel
        user = self.users.get(user_id)
        if user is None:
            raise unknown("User", 10013)
        channel = {
            "id": self.new_id(),
            "type": st.DM,
            "last_message_id": None,
            "flags": 0,
            "recipients": [st.public(user)],
        }
        self.dm_channels[channel["id"]] = channel
        self.channel_messages[channel["id"]] = []
        return channel

    # -- gateway payloads ----------------------------------------------------

    def guild_create_payload(self, guild: st.GuildState, session: Session) -> dict:
        large = len(guild.members) > session.large_threshold
        if session.intents & Intent.GUILD_MEMBERS and not large:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.bot_user["id"]]]
        bot_member = guild.members[self.bot_user["id"]]
        payload = guild.to_gateway(
            members=[st.public(m) for m in members], joined_at=bot_member["joined_at"], large=large
        )
        bot_id = self.bot_user["id"]
        payload["threads"] = [
            st.public(t) for t in guild.active_threads() if self.can_view(bot_id, t["id"])
        ]
        if not session.intents & Intent.GUILD_SCHEDULED_EVENTS:
            payload["guild_scheduled_events"] = []
        return payload

    # -- time passing -------------------------------------------------------

    def time_passed(self) -> None:
        """Apply what Discord does on its own as time goes by (call after the clock moves):
        threads inactive for their ``auto_archive_duration`` are archived."""
        now = self.now()
        for guild in self.guilds.values():
            for thread in guild.active_threads():
                meta = thread["thread_metadata"]
                last = thread.get("_last_activity") or now
                if (now - last).total_seconds() >= int(meta["auto_archive_duration"]) * 60:
                    self.update_channel(guild, thread, {"archived": True})

    # -- waiting -------------------------------------------------------------

    async def wait_quiet(
        self,
        quiet: float = 0.05,
        max_wait: float = 10.0,
        extra_busy: Callable[[], bool] | None = None,
    ) -> None:
        """Wait until no request is in flight, no event is queued, and nothing happened for ``quiet`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            now_m = time.monotonic()
            idle_for = now_m - self.last_activity
            busy = self.busy or (extra_busy() if extra_busy else False)
            if not busy and idle_for >= quiet:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"the bot did not settle within {max_wait:.0f} s "
                    f"(requests in flight: {self.inflight}, queued events: {self.gateway.pending})"
                )
            if busy:
                self.touch()
            await asyncio.sleep(min(quiet, 0.01) if busy else max(0.001, quiet - idle_for))

    def reset_violations(self) -> list[Violation]:
        found, self.violations = self.violations, []
        return found


@contextlib.asynccontextmanager
async def running(**kwargs: Any):
    """``async with running() as server:`` a started server with one guild."""
    server = SandboxServer(**kwargs)
    server.create_guild()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
