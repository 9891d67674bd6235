"""The automatic matching algorithm: balanced sizes, mixed profiles, wishes, languages, zones."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.matching import Candidate, OpenTeam, Plan, form_teams, sizes_for

TYPES = ["developer", "design", "product", "data", "domain expert"]


def crowd(n: int, seed: int = 1, **kwargs) -> list[Candidate]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        kind = "developer" if rng.random() < 0.5 else rng.choice(TYPES[1:])
        people.append(
            Candidate(
                member_id=i,
                profile_types=(kind,),
                languages=kwargs.get("languages", ("en",)),
                utc_offset=rng.choice([-300, 0, 60, 120, 330]),
                wishes=kwargs.get("wishes", ()),
            )
        )
    return people


def placed_once(plan: Plan, candidates: list[Candidate]) -> None:
    ids = [i for t in plan.new_teams for i in t.member_ids]
    ids += [i for ids_ in plan.joins.values() for i in ids_] + plan.unplaced
    assert sorted(ids) == sorted(c.member_id for c in candidates)


def test_sizes_are_balanced_within_bounds():
    assert sizes_for(10, 3, 5) == [5, 5]
    assert sizes_for(11, 3, 5) == [4, 4, 3]
    assert sizes_for(7, 3, 5) == [4, 3]
    assert sizes_for(2, 3, 5) == [2]
    assert sizes_for(0, 3, 5) == []


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=0, max_value=120), low=st.integers(1, 4), extra=st.integers(0, 4))
def test_everyone_is_placed_exactly_once_and_sizes_stay_in_bounds(n, low, extra):
    high = low + extra
    people = crowd(n, seed=n)
    plan = form_teams(people, min_size=low, max_size=high)
    placed_once(plan, people)
    for team in plan.new_teams:
        assert len(team.member_ids) <= high
    if n >= low:
        assert not plan.unplaced
        sizes = [len(t.member_ids) for t in plan.new_teams]
        assert max(sizes) - min(sizes) <= 1  # balanced
        if -(-n // high) * low <= n:  # whenever sizes within the bounds exist, they are used
            assert min(sizes) >= low


def test_no_team_of_only_developers_when_others_exist():
    people = crowd(200)
    plan = form_teams(people, min_size=3, max_size=5)
    by_id = {c.member_id: c for c in people}
    for team in plan.new_teams:
        kinds = {by_id[i].profile_types[0] for i in team.member_ids}
        assert len(kinds) >= 2, team
    assert plan.figures.mixed_share == 1.0
    assert plan.figures.max_size - plan.figures.min_size <= 1


def test_time_zones_stay_close():
    people = crowd(300)
    plan = form_teams(people, min_size=3, max_size=5)
    assert plan.figures.median_offset_spread_h <= 1.0


def test_wishes_and_languages_are_honoured():
    french = [
        Candidate(i, ("design",) if i % 2 else ("developer",), ("fr",), 60, (7,)) for i in range(8)
    ]
    english = [
        Candidate(100 + i, ("data",) if i % 2 else ("developer",), ("en",), 0, (9,))
        for i in range(8)
    ]
    plan = form_teams(french + english, min_size=2, max_size=4, eligible_challenges=[7, 9])
    for team in plan.new_teams:
        ids = set(team.member_ids)
        assert ids <= {c.member_id for c in french} or ids <= {c.member_id for c in english}
    assert plan.figures.wish_share == 1.0
    assert plan.figures.shared_language_share == 1.0


def test_existing_teams_are_completed_first_with_the_profiles_they_lack():
    people = [Candidate(i, ("developer",), ("en",), 0) for i in range(4)] + [
        Candidate(10, ("design",), ("en",), 0)
    ]
    team = OpenTeam(team_id=500, size=3, profile_types=("developer",) * 3, languages=("en",))
    plan = form_teams(people, [team], min_size=2, max_size=4)
    assert plan.joins == {500: [10]}
    assert plan.figures.filled_teams == 1
    placed_once(plan, people)


def test_a_challenge_run_takes_only_who_wishes_for_it_or_nothing():
    people = [
        Candidate(1, ("developer",), ("en",), 0, (3,)),
        Candidate(2, ("design",), ("en",), 0, ()),
        Candidate(3, ("data",), ("en",), 0, (4,)),
    ]
    plan = form_teams(people, min_size=2, max_size=3, challenge_id=3)
    assert [t.member_ids for t in plan.new_teams] == [[2, 1]] or [
        sorted(t.member_ids) for t in plan.new_teams
    ] == [[1, 2]]
    assert plan.new_teams[0].challenge_id == 3


def test_too_few_people_stay_unplaced_and_the_plan_round_trips():
    plan = form_teams([Candidate(1, ("developer",))], min_size=2, max_size=4)
    assert plan.unplaced == [1] and not plan.new_teams
    again = Plan.from_dict(plan.as_dict())
    assert again.unplaced == [1] and again.figures.unplaced == 1


def test_large_crowd_quality_figures():
    """A 2,000-person sample (the 28,000 run is a benchmark): quality, not speed."""
    rng = random.Random(5)
    people = [
        Candidate(
            i,
            (rng.choice(["developer"] * 4 + TYPES[1:]),),
            tuple(rng.sample(["en", "fr", "de"], rng.choice([1, 2]))),
            rng.choice([-300, 0, 60, 60, 120, 330, 540]),
            tuple(rng.sample(range(1, 11), rng.choice([0, 1, 2]))),
        )
        for i in range(2000)
    ]
    plan = form_teams(people, min_size=3, max_size=5, eligible_challenges=range(1, 11))
    placed_once(plan, people)
    figures = plan.figures
    assert figures.unplaced == 0
    assert figures.below_min == 0
    assert figures.mixed_share >= 0.95
    assert figures.wish_share >= 0.9
    assert figures.shared_language_share == 1.0
    assert Counter(len(t.member_ids) for t in plan.new_teams).keys() <= {3, 4, 5}
