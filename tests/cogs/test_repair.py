"""Drift repair end to end: people delete or change by hand what the bot made on Discord, then
/admin repair (or the start-up run) puts each thing back and says so; a run right after finds
nothing to fix."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sandbox.rules.permissions import P
from sandbox.server import state as st
from tests.cogs.test_challenges import add_challenge, pins
from tests.cogs.test_registration import register
from tests.cogs.test_submissions import PROJECT, submit

FAST = {
    "bucket_overrides": {
        "POST /guilds/{guild_id}/channels": (100, 1.0),
        "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (100, 1.0),
    }
}
NOTHING_EN = "Nothing to repair: Discord matches the bot's records."
NOTHING_FR = "Rien à réparer\u00a0: Discord correspond aux données du bot."
MANAGE_EVENTS = 1 << 33


def config(now: datetime) -> dict:
    def at(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat(timespec="seconds")

    return {
        "event": {"name": "Hack", "language": "en", "timezone": "Europe/Paris"},
        "teams": {"min_size": 2, "max_size": 3},
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": at(-1),
                "end": at(30),
                "opens": ["registration", "new_teams", "team_changes", "submissions"],
            },
            {"key": "judging", "name": "Judging", "start": at(30), "end": at(33)},
        ],
    }


async def event(start_sandbox, org_locale="en-US", rate_limits=FAST):
    """Two teams of two, a challenge, the countdown and the phases' events; nothing to repair."""
    now = datetime.now().astimezone()
    sb = await start_sandbox(config(now), rate_limits=rate_limits)
    org = await sb.add_member("org", roles=["Organiser"], locale=org_locale)
    people = {}
    for name in ("ana", "bob", "cid", "dan"):
        people[name] = await sb.add_member(name)
        await register(people[name])
    for captain, mate, team in (("ana", "bob", "Owls"), ("cid", "dan", "Foxes")):
        await people[captain].slash("team create", name=team)
        await people[captain].slash("team joining", mode="open")
        joined = await people[mate].slash("team join", team=team)
        assert joined.text.startswith(f"You joined **{team}**."), joined.text
    host = await sb.add_member("host", roles=["Organiser"])
    await add_challenge(host, "Clean Water", "Safe water for every village")
    assert len(sb.channel("announcements").pins) == 1
    assert {e["name"] for e in sb.scheduled_events} == {"Hacking", "Judging"}
    first = await org.slash("admin repair")
    assert first.ephemeral and first.text in (NOTHING_EN, NOTHING_FR), first.text
    return sb, org, people


# -- what a person does by hand (server state changed as Discord would) -------------------


def delete_channel(sb, name) -> None:
    sb.server.delete_channel(sb.guild, sb.channel(name).data)


def delete_role(sb, name) -> None:
    guild, role = sb.guild, sb.role(name)
    del guild.roles[role["id"]]
    for member in guild.members.values():
        if role["id"] in member["roles"]:
            member["roles"].remove(role["id"])
    for channel in guild.channels.values():
        channel["permission_overwrites"] = [
            o for o in channel.get("permission_overwrites", []) if o["id"] != role["id"]
        ]
    sb.server.gateway.dispatch("GUILD_ROLE_DELETE", {"guild_id": guild.id, "role_id": role["id"]})


def scheduled_event(sb, name) -> dict:
    return next(e for e in sb.guild.scheduled_events.values() if e["name"] == name)


def delete_event(sb, name) -> None:
    found = scheduled_event(sb, name)
    del sb.guild.scheduled_events[found["id"]]
    sb.server.gateway.dispatch("GUILD_SCHEDULED_EVENT_DELETE", st.public(found))


def member_overwrite(sb, channel, member) -> dict | None:
    return next((o for o in sb.channel(channel).overwrites if o["id"] == str(member.id)), None)


def lines(reply) -> list[str]:
    return [line for f in [reply, *reply.followups] for line in f.text.split("\n")]


async def test_repair_puts_back_each_thing_deleted_or_changed_by_hand(start_sandbox):
    sb, org, people = await event(start_sandbox)
    ana, bob, cid, dan = (people[n] for n in ("ana", "bob", "cid", "dan"))
    challenge_role = sb.role("Clean Water")["id"]

    delete_channel(sb, "owls")
    sb.server.delete_overwrite(sb.guild, sb.channel("foxes").data, str(dan.id))
    await sb.set_permissions("foxes", cid, deny=P.VIEW_CHANNEL)
    delete_role(sb, "Participant")
    delete_channel(sb, "announcements")
    delete_event(sb, "Hacking")
    delete_channel(sb, "clean-water")
    await sb.settle()
    assert not sb.has_role("Participant") and not sb.can_view(dan, "foxes")

    reply = await org.slash("admin repair")
    assert reply.ephemeral
    report = lines(reply)
    owls, foxes = sb.channel("owls"), sb.channel("foxes")
    announcements, home = sb.channel("announcements"), sb.channel("clean-water")
    assert report[0] == "**Repair**: 9 fix(es), each put back as the bot had made it."
    assert sorted(report[1:]) == sorted(
        [
            "• Role **Participant** was missing: made again.",
            "• Role **Participant** given back to 4 member(s) who had it.",
            f"• Channel <#{announcements.id}> was missing: made again.",
            f"• The space of team **Owls** was deleted: made again as <#{owls.id}> "
            "(its old messages are lost).",
            f"• <#{foxes.id}> (team **Foxes**): <@{dan.id}> could no longer see it: "
            "access given back.",
            f"• <#{foxes.id}> (team **Foxes**): the access of <@{cid.id}> was changed by hand: "
            "put back.",
            f"• The home of challenge **Clean Water** was deleted: made again as <#{home.id}>, "
            "description and teams pinned.",
            f"• The countdown in <#{announcements.id}> was deleted: posted and pinned again.",
            "• The scheduled event of phase **Hacking** was deleted: made again.",
        ]
    ), report

    # Each thing is back as the bot first made it.
    assert all(p.has_role("Participant") for p in people.values())
    assert sb.can_send(ana, owls) and sb.can_send(bob, owls) and not sb.can_view(cid, owls)
    assert sb.can_send(org, owls)
    assert sb.can_send(dan, foxes) and sb.can_send(cid, foxes) and not sb.can_view(ana, foxes)
    assert len(announcements.pins) == 1 and not sb.can_send(ana, announcements)
    assert sorted(e["name"] for e in sb.scheduled_events) == ["Hacking", "Judging"]
    assert [p["embeds"][0]["title"] for p in pins(home)] == [
        "Clean Water",
        "Teams working on Clean Water",
    ]
    assert sb.role("Clean Water")["id"] == challenge_role  # the challenge kept its role
    assert [r["name"] for r in sb.roles].count("Participant") == 1

    again = await org.slash("admin repair")
    assert again.text == NOTHING_EN and not again.followups


def nb(text: str) -> str:
    """French typography: a non-breaking space before a colon."""
    return text.replace(" :", "\u00a0:")


async def test_the_report_is_in_the_organisers_language_and_lists_each_fix(start_sandbox):
    sb, org, people = await event(start_sandbox, org_locale="fr")
    ana, cid = people["ana"], people["cid"]
    everyone = {"id": sb.guild.id}
    announcements, home = sb.channel("announcements"), sb.channel("clean-water")
    countdown = announcements.pins[0]
    description, listing = pins(home)

    sb.server.delete_message(announcements.data, sb.server.messages[countdown["id"]])
    sb.server.unpin_message(home.data, sb.server.messages[description["id"]])
    sb.server.delete_message(home.data, sb.server.messages[listing["id"]])
    await sb.set_permissions("organisers", everyone, allow=P.VIEW_CHANNEL)
    await sb.set_permissions("owls", everyone, allow=P.VIEW_CHANNEL)
    judging = scheduled_event(sb, "Judging")
    judging["name"] = "Party"
    sb.server.gateway.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", st.public(judging))
    await sb.settle()
    assert sb.can_view(ana, "organisers") and sb.can_view(cid, "owls")
    sb.expect_violation(code=10008)  # the bot looks for the deleted messages and finds them gone

    reply = await org.slash("admin repair")
    assert reply.ephemeral
    report = lines(reply)
    organisers, owls = sb.channel("organisers"), sb.channel("owls")
    assert report[0] == nb(
        "**Réparation** : 6 correction(s), chacune rétablie comme le bot l'avait faite."
    )
    assert sorted(report[1:]) == sorted(
        nb(line)
        for line in [
            f"• <#{organisers.id}> : les permissions de tout le monde avaient été changées à la "
            "main : rétablies.",
            f"• <#{owls.id}> (équipe **Owls**) : les permissions de tout le monde avaient été "
            "changées à la main : rétablies.",
            "• Défi **Clean Water** : sa description avait été désépinglée : épinglée de nouveau.",
            "• Défi **Clean Water** : la liste de ses équipes avait été supprimée : publiée et "
            "épinglée de nouveau.",
            f"• Le compte à rebours dans <#{announcements.id}> avait été supprimé : publié et "
            "épinglé de nouveau.",
            "• L'événement Discord de l'étape **Judging** avait été modifié à la main : nom, "
            "horaires et description de l'étape rétablis.",
        ]
    ), report
    assert not sb.can_view(ana, organisers) and sb.can_view(org, organisers)
    assert not sb.can_view(cid, owls) and sb.can_send(ana, owls)
    assert len(announcements.pins) == 1 and announcements.pins[0]["id"] != countdown["id"]
    restored = pins(home)
    assert restored[0]["id"] == description["id"] and restored[1]["id"] != listing["id"]
    assert restored[1]["embeds"][0]["title"] == "Teams working on Clean Water"
    assert scheduled_event(sb, "Judging")["id"] == judging["id"]
    assert all(sb.pinged(m)["users"] == [] for m in home.messages)

    again = await org.slash("admin repair")
    assert again.text == NOTHING_FR and not again.followups


async def test_the_start_up_run_repairs_what_changed_while_the_bot_was_away(start_sandbox):
    sb, _org, people = await event(start_sandbox)
    dan = people["dan"]
    organisers = sb.channel("organisers")
    await sb.kill_bot()
    delete_channel(sb, "owls")
    await dan.leave()  # the bot does not hear it
    sb.expect_violation(code=10007)  # the bot asks Discord for dan and is told he is gone
    await sb.start_bot()

    owls, foxes = sb.channel("owls"), sb.channel("foxes")
    assert sb.can_send(people["ana"], owls) and sb.can_send(people["bob"], owls)
    assert member_overwrite(sb, "foxes", dan) is None and sb.can_send(people["cid"], foxes)
    report = organisers.messages[-1]
    assert report["content"].split("\n") == [
        "**Repair**: 2 fix(es), each put back as the bot had made it.",
        f"• <@{dan.id}> left the server: taken out of team **Foxes**.",
        f"• The space of team **Owls** was deleted: made again as <#{owls.id}> "
        "(its old messages are lost).",
    ]
    assert sb.pinged(report) == {"users": [], "roles": [], "everyone": False, "here": False}
    info = await people["cid"].slash("team info")
    assert f"<@{dan.id}>" not in info.embed["fields"][0]["value"]

    # The next start finds nothing to fix, and says nothing.
    posted = len(organisers.messages)
    await sb.restart_bot()
    assert len(organisers.messages) == posted


async def test_a_space_renamed_by_hand_or_left_behind_by_a_restart_takes_its_teams_name(
    start_sandbox,
):
    # Discord's rename limit (2 per channel per 10 minutes) shortened to 2 per second here, so
    # the restarted bot is not kept waiting; the bot itself still counts 10 minutes.
    limits = {"bucket_overrides": {**FAST["bucket_overrides"], "channel_rename": (2, 1.0)}}
    sb, org, people = await event(start_sandbox, org_locale="fr", rate_limits=limits)
    owls = sb.channel("owls")
    sb.server.update_channel(sb.guild, owls.data, {"name": "party-room"})
    await sb.settle()

    reply = await org.slash("admin repair")
    assert lines(reply) == [
        nb("**Réparation** : 1 correction(s), chacune rétablie comme le bot l'avait faite."),
        nb(
            f"• L'espace de l'équipe **Owls** s'appelait #party-room : <#{owls.id}> reprend le "
            "nom de son équipe (tout de suite, ou dès que la limite de renommage de Discord le "
            "permet)."
        ),
    ]
    await sb.settle()
    assert sb.channel(owls.id).name == "owls"
    assert sb.can_send(people["ana"], owls) and not sb.can_view(people["cid"], owls)

    # A team renamed while its space's rename waits for Discord's limit, and the bot stops
    # before the wait is over: the start-up run gives the space its new name.
    previous = "Owls"
    for name in ("Night Owls", "Barn Owls", "Snowy Owls"):
        renamed = await people["ana"].slash("team rename", name=name)
        assert renamed.text == f"**{previous}** is now called **{name}**.", renamed.text
        previous = name
    await sb.settle()
    # The repair's rename and the first of these used the channel's two renames.
    assert sb.channel(owls.id).name == "night-owls"
    await asyncio.sleep(1.1)
    await sb.restart_bot()
    assert sb.channel(owls.id).name == "snowy-owls"
    assert "Snowy Owls" in sb.channel("organisers").messages[-1]["content"]


async def test_team_threads_on_a_full_server_are_repaired_too(start_sandbox):
    sb = await start_sandbox({"formation": {"channel_headroom": 0}}, rate_limits=FAST)
    for index in range(499 - len(sb.guild.guild_channels())):
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    org = await sb.add_member("org", roles=["Organiser"])
    ana, bob = await sb.add_member("ana"), await sb.add_member("bob")
    for member in (ana, bob):
        await register(member)
    await ana.slash("team create", name="Owls")
    await ana.slash("team joining", mode="open")
    await bob.slash("team join", team="Owls")
    thread = sb.channel("owls")
    assert thread.is_thread and sb.can_send(bob, thread)
    assert (await org.slash("admin repair")).text == NOTHING_EN

    sb.server.remove_thread_member(sb.guild, thread.data, str(bob.id))
    await sb.settle()
    assert not sb.can_view(bob, thread)
    reply = await org.slash("admin repair")
    assert reply.text.split("\n")[1:] == [
        f"• <#{thread.id}> (team **Owls**): <@{bob.id}> could no longer see it: access given back."
    ]
    assert sb.can_send(bob, thread)

    delete_channel(sb, "team-hub")  # and the team threads in it
    sb.expect_violation(code=10003)  # the bot asks Discord for the thread it no longer sees
    reply = await org.slash("admin repair")
    made = sb.channel("owls")
    assert reply.text.split("\n")[1:] == [
        f"• The space of team **Owls** was deleted: made again as <#{made.id}> "
        "(its old messages are lost)."
    ]
    assert made.is_thread and made.id != thread.id and sb.channel(made.parent).name == "team-hub"
    assert sb.can_send(ana, made) and sb.can_send(bob, made)
    assert len(sb.guild.guild_channels()) == 500  # still within Discord's limit
    assert (await org.slash("admin repair")).text == NOTHING_EN


async def test_a_role_deleted_by_hand_goes_back_to_who_held_it_with_its_permissions(
    start_sandbox,
):
    sb = await start_sandbox()
    org = await sb.add_member("org", roles=["Organiser"])
    meg = await sb.add_member("meg", roles=["Mentor"])
    assert (await org.slash("admin repair")).text == NOTHING_EN  # remembers who mentors
    assert sb.can_view(meg, "help-queue")

    delete_role(sb, "Mentor")
    await sb.settle()
    assert not meg.has_role("Mentor") and not sb.can_view(meg, "help-queue")
    reply = await org.slash("admin repair")
    assert reply.text.split("\n") == [
        "**Repair**: 3 fix(es), each put back as the bot had made it.",
        "• Role **Mentor** was missing: made again.",
        "• Role **Mentor** given back to 1 member(s) who had it.",
        f"• <#{sb.channel('help-queue').id}>: the permissions of role **Mentor** went with the "
        "deleted role: put back.",
    ]
    assert meg.has_role("Mentor") and sb.can_view(meg, "help-queue")
    assert not sb.can_send(meg, "help-queue")  # as the help desk made it: mentors only read
    assert (await org.slash("admin repair")).text == NOTHING_EN


async def test_gallery_posts_deleted_by_hand_are_posted_again(start_sandbox):
    sb, org, people = await event(start_sandbox)
    for member, title in ((people["ana"], "Owl Watch"), (people["cid"], "Fox Trail")):
        _opened, preview = await submit(member, {**PROJECT, "title": title})
        await preview.click("Confirm")
    await sb.settle()
    gallery = sb.channel("gallery")
    owl_post = next(p for p in gallery.threads if p.name == "Owl Watch")
    sb.expect_violation(code=10003)  # the gallery job looks for the deleted post first

    sb.server.delete_channel(sb.guild, owl_post.data)
    reply = await org.slash("admin repair")
    assert reply.text.split("\n") == [
        "**Repair**: 1 fix(es), each put back as the bot had made it.",
        "• The gallery post of team **Owls** was deleted: posted again.",
    ]
    await sb.settle()
    assert sorted(p.name for p in gallery.threads) == ["Fox Trail", "Owl Watch"]

    delete_channel(sb, "gallery")
    reply = await org.slash("admin repair")
    assert reply.text.split("\n") == [
        "**Repair**: 1 fix(es), each put back as the bot had made it.",
        "• The gallery forum was deleted: made again, and 2 project(s) posted in it again.",
    ]
    await sb.settle()
    posts = sb.channel("gallery").threads
    assert sorted(p.name for p in posts) == ["Fox Trail", "Owl Watch"]
    assert "Counts owls at night" in posts[0].messages[0]["embeds"][0]["description"]
    assert (await org.slash("admin repair")).text == NOTHING_EN


async def test_only_organisers_may_repair(start_sandbox):
    sb = await start_sandbox()
    await sb.create_role("Staff", permissions=MANAGE_EVENTS)
    staff = await sb.add_member("staff", roles=["Staff"], locale="fr")
    org = await sb.add_member("org", roles=["Organiser"])
    delete_channel(sb, "announcements")
    await sb.settle()

    refused = await staff.slash("admin repair")
    assert refused.ephemeral
    assert refused.text == "Seuls les organisateurs peuvent utiliser cette commande."
    assert not sb.has_channel("announcements")

    done = await org.slash("admin repair")
    assert sb.has_channel("announcements")
    channel = sb.channel("announcements").id
    assert done.text.split("\n") == [
        "**Repair**: 2 fix(es), each put back as the bot had made it.",
        f"• Channel <#{channel}> was missing: made again.",
        f"• The countdown in <#{channel}> was deleted: posted and pinned again.",
    ]
