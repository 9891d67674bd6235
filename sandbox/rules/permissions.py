"""Discord's permission computation, as documented in "Permissions" of the API docs.

Inputs are Discord-JSON-shaped dicts:

* guild:   ``{"id", "owner_id", "roles": [{"id", "permissions": "<int as str>"}]}``;
  the @everyone role's id equals the guild id.
* member:  ``{"user": {"id"}, "roles": [role ids]}``
* channel: ``{"id", "type", "permission_overwrites": [{"id", "type": 0|1, "allow", "deny"}]}``;
  threads also carry ``parent_id`` and optionally ``thread_metadata``.

Algorithm (base, then channel overwrites, then implicit rules):

1. Guild owner -> every permission. Otherwise base = @everyone role | member's roles.
   ADMINISTRATOR in the base -> every permission, overwrites are skipped.
2. Channel: apply the @everyone overwrite (deny, then allow), then all overwrites of
   the member's roles aggregated (deny all, then allow all), then the member overwrite.
3. Implicit: without VIEW_CHANNEL nothing is granted in the channel. Without the
   sending permission (SEND_MESSAGES, or SEND_MESSAGES_IN_THREADS in a thread),
   SEND_TTS_MESSAGES, MENTION_EVERYONE, ATTACH_FILES and EMBED_LINKS are denied too.
4. Threads (types 10, 11, 12) have no overwrites of their own: they use the parent
   channel's permissions. A private thread (12) is only visible to its members and
   to whoever has MANAGE_THREADS in the parent.

Timeouts (communication_disabled_until) are not modelled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any


class P(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    USE_VAD = 1 << 25
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    REQUEST_TO_SPEAK = 1 << 32
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    USE_EMBEDDED_ACTIVITIES = 1 << 39
    MODERATE_MEMBERS = 1 << 40
    VIEW_CREATOR_MONETIZATION_ANALYTICS = 1 << 41
    USE_SOUNDBOARD = 1 << 42
    CREATE_GUILD_EXPRESSIONS = 1 << 43
    CREATE_EVENTS = 1 << 44
    USE_EXTERNAL_SOUNDS = 1 << 45
    SEND_VOICE_MESSAGES = 1 << 46
    SET_VOICE_CHANNEL_STATUS = 1 << 48
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


ALL_PERMISSIONS: int = 0
for _flag in P:
    ALL_PERMISSIONS |= _flag.value
del _flag

THREAD_TYPES = frozenset({10, 11, 12})
PRIVATE_THREAD = 12

# Denied along with the sending permission (Discord docs, "Implicit Permissions").
_NEEDS_SEND = P.SEND_TTS_MESSAGES | P.MENTION_EVERYONE | P.ATTACH_FILES | P.EMBED_LINKS


def parse_bits(value: Any) -> int:
    """Permissions travel as decimal strings in JSON; accept ints too."""
    if value is None or value == "":
        return 0
    return int(value)


def _role_ids(member: dict) -> set[str]:
    return {str(r) for r in member.get("roles", ())}


def _member_id(member: dict) -> str:
    user = member.get("user")
    if user is not None:
        return str(user["id"])
    return str(member["id"])


def base_permissions(guild: dict, member: dict) -> int:
    """Guild-level permissions of ``member`` (before any channel overwrite)."""
    if str(guild.get("owner_id")) == _member_id(member):
        return ALL_PERMISSIONS
    guild_id = str(guild["id"])
    member_roles = _role_ids(member)
    perms = 0
    for role in guild.get("roles", ()):
        role_id = str(role["id"])
        if role_id == guild_id or role_id in member_roles:
            perms |= parse_bits(role.get("permissions"))
    if perms & P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def apply_overwrites(
    base: int, guild_id: str, member_id: str, role_ids: Iterable[str], overwrites: Iterable[dict]
) -> int:
    """Apply a channel's overwrites to ``base`` in Discord's documented order."""
    everyone = None
    member_ow = None
    roles = set(role_ids)
    role_allow = role_deny = 0
    for ow in overwrites:
        ow_id = str(ow["id"])
        ow_type = int(ow.get("type", 0))
        if ow_type == 0 and ow_id == guild_id:
            everyone = ow
        elif ow_type == 0 and ow_id in roles:
            role_allow |= parse_bits(ow.get("allow"))
            role_deny |= parse_bits(ow.get("deny"))
        elif ow_type == 1 and ow_id == member_id:
            member_ow = ow
    perms = base
    if everyone is not None:
        perms &= ~parse_bits(everyone.get("deny"))
        perms |= parse_bits(everyone.get("allow"))
    perms &= ~role_deny
    perms |= role_allow
    if member_ow is not None:
        perms &= ~parse_bits(member_ow.get("deny"))
        perms |= parse_bits(member_ow.get("allow"))
    return perms


def _send_bit(channel: dict) -> P:
    if int(channel.get("type", 0)) in THREAD_TYPES:
        return P.SEND_MESSAGES_IN_THREADS
    return P.SEND_MESSAGES


def _overwritten(guild: dict, member: dict, channel: dict) -> int:
    """Base permissions with ``channel``'s overwrites applied, before implicit rules."""
    base = base_permissions(guild, member)
    if base & P.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return apply_overwrites(
        base,
        str(guild["id"]),
        _member_id(member),
        _role_ids(member),
        channel.get("permission_overwrites", ()),
    )


def channel_permissions(
    guild: dict,
    member: dict,
    channel: dict,
    parent: dict | None = None,
    thread_member_ids: set[str] | None = None,
) -> int:
    """Effective permissions of ``member`` in ``channel``.

    For a thread, ``parent`` is its parent channel (required) and, for a private
    thread, ``thread_member_ids`` the ids of the users who joined it.
    """
    channel_type = int(channel.get("type", 0))
    is_thread = channel_type in THREAD_TYPES
    if is_thread:
        if parent is None:
            raise ValueError(f"thread {channel.get('id')} needs its parent channel")
        perms = _overwritten(guild, member, parent)
        if not perms & P.VIEW_CHANNEL:
            return 0
        if channel_type == PRIVATE_THREAD and not perms & P.MANAGE_THREADS:
            members = {str(m) for m in (thread_member_ids or ())}
            if _member_id(member) not in members:
                return 0
    else:
        perms = _overwritten(guild, member, channel)
        if not perms & P.VIEW_CHANNEL:
            return 0
    if perms == ALL_PERMISSIONS:
        return perms
    if not perms & _send_bit(channel):
        perms &= ~_NEEDS_SEND
    return perms


def has(perms: int, *flags: P) -> bool:
    needed = 0
    for flag in flags:
        needed |= flag
    return perms & needed == needed


def can_view(
    guild: dict,
    member: dict,
    channel: dict,
    parent: dict | None = None,
    thread_member_ids: set[str] | None = None,
) -> bool:
    perms = channel_permissions(guild, member, channel, parent, thread_member_ids)
    return bool(perms & P.VIEW_CHANNEL)


def can_send(
    guild: dict,
    member: dict,
    channel: dict,
    parent: dict | None = None,
    thread_member_ids: set[str] | None = None,
) -> bool:
    """Whether ``member`` may post a message in ``channel``.

    In a thread the sending permission is SEND_MESSAGES_IN_THREADS, and a locked
    thread (``thread_metadata.locked``) additionally needs MANAGE_THREADS.
    """
    perms = channel_permissions(guild, member, channel, parent, thread_member_ids)
    if not perms & P.VIEW_CHANNEL or not perms & _send_bit(channel):
        return False
    locked = bool((channel.get("thread_metadata") or {}).get("locked"))
    if int(channel.get("type", 0)) in THREAD_TYPES and locked:
        return bool(perms & P.MANAGE_THREADS)
    return True
