"""Spam: every command that makes the bot post where others read it has a per-member (or
per-team) cooldown. A second attempt within it gets a friendly ephemeral wait, in the
member's language, and posts nothing anywhere; once the clock has moved past it, it works.

Covered: help requests (the queue's card and the team's status message), problem
statements (a forum post), /lft cards and /team recruit cards (the board), join requests to
a closed team (a card in the team's space)."""

from __future__ import annotations

import re

from bot.i18n import catalogue
from tests.cogs.test_teams import FAST_CHANNELS, registered

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}
BASE = {"teams": {"min_size": 1, "max_size": 3}}


def wait_message(key: str, lang: str, text: str) -> dict[str, str]:
    """The catalogue's text for ``key`` in ``lang`` with its placeholders filled by anything;
    returns what filled them (fails when ``text`` is not that message)."""
    raw = catalogue().raw(key, lang)
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(raw))
    found = re.fullmatch(pattern, text)
    assert found is not None, f"not the {lang} {key!r} message: {text!r}"
    return found.groupdict()


def relative(value: str) -> int:
    """A Discord relative timestamp (``<t:...:R>``, shown as "in 4 minutes"): its time."""
    found = re.fullmatch(r"<t:(\d+):R>", value)
    assert found is not None, value
    return int(found.group(1))


def everything(sb) -> int:
    """How many messages and threads exist in the whole guild (DMs included)."""
    total = len(sb.guild.threads())
    for channel in [*sb.guild.guild_channels(), *sb.guild.threads()]:
        total += len(sb.server.channel_message_list(channel["id"]))
    for channel in sb.server.dm_channels.values():
        total += len(sb.server.channel_message_list(channel["id"]))
    return total


async def refused(sb, reply, key: str, lang: str, before: int) -> dict[str, str]:
    await sb.settle()
    assert reply.ephemeral and reply.pinged == NOBODY
    assert everything(sb) == before, "a refused attempt posted something"
    return wait_message(key, lang, reply.text)


async def team_of(sb, captain: str, name: str, locale: str):
    member = await registered(sb, captain, locale=locale)
    reply = await member.slash("team create", name=name)
    assert f"**{name}**" in reply.text, reply.text
    return member


async def test_help_requests_wait_five_minutes_per_team(start_sandbox):
    sb = await start_sandbox(
        {**BASE, "help": {"ask_cooldown_minutes": 5}}, rate_limits=FAST_CHANNELS
    )
    for captain, team, locale, lang in (
        ("ana", "Owls", "en-US", "en"),
        ("cid", "Foxes", "fr", "fr"),
    ):
        member = await team_of(sb, captain, team, locale)
        first = await member.slash("help ask", topic="python", description="The API returns 500")
        assert first.text.startswith("🙋"), first.text
        await member.slash("help cancel")
        before = everything(sb)
        again = await member.slash("help ask", topic="python", description="Still broken")
        filled = await refused(sb, again, "help.cooldown", lang, before)
        assert filled["minutes"] == "5"
        wait = relative(filled["when"]) - sb.clock.now().timestamp()
        assert 4 * 60 < wait <= 5 * 60
        await sb.advance(minutes=5)
        later = await member.slash("help ask", topic="python", description="Still broken")
        assert later.text.startswith(("🙋 Request **#", "🙋 La demande **n°")), later.text
        assert everything(sb) > before  # its card and status message


async def test_problem_statements_wait_two_minutes_per_author(start_sandbox):
    sb = await start_sandbox(
        {"problems": {"themes": [], "cooldown_seconds": 120}}, rate_limits=FAST_CHANNELS
    )
    for name, locale, lang in (("ana", "fr", "fr"), ("ben", "en-US", "en")):
        member = await sb.add_member(name, roles=["Participant"], locale=locale)

        async def submit(title: str, member=member):
            opened = await member.slash("problem submit")
            assert opened.modal is not None, opened.text
            labels = [row["components"][0]["label"] for row in opened.modal["components"]]
            values = [title, f"A long enough description of {title}", "people", ""]
            return await opened.submit(dict(zip(labels, values, strict=True)))

        done = await submit(f"First problem of {name}")
        assert done.ephemeral and ("#" in done.all_text or "n°" in done.all_text)
        before = everything(sb)
        again = await member.slash("problem submit")
        assert again.modal is None
        filled = await refused(sb, again, "problems.cooldown", lang, before)
        wait = relative(filled["when"]) - sb.clock.now().timestamp()
        assert 110 < wait <= 121
        await sb.advance(seconds=121)
        later = await submit(f"Second problem of {name}")
        assert later.ephemeral and everything(sb) > before


async def test_lft_cards_wait_thirty_minutes(start_sandbox):
    sb = await start_sandbox(BASE, rate_limits=FAST_CHANNELS)
    for name, locale, lang in (("ana", "en-US", "en"), ("bob", "fr", "fr")):
        member = await registered(sb, name, locale=locale)
        posted = await member.slash("lft")
        wait_message("lft.posted", lang, posted.text)
        before = everything(sb)
        again = await member.slash("lft")
        assert (await refused(sb, again, "teams.cooldown", lang, before)) == {"minutes": "30"}
        await sb.advance(minutes=30)
        later = await member.slash("lft")
        wait_message("lft.posted", lang, later.text)
        board = [m for m in sb.channel("team-board").messages if member.mention in str(m)]
        assert len(board) == 1  # the new card replaced the old one


async def test_team_recruit_cards_wait_thirty_minutes(start_sandbox):
    sb = await start_sandbox(BASE, rate_limits=FAST_CHANNELS)
    for captain, team, locale, lang, label in (
        ("ana", "Owls", "en-US", "en", "Design"),
        ("cid", "Foxes", "fr", "fr", "Design"),
    ):
        member = await team_of(sb, captain, team, locale)
        prompt = await member.slash("team recruit")
        posted = await prompt.select(None, [label])
        wait_message("teams.recruit_posted", lang, posted.text)
        before = everything(sb)
        prompt = await member.slash("team recruit")
        chosen = await prompt.select(None, [label])
        (again,) = chosen.followups  # the picker stays; the wait comes under it
        assert (await refused(sb, again, "teams.cooldown", lang, before)) == {"minutes": "30"}
        await sb.advance(minutes=30)
        prompt = await member.slash("team recruit")
        later = await prompt.select(None, [label])
        wait_message("teams.recruit_posted", lang, later.text)


async def test_join_requests_to_a_closed_team_wait_ten_minutes(start_sandbox):
    sb = await start_sandbox(BASE, rate_limits=FAST_CHANNELS)
    ana = await team_of(sb, "ana", "Owls", "en-US")
    space = sb.channel("owls")
    for name, locale, lang in (("bob", "fr", "fr"), ("eve", "en-US", "en")):
        member = await registered(sb, name, locale=locale)
        asked = await member.slash("team join", team="Owls")
        wait_message("teams.request_sent", lang, asked.text)
        card = space.messages[-1]
        assert member.mention in card["content"]
        await ana.click(card, "Decline")
        before = everything(sb)
        again = await member.slash("team join", team="Owls")
        assert (await refused(sb, again, "teams.cooldown", lang, before)) == {"minutes": "10"}
        await sb.advance(minutes=10)
        later = await member.slash("team join", team="Owls")
        wait_message("teams.request_sent", lang, later.text)
        assert member.mention in space.messages[-1]["content"]
        assert space.messages[-1]["id"] != card["id"]
