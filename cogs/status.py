"""/admin status: what the bot still has to do on Discord (the outbox), for organisers.

Roles, channel access and posts the bot makes on its own are carried out by the outbox
(bot/outbox.py) at the pace Discord allows; during a rush an organiser wants to know how
much is waiting and when it will be done. The answer is private, in the reader's
language: the backlog by kind with its estimate, what was done or refused since the bot
started and how often Discord asked it to slow down, and what Discord refused for good
in the last 24 hours. It only reads: nothing is written to Discord before the reply.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.i18n import catalogue, t
from bot.interactions import lang_of, organiser_only, send
from bot.localization import L
from bot.outbox import KindBacklog, eta_text
from bot.services import outbox as service

if TYPE_CHECKING:
    from bot.app import HackBot
    from bot.outbox import Outbox

#: How far back "refused for good" looks.
FAILED_WINDOW = timedelta(hours=24)


def kind_label(kind: str, lang: str) -> str:
    key = f"outbox.kind.{kind}"
    return t(key, lang) if catalogue().has(key) else kind


def render(
    backlog: list[KindBacklog], outbox: Outbox, failed: dict[str, int], lang: str
) -> discord.Embed:
    if backlog:
        lines = [
            t(
                "outbox.status.line",
                lang,
                label=kind_label(item.kind, lang),
                count=item.waiting,
                eta=eta_text(item.eta_s, lang),
            )
            for item in backlog
        ]
    else:
        lines = [t("outbox.status.empty", lang)]
    lines += [
        "",
        t(
            "outbox.status.sent",
            lang,
            sent=outbox.sent,
            failed=outbox.failed,
            limited=outbox.learner.rate_limited,
        ),
    ]
    refused = [(kind, count) for kind, count in sorted(failed.items()) if count > 0]
    if refused:
        items = ", ".join(
            t("outbox.status.count", lang, label=kind_label(kind, lang), count=count)
            for kind, count in refused
        )
        lines.append(t("outbox.status.failed", lang, list=items))
    return discord.Embed(
        title=t("outbox.status.title", lang),
        description="\n".join(lines),
        colour=discord.Colour.blurple() if backlog else discord.Colour.green(),
    )


class Status(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=L("cmd.admin.status.name"), description=L("cmd.admin.status.description")
    )
    @organiser_only()
    async def status(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        backlog = self.bot.outbox.backlog()
        async with self.bot.db.read() as session:
            failed = await service.failed_since(session, self.bot.clock.now() - FAILED_WINDOW)
        embed = render(backlog, self.bot.outbox, failed, lang)
        await send(interaction, embed=embed, ephemeral=True)


async def setup(bot: HackBot) -> None:
    cog = Status(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "status")
