"""Team rules on a real database: sizes, one team each, captains, names, requests, gates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.config import settings_from_dict
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound, PhaseClosed
from bot.models import Member
from bot.models.challenges import Challenge
from bot.models.teams import Team, TeamMember
from bot.services import event as event_service
from bot.services import registration as reg
from bot.services import teams as svc

NOW = utcnow()


def make_settings(**extra):
    data = {"event": {"name": "Test", "guild_id": 1}, "teams": {"min_size": 2, "max_size": 3}}
    data.update(extra)
    return settings_from_dict(data, Path("."))


SETTINGS = make_settings()


async def register(db, discord_id: int, name: str | None = None, types=("developer",)) -> None:
    async with db.begin() as session:
        await reg.register(
            session,
            SETTINGS,
            NOW,
            discord_id,
            reg.ProfileInput(name or f"user{discord_id}", list(types), ["en"], "Europe/Paris"),
        )


async def create(db, discord_id: int, name: str, **kwargs) -> svc.Change:
    async with db.begin() as session:
        return await svc.create_team(session, SETTINGS, NOW, discord_id, name, **kwargs)


async def test_create_join_and_sizes(db):
    for uid in (1, 2, 3, 4):
        await register(db, uid)
    change = await create(db, 1, "Les Hiboux")
    async with db.begin() as session:
        team = await session.get(Team, change.team_id)
        team.open = True
    async with db.begin() as session:
        assert (await svc.join_team(session, SETTINGS, NOW, 2, "les hiboux")).outcome == "joined"
    async with db.begin() as session:
        await svc.join_team(session, SETTINGS, NOW, 3, str(change.team_id))
    with pytest.raises(svc.TeamFull):
        async with db.begin() as session:
            await svc.join_team(session, SETTINGS, NOW, 4, "Les Hiboux")
    async with db.read() as session:
        assert await svc.member_discord_ids(session, change.team_id) == [1, 2, 3]
        team = await svc.team_of(session, 2)
        assert team is not None and team.name == "Les Hiboux" and team.slug == "les-hiboux"


async def test_joining_a_second_team_is_refused(db):
    for uid in (1, 2, 3):
        await register(db, uid)
    await create(db, 1, "Owls")
    second = await create(db, 2, "Foxes")
    async with db.begin() as session:
        (await session.get(Team, second.team_id)).open = True
    with pytest.raises(Conflict) as caught:
        async with db.begin() as session:
            await svc.join_team(session, SETTINGS, NOW, 1, "Foxes")
    assert caught.value.key == "teams.already_in_team_named"
    with pytest.raises(Conflict):
        await create(db, 1, "Another")


async def test_unregistered_people_are_told_to_register(db):
    with pytest.raises(NotAllowed) as caught:
        await create(db, 99, "Owls")
    assert caught.value.key == "teams.not_registered"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a", "names.team.too_short"),
        ("x" * 40, "names.team.too_long"),
        ("Owls @everyone", "names.team.mention"),
        ("<@123> fans", "names.team.mention"),
        ("Ow\u200bls", "names.team.invisible"),
        ("\u202eslwO", "names.team.invisible"),
        ("!!!", "names.team.no_letters"),
    ],
)
async def test_bad_team_names(db, name, key):
    await register(db, 1)
    with pytest.raises(InvalidInput) as caught:
        await create(db, 1, name)
    assert caught.value.key == key


async def test_names_are_unique_ignoring_case_and_accents_and_slugs_never_collide(db):
    for uid in (1, 2, 3, 4):
        await register(db, uid)
    await create(db, 1, "  Les   Hérons  ")
    with pytest.raises(Conflict) as caught:
        await create(db, 2, "les herons")
    assert caught.value.key == "teams.name_taken"
    a = await create(db, 2, "Les Herons!")  # different name, same slug
    b = await create(db, 3, "火の鳥")  # no ASCII letters at all
    c = await create(db, 4, "鳥の火")
    async with db.read() as session:
        slugs = [(await session.get(Team, x.team_id)).slug for x in (a, b, c)]
        first = await session.scalar(select(Team).where(Team.name == "Les Hérons"))
    assert first is not None and first.slug == "les-herons"
    assert slugs == ["les-herons-2", "team", "team-2"]


async def test_fifty_concurrent_joins_for_the_last_seats(db):
    for uid in range(1, 53):
        await register(db, uid)
    change = await create(db, 1, "Popular")
    async with db.begin() as session:
        (await session.get(Team, change.team_id)).open = True

    async def attempt(uid: int) -> str:
        try:
            async with db.begin() as session:
                await svc.join_team(session, SETTINGS, NOW, uid, "Popular")
        except svc.TeamFull:
            return "full"
        return "joined"

    results = await asyncio.gather(*(attempt(uid) for uid in range(2, 52)))
    assert results.count("joined") == SETTINGS.teams.max_size - 1
    assert results.count("full") == 50 - (SETTINGS.teams.max_size - 1)
    async with db.read() as session:
        assert await svc.size_of(session, change.team_id) == SETTINGS.teams.max_size


async def test_one_person_racing_into_two_teams_ends_in_exactly_one(db):
    for uid in range(1, 12):
        await register(db, uid)
    ids = []
    for uid in range(1, 11):
        change = await create(db, uid, f"Team {uid}")
        ids.append(change.team_id)
    async with db.begin() as session:
        for team_id in ids:
            (await session.get(Team, team_id)).open = True

    async def attempt(team_id: int) -> bool:
        try:
            async with db.begin() as session:
                await svc.join_team(session, SETTINGS, NOW, 11, str(team_id))
        except Conflict:
            return False
        return True

    assert sum(await asyncio.gather(*(attempt(i) for i in ids))) == 1
    async with db.read() as session:
        member = await session.scalar(select(Member).where(Member.discord_id == 11))
        count = await session.scalar(
            select(func.count()).select_from(TeamMember).where(TeamMember.member_id == member.id)
        )
    assert count == 1


async def test_closed_team_request_accept_and_decline(db):
    for uid in (1, 2, 3, 4):
        await register(db, uid)
    team = await create(db, 1, "Closed")
    async with db.begin() as session:
        asked = await svc.join_team(session, SETTINGS, NOW, 2, "Closed")
    assert asked.outcome == "requested" and asked.request_id
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.join_team(session, SETTINGS, NOW, 2, "Closed")
    with pytest.raises(NotAllowed):  # only members answer
        async with db.begin() as session:
            await svc.answer_request(session, SETTINGS, NOW, asked.request_id, 3, True)
    async with db.begin() as session:
        change, subject = await svc.answer_request(
            session, SETTINGS, NOW, asked.request_id, 1, True
        )
    assert subject == 2 and change.joined == [2]
    with pytest.raises(Conflict) as caught:
        async with db.begin() as session:
            await svc.answer_request(session, SETTINGS, NOW, asked.request_id, 1, False)
    assert caught.value.key == "teams.request_already.accepted"
    async with db.begin() as session:
        other = await svc.join_team(session, SETTINGS, NOW, 3, "Closed")
    async with db.begin() as session:
        change, _ = await svc.answer_request(session, SETTINGS, NOW, other.request_id, 2, False)
    assert change.outcome == "declined"
    async with db.read() as session:
        assert await svc.member_discord_ids(session, team.team_id) == [1, 2]


async def test_request_cooldown_after_a_decline(db):
    settings = make_settings(formation={"request_cooldown_minutes": 10})
    for uid in (1, 2):
        await register(db, uid)
    await create(db, 1, "Closed")
    async with db.begin() as session:
        asked = await svc.join_team(session, settings, NOW, 2, "Closed")
    async with db.begin() as session:
        await svc.answer_request(session, settings, NOW, asked.request_id, 1, False)
    with pytest.raises(Exception) as caught:
        async with db.begin() as session:
            await svc.join_team(session, settings, NOW + timedelta(minutes=3), 2, "Closed")
    assert caught.value.key == "teams.cooldown" and caught.value.params == {"minutes": 7}
    async with db.begin() as session:
        again = await svc.join_team(session, settings, NOW + timedelta(minutes=11), 2, "Closed")
    assert again.outcome == "requested"


async def test_invitation_cooldown_after_a_decline(db):
    settings = make_settings(formation={"request_cooldown_minutes": 10})
    for uid in (1, 2):
        await register(db, uid)
    await create(db, 1, "Closed")
    async with db.begin() as session:
        invited = await svc.invite(session, settings, NOW, 1, 2)
    async with db.begin() as session:
        await svc.answer_request(session, settings, NOW, invited.request_id, 2, False)
    with pytest.raises(HackbotError) as caught:
        async with db.begin() as session:
            await svc.invite(session, settings, NOW + timedelta(minutes=4), 1, 2)
    assert caught.value.key == "teams.cooldown" and caught.value.params == {"minutes": 6}
    async with db.begin() as session:
        again = await svc.invite(session, settings, NOW + timedelta(minutes=10), 1, 2)
    assert again.outcome == "invited"


async def test_creating_and_leaving_empty_teams_in_a_loop_is_slowed_down(db):
    settings = make_settings(formation={"create_cooldown_minutes": 10})
    for uid in (1, 2):
        await register(db, uid)

    async def create_and_leave(minute: int, name: str) -> None:
        async with db.begin() as session:
            await svc.create_team(session, settings, NOW + timedelta(minutes=minute), 1, name)
        async with db.begin() as session:
            left = await svc.leave_team(session, settings, NOW + timedelta(minutes=minute), 1)
        assert left.archived

    await create_and_leave(0, "First")
    await create_and_leave(1, "Second")  # starting over once is fine
    with pytest.raises(HackbotError) as caught:
        async with db.begin() as session:
            await svc.create_team(session, settings, NOW + timedelta(minutes=2), 1, "Third")
    assert caught.value.key == "teams.cooldown" and caught.value.params == {"minutes": 8}
    async with db.begin() as session:  # organisers are not slowed down
        await svc.create_team(session, settings, NOW, 1, "By hand", override=True)
        await svc.admin_remove(session, settings, NOW, 999, 1)
    async with db.begin() as session:  # "First" is 10 minutes old: one abandoned team left
        again = await svc.create_team(session, settings, NOW + timedelta(minutes=10), 1, "Third")
    assert again.outcome == "joined"
    # Leaving a team that lives on (someone else is in it) does not count.
    async with db.begin() as session:
        (await session.get(Team, again.team_id)).open = True
        await svc.join_team(session, settings, NOW + timedelta(minutes=10), 2, "Third")
    async with db.begin() as session:
        await svc.leave_team(session, settings, NOW + timedelta(minutes=10), 1)
    async with db.begin() as session:
        await svc.create_team(session, settings, NOW + timedelta(minutes=10), 1, "Fourth")


async def test_invitation_lets_the_invitee_into_a_closed_team(db):
    for uid in (1, 2, 3):
        await register(db, uid)
    await create(db, 1, "Closed")
    async with db.begin() as session:
        invited = await svc.invite(session, SETTINGS, NOW, 1, 2)
    with pytest.raises(NotAllowed):
        async with db.begin() as session:
            await svc.answer_request(session, SETTINGS, NOW, invited.request_id, 3, True)
    async with db.begin() as session:
        joined = await svc.join_team(session, SETTINGS, NOW, 2, "Closed")
    assert joined.outcome == "joined"
    with pytest.raises(NotAllowed):  # not in a team
        async with db.begin() as session:
            await svc.invite(session, SETTINGS, NOW, 3, 1)


async def test_captain_leaving_passes_captaincy_and_last_one_archives(db):
    for uid in (1, 2, 3):
        await register(db, uid)
    team = await create(db, 1, "Owls")
    async with db.begin() as session:
        (await session.get(Team, team.team_id)).open = True
    for uid in (2, 3):
        async with db.begin() as session:
            await svc.join_team(session, SETTINGS, NOW, uid, "Owls")
    async with db.begin() as session:
        left = await svc.leave_team(session, SETTINGS, NOW, 1)
    assert left.new_captain == 2 and not left.archived
    async with db.begin() as session:
        await svc.leave_team(session, SETTINGS, NOW, 3)
    async with db.begin() as session:
        last = await svc.leave_team(session, SETTINGS, NOW, 2)
    assert last.archived
    async with db.read() as session:
        row = await session.get(Team, team.team_id)
        assert row.archived_at is not None and row.captain_member_id is None
    # The name is free again.
    await create(db, 1, "owls")


async def test_kick_rules(db):
    for uid in (1, 2, 3):
        await register(db, uid)
    team = await create(db, 1, "Owls")
    async with db.begin() as session:
        (await session.get(Team, team.team_id)).open = True
        await svc.join_team(session, SETTINGS, NOW, 2, "Owls")
    with pytest.raises(NotFound) as caught:  # someone not in the team
        async with db.begin() as session:
            await svc.kick(session, SETTINGS, NOW, 1, 3)
    assert caught.value.key == "teams.not_member"
    with pytest.raises(NotAllowed):  # not the captain
        async with db.begin() as session:
            await svc.kick(session, SETTINGS, NOW, 2, 1)
    with pytest.raises(InvalidInput):
        async with db.begin() as session:
            await svc.kick(session, SETTINGS, NOW, 1, 1)
    async with db.begin() as session:
        change = await svc.kick(session, SETTINGS, NOW, 1, 2)
    assert change.left == [2]


async def test_member_leaving_the_guild_leaves_their_team(db):
    for uid in (1, 2):
        await register(db, uid)
    team = await create(db, 1, "Owls")
    async with db.begin() as session:
        (await session.get(Team, team.team_id)).open = True
        await svc.join_team(session, SETTINGS, NOW, 2, "Owls")
    async with db.begin() as session:
        change = await svc.member_left_guild(session, NOW, 1)
    assert change.new_captain == 2 and change.left == [1]
    async with db.begin() as session:
        assert await svc.member_left_guild(session, NOW, 1) is None
        change = await svc.member_left_guild(session, NOW, 2)
    assert change.archived


async def test_phase_gating_and_organiser_override(db):
    settings = make_settings(
        phases=[
            {
                "key": "reg",
                "name": "Registration",
                "start": (NOW - timedelta(hours=1)).isoformat(),
                "end": (NOW + timedelta(hours=1)).isoformat(),
                "opens": ["registration"],
            }
        ]
    )
    async with db.begin() as session:
        await event_service.sync_phases(session, settings)
    for uid in (1, 2):
        async with db.begin() as session:
            await reg.register(
                session,
                settings,
                NOW,
                uid,
                reg.ProfileInput(f"u{uid}", ["design"], ["fr"], "UTC"),
            )
    with pytest.raises(PhaseClosed) as caught:
        async with db.begin() as session:
            await svc.create_team(session, settings, NOW, 1, "Owls")
    assert caught.value.key.startswith("timeline.closed.new_teams.")
    async with db.begin() as session:
        await svc.create_team(session, settings, NOW, 1, "Owls", override=True)
    async with db.begin() as session:
        change = await svc.admin_add(session, settings, NOW, 999, "Owls", 2)
    assert change.joined == [2]


async def test_no_new_teams_after_hacking_starts_but_membership_changes_until_submissions_close(
    db,
):
    def phase(key, start_h, end_h, opens):
        return {
            "key": key,
            "name": key.title(),
            "start": (NOW + timedelta(hours=start_h)).isoformat(),
            "end": (NOW + timedelta(hours=end_h)).isoformat(),
            "opens": opens,
        }

    settings = make_settings(
        phases=[
            phase("formation", -2, -1, ["registration", "new_teams", "team_changes"]),
            phase("hacking", -1, 1, ["team_changes", "submissions"]),
            phase("judging", 1, 2, ["judging"]),
        ]
    )
    for uid in (1, 2, 3):
        await register(db, uid)  # before the timeline exists: everything is open
    async with db.begin() as session:
        await event_service.sync_phases(session, settings)
    earlier = NOW - timedelta(hours=1, minutes=30)
    async with db.begin() as session:
        owls = await svc.create_team(session, settings, earlier, 1, "Owls")
        (await session.get(Team, owls.team_id)).open = True
    # Hacking: creating a team is refused, saying since when, and pointing to /team list ...
    with pytest.raises(PhaseClosed) as caught:
        async with db.begin() as session:
            await svc.create_team(session, settings, NOW, 2, "Foxes")
    assert caught.value.key == "timeline.closed.new_teams.since"
    # ... but joining and leaving an existing team still work.
    async with db.begin() as session:
        assert (await svc.join_team(session, settings, NOW, 2, "Owls")).outcome == "joined"
        assert (await svc.join_team(session, settings, NOW, 3, "Owls")).outcome == "joined"
    async with db.begin() as session:
        assert (await svc.leave_team(session, settings, NOW, 3)).left == [3]
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Team)) == 1
    # Once submissions close, membership is frozen too.
    later = NOW + timedelta(hours=1, minutes=1)
    with pytest.raises(PhaseClosed) as caught:
        async with db.begin() as session:
            await svc.join_team(session, settings, later, 3, "Owls")
    assert caught.value.key == "timeline.closed.team_changes.since"
    with pytest.raises(PhaseClosed):
        async with db.begin() as session:
            await svc.leave_team(session, settings, later, 2)


async def test_access_list_and_space_lookup(db):
    await register(db, 1)
    team = await create(db, 1, "Owls")
    async with db.begin() as session:
        assert await svc.grant_access(session, team.team_id, 555)
        assert not await svc.grant_access(session, team.team_id, 555)
    async with db.read() as session:
        assert await svc.access_list(session, team.team_id) == [555]
        space = await svc.space_of(session, team.team_id)
        assert space.kind is None and space.channel_id is None
    async with db.begin() as session:
        assert await svc.revoke_access(session, team.team_id, 555)
        assert not await svc.revoke_access(session, team.team_id, 555)


async def test_challenge_and_listing(db):
    for uid in (1, 2, 3, 4):
        await register(db, uid)
    async with db.begin() as session:
        session.add(Challenge(slug="climate", name="Climate", name_folded="climate"))
    owls = await create(db, 1, "Owls", challenge="Climate")
    await create(db, 2, "Foxes")
    async with db.begin() as session:
        (await session.get(Team, owls.team_id)).open = True
    for uid in (3, 4):
        async with db.begin() as session:
            await svc.join_team(session, SETTINGS, NOW, uid, "Owls")
    async with db.read() as session:
        rows, pages = await svc.list_page(session, challenge_id=None, page=1)
        assert [(t.name, n) for t, n in rows] == [("Foxes", 1), ("Owls", 3)] and pages == 1
        challenge = await svc.find_challenge(session, "climate")
        rows, _ = await svc.list_page(session, challenge_id=challenge.id, page=1)
        assert [t.name for t, _ in rows] == ["Owls"]
        found = await svc.search(session, "ow")
        assert [(name, size) for _, name, size in found] == [("Owls", 3)]
        assert [(name, size) for _, name, size in await svc.search(session, "")] == [
            ("Foxes", 1),
            ("Owls", 3),
        ]
    with pytest.raises(NotFound):
        async with db.read() as session:
            await svc.find_challenge(session, "nope")


async def test_autoform_plan_applied_skips_people_who_found_a_team_meanwhile(db):
    from bot.services import matching

    for uid, kind in enumerate(["developer", "design", "data", "developer", "product"], 1):
        await register(db, uid, types=(kind,))
    async with db.read() as session:
        candidates, open_teams, eligible = await svc.autoform_inputs(session, SETTINGS, NOW, None)
    assert len(candidates) == 5 and not open_teams and eligible == []
    plan = matching.form_teams(candidates, open_teams, min_size=2, max_size=3)
    await create(db, 5, "Early")  # person 5 creates a team after the preview
    async with db.begin() as session:
        applied = await svc.apply_plan(
            session, SETTINGS, NOW, plan, run_id=1, team_name="Team {number}", actor=9
        )
    assert applied.placed == 4 and applied.skipped == 1 and applied.created == 2
    async with db.read() as session:
        teams = [await session.get(Team, i) for i in applied.team_ids]
        assert [t.name for t in teams] == ["Team 1", "Team 2"]
        for team in teams:
            ids = await svc.member_discord_ids(session, team.id)
            assert 2 <= len(ids) <= 3
            captain = await session.get(Member, team.captain_member_id)
            assert captain.discord_id in ids
