"""Teams end to end: from /register to a private team space, join requests, leaving, the
board, automatic formation, in a small server and in one that has run out of channels."""

from __future__ import annotations

import asyncio

from cogs.teams.team_commands import SPACE_SLOW_S
from sandbox.server import state as st
from tests.cogs.test_registration import NOBODY, register

# Discord creates channels slowly (the sandbox: 5 per 10 s). Tests that create many raise the
# bucket so they stay fast; the real pace is what the autoform progress message is for.
FAST_CHANNELS = {"bucket_overrides": {"POST /guilds/{guild_id}/channels": (100, 1.0)}}
SMALL = {"teams": {"min_size": 2, "max_size": 3}, "formation": {"card_cooldown_minutes": 30}}


async def registered(sb, name, locale="en-US", types=("Developer",), **kwargs):
    member = await sb.add_member(name, locale=locale, **kwargs)
    reply = await register(member, types=types)
    assert member.has_role("Participant"), reply
    return member


def team_channel(sb, slug):
    return sb.channel(slug)


def open_threads(sb, channel, count, prefix, thread_type, *, auto_archive_duration=None) -> None:
    """``count`` bot-owned threads in ``channel``, straight in the server's state (no rate
    limits): what other features or team spaces hold."""
    for index in range(count):
        sb.server.create_thread(
            sb.guild,
            channel,
            name=f"{prefix}{index}",
            owner_id=str(sb.bot_user_id),
            thread_type=thread_type,
            auto_archive_duration=auto_archive_duration,
        )


async def test_from_register_to_a_private_team_space(start_sandbox):
    sb = await start_sandbox(SMALL, rate_limits=FAST_CHANNELS)
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob")
    org = await sb.add_member("org", roles=["Organiser"])
    stranger = await registered(sb, "eve")

    reply = await ana.slash("team create", name="  Les   Hérons ", description="Birds @everyone")
    assert reply.ephemeral
    assert reply.text.startswith("Team **Les Hérons** created, and you are its captain.")
    space = sb.channel("les-herons")
    assert space.parent is not None and sb.channel(space.parent).name == "Teams"
    assert f"<#{space.id}>" in reply.text
    assert sb.can_send(ana, space) and sb.can_view(org, space)
    assert not sb.can_view(stranger, space) and not sb.can_view(bob, space)
    welcome = space.messages[0]
    assert "private space of **Les Hérons**" in welcome["content"]
    assert sb.pinged(welcome) == NOBODY

    # A closed team: bob asks, ana accepts in the team's space.
    asked = await bob.slash("team join", team="les herons")
    assert asked.text.startswith("Your request to join **Les Hérons** is sent")
    card = space.messages[-1]
    assert f"<@{bob.id}> would like to join **Les Hérons**." in card["content"]
    assert sb.pinged(card) == NOBODY
    assert await sb.bot.outbox.idle(within=10)
    async with sb.bot.db.read() as session:  # where the card is, recorded when Discord had it
        from sqlalchemy import select

        from bot.models.teams import TeamRequest

        (request,) = (await session.scalars(select(TeamRequest))).all()
    assert (request.channel_id, request.message_id) == (int(space.id), int(card["id"]))
    assert not sb.can_view(stranger, space)  # nobody else even sees the buttons
    answered = await ana.click(card, "Accept")
    assert answered.ephemeral and "joined the team (ana accepted)" in answered.text
    card = space.messages[-1]
    assert card["content"] == f"<@{bob.id}> joined the team (ana accepted)."
    assert not card["components"]
    assert sb.can_send(bob, space)
    assert any("accepted your request" in m["content"] for m in bob.dms)

    info = await bob.slash("team info")
    fields = {f["name"]: f["value"] for f in info.embed["fields"]}
    assert fields["Members (2/3)"] == f"<@{ana.id}> ⭐\n<@{bob.id}>"

    # The captain leaves: bob takes over and keeps access; ana loses it at once.
    left = await ana.slash("team leave")
    assert left.text == f"You left **Les Hérons**. <@{bob.id}> is its captain now."
    assert not sb.can_view(ana, space) and sb.can_send(bob, space)

    # bob leaves the server: the empty team is archived and its space closed.
    await bob.leave()
    await sb.settle()
    assert not sb.can_view(bob.id, space)
    assert "archived" in space.messages[-1]["content"]
    again = await ana.slash("team create", name="les herons")
    assert again.text.startswith("Team **les herons** created")


async def test_bad_input_has_clear_answers_and_changes_nothing(start_sandbox):
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob")
    cid = await registered(sb, "cid")
    dan = await registered(sb, "dan")
    newcomer = await sb.add_member("newbie")
    await ana.slash("team create", name="Owls")
    await ana.slash("team joining", mode="open")
    assert (await bob.slash("team join", team="Owls")).text.startswith("You joined **Owls**.")
    await cid.slash("team join", team="Owls")
    full = await dan.slash("team join", team="Owls")
    assert full.text.startswith("**Owls** is full (3 members).")
    second = await bob.slash("team create", name="Foxes")
    assert second.text.startswith("You are already in the team **Owls**")
    kick = await ana.slash("team kick", member=dan)
    assert kick.text == f"<@{dan.id}> is not a member of your team: nothing changed."
    not_captain = await bob.slash("team kick", member=cid)
    assert not_captain.text == "Only your team's captain can do that."
    unregistered = await newcomer.slash("team create", name="Solo")
    assert unregistered.text.startswith("Register first with `/register`")
    bad_name = await dan.slash("team create", name="<@123> fans")
    assert "cannot contain a mention" in bad_name.text
    taken = await dan.slash("team create", name="OWLS")
    assert taken.text.startswith('There is already a team called "Owls"')
    assert sb.channel("owls").exists and not sb.has_channel("owls-2")
    for reply in (full, second, kick, not_captain, unregistered, bad_name, taken):
        assert reply.ephemeral


async def test_overflowing_server_gives_new_teams_private_threads(start_sandbox):
    sb = await start_sandbox(
        {**SMALL, "formation": {"channel_headroom": 0}}, rate_limits=FAST_CHANNELS
    )
    # Fill the server up to 497 channels, as a big event's other channels would.
    for index in range(497 - len(sb.guild.guild_channels())):
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    await sb.settle()
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob")
    eve = await registered(sb, "eve")
    org = await sb.add_member("org", roles=["Organiser"])

    first = await ana.slash("team create", name="Channel Team")  # a category + a channel: 499
    assert not sb.channel("channel-team").is_thread
    second = await bob.slash("team create", name="Thread Team")  # no room left: a thread
    thread = sb.channel("thread-team")
    assert thread.is_thread and sb.channel(thread.parent).name == "team-hub"
    assert f"<#{thread.id}>" in second.text and first.ephemeral
    assert sb.can_send(bob, thread) and sb.can_view(org, thread)
    assert not sb.can_view(eve, thread) and not sb.can_view(ana, thread)
    assert len(sb.guild.guild_channels()) == 500

    await bob.slash("team joining", mode="open")
    await eve.slash("team join", team="Thread Team")
    assert sb.can_send(eve, thread)
    await eve.slash("team leave")
    assert not sb.can_view(eve, thread)


async def test_invitation_by_direct_message(start_sandbox):
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob", locale="fr")
    await ana.slash("team create", name="Owls")
    sent = await ana.slash("team invite", member=bob)
    assert sent.text.startswith(f"Invitation sent to <@{bob.id}>")
    invitation = bob.dms[-1]
    assert "vous invite à rejoindre l'équipe **Owls**" in invitation["content"]
    answer = await bob.click(invitation, "Accepter")
    assert answer.text.startswith("Vous avez accepté : bienvenue dans **Owls** !")
    assert not bob.dms[-1]["components"]
    assert sb.can_send(bob, "owls")
    dan = await registered(sb, "dan")
    dan.close_dms()
    sb.expect_violation(code=50007)
    quiet = await ana.slash("team invite", member=dan)
    assert "does not accept direct messages" in quiet.text
    joined = await dan.slash("team join", team="Owls")
    assert joined.text.startswith("You joined **Owls**.")


async def test_board_cards_with_buttons_that_survive_a_restart(start_sandbox):
    sb = await start_sandbox(SMALL, rate_limits=FAST_CHANNELS)
    ana = await registered(sb, "ana", types=("Design",))
    bob = await registered(sb, "bob")
    posted = await ana.slash("lft")
    assert posted.text.startswith("Your card is on the board")
    board = sb.channel("team-board")
    card = board.messages[-1]
    assert card["embeds"][0]["title"] == "Ana is looking for a team"
    assert sb.pinged(card) == NOBODY
    too_soon = await ana.slash("lft")
    assert too_soon.text == "Not so fast: you can do that again in 30 min."

    await bob.slash("team create", name="Owls")
    await sb.restart_bot()
    invited = await bob.click(card, "Invite to my team")
    assert invited.text.startswith(f"Invitation sent to <@{ana.id}>")
    talk = await bob.click(card, "Start a conversation")
    thread = sb.threads[-1]
    assert f"<#{thread.id}>" in talk.text
    assert sb.can_view(ana, thread) and sb.can_view(bob, thread)
    await sb.settle()
    (intro,) = thread.messages
    assert intro["content"].startswith("A private conversation for")
    assert sorted(sb.pinged(intro)["users"]) == sorted([str(ana.id), str(bob.id)])  # nobody else
    cid = await registered(sb, "cid")
    assert not sb.can_view(cid, thread)

    recruit = await bob.slash("team recruit")
    done = await recruit.select("Profiles you are looking for", ["Design", "Data"])
    assert done.text.startswith("Your team's card is on the board")
    team_card = board.messages[-1]
    fields = {f["name"]: f["value"] for f in team_card["embeds"][0]["fields"]}
    assert fields["Looking for"] == "Design, Data"
    ask = await cid.click(team_card, "Ask to join")
    assert ask.text.startswith("Your request to join **Owls** is sent")

    # Cards leave the board once they are stale: ana's when she is in a team, the team's
    # when it is full. A new card replaces the author's previous one.
    joined = await ana.slash("team join", team="Owls")
    assert "Owls" in joined.text
    await sb.settle()
    on_board = [m["id"] for m in board.messages]
    assert card["id"] not in on_board and team_card["id"] in on_board
    await sb.advance(minutes=31)  # the card cooldown
    recruit = await bob.slash("team recruit")
    again = await recruit.select("Profiles you are looking for", ["Data"])
    assert again.text.startswith("Your team's card is on the board")
    on_board = [m["id"] for m in board.messages]
    assert team_card["id"] not in on_board
    team_card = board.messages[-1]
    await bob.slash("team joining", mode="open")
    await cid.slash("team join", team="Owls")
    await sb.settle()
    assert team_card["id"] not in [m["id"] for m in board.messages]


async def test_a_card_the_board_cannot_take_yet_is_promised_then_posted_once(
    start_sandbox, monkeypatch
):
    """The board channel takes one post per 5 s here: the second card waits in the outbox,
    and the answer says when it comes instead of making the person wait."""
    from cogs.teams import team_commands

    monkeypatch.setattr(team_commands, "CARD_WAIT_S", 0.5)
    slow_board = {
        "bucket_overrides": {
            **FAST_CHANNELS["bucket_overrides"],
            "POST /channels/{channel_id}/messages": (1, 5.0),
        }
    }
    sb = await start_sandbox(SMALL, rate_limits=slow_board)
    ana = await registered(sb, "ana", types=("Design",))
    bob = await registered(sb, "bob")
    await ana.slash("lft")
    sb.settle_after_interaction = False
    second = await bob.slash("lft")
    sb.settle_after_interaction = True
    assert second.text.startswith("Your card goes on the board in "), second.text
    board = sb.channel("team-board")
    await sb.settle()
    assert await sb.bot.outbox.idle(within=20)
    titles = [m["embeds"][0]["title"] for m in board.messages]
    assert titles == ["Ana is looking for a team", "Bob is looking for a team"]
    async with sb.bot.db.read() as session:
        from bot.services import teams as team_service

        card = await team_service.board_card_of(session, "profile", bob.id)
    assert card is not None and card.message_id == int(board.messages[-1]["id"])


async def test_an_invitation_discord_is_slow_to_take_is_promised_then_delivered(
    start_sandbox, monkeypatch
):
    from cogs.teams import team_commands

    monkeypatch.setattr(team_commands, "CARD_WAIT_S", 0.5)
    slow_dms = {
        "bucket_overrides": {
            **FAST_CHANNELS["bucket_overrides"],
            "POST /users/@me/channels": (1, 5.0),
        }
    }
    sb = await start_sandbox(SMALL, rate_limits=slow_dms)
    ana = await registered(sb, "ana")
    cid = await registered(sb, "cid", locale="fr")
    await ana.slash("team create", name="Owls")
    sb.settle_after_interaction = False
    sent = await ana.slash("team invite", member=cid)
    sb.settle_after_interaction = True
    assert sent.text.startswith(f"<@{cid.id}> is invited to **Owls**: the invitation reaches")
    assert "/team join" in sent.text and not cid.dms
    await sb.settle()
    assert await sb.bot.outbox.idle(within=20)
    (invitation,) = cid.dms
    assert "vous invite à rejoindre l'équipe **Owls**" in invitation["content"]
    answer = await cid.click(invitation, "Accepter")
    assert answer.text.startswith("Vous avez accepté : bienvenue dans **Owls** !")


async def test_autoform_preview_confirm_and_spaces(start_sandbox):
    sb = await start_sandbox({"teams": {"min_size": 2, "max_size": 3}}, rate_limits=FAST_CHANNELS)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    people = []
    for index, kind in enumerate(["Developer", "Developer", "Design", "Data", "Product"]):
        people.append(await registered(sb, f"p{index}", types=(kind,)))
    loner = await registered(sb, "loner")
    mine = await loner.slash("profile")
    await mine.click("Do not match me")

    preview = await org.slash("admin teams autoform")
    assert preview.ephemeral
    assert "5 participant(s) to place: 5 placed, 0 left over" in preview.text
    assert "2 new team(s)" in preview.text
    assert "100 % of teams mix at least two profile types" in preview.text
    assert not sb.has_channel("team-1")  # nothing happens before confirming
    await preview.click("Confirm")
    for _ in range(100):  # the spaces are created in the background, with progress
        text = preview.message["content"]
        if text.startswith("Done"):
            break
        await asyncio.sleep(0.05)
        await sb.settle()
    assert text.startswith("Done: 2 team(s) formed or completed")
    for person in people:
        info = await person.slash("team info")
        assert info.embed["title"] in ("Team 1", "Team 2")
    space = sb.channel(info.embed["title"].lower().replace(" ", "-"))
    assert sb.can_send(people[-1], space) and not sb.can_view(loner, space)
    assert "Automatic team formation finished" in sb.channel("organisers").messages[-1]["content"]
    report = await org.slash("admin teams report")
    assert "1 registered participant(s) without a team (0 of them agree" in report.text
    again = await org.slash("admin teams autoform")
    assert again.text.startswith("Nobody to place")
    assert not preview.buttons  # the confirmed preview cannot be confirmed twice


async def test_mentor_access_is_granted_and_revoked_per_member(start_sandbox):
    from bot.services import teams as team_service
    from cogs.teams import spaces

    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    mentor = await sb.add_member("mia", roles=["Mentor"])
    await ana.slash("team create", name="Owls")
    space = sb.channel("owls")
    assert not sb.can_view(mentor, space)
    async with sb.bot.db.read() as session:
        team = await team_service.team_of(session, ana.id)
    assert await spaces.grant_access(sb.bot, team.id, mentor.id)
    await sb.settle()
    assert sb.can_send(mentor, space)
    assert await spaces.revoke_access(sb.bot, team.id, mentor.id)
    await sb.settle()
    assert not sb.can_view(mentor, space) and sb.can_send(ana, space)


async def test_organisers_hear_which_teams_are_below_the_minimum_when_formation_closes(
    start_sandbox,
):
    from datetime import timedelta

    from bot.clock import utcnow

    now = utcnow()
    formation = {
        "key": "formation",
        "name": "Team formation",
        "start": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
        "end": (now + timedelta(hours=1)).isoformat(timespec="seconds"),
        "opens": ["registration", "team_changes"],
    }
    sb = await start_sandbox({**SMALL, "phases": [formation]})
    ana = await registered(sb, "ana")
    await ana.slash("team create", name="Solo")
    await registered(sb, "bob")
    before = len(sb.channel("organisers").messages)
    await sb.advance(hours=1, minutes=1)
    posted = sb.channel("organisers").messages[before:]
    assert len(posted) == 1
    text = posted[0]["content"]
    assert text.startswith("Team formation has just closed. Where teams stand:")
    assert "1 registered participant(s) without a team" in text
    assert "Solo" in text
    assert sb.pinged(posted[0]) == NOBODY
    await sb.restart_bot()  # said once, not again after a restart
    assert len(sb.channel("organisers").messages) == before + 1


async def test_no_new_teams_once_hacking_starts_but_joining_still_works(start_sandbox):
    from datetime import timedelta

    from bot.clock import utcnow

    now = utcnow()

    def phase(key, start_h, end_h, opens):
        return {
            "key": key,
            "name": key.title(),
            "start": (now + timedelta(hours=start_h)).isoformat(timespec="seconds"),
            "end": (now + timedelta(hours=end_h)).isoformat(timespec="seconds"),
            "opens": opens,
        }

    phases = [
        phase("formation", -1, 1, ["registration", "new_teams", "team_changes"]),
        phase("hacking", 1, 3, ["team_changes", "submissions"]),
    ]
    sb = await start_sandbox({**SMALL, "phases": phases})
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob", locale="fr")
    await ana.slash("team create", name="Owls")
    await ana.slash("team joining", mode="open")
    await sb.advance(hours=1, minutes=1)

    refused = await bob.slash("team create", name="Foxes")
    assert refused.ephemeral
    assert refused.text.startswith("On ne peut plus créer d'équipe depuis le <t:")
    assert refused.text.endswith(
        "Vous pouvez encore rejoindre une équipe existante\u00a0: voyez /team list."
    )
    assert "foxes" not in [c.name for c in sb.channels]
    joined = await bob.slash("team join", team="Owls")
    assert joined.ephemeral and "Owls" in joined.text
    assert sb.can_send(bob, sb.channel("owls"))

    await sb.advance(hours=2)  # submissions closed: teams are frozen
    frozen = await bob.slash("team leave")
    assert frozen.text.startswith("Les équipes sont figées depuis le <t:")
    assert sb.can_send(bob, sb.channel("owls"))


async def test_the_space_follows_a_rename_within_discords_rename_limit(start_sandbox):
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    await ana.slash("team create", name="Owls")
    space_id = sb.channel("owls").id

    reply = await ana.slash("team rename", name="Night Owls")
    assert "Night Owls" in reply.text
    space = sb.channel(space_id)
    assert space.name == "night-owls"
    assert "Night Owls" in space.topic
    assert sb.can_send(ana, space)
    await ana.slash("team rename", name="Barn Owls")
    assert sb.channel(space_id).name == "barn-owls"

    # A third rename inside 10 minutes would make Discord answer 429 and hold the team's
    # space for minutes: the team is renamed at once, its channel when the window frees.
    third = await ana.slash("team rename", name="Snowy Owls")
    assert third.ephemeral and "Snowy Owls" in third.text
    assert sb.channel(space_id).name == "barn-owls"
    manager = sb.bot.team_spaces
    assert 0 < manager.rename_wait(int(space_id)) <= 600
    assert any(not task.done() for task in manager._catch_up.values())
    assert not sb.server.violations
    # Membership changes are not held up by the pending rename.
    bob = await registered(sb, "bob")
    await ana.slash("team joining", mode="open")
    await bob.slash("team join", team="Snowy Owls")
    assert sb.can_send(bob, sb.channel(space_id))


def test_rename_budget_is_two_per_ten_minutes_per_channel():
    from collections import deque

    from cogs.teams.spaces import SpaceManager

    manager = SpaceManager.__new__(SpaceManager)
    manager._renamed_at = {}
    assert manager.rename_wait(1, now=1000.0) == 0
    manager._renamed_at[1] = deque([1000.0, 1100.0])
    assert manager.rename_wait(1, now=1200.0) == 400.0
    assert manager.rename_wait(2, now=1200.0) == 0  # another channel has its own budget
    assert manager.rename_wait(1, now=1600.0) == 0  # the first rename left the window
    assert list(manager._renamed_at[1]) == [1100.0]


async def test_team_threads_make_room_and_never_hit_the_active_thread_limit(start_sandbox):
    """A server out of channels and nearly out of active threads: statement posts are archived
    (still readable) so a team gets its private thread; with nothing left to archive, the
    organisers are told and Discord's limit is never hit."""
    sb = await start_sandbox(
        {
            **SMALL,
            "formation": {"channel_headroom": 0},
            "problems": {"themes": [], "cooldown_seconds": 0, "max_active_posts": 10},
        },
        rate_limits=FAST_CHANNELS,
    )
    busy = sb.server.create_channel(sb.guild, {"name": "busy", "type": st.GUILD_TEXT})

    def others_open(count, prefix):  # other features' threads, straight in the server's state
        open_threads(sb, busy, count, prefix, st.PUBLIC_THREAD)

    others_open(940, "t")
    await sb.settle()
    writers = [await registered(sb, f"w{i}") for i in range(10)]
    for index, writer in enumerate(writers):
        form = await writer.slash("problem submit")
        labels = [row["components"][0]["label"] for row in form.modal["components"]]
        values = [f"Problem number {index}", f"A long enough description {index}", "people", ""]
        await form.submit(dict(zip(labels, values, strict=True)))
    assert len(sb.guild.active_threads()) == 950  # the statements keep their own headroom
    for index in range(500 - len(sb.guild.guild_channels()) - 1):  # one left: the hub
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    others_open(25, "s")  # ... of which others then take half
    await sb.settle()

    ana = await registered(sb, "ana")
    made = await ana.slash("team create", name="Thread Team")
    space = sb.channel("thread-team")
    assert space.is_thread and f"<#{space.id}>" in made.text
    assert sb.can_send(ana, space)
    statements = [t for t in sb.threads if t.parent and t.parent.name == "problem-statements"]
    # Room for the one thread: the oldest statement post archived, no more.
    archived = [t.name for t in statements if t.data["thread_metadata"]["archived"]]
    assert len(statements) == 10 and archived == ["Problem number 0"]
    assert len(sb.guild.active_threads()) == 975

    # The others take nine more: archiving the nine statements left cannot bring the server
    # under what team spaces may use (the last POST_RESERVE stay for posts).
    others_open(9, "u")
    await sb.settle()
    bob = await registered(sb, "bob", locale="fr")
    before = len(sb.channel("organisers").messages)
    made = await bob.slash("team create", name="No Room")
    assert made.ephemeral and "No Room" in made.text
    assert "no-room" not in [t.name for t in sb.threads]
    warning = sb.channel("organisers").messages[before:]
    assert len(warning) == 1 and "No Room" in warning[0]["content"]
    assert sb.pinged(warning[0]) == NOBODY
    assert len(sb.guild.active_threads()) == 975  # 25 short of Discord's 1,000
    assert not sb.server.violations  # Discord's limit was never hit


async def test_a_new_team_is_answered_before_discord_has_made_its_space(start_sandbox):
    """Discord takes seconds to make a channel (here: every channel creation answered after
    3 s): the captain reads "created" at once, with the space on its way; the answer shows
    the space's link once it exists, and the captain can use the bot meanwhile."""
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    sb.faults.routes = frozenset({"POST /guilds/{guild_id}/channels"})
    sb.faults.latency_ms = 3000
    sb.settle_after_interaction = False
    reply = await ana.slash("team create", name="Owls")
    assert reply.text.startswith("Team **Owls** created, and you are its captain.")
    assert "is being made: its link appears here in a moment" in reply.text
    assert not sb.has_channel("owls")  # the answer did not wait for it
    info = await ana.slash("team info")  # the team already works
    assert info.embed["title"] == "Owls"
    sb.settle_after_interaction = True
    await sb.settle(quiet=3.5)
    space = sb.channel("owls")
    assert f"Your team's private space: <#{space.id}>" in reply.text
    assert sb.can_send(ana, space)


async def test_at_a_rush_a_new_team_is_told_how_long_its_space_takes(start_sandbox):
    """Discord lets the bot make two channels a minute here (the first team's category and
    channel use them): the second captain reads when their space will be ready (learned from
    Discord's answers: when its window resets), not "in a moment", and the answer does not
    say Discord is slow while that time has not passed."""
    sb = await start_sandbox(SMALL)
    sb.rate_limiter.buckets["POST /guilds/{guild_id}/channels"] = (2, 60.0)
    sb.rate_limiter.reset()  # (the start-up's channels were counted at the usual pace)
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob")
    sb.settle_after_interaction = False
    await ana.slash("team create", name="Owls")
    for _ in range(100):  # (discord.py holds the last request of a window until it resets)
        if sb.has_channel("owls"):
            break
        await asyncio.sleep(0.1)
    assert sb.has_channel("owls")  # the minute's two channels: "Teams" and this one
    reply = await bob.slash("team create", name="Larks")
    assert "private space is being made and will be ready in about 1 min" in reply.text, reply.text
    await asyncio.sleep(SPACE_SLOW_S + 1)
    assert "not ready yet" not in reply.text  # still within the time it was told
    assert not sb.has_channel("larks")
    sb.settle_after_interaction = True


async def test_who_joins_while_discord_makes_the_space_is_in_it_once_it_exists(start_sandbox):
    """Discord takes 3 s to make each channel: bob joins the open team meanwhile. Exactly
    one channel is made, and once it exists both members can write in it (the creation,
    stored in the outbox, gives access to whoever joined while it was being made)."""
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    bob = await registered(sb, "bob")
    made = []
    sb.server.after_handled.append(
        lambda route, call, result: (
            made.append(call.json.get("name"))
            if route == "POST /guilds/{guild_id}/channels"
            else None
        )
    )
    sb.faults.routes = frozenset({"POST /guilds/{guild_id}/channels"})
    sb.faults.latency_ms = 3000
    sb.settle_after_interaction = False
    await ana.slash("team create", name="Owls")
    await ana.slash("team joining", mode="open")
    joined = await bob.slash("team join", team="Owls")
    assert "joined" in joined.text, joined.text
    assert not sb.has_channel("owls")
    sb.settle_after_interaction = True
    await sb.settle(quiet=3.5)
    assert await sb.bot.outbox.idle(within=20)
    await sb.settle()
    space = sb.channel("owls")
    assert made.count("owls") == 1, made
    assert sb.can_send(ana, space) and sb.can_send(bob, space)
    assert "private space of **Owls**" in space.messages[0]["content"]


async def test_a_space_discord_refuses_for_good_is_reported_with_its_reason(start_sandbox):
    """The bot lost Manage Channels (an administrator's change): a new team is created and
    works, its space is refused for good, and the organisers read why, once; with the
    permission back, the team's next change makes its space."""
    sb = await start_sandbox(SMALL)
    ana = await registered(sb, "ana")
    bot_role = next(r for r in sb.roles if (r.get("tags") or {}).get("bot_id"))
    allowed = int(bot_role["permissions"])
    await sb.set_bot_permissions(allowed & ~(1 << 4))  # no Manage Channels
    sb.expect_violation(50013, path_contains="/channels")  # the one refusal this test causes
    reply = await ana.slash("team create", name="Owls")
    assert reply.text.startswith("Team **Owls** created")
    assert await sb.bot.outbox.idle(within=20)
    await sb.settle()
    assert not sb.has_channel("owls")
    said = [m["content"] for m in sb.channel("organisers").messages]
    refused = [
        text for text in said if "Discord refused to make the space of team **Owls**" in text
    ]
    assert len(refused) == 1 and "403" in refused[0], said
    info = await ana.slash("team info")  # the team works without its space
    assert info.embed["title"] == "Owls"

    await ana.slash("team joining", mode="open")
    bob = await registered(sb, "bob")
    await sb.set_bot_permissions(allowed)
    await bob.slash("team join", team="Owls")  # the team's next change
    await sb.settle()
    assert await sb.bot.outbox.idle(within=20)
    await sb.settle()
    assert sb.can_send(ana, "owls") and sb.can_send(bob, "owls")
