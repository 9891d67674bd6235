"""Submission rules on a real database: members only, checks, versions, the deadline to
the second (refused or flagged late), grace, reopening, duplicates, the reminder target."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.config import settings_from_dict
from bot.errors import InvalidInput, NotAllowed, PhaseClosed
from bot.models import Phase
from bot.models.teams import Team
from bot.services import broadcasts as broadcast_service
from bot.services import registration as reg
from bot.services import submissions as svc
from bot.services import teams as team_service

NOW = utcnow().replace(microsecond=0)
DEADLINE = NOW + timedelta(hours=1)


def make_settings(**extra):
    data = {
        "event": {"name": "Test", "guild_id": 1},
        "teams": {"min_size": 1, "max_size": 4},
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": (NOW - timedelta(hours=1)).isoformat(),
                "end": DEADLINE.isoformat(),
                "opens": ["registration", "team_changes", "submissions"],
            },
            {
                "key": "judging",
                "name": "Judging",
                "start": (DEADLINE + timedelta(hours=1)).isoformat(),
                "opens": ["judging"],
            },
        ],
    }
    data.update(extra)
    return settings_from_dict(data, Path("."))


SETTINGS = make_settings()
GOOD = {
    "title": "  Owl   Watch ",
    "pitch": "Counts owls at night",
    "description": "A long enough description of what the owl watch does.",
    "repo_url": "https://github.com/owls/watch",
    "demo_url": "https://youtu.be/abc",
}


async def seed(db, settings=SETTINGS) -> None:
    from bot.services import event as event_service

    async with db.begin() as session:
        await event_service.sync_phases(session, settings)


async def member_in_team(db, uid: int, team: str | None, settings=SETTINGS) -> int | None:
    async with db.begin() as session:
        await reg.register(
            session,
            settings,
            NOW,
            uid,
            reg.ProfileInput(f"user{uid}", ["developer"], ["en"], "Europe/Paris"),
        )
        if team is None:
            return None
        existing = await session.scalar(select(Team).where(Team.name == team))
        if existing is None:
            change = await team_service.create_team(session, settings, NOW, uid, team)
            return change.team_id
        existing.open = True
        await session.flush()
        await team_service.join_team(session, settings, NOW, uid, team)
        return existing.id


async def submit(db, uid, at=NOW, settings=SETTINGS, base=0, **values):
    content = svc.check_content(settings, {**GOOD, **values})
    async with db.begin() as session:
        return await svc.submit(session, settings, at, uid, content, base_version=base)


def test_checks_fields_and_links():
    content = svc.check_content(SETTINGS, GOOD)
    assert content.title == "Owl Watch"
    bad_links = {
        "javascript:alert(1)": "submissions.invalid.url_scheme",
        "ftp://example.org/x": "submissions.invalid.url_scheme",
        "https://localhost:3000": "submissions.invalid.url_host",
        "http://my-app.local": "submissions.invalid.url_host",
        "https://intranet": "submissions.invalid.url_host",
        "http://127.0.0.1:8000": "submissions.invalid.url_ip",
        "http://[::1]/": "submissions.invalid.url_ip",
        "https://user:pw@github.com/x": "submissions.invalid.url_credentials",
        "https://github.com/a b": "submissions.invalid.url_spaces",
        "github.com/owls/watch": "submissions.invalid.url_scheme",
        "https://bad_host.example.org": "submissions.invalid.url_host",
    }
    for link, key in bad_links.items():
        with pytest.raises(InvalidInput) as caught:
            svc.check_content(SETTINGS, {**GOOD, "repo_url": link})
        assert caught.value.key == key, link
        assert caught.value.params["field"] == "repo_url"
    assert svc.check_url("https://héhé.fr/projet", "x", required=True)
    for field, value, key in (
        ("title", "", "submissions.invalid.required"),
        ("title", "ab", "submissions.invalid.too_short"),
        ("pitch", "x" * 201, "submissions.invalid.too_long"),
        ("description", "short", "submissions.invalid.too_short"),
        ("repo_url", "", "submissions.invalid.required"),
    ):
        with pytest.raises(InvalidInput) as caught:
            svc.check_content(SETTINGS, {**GOOD, field: value})
        assert caught.value.key == key, (field, value)
    assert svc.check_content(SETTINGS, {**GOOD, "demo_url": ""}).demo_url == ""
    assert svc.repo_key("https://www.GitHub.com/Owls/Watch.git/") == "github.com/owls/watch"
    assert svc.repo_key("https://github.com/owls/watch/tree/main") == "github.com/owls/watch"


def test_extra_fields_are_checked_as_configured():
    settings = make_settings(
        submission_fields=[
            {"key": "built_with", "label": "Built with", "required": True, "max_length": 20},
            {"key": "slides", "label": "Slides", "kind": "url"},
        ]
    )
    with pytest.raises(InvalidInput) as caught:
        svc.check_content(settings, GOOD)
    assert caught.value.params["field"] == "Built with"
    partial = svc.check_content(settings, GOOD, partial=True)
    assert svc.missing_extra(settings, partial.extra) == ["Built with"]
    with pytest.raises(InvalidInput):
        svc.check_content(settings, {**GOOD, "extra": {"built_with": "x", "slides": "ftp://a.b"}})
    done = svc.check_content(settings, {**GOOD, "extra": {"built_with": " Python "}})
    assert done.extra == {"built_with": "Python"}


async def test_members_only_one_submission_per_team_with_versions(db):
    await seed(db)
    team_id = await member_in_team(db, 1, "Owls")
    await member_in_team(db, 2, "Owls")
    await member_in_team(db, 3, "Foxes")
    await member_in_team(db, 4, None)  # registered, no team
    with pytest.raises(NotAllowed) as caught:
        await submit(db, 4)
    assert caught.value.key == "submissions.no_team"
    first = await submit(db, 1)
    assert first.created and first.version == 1 and first.team_id == team_id
    # A teammate starting from an older version is refused; from the current one, it edits.
    with pytest.raises(svc.StaleVersion):
        await submit(db, 2, base=0, title="Another title")
    second = await submit(db, 2, base=1, title="Owl Watch 2")
    assert (
        not second.created and second.version == 2 and second.submission_id == first.submission_id
    )
    async with db.read() as session:
        history = await svc.versions(session, first.submission_id)
        row = await svc.get(session, first.submission_id)
    assert [(v.version, v.content["title"], v.by_discord_id) for v in history] == [
        (1, "Owl Watch", 1),
        (2, "Owl Watch 2", 2),
    ]
    assert row.title == "Owl Watch 2" and row.gallery_version == 0
    # Foxes use the same repository: both are flagged, the organisers are told who.
    third = await submit(db, 3, repo_url="https://github.com/owls/watch.git")
    assert third.duplicates == ["Owls"]
    async with db.read() as session:
        assert "duplicate_repo" in (await svc.get(session, first.submission_id)).flags
        overview = await svc.overview(session)
    assert (overview.teams, overview.submitted, overview.duplicates) == (2, 2, 2)


async def test_one_second_late_is_refused_with_the_exact_delay(db):
    await seed(db)
    await member_in_team(db, 1, "Owls")
    on_time = await submit(db, 1, at=DEADLINE - timedelta(microseconds=1))
    assert on_time.late_seconds == 0
    with pytest.raises(svc.LateSubmission) as caught:
        await submit(db, 1, at=DEADLINE + timedelta(seconds=1), base=1)
    assert caught.value.params["missed_by"] == 1
    assert svc.format_delay(3725, "en") == "1 h 02 min 05 s"
    assert svc.format_delay(1, "fr") == "1 s"


async def test_one_second_late_is_accepted_and_flagged_when_configured(db):
    settings = make_settings(submissions={"late_policy": "accept_flagged"})
    await seed(db, settings)
    await member_in_team(db, 1, "Owls", settings)
    late = await submit(db, 1, at=DEADLINE + timedelta(seconds=1), settings=settings)
    assert late.late_seconds == 1
    async with db.read() as session:
        row = await svc.get(session, late.submission_id)
        history = await svc.versions(session, late.submission_id)
    assert row.flags == ["late"] and row.late_seconds == 1 and history[0].late_seconds == 1
    # Before submissions ever opened there is no deadline to be late against.
    async with db.read() as session:
        with pytest.raises(PhaseClosed):
            await svc.timing(session, settings, NOW - timedelta(hours=2))


async def test_grace_period_and_reopening_one_team(db):
    settings = make_settings(submissions={"grace_seconds": 30})
    await seed(db, settings)
    await member_in_team(db, 1, "Owls", settings)
    owls = await member_in_team(db, 2, "Foxes", settings)
    within = await submit(db, 1, at=DEADLINE + timedelta(seconds=30), settings=settings)
    assert within.late_seconds == 0
    with pytest.raises(svc.LateSubmission) as caught:
        await submit(db, 1, at=DEADLINE + timedelta(seconds=31), settings=settings, base=1)
    assert caught.value.params["missed_by"] == 1
    # Foxes have no submission yet; an organiser reopens them for 10 minutes.
    later = DEADLINE + timedelta(minutes=5)
    async with db.begin() as session:
        _, until = await svc.reopen(session, settings, later, 99, owls, 10)
    assert until == later + timedelta(minutes=10)
    stored = await submit(db, 2, at=later + timedelta(minutes=9), settings=settings)
    assert stored.late_seconds == 0
    with pytest.raises(svc.LateSubmission):
        await submit(db, 2, at=later + timedelta(minutes=11), settings=settings, base=1)
    # Reopening a team that has a submission works the same way.
    async with db.begin() as session:
        await svc.reopen(session, settings, later, 99, within.team_id)
    again = await submit(db, 1, at=later + timedelta(minutes=29), settings=settings, base=1)
    assert again.version == 2


async def test_reminder_target_lists_teams_without_a_submission(db):
    await seed(db)
    owls = await member_in_team(db, 1, "Owls")
    foxes = await member_in_team(db, 2, "Foxes")
    async with db.begin() as session:
        for team_id, channel in ((owls, 501), (foxes, 502)):
            (await team_service.get_team(session, team_id)).channel_id = channel
    await submit(db, 1)
    async with db.read() as session:
        ctx = broadcast_service.TargetContext(session, SETTINGS, NOW, None, None)
        destinations = await broadcast_service.resolve("teams_without_submission", ctx)
    assert [d.channel_id for d in destinations] == [502]
    assert all(d.mention is None for d in destinations)
    await submit(db, 2, repo_url="https://gitlab.com/foxes/den")
    async with db.read() as session:
        ctx = broadcast_service.TargetContext(session, SETTINGS, NOW, None, None)
        with pytest.raises(InvalidInput):
            await broadcast_service.resolve("teams_without_submission", ctx)


async def test_concurrent_submissions_of_one_team_keep_every_version(db):
    await seed(db)
    for uid in range(1, 5):
        await member_in_team(db, uid, "Owls")

    async def one(uid: int):
        try:
            return await submit(db, uid, title=f"Title by {uid}")
        except svc.StaleVersion:
            return None

    outcomes = await asyncio.gather(*(one(uid) for uid in range(1, 5)))
    stored = [o for o in outcomes if o is not None]
    assert len(stored) == 1  # the others started from version 0 and are told to reload
    async with db.read() as session:
        assert await svc.count(session) == 1
        assert len(await svc.versions(session, stored[0].submission_id)) == 1
        assert (await session.get(Phase, 1)) is not None


async def test_gallery_posts_to_archive_first_are_the_least_recently_updated(db):
    await seed(db)
    for uid, team in ((1, "Owls"), (2, "Foxes"), (3, "Bats")):
        await member_in_team(db, uid, team)
    ids = {}
    for minute, uid in enumerate((1, 2, 3)):
        stored = await submit(db, uid, at=NOW + timedelta(minutes=minute), title=f"Project {uid}")
        ids[uid] = stored.submission_id
    async with db.begin() as session:
        for uid, thread_id in ((1, 901), (2, 902), (3, 903)):
            await svc.mark_published(session, ids[uid], 1, thread_id)
    # Owls edit their project last: their post is now the most recently updated.
    await submit(db, 1, at=NOW + timedelta(minutes=10), base=1, title="Project 1 v2")
    async with db.read() as session:
        assert await svc.gallery_threads_by_age(session, [901, 902, 903]) == [902, 903, 901]
        # Only the threads asked about (the active ones), and none that no project uses.
        assert await svc.gallery_threads_by_age(session, [903, 901, 999]) == [903, 901]
        assert await svc.gallery_threads_by_age(session, []) == []
