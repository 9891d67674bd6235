"""Help queue rules on a real database: asking, routing, claims (50 at once), escalation,
idle claims, expiry, ratings, the throttled status refresh and the figures."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.clock import Clock, utcnow
from bot.config import settings_from_dict
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound, PhaseClosed
from bot.models import Member, Timer
from bot.models.challenges import Challenge
from bot.models.help import HelpTicket
from bot.models.teams import Team, TeamMember
from bot.scheduler import TimerScheduler
from bot.services import help_queue as svc

NOW = utcnow().replace(microsecond=0)


def make_settings(**help_settings):
    return settings_from_dict(
        {"event": {"name": "Test", "guild_id": 1}, "help": help_settings}, Path(".")
    )


SETTINGS = make_settings()


async def make_team(db, team_id: int, members: list[int], *, channel_id: int | None = None):
    async with db.begin() as session:
        session.add(
            Team(
                id=team_id,
                name=f"Team {team_id}",
                name_folded=f"team {team_id}",
                slug=f"team-{team_id}",
                space_kind="channel",
                channel_id=channel_id or 9000 + team_id,
            )
        )
        for discord_id in members:
            member = Member(discord_id=discord_id, display_name=f"user{discord_id}")
            session.add(member)
            await session.flush()
            session.add(TeamMember(team_id=team_id, member_id=member.id))


async def mentors(db, *specs: tuple[int, str], on: bool = True) -> None:
    async with db.begin() as session:
        for discord_id, skills in specs:
            await svc.set_skills(session, NOW, discord_id, skills)
            await svc.set_duty(session, NOW, discord_id, on)


def timers_for(db) -> TimerScheduler:
    return TimerScheduler(db, Clock())


async def ask(db, asker: int, *, at=NOW, settings=SETTINGS, topic="python", **kw):
    params = {"description": "Our API returns 500", "meet": "space", "detail": None, "lang": "en"}
    params.update(kw)
    async with db.begin() as session:
        return await svc.ask(session, settings, timers_for(db), at, asker, topic=topic, **params)


async def claim(db, ticket_id: int, mentor: int, *, at=NOW, settings=SETTINGS):
    async with db.begin() as session:
        return await svc.claim(session, settings, timers_for(db), at, ticket_id, mentor)


async def pending_timers(db, kind: str) -> list[Timer]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Timer).where(Timer.kind == kind, Timer.status == "pending")
                )
            ).all()
        )


async def test_ask_queues_with_position_eta_routing_and_stored_timers(db):
    await make_team(db, 1, [11, 12])
    await make_team(db, 2, [21])
    await mentors(db, (100, "Python, Django"), (101, "design"), (102, "python"))
    first = await ask(db, 11)
    assert first.position == 1 and first.on_duty == 3
    assert first.eta == 2  # free mentors, no history yet: a couple of minutes
    assert sorted(first.pinged) == [100, 102]  # only the matching skills
    second = await ask(db, 21, topic="Design", description="Colours for the pitch deck")
    assert second.position == 2 and second.pinged == [101]
    assert second.ticket.topic == "design" and second.ticket.skills == ["design"]
    # Escalation steps and expiry are stored timers, one set per ticket.
    escalations = await pending_timers(db, svc.ESCALATE)
    assert sorted((t.payload["ticket"], t.payload["step"]) for t in escalations) == [
        (first.ticket.id, 1),
        (first.ticket.id, 2),
        (second.ticket.id, 1),
        (second.ticket.id, 2),
    ]
    expiry = await pending_timers(db, svc.EXPIRE)
    assert {t.due_at for t in expiry} == {NOW + timedelta(minutes=120)}


async def test_one_live_ticket_per_team_cooldown_and_bad_input(db):
    await make_team(db, 1, [11, 12])
    await make_team(db, 2, [21], channel_id=None)
    async with db.begin() as session:
        (await session.get(Team, 2)).channel_id = None
    with pytest.raises(NotAllowed) as caught:
        await ask(db, 999)
    assert caught.value.key == "help.no_team"
    with pytest.raises(InvalidInput) as caught:
        await ask(db, 11, description="hi")
    assert caught.value.key == "help.description_short"
    with pytest.raises(InvalidInput) as caught:
        await ask(db, 11, meet="table")
    assert caught.value.key == "help.table_needed"
    with pytest.raises(InvalidInput) as caught:
        await ask(db, 11, topic="cobol")
    assert caught.value.key == "help.unknown_topic" and "python" in caught.value.params["topics"]
    with pytest.raises(InvalidInput) as caught:
        await ask(db, 21)  # no team space to meet in
    assert caught.value.key == "help.no_space"
    asked = await ask(db, 11, meet="table", detail="  Table   12 ")
    assert asked.ticket.meet_detail == "Table 12"
    with pytest.raises(Conflict) as caught:
        await ask(db, 12, at=NOW + timedelta(minutes=30))  # a team mate: same team
    assert caught.value.key == "help.already_open"
    async with db.begin() as session:
        await svc.cancel(session, NOW + timedelta(minutes=1), 12)
    with pytest.raises(HackbotError) as caught:
        await ask(db, 12, at=NOW + timedelta(minutes=2))
    assert caught.value.key == "help.cooldown" and caught.value.params["minutes"] == 3
    again = await ask(db, 12, at=NOW + timedelta(minutes=5))
    assert again.position == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(HelpTicket)) == 2


async def test_a_challenge_topic_routes_on_its_mentor_skills(db):
    await make_team(db, 1, [11])
    async with db.begin() as session:
        session.add(
            Challenge(
                id=7,
                slug="clean-air",
                name="Clean Air",
                name_folded="clean air",
                mentor_skills=["Sensors", "IoT"],
            )
        )
    await mentors(db, (100, "iot"), (101, "python"))
    async with db.read() as session:
        choices = await svc.topic_choices(session, SETTINGS, "air")
    assert choices == [("Clean Air", "challenge:7")]
    asked = await ask(db, 11, topic="challenge:7")
    assert asked.ticket.topic == "Clean Air" and asked.ticket.challenge_id == 7
    assert asked.pinged == [100]


async def test_routing_caps_pings_rotates_fairly_and_falls_back(db):
    settings = make_settings(pings_per_step=2, ask_cooldown_minutes=0)
    for team in range(1, 5):
        await make_team(db, team, [team * 10])
    await mentors(db, (100, "python"), (101, "python"), (102, "python"), (103, "rust"))
    first = await ask(db, 10, settings=settings)
    assert first.pinged == [100, 101]
    second = await ask(db, 20, settings=settings, at=NOW + timedelta(seconds=1))
    assert second.pinged[0] == 102  # never pinged before: first in line
    # Nobody on duty knows Hardware: mentors of any skill are pinged rather than nobody.
    third = await ask(db, 30, settings=settings, topic="hardware", at=NOW + timedelta(seconds=2))
    assert len(third.pinged) == 2 and set(third.pinged) <= {100, 101, 102, 103}
    # Off duty: never pinged.
    async with db.begin() as session:
        for mentor in (100, 101, 102, 103):
            await svc.set_duty(session, NOW, mentor, False)
    fourth = await ask(db, 40, settings=settings, at=NOW + timedelta(seconds=3))
    assert fourth.pinged == [] and fourth.eta is None and fourth.on_duty == 0


async def test_claim_rules_own_team_limit_and_taken(db):
    await make_team(db, 1, [11, 50])
    await make_team(db, 2, [21])
    await mentors(db, (50, "python"), (100, "python"), (101, "python"))
    one = await ask(db, 11)
    two = await ask(db, 21, at=NOW + timedelta(seconds=1))
    assert 50 not in one.pinged  # a mentor is never paged for their own team
    with pytest.raises(NotAllowed) as caught:
        await claim(db, one.ticket.id, 50)
    assert caught.value.key == "help.claim.own_team"
    got = await claim(db, one.ticket.id, 100, at=NOW + timedelta(minutes=4))
    assert got.ticket.status == "claimed" and got.ticket.claimed_by == 100
    assert got.space_channel_id == 9001
    with pytest.raises(Conflict) as caught:
        await claim(db, one.ticket.id, 101)
    assert caught.value.key == "help.claim.taken" and caught.value.params["mentor"] == "<@100>"
    with pytest.raises(NotAllowed) as caught:
        await claim(db, two.ticket.id, 100)  # already holds one (default limit 1)
    assert caught.value.key == "help.claim.limit"
    with pytest.raises(NotFound):
        await claim(db, 424242, 101)
    async with db.read() as session:
        ticket, position, estimate = await svc.status_of(session, SETTINGS, NOW, 21)
    assert ticket.id == two.ticket.id and position == 1
    assert estimate.busy == 1 and estimate.capacity == 3 and estimate.wait_minutes == 4


async def test_fifty_mentors_claiming_the_same_ticket_at_once_one_wins(db):
    await make_team(db, 1, [11])
    ids = list(range(1000, 1050))
    await mentors(db, *[(m, "python") for m in ids])
    asked = await ask(db, 11)

    async def attempt(mentor: int):
        try:
            return await claim(db, asked.ticket.id, mentor)
        except Conflict as error:
            return error

    results = await asyncio.gather(*(attempt(m) for m in ids))
    winners = [r for r in results if isinstance(r, svc.Claimed)]
    assert len(winners) == 1
    assert all(r.key == "help.claim.taken" for r in results if isinstance(r, Conflict))
    async with db.read() as session:
        ticket = await session.get(HelpTicket, asked.ticket.id)
    assert ticket.claimed_by == winners[0].ticket.claimed_by and ticket.claims == 1
    assert len(await pending_timers(db, svc.IDLE)) == 1


async def test_one_mentor_grabbing_many_tickets_at_once_gets_only_their_limit(db):
    settings = make_settings(max_tickets_per_mentor=2)
    for team in range(1, 11):
        await make_team(db, team, [team * 10])
        await ask(db, team * 10, settings=settings, at=NOW + timedelta(seconds=team))
    await mentors(db, (100, "python"))
    async with db.read() as session:
        tickets = [t.id for t in await svc.waiting(session)]

    async def attempt(ticket_id: int):
        try:
            return await claim(db, ticket_id, 100, settings=settings)
        except NotAllowed as error:
            return error

    results = await asyncio.gather(*(attempt(t) for t in tickets))
    assert sum(isinstance(r, svc.Claimed) for r in results) == 2
    async with db.read() as session:
        assert (await svc.held_counts(session)) == {100: 2}


async def test_release_resolve_and_permissions(db):
    await make_team(db, 1, [11])
    await mentors(db, (100, "python"), (101, "python"))
    asked = await ask(db, 11)
    await claim(db, asked.ticket.id, 100)
    timers = timers_for(db)
    with pytest.raises(NotAllowed) as caught:
        async with db.begin() as session:
            await svc.release(session, SETTINGS, timers, NOW, asked.ticket.id, 101)
    assert caught.value.key == "help.not_yours"
    async with db.begin() as session:
        back = await svc.release(
            session, SETTINGS, timers, NOW + timedelta(minutes=3), asked.ticket.id, 100
        )
    assert back.ticket.status == "open" and back.ticket.epoch == 1 and back.mentor_id == 100
    assert back.pinged == [101]  # the mentor who let go is not paged again at once
    assert len(await pending_timers(db, svc.EXPIRE)) == 2  # one per stay in the queue
    await claim(db, asked.ticket.id, 101, at=NOW + timedelta(minutes=5))
    async with db.begin() as session:
        closed = await svc.resolve(session, NOW + timedelta(minutes=25), asked.ticket.id, 101)
    assert closed.ticket.status == "resolved" and closed.mentor_id == 101
    assert closed.ticket.active_team_id is None and closed.ticket.resolved_by == 101
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.resolve(session, NOW, asked.ticket.id, 101)


async def test_escalation_steps_are_idempotent_and_follow_the_epoch(db):
    await make_team(db, 1, [11])
    await mentors(db, (100, "python"), (101, "design"), (102, "rust"))
    asked = await ask(db, 11)
    assert asked.pinged == [100]
    at = NOW + timedelta(minutes=10)
    async with db.begin() as session:
        step1 = await svc.escalate(session, SETTINGS, at, asked.ticket.id, 0, 1)
    assert step1.kind == "mentors" and sorted(step1.pinged) == [101, 102]
    assert step1.waited_minutes == 10
    async with db.begin() as session:  # delivered twice: nothing more
        assert await svc.escalate(session, SETTINGS, at, asked.ticket.id, 0, 1) is None
    async with db.begin() as session:
        step2 = await svc.escalate(session, SETTINGS, at, asked.ticket.id, 0, 2)
    assert step2.kind == "organisers"
    async with db.begin() as session:  # a timer from an earlier stay in the queue
        assert await svc.escalate(session, SETTINGS, at, asked.ticket.id, 5, 3) is None


async def test_expiry_closes_only_tickets_still_waiting(db):
    await make_team(db, 1, [11])
    await make_team(db, 2, [21])
    await mentors(db, (100, "python"))
    one = await ask(db, 11)
    two = await ask(db, 21)
    await claim(db, two.ticket.id, 100)
    later = NOW + timedelta(minutes=120)
    async with db.begin() as session:
        closed = await svc.expire(session, later, one.ticket.id, 0)
        assert closed.ticket.status == "expired" and closed.ticket.active_team_id is None
        assert await svc.expire(session, later, one.ticket.id, 0) is None  # idempotent
        assert await svc.expire(session, later, two.ticket.id, 0) is None  # claimed: kept
    async with db.read() as session:
        stats = await svc.stats(session, later, ZoneInfo("Europe/Paris"))
    assert stats.expired_unanswered == 1 and stats.counts["expired"] == 1


async def test_an_idle_claim_returns_to_the_queue_unless_the_mentor_is_still_helping(db):
    await make_team(db, 1, [11])
    await mentors(db, (100, "python"))
    asked = await ask(db, 11)
    await claim(db, asked.ticket.id, 100)
    timers = timers_for(db)
    async with db.begin() as session:
        await svc.still_helping(
            session, SETTINGS, timers, NOW + timedelta(minutes=40), asked.ticket.id, 100
        )
    async with db.begin() as session:  # the first idle timer: the claim was refreshed
        assert (
            await svc.idle_check(
                session, SETTINGS, timers, NOW + timedelta(minutes=45), asked.ticket.id, 1
            )
            is None
        )
    assert len(await pending_timers(db, svc.IDLE)) == 2
    async with db.begin() as session:
        back = await svc.idle_check(
            session, SETTINGS, timers, NOW + timedelta(minutes=85), asked.ticket.id, 1
        )
    assert back.reason == "idle" and back.ticket.status == "open" and back.ticket.claimed_by is None
    async with db.begin() as session:  # a second delivery of the same timer changes nothing
        assert (
            await svc.idle_check(
                session, SETTINGS, timers, NOW + timedelta(minutes=85), asked.ticket.id, 1
            )
            is None
        )


async def test_ratings_once_by_a_team_member_after_resolution(db):
    await make_team(db, 1, [11, 12])
    await mentors(db, (100, "python"))
    asked = await ask(db, 11)
    await claim(db, asked.ticket.id, 100)
    with pytest.raises(Conflict) as caught:
        async with db.begin() as session:
            await svc.rate(session, NOW, asked.ticket.id, 11, 5)
    assert caught.value.key == "help.rate.not_resolved"
    async with db.begin() as session:
        await svc.resolve(session, NOW, asked.ticket.id, 100)
    with pytest.raises(NotAllowed):
        async with db.begin() as session:
            await svc.rate(session, NOW, asked.ticket.id, 100, 5)  # the mentor rating themself
    async with db.begin() as session:
        await svc.rate(session, NOW, asked.ticket.id, 12, 4)
    with pytest.raises(Conflict) as caught:
        async with db.begin() as session:
            await svc.rate(session, NOW, asked.ticket.id, 11, 1)
    assert caught.value.params == {"score": 4}
    with pytest.raises(NotAllowed):
        async with db.begin() as session:
            await svc.add_comment(session, NOW, asked.ticket.id, 11, "not mine")
    async with db.begin() as session:
        ticket = await svc.add_comment(session, NOW, asked.ticket.id, 12, "  Very clear! ")
    assert ticket.rating_comment == "Very clear!"


async def test_the_queue_closes_and_reopens(db):
    await make_team(db, 1, [11])
    await make_team(db, 2, [21])
    await ask(db, 11)
    async with db.begin() as session:
        waiting = await svc.set_closed(session, NOW, 1, True, "Back at   14:00")
    assert [t.team_id for t in waiting] == [1]
    with pytest.raises(PhaseClosed) as caught:
        await ask(db, 21)
    assert caught.value.key == "help.closed_with_message"
    assert caught.value.params == {"message": "Back at 14:00"}
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.set_closed(session, NOW, 1, True)
    async with db.begin() as session:
        await svc.set_closed(session, NOW, 1, False)
    assert (await ask(db, 21)).position == 2


def test_estimates_and_when_a_status_message_is_worth_editing():
    estimate = svc.Estimator(on_duty=4, capacity=4, busy=4, handling_minutes=20, wait_minutes=None)
    assert estimate.eta(1) == 5  # 1 ticket ahead of the free slots, 4 mentors, 20 min each
    assert estimate.eta(12) == 60
    assert estimate.eta(40) == 210
    assert svc.Estimator(0, 0, 0, 15, None).eta(1) is None
    assert [svc.round_eta(m) for m in (0.2, 7.5, 11, 59, 61)] == [1, 8, 15, 60, 75]
    base = {"state": "open", "position": 300, "eta": 120, "duty": True, "closed": False}
    assert not svc.worth_editing(base, {**base, "position": 280})  # less than a tenth
    assert svc.worth_editing(base, {**base, "position": 270})
    near = {**base, "position": 4}
    assert svc.worth_editing(near, {**near, "position": 3})
    assert svc.worth_editing(base, {**base, "eta": 105})
    assert svc.worth_editing({}, base)


async def test_status_refresh_is_throttled_and_front_of_the_queue_first(db):
    settings = make_settings(status_update_seconds=60, ask_cooldown_minutes=0)
    for team in range(1, 6):
        await make_team(db, team, [team * 10])
        asked = await ask(db, team * 10, settings=settings, at=NOW + timedelta(seconds=team))
        async with db.begin() as session:
            ticket = await session.get(HelpTicket, asked.ticket.id)
            ticket.status_channel_id, ticket.status_message_id = 9000 + team, 5000 + team
    await mentors(db, (100, "python"))
    async with db.read() as session:
        first = (await svc.waiting(session))[0]
    await claim(db, first.id, 100, settings=settings, at=NOW + timedelta(seconds=10))
    async with db.read() as session:  # everyone moved up, but their message is fresh
        plan = await svc.refresh_plan(session, settings, NOW + timedelta(seconds=20), limit=2)
    assert plan.edits == [] and plan.later is not None
    async with db.read() as session:
        plan = await svc.refresh_plan(session, settings, NOW + timedelta(minutes=2), limit=2)
    assert [e.display["position"] for e in plan.edits] == [1, 2]
    assert plan.later == NOW + timedelta(minutes=2)  # more to edit in the next pass
    async with db.begin() as session:
        for edit in plan.edits:
            await svc.mark_shown(session, edit.ticket_id, edit.display, NOW + timedelta(minutes=2))
    async with db.read() as session:
        plan = await svc.refresh_plan(session, settings, NOW + timedelta(minutes=2), limit=10)
    assert [e.display["position"] for e in plan.edits] == [3, 4]


async def test_figures_medians_p90_by_skill_by_hour_and_a_smoothed_leaderboard(db):
    settings = make_settings(ask_cooldown_minutes=0, max_tickets_per_mentor=5)
    await mentors(db, (100, "python"), (101, "design"))
    waits = [2, 4, 6, 8, 30]
    for index, wait in enumerate(waits, start=1):
        await make_team(db, index, [index * 10])
        at = NOW + timedelta(minutes=index)
        topic = "design" if index == 5 else "python"
        asked = await ask(db, index * 10, settings=settings, at=at, topic=topic)
        mentor = 101 if index == 5 else 100
        await claim(db, asked.ticket.id, mentor, settings=settings, at=at + timedelta(minutes=wait))
        async with db.begin() as session:
            await svc.resolve(
                session, at + timedelta(minutes=wait + 10 * index), asked.ticket.id, mentor
            )
        async with db.begin() as session:
            await svc.rate(session, at, asked.ticket.id, index * 10, 5 if index == 5 else 4)
    async with db.read() as session:
        stats = await svc.stats(session, NOW + timedelta(hours=2), ZoneInfo("UTC"))
    assert stats.counts["resolved"] == 5 and stats.counts["open"] == 0
    assert stats.median_wait == 6 and stats.p90_wait == 30
    assert stats.median_resolve == 30 and stats.p90_resolve == 50
    assert [(s.topic, s.asked, s.median_wait) for s in stats.by_skill] == [
        ("python", 4, 5),
        ("design", 1, 30),
    ]
    assert sum(h.asked for h in stats.by_hour) == 5
    # 101 has a single 5/5, 100 four 4/5: smoothing keeps one rating from topping the board.
    board = {m.discord_id: m for m in stats.leaderboard}
    assert board[100].resolved == 4 and board[100].mean == 4
    assert board[101].mean == 5
    assert board[101].smoothed == pytest.approx((3 * 4.2 + 5) / 4)
    assert board[100].smoothed == pytest.approx((3 * 4.2 + 16) / 7)
    assert stats.mean_rating == pytest.approx(4.2)


async def test_mentor_skills_are_checked_and_duty_starts_from_the_profile(db):
    with pytest.raises(InvalidInput) as caught:
        async with db.begin() as session:
            await svc.set_skills(session, NOW, 100, "python, <@1>")
    assert caught.value.key == "help.mentor.skill_mention"
    async with db.begin() as session:
        mentor = await svc.set_skills(session, NOW, 100, "Python; Data  Viz, python")
    assert mentor.skills == ["python", "data viz"]
    async with db.begin() as session:
        mentor = await svc.set_duty(session, NOW, 100, True)
    assert mentor.on_duty and mentor.duty_since == NOW
