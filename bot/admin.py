"""The shared ``/admin`` command group that every feature hangs its organiser commands on.

Discord shows ``/admin`` only to members with Manage Events (the organiser role
gets it at set-up; server administrators have it anyway), and every admin
command also checks the organiser role itself (:func:`bot.interactions.organiser_only`),
so hiding is convenience, not security.

In a cog::

    class Phases(commands.Cog):
        phase = app_commands.Group(name=L("cmd.admin.phase.name"), description=L("cmd.admin.phase.description"))

        @phase.command(name=L("cmd.admin.phase.advance.name"), description=L("cmd.admin.phase.advance.description"))
        @organiser_only()
        async def advance(self, interaction): ...

    async def setup(bot):
        cog = Phases(bot)
        await bot.add_cog(cog)
        attach_to_admin(bot, cog, "phase")
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.localization import L

ORGANISER_PERMISSION = discord.Permissions(manage_events=True)


def admin_group(bot: commands.Bot) -> app_commands.Group:
    existing = bot.tree.get_command("admin")
    if isinstance(existing, app_commands.Group):
        return existing
    group = app_commands.Group(
        name=L("cmd.admin.name"),
        description=L("cmd.admin.description"),
        guild_only=True,
        default_permissions=ORGANISER_PERMISSION,
        extras={"audience": "organiser"},
    )
    bot.tree.add_command(group)
    return group


def attach_to_admin(bot: commands.Bot, cog: commands.Cog, *names: str) -> None:
    """Move the cog's top-level commands or groups ``names`` under ``/admin``."""
    admin = admin_group(bot)
    by_name = {command.name: command for command in cog.get_app_commands()}
    for name in names:
        command = by_name[name]
        bot.tree.remove_command(name)
        command.extras.setdefault("audience", "organiser")
        admin.add_command(command)
