"""Timeline rules on a real database: what is open, edits, deadlines, timer planning, decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.config import settings_from_dict
from bot.errors import Conflict, InvalidInput, PhaseClosed
from bot.i18n import t
from bot.models import AuditEntry, Timer
from bot.scheduler import TimerScheduler
from bot.services import event as event_service
from bot.services import timeline

T0 = datetime(2026, 10, 9, 16, 0, tzinfo=UTC)  # 18:00 in Paris
PARIS = ZoneInfo("Europe/Paris")


def settings(tmp_path, **timeline_settings):
    def at(hours: float) -> str:
        return (T0 + timedelta(hours=hours)).isoformat()

    return settings_from_dict(
        {
            "event": {"name": "Hack", "guild_id": 1, "timezone": "Europe/Paris"},
            "timeline": timeline_settings,
            "phases": [
                {
                    "key": "reg",
                    "name": "Registration",
                    "start": at(0),
                    "end": at(2),
                    "opens": ["registration"],
                },
                {
                    "key": "hack",
                    "name": "Hacking",
                    "start": at(3),
                    "opens": ["submissions", "team_changes"],
                },
                {
                    "key": "judge",
                    "name": "Judging",
                    "start": at(30),
                    "end": at(33),
                    "opens": ["judging"],
                },
            ],
        },
        tmp_path,
    )


@pytest.fixture
async def seeded(db, tmp_path):
    config = settings(tmp_path)
    async with db.begin() as session:
        await event_service.sync_phases(session, config)
    return config


async def test_is_open_follows_phases_and_overrides_and_about_agrees(db, seeded):
    async with db.read() as session:
        assert await timeline.is_open(session, "registration", T0 + timedelta(hours=1))
        assert not await timeline.is_open(session, "registration", T0 + timedelta(hours=2))
        # Hacking has no end: it lasts until Judging starts.
        assert await timeline.is_open(session, "submissions", T0 + timedelta(hours=29))
        assert not await timeline.is_open(session, "submissions", T0 + timedelta(hours=30))
    async with db.begin() as session:
        await timeline.set_override(session, "submissions", "open", actor=7, now=T0)
        await timeline.set_override(session, "registration", "closed", actor=7, now=T0)
    now = T0 + timedelta(hours=1)
    async with db.read() as session:
        assert await timeline.is_open(session, "submissions", now)
        assert not await timeline.is_open(session, "registration", now)
        overview = await event_service.overview(session, seeded, now)
        assert overview.open_now == await timeline.open_now(session, now) == {"submissions"}
        audit = (await session.scalars(select(AuditEntry.action))).all()
    assert audit == ["phase.override", "phase.override"]
    with pytest.raises(ValueError):
        async with db.read() as session:
            await timeline.is_open(session, "nonsense", now)


async def test_require_open_says_when_it_opens_or_closed_in_each_language(db, seeded):
    async with db.read() as session:
        with pytest.raises(PhaseClosed) as before:
            await timeline.require_open(session, "submissions", T0)
        with pytest.raises(PhaseClosed) as after:
            await timeline.require_open(session, "registration", T0 + timedelta(hours=5))
        with pytest.raises(PhaseClosed) as never:
            await timeline.require_open(session, "help_queue", T0)
        await timeline.require_open(session, "registration", T0)  # open: no error
    opens = int((T0 + timedelta(hours=3)).timestamp())
    assert t(before.value.key, "en", **before.value.params) == (
        f"Project submissions are not open yet: they open on <t:{opens}:F> (<t:{opens}:R>)."
    )
    assert t(after.value.key, "fr", **after.value.params).startswith(
        "Les inscriptions sont fermées depuis le <t:"
    )
    assert t(never.value.key, "fr", **never.value.params) == (
        "L'aide des mentors n'est pas ouverte en ce moment."
    )


async def test_edits_are_validated_and_audited(db, seeded):
    async with db.begin() as session:
        with pytest.raises(InvalidInput) as overlap:
            await timeline.add_phase(
                session,
                key="extra",
                name="Extra",
                starts_at=T0 + timedelta(hours=1),
                ends_at=None,
                opens=frozenset(),
                actor=1,
                now=T0,
            )
        assert overlap.value.key == "timeline.overlap"
    async with db.begin() as session:
        with pytest.raises(Conflict):
            await timeline.add_phase(
                session,
                key="reg",
                name="Again",
                starts_at=T0 + timedelta(hours=40),
                ends_at=None,
                opens=frozenset(),
                actor=1,
                now=T0,
            )
    async with db.begin() as session:
        with pytest.raises(InvalidInput) as backwards:
            await timeline.edit_phase(
                session, "judge", ends_at=T0 + timedelta(hours=29), actor=1, now=T0
            )
        assert backwards.value.key == "timeline.end_before_start"
    async with db.begin() as session:
        before, row = await timeline.edit_phase(session, "hack", name="Hacking!", actor=42, now=T0)
    assert before["name"] == "Hacking" and row.name == "Hacking!"
    async with db.begin() as session:
        removed = await timeline.remove_phase(session, "judge", actor=42, now=T0)
    assert removed["key"] == "judge"
    async with db.read() as session:
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.action, e.subject, e.actor_discord_id) for e in entries] == [
        ("phase.edit", "hack", 42),
        ("phase.remove", "judge", 42),
    ]
    assert entries[0].detail["after"]["name"] == "Hacking!"


async def test_advance_and_extend(db, seeded):
    now = T0 + timedelta(hours=1)
    async with db.read() as session:
        plan = await timeline.advance_plan(session, now)
    # This timeline never mentions new_teams: it follows team_changes, as before it existed.
    assert plan.next.key == "hack" and plan.opens == {"submissions", "team_changes", "new_teams"}
    assert plan.closes == {"registration"}
    async with db.begin() as session:
        with pytest.raises(Conflict):
            await timeline.advance(session, expected_next="judge", actor=1, now=now)
    async with db.begin() as session:
        await timeline.advance(session, expected_next="hack", actor=1, now=now)
    async with db.read() as session:
        phases = {p.key: p for p in await event_service.timeline(session)}
    assert phases["reg"].ends_at == now and phases["hack"].starts_at == now

    later = now + timedelta(hours=2)
    async with db.begin() as session:
        extension = await timeline.extend(session, 45, actor=1, now=later)
    assert extension.phase.key == "hack"
    assert extension.old_end == T0 + timedelta(hours=30)
    assert extension.new_end == T0 + timedelta(hours=30, minutes=45)
    async with db.read() as session:
        phases = {p.key: p for p in await event_service.timeline(session)}
    assert phases["judge"].starts_at == T0 + timedelta(hours=30, minutes=45)
    assert phases["judge"].ends_at == T0 + timedelta(hours=33, minutes=45)
    assert phases["hack"].starts_at == now  # the running phase's start does not move
    async with db.begin() as session:
        with pytest.raises(InvalidInput):
            await timeline.extend(session, 10, actor=1, now=T0 + timedelta(hours=40))


def test_parse_moment_and_opens():
    now = T0
    assert timeline.parse_moment("2026-10-09 18:00", PARIS, now) == T0
    assert timeline.parse_moment("2026-10-09T20:00+02:00", PARIS, now) == T0 + timedelta(hours=2)
    assert timeline.parse_moment("19:30", PARIS, now) == T0 + timedelta(hours=1, minutes=30)
    for bad in ("tomorrow", "2026-13-01 10:00", "25:00", ""):
        with pytest.raises(InvalidInput):
            timeline.parse_moment(bad, PARIS, now)
    with pytest.raises(InvalidInput) as dst:
        timeline.parse_moment("2026-03-29 02:30", PARIS, now)
    assert dst.value.key == "timeline.time_dst"
    assert timeline.parse_opens("submissions, Aide des mentors") == {"submissions", "help_queue"}
    assert timeline.parse_opens("-") == frozenset()
    with pytest.raises(InvalidInput):
        timeline.parse_opens("submissions, pizza")


async def test_deadlines_are_the_boundaries_that_close_a_configured_feature(db, seeded):
    async with db.read() as session:
        phases = await event_service.timeline(session)
    found = timeline.deadlines(phases, seeded.timeline.deadlines)
    assert [(d.at, set(d.closes), d.phase.key) for d in found] == [
        (T0 + timedelta(hours=2), {"registration"}, "reg"),
        (T0 + timedelta(hours=30), {"submissions", "team_changes", "new_teams"}, "hack"),
    ]


async def test_plan_timers_is_idempotent_and_follows_edits(db, seeded):
    timers = TimerScheduler(db, Clock())
    async with db.begin() as session:
        first = await timeline.plan_timers(session, timers, seeded, T0)
    # 5 boundaries (reg start/end, hack start, judge start/end: hack ends when judge starts)
    # + reminders: reg closes at +2 h (24 h one is in the past) and submissions at +30 h.
    assert first.added == 5 + 2 + 3
    async with db.begin() as session:
        again = await timeline.plan_timers(session, timers, seeded, T0)
    assert (again.added, again.cancelled) == (0, 0)
    async with db.begin() as session:
        await timeline.extend(session, 30, actor=1, now=T0 + timedelta(hours=1))
        moved = await timeline.plan_timers(session, timers, seeded, T0 + timedelta(hours=1))
    assert moved.cancelled == moved.added > 0
    async with db.read() as session:
        due = sorted(
            (
                await session.scalars(
                    select(Timer.due_at).where(
                        Timer.kind == timeline.REMINDER, Timer.status == "pending"
                    )
                )
            ).all()
        )
    assert due[0] == T0 + timedelta(hours=1, minutes=30)  # 1 h before the new 2:30 deadline


async def test_reminder_and_transition_decisions(db, seeded):
    async with db.read() as session:
        phases = await event_service.timeline(session)
    deadline = T0 + timedelta(hours=2)
    payload = {"at": deadline.isoformat(), "offset": 60}
    decide = timeline.reminder_decision
    assert decide(phases, seeded, payload, deadline - timedelta(minutes=59))[0] == "send"
    # Late but another, closer reminder is due too: only the closer one goes out.
    assert decide(phases, seeded, payload, deadline - timedelta(minutes=10))[0] == "superseded"
    assert decide(phases, seeded, payload, deadline + timedelta(minutes=1))[0] == "passed"
    moved = {"at": (deadline + timedelta(minutes=5)).isoformat(), "offset": 60}
    assert decide(phases, seeded, moved, deadline - timedelta(hours=1))[0] == "stale"
    boundary = {"at": deadline.isoformat()}
    assert timeline.transition_decision(phases, boundary, deadline)[0] == "send"
    assert (
        timeline.transition_decision(phases, boundary, T0 + timedelta(hours=4))[0] == "superseded"
    )
    assert (
        timeline.transition_decision(phases, {"at": T0.replace(minute=7).isoformat()}, T0)[0]
        == "stale"
    )
