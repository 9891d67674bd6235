"""REST routes of the sandbox (everything except interactions and their webhooks).

Each handler checks what Discord checks (existence, the bot's permissions, limits)
and changes the world through the actions of :class:`SandboxServer`, which
dispatch the gateway events Discord would send.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError, invalid_form_body
from sandbox.rules.permissions import P, parse_bits
from sandbox.server import state as st
from sandbox.server.core import (
    MESSAGE_FLAG_HAS_THREAD,
    missing_access,
    missing_permissions,
    unknown,
)
from sandbox.server.gateway import Intent
from sandbox.server.pipeline import Call, route

UNKNOWN_APPLICATION = 10002
UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MEMBER = 10007
UNKNOWN_MESSAGE = 10008
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
UNKNOWN_EMOJI = 10014
UNKNOWN_COMMAND = 10063
UNKNOWN_EVENT = 10070


def form_error(path: tuple[str, ...], code: str, message: str) -> DiscordError:
    tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        tree = {key: tree}
    return invalid_form_body(tree)


def _body(call: Call) -> dict:
    return call.json if isinstance(call.json, dict) else {}


def _channel(call: Call) -> tuple[st.GuildState | None, dict]:
    return call.server.find_channel(call.param("channel_id"))


def _guild(call: Call) -> st.GuildState:
    guild = call.server.guilds.get(call.param("guild_id"))
    if guild is None:
        raise unknown("Guild", UNKNOWN_GUILD)
    return guild


def _message(call: Call, channel: dict) -> dict:
    message = call.server.messages.get(call.param("message_id"))
    if message is None or message["channel_id"] != channel["id"] or message.get("_ephemeral"):
        raise unknown("Message", UNKNOWN_MESSAGE)
    return message


def _require_view(call: Call, guild: st.GuildState | None, channel: dict, *flags: P) -> int:
    if guild is None:
        return 0  # a DM with the bot
    return call.server.require_bot(guild, P.VIEW_CHANNEL, *flags, channel=channel)


def attachments_from_upload(call: Call, payload: dict) -> list[dict]:
    server = call.server
    described = {
        str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)
    }
    result = []
    for upload in call.files:
        attachment_id = server.new_id()
        server.attachments[attachment_id] = (upload.filename, upload.content_type, upload.data)
        info = described.get(str(upload.index), {})
        url = f"{server.url}/attachments/{attachment_id}/{upload.filename}"
        entry = {
            "id": attachment_id,
            "filename": info.get("filename", upload.filename),
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type,
        }
        if info.get("description"):
            entry["description"] = info["description"]
        result.append(entry)
    return result


# -- users, application, gateway ------------------------------------------------


@route("GET", "/users/@me")
async def get_me(call: Call) -> Any:
    return call.server.bot_user_public()


@route("PATCH", "/users/@me")
async def edit_me(call: Call) -> Any:
    body = _body(call)
    if "username" in body:
        call.server.bot_user["username"] = body["username"]
    return call.server.bot_user_public()


@route("GET", "/users/@me/guilds")
async def my_guilds(call: Call) -> Any:
    return [
        {
            "id": g.id,
            "name": g.data["name"],
            "icon": None,
            "owner": False,
            "permissions": str(call.server.base_perms(g, call.server.bot_user["id"])),
            "features": g.data["features"],
            "banner": None,
        }
        for g in call.server.guilds.values()
    ]


@route("POST", "/users/@me/channels")
async def open_dm(call: Call) -> Any:
    recipient = str(_body(call).get("recipient_id"))
    if recipient not in call.server.users:
        raise unknown("User", UNKNOWN_USER)
    return st.public(call.server.open_dm(recipient))


@route("GET", "/users/{user_id}")
async def get_user(call: Call) -> Any:
    user = call.server.users.get(call.param("user_id"))
    if user is None:
        raise unknown("User", UNKNOWN_USER)
    return st.public(user)


@route("GET", "/oauth2/applications/@me")
async def get_application(call: Call) -> Any:
    return st.public(call.server.application)


@route("GET", "/applications/@me")
async def get_application_me(call: Call) -> Any:
    return st.public(call.server.application)


@route("GET", "/gateway", token_auth=True)  # no token needed, as on Discord
async def get_gateway(call: Call) -> Any:
    return {"url": call.server.gateway_url}


@route("GET", "/gateway/bot")
async def get_gateway_bot(call: Call) -> Any:
    return {
        "url": call.server.gateway_url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000 - call.server.gateway.identify_count,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        },
    }


# -- application commands ------------------------------------------------------


def _check_app(call: Call) -> None:
    if call.param("application_id") != call.server.application_id:
        raise DiscordError(403, 50001, "Missing Access")


def _command_store(call: Call) -> dict[str, dict]:
    _check_app(call)
    if "guild_id" in call.params:
        guild = _guild(call)
        return guild.commands
    return call.server.global_commands


def _make_command(call: Call, payload: dict, existing: dict[str, dict]) -> dict:
    kind = int(payload.get("type", 1) or 1)
    previous = next(
        (c for c in existing.values() if c["name"] == payload.get("name") and c["type"] == kind),
        None,
    )
    command: dict[str, Any] = {
        "id": previous["id"] if previous else call.server.new_id(),
        "application_id": call.server.application_id,
        "version": call.server.new_id(),
        "type": kind,
        "name": payload.get("name"),
        "name_localizations": payload.get("name_localizations"),
        "description": payload.get("description", "") if kind == 1 else "",
        "description_localizations": payload.get("description_localizations"),
        "options": payload.get("options") or [],
        "default_member_permissions": (
            str(payload["default_member_permissions"])
            if payload.get("default_member_permissions") is not None
            else None
        ),
        "dm_permission": payload.get("dm_permission", True),
        "nsfw": bool(payload.get("nsfw", False)),
        "integration_types": payload.get("integration_types") or [0],
        "contexts": payload.get("contexts"),
    }
    if "guild_id" in call.params:
        command["guild_id"] = call.param("guild_id")
    return command


def _count_creates(call: Call, creating: int) -> None:
    """Discord's 200 application command creates a day (per guild; the global commands
    count apart): refused 30034 past it, else counted. Commands updated in place (same
    name and type) are not creates. "A day" is the last 24 hours of the sandbox clock;
    Discord does not say when its day starts."""
    if creating <= 0:
        return
    server = call.server
    scope = call.params.get("guild_id", "global")
    now = server.now()
    cutoff = now - timedelta(days=1)
    recent = [t for t in server.command_creates.get(scope, []) if t > cutoff]
    limits.check_command_creates_today(len(recent), creating)
    server.command_creates[scope] = recent + [now] * creating


def _is_new_command(payload: Any, store: dict[str, dict]) -> bool:
    if not isinstance(payload, dict):
        return False
    kind = int(payload.get("type", 1) or 1)
    name = payload.get("name")
    return not any(c["name"] == name and c["type"] == kind for c in store.values())


@route("GET", "/applications/{application_id}/commands")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(call: Call) -> Any:
    return [st.public(c) for c in _command_store(call).values()]


@route("PUT", "/applications/{application_id}/commands")
@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_overwrite_commands(call: Call) -> Any:
    store = _command_store(call)
    payload = call.json if isinstance(call.json, list) else []
    limits.check_commands_bulk(payload)
    _count_creates(call, sum(1 for c in payload if _is_new_command(c, store)))
    new = [_make_command(call, c, store) for c in payload]
    store.clear()
    for command in new:
        store[command["id"]] = command
    return [st.public(c) for c in new]


@route("POST", "/applications/{application_id}/commands")
@route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(call: Call) -> Any:
    store = _command_store(call)
    payload = _body(call)
    limits.check_command(payload)
    _count_creates(call, 1 if _is_new_command(payload, store) else 0)
    command = _make_command(call, payload, store)
    created = command["id"] not in store
    store[command["id"]] = command
    return (201 if created else 200), st.public(command)


def _command(call: Call) -> tuple[dict[str, dict], dict]:
    store = _command_store(call)
    command = store.get(call.param("command_id"))
    if command is None:
        raise unknown("application command", UNKNOWN_COMMAND)
    return store, command


@route("GET", "/applications/{application_id}/commands/{command_id}")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(call: Call) -> Any:
    return st.public(_command(call)[1])


@route("PATCH", "/applications/{application_id}/commands/{command_id}")
@route("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def edit_command(call: Call) -> Any:
    _store, command = _command(call)
    merged = {**command, **_body(call)}
    limits.check_command(st.public(merged))
    command.update(_body(call))
    command["version"] = call.server.new_id()
    return st.public(command)


@route("DELETE", "/applications/{application_id}/commands/{command_id}")
@route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(call: Call) -> Any:
    store, command = _command(call)
    store.pop(command["id"])
    return None


@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/permissions")
async def list_command_permissions(call: Call) -> Any:
    _check_app(call)
    return list(_guild(call).command_permissions.values())


# -- guild ---------------------------------------------------------------------


@route("GET", "/guilds/{guild_id}")
async def get_guild(call: Call) -> Any:
    return _guild(call).to_rest()


@route("PATCH", "/guilds/{guild_id}")
async def edit_guild(call: Call) -> Any:
    guild = _guild(call)
    call.server.require_bot(guild, P.MANAGE_GUILD)
    for key, value in _body(call).items():
        if key in guild.data:
            guild.data[key] = value
    payload = guild.to_rest()
    call.server.gateway.dispatch("GUILD_UPDATE", payload)
    return payload


# -- onboarding ----------------------------------------------------------------------


@route("GET", "/guilds/{guild_id}/onboarding")
async def get_onboarding(call: Call) -> Any:
    # The docs name no permission for reading it.
    return st.public(_guild(call).onboarding)


@route("PUT", "/guilds/{guild_id}/onboarding")
async def put_onboarding(call: Call) -> Any:
    """Docs: "Requires the MANAGE_GUILD and MANAGE_ROLES permissions"; constraints when
    enabled (7 default channels, 5 of them open to @everyone's messages) refused with
    350000 (enabling) or 350001 (already enabled). The rest is in ``server.set_onboarding``."""
    server = call.server
    guild = _guild(call)
    payload = _body(call)
    server.require_bot(guild, P.MANAGE_GUILD, P.MANAGE_ROLES)
    for prompt in payload.get("prompts") or []:
        for option in (prompt.get("options") or []) if isinstance(prompt, dict) else []:
            for role_id in (option.get("role_ids") or []) if isinstance(option, dict) else []:
                role = guild.roles.get(str(role_id))
                if role is not None:
                    # Not documented for onboarding: the sandbox assumes the rule of every
                    # other way a bot hands out a role (only below its own highest role,
                    # never a managed one), refused with 50013 like those.
                    server.require_role_below_bot(guild, role)
    return st.public(server.set_onboarding(guild, payload))


@route("GET", "/guilds/{guild_id}/channels")
async def list_channels(call: Call) -> Any:
    return [st.public(c) for c in _guild(call).guild_channels()]


@route("POST", "/guilds/{guild_id}/channels")
async def create_channel(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    payload = _body(call)
    server.require_bot(guild, P.MANAGE_CHANNELS)
    limits.check_channel_create(guild.guild_channels(), payload)
    parent_id = payload.get("parent_id")
    if parent_id:
        parent = guild.channels.get(str(parent_id))
        if parent is None or parent["type"] != st.GUILD_CATEGORY:
            raise form_error(("parent_id",), "CHANNEL_PARENT_INVALID", "Not a category")
    overwrites = payload.get("permission_overwrites") or []
    for ow in overwrites:
        server.require_overwrite(guild, ow)
        _check_overwrite_target(guild, ow)
    if overwrites:
        server.require_bot(guild, P.MANAGE_ROLES)
    channel = server.create_channel(guild, payload)
    return 201, st.public(channel)


def _check_overwrite_target(guild: st.GuildState, ow: dict) -> None:
    target = str(ow.get("id"))
    kind = int(ow.get("type", 0))
    if (kind == 0 and target not in guild.roles) or (kind == 1 and target not in guild.members):
        what = "role" if kind == 0 else "member"
        raise form_error(
            ("permission_overwrites",), "UNKNOWN_OVERWRITE_TARGET", f"Unknown {what} {target}"
        )


@route("PATCH", "/guilds/{guild_id}/channels")
async def reorder_channels(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    server.require_bot(guild, P.MANAGE_CHANNELS)
    for entry in call.json if isinstance(call.json, list) else []:
        channel = guild.channels.get(str(entry.get("id")))
        if channel is None or channel["type"] in st.THREAD_TYPES:
            raise unknown("Channel", UNKNOWN_CHANNEL)
        changes: dict[str, Any] = {}
        if entry.get("position") is not None:
            changes["position"] = entry["position"]
        if "parent_id" in entry:
            limits.check_channel_update(
                guild.guild_channels(), channel, {"parent_id": entry["parent_id"]}
            )
            changes["parent_id"] = entry["parent_id"]
            if entry.get("lock_permissions") and entry["parent_id"]:
                parent = guild.channels[str(entry["parent_id"])]
                changes["permission_overwrites"] = [
                    dict(o) for o in parent["permission_overwrites"]
                ]
        if changes:
            server.update_channel(guild, channel, changes)
    return None


@route("GET", "/guilds/{guild_id}/threads/active")
async def active_threads(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    bot_id = server.bot_user["id"]
    threads = [t for t in guild.active_threads() if server.can_view(bot_id, t["id"])]
    members = [
        guild.thread_members[t["id"]][bot_id]
        for t in threads
        if bot_id in guild.thread_members.get(t["id"], {})
    ]
    return {"threads": [st.public(t) for t in threads], "members": members}


# -- roles -----------------------------------------------------------------------


@route("GET", "/guilds/{guild_id}/roles")
async def list_roles(call: Call) -> Any:
    return [st.public(r) for r in _guild(call).roles.values()]


@route("GET", "/guilds/{guild_id}/roles/{role_id}")
async def get_role(call: Call) -> Any:
    role = _guild(call).roles.get(call.param("role_id"))
    if role is None:
        raise unknown("Role", UNKNOWN_ROLE)
    return st.public(role)


def _color(payload: dict) -> int | None:
    if payload.get("colors"):
        return int(payload["colors"].get("primary_color") or 0)
    if "color" in payload:
        return int(payload["color"] or 0)
    return None


@route("POST", "/guilds/{guild_id}/roles")
async def create_role(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    payload = _body(call)
    server.require_bot(guild, P.MANAGE_ROLES)
    limits.check_role_create(list(guild.roles.values()), payload)
    everyone = guild.roles[guild.id]
    permissions = parse_bits(payload.get("permissions", everyone["permissions"]))
    server.require_grantable(guild, permissions)
    for role in guild.roles.values():
        if role["position"] >= 1:
            role["position"] += 1
    role = st.make_role(
        server.new_id(),
        payload.get("name") or "new role",
        permissions=permissions,
        position=1,
        color=_color(payload) or 0,
        hoist=bool(payload.get("hoist", False)),
        mentionable=bool(payload.get("mentionable", False)),
    )
    guild.roles[role["id"]] = role
    server.gateway.dispatch("GUILD_ROLE_CREATE", {"guild_id": guild.id, "role": st.public(role)})
    return st.public(role)


@route("PATCH", "/guilds/{guild_id}/roles")
async def reorder_roles(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    server.require_bot(guild, P.MANAGE_ROLES)
    top = server.bot_top_position(guild)
    for entry in call.json if isinstance(call.json, list) else []:
        role = guild.roles.get(str(entry.get("id")))
        if role is None:
            raise unknown("Role", UNKNOWN_ROLE)
        position = int(entry.get("position") or 0)
        server.require_role_below_bot(guild, role)
        if position >= top:
            raise missing_permissions()
        role["position"] = position
        server.gateway.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": guild.id, "role": st.public(role)}
        )
    return [st.public(r) for r in guild.roles.values()]


@route("PATCH", "/guilds/{guild_id}/roles/{role_id}")
async def edit_role(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    role = guild.roles.get(call.param("role_id"))
    if role is None:
        raise unknown("Role", UNKNOWN_ROLE)
    payload = _body(call)
    server.require_bot(guild, P.MANAGE_ROLES)
    if role["id"] != guild.id:
        server.require_role_below_bot(guild, role)
    if "permissions" in payload:
        new = parse_bits(payload["permissions"])
        server.require_grantable(guild, new ^ parse_bits(role["permissions"]))
        role["permissions"] = str(new)
    if payload.get("name") is not None:
        limits.check_role_create([], {"name": payload["name"]})
        role["name"] = payload["name"]
    color = _color(payload)
    if color is not None:
        role["color"] = color
        role["colors"] = {"primary_color": color, "secondary_color": None, "tertiary_color": None}
    for key in ("hoist", "mentionable"):
        if key in payload and payload[key] is not None:
            role[key] = bool(payload[key])
    server.gateway.dispatch("GUILD_ROLE_UPDATE", {"guild_id": guild.id, "role": st.public(role)})
    return st.public(role)


@route("DELETE", "/guilds/{guild_id}/roles/{role_id}")
async def delete_role(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    role = guild.roles.get(call.param("role_id"))
    if role is None or role["id"] == guild.id:
        raise unknown("Role", UNKNOWN_ROLE)
    server.require_bot(guild, P.MANAGE_ROLES)
    server.require_role_below_bot(guild, role)
    del guild.roles[role["id"]]
    for member in guild.members.values():
        if role["id"] in member["roles"]:
            member["roles"].remove(role["id"])
    for channel in guild.channels.values():
        channel["permission_overwrites"] = [
            o for o in channel.get("permission_overwrites", []) if o["id"] != role["id"]
        ]
    server.gateway.dispatch("GUILD_ROLE_DELETE", {"guild_id": guild.id, "role_id": role["id"]})
    return None


# -- members -------------------------------------------------------------------


def _require_members_intent(call: Call) -> None:
    if not call.server.gateway.allowed_intents & Intent.GUILD_MEMBERS:
        raise missing_access()


@route("GET", "/guilds/{guild_id}/members")
async def list_members(call: Call) -> Any:
    _require_members_intent(call)
    guild = _guild(call)
    limit = max(1, min(1000, int(call.query.get("limit", "1") or 1)))
    after = int(call.query.get("after", "0") or 0)
    members = sorted(guild.members.values(), key=lambda m: int(m["user"]["id"]))
    members = [m for m in members if int(m["user"]["id"]) > after][:limit]
    return [st.public(m) for m in members]


@route("GET", "/guilds/{guild_id}/members/search")
async def search_members(call: Call) -> Any:
    guild = _guild(call)
    query = call.query.get("query", "").lower()
    limit = max(1, min(1000, int(call.query.get("limit", "1") or 1)))
    found = [
        m
        for m in guild.members.values()
        if m["user"]["username"].lower().startswith(query)
        or (m.get("nick") or "").lower().startswith(query)
    ]
    return [st.public(m) for m in found[:limit]]


@route("PATCH", "/guilds/{guild_id}/members/@me")
async def edit_my_member(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    member = server.member_of(guild, server.bot_user["id"])
    payload = _body(call)
    if "nick" in payload:
        server.require_bot(guild, P.CHANGE_NICKNAME)
        member["nick"] = payload["nick"]
    server.member_update(guild, member)
    return st.public(member)


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(call: Call) -> Any:
    guild = _guild(call)
    return st.public(call.server.member_of(guild, call.param("user_id")))


def _require_above(call: Call, guild: st.GuildState, member: dict) -> None:
    """The bot may only act on members whose highest role is below its own."""
    server = call.server
    if member["user"]["id"] == guild.data["owner_id"]:
        raise missing_permissions()
    top = max((guild.roles[r]["position"] for r in member["roles"] if r in guild.roles), default=0)
    if top >= server.bot_top_position(guild) and member["user"]["id"] != server.bot_user["id"]:
        raise missing_permissions()


@route("PATCH", "/guilds/{guild_id}/members/{user_id}")
async def edit_member(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    member = server.member_of(guild, call.param("user_id"))
    payload = _body(call)
    if "roles" in payload and payload["roles"] is not None:
        server.require_bot(guild, P.MANAGE_ROLES)
        new = [str(r) for r in payload["roles"]]
        for role_id in set(new) ^ set(member["roles"]):
            role = guild.roles.get(role_id)
            if role is None:
                raise unknown("Role", UNKNOWN_ROLE)
            server.require_role_below_bot(guild, role)
        member["roles"] = [r for r in dict.fromkeys(new) if r != guild.id]
    if "nick" in payload:
        if member["user"]["id"] == server.bot_user["id"]:
            server.require_bot(guild, P.CHANGE_NICKNAME)
        else:
            server.require_bot(guild, P.MANAGE_NICKNAMES)
            _require_above(call, guild, member)
        member["nick"] = payload["nick"]
    if "communication_disabled_until" in payload:
        server.require_bot(guild, P.MODERATE_MEMBERS)
        _require_above(call, guild, member)
        member["communication_disabled_until"] = payload["communication_disabled_until"]
    if payload.get("channel_id") is not None:
        server.require_bot(guild, P.MOVE_MEMBERS)
    server.member_update(guild, member)
    return st.public(member)


@route("DELETE", "/guilds/{guild_id}/members/{user_id}")
async def kick_member(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    member = server.member_of(guild, call.param("user_id"))
    server.require_bot(guild, P.KICK_MEMBERS)
    _require_above(call, guild, member)
    server.remove_member(guild, member["user"]["id"])
    return None


@route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    member = server.member_of(guild, call.param("user_id"))
    role = guild.roles.get(call.param("role_id"))
    if role is None:
        raise unknown("Role", UNKNOWN_ROLE)
    server.require_bot(guild, P.MANAGE_ROLES)
    server.require_role_below_bot(guild, role)
    if role["id"] not in member["roles"]:
        server.set_member_roles(guild, member["user"]["id"], [*member["roles"], role["id"]])
    return None


@route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    member = server.member_of(guild, call.param("user_id"))
    role = guild.roles.get(call.param("role_id"))
    if role is None:
        raise unknown("Role", UNKNOWN_ROLE)
    server.require_bot(guild, P.MANAGE_ROLES)
    server.require_role_below_bot(guild, role)
    if role["id"] in member["roles"]:
        server.set_member_roles(
            guild, member["user"]["id"], [r for r in member["roles"] if r != role["id"]]
        )
    return None


# -- scheduled events ------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _event_active(event: dict) -> bool:
    return event["status"] in (1, 2)


@route("GET", "/guilds/{guild_id}/scheduled-events")
async def list_events(call: Call) -> Any:
    guild = _guild(call)
    with_count = call.flag("with_user_count")
    result = []
    for event in guild.scheduled_events.values():
        data = st.public(event)
        if with_count:
            data["user_count"] = len(event.get("_users", []))
        result.append(data)
    return result


@route("POST", "/guilds/{guild_id}/scheduled-events")
async def create_event(call: Call) -> Any:
    server = call.server
    guild = _guild(call)
    payload = _body(call)
    perms = server.base_perms(guild, server.bot_user["id"])
    if not perms & (P.MANAGE_EVENTS | P.CREATE_EVENTS):
        raise missing_permissions()
    limits.check_scheduled_event_create(
        sum(1 for e in guild.scheduled_events.values() if _event_active(e))
    )
    entity_type = int(payload.get("entity_type") or 0)
    start = _parse_time(payload.get("scheduled_start_time"))
    end = _parse_time(payload.get("scheduled_end_time"))
    if start is None:
        raise form_error(("scheduled_start_time",), "BASE_TYPE_REQUIRED", "This field is required")
    if start < server.now():
        raise form_error(
            ("scheduled_start_time",),
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
            "Cannot schedule event in the past.",
        )
    if end is not None and end <= start:
        raise form_error(
            ("scheduled_end_time",),
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "The end time must be after the start time.",
        )
    channel_id = payload.get("channel_id")
    if entity_type == 3:
        location = (payload.get("entity_metadata") or {}).get("location")
        if not location:
            raise form_error(
                ("entity_metadata", "location"), "BASE_TYPE_REQUIRED", "This field is required"
            )
        if end is None:
            raise form_error(
                ("scheduled_end_time",), "BASE_TYPE_REQUIRED", "This field is required"
            )
        channel_id = None
    elif entity_type in (1, 2):
        channel = guild.channels.get(str(channel_id))
        expected = st.GUILD_STAGE_VOICE if entity_type == 1 else st.GUILD_VOICE
        if channel is None or channel["type"] != expected:
            raise form_error(("channel_id",), "CHANNEL_TYPE_INVALID", "Invalid channel type")
    else:
        raise form_error(("entity_type",), "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
    event = {
        "id": server.new_id(),
        "guild_id": guild.id,
        "channel_id": str(channel_id) if channel_id else None,
        "creator_id": server.bot_user["id"],
        "creator": server.bot_user_public(),
        "name": payload.get("name"),
        "description": payload.get("description"),
        "scheduled_start_time": st.iso(start),
        "scheduled_end_time": st.iso(end) if end else None,
        "privacy_level": payload.get("privacy_level", 2),
        "status": 1,
        "entity_type": entity_type,
        "entity_id": None,
        "entity_metadata": payload.get("entity_metadata") if entity_type == 3 else None,
        "image": None,
        "recurrence_rule": payload.get("recurrence_rule"),
        "_users": [],
    }
    guild.scheduled_events[event["id"]] = event
    server.gateway.dispatch("GUILD_SCHEDULED_EVENT_CREATE", st.public(event))
    return st.public(event)


def _event(call: Call) -> tuple[st.GuildState, dict]:
    guild = _guild(call)
    event = guild.scheduled_events.get(call.param("event_id"))
    if event is None:
        raise unknown("Guild Scheduled Event", UNKNOWN_EVENT)
    return guild, event


@route("GET", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def get_event(call: Call) -> Any:
    _guild_state, event = _event(call)
    data = st.public(event)
    if call.flag("with_user_count"):
        data["user_count"] = len(event.get("_users", []))
    return data


def _require_event_manager(call: Call, guild: st.GuildState, event: dict) -> None:
    server = call.server
    perms = server.base_perms(guild, server.bot_user["id"])
    if perms & P.MANAGE_EVENTS:
        return
    if perms & P.CREATE_EVENTS and event["creator_id"] == server.bot_user["id"]:
        return
    raise missing_permissions()


@route("PATCH", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def edit_event(call: Call) -> Any:
    server = call.server
    guild, event = _event(call)
    _require_event_manager(call, guild, event)
    payload = _body(call)
    for key in ("name", "description", "privacy_level", "entity_metadata", "recurrence_rule"):
        if key in payload:
            event[key] = payload[key]
    for key in ("scheduled_start_time", "scheduled_end_time"):
        if key in payload:
            when = _parse_time(payload[key])
            event[key] = st.iso(when) if when else None
    if "channel_id" in payload:
        event["channel_id"] = str(payload["channel_id"]) if payload["channel_id"] else None
    if "entity_type" in payload:
        event["entity_type"] = int(payload["entity_type"])
    if "status" in payload:
        new_status = int(payload["status"])
        allowed = {1: {2, 4}, 2: {3}}.get(event["status"], set())
        if new_status != event["status"] and new_status not in allowed:
            raise DiscordError(400, 180000, "Cannot update event to this status")
        event["status"] = new_status
    server.gateway.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", st.public(event))
    return st.public(event)


@route("DELETE", "/guilds/{guild_id}/scheduled-events/{event_id}")
async def delete_event(call: Call) -> Any:
    server = call.server
    guild, event = _event(call)
    _require_event_manager(call, guild, event)
    del guild.scheduled_events[event["id"]]
    server.gateway.dispatch("GUILD_SCHEDULED_EVENT_DELETE", st.public(event))
    return None


@route("GET", "/guilds/{guild_id}/scheduled-events/{event_id}/users")
async def event_users(call: Call) -> Any:
    guild, event = _event(call)
    result = []
    for user_id in event.get("_users", []):
        entry: dict[str, Any] = {
            "guild_scheduled_event_id": event["id"],
            "user": st.public(call.server.users[user_id]),
        }
        if call.flag("with_member") and user_id in guild.members:
            entry["member"] = st.public(guild.members[user_id])
        result.append(entry)
    return result


# -- channels --------------------------------------------------------------------


@route("GET", "/channels/{channel_id}")
async def get_channel(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    return st.public(channel)


@route("PATCH", "/channels/{channel_id}")
async def edit_channel(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    if guild is None:
        raise missing_permissions()
    payload = dict(_body(call))
    perms = _require_view(call, guild, channel)
    if channel["type"] in st.THREAD_TYPES:
        own = channel["owner_id"] == server.bot_user["id"]
        owner_fields = {
            "name",
            "archived",
            "auto_archive_duration",
            "applied_tags",
            "rate_limit_per_user",
        }
        if not perms & P.MANAGE_THREADS and not (own and set(payload) <= owner_fields):
            raise missing_permissions()
    else:
        if not perms & P.MANAGE_CHANNELS:
            raise missing_permissions()
        if "permission_overwrites" in payload:
            if not perms & P.MANAGE_ROLES:
                raise missing_permissions()
            for ow in payload["permission_overwrites"] or []:
                server.require_overwrite(guild, ow, channel)
                _check_overwrite_target(guild, ow)
        if payload.get("parent_id"):
            parent = guild.channels.get(str(payload["parent_id"]))
            if parent is None or parent["type"] != st.GUILD_CATEGORY:
                raise form_error(("parent_id",), "CHANNEL_PARENT_INVALID", "Not a category")
    limits.check_channel_update(guild.guild_channels(), channel, payload)
    if channel["type"] in st.THREAD_TYPES and payload.get("archived") is False:
        meta = channel.get("thread_metadata") or {}
        if meta.get("archived"):
            # Bringing a thread back makes it active again: refused at the server's limit.
            limits.check_unarchive(len(guild.active_threads()))
    if payload.pop("lock_permissions", False) and channel.get("parent_id"):
        parent = guild.channels[channel["parent_id"]]
        payload["permission_overwrites"] = [dict(o) for o in parent["permission_overwrites"]]
    return st.public(server.update_channel(guild, channel, payload))


@route("DELETE", "/channels/{channel_id}")
async def delete_channel(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    if guild is None:
        return st.public(channel)
    needed = P.MANAGE_THREADS if channel["type"] in st.THREAD_TYPES else P.MANAGE_CHANNELS
    _require_view(call, guild, channel, needed)
    return st.public(server.delete_channel(guild, channel))


@route("PUT", "/channels/{channel_id}/permissions/{overwrite_id}")
async def put_overwrite(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    if guild is None or channel["type"] in st.THREAD_TYPES:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    payload = _body(call)
    _require_view(call, guild, channel, P.MANAGE_ROLES)
    allow = parse_bits(payload.get("allow"))
    deny = parse_bits(payload.get("deny"))
    target = call.param("overwrite_id")
    server.require_overwrite(guild, {"id": target, "allow": allow, "deny": deny}, channel)
    kind = int(payload.get("type", 0))
    _check_overwrite_target(guild, {"id": target, "type": kind})
    server.set_overwrite(guild, channel, target, kind, allow, deny)
    return None


@route("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}")
async def delete_overwrite(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    if guild is None:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    _require_view(call, guild, channel, P.MANAGE_ROLES)
    server.delete_overwrite(guild, channel, call.param("overwrite_id"))
    return None


@route("POST", "/channels/{channel_id}/typing")
async def typing(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    if guild is not None and not call.server.can_send(call.server.bot_user["id"], channel["id"]):
        raise missing_permissions()
    return None


# -- messages ----------------------------------------------------------------------


def _require_embed_links(payload: dict, perms: int) -> None:
    """A bot's message with embeds needs EMBED_LINKS in the channel, else 50013 (the
    permission is also implicitly gone without the sending permission). Interaction
    responses and their webhooks are not checked: Discord does not document how it
    computes these two permissions there."""
    if payload.get("embeds") and not perms & P.EMBED_LINKS:
        raise missing_permissions()


def _check_can_post(call: Call, guild: st.GuildState | None, channel: dict, payload: dict) -> None:
    server = call.server
    if guild is None:
        recipient = channel["recipients"][0]["id"]
        if recipient in server.dms_closed or server.users.get(recipient, {}).get("bot"):
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        return
    if channel["type"] not in st.TEXT_LIKE:
        raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
    perms = _require_view(call, guild, channel)
    if not server.can_send(server.bot_user["id"], channel["id"]):
        raise missing_permissions()
    meta = channel.get("thread_metadata") or {}
    if meta.get("archived"):
        if meta.get("locked") and not perms & P.MANAGE_THREADS:
            raise DiscordError(400, 50083, "Thread is archived")
        # Sending unarchives the thread, as on Discord (not past the active-thread limit).
        limits.check_unarchive(len(guild.active_threads()))
        server.update_channel(guild, channel, {"archived": False})
    if call.files and not perms & P.ATTACH_FILES:
        raise missing_permissions()
    _require_embed_links(payload, perms)
    if payload.get("message_reference") and not perms & P.READ_MESSAGE_HISTORY:
        raise missing_permissions()
    if payload.get("tts") and not perms & P.SEND_TTS_MESSAGES:
        payload["tts"] = False


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    perms = _require_view(call, guild, channel)
    if guild is not None and not perms & P.READ_MESSAGE_HISTORY:
        return []
    limit = max(1, min(100, int(call.query.get("limit", "50") or 50)))
    messages = server.channel_message_list(channel["id"])
    if "before" in call.query:
        before = int(call.query["before"])
        messages = [m for m in messages if int(m["id"]) < before][-limit:]
    elif "after" in call.query:
        after = int(call.query["after"])
        messages = [m for m in messages if int(m["id"]) > after][:limit]
    elif "around" in call.query:
        around = int(call.query["around"])
        older = [m for m in messages if int(m["id"]) <= around][-((limit + 1) // 2) :]
        newer = [m for m in messages if int(m["id"]) > around][: limit // 2]
        messages = older + newer
    else:
        messages = messages[-limit:]
    return [st.public(m) for m in reversed(messages)]


@route("POST", "/channels/{channel_id}/messages")
async def create_message(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    payload = dict(_body(call))
    limits.check_message(payload, has_files=bool(call.files))
    _check_can_post(call, guild, channel, payload)
    if call.files:
        payload["attachments_resolved"] = attachments_from_upload(call, payload)
    flags = int(payload.get("flags") or 0)
    if flags & ~((1 << 2) | (1 << 12) | (1 << 15)):
        raise form_error(("flags",), "MESSAGE_FLAGS_INVALID", "Invalid flags")
    # enforce_nonce: the same author and nonce within a few minutes get the first message
    # back instead of a second one (what makes a send repeated after a crash safe).
    nonce = payload.get("nonce")
    key = (server.bot_user["id"], str(nonce))
    if payload.get("enforce_nonce") and nonce is not None:
        seen = server.nonces.get(key)
        if seen is not None and server.now() - seen[1] < NONCE_WINDOW:
            existing = server.messages.get(seen[0])
            if existing is not None:
                server.stats["nonce_repeats"] += 1
                return st.public(existing)
    message = server.build_message(channel, server.bot_user, payload)
    server.store_message(channel, message)
    if payload.get("enforce_nonce") and nonce is not None:
        if len(server.nonces) > 10_000:
            cutoff = server.now() - NONCE_WINDOW
            server.nonces = {k: v for k, v in server.nonces.items() if v[1] >= cutoff}
        server.nonces[key] = (message["id"], server.now())
    return st.public(message)


#: How long Discord remembers a nonce for enforce_nonce ("the past few minutes").
NONCE_WINDOW = timedelta(minutes=5)


@route("GET", "/channels/{channel_id}/messages/pins")
async def list_pins(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel, P.READ_MESSAGE_HISTORY)
    items = [
        {"pinned_at": pinned_at, "message": st.public(call.server.messages[mid])}
        for mid, pinned_at in call.server.pins.get(channel["id"], [])
        if mid in call.server.messages
    ]
    return {"items": items, "has_more": False}


@route("GET", "/channels/{channel_id}/pins")
async def list_pins_legacy(call: Call) -> Any:
    result = await list_pins(call)
    return [item["message"] for item in result["items"]]


def _require_pin_permission(call: Call, guild: st.GuildState | None, channel: dict) -> None:
    if guild is None:
        return
    perms = _require_view(call, guild, channel)
    if not perms & (P.PIN_MESSAGES | P.MANAGE_MESSAGES):
        raise missing_permissions()


@route("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
@route("PUT", "/channels/{channel_id}/pins/{message_id}")
async def pin(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_pin_permission(call, guild, channel)
    message = _message(call, channel)
    if message["type"] not in (0, 19, 20, 23):
        raise DiscordError(400, 50021, "Cannot execute action on a system message")
    call.server.pin_message(channel, message)
    return None


@route("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
@route("DELETE", "/channels/{channel_id}/pins/{message_id}")
async def unpin(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_pin_permission(call, guild, channel)
    message = _message(call, channel)
    call.server.unpin_message(channel, message)
    return None


@route("POST", "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    if guild is None:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    _require_view(call, guild, channel, P.MANAGE_MESSAGES)
    ids = [str(i) for i in _body(call).get("messages") or []]
    if not 2 <= len(ids) <= 100:
        raise form_error(
            ("messages",), "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 100 in length."
        )
    deleted = []
    for mid in ids:
        message = server.messages.get(mid)
        if message is not None and message["channel_id"] == channel["id"]:
            server.messages.pop(mid)
            server.channel_messages[channel["id"]].remove(mid)
            deleted.append(mid)
    server.gateway.dispatch(
        "MESSAGE_DELETE_BULK", {"ids": deleted, "channel_id": channel["id"], "guild_id": guild.id}
    )
    return None


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(call: Call) -> Any:
    guild, channel = _channel(call)
    if guild is not None:
        _require_view(call, guild, channel, P.READ_MESSAGE_HISTORY)
    return st.public(_message(call, channel))


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    message = _message(call, channel)
    payload = dict(_body(call))
    if message["author"]["id"] != server.bot_user["id"]:
        if set(payload) - {"flags"}:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        _require_view(call, guild, channel, P.MANAGE_MESSAGES)
    elif guild is not None:
        _require_embed_links(payload, server.bot_channel_perms(guild, channel))
    limits.check_message(payload, is_edit=True, has_files=bool(call.files))
    if call.files:
        kept_ids = {str(a.get("id")) for a in payload.get("attachments") or []}
        kept = [a for a in message["attachments"] if a["id"] in kept_ids]
        payload["attachments_resolved"] = kept + attachments_from_upload(call, payload)
    return st.public(server.edit_message(channel, message, payload))


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(call: Call) -> Any:
    server = call.server
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    message = _message(call, channel)
    if message["author"]["id"] != server.bot_user["id"]:
        if guild is None:
            raise DiscordError(403, 50003, "Cannot execute action on a DM channel")
        _require_view(call, guild, channel, P.MANAGE_MESSAGES)
    server.delete_message(channel, message)
    return None


# -- reactions -------------------------------------------------------------------


def _emoji(raw: str) -> dict:
    if ":" in raw:
        name, _, emoji_id = raw.partition(":")
        return {"id": emoji_id, "name": name}
    return {"id": None, "name": raw}


def _emoji_key(emoji: dict) -> str:
    return f"{emoji['name']}:{emoji['id']}" if emoji.get("id") else emoji["name"]


def _refresh_reactions(server: Any, message: dict) -> None:
    reactors: dict[str, list[str]] = message.setdefault("_reactors", {})
    emojis: dict[str, dict] = message.setdefault("_reaction_emojis", {})
    reactions = []
    for key, users in reactors.items():
        if not users:
            continue
        reactions.append(
            {
                "count": len(users),
                "count_details": {"burst": 0, "normal": len(users)},
                "me": server.bot_user["id"] in users,
                "me_burst": False,
                "burst_colors": [],
                "emoji": emojis[key],
            }
        )
    if reactions:
        message["reactions"] = reactions
    else:
        message.pop("reactions", None)


def add_reaction(server: Any, channel: dict, message: dict, emoji: dict, user_id: str) -> None:
    key = _emoji_key(emoji)
    users = message.setdefault("_reactors", {}).setdefault(key, [])
    message.setdefault("_reaction_emojis", {})[key] = emoji
    if user_id in users:
        return
    users.append(user_id)
    _refresh_reactions(server, message)
    payload: dict[str, Any] = {
        "user_id": user_id,
        "channel_id": channel["id"],
        "message_id": message["id"],
        "emoji": emoji,
        "message_author_id": message["author"]["id"],
        "burst": False,
        "type": 0,
    }
    guild = server.channel_guild(channel)
    if guild is not None:
        payload["guild_id"] = guild.id
        if user_id in guild.members:
            payload["member"] = st.public(guild.members[user_id])
    server.gateway.dispatch("MESSAGE_REACTION_ADD", payload, dm=guild is None)


def remove_reaction(server: Any, channel: dict, message: dict, emoji: dict, user_id: str) -> None:
    key = _emoji_key(emoji)
    users = message.setdefault("_reactors", {}).get(key, [])
    if user_id not in users:
        return
    users.remove(user_id)
    _refresh_reactions(server, message)
    payload: dict[str, Any] = {
        "user_id": user_id,
        "channel_id": channel["id"],
        "message_id": message["id"],
        "emoji": emoji,
        "burst": False,
        "type": 0,
    }
    if channel.get("guild_id"):
        payload["guild_id"] = channel["guild_id"]
    server.gateway.dispatch("MESSAGE_REACTION_REMOVE", payload, dm=not channel.get("guild_id"))


@route("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def react(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel, P.READ_MESSAGE_HISTORY)
    message = _message(call, channel)
    emoji = _emoji(call.param("emoji"))
    if guild is not None and _emoji_key(emoji) not in message.get("_reactors", {}):
        _require_view(call, guild, channel, P.ADD_REACTIONS)
    add_reaction(call.server, channel, message, emoji, call.server.bot_user["id"])
    return None


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me")
async def unreact(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    message = _message(call, channel)
    remove_reaction(
        call.server, channel, message, _emoji(call.param("emoji")), call.server.bot_user["id"]
    )
    return None


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/{user_id}")
async def remove_user_reaction(call: Call) -> Any:
    guild, channel = _channel(call)
    if guild is not None:
        _require_view(call, guild, channel, P.MANAGE_MESSAGES)
    message = _message(call, channel)
    remove_reaction(
        call.server, channel, message, _emoji(call.param("emoji")), call.param("user_id")
    )
    return None


@route("GET", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}")
async def list_reactors(call: Call) -> Any:
    guild, channel = _channel(call)
    _require_view(call, guild, channel)
    message = _message(call, channel)
    key = _emoji_key(_emoji(call.param("emoji")))
    users = message.get("_reactors", {}).get(key, [])
    return [st.public(call.server.users[u]) for u in users]


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions")
async def clear_reactions(call: Call) -> Any:
    guild, channel = _channel(call)
    if guild is not None:
        _require_view(call, guild, channel, P.MANAGE_MESSAGES)
    message = _message(call, channel)
    message.pop("_reactors", None)
    message.pop("reactions", None)
    return None


# -- threads ---------------------------------------------------------------------


@route("POST", "/channels/{channel_id}/threads")
async def start_thread(call: Call) -> Any:
    server = call.server
    guild, parent = _channel(call)
    if guild is None or parent["type"] not in st.THREAD_PARENTS:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    payload = dict(_body(call))
    limits.check_thread_create(len(guild.active_threads()), payload)
    bot_id = server.bot_user["id"]
    if parent["type"] in (st.GUILD_FORUM, st.GUILD_MEDIA):
        perms = _require_view(call, guild, parent, P.SEND_MESSAGES)
        message_payload = dict(payload.get("message") or {})
        limits.check_message(message_payload, has_files=bool(call.files))
        _require_embed_links(message_payload, perms)
        tags = [str(t) for t in payload.get("applied_tags") or []]
        known = {t["id"] for t in parent.get("available_tags", [])}
        if any(t not in known for t in tags):
            raise form_error(("applied_tags",), "FORUM_TAG_UNKNOWN", "Unknown tag")
        if call.files:
            message_payload["attachments_resolved"] = attachments_from_upload(call, message_payload)
        thread = server.create_thread(
            guild,
            parent,
            name=payload["name"],
            owner_id=bot_id,
            thread_type=st.PUBLIC_THREAD,
            auto_archive_duration=payload.get("auto_archive_duration"),
            applied_tags=tags,
            rate_limit_per_user=int(payload.get("rate_limit_per_user") or 0),
        )
        starter = server.build_message(
            thread, server.bot_user, message_payload, message_id=thread["id"]
        )
        server.store_message(thread, starter)
        parent["last_message_id"] = thread["id"]
        result = st.public(thread)
        result["message"] = st.public(starter)
        result["member"] = server._thread_member_payload(guild, thread, bot_id)
        return 201, result
    thread_type = int(payload.get("type") or st.PRIVATE_THREAD)
    if thread_type == st.PRIVATE_THREAD:
        if parent["type"] != st.GUILD_TEXT:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        _require_view(call, guild, parent, P.CREATE_PRIVATE_THREADS)
    else:
        _require_view(call, guild, parent, P.CREATE_PUBLIC_THREADS)
    thread = server.create_thread(
        guild,
        parent,
        name=payload["name"],
        owner_id=bot_id,
        thread_type=thread_type,
        auto_archive_duration=payload.get("auto_archive_duration"),
        invitable=payload.get("invitable", True),
        rate_limit_per_user=int(payload.get("rate_limit_per_user") or 0),
    )
    return 201, st.public(thread)


@route("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def start_thread_from_message(call: Call) -> Any:
    server = call.server
    guild, parent = _channel(call)
    if guild is None or parent["type"] not in (st.GUILD_TEXT, st.GUILD_ANNOUNCEMENT):
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    message = _message(call, parent)
    payload = dict(_body(call))
    limits.check_thread_create(len(guild.active_threads()), payload)
    _require_view(call, guild, parent, P.CREATE_PUBLIC_THREADS)
    if message["id"] in guild.channels:
        raise DiscordError(400, 160004, "A thread has already been created for this message")
    thread_type = (
        st.ANNOUNCEMENT_THREAD if parent["type"] == st.GUILD_ANNOUNCEMENT else st.PUBLIC_THREAD
    )
    thread = server.create_thread(
        guild,
        parent,
        name=payload["name"],
        owner_id=server.bot_user["id"],
        thread_type=thread_type,
        auto_archive_duration=payload.get("auto_archive_duration"),
        thread_id=message["id"],
        rate_limit_per_user=int(payload.get("rate_limit_per_user") or 0),
    )
    message["flags"] |= MESSAGE_FLAG_HAS_THREAD
    message["thread"] = st.public(thread)
    server.dispatch_message("MESSAGE_UPDATE", parent, message)
    return 201, st.public(thread)


def _thread(call: Call) -> tuple[st.GuildState, dict]:
    guild, thread = _channel(call)
    if guild is None or thread["type"] not in st.THREAD_TYPES:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    return guild, thread


@route("PUT", "/channels/{channel_id}/thread-members/@me")
async def join_thread(call: Call) -> Any:
    server = call.server
    guild, thread = _thread(call)
    _require_view(call, guild, thread)
    if thread["thread_metadata"].get("archived"):
        raise DiscordError(400, 50083, "Thread is archived")
    server.add_thread_member(guild, thread, server.bot_user["id"])
    return None


@route("DELETE", "/channels/{channel_id}/thread-members/@me")
async def leave_thread(call: Call) -> Any:
    server = call.server
    guild, thread = _thread(call)
    server.remove_thread_member(guild, thread, server.bot_user["id"])
    return None


@route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(call: Call) -> Any:
    server = call.server
    guild, thread = _thread(call)
    perms = _require_view(call, guild, thread, P.SEND_MESSAGES_IN_THREADS)
    if thread["thread_metadata"].get("archived"):
        raise DiscordError(400, 50083, "Thread is archived")
    if (
        thread["type"] == st.PRIVATE_THREAD
        and not thread["thread_metadata"].get("invitable", True)
        and not perms & P.MANAGE_THREADS
        and thread["owner_id"] != server.bot_user["id"]
    ):
        raise missing_permissions()
    server.add_thread_member(guild, thread, call.param("user_id"))
    return None


@route("DELETE", "/channels/{channel_id}/thread-members/{user_id}")
async def remove_thread_member(call: Call) -> Any:
    server = call.server
    guild, thread = _thread(call)
    perms = _require_view(call, guild, thread)
    if not perms & P.MANAGE_THREADS and not (
        thread["type"] == st.PRIVATE_THREAD and thread["owner_id"] == server.bot_user["id"]
    ):
        raise missing_permissions()
    server.remove_thread_member(guild, thread, call.param("user_id"))
    return None


def _thread_member_out(call: Call, guild: st.GuildState, entry: dict) -> dict:
    data = dict(entry)
    if call.flag("with_member") and entry["user_id"] in guild.members:
        data["member"] = st.public(guild.members[entry["user_id"]])
    return data


@route("GET", "/channels/{channel_id}/thread-members")
async def list_thread_members(call: Call) -> Any:
    guild, thread = _thread(call)
    _require_view(call, guild, thread)
    if not call.server.gateway.allowed_intents & Intent.GUILD_MEMBERS:
        raise missing_access()
    return [
        _thread_member_out(call, guild, e)
        for e in guild.thread_members.get(thread["id"], {}).values()
    ]


@route("GET", "/channels/{channel_id}/thread-members/{user_id}")
async def get_thread_member(call: Call) -> Any:
    guild, thread = _thread(call)
    _require_view(call, guild, thread)
    entry = guild.thread_members.get(thread["id"], {}).get(call.param("user_id"))
    if entry is None:
        raise unknown("Member", UNKNOWN_MEMBER)
    return _thread_member_out(call, guild, entry)


def _archived(call: Call, private: bool, joined_only: bool = False) -> Any:
    server = call.server
    guild, parent = _channel(call)
    if guild is None:
        raise DiscordError(400, 50024, "Cannot execute action on this channel type")
    needed = [P.READ_MESSAGE_HISTORY] + ([P.MANAGE_THREADS] if private and not joined_only else [])
    _require_view(call, guild, parent, *needed)
    bot_id = server.bot_user["id"]
    threads = [
        t
        for t in guild.threads()
        if t["parent_id"] == parent["id"]
        and t["thread_metadata"]["archived"]
        and (t["type"] == st.PRIVATE_THREAD) == private
        and (not joined_only or bot_id in guild.thread_members.get(t["id"], {}))
    ]
    threads.sort(key=lambda t: t["thread_metadata"]["archive_timestamp"], reverse=True)
    members = [
        guild.thread_members[t["id"]][bot_id]
        for t in threads
        if bot_id in guild.thread_members.get(t["id"], {})
    ]
    return {"threads": [st.public(t) for t in threads], "members": members, "has_more": False}


@route("GET", "/channels/{channel_id}/threads/archived/public")
async def archived_public(call: Call) -> Any:
    return _archived(call, private=False)


@route("GET", "/channels/{channel_id}/threads/archived/private")
async def archived_private(call: Call) -> Any:
    return _archived(call, private=True)


@route("GET", "/channels/{channel_id}/users/@me/threads/archived/private")
async def archived_private_joined(call: Call) -> Any:
    return _archived(call, private=True, joined_only=True)
