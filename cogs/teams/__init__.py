"""Teams: /team ..., /lft, /admin team ..., /admin teams ..., team spaces, and members
leaving the server (they leave their team; an empty team is archived)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot import threads
from bot.admin import admin_group
from bot.db import Busy
from bot.services import outbox
from bot.services import teams as team_service
from cogs.teams import spaces, views
from cogs.teams.admin import AdminTeams, AutoformButton
from cogs.teams.team_commands import Teams, card_removals, register_card_handlers

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


class TeamEvents(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_hackbot_team_changed(self, team_id: int) -> None:
        """Take stale cards off the board: members' /lft cards, a full team's recruit card."""
        try:
            async with self.bot.db.read() as session:
                if not await team_service.stale_cards(
                    session, self.bot.settings, team_id, forget=False
                ):
                    return
            async with self.bot.db.begin() as session:
                stale = await team_service.stale_cards(session, self.bot.settings, team_id)
                await outbox.enqueue_many(
                    session, self.bot.clock.now(), card_removals(self.bot, stale)
                )
        except Busy:
            # A burst: the cards stay (their buttons still answer correctly) until the
            # team's next change.
            log.warning("board cards of team %s left for later: the database is busy", team_id)

    async def cog_unload(self) -> None:
        # Delayed renames die with the bot: the next change to the team renames its space.
        spaces.manager(self.bot).close()

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        if payload.guild_id != self.bot.guild_id:
            return
        async with self.bot.db.begin() as session:
            change = await team_service.member_left_guild(
                session, self.bot.clock.now(), payload.user.id
            )
        if change is None:
            return
        log.info(
            "member %s left the server: out of team %s%s",
            payload.user.id,
            change.team_id,
            " (archived)" if change.archived else "",
        )
        await spaces.team_changed(self.bot, change.team_id)


async def setup(bot: HackBot) -> None:
    manager = spaces.manager(bot)
    register_card_handlers(bot)
    # Asked last (cogs load in order): posts archive their own first, then idle spaces.
    threads.register_room_maker(bot, "team spaces", manager.headroom.make_room)
    manager.headroom.start()
    # The admin cog's "team" group moves under /admin before the participants' /team exists.
    admin = AdminTeams(bot)
    await bot.add_cog(admin)
    group = admin_group(bot)
    for command in admin.get_app_commands():
        bot.tree.remove_command(command.name)
        command.extras.setdefault("audience", "organiser")
        group.add_command(command)
    await bot.add_cog(Teams(bot))
    await bot.add_cog(TeamEvents(bot))
    bot.add_dynamic_items(*views.dynamic_items(), AutoformButton)
