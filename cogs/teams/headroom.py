"""Team spaces that are private threads, within Discord's limit of active threads.

Past the channel budget, team spaces are private threads, and a server holds about 1,000
active threads (:mod:`bot.threads`). An archived, unlocked thread keeps everything and
comes back as soon as someone writes in it: Discord brings it back for a member's message,
and the outbox does for the bot's posts and for a member or mentor added to it. So there is
a space for every team, however many, as long as the bot archives the spaces idle the
longest and keeps room for those coming back:

* before a new space is made (a room maker of :mod:`bot.threads`);
* every :data:`SWEEP_EVERY_S`, down to :data:`HEADROOM` active threads under the spaces'
  limit, so a team whose space was archived can bring it back by writing in it (Discord
  refuses that at the limit, 160006, and the member's message fails);
* before the outbox brings an archived space back (a post, a member or mentor added) while
  the server is at the spaces' limit, and when it meets 160006 all the same.

Idleness is what the team did, read from Discord's list of active threads (one request for
all): the time of each thread's last message. When that message is the bot's own (its
welcome, a broadcast: the outbox tells which messages it posted), nobody in the team wrote
since, and the space counts as idle from the time it was made, kept only
:data:`NEW_SPACE_PROTECT_S` (time for its members and welcome to reach it); so a rush of new
teams past the limit still gets a space each, and a broadcast to every space does not make
them all look busy. A space whose last message is a member's, in the last
:data:`PROTECT_S`, is never archived. (The bot does not receive the server's messages, a
gateway cost it avoids at full size; after a restart it knows only the messages it posts
from then on.) Archiving goes through the outbox as urgent writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import discord
from sqlalchemy import select

from bot import threads
from bot.i18n import t
from bot.models.teams import Team

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

#: Active threads kept free under the spaces' limit, for archived spaces coming back.
HEADROOM = 60
#: How often the sweep looks (seconds).
SWEEP_EVERY_S = 120.0
#: A space with a message this recent (seconds) is never archived.
PROTECT_S = 600.0
#: A space made since the bot started, in which no member wrote yet, is kept this long
#: (seconds) before it may be archived.
NEW_SPACE_PROTECT_S = 120.0
#: How long a count of the active threads is used for :meth:`Headroom.would_overflow`.
COUNT_EVERY_S = 0.1
#: When room is made for a new space, this many more are archived, so a rush of new teams
#: does not pay one look at Discord each.
BATCH = 25


class Headroom:
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None
        #: thread id -> the id of the last message the bot posted in it (this process).
        self._bot_last: dict[int, int] = {}
        self._active, self._counted_at = 0, -COUNT_EVERY_S  # active threads, when counted

    def bot_posted(self, channel_id: int, message_id: int) -> None:
        """The outbox posted a message (anywhere: only team spaces are ever looked up)."""
        if message_id > self._bot_last.get(channel_id, 0):
            self._bot_last[channel_id] = message_id

    @property
    def target(self) -> int:
        """Active threads the sweep keeps the server at or under."""
        return threads.SPACE_LIMIT - HEADROOM

    def start(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="hackbot-spaces-sweep")
        self.bot.outbox.on_thread_limit = self.at_limit
        self.bot.outbox.on_posted = self.bot_posted
        self.bot.outbox.would_overflow = self.would_overflow

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.bot.outbox.on_thread_limit == self.at_limit:
            self.bot.outbox.on_thread_limit = None
        if self.bot.outbox.on_posted == self.bot_posted:
            self.bot.outbox.on_posted = None
        if self.bot.outbox.would_overflow == self.would_overflow:
            self.bot.outbox.would_overflow = None

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            guild = self.bot.event_guild
            if guild is None:
                continue
            try:
                await self.archive_idlest(guild, self.target)
            except Exception:
                log.exception("team spaces: the idle sweep failed")

    def would_overflow(self, channel_id: int) -> bool:
        """A post in (or a member added to) this channel would bring an archived thread back
        (the bot knows every active thread and channel: one it does not know is archived)
        while the server's active threads are at the spaces' limit. The outbox then makes
        room first (:meth:`at_limit`) rather than meet Discord's refusal (160006)."""
        guild = self.bot.event_guild
        if guild is None or guild.get_channel_or_thread(channel_id) is not None:
            return False
        now = time.monotonic()
        if now - self._counted_at > COUNT_EVERY_S:  # (asked for many writes in a row)
            self._active, self._counted_at = threads.active_threads(guild), now
        return self._active >= threads.SPACE_LIMIT

    async def at_limit(self) -> bool:
        """The outbox is at (or met) Discord's limit: make the sweep's room now. True when an
        archived space may come back now (under the spaces' limit)."""
        guild = self.bot.event_guild
        if guild is None:
            return True
        await self.archive_idlest(guild, self.target)
        self._counted_at = -COUNT_EVERY_S
        return threads.active_threads(guild) < threads.SPACE_LIMIT

    async def make_room(self, guild: discord.Guild, limit: int | None = None) -> int:
        """Room maker: archive idle spaces so that one more thread fits under ``limit`` (the
        sweep's target when None), and a batch more."""
        if limit is None:
            return await self.archive_idlest(guild, self.target)
        if threads.active_threads(guild) < limit:
            return 0
        return await self.archive_idlest(guild, limit - 1 - BATCH)

    async def idle_spaces(self, guild: discord.Guild) -> list[tuple[float, int, float]]:
        """(time of the team's last activity, thread id, how long it is protected after it)
        of each active team space, idlest first."""
        data = await self.bot.http.get_active_threads(guild.id)
        async with self.bot.db.read() as session:
            ours = set(
                (
                    await session.scalars(
                        select(Team.channel_id).where(
                            Team.space_kind == "thread", Team.archived_at.is_(None)
                        )
                    )
                ).all()
            )
        found = []
        for thread in data.get("threads", []):
            thread_id = int(thread["id"])
            if thread_id not in ours:
                continue
            last = int(thread.get("last_message_id") or thread_id)
            if last == thread_id or last == self._bot_last.get(thread_id):
                # Nobody in the team wrote since the bot did (or at all).
                made = discord.utils.snowflake_time(thread_id).timestamp()
                found.append((made, thread_id, NEW_SPACE_PROTECT_S))
            else:
                last_s = discord.utils.snowflake_time(last).timestamp()
                found.append((last_s, thread_id, PROTECT_S))
        found.sort()
        return found

    async def archive_idlest(self, guild: discord.Guild, target: int) -> int:
        """Archive the spaces idle the longest until at most ``target`` threads are active
        (never one with a message in the last PROTECT_S). Returns how many were archived."""
        async with self._lock:
            excess = threads.active_threads(guild) - max(0, target)
            if excess <= 0:
                return 0
            now = self.bot.clock.now().timestamp()
            idle = [
                thread_id
                for seen, thread_id, protected in await self.idle_spaces(guild)
                if seen < now - protected
            ]
            victims = idle[:excess]
            if not victims:
                log.warning(
                    "team spaces: %d active threads, none idle (no member message for %.0f min, "
                    "or new for %.0f min): nothing to archive",
                    threads.active_threads(guild),
                    PROTECT_S / 60,
                    NEW_SPACE_PROTECT_S / 60,
                )
                return 0
            reason = t("teams.space.audit_idle", self.bot.settings.event.language)
            archived = await threads.archive(self.bot, victims, reason=reason)
            await self._seen_archived(guild, victims)
            log.info(
                "team spaces: archived %d idle spaces (%d active threads now)",
                archived,
                threads.active_threads(guild),
            )
            return archived

    async def _seen_archived(self, guild: discord.Guild, thread_ids: list[int]) -> None:
        """Wait (briefly) for Discord's thread updates, so the counts above are current."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while loop.time() < deadline:
            if all(
                (thread := guild.get_thread(thread_id)) is None or thread.archived
                for thread_id in thread_ids
            ):
                return
            await asyncio.sleep(0.05)
