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
import time
from collections import deque
from typing import TYPE_CHECKING

import discord

from bot import threads
from bot.app import Refused
from bot.i18n import t
from bot.models.outbox import Priority
from bot.models.teams import Team
from bot.outbox import overwrites_body
from bot.services import outbox, team_spaces
from bot.services import teams as team_service
from cogs.teams.headroom import Headroom

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

MEMBER_TYPE = 1

#: Discord lets a channel (or thread) be renamed about twice per 10 minutes; a third rename
#: inside the window would be answered with a 429 asking to wait up to 10 minutes. The space
#: follows its team's name within that budget and catches up when the window frees.
RENAMES_PER_WINDOW = 2
RENAME_WINDOW_SECONDS = 600.0
#: How often organisers hear that the server has no room left for team spaces.
NO_ROOM_REPEAT_SECONDS = 600.0


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
        self._renamed_at: dict[int, deque[float]] = {}  # channel id -> monotonic times
        self._named: dict[int, str] = {}  # channel id -> the last name asked of the outbox
        self._catch_up: dict[int, asyncio.Task[None]] = {}  # team id -> delayed refresh
        self._no_room_said_at = -NO_ROOM_REPEAT_SECONDS
        self._creating = 0  # spaces being made or waiting for their turn (one at a time)
        self._retries: dict[int, asyncio.Task[None]] = {}  # team id -> space tried again
        #: Keeps room under the active-thread limit for spaces that are threads.
        self.headroom = Headroom(bot)

    def _lock(self, team_id: int) -> asyncio.Lock:
        return self._locks.setdefault(team_id, asyncio.Lock())

    def creation_eta(self) -> float:
        """Seconds until a space asked for now exists: the spaces before it are made one at
        a time, at the pace Discord allows the lane it goes to (channels or the hub's
        threads), learned by the outbox."""
        guild = self.guild()
        if guild is None:
            return 0.0
        layout = self.layout(guild)
        if team_spaces.place(layout).kind == "thread":
            hub = discord.utils.get(
                guild.text_channels, name=self.bot.settings.formation.hub_channel
            )
            lane = f"threads:{hub.id if hub is not None else 0}"
        else:
            lane = f"channels:{guild.id}"
        return self.bot.outbox.lane_eta(lane, self._creating + 1)

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

    async def hub(self, guild: discord.Guild) -> discord.TextChannel | None:
        """The channel holding team threads: participants and mentors see it, only the bot
        posts (None if the bot stops while it is made; Refused if Discord refuses it)."""
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
        write = outbox.channel_create(
            guild.id,
            name=settings.formation.hub_channel,
            type=0,
            topic=t("teams.space.hub_topic", settings.event.language),
            overwrites=overwrites_body(overwrites),
            reason=self.reason,
            priority=Priority.URGENT,
            key=f"hub:{guild.id}",
        )
        channel = await self.bot.make_channel(write)  # (Refused: see _create)
        if not isinstance(channel, discord.TextChannel):
            return None
        log.info("created the team hub #%s for team threads", channel.name)
        return channel

    # -- one team ---------------------------------------------------------------

    async def refresh(self, team_id: int, priority: Priority = Priority.NORMAL) -> bool:
        """Make the team's space match the database (create, grant, revoke, archive).
        False when the space could not be made for want of room on the server.

        Access changes go through the outbox with ``priority`` (urgent for a mentor who
        just claimed the team's ticket)."""
        guild = self.guild()
        if guild is None:
            return True
        async with self._lock(team_id):
            async with self.bot.db.read() as session:
                team = await session.get(Team, team_id)
                if team is None:
                    return True
                wanted = set(await team_service.member_discord_ids(session, team_id))
                wanted |= set(await team_service.access_list(session, team_id))
            if team.archived_at is not None:
                await self._archive(guild, team)
                return True
            if team.space_kind is None:
                if not wanted:
                    return True
                created = await self._create(guild, team, wanted, priority)
                if created is None:
                    return False  # no room on the server: said to organisers; tried again
                # Made now (the handler gave it its people) or still on its way.
                return True
            await self._sync(guild, team, wanted, priority)
            return True

    async def _create(
        self, guild: discord.Guild, team: Team, wanted: set[int], priority: Priority
    ) -> Team | None:
        """Make the team's space through the outbox, and wait for it (creations are made
        one at a time, so that each is placed knowing the last). A channel is made with its
        members' access in it; the outbox's handler (:data:`team_service.SPACE_CREATED`)
        records it, posts the welcome and adds whoever joined meanwhile (a thread's members).

        Returns the team (its space recorded, or still on its way when the wait ended, e.g.
        at a stop: the outbox finishes it), or None when the server has no room."""
        try:
            return await self._place_and_create(guild, team, wanted, priority)
        except Refused as refused:  # the hub or a new category
            await self._refused(team, refused.why)
            return await self._reread(team)

    async def _place_and_create(
        self, guild: discord.Guild, team: Team, wanted: set[int], priority: Priority
    ) -> Team | None:
        self._creating += 1
        try:
            return await self._place_in_turn(guild, team, wanted, priority)
        finally:
            self._creating -= 1

    async def _place_in_turn(
        self, guild: discord.Guild, team: Team, wanted: set[int], priority: Priority
    ) -> Team | None:
        key = f"space:{team.id}"
        async with self._layout_lock:  # two teams must not both take the last slot of a category
            async with self.bot.db.read() as session:
                earlier = await outbox.unfinished(session, key)
            if earlier:  # asked for before (a restart, or a change while it was made)
                await self.bot.outbox.until_done(earlier, self.bot.is_closed)
                return await self._reread(team)
            settings = self.bot.settings
            lang = settings.event.language
            layout = self.layout(guild)
            placement = team_spaces.place(layout)
            ref: dict[str, object] = {
                "team_id": team.id,
                "kind": placement.kind,
                "welcome": t("teams.space.welcome", lang, team=team.name),
            }
            writes: list[outbox.Write] = []
            if placement.kind == "thread":
                hub = await self.hub(guild)
                if hub is None:
                    return team  # the bot stops: the hub is made at the next start
                # Statement and gallery posts are archived (still readable) to make room; a
                # team space may use the headroom they leave, not the posts' last reserve.
                if not await threads.make_room(self.bot, guild, limit=threads.SPACE_LIMIT):
                    await self._no_room(guild, team)
                    return None
                writes.append(
                    outbox.thread_create(
                        hub.id,
                        guild_id=guild.id,
                        name=team.slug,
                        reason=self.reason,
                        priority=priority,
                        on_done=team_service.SPACE_CREATED,
                        ref=ref,
                        key=key,
                    )
                )
                where = f"a private thread in #{hub.name}"
            else:
                category_id = placement.category_id
                if placement.new_category is not None:
                    category_id = await self._new_category(guild, placement.new_category.name)
                    if category_id is None:
                        return team  # the bot stops: the category is made at the next start
                staff = self._staff_overwrites(guild)
                members = {discord.Object(id=user_id) for user_id in sorted(wanted)}
                for voice, grant in ((False, member_overwrite()), (True, voice_overwrite())):
                    if voice and not settings.teams.voice_channels:
                        continue
                    allow, deny = grant.pair()
                    writes.append(
                        outbox.channel_create(
                            guild.id,
                            name=team.slug,
                            type=2 if voice else 0,
                            parent_id=category_id,
                            topic=None if voice else t("teams.space.topic", lang, team=team.name),
                            overwrites=overwrites_body({**staff, **dict.fromkeys(members, grant)}),
                            reason=self.reason,
                            priority=priority,
                            on_done=team_service.SPACE_CREATED,
                            ref={
                                **({"team_id": team.id} if voice else ref),
                                "members": sorted(wanted),
                                "allow": allow.value,
                                "deny": deny.value,
                                "reason": self.reason,
                            },
                            key=f"space-voice:{team.id}" if voice else key,
                        )
                    )
                where = f"a channel in category {category_id}"
            async with self.bot.db.begin() as session:
                stored = await outbox.enqueue_many(session, self.bot.clock.now(), writes)
            ids = [e.queued.id for e in stored if e.queued is not None]
            await self.bot.outbox.until_done(ids, self.bot.is_closed)
            if ids and not self.bot.outbox.pending(ids[0]):
                async with self.bot.db.read() as session:
                    why = await outbox.refusal_of(session, ids[0])
                if why is not None:
                    await self._refused(team, why)
                    return await self._reread(team)
            log.info(
                "team %s (%s): %s (channels used %d of %d, headroom %d)",
                team.id,
                team.name,
                where,
                layout.channels,
                layout.limit,
                layout.headroom,
            )
        return await self._reread(team)

    async def _new_category(self, guild: discord.Guild, name: str) -> int | None:
        """A new team category (None if the bot stops meanwhile; Refused if Discord
        refuses it)."""
        write = outbox.channel_create(
            guild.id,
            name=name,
            type=4,
            overwrites=overwrites_body(self._staff_overwrites(guild)),
            reason=self.reason,
            priority=Priority.URGENT,
            key=f"category:{guild.id}:{name}",
        )
        made = await self.bot.make_channel(write)  # (Refused: see _create)
        return made.id if made is not None else None

    async def _reread(self, team: Team) -> Team | None:
        async with self.bot.db.read() as session:
            row = await session.get(Team, team.id)
        return row

    async def _no_room(self, guild: discord.Guild, team: Team) -> None:
        """Neither a channel nor an active thread is left: tell the organisers (at most every
        10 minutes), never hit Discord's limit. The team keeps working without its space and
        gets it at its next change once room is made."""
        log.error(
            "team %s (%s): no room for its space (channels and active threads are used up)",
            team.id,
            team.name,
        )
        now = time.monotonic()
        if now - self._no_room_said_at < NO_ROOM_REPEAT_SECONDS:
            return
        self._no_room_said_at = now
        text = t(
            "teams.space.no_room",
            self.bot.settings.event.language,
            team=team.name,
            limit=threads.GUILD_ACTIVE_THREADS,
        )
        await self.bot.tell_organisers(text)

    async def _refused(self, team: Team, why: str) -> None:
        """Discord refused the space for good (a permission the bot lacks, a server limit):
        the organisers hear it with Discord's reason; the next change or /admin repair tries
        again."""
        log.error("team %s (%s): Discord refused its space: %s", team.id, team.name, why)
        text = t("teams.space.refused", self.bot.settings.event.language, team=team.name, why=why)
        await self.bot.tell_organisers(text)

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

    async def _sync(
        self,
        guild: discord.Guild,
        team: Team,
        wanted: set[int],
        priority: Priority = Priority.NORMAL,
    ) -> None:
        """Store the writes that make the space's access match ``wanted``; the outbox sends
        them (a write still pending from an earlier sync is merged, never doubled)."""
        space = await self._space(team.channel_id)
        if space is None:
            log.warning("team %s: its space %s is gone", team.id, team.channel_id)
            return
        await self._follow_name(team, space)
        writes: list[outbox.Write] = []
        if isinstance(space, discord.Thread):
            present = {m.id for m in await space.fetch_members()} - {guild.me.id}
            # An archived thread is brought back by the outbox when it adds or removes someone.
            writes += [
                outbox.thread_add(space.id, user_id, priority=priority, archived=space.archived)
                for user_id in sorted(wanted - present)
            ]
            writes += [
                outbox.thread_remove(space.id, user_id, priority=priority, archived=space.archived)
                for user_id in sorted(present - wanted)
            ]
        else:
            channels = [space]
            if team.voice_channel_id:
                voice = await self._space(team.voice_channel_id)
                if voice is not None:
                    await self._follow_name(team, voice)
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
                grant = (
                    voice_overwrite() if channel.id == team.voice_channel_id else member_overwrite()
                )
                allow, deny = grant.pair()
                writes += [
                    outbox.overwrite_set(
                        channel.id,
                        user_id,
                        allow=allow.value,
                        deny=deny.value,
                        reason=self.reason,
                        priority=priority,
                    )
                    for user_id in sorted(wanted - present)
                ]
                writes += [
                    outbox.overwrite_delete(
                        channel.id, user_id, reason=self.reason, priority=priority
                    )
                    for user_id in sorted(present - wanted)
                ]
        if writes:
            async with self.bot.db.begin() as session:
                await outbox.enqueue_many(session, self.bot.clock.now(), writes)

    # -- names ----------------------------------------------------------------------

    def rename_wait(self, channel_id: int, now: float | None = None) -> float:
        """Seconds before ``channel_id`` may be renamed again without a 429 (0: now)."""
        now = time.monotonic() if now is None else now
        done = self._renamed_at.get(channel_id)
        if not done:
            return 0.0
        while done and now - done[0] >= RENAME_WINDOW_SECONDS:
            done.popleft()
        if len(done) < RENAMES_PER_WINDOW:
            return 0.0
        return RENAME_WINDOW_SECONDS - (now - done[0])

    async def _follow_name(
        self, team: Team, space: discord.abc.GuildChannel | discord.Thread
    ) -> None:
        """Rename the space after a team rename, within Discord's rename budget."""
        wanted = team.slug[:100]
        if space.name == wanted or self._named.get(space.id) == wanted:
            return  # named so, or the rename is on its way
        wait = self.rename_wait(space.id)
        if wait > 0:
            log.info(
                "team %s: #%s becomes #%s in %.0f s (Discord's rename limit)",
                team.id,
                space.name,
                wanted,
                wait,
            )
            self._refresh_later(team.id, wait)
            return
        self._renamed_at.setdefault(space.id, deque()).append(time.monotonic())
        self._named[space.id] = wanted
        topic = None
        if isinstance(space, discord.TextChannel):
            topic = t("teams.space.topic", self.bot.settings.event.language, team=team.name)
        write = outbox.channel_edit(space.id, name=wanted, topic=topic, reason=self.reason)
        async with self.bot.db.begin() as session:
            await outbox.enqueue(session, self.bot.clock.now(), write)
        log.info("team %s: space renamed to #%s", team.id, wanted)

    def _refresh_later(self, team_id: int, delay: float) -> None:
        pending = self._catch_up.get(team_id)
        if pending is not None and not pending.done():
            return

        async def later() -> None:
            await asyncio.sleep(delay + 1)
            self._catch_up.pop(team_id, None)
            try:
                await self.refresh(team_id)
            except Exception:
                log.exception("team %s: the delayed space refresh failed", team_id)

        # Not a "hackbot-job:" task: nothing should wait minutes for a channel's new name.
        self._catch_up[team_id] = asyncio.create_task(later(), name=f"hackbot-later:{team_id}")

    def retry_later(self, team_id: int) -> None:
        """Refresh the team's space again after growing pauses until Discord accepts."""
        pending = self._retries.get(team_id)
        if pending is not None and not pending.done():
            return

        async def retry() -> None:
            try:
                for pause in RETRY_PAUSES_SECONDS:
                    await asyncio.sleep(pause)
                    try:
                        await self.refresh(team_id)
                    except discord.HTTPException as error:
                        log.warning("team %s: its space is still refused (%s)", team_id, error)
                        continue
                    log.info("team %s: its space is made after a refusal", team_id)
                    self.bot.dispatch("hackbot_team_changed", team_id)
                    return
                log.error(
                    "team %s: Discord kept refusing its space; the next change or /admin repair "
                    "makes it",
                    team_id,
                )
            finally:
                self._retries.pop(team_id, None)

        self._retries[team_id] = asyncio.create_task(retry(), name=f"hackbot-later:space:{team_id}")

    def close(self) -> None:
        self.headroom.close()
        for task in [*self._catch_up.values(), *self._retries.values()]:
            task.cancel()
        self._catch_up.clear()
        self._retries.clear()

    async def _archive(self, guild: discord.Guild, team: Team) -> None:
        space = await self._space(team.channel_id)
        if space is None:
            return
        text = t("teams.space.archived", self.bot.settings.event.language)
        if isinstance(space, discord.Thread):
            if not (space.archived and space.locked):
                write = outbox.thread_close(space.id, content=text, reason=self.reason)
                async with self.bot.db.begin() as session:
                    await outbox.enqueue(session, self.bot.clock.now(), write)
            return
        await self._sync(guild, team, set())
        async with self.bot.db.begin() as session:
            await outbox.enqueue(
                session, self.bot.clock.now(), outbox.message_send(space.id, content=text)
            )


def manager(bot: HackBot) -> SpaceManager:
    existing = getattr(bot, "team_spaces", None)
    if existing is None:
        existing = SpaceManager(bot)
        bot.team_spaces = existing  # type: ignore[attr-defined]
    return existing


#: Pauses before the space of a team is tried again after Discord refused it (5xx or 429
#: after discord.py's own tries). After the last, the next change or /admin repair does it.
RETRY_PAUSES_SECONDS = (2.0, 5.0, 15.0, 45.0, 120.0)


async def team_changed(bot: HackBot, team_id: int) -> bool:
    """After any change to a team: update its space, then tell the other features. False
    when the server has no room for the team's space yet (see :meth:`SpaceManager.refresh`).

    The change itself is already committed: if Discord refuses to make the space match
    (an outage, a 429 storm), the member is not told something broke; the space is tried
    again in the background after growing pauses."""
    try:
        return await manager(bot).refresh(team_id)
    except discord.HTTPException as error:
        log.warning("team %s: Discord refused its space (%s); trying again later", team_id, error)
        manager(bot).retry_later(team_id)
        return True
    finally:
        bot.dispatch("hackbot_team_changed", team_id)


async def grant_access(bot: HackBot, team_id: int, discord_user_id: int) -> bool:
    """Let someone who is not a member (a mentor helping the team) see its space now.

    Returns False when they already had access. Raises NotFound for an unknown team.
    """
    async with bot.db.begin() as session:
        added = await team_service.grant_access(session, team_id, discord_user_id)
    await manager(bot).refresh(team_id, Priority.URGENT)  # the mentor is on their way
    return added


async def revoke_access(bot: HackBot, team_id: int, discord_user_id: int) -> bool:
    """Withdraw what :func:`grant_access` gave. Members keep their access."""
    async with bot.db.begin() as session:
        removed = await team_service.revoke_access(session, team_id, discord_user_id)
    await manager(bot).refresh(team_id)
    return removed
