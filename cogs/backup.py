"""Automatic backups while the bot runs: a stored timer, so the rhythm survives restarts.

Every ``[backup] interval_minutes`` a ``backup`` timer copies the SQLite database
into ``[backup] directory`` (see :mod:`bot.services.backup`) and stores the next
one. At start-up the next backup is stored if none is pending (a backup missed
while the bot was down runs once, late, then the rhythm resumes). PostgreSQL
databases are not copied by the bot: the server's own backups do that.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from discord.ext import commands
from sqlalchemy import select

from bot.errors import HackbotError
from bot.models import Timer
from bot.scheduler import JOB_TASK_PREFIX
from bot.services import backup as backup_service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

BACKUP_TIMER = "backup"
TASK_NAME = f"{JOB_TASK_PREFIX}backup"


def enabled(bot: HackBot) -> bool:
    settings = bot.settings
    return settings.backup.enabled and backup_service.sqlite_path(settings.database.url) is not None


async def schedule_next(bot: HackBot) -> bool:
    """Store the next backup timer unless one is pending; True when one was added."""
    due = bot.clock.now() + timedelta(minutes=bot.settings.backup.interval_minutes)
    async with bot.db.begin() as session:
        pending = await session.scalar(
            select(Timer.id).where(Timer.kind == BACKUP_TIMER, Timer.status == "pending").limit(1)
        )
        if pending is not None:
            return False
        added = await bot.timers.add(
            session,
            BACKUP_TIMER,
            due,
            {},
            dedupe_key=f"backup:{due.isoformat(timespec='seconds')}",
        )
    return added is not None


async def run_backup(bot: HackBot, timer: Timer | None = None, late: bool = False) -> None:
    """Take one backup now, then store the next one (idempotent: a re-run makes one more copy)."""
    task = asyncio.current_task()
    if task is not None:
        task.set_name(TASK_NAME)
    if not enabled(bot):
        return
    try:
        result = await backup_service.take_backup_async(bot.settings, bot.clock.now())
    except HackbotError as error:
        # A failed copy (disk full, folder not writable) must not stop the rhythm:
        # log it loudly and try again at the next interval.
        log.error("automatic backup failed: %s", error)
    else:
        log.info(
            "backup written: %s (%d bytes, %d old copies deleted)",
            result.path,
            result.size_bytes,
            len(result.pruned),
        )
    await schedule_next(bot)


class Backups(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.bot.hackbot_ready.wait()
        if enabled(self.bot):
            await schedule_next(self.bot)


async def setup(bot: HackBot) -> None:
    await bot.add_cog(Backups(bot))
    bot.timers.register(BACKUP_TIMER, run_backup)
