"""The gallery forum (cogs/submissions.py): a project's post deleted by hand, or the whole
forum, is posted again by the submissions' own gallery job."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.services import repair as service
from bot.services.repair import Fix

if TYPE_CHECKING:
    from bot.app import HackBot
    from cogs.submissions import Submissions

log = logging.getLogger(__name__)


async def check_gallery(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    cog: Submissions | None = bot.get_cog("Submissions")  # type: ignore[assignment]
    if cog is None:
        return []
    async with bot.db.read() as session:
        posted = await service.gallery_posts(session)
    if not posted:
        return []
    forum = discord.utils.get(guild.forums, name=bot.settings.submissions.gallery_forum)
    existing: set[int] = set()
    if forum is not None:
        existing = {thread.id for thread in forum.threads}
        if any(post.thread_id not in existing for post in posted):
            # Older posts are archived and not cached: one request per 100 of them.
            async for thread in forum.archived_threads(limit=None):
                existing.add(thread.id)
    gone = [post for post in posted if post.thread_id not in existing]
    if not gone:
        return []
    async with bot.db.begin() as session:
        await service.post_again(session, [post.submission_id for post in gone])
    for post in gone:
        cog.publisher.push("submission", post.submission_id)
    if forum is None:
        return [Fix("gallery_forum", {"count": len(gone)})]
    return [Fix("gallery_post", {"team": post.team_name}) for post in gone]
