"""/admin repair, also run at start-up: put back on Discord what people deleted or changed by hand.

The database is the truth. Each checker (cogs/repair/checks.py lists them in order) compares
one kind of thing with it: the roles and channels hackbot keeps, members who left while the
bot was away, team spaces and their per-member overwrites, challenge homes with their role
and pinned messages, the pinned countdown, the scheduled events mirroring the phases. What
it finds wrong it restores with the function that made it in the first place, and says so.

The organiser who runs ``/admin repair`` gets the report (ephemeral, in their language); the
start-up run (a background job, ``hackbot-job:repair``, once the guild is ready) logs every
fix and posts the report in the organisers' channel only when it fixed something. One run
at a time; a run right after a run finds nothing to fix.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.errors import HackbotError
from bot.interactions import NO_MENTIONS, lang_of, organiser_only
from bot.localization import L
from bot.scheduler import JOB_TASK_PREFIX
from bot.services import repair as service
from bot.services.repair import Fix
from cogs.repair.checks import CHECKERS
from cogs.repair.registry import run_checks

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

TASK_NAME = f"{JOB_TASK_PREFIX}repair"


class Repair(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._lock = asyncio.Lock()
        self._startup: asyncio.Task[None] | None = None

    async def cog_unload(self) -> None:
        if self._startup is not None:
            self._startup.cancel()

    async def run(self, actor_id: int | None) -> list[Fix]:
        """One full pass of every checker; returns what was fixed (logged and audited)."""
        guild = self.bot.event_guild
        if guild is None:
            return []
        async with self._lock:
            fixes = await run_checks(self.bot, guild, CHECKERS)
            async with self.bot.db.begin() as session:
                await service.record_run(session, self.bot.clock.now(), actor_id, fixes)
        for fix in fixes:
            log.info("repair: %s", fix.text("en"))
        log.info("repair: done, %d fixes", len(fixes))
        return fixes

    # -- at start-up ----------------------------------------------------------------

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # After every full (re)connection: what changed while the bot was away is put back.
        await self.bot.hackbot_ready.wait()
        if self._startup is not None and not self._startup.done():
            return
        self._startup = asyncio.create_task(self._run_at_startup(), name=TASK_NAME)

    async def _run_at_startup(self) -> None:
        try:
            fixes = await self.run(None)
        except Exception:
            log.exception("repair at start-up failed")
            return
        if fixes:
            await self.tell_organisers(fixes)

    async def tell_organisers(self, fixes: list[Fix]) -> None:
        await self.bot.tell_organisers(*service.report(fixes, self.bot.settings.event.language))

    # -- /admin repair ----------------------------------------------------------------

    @app_commands.command(
        name=L("cmd.admin.repair.name"), description=L("cmd.admin.repair.description")
    )
    @organiser_only()
    async def repair(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        if self._lock.locked():
            raise HackbotError("repair.busy")
        await interaction.response.defer(ephemeral=True, thinking=True)
        fixes = await self.run(interaction.user.id)
        try:
            for text in service.report(fixes, lang):
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            # A very long run outlives the interaction (15 minutes): the organisers still hear.
            log.warning("repair: report not delivered to the organiser: %s", error)
            await self.tell_organisers(fixes)


async def setup(bot: HackBot) -> None:
    cog = Repair(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "repair")
