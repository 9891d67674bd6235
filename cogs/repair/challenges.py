"""Challenge homes (cogs/challenges.py): the channel or forum post, the role its Follow button
hands out, and the two pinned messages (the description, the teams working on it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.services import challenges as challenge_service
from bot.services import problems as problem_service
from bot.services import repair as service
from bot.services.repair import ChallengeHome, Fix
from cogs.challenges import description_embed, follow_view, teams_embed
from cogs.repair.registry import find_place, give_role, reason

if TYPE_CHECKING:
    from bot.app import HackBot
    from cogs.challenges import ChallengesCog

log = logging.getLogger(__name__)


async def check_challenges(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    cog: ChallengesCog | None = bot.get_cog("ChallengesCog")  # type: ignore[assignment]
    if cog is None:
        return []
    async with bot.db.read() as session:
        homes = await service.challenge_homes(session)
    fixes: list[Fix] = []
    for home in homes:
        try:
            fixes.extend(await _check_role(bot, guild, home))
            fixes.extend(await _check_home(bot, guild, cog, home))
        except discord.HTTPException as error:
            log.warning("repair: challenge %s: %s", home.challenge_id, error)
            fixes.append(
                Fix("challenge_failed", {"challenge": home.name, "error": str(error)[:200]})
            )
    return fixes


async def _check_role(bot: HackBot, guild: discord.Guild, home: ChallengeHome) -> list[Fix]:
    settings = bot.settings.challenges
    if not home.role_id or guild.get_role(home.role_id) is not None or not settings.roles:
        return []
    if not challenge_service.role_fits(len(guild.roles), settings.role_reserve):
        log.warning("repair: no room for the role of challenge %s", home.challenge_id)
        return []
    role = await guild.create_role(name=home.name[:100], mentionable=False, reason=reason(bot))
    async with bot.db.begin() as session:
        await challenge_service.set_home(session, home.challenge_id, role_id=role.id)
        followers = await challenge_service.followers(session, home.challenge_id)
    given = await give_role(bot, guild, role, followers)
    return [Fix("challenge_role", {"challenge": home.name, "role": role.name, "count": given})]


async def _check_home(
    bot: HackBot, guild: discord.Guild, cog: ChallengesCog, home: ChallengeHome
) -> list[Fix]:
    if home.home_id is None:
        return []  # it never got a home (no room when it was added)
    place = await find_place(guild, home.home_id, thread=home.thread_id is not None)
    if place is None:
        async with bot.db.begin() as session:
            await service.forget_challenge_home(session, home.challenge_id)
        kind = await cog.ensure_home(home.challenge_id)
        async with bot.db.read() as session:
            made = await challenge_service.get(session, home.challenge_id)
        target = made.channel_id or made.thread_id
        key = "challenge_home" if kind in ("channel", "post") else "challenge_home_no_room"
        return [Fix(key, {"challenge": home.name, "home": f"<#{target}>" if target else "—"})]
    fixes = []
    for which, message_id in (
        ("description", home.pinned_message_id),
        ("teams", home.teams_message_id),
    ):
        if not message_id:
            continue
        try:
            message = await place.fetch_message(message_id)  # type: ignore[union-attr]
        except discord.NotFound:
            message = None
        if message is not None and message.pinned:
            continue
        if isinstance(place, discord.Thread) and place.archived:
            place = await place.edit(archived=False, reason=reason(bot))  # a forum post
        if message is None:
            message = await _post_again(bot, place, home.challenge_id, which)
            fixes.append(Fix(f"challenge_{which}_posted", {"challenge": home.name}))
        else:
            fixes.append(Fix(f"challenge_{which}_pinned", {"challenge": home.name}))
        await message.pin(reason=reason(bot))
    return fixes


async def _post_again(bot: HackBot, place: Any, challenge_id: int, which: str) -> discord.Message:
    """Post the description or the teams message again, as the home was first made."""
    lang = bot.settings.event.language
    async with bot.db.read() as session:
        challenge = await challenge_service.get(session, challenge_id)
        linked = len(await problem_service.linked_to(session, challenge_id))
        teams = await challenge_service.teams_for(session, challenge_id)
    if which == "description":
        message = await place.send(
            embed=description_embed(challenge, lang, linked), view=follow_view(challenge.id, lang)
        )
        values: dict[str, Any] = {"pinned_message_id": message.id}
    else:
        message = await place.send(embed=teams_embed(challenge, teams, lang))
        values = {
            "teams_message_id": message.id,
            "listing": {
                "digest": challenge_service.listing_digest(teams),
                "team_ids": [team.id for team in teams],
            },
        }
    async with bot.db.begin() as session:
        await challenge_service.set_home(session, challenge_id, **values)
    log.info("repair: challenge %s: its %s message posted again", challenge_id, which)
    return message
