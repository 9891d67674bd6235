"""/admin export: the event's data as CSV files, attached to an answer only the organiser
sees (participants, teams, submissions, scores, and help tickets when the help queue is
installed). ``hackbot export`` writes the same files from the command line."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.i18n import t
from bot.interactions import lang_of, organiser_only
from bot.localization import L
from bot.services import exports as service

if TYPE_CHECKING:
    from bot.app import HackBot

CHOICES = [
    app_commands.Choice(name=L(f"cmd.admin.export.options.what.choices.{kind}"), value=kind)
    for kind in ("all", *service.KINDS)
]


class Exports(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=L("cmd.admin.export.name"), description=L("cmd.admin.export.description")
    )
    @app_commands.rename(what=L("cmd.admin.export.options.what.name"))
    @app_commands.describe(what=L("cmd.admin.export.options.what.description"))
    @app_commands.choices(what=CHOICES)
    @organiser_only()
    async def export(self, interaction: discord.Interaction, what: str = "all") -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        kinds = service.KINDS if what == "all" else (what,)
        # Seconds of work at a large event: apart from the loop, which keeps answering.
        made = await self.bot.db.read_apart(
            lambda session: service.build(session, self.bot.settings, kinds)
        )
        lines = [t("exports.file", lang, name=e.filename, rows=e.rows) for e in made]
        if "tickets" in kinds and not any(e.name == "tickets" for e in made):
            lines.append(t("exports.no_tickets", lang))
        files = [discord.File(io.BytesIO(e.data), filename=e.filename) for e in made]
        text = "\n".join([t("exports.done", lang), *lines, t("exports.private", lang)])
        await interaction.followup.send(text, files=files, ephemeral=True)


async def setup(bot: HackBot) -> None:
    cog = Exports(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "export")
