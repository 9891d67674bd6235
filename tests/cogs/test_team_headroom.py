"""A space for every team past Discord's limit of active threads: the bot archives the team
spaces idle the longest, and an archived space comes back when its team writes in it, when a
mentor is let in, or when the bot posts there; Discord's refusals at the limit (160006)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot import threads
from bot.models.teams import Team
from sandbox.rules.errors import DiscordError
from sandbox.server import state as st
from tests.cogs.test_teams import FAST_CHANNELS, open_threads, registered

CONFIG = {
    "teams": {"min_size": 1, "max_size": 3},
    "formation": {"channel_headroom": 0, "card_cooldown_minutes": 30},
}
#: Leave this many active threads for team spaces before the limit.
ROOM = 4


async def fill_channels(sb) -> None:
    """The server's other channels use 499 of its 500: every team space is a thread."""
    for index in range(499 - len(sb.guild.guild_channels())):
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    await sb.settle()


async def spaces_of(sb) -> dict[str, int | None]:
    async with sb.bot.db.read() as session:
        rows = (await session.execute(select(Team.name, Team.channel_id))).all()
    return dict(rows)


async def spaces_up_to_the_limit(sb, count: int) -> list:
    """``count`` registered people; "Team 0" to "Team ROOM" made by the first ones, the
    server then at the limit of active threads team spaces may use."""
    people = [await registered(sb, f"p{i}") for i in range(count)]
    await people[0].slash("team create", name="Team 0")  # the first space opens the hub
    hub = sb.channel("team-hub")
    # Other threads (what posts and other features hold) fill the server up to ROOM short of
    # the limit team spaces may use.
    active = len(sb.guild.active_threads())
    open_threads(sb, hub.data, threads.SPACE_LIMIT - ROOM - active, "other-", 11)
    await sb.settle()
    for i in range(1, ROOM + 1):
        await people[i].slash("team create", name=f"Team {i}")
    assert len(sb.guild.active_threads()) == threads.SPACE_LIMIT
    return people


@pytest.mark.slow
async def test_every_team_gets_a_space_past_the_active_thread_limit(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    await fill_channels(sb)
    mia = await sb.add_member("mia", roles=["Mentor"])
    people = await spaces_up_to_the_limit(sb, 10)
    # An hour passes: the first spaces are idle now. More teams still get their spaces.
    await sb.advance(minutes=60)
    for i in range(ROOM + 1, 10):
        await people[i].slash("team create", name=f"Team {i}")
    await sb.settle()
    spaces = await spaces_of(sb)
    assert all(spaces[f"Team {i}"] is not None for i in range(10)), spaces
    # Never at Discord's limit: spaces stay within their share, posts keep their reserve.
    assert len(sb.guild.active_threads()) <= threads.SPACE_LIMIT < threads.GUILD_ACTIVE_THREADS
    # The idlest spaces went first; the newest stay active.
    first = sb.channel(spaces["Team 0"])
    newest = sb.channel(spaces["Team 9"])
    assert first.data["thread_metadata"]["archived"]
    assert not first.data["thread_metadata"]["locked"]
    assert not newest.data["thread_metadata"]["archived"]
    # Its team writes in it: Discord brings it back, nothing lost.
    await people[0].send(first, "we are back")
    assert not first.data["thread_metadata"]["archived"]
    assert [m["content"] for m in first.messages][-1] == "we are back"
    assert any("private space of **Team 0**" in m["content"] for m in first.messages)
    # A mentor let into another archived space: the outbox brings it back to add them.
    second = sb.channel(spaces["Team 1"])
    assert second.data["thread_metadata"]["archived"]
    from cogs.teams import spaces as team_spaces

    async with sb.bot.db.read() as session:
        team_id = await session.scalar(select(Team.id).where(Team.name == "Team 1"))
    await team_spaces.grant_access(sb.bot, team_id, mia.id)
    await sb.settle()
    assert sb.can_send(mia, second)
    assert not second.data["thread_metadata"]["archived"]


@pytest.mark.slow
async def test_a_rush_of_new_teams_past_the_limit_gets_spaces_within_minutes(start_sandbox):
    """Every space is new and fresh (as in an autoform rush): a space nobody wrote in yet may
    be archived after a couple of minutes, one whose team talks is kept."""
    from cogs.teams import headroom

    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    await fill_channels(sb)
    people = await spaces_up_to_the_limit(sb, 8)
    spaces = await spaces_of(sb)
    talking = sb.channel(spaces["Team 1"])
    await sb.advance(seconds=headroom.NEW_SPACE_PROTECT_S + 30)  # minutes, not an hour
    await people[1].send(talking, "we are working")
    for i in range(ROOM + 1, 8):
        await people[i].slash("team create", name=f"Team {i}")
    await sb.settle()
    spaces = await spaces_of(sb)
    assert all(spaces[f"Team {i}"] is not None for i in range(8)), spaces
    assert len(sb.guild.active_threads()) <= threads.SPACE_LIMIT
    assert not talking.data["thread_metadata"]["archived"]  # its team wrote: kept
    assert sb.channel(spaces["Team 2"]).data["thread_metadata"]["archived"]  # untouched


@pytest.mark.slow
async def test_autoform_waits_for_room_and_gives_every_team_its_space_in_order(
    start_sandbox, monkeypatch
):
    """Autoform past the limit with every space fresh: the job says it waits for room, and
    goes on (in the order teams were formed) once the first spaces may be archived."""
    import asyncio

    from cogs.teams import admin, headroom

    monkeypatch.setattr(admin, "ROOM_WAIT_S", 0.2)
    sb = await start_sandbox(
        {**CONFIG, "teams": {"min_size": 2, "max_size": 2}}, rate_limits=FAST_CHANNELS
    )
    await fill_channels(sb)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    first = await registered(sb, "first")
    await first.slash("team create", name="Team 0")  # opens the hub
    hub = sb.channel("team-hub")
    # Two spaces' room left before the limit: autoform makes four teams.
    active = len(sb.guild.active_threads())
    open_threads(sb, hub.data, threads.SPACE_LIMIT - 2 - active, "other-", 11)
    await sb.settle()
    for index in range(8):
        await registered(sb, f"p{index}")
    preview = await org.slash("admin teams autoform")
    assert "4 new team(s)" in preview.text
    sb.settle_after_interaction = False
    await preview.click("Confirm")
    for _ in range(200):
        if "Next try" in preview.message["content"]:
            break
        await asyncio.sleep(0.05)
    assert (
        "The server holds as many active threads as Discord allows" in (preview.message["content"])
    )
    await sb.advance(seconds=headroom.NEW_SPACE_PROTECT_S + 30)
    for _ in range(400):
        if preview.message["content"].startswith("Done"):
            break
        await asyncio.sleep(0.05)
    sb.settle_after_interaction = True
    await sb.settle()
    assert preview.message["content"].startswith("Done"), preview.message["content"]
    spaces = await spaces_of(sb)
    assert all(spaces[name] is not None for name in spaces), spaces
    assert len(sb.guild.active_threads()) <= threads.SPACE_LIMIT


async def test_the_bot_makes_room_before_it_brings_a_space_back_at_the_limit(start_sandbox):
    """Discord archived an idle space, and the server's other threads then filled it to
    Discord's 1,000. The bot posts in that space (a broadcast, a receipt): instead of meeting
    Discord's refusal (160006) and trying again, it archives idle spaces first, then posts;
    the space is back, nothing is lost."""
    from bot.services import outbox

    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    await fill_channels(sb)
    await spaces_up_to_the_limit(sb, 5)
    await sb.advance(minutes=60)  # every space is idle now
    spaces = await spaces_of(sb)
    back = sb.channel(spaces["Team 1"])
    sb.server.update_channel(sb.guild, back.data, {"archived": True})  # Discord's auto-archive
    hub = sb.channel("team-hub")
    open_threads(
        sb, hub.data, threads.GUILD_ACTIVE_THREADS - len(sb.guild.active_threads()), "more-", 11
    )
    await sb.settle()
    assert len(sb.guild.active_threads()) == threads.GUILD_ACTIVE_THREADS
    async with sb.bot.db.begin() as session:
        await outbox.enqueue(
            session, sb.bot.clock.now(), outbox.message_send(back.id, content="Demo time at 5")
        )
    await sb.settle()
    assert await sb.bot.outbox.idle(within=20)
    assert [m["content"] for m in back.messages][-1] == "Demo time at 5"
    assert not back.data["thread_metadata"]["archived"]
    assert sb.channel(spaces["Team 0"]).data["thread_metadata"]["archived"]  # room was made
    assert not sb.server.violations  # Discord never refused


async def test_discord_refuses_to_bring_a_thread_back_at_the_limit(start_sandbox):
    sb = await start_sandbox()
    ana = await sb.add_member("ana")
    general = sb.channel("general")
    open_threads(sb, general.data, 1000 - len(sb.guild.active_threads()), "t-", 11)
    first = sb.guild.active_threads()[0]
    sb.server.add_thread_member(sb.guild, first, str(ana.id))
    sb.server.update_channel(sb.guild, first, {"archived": True})
    open_threads(sb, general.data, 1, "last-", 11)  # the server is at 1,000 again
    with pytest.raises(DiscordError) as refused:
        await ana.send(first["id"], "hello?")
    assert refused.value.code == 160006
    assert first["thread_metadata"]["archived"]
    # Another one archived: now it comes back.
    sb.server.update_channel(sb.guild, sb.guild.active_threads()[-1], {"archived": True})
    await ana.send(first["id"], "hello again")
    assert not first["thread_metadata"]["archived"]
