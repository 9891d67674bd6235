"""/submit end to end: the form, the preview, Confirm, the gallery post and the receipt,
edits, bad links, the deadline to the second (refused, or accepted and flagged), an
organiser reopening one team, reminders reaching teams without a submission, gallery
posts within their share of the server's active threads, and 300 teams submitting in the
last minute before the deadline."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.models.submissions import SubmissionVersion
from bot.services import submissions as service
from tests.cogs.test_teams import FAST_CHANNELS, open_threads, registered

log = logging.getLogger(__name__)

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}
EN = {
    "title": "Project name",
    "pitch": "Pitch (one sentence)",
    "description": "Description",
    "repo_url": "Code repository (link)",
    "demo_url": "Demo or video (link)",
}
FR = {
    "title": "Nom du projet",
    "pitch": "Accroche (une phrase)",
    "description": "Description",
    "repo_url": "Dépôt du code (lien)",
    "demo_url": "Démo ou vidéo (lien)",
}
PROJECT = {
    "title": "Owl Watch",
    "pitch": "Counts owls at night <@&1> @everyone",
    "description": "A camera and a model that count owls, for the bird society.",
    "repo_url": "https://github.com/owls/watch",
    "demo_url": "https://youtu.be/owls",
}


def config(minutes_left: float = 120, **extra) -> dict:
    now = utcnow()
    data = {
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": (now - timedelta(hours=2)).isoformat(timespec="seconds"),
                "end": (now + timedelta(minutes=minutes_left)).isoformat(timespec="seconds"),
                "opens": ["registration", "team_changes", "submissions"],
            }
        ],
    }
    data.update(extra)
    return data


async def team_with_space(sb, name: str, team: str, locale: str = "en-US"):
    member = await registered(sb, name, locale=locale)
    reply = await member.slash("team create", name=team)
    assert "created" in reply.text or "créée" in reply.text, reply.text
    return member


def form(values: dict, labels: dict = EN) -> dict:
    return {labels[key]: value for key, value in values.items()}


async def submit(member, values=PROJECT, labels=EN):
    opened = await member.slash("submit")
    assert opened.modal is not None, opened.text
    preview = await member.submit_modal(opened, form(values, labels))
    assert preview.ephemeral
    return opened, preview


async def deadline_of(sb):
    async with sb.bot.db.read() as session:
        phases = await service.event_service.timeline(session)
    return phases[0].ends_at


async def test_a_team_submits_sees_a_receipt_and_a_gallery_post_then_edits(start_sandbox):
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    ana = await team_with_space(sb, "ana", "Owls")
    bob = await registered(sb, "bob")
    await ana.slash("team invite", member=bob)
    invitation = next(m for m in bob.dms if m.get("components"))
    await bob.click(invitation, "Accept")

    opened, preview = await submit(ana)
    assert opened.modal["title"] == "Submit your project"
    assert "Nothing is sent until you press **Confirm**" in preview.text
    assert preview.buttons == ["Confirm", "Edit", "Cancel"]
    assert preview.embed["title"] == "Owl Watch"
    async with sb.bot.db.read() as session:
        assert await service.count(session) == 0  # a preview stores nothing
    done = await preview.click("Confirm")
    assert done.text.startswith("✅ Submitted for **Owls**: version 1, received <t:")
    assert done.ephemeral and done.pinged == NOBODY
    await sb.settle()

    space = sb.channel("owls")
    receipt = space.messages[-1]
    assert receipt["content"].startswith("📬 Submission received: version 1, <t:")
    assert receipt["embeds"][0]["title"] == "Owl Watch"
    assert sb.pinged(receipt) == NOBODY
    gallery = sb.channel("gallery")
    assert gallery.type == 15 and sb.can_view(bob, gallery) and not sb.can_send(bob, gallery)
    (post,) = gallery.threads
    thread = sb.channel(post)
    assert thread.name == "Owl Watch"
    starter = thread.messages[0]
    assert starter["embeds"][0]["title"] == "Owl Watch"
    fields = {f["name"]: f["value"] for f in starter["embeds"][0]["fields"]}
    assert fields["Team"] == "Owls" and fields["Members"] == "Ana, Bob"
    assert sb.pinged(starter) == NOBODY
    assert f"<#{thread.id}>" in receipt["content"]

    # bob (French) edits it: the form comes back filled with the current version.
    bob.locale = "fr"
    opened = await bob.slash("submit")
    assert opened.modal["title"] == "Modifier votre projet"
    defaults = {
        c["components"][0]["label"]: c["components"][0].get("value")
        for c in opened.modal["components"]
    }
    assert defaults["Nom du projet"] == "Owl Watch"
    preview = await bob.submit_modal(opened, form({**PROJECT, "title": "Owl Watch 2"}, FR))
    assert "Elle remplace la version 1" in preview.text
    done = await preview.click("Confirmer")
    assert done.text.startswith("✅ Enregistré pour **Owls** : version 2")
    await sb.settle()
    assert gallery.threads == [post]  # the same post, updated
    assert sb.channel(post).name == "Owl Watch 2"
    assert sb.channel(post).messages[0]["embeds"][0]["title"] == "Owl Watch 2"
    assert space.messages[-1]["content"].startswith("📬 Submission received: version 2")
    async with sb.bot.db.read() as session:
        versions = (await session.scalars(select(SubmissionVersion.version))).all()
    assert sorted(versions) == [1, 2]


async def test_non_members_bad_links_and_cancel_change_nothing(start_sandbox):
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    ana = await team_with_space(sb, "ana", "Owls")
    eve = await registered(sb, "eve", locale="fr")
    refused = await eve.slash("submit")
    assert refused.modal is None and refused.ephemeral
    assert refused.text.startswith("Seuls les membres d'une équipe peuvent soumettre")
    outsider = await sb.add_member("zed")
    assert (await outsider.slash("submit")).text.startswith("Only members of a team can submit")

    _, preview = await submit(ana, {**PROJECT, "repo_url": "javascript:alert(1)"})
    assert preview.text.startswith(
        "“Code repository (link)” must start with https:// (or http://): javascript:alert(1)"
    )
    assert "Confirm" not in preview.buttons
    fixed = await preview.click("Edit")
    labels = {
        c["components"][0]["label"]: c["components"][0].get("value")
        for c in fixed.modal["components"]
    }
    assert labels["Code repository (link)"] == "javascript:alert(1)"  # what was typed is kept
    preview = await ana.submit_modal(fixed, form({**PROJECT, "repo_url": "http://localhost:3000"}))
    assert "must point at a public site, not “localhost”" in preview.text
    fixed = await preview.click("Edit")
    preview = await ana.submit_modal(fixed, form(PROJECT))
    cancelled = await preview.click("Cancel")
    assert cancelled.text == "Cancelled: nothing was submitted."
    await sb.settle()
    async with sb.bot.db.read() as session:
        assert await service.count(session) == 0
    assert not sb.has_channel("gallery")


async def test_one_second_late_is_refused_with_the_time_missed(start_sandbox):
    sb = await start_sandbox(config(minutes_left=30), rate_limits=FAST_CHANNELS)
    ana = await team_with_space(sb, "ana", "Owls")
    opened = await ana.slash("submit")
    assert opened.modal is not None
    deadline = await deadline_of(sb)
    await sb.advance(seconds=(deadline - sb.clock.now()).total_seconds() + 1.05)
    refused = await ana.slash("submit")
    assert refused.modal is None
    assert refused.text.startswith("Too late: the submission deadline (<t:")
    assert "passed 1 s ago" in refused.text
    # A form opened before the deadline but confirmed after it is refused at Confirm.
    preview = await ana.submit_modal(opened, form(PROJECT))
    assert preview.text.startswith("Too late: the submission deadline (<t:")
    async with sb.bot.db.read() as session:
        assert await service.count(session) == 0


async def test_late_accepted_and_flagged_reopen_and_reminders(start_sandbox):
    sb = await start_sandbox(
        config(minutes_left=30, submissions={"late_policy": "accept_flagged"}),
        rate_limits=FAST_CHANNELS,
    )
    ana = await team_with_space(sb, "ana", "Owls")
    bob = await team_with_space(sb, "bob", "Foxes")
    org = await sb.add_member("org", roles=["Organiser"])
    _, preview = await submit(
        bob, {**PROJECT, "title": "Fox Den", "repo_url": "https://gitlab.com/f/den"}
    )
    await preview.click("Confirm")
    await sb.settle()

    # 15 minutes before the deadline the timeline reminds teams that have not submitted.
    await sb.advance(minutes=16)
    owls, foxes = sb.channel("owls"), sb.channel("foxes")
    reminders = [m for m in owls.messages if "submi" in m["content"].lower()]
    assert reminders, [m["content"] for m in owls.messages]
    assert not any("remind" in m["content"].lower() for m in foxes.messages[-1:])

    deadline = await deadline_of(sb)
    await sb.advance(seconds=(deadline - sb.clock.now()).total_seconds() + 1.05)
    _, preview = await submit(ana)
    assert "⚠️ The deadline passed 1 s ago: it will be accepted but marked late" in preview.text
    done = await preview.click("Confirm")
    assert "⚠️ Marked late: 1 s after the deadline." in done.text
    await sb.settle()
    notices = [m["content"] for m in sb.channel("organisers").messages]
    assert "⏰ **Owls** submitted 1 s after the deadline (accepted, marked late)." in notices
    status = await org.slash("admin submission status")
    assert "2 of 2 teams submitted · 1 late" in status.embed["description"]
    assert any("late (1 s)" in f["value"] for f in status.embed["fields"])


async def test_organiser_reopens_one_team_after_a_refused_deadline(start_sandbox):
    sb = await start_sandbox(config(minutes_left=5), rate_limits=FAST_CHANNELS)
    ana = await team_with_space(sb, "ana", "Owls")
    bob = await team_with_space(sb, "bob", "Foxes")
    org = await sb.add_member("org", roles=["Organiser"], locale="fr")
    await sb.advance(minutes=10)
    assert (await ana.slash("submit")).modal is None
    with pytest.raises(PermissionError):  # Discord does not even show /admin to participants
        await ana.slash("admin submission reopen", team="Owls")
    done = await org.slash("admin submission reopen", team="Owls", minutes=20)
    assert done.text.startswith("**Owls** peut soumettre ou modifier son projet jusqu'au <t:")
    assert "🔓" in sb.channel("owls").messages[-1]["content"]
    _, preview = await submit(ana)
    confirmed = await preview.click("Confirm")
    assert confirmed.text.startswith("✅ Submitted for **Owls**")
    assert (await bob.slash("submit")).modal is None  # only that team


async def test_gallery_posts_stay_within_their_share_of_the_active_threads(start_sandbox):
    """Every gallery post is a forum thread and a server holds about 1,000 active ones: at
    most gallery_active_posts stay active (the least recently updated are archived, still
    readable); near the server's limit the gallery archives its own posts first and leaves
    the headroom free; a team thread gets room from the gallery; with nothing left to
    archive no post is attempted (Discord's limit is never hit) and it follows later."""
    from bench import submit as rush
    from bot import threads
    from sandbox.server import state as st

    sb = await start_sandbox(
        config(submissions={"gallery_active_posts": 10}), rate_limits=FAST_CHANNELS
    )
    members = await sb.add_members(14, prefix="maker")
    spaces = await rush.make_teams(sb, sb.bot.db, members, challenges=2)
    await sb.settle()

    def gallery():
        forum = sb.channel("gallery")
        return {sb.channel(t).name: sb.channel(t) for t in forum.threads}

    def active(posts):
        return sorted(n for n, t in posts.items() if not t.data["thread_metadata"]["archived"])

    async def submit_one(index):
        flow = await rush.submit_flow(sb, members[index], index, rush.project(index))
        assert flow.submitted, flow.error or flow.text
        await sb.settle()

    for index in range(12):
        await submit_one(index)
    posts = gallery()
    assert len(posts) == 12
    assert active(posts) == [f"Project {i:04d}" for i in range(2, 12)]
    oldest = posts["Project 0000"]
    assert sb.can_view(members[5], oldest) and not sb.can_send(members[5], "gallery")
    assert oldest.messages[0]["embeds"][0]["title"] == "Project 0000"  # archived, still readable

    # An edit brings its post back (updated); the least recently updated one goes instead.
    opened = await members[0].slash("submit")
    preview = await members[0].submit_modal(opened, {EN["title"]: "Project 0000 v2"})
    await preview.click("Confirm")
    await sb.settle()
    posts = gallery()
    assert "Project 0000 v2" in active(posts) and len(active(posts)) == 10
    assert posts["Project 0000 v2"].messages[0]["embeds"][0]["title"] == "Project 0000 v2"
    assert "Project 0002" not in active(posts)

    busy = sb.server.create_channel(sb.guild, {"name": "busy", "type": st.GUILD_TEXT})

    def others_open(count, prefix):  # other features' threads, straight in the server's state
        open_threads(sb, busy, count, prefix, st.PUBLIC_THREAD, auto_archive_duration=60)

    # The server nearly full: a new post fits by archiving one of the gallery's own.
    others_open(950 - len(sb.guild.active_threads()), "t")
    await sb.settle()
    await submit_one(12)
    assert len(sb.guild.active_threads()) == 950  # the headroom stays free
    assert "Project 0012" in active(gallery()) and len(active(gallery())) == 10

    # A team that needs a thread for its space: the gallery makes room (bot/threads.py).
    others_open(1000 - len(sb.guild.active_threads()), "u")
    await sb.settle()
    assert await threads.make_room(sb.bot, sb.bot.event_guild)
    # The gallery archives what the caller needs (one more thread), its least recently updated.
    assert len(active(gallery())) == 9 and len(sb.guild.active_threads()) == 999
    assert "Project 0003" not in active(gallery())

    # Nothing left to archive: no post is attempted; the receipt goes out without its link.
    flow = await rush.submit_flow(sb, members[13], 13, rush.project(13))
    assert flow.submitted
    await sb.settle()
    assert "Project 0013" not in gallery()
    receipt = sb.channel(spaces[13]).messages[-1]["content"]
    assert receipt.startswith("📬 Submission received: version 1") and receipt.endswith(": —")
    assert not sb.server.violations  # Discord's limit was never hit
    # Room again (the other threads go quiet and Discord archives them): the post follows.
    await sb.advance(hours=2)
    assert await rush.wait_caught_up(sb.bot.db, max_wait=60) is not None
    await sb.settle()
    assert "Project 0013" in active(gallery())
    assert len(sb.channel(spaces[13]).messages) == 1  # one receipt, not two


async def test_team_spaces_filling_the_threads_leave_the_gallery_its_reserve(start_sandbox):
    """Measured at full scale: 1,462 teams, 1,000 of them in private threads, took every active
    thread and not one of 1,462 projects reached the gallery. Team spaces now stop
    POST_RESERVE short of the limit, and posts may use that reserve."""
    from bench import submit as rush
    from bot import threads
    from sandbox.server import state as st

    sb = await start_sandbox(
        config(submissions={"gallery_active_posts": 10}), rate_limits=FAST_CHANNELS
    )
    members = await sb.add_members(3, prefix="maker")
    await rush.make_teams(sb, sb.bot.db, members, challenges=1)
    hub = sb.server.create_channel(sb.guild, {"name": "spaces-hub", "type": st.GUILD_TEXT})
    # Team spaces as private threads, as many as team spaces may take (straight in the state).
    spaces = threads.SPACE_LIMIT - len(sb.guild.active_threads())
    open_threads(sb, hub, spaces, "team-", st.PRIVATE_THREAD, auto_archive_duration=10080)
    guild = sb.bot.event_guild
    for _ in range(200):  # the bot hears of 975 new threads over the gateway
        await sb.settle()
        if threads.active_threads(guild) == threads.SPACE_LIMIT:
            break
        await asyncio.sleep(0.05)
    assert threads.post_limit(guild) == threads.GUILD_ACTIVE_THREADS

    # Another team would need a thread: there is no room for it (the reserve is the posts').
    assert not await threads.make_room(sb.bot, guild, limit=threads.SPACE_LIMIT)
    # Projects still reach the gallery, within the reserve.
    for index in range(3):
        flow = await rush.submit_flow(sb, members[index], index, rush.project(index))
        assert flow.submitted, flow.error or flow.text
    assert await rush.wait_caught_up(sb.bot.db, max_wait=60) is not None
    await sb.settle()
    forum = sb.channel("gallery")
    assert sorted(sb.channel(t).name for t in forum.threads) == [
        "Project 0000",
        "Project 0001",
        "Project 0002",
    ]
    assert len(sb.guild.active_threads()) == threads.SPACE_LIMIT + 3
    assert not sb.server.violations  # Discord's limit was never hit


#: The rush: this many teams press Confirm within one minute of the deadline, their starts
#: spread uniformly over the minute but its last RUSH_TAIL_S seconds; LATE more teams have
#: their preview on screen and press Confirm just after the deadline.
RUSH_TEAMS = 300
RUSH_WINDOW_S = 60.0
RUSH_TAIL_S = 5.0
LATE = 4


@pytest.mark.slow
async def test_300_teams_submitting_in_the_same_minute_lose_nothing(start_sandbox):
    """Teams and their spaces are written straight into the database and the server (as
    bench/ does: making 300 channels through Discord's rate limits is not the point here);
    their members then go through the real /submit flow: the form, the preview, Confirm,
    each flow started without waiting for the others (bench.submit runs the same with the
    bot in its own process)."""
    from bench import submit as rush

    # Request validation off, as in bench/: it is the sandbox's own cost (about 2 ms a request
    # on this machine), and it shares the bot's process and core here.
    provisional = (utcnow() + timedelta(minutes=10)).replace(microsecond=0)
    sb = await start_sandbox(rush.config(provisional), validate=False)
    members = await sb.add_members(RUSH_TEAMS + LATE, prefix="hacker")
    spaces = await rush.make_teams(sb, sb.bot.db, members, challenges=4)
    assert len(spaces) == RUSH_TEAMS + LATE  # every team has a channel
    await sb.settle()
    # Exactly one minute to go when the first team starts.
    await sb.advance(seconds=(provisional - sb.clock.now()).total_seconds() - RUSH_WINDOW_S)
    deadline = provisional

    started = time.monotonic()
    late = asyncio.create_task(
        rush.late_flows(sb, members[RUSH_TEAMS:], deadline, first_index=RUSH_TEAMS)
    )
    flows = await rush.rush(sb, members[:RUSH_TEAMS], window_s=RUSH_WINDOW_S, tail_s=RUSH_TAIL_S)
    answered = time.monotonic() - started
    flows += await late
    # The gallery posts and receipts follow in the background, at Discord's pace.
    caught_up = await rush.wait_caught_up(sb.bot.db, max_wait=300)
    await sb.settle()
    slowest = max(v for f in flows for v in f.steps_s.values())
    log.warning(
        "%d teams submitted in one minute: the last confirmed %.1f s after the first started; "
        "slowest first answer %.0f ms; gallery and receipts done %.1f s later",
        RUSH_TEAMS,
        answered,
        slowest * 1000,
        caught_up if caught_up is not None else float("nan"),
    )
    out = await rush.outcome(sb, sb.bot.db, spaces)
    verdict = rush.judge(flows, deadline, out, spaces)

    assert [f.error for f in flows if f.error] == []
    assert verdict.on_time == RUSH_TEAMS  # every team pressed Confirm before the deadline...
    assert verdict.submitted == RUSH_TEAMS  # ...and read "submitted"
    assert verdict.lost == [] and verdict.duplicates == []
    assert sorted(out.by_title) == [rush.project(i)["title"] for i in range(RUSH_TEAMS)]
    assert all(count == 1 and version == 1 for count, version, _, _ in out.by_title.values())
    assert sum(out.versions.values()) == RUSH_TEAMS
    # Late clicks are refused with the time missed, never stored as on time.
    assert verdict.refused_late == LATE and verdict.late_accepted == []
    assert all(f.text.startswith("Too late: the submission deadline") for f in flows[-LATE:])
    assert not sb.missed_deadlines and verdict.missed_deadlines == 0
    # Every stored submission has one gallery post and one receipt in its team's space.
    assert caught_up is not None and out.behind == 0
    assert verdict.no_post == [] and verdict.no_receipt == []
    assert len(out.gallery_posts) == RUSH_TEAMS
