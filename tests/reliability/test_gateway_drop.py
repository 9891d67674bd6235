"""The gateway connection drops while members are busy: submissions, team joins (straight in,
or a request to a closed team), help requests. First a network cut the bot RESUMEs from
(Discord replays what it missed), then one where the session is gone and it must IDENTIFY
again (what happened meanwhile is lost, as on Discord).

Every command either completed once (the member was told, the rows and messages exist
once) or was not acknowledged (and then left nothing half-done); nothing happens twice."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from bot.models import Member
from bot.models.help import HelpTicket
from bot.models.submissions import Submission, SubmissionVersion
from bot.models.teams import TeamMember, TeamRequest
from tests.reliability.support import (
    background_done,
    bot_database,
    bot_messages,
    crowd,
    form,
    hacking,
    help_cards,
    project,
    seed_teams,
    wait_until,
)

log = logging.getLogger(__name__)

TEAMS = 120
OPEN = 60  # teams 0..59 take members straight in; 60..119 get join requests
IN_FLIGHT = 30
THINK_S = 0.5  # a member reads an answer before the next step (see tests/reliability/test_crash.py)
ASKS = 20  # the first 20 teams ask for help before submitting
FIRST_DROP, SECOND_DROP = 60, 160  # acknowledged commands before each drop


def components_ids(message: dict) -> set[str]:
    return {
        child["custom_id"]
        for row in message.get("components") or []
        for child in row.get("components") or []
        if child.get("custom_id")
    }


@pytest.mark.slow
async def test_gateway_drops_mid_burst_nothing_twice_nothing_half_done(start_sandbox):
    sb = await start_sandbox(
        hacking(help={"ask_cooldown_minutes": 0}), bot_process=True, validate=False
    )
    sb.settle_after_interaction = False
    # A help request is answered once its card is in the queue channel, and Discord takes
    # five messages per five seconds in one channel: twenty asks at once wait up to 20 s.
    sb.deferred_max_s = 30.0
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, TEAMS, free=TEAMS, open_teams=OPEN)
        acks: list[str] = []
        first, second = asyncio.Event(), asyncio.Event()
        joined: set[int] = set()  # free member index, acknowledged
        requested: set[int] = set()
        submitted: set[int] = set()  # team index
        asked: set[int] = set()

        def acknowledged(what: str) -> None:
            acks.append(what)
            if len(acks) >= FIRST_DROP:
                first.set()
            if len(acks) >= SECOND_DROP:
                second.set()

        def submit_flow(i: int):
            member = seeded.members[i]

            async def flow() -> list[str]:
                texts = []
                if i < ASKS:
                    reply = await member.slash(
                        "help ask", topic="python", description=f"Team {i}: the API returns 500"
                    )
                    texts.append(reply.text)
                    if reply.text.startswith("🙋 Request **#"):
                        asked.add(i)
                        acknowledged("ask")
                    await asyncio.sleep(THINK_S)
                opened = await member.slash("submit")
                await asyncio.sleep(THINK_S)
                preview = await member.submit_modal(opened, form(project(i)))
                await asyncio.sleep(THINK_S)
                done = await preview.click("Confirm")
                await done.record.wait_until(lambda: done.record.completed, sb.deferred_max_s)
                texts.append(done.text)
                if done.text.startswith(f"✅ Submitted for **Team {i}**"):
                    submitted.add(i)
                    acknowledged("submit")
                return texts

            return flow

        def join_flow(j: int):
            member = seeded.free[j]

            async def flow() -> list[str]:
                reply = await member.slash("team join", team=f"Team {j}")
                if reply.text.startswith(f"You joined **Team {j}**"):
                    joined.add(j)
                    acknowledged("join")
                elif reply.text.startswith(f"Your request to join **Team {j}** is sent"):
                    requested.add(j)
                    acknowledged("request")
                return [reply.text]

            return flow

        flows = []
        for i in range(TEAMS):  # interleaved, as members arrive
            flows += [submit_flow(i), join_flow(i)]
        burst = asyncio.create_task(crowd(flows, in_flight=IN_FLIGHT))

        await asyncio.wait(
            {burst, asyncio.ensure_future(first.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        assert first.is_set(), "the burst ended before the first drop"
        assert sb.drop_gateway() == 1  # a network cut: the bot resumes
        await asyncio.wait(
            {burst, asyncio.ensure_future(second.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        assert second.is_set(), "the burst ended before the second drop"
        assert sb.drop_gateway(resumable=False) == 1  # the session is gone: a new IDENTIFY
        outcomes = await burst
        await sb.wait_gateway()
        await wait_until(lambda: background_done(sb, db), "the gallery and the help cards")
        await sb.settle()
        gateway = sb.server.gateway
        assert gateway.resume_count >= 1 and gateway.identify_count >= 2

        async with db.read() as session:
            ids = {m.discord_id: m.id for m in (await session.scalars(select(Member))).all()}
            memberships = (await session.execute(select(TeamMember.member_id))).scalars().all()
            requests = (await session.scalars(select(TeamRequest))).all()
            rows = (await session.scalars(select(Submission))).all()
            versions = (await session.scalars(select(SubmissionVersion))).all()
            tickets = (await session.scalars(select(HelpTicket))).all()

        # Nobody is in a team twice; each acknowledged join is in, and sees the space.
        assert len(memberships) == len(set(memberships))
        in_team = set(memberships)
        for j, member in enumerate(seeded.free):
            if j in joined:
                assert ids[member.id] in in_team
            if ids[member.id] in in_team:
                assert j < OPEN and sb.can_view(member, seeded.space_ids[j])
        # One request per acknowledged ask to a closed team, and one card for each request.
        by_member = {}
        for request in requests:
            by_member.setdefault(request.member_id, []).append(request)
        for j, member in enumerate(seeded.free):
            mine = by_member.get(ids[member.id], [])
            assert len(mine) <= 1
            if j in requested:
                assert len(mine) == 1 and mine[0].status == "pending"
            cards = [
                m
                for m in bot_messages(sb, seeded.space_ids[j])
                if f"<@{member.id}>" in (m.get("content") or "")
            ]
            assert len(cards) == len(mine), (j, [m["content"] for m in cards])
            if mine:
                assert mine[0].message_id == int(cards[0]["id"])

        # Submissions: acknowledged ones stored once and whole; no team twice.
        team_index = {team_id: i for i, team_id in enumerate(seeded.team_ids)}
        assert len({row.team_id for row in rows}) == len(rows)
        stored = {team_index[row.team_id]: row for row in rows}
        assert submitted <= set(stored)
        for i, row in stored.items():
            assert (row.title, row.description) == (
                project(i)["title"],
                project(i)["description"],
            )
            assert row.version == 1 == row.gallery_version == row.receipt_version
        assert sorted(v.submission_id for v in versions) == sorted(row.id for row in rows)
        assert len(sb.channel("gallery").threads) == len(rows)

        # Help: each acknowledged ask has its ticket; one card and one status message each.
        cards = help_cards(sb)
        assert {team_index[t.team_id] for t in tickets} >= asked
        assert sorted(cards) == sorted(t.id for t in tickets)
        for ticket in tickets:
            assert len(cards[ticket.id]) == 1
            space = seeded.space_ids[team_index[ticket.team_id]]
            statuses = [
                m
                for m in bot_messages(sb, space)
                if f"help:cancel:{ticket.id}" in components_ids(m)
            ]
            assert len(statuses) == 1

    lost = [o.error for o in outcomes if o.error]
    log.warning(
        "gateway drops mid-burst: %d commands acknowledged (%d joins, %d requests, "
        "%d submissions, %d help asks), %d flows not answered; %d resumes, %d identifies; "
        "invalid requests (429s) peak %d",
        len(acks),
        len(joined),
        len(requested),
        len(submitted),
        len(asked),
        len(lost),
        gateway.resume_count,
        gateway.identify_count,
        sb.invalid_requests.peak,
    )
