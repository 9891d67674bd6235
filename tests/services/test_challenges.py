"""Challenges: names, slugs, pages, search, followers, removal, home planning within Discord's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.db import Database
from bot.errors import Conflict, InvalidInput, NotFound
from bot.models import Challenge
from bot.models.problems import ProblemStatement
from bot.services import challenges as service

NOW = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)


async def add(db, name, **kwargs):
    async with db.begin() as session:
        challenge = await service.create(
            session, name=name, summary=kwargs.pop("summary", "Résumé"), now=NOW, **kwargs
        )
        return challenge.id


def test_slugs_and_folded_names() -> None:
    assert service.slugify("Accès aux Soins !") == "acces-aux-soins"
    assert service.slugify("!!!") == "challenge"
    assert service.fold_name("  Accès   aux SOINS ") == "acces aux soins"
    assert service.parse_skills("Python, data ; python\nUX") == ["Python", "data", "UX"]
    assert service.parse_problem_ids("#12, 40 41 12") == [12, 40, 41]
    with pytest.raises(InvalidInput):
        service.parse_problem_ids("12, abc")
    with pytest.raises(InvalidInput):
        service.parse_skills(",".join(f"s{i}" for i in range(11)))


async def test_names_are_unique_whatever_the_case_and_accents(db: Database) -> None:
    first = await add(db, "Accès aux soins", sponsor="ARS", mentor_skills=["médecine"])
    with pytest.raises(Conflict) as info:
        await add(db, "ACCES AUX SOINS")
    assert info.value.params == {"name": "Accès aux soins"}
    second = await add(db, "Accès aux soins!")  # another name, same slug base
    async with db.read() as session:
        a, b = await session.get(Challenge, first), await session.get(Challenge, second)
    assert (a.slug, b.slug) == ("acces-aux-soins", "acces-aux-soins-2")
    assert a.position < b.position and a.sponsor == "ARS" and a.mentor_skills == ["médecine"]


async def test_find_search_page_and_edit(db: Database) -> None:
    ids = [await add(db, f"Défi {i:02d}") for i in range(1, 20)]
    await add(db, "Énergie verte")
    async with db.read() as session:
        assert (await service.find(session, str(ids[2]))).name == "Défi 03"
        assert (await service.find(session, "defi-04")).name == "Défi 04"
        assert (await service.find(session, "DÉFI 05")).name == "Défi 05"
        with pytest.raises(NotFound):
            await service.find(session, "nothing")
        assert [c.name for c in await service.search(session, "ener")] == ["Énergie verte"]
        assert len(await service.search(session, "")) == 20
        items, number, pages = await service.page(session, 0)
        assert (len(items), number, pages) == (8, 0, 3)
        items, number, _ = await service.page(session, 99)
        assert number == 2 and [c.name for c in items][-1] == "Énergie verte"
    async with db.begin() as session:
        edited = await service.update(
            session,
            ids[0],
            name="Défi un",
            summary="Nouveau",
            description="Long",
            sponsor="",
            mentor_skills=["a"],
            actor_id=1,
            now=NOW,
        )
        assert (edited.name, edited.sponsor) == ("Défi un", None)
        with pytest.raises(Conflict):
            await service.update(
                session,
                ids[1],
                name="défi UN",
                summary="x",
                description="",
                sponsor=None,
                mentor_skills=[],
                actor_id=1,
                now=NOW,
            )


async def test_follow_toggles_and_removal_frees_the_name_and_statements(db: Database) -> None:
    cid = await add(db, "Eau potable")
    async with db.begin() as session:
        session.add(
            ProblemStatement(author_discord_id=5, title="Puits", description="d", status="accepted")
        )
    async with db.begin() as session:
        pid = await session.scalar(select(ProblemStatement.id))
        await service.link_problems(session, cid, [pid], 1, NOW)
        assert await service.toggle_follow(session, cid, 9) is True
        assert await service.followers(session, cid) == [9]
        assert await service.toggle_follow(session, cid, 9) is False
        await service.toggle_follow(session, cid, 9)
    async with db.begin() as session:
        await service.remove(session, cid, 1, NOW)
    async with db.read() as session:
        statement = await session.get(ProblemStatement, pid)
        assert (statement.status, statement.challenge_id) == ("accepted", None)
        assert await service.followers(session, cid) == []
        with pytest.raises(NotFound):
            await service.get(session, cid)
    await add(db, "Eau potable")  # the name is free again


async def test_teams_listing_is_empty_and_safe_without_teams(db: Database) -> None:
    cid = await add(db, "Mobilité")
    async with db.read() as session:
        assert await service.teams_for(session, cid) == []
        assert await service.challenges_to_refresh(session, 12345) == []
    assert service.listing_digest([]) == service.listing_digest([])


def test_home_plan_overflows_categories_then_uses_a_forum() -> None:
    plan = service.plan_home(
        channel_count=10, categories={}, base_category="Challenges", forum_exists=False, reserve=50
    )
    assert plan == service.HomePlan("channel", "Challenges", create_category=True)
    full = {"Challenges": 50}
    plan = service.plan_home(
        channel_count=100,
        categories=full,
        base_category="Challenges",
        forum_exists=False,
        reserve=50,
    )
    assert plan == service.HomePlan("channel", "Challenges 2", create_category=True)
    plan = service.plan_home(
        channel_count=449,
        categories={"Challenges": 3},
        base_category="Challenges",
        forum_exists=False,
        reserve=50,
    )
    assert plan == service.HomePlan("channel", "Challenges")
    plan = service.plan_home(
        channel_count=450,
        categories={"Challenges": 3},
        base_category="Challenges",
        forum_exists=False,
        reserve=50,
    )
    assert plan == service.HomePlan("post", create_forum=True)
    plan = service.plan_home(
        channel_count=500, categories={}, base_category="C", forum_exists=True, reserve=0
    )
    assert plan == service.HomePlan("post")
    assert service.plan_home(
        channel_count=500, categories={}, base_category="C", forum_exists=False, reserve=0
    ) == service.HomePlan("none")


def test_fifty_challenges_never_exceed_discord_limits() -> None:
    """Simulate 50 challenges on a server that already uses 440 channels."""
    channels, categories, forum, posts = 440, {}, False, 0
    for _ in range(50):
        plan = service.plan_home(
            channel_count=channels,
            categories=categories,
            base_category="Challenges",
            forum_exists=forum,
            reserve=25,
        )
        if plan.kind == "channel":
            if plan.create_category:
                categories[plan.category] = 0
                channels += 1
            categories[plan.category] += 1
            channels += 1
        else:
            assert plan.kind == "post"
            if plan.create_forum:
                forum, channels = True, channels + 1
            posts += 1
        # Channels stop at the reserve; only the one forum may use a reserved slot.
        assert channels - forum <= 500 - 25 and all(n <= 50 for n in categories.values())
    assert posts > 0 and sum(categories.values()) + posts == 50
    assert service.role_fits(199, 50) and not service.role_fits(200, 50)
