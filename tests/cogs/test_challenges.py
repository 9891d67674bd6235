"""Challenges end to end: add (form), home channel with pinned description and teams, list, info,
Follow, edit, remove; the teams listing following team changes; Discord's channel limits."""

from __future__ import annotations

import asyncio

import cogs.challenges as challenges_cog
from bot.services import challenges as challenge_service
from bot.services import registration as registration_service
from bot.services import teams as team_service

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}
FAST_CHANNELS = {"bucket_overrides": {"POST /guilds/{guild_id}/channels": (50, 10.0)}}


def config(**challenges) -> dict:
    return {"event": {"name": "Hack", "language": "en"}, "challenges": challenges}


async def add_challenge(org, name, summary, description="", **options):
    form = await org.slash("admin challenge add", name=name, summary=summary, **options)
    return await form.submit({"Long description (pinned in its channel)": description})


def pins(view) -> list[dict]:
    """Pinned messages, oldest first (the description, then the teams)."""
    return sorted(view.pins, key=lambda m: int(m["id"]))


async def eventually(sb, check, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise AssertionError("the condition never became true")
        await asyncio.sleep(0.05)
        await sb.settle()


async def test_add_list_info_follow_edit_remove(start_sandbox):
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    ana = await sb.add_member("ana", roles=["Participant"], locale="fr")

    form = await org.slash(
        "admin challenge add",
        name="Clean Water",
        summary="Safe water for every village",
        sponsor="Water Board",
        mentor_skills="hydrology, IoT",
    )
    assert form.modal["components"][0]["components"][0]["value"] == "Clean Water"
    done = await form.submit(
        {"Long description (pinned in its channel)": "Wells break; @everyone nobody knows."}
    )
    assert done.ephemeral and "Challenge **Clean Water** created: <#" in done.all_text
    home = sb.channel("clean-water")
    assert home.parent.name == "Challenges"
    pinned = pins(home)
    assert [p["embeds"][0]["title"] for p in pinned] == [
        "Clean Water",
        "Teams working on Clean Water",
    ]
    assert "Wells break" in pinned[0]["embeds"][0]["description"]
    assert pinned[1]["embeds"][0]["description"].startswith("No team yet")
    assert all(sb.pinged(m) == NOBODY for m in home.messages)
    assert sb.has_role("Clean Water") and sb.can_send(ana, "clean-water")

    # Same name, whatever the case and accents: refused before the form opens.
    again = await org.slash("admin challenge add", name="clean  WATER", summary="x")
    assert again.ephemeral and again.text == 'There is already a challenge called "Clean Water".'
    bad = await org.slash("admin challenge add", name="X", summary="y", problems="12, abc")
    assert "is not a problem statement number" in bad.text

    await add_challenge(org, "Énergie locale", "Des coopératives d'énergie")
    listing = await ana.slash("challenge list")
    assert listing.ephemeral and listing.embed["title"] == "Défis"
    assert [f["name"] for f in listing.embed["fields"]] == ["Clean Water", "Énergie locale"]

    choices = await ana.autocomplete("challenge info", "challenge", "ener")
    assert [c["name"] for c in choices] == ["Énergie locale"]
    info = await ana.slash("challenge info", challenge=choices[0]["value"])
    assert info.embed["title"] == "Énergie locale" and info.buttons == ["Suivre"]
    info = await ana.slash("challenge info", challenge="clean water")
    fields = {f["name"]: f["value"] for f in info.embed["fields"]}
    assert (
        fields["Porteur / sponsor"] == "Water Board"
        and fields["Compétences des mentors"] == "hydrology, IoT"
    )
    missing = await ana.slash("challenge info", challenge="nothing")
    assert missing.text.startswith("Aucun défi nommé « nothing »")

    # Follow: the challenge's role, and back.
    followed = await ana.click(pinned[0], "Follow")
    assert followed.ephemeral and "Vous suivez **Clean Water**" in followed.text
    assert ana.has_role("Clean Water")
    unfollowed = await ana.click(pinned[0], "Follow")
    assert "ne suivez plus" in unfollowed.text and not ana.has_role("Clean Water")

    # Edit: the form comes prefilled; the pinned description follows.
    choices = await org.autocomplete("admin challenge edit", "challenge", "clean")
    form = await org.slash("admin challenge edit", challenge=choices[0]["value"])
    assert form.modal["components"][1]["components"][0]["value"] == "Safe water for every village"
    done = await form.submit({"Summary (shown in lists)": "Safe drinking water"})
    assert "updated" in done.all_text
    assert pins(home)[0]["embeds"][0]["description"].startswith("Safe drinking water")

    # Remove: confirmed, the channel stays readable, the role goes.
    ask = await org.slash("admin challenge remove", challenge=choices[0]["value"])
    removed = await ask.click("Remove")
    assert "removed" in removed.text
    assert not sb.has_role("Clean Water") and not sb.can_send(ana, "clean-water")
    assert sb.can_view(ana, "clean-water")
    listing = await ana.slash("challenge list")
    assert [f["name"] for f in listing.embed["fields"]] == ["Énergie locale"]


async def test_the_challenge_channel_lists_its_teams(start_sandbox, monkeypatch):
    monkeypatch.setattr(challenges_cog, "LISTING_DEBOUNCE_S", 0.2)
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    await add_challenge(org, "Clean Water", "Water")
    await add_challenge(org, "Local Energy", "Energy")
    ana = await sb.add_member("ana", locale="en-US")
    ben = await sb.add_member("ben", locale="en-US")
    bot, settings = sb.bot, sb.settings
    now = bot.clock.now()
    async with bot.db.begin() as session:
        for who in (ana, ben):
            await registration_service.register(
                session,
                settings,
                now,
                who.id,
                registration_service.ProfileInput(who.name, ["developer"], ["en"], "UTC"),
            )
        change = await team_service.create_team(
            session, settings, now, ana.id, "Owls", challenge="Clean Water"
        )
        await team_service.set_looking_for(session, settings, now, ana.id, ["design", "data"])
        team_id = change.team_id
    cog = bot.get_cog("ChallengesCog")
    calls = []
    original = cog.refresh_listing

    async def counting(challenge_id):
        calls.append(challenge_id)
        return await original(challenge_id)

    monkeypatch.setattr(cog, "refresh_listing", counting)
    for _ in range(5):  # a burst of changes: one edit
        bot.dispatch("hackbot_team_changed", team_id)
    water = sb.channel("clean-water")
    await eventually(sb, lambda: "Owls" in (pins(water)[1]["embeds"][0].get("description") or ""))
    text = pins(water)[1]["embeds"][0]["description"]
    assert text == "**Owls** (1 members) — looking for: design, data"
    assert len(calls) == 1

    async with bot.db.begin() as session:
        await team_service.set_open(session, settings, now, ana.id, True)
        await team_service.join_team(session, settings, now, ben.id, "Owls")
        await team_service.set_challenge(session, settings, now, ana.id, "Local Energy")
    bot.dispatch("hackbot_team_changed", team_id)
    energy = sb.channel("local-energy")
    await eventually(sb, lambda: "Owls" in (pins(energy)[1]["embeds"][0].get("description") or ""))
    await eventually(sb, lambda: "No team yet" in pins(water)[1]["embeds"][0]["description"])
    info = await ben.slash("challenge info", challenge="Local Energy")
    assert "**Owls** (2 members)" in next(
        f["value"] for f in info.embed["fields"] if f["name"] == "Teams (1)"
    )
    refused = await org.slash("admin challenge remove", challenge="Local Energy")
    assert refused.ephemeral and "must choose another challenge" in refused.text


async def test_challenges_overflow_categories_then_become_forum_posts(start_sandbox):
    """A server already holding 470 channels, 49 of them in "Challenges": channels while the
    reserve allows (overflowing into "Challenges 2"), then forum posts; never past Discord's limits."""
    sb = await start_sandbox(
        config(channel_reserve=20, role_reserve=200), rate_limits=FAST_CHANNELS
    )
    guild = sb.guild
    category = sb.server.create_channel(guild, {"name": "Challenges", "type": 4})
    for i in range(49):  # set-up straight in the server's state
        sb.server.create_channel(
            guild, {"name": f"old-{i}", "type": 0, "parent_id": category["id"]}
        )
    while len(guild.guild_channels()) < 470:
        sb.server.create_channel(
            guild, {"name": f"filler-{len(guild.guild_channels())}", "type": 0}
        )
    await sb.settle()
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    cog = sb.bot.get_cog("ChallengesCog")
    kinds = []
    for i in range(12):
        if i < 2:
            done = await add_challenge(org, f"Challenge {i}", "Summary")
            assert "created" in done.all_text
            async with sb.bot.db.read() as session:
                created = await challenge_service.find(session, f"Challenge {i}")
            kinds.append("channel" if created.channel_id else "post")
            continue
        now = sb.bot.clock.now()
        async with sb.bot.db.begin() as session:
            created = await challenge_service.create(
                session, name=f"Challenge {i}", summary="S", now=now
            )
        kinds.append(await cog.ensure_home(created.id))
    channels = guild.guild_channels()
    assert len(channels) <= 500 - 20 + 1  # the forum may take one reserved slot
    children = {}
    for channel in channels:
        children[channel.get("parent_id")] = children.get(channel.get("parent_id"), 0) + 1
    assert max(n for parent, n in children.items() if parent) <= 50
    assert kinds[0] == "channel" and sb.channel("challenge-0").parent.name == "Challenges"
    assert sb.channel("challenge-1").parent.name == "Challenges 2"
    assert "post" in kinds and kinds[-1] == "post"
    forum = sb.channel("challenges")
    posts = [t for t in sb.threads if t.parent and t.parent.id == forum.id]
    assert len(posts) == kinds.count("post")
    assert [p["embeds"][0]["title"] for p in pins(posts[0])][:1] == [posts[0].name]
    # Roles: 250 - 200 reserve leaves room for a few; the others rely on the post's members.
    assert len(sb.roles) <= 250 - 200 + 1


async def test_a_home_discord_refuses_half_way_is_finished_by_repair_nothing_made_twice(
    start_sandbox,
):
    """Discord refuses the pinned description (its part of the home goes through the
    outbox, recorded as each is made): the organiser is told to run repair, which posts
    and pins what is missing; the role and channel made before are kept, not made again."""
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    sb.faults.routes = frozenset({"POST /channels/{channel_id}/messages"})
    sb.faults.error_status = 403
    sb.faults.fail_next = 1
    done = await add_challenge(org, "Clean Water", "Safe water")
    assert "Discord refused part of its home" in done.all_text and "/admin repair" in done.all_text
    sb.faults.clear()
    home = sb.channel("clean-water")
    async with sb.bot.db.read() as session:
        made = await challenge_service.find(session, "Clean Water")
    assert made.channel_id == home.id and made.role_id == int(sb.role("Clean Water")["id"])
    assert made.pinned_message_id is None and pins(home) == []

    reply = await org.slash("admin repair")
    assert "description" in reply.all_text
    await eventually(sb, lambda: len(pins(home)) == 2)
    assert [p["embeds"][0]["title"] for p in pins(home)] == [
        "Clean Water",
        "Teams working on Clean Water",
    ]
    assert len([m for m in home.messages if m.get("embeds")]) == 2  # (and 2 pin notices)
    assert [c.name for c in sb.channels].count("clean-water") == 1
    assert [r["name"] for r in sb.roles].count("Clean Water") == 1
    again = await org.slash("admin repair")
    assert "Clean Water" not in again.all_text
