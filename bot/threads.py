"""One server, one budget of active threads, shared by every feature that opens threads.

Discord refuses a new thread (160006) once a server holds about 1,000 active ones. Team
spaces (private threads once channels run out), problem-statement posts and gallery posts
all draw on that budget. Features whose threads stay useful when archived (a forum post is
still readable and searchable) register a *room maker*: a coroutine that archives some of
their oldest posts. Before opening a thread, a feature calls :func:`make_room`, which asks
the room makers in turn until one more thread fits. Team spaces come first: they may use
the headroom the others leave free, because a team without its space cannot work; but never
the last :data:`POST_RESERVE`, or a server whose team spaces filled every active thread would
have no gallery at all (measured: 1,462 teams, 1,000 of them in threads, 0 gallery posts).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.models.outbox import Priority
from bot.outbox import overwrites_body
from bot.services import outbox

log = logging.getLogger(__name__)

#: Discord's most tags a forum holds.
MAX_FORUM_TAGS = 20

#: Discord's (undocumented, commonly observed) limit of active threads in a server.
GUILD_ACTIVE_THREADS = 1000
#: Discord's error code for "Maximum number of active threads reached".
MAX_ACTIVE_THREADS_CODE = 160006
#: Active threads the posts of statements and the gallery leave free for everything else.
THREAD_HEADROOM = 50
#: Active threads team spaces never take: posts keep a few (each feature archives its older
#: posts to stay within), so the gallery and the statements go on when spaces fill the rest.
POST_RESERVE = 25
#: The most active threads there may be when a team space (a private thread) is opened.
SPACE_LIMIT = GUILD_ACTIVE_THREADS - POST_RESERVE

#: ``maker(guild, limit)`` archives some of a feature's threads so that one more fits under
#: ``limit`` active threads (None: the feature's own rule), and returns how many it archived.
RoomMaker = Callable[["discord.Guild", "int | None"], Awaitable[int]]


def _makers(bot: Any) -> dict[str, RoomMaker]:
    makers = getattr(bot, "_hackbot_thread_room_makers", None)
    if makers is None:
        makers = {}
        bot._hackbot_thread_room_makers = makers
    return makers


def register_room_maker(bot: Any, name: str, maker: RoomMaker) -> None:
    """``maker(guild, limit)`` archives some of a feature's threads and returns how many."""
    _makers(bot)[name] = maker


def active_threads(guild: discord.Guild) -> int:
    return sum(1 for thread in guild.threads if not thread.archived)


def post_limit(guild: discord.Guild) -> int:
    """The most active threads there may be when a feature adds a post (a statement, a
    project): THREAD_HEADROOM are left for team spaces, but once team spaces (private
    threads) use them, posts still have the POST_RESERVE spaces never take."""
    private = sum(
        1
        for thread in guild.threads
        if not thread.archived and thread.type is discord.ChannelType.private_thread
    )
    return min(
        GUILD_ACTIVE_THREADS, max(GUILD_ACTIVE_THREADS - THREAD_HEADROOM, private + POST_RESERVE)
    )


async def make_room(bot: Any, guild: discord.Guild, *, limit: int = GUILD_ACTIVE_THREADS) -> bool:
    """Ask the room makers, in turn, to archive posts until one more thread fits under
    ``limit``. True when it fits (then the caller may create its thread)."""
    for name, maker in list(_makers(bot).items()):
        if active_threads(guild) < limit:
            return True
        try:
            archived = await maker(guild, limit)
        except Exception:
            log.exception("the %s room maker failed", name)
            continue
        if archived:
            log.info("%s archived %d threads to make room", name, archived)
    return active_threads(guild) < limit


async def archive(bot: Any, thread_ids: list[int], *, reason: str, within: float = 60.0) -> int:
    """Archive these threads through the outbox, ahead of bulk work (room is made for
    something a person waits for), and wait for Discord (at most ``within`` seconds).
    Returns how many were archived."""
    if not thread_ids:
        return 0
    async with bot.db.begin() as session:
        stored = await outbox.enqueue_many(
            session,
            bot.clock.now(),
            [outbox.thread_archive(i, reason=reason, priority=Priority.URGENT) for i in thread_ids],
        )
    ids = [s.queued.id for s in stored if s.queued is not None]
    return int(await bot.outbox.wait(ids, within=within))


async def make_forum(
    bot: Any,
    guild: discord.Guild,
    *,
    name: str,
    topic: str,
    tags: list[str],
    reason: str,
    key: str,
) -> discord.ForumChannel | None:
    """A forum whose posts only the bot opens and where everyone discusses (the problem
    statements, the gallery), with ``tags``, made through the outbox and waited for. None if
    the bot stops meanwhile; raises :class:`bot.app.Refused` if Discord refuses it."""
    overwrites = {
        guild.default_role: discord.PermissionOverwrite(
            view_channel=True, send_messages=False, send_messages_in_threads=True
        ),
        guild.me: discord.PermissionOverwrite(
            view_channel=True,
            send_messages=True,
            send_messages_in_threads=True,
            manage_threads=True,
            embed_links=True,
            read_message_history=True,
        ),
    }
    made = await bot.make_channel(
        outbox.channel_create(
            guild.id,
            name=name,
            type=discord.ChannelType.forum.value,
            topic=topic[:1024],
            overwrites=overwrites_body(overwrites),
            tags=tags[:MAX_FORUM_TAGS],
            reason=reason,
            priority=Priority.URGENT,
            key=key,
        )
    )
    return made if isinstance(made, discord.ForumChannel) else None
