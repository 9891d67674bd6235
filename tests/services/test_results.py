"""Winners placed by hand: set, replace, move, remove, per challenge and overall; refused
where it makes no sense; audited; revealed by the ceremony; in the exports; replaced by
the computed list when organisers save it again."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from bot.errors import Conflict, InvalidInput, NotFound
from bot.models import AuditEntry
from bot.models.challenges import Challenge
from bot.models.judging import Award
from bot.models.submissions import Submission
from bot.models.teams import Team
from bot.services import exports, results
from bot.services import judging as svc
from tests.services.test_judging import NOW, make_projects, make_settings, score_all

SETTINGS = make_settings(judging={"winners_overall": 2, "winners_per_challenge": 1})


async def event(db) -> dict[str, int]:
    """Five teams with a project; Owls, Foxes and Bats take the challenge "Clean Air", Team 003
    none; Team 004 has no project. Returns team ids by name and the challenge's id."""
    await make_projects(db, SETTINGS, 4)
    async with db.begin() as session:
        air = Challenge(slug="clean-air", name="Clean Air", name_folded="clean air", position=0)
        water = Challenge(slug="water", name="Water", name_folded="water", position=1)
        session.add_all([air, water])
        await session.flush()
        teams = (await session.scalars(select(Team).order_by(Team.id))).all()
        for team, name in zip(teams, ("Owls", "Foxes", "Bats"), strict=False):
            team.name, team.challenge_id = name, air.id
        # A team without a project.
        extra = Team(name="Team 004", name_folded="team 004", slug="team-004")
        session.add(extra)
        await session.flush()
        ids = {team.name: team.id for team in [*teams, extra]}
        ids["air"], ids["water"] = air.id, water.id
    return ids


async def winners(db) -> list[tuple[str, int, str, bool]]:
    async with db.read() as session:
        return [
            (e.scope, e.place, e.team_name, e.manual)
            for e in await results.current_winners(session)
        ]


async def test_set_replace_move_and_remove_winners_by_hand(db):
    ids = await event(db)
    air = f"challenge:{ids['air']}"
    async with db.begin() as session:
        change = await results.set_winner(session, NOW, 1, "overall", 1, ids["Owls"])
    assert (change.scope, change.place, change.team_name, change.title) == (
        "overall",
        1,
        "Owls",
        "Project 000",
    )
    assert change.replaced is None and change.moved_from is None and not change.unchanged
    async with db.begin() as session:
        # A challenge by what autocomplete sends, by name, by slug: the same scope.
        await results.set_winner(session, NOW, 1, air, 1, ids["Foxes"])
        await results.set_winner(session, NOW, 1, "Clean Air", 2, ids["Bats"])
        await results.set_winner(session, NOW, 1, "overall", 2, ids["Team 003"])
    assert await winners(db) == [
        ("overall", 1, "Owls", True),
        ("overall", 2, "Team 003", True),
        (air, 1, "Foxes", True),
        (air, 2, "Bats", True),
    ]

    # Replacing: whoever held the place loses it.
    async with db.begin() as session:
        change = await results.set_winner(session, NOW, 2, "overall", 1, ids["Bats"])
    assert change.replaced == "Owls"
    # Moving: a project placed elsewhere in the same scope leaves its old place empty.
    async with db.begin() as session:
        change = await results.set_winner(session, NOW, 2, "clean-air", 3, ids["Foxes"])
    assert change.moved_from == 1 and change.replaced is None
    async with db.begin() as session:
        change = await results.set_winner(session, NOW, 2, air, 3, ids["Foxes"])
    assert change.unchanged
    assert await winners(db) == [
        ("overall", 1, "Bats", True),
        ("overall", 2, "Team 003", True),
        (air, 2, "Bats", True),
        (air, 3, "Foxes", True),
    ]

    async with db.begin() as session:
        removed = await results.remove_winner(session, NOW, 3, "overall", 2)
    assert (removed.place, removed.team_name, removed.title) == (2, "Team 003", "Project 003")
    assert [w[:3] for w in await winners(db)] == [
        ("overall", 1, "Bats"),
        (air, 2, "Bats"),
        (air, 3, "Foxes"),
    ]

    # Every change is in the audit log, with who did it and what it replaced.
    async with db.read() as session:
        audit = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("results.winner.%"))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [a.action for a in audit] == [
        *["results.winner.set"] * 6,  # "unchanged" changes nothing, so is not logged
        "results.winner.remove",
    ]
    assert audit[4].actor_discord_id == 2 and audit[4].detail["replaced"] == "Owls"
    assert audit[5].detail["moved_from"] == 1
    assert audit[-1].detail == {
        "place": 2,
        "submission": audit[3].detail["submission"],
        "team": "Team 003",
        "was_manual": True,
    }


async def test_refusals_change_nothing(db):
    ids = await event(db)
    cases = [
        (("overall", 0, ids["Owls"]), InvalidInput, "results.winner.bad_place"),
        (("overall", 11, ids["Owls"]), InvalidInput, "results.winner.bad_place"),
        (("overall", 1, ids["Team 004"]), InvalidInput, "results.winner.no_submission"),
        (("Water", 1, ids["Owls"]), InvalidInput, "results.winner.not_in_challenge"),
        (("Clean Air", 1, ids["Team 003"]), InvalidInput, "results.winner.not_in_challenge"),
        (("Fire", 1, ids["Owls"]), NotFound, "challenges.not_found"),
        (("overall", 1, 9999), NotFound, "teams.unknown"),
    ]
    for (scope, place, team_id), error, key in cases:
        with pytest.raises(error) as refused:
            async with db.begin() as session:
                await results.set_winner(session, NOW, 1, scope, place, team_id)
        assert refused.value.key == key, (scope, place)
    with pytest.raises(NotFound) as refused:
        async with db.begin() as session:
            await results.remove_winner(session, NOW, 1, "overall", 1)
    assert refused.value.key == "results.winner.nobody_there"
    assert await winners(db) == []
    async with db.read() as session:
        assert (
            await session.scalar(select(AuditEntry.id).where(AuditEntry.action.like("results.%")))
            is None
        )


async def test_the_ceremony_reveals_them_and_fixes_them_while_it_runs(db):
    ids = await event(db)
    async with db.begin() as session:
        await results.set_winner(session, NOW, 1, "overall", 1, ids["Owls"])
        await results.set_winner(session, NOW, 1, "overall", 2, ids["Foxes"])
        await results.set_winner(session, NOW, 1, "Clean Air", 1, ids["Bats"])
    async with db.begin() as session:
        ceremony = await results.start_ceremony(session, NOW, 1, 0, "en")
        order = [await results.reveal_info(session, a) for a in ceremony.order]
    # Challenge winners first, then overall from the last place to the first.
    assert [(r.challenge_name, r.place, r.team_name) for r in order] == [
        ("Clean Air", 1, "Bats"),
        (None, 2, "Foxes"),
        (None, 1, "Owls"),
    ]
    for attempt in ("set", "remove"):
        with pytest.raises(Conflict) as running:
            async with db.begin() as session:
                if attempt == "set":
                    await results.set_winner(session, NOW, 1, "overall", 1, ids["Foxes"])
                else:
                    await results.remove_winner(session, NOW, 1, "overall", 1)
        assert running.value.key == "results.winner.ceremony_running"
    for step in range(3):
        async with db.begin() as session:
            await results.claim_reveal(session, NOW, ceremony.id, step)
    # Once it is over, a place can still be corrected (for the exports).
    async with db.begin() as session:
        change = await results.set_winner(session, NOW, 1, "overall", 1, ids["Foxes"])
    assert change.moved_from == 2 and change.replaced == "Owls"


async def test_exports_show_them_and_saving_the_ranking_replaces_them(db):
    ids = await event(db)
    async with db.begin() as session:
        await results.set_winner(session, NOW, 1, "overall", 1, ids["Bats"])
        await results.set_winner(session, NOW, 1, "Clean Air", 2, ids["Owls"])
    async with db.read() as session:
        made = await exports.submissions_export(session, SETTINGS)
    rows = {r["Team"]: r for r in csv.DictReader(io.StringIO(made.data.decode("utf-8-sig")))}
    assert rows["Bats"]["Awards"] == "Winner, Overall, place 1 (set by hand)"
    assert rows["Owls"]["Awards"] == "Winner, Clean Air, place 2 (set by hand)"
    assert rows["Foxes"]["Awards"] == ""

    # Judges score; saving the computed winners replaces the ones placed by hand.
    async with db.read() as session:
        assert await results.manual_winners(session) == 2
    for _ in range(4):
        async with db.begin() as session:
            review = await svc.next_review(session, SETTINGS, NOW, 900)
            sid = review.submission_id
        await score_all(db, SETTINGS, review.id, 900, 1 + sid % 5)
    async with db.begin() as session:
        saved = await results.save(session, SETTINGS, NOW, 1, "winner")
    async with db.read() as session:
        assert await results.manual_winners(session) == 0
        stored = (await session.scalars(select(Award).where(Award.kind == "winner"))).all()
        titles = dict((await session.execute(select(Submission.id, Submission.title))).all())
    assert sorted((a.scope, a.place) for a in stored) == sorted((e.scope, e.place) for e in saved)
    assert not any(a.manual for a in stored) and all(a.submission_id in titles for a in stored)
