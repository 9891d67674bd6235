"""Make sure the guild has the roles and channels hackbot relies on.

Run once when the bot first becomes ready. Idempotent: only what is missing
is created, so a small event needs nothing but an invited bot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.admin import ORGANISER_PERMISSION
from bot.i18n import t
from bot.outbox import overwrites_body
from bot.services import outbox
from bot.services.outbox import Priority

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


def _bot_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(
        view_channel=True,
        send_messages=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        pin_messages=True,
    )


def bot_channels(
    bot: HackBot, guild: discord.Guild, roles: dict[str, discord.Role]
) -> list[tuple[str, str, dict]]:
    """The channels hackbot keeps: (name, topic, permission overwrites), ``roles`` by kind."""
    settings = bot.settings
    lang = settings.event.language
    me = guild.me
    everyone = guild.default_role
    return [
        (
            settings.channels.announcements,
            t("setup.announcements_topic", lang, event=settings.event.name),
            {
                everyone: discord.PermissionOverwrite(view_channel=True, send_messages=False),
                me: _bot_overwrite(),
            },
        ),
        (
            settings.channels.organisers,
            t("setup.organisers_topic", lang),
            {
                everyone: discord.PermissionOverwrite(view_channel=False),
                roles["organiser"]: discord.PermissionOverwrite(
                    view_channel=True, send_messages=True
                ),
                me: _bot_overwrite(),
            },
        ),
    ]


async def ensure_structure(bot: HackBot, guild: discord.Guild) -> list[str]:
    """Create missing roles and channels (through the outbox, waiting for each: what
    follows needs them); return a line per thing created. Raises
    :class:`bot.app.Refused` when Discord refuses one for good."""
    settings = bot.settings
    lang = settings.event.language
    created: list[str] = []
    reason = t("setup.audit_reason", lang)

    roles: dict[str, discord.Role] = {}
    for kind in ("organiser", "mentor", "judge", "participant"):
        name = getattr(settings.roles, kind)
        role = discord.utils.get(guild.roles, name=name)
        # Organisers get Manage Events: it is what makes Discord show them /admin.
        permissions = ORGANISER_PERMISSION if kind == "organiser" else discord.Permissions.none()
        if role is None:
            made = await bot.make_role(
                outbox.role_create(
                    guild.id,
                    name=name,
                    permissions=permissions.value,
                    hoist=kind != "participant",
                    reason=reason,
                    priority=Priority.URGENT,
                    key=f"setup-role:{kind}",
                )
            )
            if made is None:  # the bot is stopping
                return created
            role = made
            created.append(f"role {name}")
        elif not permissions.is_subset(role.permissions) and role < guild.me.top_role:
            await bot.make(
                outbox.role_edit(
                    guild.id,
                    role.id,
                    permissions=(role.permissions | permissions).value,
                    reason=reason,
                    priority=Priority.URGENT,
                )
            )
            created.append(f"permissions of role {name}")
        roles[kind] = role

    for name, topic, overwrites in bot_channels(bot, guild, roles):
        if discord.utils.get(guild.text_channels, name=name) is None:
            await bot.make_channel(
                outbox.channel_create(
                    guild.id,
                    name=name,
                    type=discord.ChannelType.text.value,
                    topic=topic,
                    overwrites=overwrites_body(overwrites),
                    reason=reason,
                    priority=Priority.URGENT,
                    key=f"setup-channel:{name}",
                )
            )
            created.append(f"channel #{name}")
    if settings.registration.onboarding:
        from bot.onboarding import ensure_prompt

        created += await ensure_prompt(bot, guild, roles["participant"])
    for line in created:
        log.info("guild setup: created %s", line)
    return created
