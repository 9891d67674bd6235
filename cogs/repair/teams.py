"""Team spaces (cogs/teams/spaces.py): members who left the server, spaces deleted by hand,
and the per-member permission overwrites of each space."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.services import repair as service
from bot.services import teams as team_service
from bot.services.repair import Fix, TeamSpace
from cogs.repair.registry import find_place, set_overwrite, who
from cogs.repair.structure import pair_bits
from cogs.teams import spaces

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


async def _left(guild: discord.Guild, user_id: int) -> bool:
    """Whether ``user_id`` is no longer in the guild (asked to Discord when not cached)."""
    if guild.get_member(user_id) is not None:
        return False
    try:
        await guild.fetch_member(user_id)
    except discord.NotFound:
        return True
    except discord.HTTPException:
        return False
    return False


async def check_members_left(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """Someone left the server while the bot was not listening: they leave their team, exactly
    as when the bot hears it (bot.services.teams.member_left_guild), and lose any access given."""
    if not guild.chunked:
        log.info("repair: the member list is not complete yet, not looking for who left")
        return []
    async with bot.db.read() as session:
        teams = await service.team_spaces(session)
    fixes: list[Fix] = []
    for team in teams:
        for user_id in team.members:
            if not await _left(guild, user_id):
                continue
            async with bot.db.begin() as session:
                change = await team_service.member_left_guild(session, bot.clock.now(), user_id)
            if change is None:
                continue
            log.info("repair: member %s had left the server: out of team %s", user_id, team.team_id)
            await spaces.team_changed(bot, change.team_id)
            key = "member_left_archived" if change.archived else "member_left"
            fixes.append(Fix(key, {"member": f"<@{user_id}>", "team": team.name}))
        for user_id in team.access:
            if await _left(guild, user_id):
                await spaces.revoke_access(bot, team.team_id, user_id)
                fixes.append(Fix("access_left", {"member": f"<@{user_id}>", "team": team.name}))
    return fixes


async def check_team_spaces(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """Every active team has its space, the right members see it, and it stays private."""
    async with bot.db.read() as session:
        teams = await service.team_spaces(session)
    fixes: list[Fix] = []
    for team in teams:
        try:
            fixes.extend(await _check_team(bot, guild, team))
        except discord.HTTPException as error:
            log.warning("repair: team %s: %s", team.team_id, error)
            fixes.append(Fix("team_failed", {"team": team.name, "error": str(error)[:200]}))
    return fixes


async def _space_mention(bot: HackBot, team_id: int) -> str | None:
    async with bot.db.read() as session:
        team = await service.team_space(session, team_id)
    return f"<#{team.channel_id}>" if team is not None and team.channel_id else None


async def _check_team(bot: HackBot, guild: discord.Guild, team: TeamSpace) -> list[Fix]:
    if team.kind is None:
        if not team.wanted or team.forming:
            return []
        await spaces.team_changed(bot, team.team_id)
        made = await _space_mention(bot, team.team_id)
        return [Fix("team_space_created", {"team": team.name, "space": made})] if made else []
    space = await find_place(guild, team.channel_id, thread=team.kind == "thread")
    if space is None:
        async with bot.db.begin() as session:
            await service.forget_team_space(session, team.team_id)
        await spaces.team_changed(bot, team.team_id)
        made = await _space_mention(bot, team.team_id)
        return [Fix("team_space_recreated", {"team": team.name, "space": made or "—"})]
    renamed = _name_fix(team, space)
    if isinstance(space, discord.Thread):
        fixes = await _check_thread(bot, guild, team, space, rename=bool(renamed))
    else:
        fixes = await _check_channels(bot, guild, team, space, rename=bool(renamed))
    return renamed + fixes


def _name_fix(team: TeamSpace, space: Any) -> list[Fix]:
    """A space renamed by hand, or whose rename Discord's limit had put off when the bot
    stopped, is given its team's name again (by the space manager's refresh)."""
    wanted = team.slug[:100]
    if not wanted or space.name == wanted:
        return []
    return [
        Fix("team_space_renamed", {"team": team.name, "old": space.name, "space": space.mention})
    ]


async def _check_thread(
    bot: HackBot, guild: discord.Guild, team: TeamSpace, thread: discord.Thread, *, rename: bool
) -> list[Fix]:
    present = {member.id for member in await thread.fetch_members()} - {guild.me.id}
    missing, extra = sorted(team.wanted - present), sorted(present - team.wanted)
    if not missing and not extra and not rename:
        return []
    await spaces.manager(bot).refresh(team.team_id)
    return _access_fixes(team, thread.mention, missing, [], extra)


def _access_fixes(
    team: TeamSpace, space: str, missing: list[int], wrong: list[int], extra: list[int]
) -> list[Fix]:
    fixes = []
    for key, ids in (
        ("team_access_restored", missing),
        ("team_access_corrected", wrong),
        ("team_access_removed", extra),
    ):
        fixes.extend(
            Fix(key, {"member": f"<@{uid}>", "team": team.name, "space": space}) for uid in ids
        )
    return fixes


def _member_overwrites(channel: Any, me: int) -> dict[int, tuple[int, int]]:
    present = {}
    for target, overwrite in channel.overwrites.items():
        if isinstance(target, discord.Role) or getattr(target, "type", None) is discord.Role:
            continue
        if target.id != me:
            present[target.id] = pair_bits(overwrite)
    return present


async def _check_channels(
    bot: HackBot, guild: discord.Guild, team: TeamSpace, text: Any, *, rename: bool
) -> list[Fix]:
    manager = spaces.manager(bot)
    channels = [(text, spaces.member_overwrite())]
    voice = guild.get_channel(team.voice_channel_id) if team.voice_channel_id else None
    if voice is not None:
        channels.append((voice, spaces.voice_overwrite()))
    fixes: list[Fix] = []
    refresh = rename  # the space manager renames it (within Discord's rename budget)
    wrong_by_channel = []
    for channel, grant in channels:
        # Staff overwrites first: a space someone opened to everyone is private again.
        # The space manager holds the one definition of a space's staff overwrites.
        staff = manager._staff_overwrites(guild)
        for target, wanted in staff.items():
            wanted_bits, have_bits = pair_bits(wanted), pair_bits(channel.overwrites_for(target))
            if service.lacks(wanted_bits, have_bits):
                allow, deny = service.merge(wanted_bits, have_bits)
                await set_overwrite(bot, channel.id, target, allow, deny)
                fixes.append(
                    Fix(
                        "team_space_permissions",
                        {
                            "team": team.name,
                            "space": channel.mention,
                            "who": who(target, guild),
                        },
                    )
                )
        drift = service.access_drift(
            team.wanted, _member_overwrites(channel, guild.me.id), pair_bits(grant)
        )
        refresh = refresh or bool(drift.missing or drift.extra)
        wrong_by_channel.append((channel, grant, drift))
    if refresh:
        # The space manager grants and withdraws (one overwrite per member, under its lock).
        await manager.refresh(team.team_id)
    for channel, grant, drift in wrong_by_channel:
        present = _member_overwrites(channel, guild.me.id)
        for user_id in drift.wrong:
            allow, deny = service.merge(pair_bits(grant), present[user_id])
            await set_overwrite(bot, channel.id, discord.Object(user_id), allow, deny)
        fixes.extend(_access_fixes(team, channel.mention, drift.missing, drift.wrong, drift.extra))
    return fixes
