"""The sandbox's world: guilds, channels, roles, members, messages, commands.

Everything is stored as Discord-JSON-shaped dicts (snowflakes as strings) so that
the payloads can be sent as they are and the rule modules in ``sandbox.rules``
can work on them. Keys starting with ``_`` are sandbox bookkeeping (who was
pinged, whether a message is ephemeral, ...) and are stripped before anything is
sent to a client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Channel types
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
ANNOUNCEMENT_THREAD = 10
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
GUILD_STAGE_VOICE = 13
GUILD_FORUM = 15
GUILD_MEDIA = 16

THREAD_TYPES = frozenset({ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
TEXT_LIKE = frozenset(
    {GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_VOICE, GUILD_STAGE_VOICE, *THREAD_TYPES}
)
THREAD_PARENTS = frozenset({GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_FORUM, GUILD_MEDIA})


def iso(when: datetime) -> str:
    return when.isoformat(timespec="microseconds")


def public(obj: Any) -> Any:
    """A deep copy of ``obj`` without sandbox bookkeeping keys (those starting with ``_``)."""
    if isinstance(obj, dict):
        return {
            k: public(v) for k, v in obj.items() if not (isinstance(k, str) and k.startswith("_"))
        }
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


def make_user(
    user_id: str, username: str, *, bot: bool = False, global_name: str | None = None
) -> dict:
    user = {
        "id": user_id,
        "username": username,
        "discriminator": "0",
        "global_name": global_name if global_name is not None else (None if bot else username),
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if bot:
        user["bot"] = True
    return user


def make_member(user: dict, roles: list[str], joined_at: datetime) -> dict:
    return {
        "user": user,
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": list(roles),
        "joined_at": iso(joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


def make_role(
    role_id: str,
    name: str,
    *,
    permissions: int,
    position: int,
    managed: bool = False,
    bot_id: str | None = None,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
) -> dict:
    role = {
        "id": role_id,
        "name": name,
        "description": None,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(permissions),
        "managed": managed,
        "mentionable": mentionable,
        "flags": 0,
    }
    if bot_id is not None:
        role["tags"] = {"bot_id": bot_id}
    return role


def make_channel(channel_id: str, guild_id: str, payload: dict, position: int) -> dict:
    """A guild channel from a (validated) create payload."""
    ctype = int(payload.get("type", GUILD_TEXT))
    channel: dict[str, Any] = {
        "id": channel_id,
        "type": ctype,
        "guild_id": guild_id,
        "name": payload["name"],
        "position": payload.get("position", position),
        "permission_overwrites": [
            {
                "id": str(o["id"]),
                "type": int(o.get("type", 0)),
                "allow": str(o.get("allow", "0") or "0"),
                "deny": str(o.get("deny", "0") or "0"),
            }
            for o in payload.get("permission_overwrites") or []
        ],
        "parent_id": str(payload["parent_id"]) if payload.get("parent_id") else None,
        "nsfw": bool(payload.get("nsfw", False)),
        "flags": 0,
    }
    if ctype in (GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_FORUM, GUILD_MEDIA):
        channel["topic"] = payload.get("topic")
        channel["rate_limit_per_user"] = payload.get("rate_limit_per_user", 0) or 0
        channel["default_auto_archive_duration"] = payload.get("default_auto_archive_duration")
        channel["default_thread_rate_limit_per_user"] = payload.get(
            "default_thread_rate_limit_per_user", 0
        )
    if ctype in (GUILD_TEXT, GUILD_ANNOUNCEMENT, GUILD_VOICE, GUILD_STAGE_VOICE):
        channel["last_message_id"] = None
        channel["last_pin_timestamp"] = None
    if ctype in (GUILD_VOICE, GUILD_STAGE_VOICE):
        channel["bitrate"] = payload.get("bitrate") or 64000
        channel["user_limit"] = payload.get("user_limit") or 0
        channel["rtc_region"] = payload.get("rtc_region")
        channel["video_quality_mode"] = payload.get("video_quality_mode", 1)
        channel["rate_limit_per_user"] = payload.get("rate_limit_per_user", 0) or 0
    if ctype in (GUILD_FORUM, GUILD_MEDIA):
        channel["available_tags"] = []
        channel["default_reaction_emoji"] = payload.get("default_reaction_emoji")
        channel["default_sort_order"] = payload.get("default_sort_order")
        channel["default_forum_layout"] = payload.get("default_forum_layout", 0)
        channel["last_message_id"] = None
    return channel


@dataclass
class GuildState:
    """One guild. ``data`` holds the guild object's own fields."""

    data: dict
    roles: dict[str, dict] = field(default_factory=dict)
    channels: dict[str, dict] = field(default_factory=dict)  # guild channels and threads
    members: dict[str, dict] = field(default_factory=dict)
    thread_members: dict[str, dict[str, dict]] = field(default_factory=dict)
    scheduled_events: dict[str, dict] = field(default_factory=dict)
    commands: dict[str, dict] = field(default_factory=dict)  # guild application commands
    command_permissions: dict[str, dict] = field(default_factory=dict)
    # The guild onboarding object (GET/PUT /guilds/{id}/onboarding); see make_onboarding.
    onboarding: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.data["id"]

    def perm_view(self) -> dict:
        """The guild shape ``sandbox.rules.permissions`` expects."""
        return {
            "id": self.id,
            "owner_id": self.data["owner_id"],
            "roles": list(self.roles.values()),
        }

    def guild_channels(self) -> list[dict]:
        return [c for c in self.channels.values() if c["type"] not in THREAD_TYPES]

    def threads(self) -> list[dict]:
        return [c for c in self.channels.values() if c["type"] in THREAD_TYPES]

    def active_threads(self) -> list[dict]:
        return [t for t in self.threads() if not t["thread_metadata"]["archived"]]

    def role_by_name(self, name: str) -> dict | None:
        for role in self.roles.values():
            if role["name"] == name:
                return role
        return None

    def channel_by_name(self, name: str) -> dict | None:
        # Prefer guild channels over threads of the same name
        found = [c for c in self.channels.values() if c["name"] == name]
        found.sort(key=lambda c: (c["type"] in THREAD_TYPES, int(c["id"])))
        return found[0] if found else None

    def to_gateway(self, *, members: list[dict], joined_at: str, large: bool) -> dict:
        guild = dict(self.data)
        guild.update(
            {
                "roles": list(self.roles.values()),
                "channels": self.guild_channels(),
                "threads": self.active_threads(),
                "members": members,
                "member_count": len(self.members),
                "large": large,
                "unavailable": False,
                "joined_at": joined_at,
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": list(self.scheduled_events.values()),
                "soundboard_sounds": [],
            }
        )
        return public(guild)

    def to_rest(self) -> dict:
        guild = dict(self.data)
        guild["roles"] = list(self.roles.values())
        guild["approximate_member_count"] = len(self.members)
        guild["approximate_presence_count"] = 0
        return public(guild)


def make_onboarding(guild_id: str) -> dict:
    """A guild's onboarding before anyone set it: no prompts, no default channels, disabled."""
    return {
        "guild_id": guild_id,
        "prompts": [],
        "default_channel_ids": [],
        "enabled": False,
        "mode": 0,
    }


def base_guild_data(guild_id: str, name: str, owner_id: str) -> dict:
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": owner_id,
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "emojis": [],
        "stickers": [],
        "features": ["COMMUNITY", "NEWS"],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_members": 500000,
        "max_presences": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "nsfw": False,
        "premium_progress_bar_enabled": False,
        "incidents_data": None,
    }
