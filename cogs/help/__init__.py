"""Mentor help: /help ..., /mentor ..., /admin help ..., the queue channel's cards and the
stored timers that escalate, expire and return idle tickets (see bot/services/help_queue.py).

Where a mentor meets the team: the ticket's claim gives the mentor access to the team's
own space (a channel: a permission overwrite; a private thread: membership) through
:mod:`cogs.teams.spaces`, and takes it back when the ticket closes or is released.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from discord.ext import commands

from bot.admin import admin_group
from bot.services import help_queue as svc
from cogs.help import views
from cogs.help.actions import AdminHelp, Help
from cogs.help.desk import desk_of

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


class HelpEvents(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._started = False

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """After a (re)start: the queue channel exists, and status messages catch up with
        what moved while the bot was down. (Cards and status messages are stored with their
        ticket and posted by the outbox: a crash loses none and doubles none.)"""
        if self._started:
            return
        self._started = True
        await self.bot.hackbot_ready.wait()
        desk = desk_of(self.bot)
        try:
            await desk.queue_channel()
        except Exception:
            log.exception("could not create the help queue channel")
        desk.poke()


async def setup(bot: HackBot) -> None:
    desk = desk_of(bot)
    # The organisers' "help" group moves under /admin before the participants' /help exists.
    admin = AdminHelp(bot)
    await bot.add_cog(admin)
    group = admin_group(bot)
    for command in admin.get_app_commands():
        bot.tree.remove_command(command.name)
        command.extras.setdefault("audience", "organiser")
        group.add_command(command)
    await bot.add_cog(Help(bot))
    await bot.add_cog(HelpEvents(bot))
    bot.add_dynamic_items(*views.dynamic_items())
    bot.timers.register(svc.ESCALATE, desk.on_escalate)
    bot.timers.register(svc.EXPIRE, desk.on_expire)
    bot.timers.register(svc.IDLE, desk.on_idle)
    bot.timers.register(svc.REFRESH, desk.on_refresh)
