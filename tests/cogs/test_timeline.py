"""The timeline end to end: /schedule, /admin phase, reminders, announcements, the countdown
and the scheduled events, with the clock moved by sb.advance and the bot restarted."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.clock import utcnow
from bot.models import AuditEntry, Broadcast, Timer

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}


def timeline_config(now: datetime, **extra) -> dict:
    def at(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat(timespec="seconds")

    config = {
        "event": {"name": "Hack'n'Town", "timezone": "Europe/Paris", "language": "en"},
        "phases": [
            {
                "key": "registration",
                "name": "Registration",
                "start": at(-1),
                "end": at(2),
                "opens": ["registration"],
            },
            {
                "key": "hacking",
                "name": "Hacking",
                "start": at(3),
                "end": at(30),
                "opens": ["team_changes", "help_queue", "submissions"],
            },
            {
                "key": "judging",
                "name": "Judging",
                "start": at(30),
                "end": at(33),
                "opens": ["judging"],
            },
        ],
    }
    config.update(extra)
    return config


async def drained(sb, max_s: float = 20.0) -> None:
    """Wait until every timer due by now has run and every broadcast is delivered, then settle.

    Timers that came due while the bot was down fire right after it starts, in
    tasks the sandbox does not watch: this waits for what they leave in the database.
    """
    if sb.bot is None:  # the bot is down: nothing runs
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    while True:
        await sb.settle()
        now = sb.clock.now()
        async with sb.bot.db.read() as session:
            due = await session.scalar(
                select(func.count())
                .select_from(Timer)
                .where(Timer.status.in_(("pending", "running")), Timer.due_at <= now)
            )
            unfinished = await session.scalar(
                select(func.count())
                .select_from(Broadcast)
                .where(Broadcast.status.in_(("pending", "running")))
            )
        if not due and not unfinished:
            return
        assert loop.time() < deadline, f"{due} timers due, {unfinished} broadcasts unfinished"
        await asyncio.sleep(0.05)


def posts(sb, after: int = 0) -> list[dict]:
    """What the bot posted in #announcements (the countdown excluded), oldest first."""
    return [
        m
        for m in sb.channel("announcements").messages[after:]
        if m["author"]["id"] == str(sb.bot_user_id) and m.get("content")
    ]


def texts(sb) -> list[str]:
    return [m["content"] for m in posts(sb)]


def reminders(sb) -> list[str]:
    return [text for text in texts(sb) if "⏰" in text]


async def start(start_sandbox, **extra):
    now = utcnow()
    sb = await start_sandbox(timeline_config(now, **extra))
    await drained(sb)
    return sb, now


async def advance_to(sb, now: datetime, hours: float, minutes: float = 0) -> None:
    """Move the clock to ``now + hours`` (plus a few seconds, so whatever is due there fires)."""
    target = now + timedelta(hours=hours, minutes=minutes, seconds=5)
    delta = target - sb.clock.now()
    assert delta > timedelta(0), "the test asked to go back in time"
    await sb.advance(seconds=delta.total_seconds())
    await drained(sb)


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


async def test_a_full_timeline_reminds_once_at_each_moment_and_announces_every_change(
    start_sandbox,
):
    sb, now = await start(start_sandbox)
    participant = sb.role("Participant")["id"]
    registration_end = ts(now + timedelta(hours=2))
    hacking_end = ts(now + timedelta(hours=30))
    assert (
        texts(sb) == []
    )  # nothing due yet (the 24 h reminder before registration closes was already past)

    await advance_to(sb, now, 0, 59)
    assert reminders(sb) == []
    await advance_to(sb, now, 1)
    assert reminders(sb) == [
        f"<@&{participant}> ⏰ Deadline <t:{registration_end}:R> (<t:{registration_end}:F>): Registration."
    ]
    last = posts(sb)[-1]
    assert sb.pinged(last)["roles"] == [participant]
    assert not sb.pinged(last)["everyone"]

    await advance_to(sb, now, 1, 45)
    assert len(reminders(sb)) == 2

    await advance_to(sb, now, 2)
    assert (
        texts(sb)[-1]
        == f"⏹️ **Registration** is over.\nNext: **Hacking**, <t:{ts(now + timedelta(hours=3))}:R>.\n🔴 Now closed: Registration."
    )
    assert sb.pinged(posts(sb)[-1]) == NOBODY  # closing with nothing starting: no ping

    await advance_to(sb, now, 3)
    started = posts(sb)[-1]
    assert started["content"].startswith(
        f"<@&{participant}> ▶️ **Hacking** starts now, until <t:{hacking_end}:F>."
    )
    assert (
        "🟢 Now open: New teams, Joining and changing teams, Mentor help, Project submissions."
        in started["content"]
    )

    await advance_to(sb, now, 6)  # 24 h before the submission deadline
    assert reminders(sb)[-1].endswith(
        f"⏰ Deadline <t:{hacking_end}:R> (<t:{hacking_end}:F>): New teams, Joining and changing teams, Project submissions."
    )
    await advance_to(sb, now, 29)
    await advance_to(sb, now, 29, 45)
    await advance_to(sb, now, 30)
    await advance_to(sb, now, 33)
    # 1 h + 15 min before registration closes; 24 h, 1 h, 15 min before submissions close.
    assert len(reminders(sb)) == 5
    async with sb.bot.db.read() as session:
        keys = (
            await session.scalars(select(Broadcast.dedupe_key).where(Broadcast.kind == "reminder"))
        ).all()
    assert sorted(keys) == sorted(
        [
            f"reminder:{registration_end}:60",
            f"reminder:{registration_end}:15",
            f"reminder:{hacking_end}:1440",
            f"reminder:{hacking_end}:60",
            f"reminder:{hacking_end}:15",
        ]
    )
    final = texts(sb)[-1]
    assert final.startswith("⏹️ **Judging** is over.\nThe event is over.")
    # Every timer of the timeline ran once: none left, none failed.
    async with sb.bot.db.read() as session:
        statuses = (
            await session.scalars(select(Timer.status).where(Timer.kind.like("timeline.%")))
        ).all()
    assert statuses and set(statuses) == {"done"}
    # Over 33 hours, the bot never pinged anyone it should not have.
    for message in posts(sb):
        assert not sb.pinged(message)["everyone"] and sb.pinged(message)["users"] == []


async def test_the_countdown_is_pinned_once_edited_on_phase_changes_and_recreated_if_deleted(
    start_sandbox,
):
    sb, now = await start(start_sandbox)
    channel = sb.channel("announcements")
    assert len(channel.pins) == 1
    countdown = channel.pins[0]
    assert "Now: **Registration**, ends <t:" in countdown["embeds"][0]["description"]
    edits_before = countdown.get("edited_timestamp")

    await advance_to(sb, now, 1)  # a reminder, not a phase change: the countdown is left alone
    assert channel.pins[0].get("edited_timestamp") == edits_before
    await advance_to(sb, now, 3)
    pinned = channel.pins
    assert len(pinned) == 1 and pinned[0]["id"] == countdown["id"]
    assert "Now: **Hacking**" in pinned[0]["embeds"][0]["description"]

    # Someone deletes it: the next restart posts and pins it again.
    sb.server.delete_message(channel.data, sb.server.messages[countdown["id"]])
    assert channel.pins == []
    sb.expect_violation(code=10008)  # the bot looks for it and finds it gone
    await sb.restart_bot()
    await drained(sb)
    assert len(channel.pins) == 1 and channel.pins[0]["id"] != countdown["id"]
    assert "Now: **Hacking**" in channel.pins[0]["embeds"][0]["description"]


async def test_each_phase_is_a_discord_event_kept_in_step(start_sandbox):
    sb, now = await start(start_sandbox)
    events = {e["name"]: e for e in sb.scheduled_events}
    assert set(events) == {"Registration", "Hacking", "Judging"}
    assert events["Registration"]["status"] == 2  # running
    assert events["Hacking"]["status"] == 1
    assert events["Hacking"]["scheduled_start_time"].startswith(
        (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    )
    assert "Project submissions" in events["Hacking"]["description"]
    await sb.restart_bot()  # idempotent: nothing created twice
    assert len(sb.scheduled_events) == 3

    await advance_to(sb, now, 3)
    events = {e["name"]: e for e in sb.scheduled_events}
    assert events["Registration"]["status"] == 3  # completed
    assert events["Hacking"]["status"] == 2


async def test_restart_between_a_reminder_and_its_deadline_sends_the_missed_one_once_late(
    start_sandbox,
):
    sb, now = await start(start_sandbox)
    await advance_to(sb, now, 1)
    assert len(reminders(sb)) == 1
    await sb.kill_bot()
    await advance_to(sb, now, 1, 50)  # the 15-minute reminder's moment passes while the bot is down
    await sb.start_bot()
    await drained(sb)
    assert len(reminders(sb)) == 2  # sent once, late (the deadline is still ahead)
    await sb.restart_bot()
    await drained(sb)
    await advance_to(sb, now, 1, 55)
    assert len(reminders(sb)) == 2  # and never again
    async with sb.bot.db.read() as session:
        late = (await session.scalars(select(Broadcast).where(Broadcast.kind == "reminder"))).all()
    assert [b.late for b in late] == [False, True]


async def test_restart_across_a_deadline_skips_the_reminder_and_announces_the_change_once(
    start_sandbox, caplog
):
    sb, now = await start(start_sandbox)
    await advance_to(sb, now, 1)
    await sb.kill_bot()
    await advance_to(sb, now, 2, 30)  # the 15-minute reminder and the deadline pass while down
    with caplog.at_level("INFO", logger="cogs.timeline"):
        await sb.start_bot()
        await drained(sb)
    assert len(reminders(sb)) == 1  # the missed reminder is skipped: its deadline has passed
    assert any("skipped: passed" in r.getMessage() for r in caplog.records)
    assert [t for t in texts(sb) if "is over" in t] == [texts(sb)[-1]]
    await sb.restart_bot()
    await drained(sb)
    assert len([t for t in texts(sb) if "is over" in t]) == 1


async def test_extending_a_deadline_moves_reminders_and_later_phases_and_announces_it(
    start_sandbox,
):
    sb, now = await start(start_sandbox)
    org = await sb.add_member("nadia", roles=["Organiser"], locale="fr")
    await advance_to(sb, now, 1)
    assert len(reminders(sb)) == 1

    reply = await org.slash("admin phase extend", minutes=30)
    assert reply.ephemeral
    new_end = ts(now + timedelta(hours=2, minutes=30))
    assert reply.text.startswith("L'étape **Registration** est prolongée de 30 minutes")
    announcement = texts(sb)[-1]
    assert f"extended by 30 minutes: it now ends <t:{new_end}:F>" in announcement

    await advance_to(sb, now, 1, 50)  # the old 15-minute moment: nothing
    assert len(reminders(sb)) == 2  # the 1 h reminder for the new deadline came at +1:30
    assert f"<t:{new_end}:R>" in reminders(sb)[-1]
    await advance_to(sb, now, 2, 15)
    assert len(reminders(sb)) == 3 and f"<t:{new_end}:R>" in reminders(sb)[-1]
    await advance_to(sb, now, 2, 25)
    assert not any("is over" in t for t in texts(sb))
    await advance_to(sb, now, 2, 30)
    assert "⏹️ **Registration** is over." in texts(sb)[-1]

    schedule = await org.slash("schedule")
    hacking = next(f for f in schedule.embed["fields"] if "Hacking" in f["name"])
    assert f"<t:{ts(now + timedelta(hours=3, minutes=30))}:F>" in hacking["value"]
    async with sb.bot.db.read() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "phase.extend"))
    assert entry.actor_discord_id == org.id and entry.detail["minutes"] == 30


async def test_schedule_shows_the_whole_timeline_in_each_readers_language(start_sandbox):
    sb, now = await start(start_sandbox)
    camille = await sb.add_member("camille", locale="fr")
    sam = await sb.add_member("sam", locale="en-GB")
    fr = await camille.slash("schedule")
    assert fr.ephemeral
    names = [f["name"] for f in fr.embed["fields"]]
    assert names == ["▶️ Registration (en cours)", "🔜 Hacking", "🔜 Judging"]
    assert f"<t:{ts(now + timedelta(hours=3))}:R>" in fr.embed["fields"][1]["value"]
    assert (
        "Ouvre : Création d'équipes, Rejoindre et modifier les équipes"
        in fr.embed["fields"][1]["value"]
    )
    assert fr.embed["footer"]["text"].startswith("Ouvert en ce moment : Inscriptions.")
    en = await sam.slash("schedule")
    assert en.embed["title"] == "🗓️ Hack'n'Town: timeline"
    assert en.embed["fields"][0]["name"] == "▶️ Registration (now)"
    assert re.search(r"Ends <t:\d+:R>", en.embed["fields"][0]["value"])
    assert fr.pinged == NOBODY and en.pinged == NOBODY


async def test_organisers_add_edit_remove_and_advance_phases(start_sandbox):
    sb, now = await start(start_sandbox)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    ana = await sb.add_member("ana", roles=["Participant"], locale="en-US")

    await sb.create_role("Helpers", permissions=1 << 33)  # Manage Events, but not an organiser
    await ana.add_role("Helpers")
    refused = await ana.slash("admin phase advance")  # Discord shows /admin; the bot checks anyway
    assert refused.text == "Only organisers can use this command."

    bad = await org.slash("admin phase add", key="ceremony", name="Ceremony", start="tomorrow")
    assert bad.ephemeral and bad.text.startswith("“tomorrow” is not a date and time I understand.")
    overlap_start = (now + timedelta(hours=31)).astimezone(sb.settings.event.tz)
    overlap = await org.slash(
        "admin phase add",
        key="ceremony",
        name="Ceremony",
        start=overlap_start.strftime("%Y-%m-%d %H:%M"),
    )
    assert (
        overlap.text == "**Ceremony** would start before **Judging** ends. Phases cannot overlap."
    )
    start_at = (now + timedelta(hours=34)).astimezone(sb.settings.event.tz)
    added = await org.slash(
        "admin phase add",
        key="ceremony",
        name="Ceremony @everyone",
        start=start_at.strftime("%Y-%m-%d %H:%M"),
        opens="judging, nope",
    )
    assert added.text.startswith("“nope” is not something a phase can open.")
    added = await org.slash(
        "admin phase add",
        key="ceremony",
        name="Ceremony",
        start=start_at.strftime("%Y-%m-%d %H:%M"),
    )
    assert added.text.startswith("Phase **Ceremony** added")
    assert "Ceremony" in {e["name"] for e in sb.scheduled_events}
    assert await org.autocomplete("admin phase edit", "phase", "cere") == [
        {"name": "Ceremony (ceremony)", "value": "ceremony"}
    ]
    edited = await org.slash("admin phase edit", phase="ceremony", name="Awards", opens="-")
    assert edited.text.startswith("Phase **Awards** updated")
    assert "Awards" in {e["name"] for e in sb.scheduled_events}
    same = await org.slash("admin phase edit", phase="ceremony", name="Awards")
    assert same.ephemeral
    assert same.text == "That is what the phase already says: nothing to change."

    unknown = await org.slash("admin phase remove", phase="party")
    assert unknown.text == "There is no phase “party”. Pick one from the list."
    ask = await org.slash("admin phase remove", phase="ceremony")
    assert ask.buttons == ["Remove it", "Cancel"]
    done = await ask.click("Remove it")
    assert done.text == "Phase **Awards** removed."
    assert "Awards" not in {e["name"] for e in sb.scheduled_events}

    # Advance: the confirmation says what opens and closes; confirming starts Hacking now.
    ask = await org.slash("admin phase advance")
    assert ask.text.splitlines() == [
        "Start **Hacking** now?",
        "**Registration** ends now.",
        "🟢 Now open: New teams, Joining and changing teams, Mentor help, Project submissions.",
        "🔴 Now closed: Registration.",
    ]
    started = await ask.click("Start it now")
    assert started.text == "**Hacking** has started. The announcement is on its way."
    await drained(sb)
    assert "▶️ **Hacking** starts now" in texts(sb)[-1]
    about = await ana.slash("about")
    fields = {f["name"]: f["value"] for f in about.embed["fields"]}
    assert "• Project submissions" in fields["Open now"]
    async with sb.bot.db.read() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert [a for a in actions if a.startswith("phase.")] == [
        "phase.add",
        "phase.edit",
        "phase.remove",
        "phase.advance",
    ]
    for message in posts(sb):
        assert not sb.pinged(message)["everyone"]


async def test_an_override_forces_something_open_and_about_agrees(start_sandbox):
    sb, _now = await start(start_sandbox)
    org = await sb.add_member("org", roles=["Organiser"], locale="fr")
    lea = await sb.add_member("lea", roles=["Participant"], locale="fr")
    reply = await org.slash("admin phase override", what="submissions", state="open")
    assert reply.text == "Dépôt des projets : ouvert de force jusqu'au retour en automatique."
    fields = {f["name"]: f["value"] for f in (await lea.slash("about")).embed["fields"]}
    assert "• Dépôt des projets" in fields["Ouvert en ce moment"]
    await org.slash("admin phase override", what="registration", state="closed")
    fields = {f["name"]: f["value"] for f in (await lea.slash("about")).embed["fields"]}
    assert "Inscriptions" not in fields["Ouvert en ce moment"]
    await org.slash("admin phase override", what="registration", state="auto")
    fields = {f["name"]: f["value"] for f in (await lea.slash("about")).embed["fields"]}
    assert "• Inscriptions" in fields["Ouvert en ce moment"]
