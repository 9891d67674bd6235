"""bot.services.challenges.team_counts: the /challenge list counts in one query."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models import Challenge, Team
from bot.services import challenges as service

NOW = datetime(2030, 5, 1, tzinfo=UTC)


async def test_team_counts_per_challenge_without_archived_teams(db):
    async with db.begin() as session:
        a = Challenge(slug="a", name="A", name_folded="a")
        b = Challenge(slug="b", name="B", name_folded="b")
        c = Challenge(slug="c", name="C", name_folded="c")
        session.add_all([a, b, c])
        await session.flush()
        for i, (challenge, archived) in enumerate(
            [(a, None), (a, None), (a, NOW), (b, None), (None, None)]
        ):
            session.add(
                Team(
                    name=f"T{i}",
                    name_folded=f"t{i}",
                    slug=f"t{i}",
                    challenge_id=challenge.id if challenge else None,
                    archived_at=archived,
                )
            )
        ids = [a.id, b.id, c.id]
    async with db.read() as session:
        counts = await service.team_counts(session, ids)
        assert counts == {ids[0]: 2, ids[1]: 1, ids[2]: 0}
        # The same as counting the teams one challenge at a time.
        for challenge_id in ids:
            assert counts[challenge_id] == len(await service.teams_for(session, challenge_id))
        assert await service.team_counts(session, []) == {}
