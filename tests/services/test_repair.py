"""Drift repair's rules and records on a real database: overwrite bits, who should see a team
space, the remembered roles and channels, challenge homes, phase mirrors, the report."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import AuditEntry, Phase, PhaseMirror
from bot.models.challenges import Challenge
from bot.models.teams import AutoformRun, Team
from bot.services import challenges as challenge_service
from bot.services import repair as service
from bot.services import teams as team_service
from bot.services.repair import Fix, Remembered, Term
from tests.services.test_teams import NOW, SETTINGS, create, register

VIEW, SEND, READ = 1 << 10, 1 << 11, 1 << 16


def test_an_overwrite_lacks_only_what_the_bot_set_explicitly():
    wanted = (VIEW | SEND, 0)
    assert not service.lacks(wanted, (VIEW | SEND | READ, 0))  # people added more: fine
    assert service.lacks(wanted, (VIEW, 0))
    assert service.lacks(wanted, (VIEW, SEND))
    assert service.lacks((0, VIEW), (0, 0))  # a private space someone opened
    assert not service.lacks((0, 0), (VIEW, SEND))


def test_merging_puts_back_the_bots_bits_and_keeps_the_rest():
    assert service.merge((VIEW | SEND, 0), (READ, SEND)) == (VIEW | SEND | READ, 0)
    assert service.merge((0, VIEW), (VIEW | READ, 0)) == (READ, VIEW)
    wanted, have = (VIEW, SEND), (READ, VIEW)
    merged = service.merge(wanted, have)
    assert not service.lacks(wanted, merged)
    assert service.merge(wanted, merged) == merged  # idempotent


def test_access_drift_sorts_members_into_missing_wrong_and_extra():
    grant = (VIEW | SEND, 0)
    present = {1: (VIEW | SEND | READ, 0), 2: (VIEW, SEND), 9: (VIEW | SEND, 0)}
    drift = service.access_drift([1, 2, 3], present, grant)
    assert (drift.missing, drift.wrong, drift.extra) == ([3], [2], [9])
    assert drift
    assert not service.access_drift([1], {1: (VIEW | SEND, 0)}, grant)


def test_the_report_is_translated_split_to_fit_and_says_when_nothing_was_needed():
    assert service.report([], "en") == ["Nothing to repair: Discord matches the bot's records."]
    assert service.report([], "fr") == [
        "Rien à réparer\u00a0: Discord correspond aux données du bot."
    ]
    fix = Fix("channel_permissions", {"channel": "<#5>", "who": Term("repair.who.everyone")})
    assert fix.text("en") == "<#5>: the permissions of everyone were changed by hand: put back."
    assert fix.text("fr").startswith("<#5>\u00a0: les permissions de tout le monde avaient")
    many = [Fix("role_created", {"role": f"R{i:04d}" + "x" * 40}) for i in range(300)]
    messages = service.report(many, "en")
    assert len(messages) == service.MAX_MESSAGES
    assert all(len(m) <= service.MESSAGE_LIMIT for m in messages)
    assert messages[0].startswith("**Repair**: 300 fix(es)")
    shown = sum(m.count("• ") for m in messages)
    assert messages[-1].endswith(f"…and {300 - shown} more (see the bot's log).")


async def test_remembered_roles_and_channels_tell_a_role_made_again(db):
    async with db.read() as session:
        record = await service.structure_record(session)
    assert record.remade("roles", "mentor", 10, "Mentor") is None  # nothing remembered yet
    async with db.begin() as session:
        await service.remember(session, "roles", {"mentor": Remembered(10, "Mentor", [3, 1, 2])})
        await service.remember(session, "channels", {"organisers": Remembered(20, "organisers")})
    async with db.read() as session:
        record = await service.structure_record(session)
    assert record.remade("roles", "mentor", 10, "Mentor") is None  # same role
    assert record.remade("roles", "mentor", 11, "Mentor") == Remembered(10, "Mentor", [1, 2, 3])
    assert record.remade("roles", "mentor", 11, "Coach") is None  # renamed in the config
    assert record.remade("channels", "organisers", 21, "organisers") is not None
    async with db.begin() as session:  # storing one group keeps the other
        await service.remember(session, "roles", {"judge": Remembered(30, "Judge")})
    async with db.read() as session:
        record = await service.structure_record(session)
    assert set(record.roles) == {"mentor", "judge"} and set(record.channels) == {"organisers"}


async def test_team_spaces_list_who_should_see_each_space_and_forget_a_deleted_one(db):
    for uid in (1, 2, 3):
        await register(db, uid)
    owls = await create(db, 1, "Owls")
    foxes = await create(db, 3, "Foxes")
    async with db.begin() as session:
        team = await session.get(Team, owls.team_id)
        team.open, team.space_kind, team.channel_id = True, "channel", 500
        await team_service.join_team(session, SETTINGS, NOW, 2, "Owls")
        await team_service.grant_access(session, owls.team_id, 77)
        run = AutoformRun(status="spaces")
        session.add(run)
        await session.flush()
        (await session.get(Team, foxes.team_id)).autoform_run_id = run.id
    async with db.read() as session:
        spaces = {s.name: s for s in await service.team_spaces(session)}
        one = await service.team_space(session, owls.team_id)
    assert spaces["Owls"].members == [1, 2] and spaces["Owls"].access == [77]
    assert spaces["Owls"].wanted == {1, 2, 77} and spaces["Owls"].channel_id == 500
    assert spaces["Foxes"].kind is None and spaces["Foxes"].forming
    assert one == spaces["Owls"]
    async with db.begin() as session:
        await service.forget_team_space(session, owls.team_id)
    async with db.read() as session:
        assert (await service.team_space(session, owls.team_id)).kind is None
        assert await service.registered_ids(session) == [1, 2, 3]


async def test_a_challenge_home_is_forgotten_but_its_role_kept(db):
    async with db.begin() as session:
        challenge = await challenge_service.create(session, name="Water", summary="s", now=NOW)
        await challenge_service.set_home(
            session,
            challenge.id,
            channel_id=5,
            role_id=6,
            pinned_message_id=7,
            teams_message_id=8,
            listing={"digest": "x", "team_ids": []},
        )
    async with db.read() as session:
        (home,) = await service.challenge_homes(session)
    assert (home.home_id, home.role_id, home.pinned_message_id) == (5, 6, 7)
    async with db.begin() as session:
        await service.forget_challenge_home(session, home.challenge_id)
    async with db.read() as session:
        row = await session.get(Challenge, home.challenge_id)
    assert (row.channel_id, row.thread_id, row.pinned_message_id, row.teams_message_id) == (
        None,
        None,
        None,
        None,
    )
    assert row.role_id == 6 and row.listing == {}


async def test_phase_mirrors_are_forgotten_or_marked_stale(db):
    async with db.begin() as session:
        for position, key in enumerate(("hacking", "judging")):
            session.add(Phase(key=key, name=key.title(), position=position, starts_at=NOW))
        await session.flush()
        ids = {p.key: p.id for p in (await session.scalars(select(Phase))).all()}
        session.add(PhaseMirror(phase_id=ids["hacking"], event_id=100, state="a", status="active"))
        session.add(PhaseMirror(phase_id=ids["judging"], event_id=200, state="b", status="ended"))
    async with db.read() as session:
        live = await service.live_mirrors(session)
    assert [(m.phase_key, m.event_id, m.status) for m in live] == [("hacking", 100, "active")]
    async with db.begin() as session:
        await service.mark_mirror_stale(session, ids["hacking"])
        await service.forget_mirror(session, ids["judging"])
    async with db.read() as session:
        assert await service.mirror_ids(session) == {ids["hacking"]: (100, "")}


async def test_a_run_that_fixed_something_is_audited(db):
    async with db.begin() as session:
        await service.record_run(session, NOW, 42, [])
        await service.record_run(session, NOW, None, [Fix("role_created", {"role": "Mentor"})])
    async with db.read() as session:
        (entry,) = (await session.scalars(select(AuditEntry))).all()
    assert entry.action == "repair" and entry.actor_discord_id is None
    assert entry.detail == {"fixes": ["Role **Mentor** was missing: made again."]}
