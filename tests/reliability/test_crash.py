"""`kill -9` in the middle of a 300-team submission burst, then again in the middle of the
reminder fan-out that comes due while the bot is down.

The bot is a real process (``bot_process=True``); 300 teams, each with its space, are
written straight into its database (as the benchmarks do). Members go through the real
``/submit`` flow (form, preview, Confirm), a tenth of them ask for help first, 25 at a time.
At the 100th Confirm click the bot gets SIGKILL; the clock passes the "60 minutes left"
reminder while it is down; it comes back and is killed again in the middle of sending that
reminder to the teams without a submission; it comes back once more and the teams that
never heard back try again.

What must hold: every submission acknowledged to its team is stored once with what the
team typed; one that was not acknowledged is absent or complete (never half-written); each
project has exactly one gallery post, which the database points at, and its space one
receipt per version; every help ticket has exactly one card and one status message, which
the database points at; the reminder is announced once and reaches each team once."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import select

from bot.models import Broadcast, Delivery
from bot.models.help import HelpTicket
from bot.models.submissions import Submission, SubmissionVersion
from bot.models.teams import Team
from sandbox.server.interactions import DEFERRED_UPDATE_MESSAGE
from tests.reliability.support import (
    background_done,
    bot_database,
    bot_messages,
    crowd,
    form,
    hacking,
    help_cards,
    project,
    receipts,
    seed_teams,
    wait_until,
)

log = logging.getLogger(__name__)

TEAMS = 300
IN_FLIGHT = 40
# A member reads the form or the preview before answering it. Without a pause the next step
# can reach the bot before it has read Discord's answer to its own callback, and discord.py
# registers a modal or a view only then (it discards what it does not know yet): faster than
# any human, 0.5 s still leaves the bot time even on a loaded machine.
THINK_S = 0.5
KILL_AFTER = 100  # the first SIGKILL comes with the 100th Confirm click
KILL_IN_FAN_OUT = 20  # team reminders delivered before the second SIGKILL
MESSAGES = "POST /channels/{channel_id}/messages"
CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
TEAM_REMINDER = "⏰ Your team has not submitted"
# Gallery posts at 50 a second rather than 5: their pace is not what this test is about.
THREADS = {"bucket_overrides": {"POST /channels/{channel_id}/threads": (50, 1.0)}}


def components_ids(message: dict) -> set[str]:
    return {
        child["custom_id"]
        for row in message.get("components") or []
        for child in row.get("components") or []
        if child.get("custom_id")
    }


@pytest.mark.slow
async def test_kill_9_mid_burst_and_mid_fan_out_loses_nothing_and_repeats_nothing(
    start_sandbox,
):
    began = time.monotonic()
    # Submissions close in 65 minutes; the one reminder, 60 minutes before, is 5 minutes away.
    config = hacking(
        65, help={"ask_cooldown_minutes": 0}, timeline={"reminder_offsets_minutes": [60]}
    )
    # Request validation off, as in bench/ and the in-process 300-team test: it is the
    # sandbox's own cost, in the test's process.
    sb = await start_sandbox(config, bot_process=True, validate=False, rate_limits=THREADS)
    sb.settle_after_interaction = False
    sb.deferred_max_s = 5.0  # a Confirm cut by the crash is given up sooner
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, TEAMS)
        team_index_of_user = {str(m.id): i for i, m in enumerate(seeded.members)}

        acked: dict[int, list[int]] = {}  # team index -> the takes (versions typed) acknowledged
        asked: set[int] = set()  # teams whose help request was acknowledged
        stop = asyncio.Event()

        def submit_flow(i: int, take: int):
            member = seeded.members[i]

            async def flow() -> list[str]:
                texts: list[str] = []
                if take == 1 and i % 10 == 0:
                    reply = await member.slash(
                        "help ask", topic="python", description=f"Team {i}: the API returns 500"
                    )
                    texts.append(reply.text)
                    if reply.text.startswith("🙋 Request **#"):
                        asked.add(i)
                opened = await member.slash("submit")
                await asyncio.sleep(THINK_S)
                preview = await member.submit_modal(opened, form(project(i, take)))
                await asyncio.sleep(THINK_S)
                done = await preview.click("Confirm")
                # Confirm acknowledges at once (a deferred update) and edits the preview after
                # the write: wait for that edit, the member's "submitted".
                await done.record.wait_until(lambda: done.record.completed, sb.deferred_max_s)
                texts.append(done.text)
                if done.text.startswith(
                    (f"✅ Submitted for **Team {i}**", f"✅ Saved for **Team {i}**")
                ):
                    acked.setdefault(i, []).append(take)
                return texts

            return flow

        # -- 1. the burst, and SIGKILL in the middle of it ------------------------------
        # The bot dies the moment Discord takes the KILL_AFTER-th Confirm click, before the
        # bot hears it was acknowledged (so before that submission is written).
        confirms = 0

        def nth_confirm(call, _result) -> bool:
            nonlocal confirms
            if (call.json or {}).get("type") == DEFERRED_UPDATE_MESSAGE:
                confirms += 1
            return confirms >= KILL_AFTER

        crash = sb.crash_after(CALLBACK, match=nth_confirm)
        burst = asyncio.create_task(
            crowd([submit_flow(i, 1) for i in range(TEAMS)], in_flight=IN_FLIGHT, stop=stop)
        )
        await asyncio.wait(
            {burst, asyncio.ensure_future(crash.wait(120))},
            timeout=120,
            return_when=asyncio.FIRST_COMPLETED,
        )
        assert crash.fired, "the burst ended before the crash"
        stop.set()
        await sb.kill_bot()
        acked_before_kill = len(acked)
        outcomes = await burst
        last_click = sb.server.interactions.records[crash.call.params["interaction_id"]]
        clicked_by = team_index_of_user[last_click.user_id]
        burst_s = time.monotonic() - began
        cut = [i for i, o in enumerate(outcomes) if o.started and i not in acked]
        never_started = [i for i, o in enumerate(outcomes) if not o.started]
        assert cut, "no flow was in flight when the bot was killed"

        # Right after the crash: what was acknowledged is there; the rest absent or complete.
        async with db.read() as session:
            stored = {
                team_id: row
                for row, team_id in (
                    await session.execute(select(Submission, Submission.team_id))
                ).all()
            }
            versions = (await session.scalars(select(SubmissionVersion))).all()
        team_index = {team_id: i for i, team_id in enumerate(seeded.team_ids)}
        by_submission: dict[int, list[SubmissionVersion]] = {}
        for version in versions:
            by_submission.setdefault(version.submission_id, []).append(version)
        for i in acked:
            assert seeded.team_ids[i] in stored, f"team {i} was told 'submitted' but is missing"
        for team_id, row in stored.items():
            i = team_index[team_id]
            expected = project(i)
            assert (row.title, row.pitch, row.description, row.repo_url, row.demo_url) == (
                expected["title"],
                expected["pitch"],
                expected["description"],
                expected["repo_url"],
                expected["demo_url"],
            )
            assert row.version == 1
            (only,) = by_submission[row.id]
            assert only.version == 1 and only.content["title"] == expected["title"]
        stored_unacked = sorted(team_index[t] for t in stored if team_index[t] not in acked)
        assert clicked_by not in acked and seeded.team_ids[clicked_by] not in stored

        # -- 2. the reminder comes due while the bot is down; kill it mid fan-out -----------
        await sb.advance(minutes=5)
        sent_to_teams = 0

        def nth_team_reminder(call, _result) -> bool:
            nonlocal sent_to_teams
            if str((call.json or {}).get("content", "")).startswith(TEAM_REMINDER):
                sent_to_teams += 1
            return sent_to_teams >= KILL_IN_FAN_OUT

        crash = sb.crash_after(MESSAGES, match=nth_team_reminder)
        await sb.start_bot()
        await crash.wait(60)
        await sb.kill_bot()
        await sb.start_bot()

        # -- 3. the teams that never heard back try again ------------------------------
        retry = sorted(set(range(TEAMS)) - set(acked))
        second = await crowd([submit_flow(i, 2) for i in retry], in_flight=IN_FLIGHT)
        failed = {i: o.error for i, o in zip(retry, second, strict=True) if o.error}
        assert not failed, failed
        await wait_until(lambda: background_done(sb, db), "the gallery, receipts and reminders")
        await sb.settle()

        # -- what holds ------------------------------------------------------------------
        assert sorted(acked) == list(range(TEAMS))
        async with db.read() as session:
            rows = (await session.execute(select(Submission, Team.channel_id).join(Team))).all()
            versions = (await session.scalars(select(SubmissionVersion))).all()
            tickets = (await session.scalars(select(HelpTicket))).all()
            team_ids = {t.id: t for t in (await session.scalars(select(Team))).all()}
            reminder = (
                await session.scalars(select(Broadcast).where(Broadcast.kind == "reminder"))
            ).all()
            deliveries = (
                await session.execute(
                    select(Delivery.broadcast_id, Delivery.channel_id, Delivery.status)
                )
            ).all()
        by_submission = {}
        for version in versions:
            by_submission.setdefault(version.submission_id, []).append(version)
        assert len(rows) == TEAMS
        gallery = sb.channel("gallery")
        threads = {int(view.id): sb.channel(view) for view in gallery.threads}
        assert len(threads) == TEAMS  # one post per project, none twice
        for row, space in rows:
            i = team_index[row.team_id]
            last = acked[i][-1]
            expected = project(i, last)
            assert (row.title, row.description) == (expected["title"], expected["description"])
            assert [v.version for v in sorted(by_submission[row.id], key=lambda v: v.version)] == (
                list(range(1, row.version + 1))
            )
            assert row.version == (2 if i in stored_unacked else len(acked[i]))
            assert row.gallery_version == row.receipt_version == row.version
            assert threads[row.gallery_thread_id].name == expected["title"]
            shown = receipts(sb, space)
            assert len(shown) == len(set(shown)) and shown[-1] == row.version, (i, shown)

        # Help: every ticket has one card and one status message, and the database knows them.
        cards = help_cards(sb)
        assert {team_index[t.team_id] for t in tickets} >= asked
        assert sorted(cards) == sorted(t.id for t in tickets)
        for ticket in tickets:
            assert len(cards[ticket.id]) == 1, ticket.id
            assert ticket.card_message_id == int(cards[ticket.id][0]["id"])
            space = team_ids[ticket.team_id].channel_id
            statuses = [
                m
                for m in bot_messages(sb, space)
                if f"help:cancel:{ticket.id}" in components_ids(m)
            ]
            assert len(statuses) == 1 and ticket.status_message_id == int(statuses[0]["id"])

        # The reminder: announced once, each team reminded at most once, all recorded.
        announced = [m for m in bot_messages(sb, "announcements") if "⏰" in m["content"]]
        assert len(announced) == 1
        fan_out = next(b for b in reminder if b.target == "teams_without_submission")
        to_teams = [(c, s) for b, c, s in deliveries if b == fan_out.id]
        assert all(status == "sent" for _, status in to_teams)
        assert len(to_teams) > KILL_IN_FAN_OUT  # the crash did land in the middle of it
        reminded = {}
        for space in seeded.space_ids:
            count = sum(
                1 for m in bot_messages(sb, space) if m["content"].startswith(TEAM_REMINDER)
            )
            if count:
                reminded[space] = count
        assert set(reminded.values()) == {1}
        assert sorted(reminded) == sorted(c for c, _ in to_teams)
        # Exactly the teams that had no submission when it came due (the bot was down).
        had = {team_index[team_id] for team_id in stored}
        assert sorted(reminded) == sorted(
            space for i, space in enumerate(seeded.space_ids) if i not in had
        )

    log.warning(
        "kill -9 mid-burst: %d confirmed before the kill, %d flows cut, %d not started, "
        "%d stored but never acknowledged; reminder fan-out of %d cut after %d; "
        "%d help tickets; burst %.1f s, whole test %.1f s; invalid requests (429s) peak %d",
        acked_before_kill,
        len(cut),
        len(never_started),
        len(stored_unacked),
        len(to_teams),
        KILL_IN_FAN_OUT,
        len(tickets),
        burst_s,
        time.monotonic() - began,
        sb.invalid_requests.peak,
    )
