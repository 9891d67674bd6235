"""What profiles, teams and board cards look like (embeds), in the reader's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.i18n import catalogue, t
from bot.models.teams import Profile
from bot.services.teams import TeamView

if TYPE_CHECKING:
    from bot.app import HackBot

CARD_COLOUR = discord.Colour.teal()


def profile_type_label(value: str, lang: str) -> str:
    key = "profile_type." + value.replace(" ", "_")
    return t(key, lang) if catalogue().has(key) else value


def language_label(code: str, lang: str) -> str:
    key = f"language.{code}_name"
    return t(key, lang) if catalogue().has(key) else code


def join_labels(values: list[str], label, lang: str) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(label(v, lang) for v in values) or "—"


def profile_embed(
    profile: Profile,
    lang: str,
    *,
    discord_id: int,
    challenge_names: list[str],
    team_name: str | None,
    own: bool,
) -> discord.Embed:
    embed = discord.Embed(title=profile.display_name, colour=CARD_COLOUR)
    embed.add_field(
        name=t("profile.field.types", lang),
        value=join_labels(list(profile.profile_types), profile_type_label, lang),
        inline=False,
    )
    embed.add_field(
        name=t("profile.field.skills", lang),
        value=", ".join(profile.skills) or "—",
        inline=False,
    )
    embed.add_field(
        name=t("profile.field.languages", lang),
        value=join_labels(list(profile.languages), language_label, lang),
    )
    embed.add_field(name=t("profile.field.timezone", lang), value=profile.timezone)
    embed.add_field(
        name=t("profile.field.wishes", lang),
        value=", ".join(challenge_names) or "—",
        inline=False,
    )
    embed.add_field(
        name=t("profile.field.team", lang),
        value=team_name or t("profile.no_team", lang),
    )
    if own:
        embed.add_field(
            name=t("profile.field.autoform", lang),
            value=t("profile.autoform.on" if profile.autoform else "profile.autoform.off", lang),
        )
        embed.set_footer(text=t("profile.private_footer", lang))
    embed.description = f"<@{discord_id}>"
    return embed


def team_embed(bot: HackBot, team: TeamView, lang: str) -> discord.Embed:
    settings = bot.settings
    embed = discord.Embed(title=team.name, colour=CARD_COLOUR)
    if team.description:
        embed.description = team.description
    members = []
    for discord_id in team.member_discord_ids:
        mark = " ⭐" if discord_id == team.captain_discord_id else ""
        members.append(f"<@{discord_id}>{mark}")
    embed.add_field(
        name=t(
            "teams.info.members",
            lang,
            size=team.size,
            max=settings.teams.max_size,
        ),
        value="\n".join(members) or "—",
        inline=False,
    )
    embed.add_field(
        name=t("teams.info.challenge", lang),
        value=team.challenge_name or t("teams.info.no_challenge", lang),
    )
    embed.add_field(
        name=t("teams.info.joining", lang),
        value=t("teams.info.open" if team.open else "teams.info.closed", lang),
    )
    if team.looking_for:
        embed.add_field(
            name=t("teams.info.looking_for", lang),
            value=join_labels(team.looking_for, profile_type_label, lang),
            inline=False,
        )
    if team.archived:
        embed.set_footer(text=t("teams.info.archived", lang))
    return embed
