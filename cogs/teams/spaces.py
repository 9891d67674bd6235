"""Team spaces on Discord: a private channel (plus voice) per team, or a private thread.

:class:`SpaceManager` makes Discord match the database for one team:

* no space yet → ask :func:`bot.services.team_spaces.place` where it goes (a channel in
  "Teams", "Teams 2"... or a private thread in the hub channel once the server's
  channel budget minus the organisers' headroom is used), create it, and log the choice;
* access → one permission overwrite per member (and per mentor helping the team) on a
  channel, or thread membership on a private thread; organisers see every space
  through their role (channels) or Manage Threads on the hub (threads). No role per
  team: Discord allows only 250 roles;
* archived team → members' overwrites removed (channel) or the thread archived and locked.

Calls for one team are serialised (a lock per team), so a burst of joins ends with
exactly the right overwrites. Other features use :func:`grant_access` /
:func:`revoke_access` (mentors) and :func:`refresh` (after a team change).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.i18n import t
from bot.models.teams import Team
from bot.services import team_spaces
from bot.services import teams as team_service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

MEMBER_TYPE = 1


def member_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        read_message_history=True,
        embed_links=True,
        attach_files=True,
    )


def voice_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(view_channel=True)


def bot_overwrite() -> discord.PermissionOverwrite:
    return discord.PermissionOverwrite(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        read_message_history=True,
        embed_links=True,
        manage_threads=True,
    )


class SpaceManager:
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._locks: dict[int, asyncio.Lock] = {}
        self._layout_lock = asyncio.Lock()

    def _lock(self, team_id: int) -> asyncio.Lock:
        return self._locks.setdefault(team_id, asyncio.Lock())

    @property
    def reason(self) -> str:
        return t("teams.space.audit_reason", self.bot.settings.event.language)

    # -- the guild ------------------------------------------------------------

    def guild(self) -> discord.Guild | None:
        return self.bot.event_guild

    def _role(self, guild: discord.Guild, name: str) -> discord.Role | None:
        return discord.utils.get(guild.roles, name=name)

    def layout(self, guild: discord.Guild) -> team_spaces.GuildLayout:
        settings = self.bot.settings
        base = settings.channels.team_category
        categories = []
        for category in guild.categories:
            index = team_spaces.category_index(category.name, base)
            if index is not None:
                categories.append(
                    team_spaces.TeamCategory(
                        category.id, category.name, index, len(category.channels)
                    )
                )
        categories.sort(key=lambda c: c.index)
        return team_spaces.GuildLayout(
            channels=len(guild.channels),
            categories=categories,
            base_name=base,
            headroom=settings.formation.channel_headroom,
            voice=settings.teams.voice_channels,
            hub_exists=discord.utils.get(guild.text_channels, name=settings.formation.hub_channel)
            is not None,
        )

    def _staff_overwrites(
        self, guild: discord.Guild
    ) -> dict[discord.Role | discord.Member, discord.PermissionOverwrite]:
        organiser = self._role(guild, self.bot.settings.roles.organiser)
        overwrites: dict[discord.Role | discord.Member, discord.PermissionOverwrite] = {
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            guild.me: bot_overwrite(),
        }
        if organiser is not None:
            overwrites[organiser] = discord.PermissionOverwrite(
                view_channel=True, send_messages=True, read_message_history=True
            )
        return overwrites

    async def hub(self, guild: discord.Guild) -> discord.TextChannel:
        """The channel holding team threads: participants and mentors see it, only the bot posts."""
        settings = self.bot.settings
        existing = discord.utils.get(guild.text_channels, name=settings.formation.hub_channel)
        if existing is not None:
            return existing
        overwrites = self._staff_overwrites(guild)
        organiser = self._role(guild, settings.roles.organiser)
        if organiser is not None:
            overwrites[organiser] = discord.PermissionOverwrite(
                view_channel=True, send_messages=True, manage_threads=True
            )
        for name in (settings.roles.participant, settings.roles.mentor):
            role = self._role(guild, name)
            if role is not None:
                overwrites[role] = discord.PermissionOverwrite(
                    view_channel=True,
                    send_messages=False,
                    send_messages_in_threads=True,
                    read_message_history=True,
                )
        channel = await guild.create_text_channel(
            settings.formation.hub_channel,
            overwrites=overwrites,
            topic=t("teams.space.hub_topic", settings.event.language),
            reason=self.reason,
        )
        log.info("created the team hub #%s for team threads", channel.name)
        return channel

    # -- one team ---------------------------------------------------------------

    async def refresh(self, team_id: int) -> None:
        """Make the team's space match the database (create, grant, revoke, archive)."""
        guild = self.guild()
        if guild is None:
            return
        async with self._lock(team_id):
            async with self.bot.db.read() as session:
                team = await session.get(Team, team_id)
                if team is None:
                    return
                wanted = set(await team_service.member_discord_ids(session, team_id))
                wanted |= set(await team_service.access_list(session, team_id))
            if team.archived_at is not None:
                await self._archive(guild, team)
                return
            if team.space_kind is None:
                if not wanted:
                    return
                team = await self._create(guild, team)
            await self._sync(guild, team, wanted)

    async def _create(self, guild: discord.Guild, team: Team) -> Team:
        settings = self.bot.settings
        async with self._layout_lock:  # two teams must not both take the last slot of a category
            layout = self.layout(guild)
            placement = team_spaces.place(layout)
            voice_id = None
            if placement.kind == "thread":
                hub = await self.hub(guild)
                thread = await hub.create_thread(
                    name=team.slug[:100],
                    type=discord.ChannelType.private_thread,
                    invitable=False,
                    auto_archive_duration=10080,
                    reason=self.reason,
                )
                channel_id = thread.id
                log.info(
                    "team %s (%s): private thread in #%s (channels used %d of %d, headroom %d)",
                    team.id,
                    team.name,
                    hub.name,
                    layout.channels,
                    layout.limit,
                    layout.headroom,
                )
            else:
                if placement.new_category is not None:
                    category = await guild.create_category(
                        placement.new_category.name,
                        overwrites=self._staff_overwrites(guild),
                        reason=self.reason,
                    )
                else:
                    category = guild.get_channel(placement.category_id)  # type: ignore[assignment]
                assert isinstance(category, discord.CategoryChannel)
                overwrites = self._staff_overwrites(guild)
                channel = await guild.create_text_channel(
                    team.slug[:100],
                    category=category,
                    overwrites=overwrites,
                    topic=t("teams.space.topic", settings.event.language, team=team.name),
                    reason=self.reason,
                )
                channel_id = channel.id
                if settings.teams.voice_channels:
                    voice = await guild.create_voice_channel(
                        team.slug[:100],
                        category=category,
                        overwrites=overwrites,
                        reason=self.reason,
                    )
                    voice_id = voice.id
                log.info(
                    "team %s (%s): channel #%s in %s (channels used %d of %d, headroom %d)",
                    team.id,
                    team.name,
                    channel.name,
                    category.name,
                    layout.channels,
                    layout.limit,
                    layout.headroom,
                )
        async with self.bot.db.begin() as session:
            row = await session.get(Team, team.id)
            assert row is not None
            row.space_kind = placement.kind
            row.channel_id = channel_id
            row.voice_channel_id = voice_id
        team.space_kind, team.channel_id, team.voice_channel_id = (
            placement.kind,
            channel_id,
            voice_id,
        )
        await self._welcome(team)
        return team

    async def _welcome(self, team: Team) -> None:
        channel = await self._space(team.channel_id)
        if channel is None:
            return
        lang = self.bot.settings.event.language
        await channel.send(
            t("teams.space.welcome", lang, team=team.name),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _space(self, channel_id: int | None) -> discord.abc.Messageable | None:
        if channel_id is None:
            return None
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden):
                return None
        return channel  # type: ignore[return-value]

    async def _sync(self, guild: discord.Guild, team: Team, wanted: set[int]) -> None:
        space = await self._space(team.channel_id)
        if space is None:
            log.warning("team %s: its space %s is gone", team.id, team.channel_id)
            return
        if isinstance(space, discord.Thread):
            present = {m.id for m in await space.fetch_members()} - {guild.me.id}
            if space.archived:
                await space.edit(archived=False, reason=self.reason)
            for user_id in sorted(wanted - present):
                await space.add_user(discord.Object(id=user_id))
            for user_id in sorted(present - wanted):
                await space.remove_user(discord.Object(id=user_id))
            return
        channels = [space]
        if team.voice_channel_id:
            voice = await self._space(team.voice_channel_id)
            if voice is not None:
                channels.append(voice)
        for channel in channels:
            assert isinstance(channel, discord.abc.GuildChannel)
            present = {
                target.id
                for target in channel.overwrites
                if not isinstance(target, discord.Role) and target.id != guild.me.id
            }
            log.debug(
                "team %s: #%s has %s, wants %s",
                team.id,
                channel.id,
                sorted(present),
                sorted(wanted),
            )
            grant = voice_overwrite() if channel.id == team.voice_channel_id else member_overwrite()
            allow, deny = grant.pair()
            for user_id in sorted(wanted - present):
                await self.bot.http.edit_channel_permissions(
                    channel.id,
                    user_id,
                    str(allow.value),
                    str(deny.value),
                    MEMBER_TYPE,
                    reason=self.reason,
                )
            for user_id in sorted(present - wanted):
                await self.bot.http.delete_channel_permissions(
                    channel.id, user_id, reason=self.reason
                )

    async def _archive(self, guild: discord.Guild, team: Team) -> None:
        space = await self._space(team.channel_id)
        if space is None:
            return
        if isinstance(space, discord.Thread):
            if not (space.archived and space.locked):
                if space.archived:
                    await space.edit(archived=False)
                await space.send(
                    t("teams.space.archived", self.bot.settings.event.language),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
                await space.edit(archived=True, locked=True, reason=self.reason)
            return
        await self._sync(guild, team, set())
        assert isinstance(space, discord.TextChannel)
        await space.send(
            t("teams.space.archived", self.bot.settings.event.language),
            allowed_mentions=discord.AllowedMentions.none(),
        )


def manager(bot: HackBot) -> SpaceManager:
    existing = getattr(bot, "team_spaces", None)
    if existing is None:
        existing = SpaceManager(bot)
        bot.team_spaces = existing  # type: ignore[attr-defined]
    return existing


async def team_changed(bot: HackBot, team_id: int) -> None:
    """After any change to a team: update its space, then tell the other features."""
    try:
        await manager(bot).refresh(team_id)
    finally:
        bot.dispatch("hackbot_team_changed", team_id)


async def grant_access(bot: HackBot, team_id: int, discord_user_id: int) -> bool:
    """Let someone who is not a member (a mentor helping the team) see its space now.

    Returns False when they already had access. Raises NotFound for an unknown team.
    """
    async with bot.db.begin() as session:
        added = await team_service.grant_access(session, team_id, discord_user_id)
    await manager(bot).refresh(team_id)
    return added


async def revoke_access(bot: HackBot, team_id: int, discord_user_id: int) -> bool:
    """Withdraw what :func:`grant_access` gave. Members keep their access."""
    async with bot.db.begin() as session:
        removed = await team_service.revoke_access(session, team_id, discord_user_id)
    await manager(bot).refresh(team_id)
    return removed
