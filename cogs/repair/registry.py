"""The checkers drift repair runs, in order, and the helpers they share.

A checker compares one kind of thing on Discord with the database, puts back what
was deleted or changed by hand, and returns a :class:`~bot.services.repair.Fix` per
thing it put back. Checkers are idempotent (a second run right after finds nothing)
and sequential (one Discord request at a time, no bursts); they only touch what the
bot made or the config names, and never delete what people made.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.i18n import t
from bot.interactions import new_error_id
from bot.models.outbox import Priority
from bot.services import outbox
from bot.services.repair import Fix, Term

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

#: How long to wait for the gateway to tell discord.py about a role or channel just made.
CACHE_WAIT_S = 10.0


@dataclass(frozen=True)
class Checker:
    name: str
    check: Callable[[HackBot, discord.Guild], Awaitable[list[Fix]]]


async def run_checks(bot: HackBot, guild: discord.Guild, checkers: Iterable[Checker]) -> list[Fix]:
    """Run every checker in turn; one that fails is reported and the others still run."""
    fixes: list[Fix] = []
    for checker in checkers:
        try:
            found = await checker.check(bot, guild)
        except Exception:
            # One check must not stop the others: the report says which one failed.
            error_id = new_error_id()
            log.exception("repair: the %s check failed (error %s)", checker.name, error_id)
            found = [Fix("check_failed", {"check": checker.name, "error_id": error_id})]
        fixes.extend(found)
    return fixes


def reason(bot: HackBot) -> str:
    return t("repair.audit_reason", bot.settings.event.language)


def who(target: Any, guild: discord.Guild) -> str | Term:
    """How a report names the target of a permission overwrite."""
    if isinstance(target, discord.Role):
        return Term("repair.who.everyone") if target.is_default() else target.name
    if target.id == guild.me.id:
        return Term("repair.who.bot")
    return f"<@{target.id}>"


async def role_named(bot: HackBot, guild: discord.Guild, name: str) -> discord.Role | None:
    """The role called ``name``, waiting a moment for one just created to reach the cache."""
    role = discord.utils.get(guild.roles, name=name)
    if role is None:
        try:
            role = await bot.wait_for(
                "guild_role_create", check=lambda r: r.name == name, timeout=CACHE_WAIT_S
            )
        except TimeoutError:
            return discord.utils.get(guild.roles, name=name)
    return role


async def text_channel_named(
    bot: HackBot, guild: discord.Guild, name: str
) -> discord.TextChannel | None:
    """The text channel called ``name``, waiting a moment for one just created."""
    channel = discord.utils.get(guild.text_channels, name=name)
    if channel is None:
        try:
            await bot.wait_for(
                "guild_channel_create",
                check=lambda c: isinstance(c, discord.TextChannel) and c.name == name,
                timeout=CACHE_WAIT_S,
            )
        except TimeoutError:
            pass
        channel = discord.utils.get(guild.text_channels, name=name)
    return channel


async def find_place(
    guild: discord.Guild, place_id: int | None, *, thread: bool
) -> discord.abc.GuildChannel | discord.Thread | None:
    """A channel or thread by id, or None when it no longer exists.

    The cache holds every channel of the guild, so a missing channel costs no request;
    an archived thread is not cached and is asked for.
    """
    if not place_id:
        return None
    if not thread:
        return guild.get_channel(place_id)
    found = guild.get_thread(place_id)
    if found is not None:
        return found
    try:
        fetched = await guild.fetch_channel(place_id)
    except discord.NotFound:
        return None
    return fetched


async def give_role(
    bot: HackBot, guild: discord.Guild, role: discord.Role, ids: Iterable[int]
) -> int:
    """Give ``role`` back to those of ``ids`` still in the guild who lack it (through the
    outbox, at Discord's pace, after anything a person waits for); how many are owed it."""
    writes = [
        outbox.role_add(guild.id, user_id, role.id, reason=reason(bot), priority=Priority.BULK)
        for user_id in ids
        if (member := guild.get_member(user_id)) is not None and member.get_role(role.id) is None
    ]
    if writes:
        async with bot.db.begin() as session:
            await outbox.enqueue_many(session, bot.clock.now(), writes)
    return len(writes)


async def set_overwrite(bot: HackBot, channel_id: int, target: Any, allow: int, deny: int) -> None:
    """Put a permission overwrite back on a channel (``target``: a role or a member),
    through the outbox, waiting for it: the checks that follow read the channel again."""
    await bot.make(
        outbox.overwrite_set(
            channel_id,
            target.id,
            allow=allow,
            deny=deny,
            member=not isinstance(target, discord.Role),
            reason=reason(bot),
            priority=Priority.URGENT,
        )
    )
