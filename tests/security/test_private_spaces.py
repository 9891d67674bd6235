"""Team spaces stay private, checked with the sandbox's own permission model (what Discord
would let each person see): no participant sees another team's space, as a channel (with its
voice channel) or as a private thread once the server has no channels left; organisers see
them all; a mentor sees a team's space from the moment they claim its help request until the
request is resolved, released or cancelled by the team, and never another team's."""

from __future__ import annotations

from sqlalchemy import select

from bot.models.teams import Team
from bot.services import teams as team_service
from sandbox.server import state as st
from tests.security.test_permissions_matrix import registered

CONFIG = {
    "teams": {"min_size": 1, "max_size": 3, "voice_channels": True},
    "help": {"ask_cooldown_minutes": 0},
}
TEAMS = {"Owls": ("ana", "bob"), "Foxes": ("cid", "dan"), "Bees": ("eve",)}


async def people(sb) -> dict[str, object]:
    """Three teams made with /team create and /team join, and everyone else around them."""
    found = {
        "nobody": await sb.add_member("nobody"),
        "loner": await registered(sb, "loner"),
        "mia": await sb.add_member("mia", roles=["Mentor"]),
        "max": await sb.add_member("max", roles=["Mentor"]),
        "judge": await sb.add_member("judge", roles=["Judge"]),
        "org": await sb.add_member("org", roles=["Organiser"]),
    }
    for team, (captain, *members) in TEAMS.items():
        found[captain] = await registered(sb, captain)
        created = await found[captain].slash("team create", name=team)
        assert created.text.startswith(f"Team **{team}** created"), created.text
        await found[captain].slash("team joining", mode="open")
        for name in members:
            found[name] = await registered(sb, name)
            joined = await found[name].slash("team join", team=team)
            assert joined.text.startswith(f"You joined **{team}**"), joined.text
    return found


async def spaces(sb) -> dict[str, list[int]]:
    """Each active team's space: its text channel or thread, and its voice channel if any."""
    out = {}
    async with sb.bot.db.read() as session:
        for team in (await session.scalars(select(Team).where(Team.archived_at.is_(None)))).all():
            space = await team_service.space_of(session, team.id)
            out[team.name] = [i for i in (space.channel_id, space.voice_channel_id) if i]
    return out


def seen_by(sb, everyone: dict, channel: int) -> set[str]:
    return {name for name, member in everyone.items() if sb.can_view(member, channel)}


async def check(sb, everyone: dict, teams: dict[str, tuple[str, ...]], helping=None) -> None:
    """Each team's space is seen by its members and the organiser, plus the mentor helping it
    (``helping``: team → mentor), and by nobody else; members may write in it."""
    helping = helping or {}
    found = await spaces(sb)
    assert set(found) == set(teams)
    for team, channels in found.items():
        wanted = {*teams[team], "org", *([helping[team]] if team in helping else [])}
        for channel in channels:
            assert seen_by(sb, everyone, channel) == wanted, (team, sb.channel(channel).name)
        for name in teams[team]:
            assert sb.can_send(everyone[name], channels[0]), (team, name)


async def test_channels_are_seen_by_their_team_and_the_organisers_only(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=False)
    everyone = await people(sb)
    found = await spaces(sb)
    assert all(len(channels) == 2 for channels in found.values())  # text and voice
    assert not any(sb.channel(channels[0]).is_thread for channels in found.values())
    await check(sb, everyone, TEAMS)

    # Moving between teams moves the access, at once.
    await everyone["bob"].slash("team leave")
    await everyone["bob"].slash("team join", team="Foxes")
    await everyone["cid"].slash("team kick", member=everyone["dan"])
    await check(sb, everyone, {"Owls": ("ana",), "Foxes": ("cid", "bob"), "Bees": ("eve",)})


async def test_private_threads_are_seen_by_their_team_and_the_organisers_only(start_sandbox):
    sb = await start_sandbox(
        {
            **CONFIG,
            "teams": {**CONFIG["teams"], "voice_channels": False},
            "formation": {"channel_headroom": 0},
        },
        rate_limits=False,
    )
    for index in range(499 - len(sb.guild.guild_channels())):  # the hub takes the last one
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    await sb.settle()
    everyone = await people(sb)
    found = await spaces(sb)
    assert all(sb.channel(channels[0]).is_thread for channels in found.values())
    assert len(sb.guild.guild_channels()) == 500
    await check(sb, everyone, TEAMS)
    hub = sb.channel("team-hub")
    assert sb.can_view(everyone["loner"], hub) and not sb.can_send(everyone["loner"], hub)

    await everyone["bob"].slash("team leave")
    await everyone["bob"].slash("team join", team="Foxes")
    await check(sb, everyone, {"Owls": ("ana",), "Foxes": ("cid", "dan", "bob"), "Bees": ("eve",)})

    # A mentor is added to the thread while helping, and taken off when done.
    await everyone["ana"].slash("help ask", topic="python", description="Thread team needs help")
    await check(sb, everyone, {"Owls": ("ana",), "Foxes": ("cid", "dan", "bob"), "Bees": ("eve",)})
    await press(sb, everyone["mia"], "help:claim:")
    after = {"Owls": ("ana",), "Foxes": ("cid", "dan", "bob"), "Bees": ("eve",)}
    await check(sb, everyone, after, helping={"Owls": "mia"})
    await press(sb, everyone["mia"], "help:resolve:")
    await check(sb, everyone, after)


def card(sb, prefix: str) -> dict:
    """The help queue card that carries a ``prefix…`` button."""
    for message in reversed(sb.channel("help-queue").messages):
        for row in message.get("components") or []:
            for item in row.get("components") or []:
                if str(item.get("custom_id", "")).startswith(prefix):
                    return message
    raise LookupError(prefix)


async def press(sb, member, prefix: str):
    message = card(sb, prefix)
    custom_id = next(
        item["custom_id"]
        for row in message["components"]
        for item in row["components"]
        if item["custom_id"].startswith(prefix)
    )
    reply = await member.click(message, custom_id=custom_id)
    assert "#" in reply.text, reply
    return reply


async def test_a_mentor_sees_a_team_only_while_helping_it(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=False)
    everyone = await people(sb)

    async def ask():
        asked = await everyone["ana"].slash(
            "help ask", topic="python", description="Our build fails at start-up"
        )
        assert asked.text.startswith("🙋 Request"), asked.text
        await check(sb, everyone, TEAMS)  # waiting: no mentor sees the space yet

    # Claimed, then resolved.
    await ask()
    await press(sb, everyone["mia"], "help:claim:")
    await check(sb, everyone, TEAMS, helping={"Owls": "mia"})
    await press(sb, everyone["mia"], "help:resolve:")
    await check(sb, everyone, TEAMS)

    # Claimed, released (back in the queue), claimed by another mentor, cancelled by the team.
    await ask()
    await press(sb, everyone["mia"], "help:claim:")
    await check(sb, everyone, TEAMS, helping={"Owls": "mia"})
    await press(sb, everyone["mia"], "help:release:")
    await check(sb, everyone, TEAMS)
    await press(sb, everyone["max"], "help:claim:")
    await check(sb, everyone, TEAMS, helping={"Owls": "max"})
    cancelled = await everyone["bob"].slash("help cancel")
    assert cancelled.text.startswith("Request #"), cancelled.text
    await check(sb, everyone, TEAMS)

    # An organiser resolving a mentor's claim ends the mentor's access too.
    await ask()
    await press(sb, everyone["max"], "help:claim:")
    await check(sb, everyone, TEAMS, helping={"Owls": "max"})
    await press(sb, everyone["org"], "help:resolve:")
    await check(sb, everyone, TEAMS)
