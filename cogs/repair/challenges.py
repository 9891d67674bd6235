"""Challenge homes (cogs/challenges.py): the channel or forum post, the role its Follow button
hands out, and the two pinned messages (the description, the teams working on it)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.app import Refused
from bot.models.outbox import Priority
from bot.services import challenges as challenge_service
from bot.services import outbox
from bot.services import repair as service
from bot.services.repair import ChallengeHome, Fix, Term
from cogs.challenges import HOME_MESSAGES
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
        except (discord.HTTPException, Refused) as error:
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
    role = await bot.make_role(
        outbox.role_create(
            guild.id,
            name=home.name,
            reason=reason(bot),
            priority=Priority.URGENT,
            on_done=challenge_service.HOME_MADE,
            ref=challenge_service.home_ref(home.challenge_id, "role"),
            key=f"challenge-role:{home.challenge_id}",
        )
    )
    if role is None:  # the bot is stopping
        return []
    async with bot.db.read() as session:
        followers = await challenge_service.followers(session, home.challenge_id)
    given = await give_role(bot, guild, role, followers)
    return [Fix("challenge_role", {"challenge": home.name, "role": role.name, "count": given})]


async def _check_home(
    bot: HackBot, guild: discord.Guild, cog: ChallengesCog, home: ChallengeHome
) -> list[Fix]:
    place = None
    if home.home_id is not None:
        place = await find_place(guild, home.home_id, thread=home.thread_id is not None)
    if place is None:
        if home.home_id is not None:
            async with bot.db.begin() as session:
                await service.forget_challenge_home(session, home.challenge_id)
        # Made again, or made at last (no room, or Discord refused it, when it was added).
        kind = await cog.ensure_home(home.challenge_id)
        if home.home_id is None and kind not in ("channel", "post"):
            return []  # still no room: nothing put back
        async with bot.db.read() as session:
            made = await challenge_service.get(session, home.challenge_id)
        target = made.channel_id or made.thread_id
        if kind == "refused":
            refused = Term("repair.refused")
            return [Fix("challenge_failed", {"challenge": home.name, "error": refused})]
        if kind not in ("channel", "post"):
            key = "challenge_home_no_room"
        else:
            key = "challenge_home" if home.home_id is not None else "challenge_home_made"
        return [Fix(key, {"challenge": home.name, "home": f"<#{target}>" if target else "—"})]
    fixes = []
    gone: dict[str, None] = {}
    missing = False
    for which, message_id in (
        ("description", home.pinned_message_id),
        ("teams", home.teams_message_id),
    ):
        if not message_id:  # never made (Discord refused it): made below
            missing = True
            fixes.append(Fix(f"challenge_{which}_posted", {"challenge": home.name}))
            continue
        try:
            message = await place.fetch_message(message_id)  # type: ignore[union-attr]
        except discord.NotFound:
            message = None
        if message is not None and message.pinned:
            continue
        if message is None:
            # Posted again (and pinned) as the home was first made, below.
            gone[HOME_MESSAGES[which]] = None
            fixes.append(Fix(f"challenge_{which}_posted", {"challenge": home.name}))
            continue
        pin = outbox.message_pin(place.id, message_id, reason=reason(bot), priority=Priority.URGENT)
        await bot.make(pin)  # a forum post archived meanwhile is brought back for it
        fixes.append(Fix(f"challenge_{which}_pinned", {"challenge": home.name}))
    if gone:
        async with bot.db.begin() as session:
            await challenge_service.set_home(session, home.challenge_id, **gone)
    if gone or missing:
        await cog.ensure_home(home.challenge_id)
    return fixes
