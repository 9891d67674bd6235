"""Problem statements: phase gate, fields, links, wait, support, review queue, duplicates, merge, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.config import settings_from_dict
from bot.db import Database
from bot.errors import Conflict, HackbotError, InvalidInput, PhaseClosed
from bot.models import AuditEntry
from bot.models.problems import ProblemStatement
from bot.services import challenges as challenge_service
from bot.services import event as event_service
from bot.services import problems as service
from bot.services.similarity import SimilarityIndex

NOW = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)


def make_settings(tmp_path, phases=None, **problems):
    data = {
        "event": {"name": "Hack", "guild_id": 1},
        "problems": {"themes": ["Santé", "Climat"], "cooldown_seconds": 60, **problems},
    }
    if phases is not None:
        data["phases"] = phases
    return settings_from_dict(data, tmp_path)


async def submit(db, settings, author=1, title="Accès aux soins", now=NOW, **fields):
    values = {
        "author_id": author,
        "author_name": f"user{author}",
        "title": title,
        "description": "Les personnes âgées isolées ne voient plus de médecin.",
        "affected": "Les aînés en zone rurale",
        "link": None,
        "theme": "Santé",
        "lang": "fr",
        "now": now,
    }
    values.update(fields)
    async with db.begin() as session:
        statement = await service.submit(session, settings, **values)
        return statement.id


@pytest.mark.parametrize(
    "link",
    [
        "https://example.org/report",
        "http://data.gouv.fr/x?y=1#z",
        "https://bücher.example/",
    ],
)
def test_good_links_are_kept(link: str) -> None:
    assert service.clean_link(f"  {link} ") == link


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "ftp://example.org/file",
        "https://localhost/x",
        "http://127.0.0.1/",
        "https://[::1]/",
        "https://user:pw@example.org/",
        "example.org",
        "https://exa mple.org",
        "https://-bad-.org",
        "https://example.123",
        "https://example.org:99999/",
        "https://" + "a" * 500 + ".org",
    ],
)
def test_bad_links_are_refused(link: str) -> None:
    with pytest.raises(InvalidInput) as info:
        service.clean_link(link)
    assert info.value.key == "problems.bad_link"


def test_an_empty_link_is_no_link() -> None:
    assert service.clean_link("   ") is None
    assert service.clean_link(None) is None


async def test_submission_is_open_without_a_timeline_and_only_in_its_phase_with_one(
    db: Database, tmp_path
) -> None:
    assert await submit(db, make_settings(tmp_path)) > 0
    phases = [
        {
            "key": "ideas",
            "name": "Ideas",
            "start": "2026-03-20T09:00:00Z",
            "end": "2026-03-20T12:00:00Z",
            "opens": ["problem_collection"],
        },
        {"key": "hack", "name": "Hack", "start": "2026-03-20T12:00:00Z", "opens": ["team_changes"]},
    ]
    settings = make_settings(tmp_path, phases=phases)
    async with db.begin() as session:
        await event_service.sync_phases(session, settings)
        assert await service.collection_open(session, settings, NOW)
        assert not await service.collection_open(session, settings, NOW + timedelta(hours=3))
    with pytest.raises(PhaseClosed) as info:
        await submit(db, settings, author=2, now=NOW + timedelta(hours=3))
    assert info.value.key == "timeline.closed.problem_collection.since"


async def test_fields_theme_and_wait_are_checked(db: Database, tmp_path) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(InvalidInput) as info:
        await submit(db, settings, title="   ")
    assert info.value.key == "problems.empty_title"
    with pytest.raises(InvalidInput) as info:
        await submit(db, settings, description="x" * 2001)
    assert info.value.key == "problems.too_long_description"
    with pytest.raises(InvalidInput) as info:
        await submit(db, settings, theme="Sport")
    assert info.value.key == "problems.theme_unknown"
    with pytest.raises(InvalidInput):
        await submit(db, settings, link="ftp://x.org")

    await submit(db, settings, author=7)
    with pytest.raises(HackbotError) as info:
        await submit(db, settings, author=7, now=NOW + timedelta(seconds=30))
    assert info.value.key == "problems.cooldown"
    allowed = int((NOW + timedelta(seconds=60)).timestamp()) + 1
    assert info.value.params == {"when": f"<t:{allowed}:R>"}
    await submit(db, settings, author=8, now=NOW + timedelta(seconds=30))  # others are not held up
    await submit(db, settings, author=7, now=NOW + timedelta(seconds=61))
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(ProblemStatement))
    assert count == 3


async def test_support_toggles_and_authors_cannot_support_their_own(db: Database, tmp_path) -> None:
    pid = await submit(db, make_settings(tmp_path), author=1)
    async with db.begin() as session:
        assert await service.toggle_support(session, pid, 2) == (True, 1)
        assert await service.toggle_support(session, pid, 3) == (True, 2)
        assert await service.toggle_support(session, pid, 2) == (False, 1)
        with pytest.raises(HackbotError) as info:
            await service.toggle_support(session, pid, 1)
    assert info.value.key == "problems.support_own"


async def test_two_curators_never_get_the_same_statement(db: Database, tmp_path) -> None:
    settings = make_settings(tmp_path, cooldown_seconds=0)
    ids = [await submit(db, settings, author=i, title=f"Problem {i}") for i in range(1, 5)]
    async with db.begin() as session:
        first = await service.claim_next(session, 100, NOW)
    async with db.begin() as session:
        second = await service.claim_next(session, 200, NOW)
    assert (first.id, second.id) == (ids[0], ids[1])
    async with db.begin() as session:  # Skip: the next one after the current
        skipped = await service.claim_next(session, 100, NOW, after_id=first.id)
    assert skipped.id == ids[2]  # ids[1] is held by curator 200
    async with db.begin() as session:  # a claim left for 10 minutes is free again
        late = await service.claim_next(session, 300, NOW + timedelta(minutes=11))
    assert late.id == ids[0]
    async with db.begin() as session:
        assert (await service.claim_next(session, 300, NOW, theme="Climat")) is None
        assert await service.queue_size(session) == 4
        assert await service.queue_size(session, "Climat") == 0


async def test_review_decisions_duplicates_move_supporters_and_merge_follows(
    db: Database, tmp_path
) -> None:
    settings = make_settings(tmp_path, cooldown_seconds=0)
    a = await submit(db, settings, author=1, title="Soins des aînés")
    b = await submit(db, settings, author=2, title="Accès aux médecins pour les aînés")
    c = await submit(db, settings, author=3, title="Encore les aînés")
    d = await submit(db, settings, author=4, title="Spam", theme="Climat")
    async with db.begin() as session:
        await service.toggle_support(session, b, 5)
        await service.toggle_support(session, b, 6)
        await service.toggle_support(session, a, 6)
    async with db.begin() as session:
        await service.accept(session, a, 100, NOW)
        dup, original = await service.mark_duplicate(session, b, a, 100, NOW)
        assert (dup.status, dup.duplicate_of_id, original.id) == ("duplicate", a, a)
        # 6 already supported a; 5 and b's author (2) join.
        assert original.support_count == 3
        # A duplicate of a duplicate points at the original.
        _, again = await service.mark_duplicate(session, c, b, 100, NOW)
        assert again.id == a
        rejected = await service.reject(session, d, 100, "Not a problem statement", NOW)
        assert rejected.reason == "Not a problem statement"
    async with db.begin() as session:
        with pytest.raises(InvalidInput) as info:
            await service.mark_duplicate(session, a, d, 100, NOW)
        assert info.value.key == "problems.duplicate_of_rejected"
        with pytest.raises(InvalidInput):
            await service.mark_duplicate(session, a, c, 100, NOW)  # c leads back to a itself
        challenge = await challenge_service.create(
            session, name="Santé des aînés", summary="Soigner", actor_id=100, now=NOW
        )
        merged = await service.merge_into_challenge(session, b, challenge.id, 100, NOW)
        assert merged.id == a  # merging a duplicate merges its original
    async with db.read() as session:
        rows = {s.id: s for s in (await session.scalars(select(ProblemStatement))).all()}
        assert rows[a].status == "merged" and rows[a].challenge_id == challenge.id
        assert rows[b].challenge_id == rows[c].challenge_id == challenge.id
        assert [s.id for s in await service.linked_to(session, challenge.id)] == [a]
        stats = await service.stats(session)
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert stats.total == 4
    assert stats.count(service.ProblemStatus.MERGED) == 1
    assert stats.count(service.ProblemStatus.DUPLICATE) == 2
    assert stats.count(service.ProblemStatus.REJECTED) == 1
    assert stats.by_theme["Santé"]["duplicate"] == 2
    assert stats.by_theme["Climat"]["rejected"] == 1
    assert stats.supporters == 4 and stats.challenges == 1  # 5, 6, and the authors of b and c
    assert "problem.duplicate" in actions and "problem.merge" in actions
    async with db.begin() as session:
        with pytest.raises(Conflict):
            await service.reject(session, a, 100, "too late", NOW)


def test_posts_to_archive_prefers_reviewed_then_oldest() -> None:
    posts = [(1, 11, "pending"), (2, 12, "accepted"), (3, 13, "rejected"), (4, 14, "pending")]
    assert service.posts_to_archive(posts, keep=4) == []
    assert [p[0] for p in service.posts_to_archive(posts, keep=2)] == [3, 2]
    assert [p[0] for p in service.posts_to_archive(posts, keep=1)] == [3, 2, 1]


async def test_two_thousand_statements_queue_stats_and_suggestions(
    sqlite_db: Database, tmp_path
) -> None:
    """The funnel at #WirVsVirus size: the queue, the figures and the duplicate index."""
    topics = ["soins", "masques", "ecole", "courses", "transport", "logement", "donnees", "velo"]
    async with sqlite_db.begin() as session:
        for i in range(2000):
            topic = topics[i % len(topics)]
            session.add(
                ProblemStatement(
                    author_discord_id=10_000 + i,
                    title=f"{topic} probleme {i}",
                    description=f"{topic} description numero {i} quartier {i % 37}",
                    affected="habitants",
                    theme=("Santé", "Climat")[i % 2],
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    async with sqlite_db.begin() as session:
        first = await service.claim_next(session, 1, NOW)
        assert first is not None and await service.queue_size(session) == 2000
    async with sqlite_db.read() as session:
        rows = await service.corpus(session)
        stats = await service.stats(session)
    assert len(rows) == 2000 and stats.total == 2000
    assert sum(c["pending"] for c in stats.by_theme.values()) == 2000
    index = SimilarityIndex()
    index.add_many(rows)
    found = index.similar_to(rows[0][0])
    # Suggestions share the topic (ids start at 1: statement i has id i + 1).
    assert found and all(
        (m.doc_id - 1) % len(topics) == (rows[0][0] - 1) % len(topics) for m in found
    )
