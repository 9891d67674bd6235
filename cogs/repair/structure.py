"""Roles and channels hackbot keeps (bot/guild_setup.py): made again, permissions put back,
and a role made again given back to the people who held it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.guild_setup import bot_channels, ensure_structure
from bot.services import repair as service
from bot.services.repair import Fix, Remembered
from cogs.repair.registry import give_role, role_named, set_overwrite, text_channel_named, who

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

ROLE_KINDS = ("organiser", "mentor", "judge", "participant")
CHANNEL_KINDS = ("announcements", "organisers")


def role_names(bot: HackBot) -> dict[str, str]:
    return {kind: getattr(bot.settings.roles, kind) for kind in ROLE_KINDS}


async def check_roles(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """The organiser, mentor, judge and participant roles exist, with the organisers'
    permission; one made again goes back to who held it (participants: everyone registered)."""
    names = role_names(bot)
    before = {}
    for kind, name in names.items():
        role = discord.utils.get(guild.roles, name=name)
        before[kind] = None if role is None else role.permissions.value
    await ensure_structure(bot, guild)
    async with bot.db.read() as session:
        record = await service.structure_record(session)
        registered = await service.registered_ids(session)
    fixes: list[Fix] = []
    remembered: dict[str, Remembered] = {}
    for kind, name in names.items():
        role = await role_named(bot, guild, name)
        if role is None:
            continue
        remade = record.remade("roles", kind, role.id, name)
        holders = [] if kind == "participant" else [member.id for member in role.members]
        if before[kind] is None or remade is not None:
            fixes.append(Fix("role_created", {"role": name}))
            if kind == "participant":
                owed = registered
            else:
                owed = remade.members if remade is not None else []
            given = await give_role(bot, guild, role, owed)
            if given:
                fixes.append(Fix("role_given_back", {"role": name, "count": given}))
            if kind != "participant":
                holders = sorted(set(holders) | {uid for uid in owed if guild.get_member(uid)})
        elif before[kind] != role.permissions.value:
            fixes.append(Fix("role_permissions", {"role": name}))
        # Participants are known from the database: only the other roles' holders are kept.
        remembered[kind] = Remembered(role.id, name, holders)
    async with bot.db.begin() as session:
        await service.remember(session, "roles", remembered)
    return fixes


async def check_channels(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """The announcements and organisers channels exist, with the permissions the bot gave them
    (what people added to those overwrites is kept)."""
    names = {
        "announcements": bot.settings.channels.announcements,
        "organisers": bot.settings.channels.organisers,
    }
    before = {
        kind: discord.utils.get(guild.text_channels, name=name) is not None
        for kind, name in names.items()
    }
    await ensure_structure(bot, guild)
    roles = {}
    for kind, name in role_names(bot).items():
        role = await role_named(bot, guild, name)
        if role is None:
            return []  # the roles check reports it
        roles[kind] = role
    async with bot.db.read() as session:
        record = await service.structure_record(session)
    fixes: list[Fix] = []
    remembered: dict[str, Remembered] = {}
    specs = dict(zip(CHANNEL_KINDS, bot_channels(bot, guild, roles), strict=True))
    for kind, (name, _topic, overwrites) in specs.items():
        channel = await text_channel_named(bot, guild, name)
        if channel is None:
            continue
        remembered[kind] = Remembered(channel.id, name)
        if not before[kind] or record.remade("channels", kind, channel.id, name) is not None:
            fixes.append(Fix("channel_created", {"channel": channel.mention}))
            continue
        for target, wanted in overwrites.items():
            have = channel.overwrites_for(target)
            wanted_bits = pair_bits(wanted)
            have_bits = pair_bits(have)
            if not service.lacks(wanted_bits, have_bits):
                continue
            allow, deny = service.merge(wanted_bits, have_bits)
            await set_overwrite(bot, channel.id, target, allow, deny)
            fixes.append(
                Fix(
                    "channel_permissions",
                    {"channel": channel.mention, "who": who(target, guild)},
                )
            )
    async with bot.db.begin() as session:
        await service.remember(session, "channels", remembered)
    return fixes


async def check_role_overwrites(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """The help queue exists; on it and on the team hub, a kept role made again gets back
    what Discord dropped with the old one (mentors see the queue, participants the hub)."""
    settings = bot.settings
    desk = getattr(bot, "help_desk", None)
    fixes: list[Fix] = []
    if (
        desk is not None
        and discord.utils.get(guild.text_channels, name=settings.channels.help_queue) is None
    ):
        made = await desk.queue_channel()
        if made is not None:
            fixes.append(Fix("channel_created", {"channel": made.mention}))
    names = {"help_queue": settings.channels.help_queue, "hub": settings.formation.hub_channel}
    roles = {
        kind: discord.utils.get(guild.roles, name=name) for kind, name in role_names(bot).items()
    }
    async with bot.db.read() as session:
        record = await service.structure_record(session)
    now: service.RoleOverwrites = {}
    for kind, name in names.items():
        channel = discord.utils.get(guild.text_channels, name=name)
        if channel is None:
            continue
        now[kind] = {}
        for role_kind, role in roles.items():
            if role is None:
                continue
            have = pair_bits(channel.overwrites_for(role))
            lost = record.lost_overwrite(kind, role_kind, role.id)
            if lost is not None and service.lacks(lost, have):
                have = service.merge(lost, have)
                await set_overwrite(bot, channel.id, role, *have)
                fixes.append(Fix("role_overwrite", {"channel": channel.mention, "role": role.name}))
            if have != (0, 0):
                now[kind][role_kind] = (role.id, *have)
    async with bot.db.begin() as session:
        await service.remember_overwrites(session, now)
    return fixes


def pair_bits(overwrite: discord.PermissionOverwrite) -> tuple[int, int]:
    allow, deny = overwrite.pair()
    return allow.value, deny.value
