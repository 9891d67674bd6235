"""/about: where the event stands, what is open, what to do next, and a short guide."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands_meta import audience, description_key
from bot.i18n import catalogue, t
from bot.interactions import is_organiser, lang_of, send
from bot.localization import L
from bot.services import event as event_service

if TYPE_CHECKING:
    from bot.app import HackBot

# When a capability is open, the command that acts on it (shown only if it exists).
NEXT_STEP_COMMANDS: dict[str, str] = {
    "registration": "register",
    "problem_collection": "problem submit",
    "team_changes": "team create",
    "help_queue": "help ask",
    "submissions": "submit",
    "judging": "judge next",
}

# The guide lists these first when they exist, then every other command for that reader.
GUIDE_ORDER = ("about", "schedule", "register", "profile", "team", "challenge", "help", "submit")
GUIDE_LIMIT = 12


def ts(moment, style: str = "f") -> str:
    return discord.utils.format_dt(moment, style)


class About(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    def _leaf_paths(self) -> dict[str, app_commands.Command]:
        return {
            cmd.qualified_name: cmd
            for cmd in self.bot.tree.walk_commands()
            if isinstance(cmd, app_commands.Command)
        }

    def build_embed(
        self, overview: event_service.Overview, lang: str, organiser: bool
    ) -> discord.Embed:
        mention = self.bot.command_ids.mention
        embed = discord.Embed(
            title=t("about.title", lang, event=overview.event_name), colour=discord.Colour.blurple()
        )
        if not overview.phases:
            embed.description = t("about.no_timeline", lang)
        elif overview.current is not None:
            phase = overview.current
            if phase.ends_at is not None:
                embed.description = t(
                    "about.current_ends", lang, phase=phase.name, end=ts(phase.ends_at, "R")
                )
            elif overview.next is not None:
                embed.description = t(
                    "about.current_until_next",
                    lang,
                    phase=phase.name,
                    next=overview.next.name,
                    start=ts(overview.next.starts_at, "R"),
                )
            else:
                embed.description = t("about.current_open_ended", lang, phase=phase.name)
        elif overview.next is not None:
            key = "about.starts" if overview.not_started else "about.between"
            embed.description = t(
                key,
                lang,
                next=overview.next.name,
                start=ts(overview.next.starts_at, "F"),
                relative=ts(overview.next.starts_at, "R"),
            )
        else:
            embed.description = t("about.finished", lang)

        if overview.phases:
            if overview.open_now:
                opened = "\n".join(
                    "• " + t(f"capability.{cap}", lang)
                    for cap in event_service.CAPABILITIES
                    if cap in overview.open_now
                )
            else:
                opened = t("about.nothing_open", lang)
            embed.add_field(name=t("about.open_now", lang), value=opened, inline=False)

        leaves = self._leaf_paths()
        steps = [
            t(f"about.next.{cap}", lang, command=mention(path, lang))
            for cap, path in NEXT_STEP_COMMANDS.items()
            if cap in overview.open_now and path in leaves
        ]
        if not steps:
            steps = [
                t("about.next.watch", lang, channel="#" + self.bot.settings.channels.announcements)
            ]
        embed.add_field(name=t("about.what_next", lang), value="\n".join(steps), inline=False)

        def rank(path: str) -> tuple[int, str]:
            top = path.split(" ")[0]
            return (GUIDE_ORDER.index(top) if top in GUIDE_ORDER else len(GUIDE_ORDER), path)

        lines = []
        for path in sorted(leaves, key=rank):
            who = audience(leaves[path])
            if who == "organiser" and not organiser:
                continue
            key = description_key(path)
            description = t(key, lang) if catalogue().has(key) else leaves[path].description
            lines.append(f"{mention(path, lang)} — {description}")
        if len(lines) > GUIDE_LIMIT:
            lines = [
                *lines[:GUIDE_LIMIT],
                t("about.more_commands", lang, count=len(lines) - GUIDE_LIMIT),
            ]
        embed.add_field(name=t("about.guide", lang), value="\n".join(lines), inline=False)
        embed.set_footer(text=t("about.footer", lang))
        return embed

    @app_commands.command(
        name=L("cmd.about.name"),
        description=L("cmd.about.description"),
        extras={"audience": "everyone"},
    )
    @app_commands.guild_only()
    async def about(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            overview = await event_service.overview(
                session, self.bot.settings, self.bot.clock.now()
            )
        embed = self.build_embed(overview, lang, is_organiser(interaction))
        await send(interaction, embed=embed, ephemeral=True)


async def setup(bot: HackBot) -> None:
    await bot.add_cog(About(bot))
