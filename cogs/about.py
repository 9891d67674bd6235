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
    "new_teams": "team create",
    "team_changes": "team join",
    "help_queue": "help ask",
    "submissions": "submit",
    "judging": "judge next",
}

# The newcomer's guide: the main commands, in the order an event meets them (those that exist).
GUIDE = (
    "schedule",
    "register",
    "profile",
    "challenge list",
    "team create",
    "team join",
    "lft",
    "problem submit",
    "help ask",
    "submit",
)
FIELD_LIMIT = 1024  # Discord's limit for an embed field's value


def fit(lines: list[str], limit: int = FIELD_LIMIT) -> str:
    """Join whole lines while they fit in an embed field; cut with an ellipsis otherwise."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if len(line) > limit:
            line = line[: limit - 1] + "…"
        if size + len(line) + (1 if kept else 0) > limit:
            break
        kept.append(line)
        size += len(line) + (1 if len(kept) > 1 else 0)
    return "\n".join(kept)


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

    @staticmethod
    def _description(path: str, command: app_commands.Command, lang: str) -> str:
        key = description_key(path)
        return t(key, lang) if catalogue().has(key) else command.description

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

        guide = [
            f"{mention(path, lang)} — {self._description(path, leaves[path], lang)}"
            for path in GUIDE
            if path in leaves
        ]
        others = sum(
            1 for path, cmd in leaves.items() if path not in GUIDE and audience(cmd) != "organiser"
        )
        if others:
            guide.append(t("about.more_commands", lang, count=others))
        embed.add_field(name=t("about.guide", lang), value=fit(guide), inline=False)
        if organiser:
            groups = sorted({path.split(" ")[1] for path in leaves if path.startswith("admin ")})
            if groups:
                tools = " · ".join(f"`/admin {group}`" for group in groups)
                embed.add_field(
                    name=t("about.organiser_tools", lang), value=fit([tools]), inline=False
                )
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
