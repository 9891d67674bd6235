"""Automatic team formation: a pure algorithm, no database, no Discord.

Input: the participants still without a team who opted in (their profile types,
languages, UTC offset, challenge wishes) and the existing teams that still have
room. Output: a :class:`Plan` (who joins which existing team, which new teams
are made of whom) and its quality figures.

How (O(n log n) overall, no pairwise comparisons):

1. **Groups.** Each participant is put in a group keyed by (challenge, language):
   the first wish that is open to matching (or none), and a language every member
   will share (the most widely spoken one they speak, so groups stay big).
   When a challenge is given (``/admin teams autoform [challenge]``), only people
   who wish for it (or wish for nothing) take part, all in that challenge.
2. **Small groups merge.** A group too small to make a team of ``min_size``
   joins, in order: the same challenge in another language they speak, then
   the language group without a challenge, then anyone.
3. **Existing teams first.** Under-full teams (same challenge, or none) take
   people from the matching group, preferring profile types the team lacks and
   time zones close to the team's.
4. **New teams.** The rest of a group is sorted by UTC offset and cut into
   ``k = ceil(n / max_size)`` teams whose sizes differ by at most one (all
   within ``min_size..max_size`` when ``n`` allows it). Members are dealt from
   the offset-sorted list into consecutive teams by profile type: each team
   receives a contiguous run of offsets (close time zones) and the dealing
   spreads every profile type over the teams, so no team is only developers
   when anyone else is available.

The figures (:class:`Figures`) measure the outcome: size spread, share of teams
with at least two profile types, share of wishes honoured, time-zone spread.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Candidate:
    member_id: int
    profile_types: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    utc_offset: int = 0  # minutes
    wishes: tuple[int, ...] = ()  # challenge ids, most wanted first


@dataclass(frozen=True)
class OpenTeam:
    team_id: int
    size: int
    challenge_id: int | None = None
    profile_types: tuple[str, ...] = ()  # of its current members (with repeats)
    languages: tuple[str, ...] = ()  # spoken by every current member
    utc_offset: int = 0  # average of its members, minutes


@dataclass
class NewTeam:
    challenge_id: int | None
    language: str | None
    member_ids: list[int]


@dataclass
class Figures:
    participants: int = 0
    placed: int = 0
    unplaced: int = 0
    new_teams: int = 0
    filled_teams: int = 0
    min_size: int = 0
    max_size: int = 0
    below_min: int = 0
    mixed_share: float = 1.0  # teams with at least two profile types (where >1 type exists)
    wishes: int = 0  # participants who wished for something
    wishes_honoured: int = 0
    shared_language_share: float = 1.0
    max_offset_spread_h: float = 0.0
    median_offset_spread_h: float = 0.0

    @property
    def wish_share(self) -> float:
        return self.wishes_honoured / self.wishes if self.wishes else 1.0

    def as_dict(self) -> dict[str, float | int]:
        return {**asdict(self), "wish_share": self.wish_share}


@dataclass
class Plan:
    joins: dict[int, list[int]] = field(default_factory=dict)  # team_id -> member ids
    new_teams: list[NewTeam] = field(default_factory=list)
    unplaced: list[int] = field(default_factory=list)
    figures: Figures = field(default_factory=Figures)

    def as_dict(self) -> dict:
        return {
            "joins": {str(k): v for k, v in self.joins.items()},
            "new_teams": [asdict(t) for t in self.new_teams],
            "unplaced": self.unplaced,
            "figures": self.figures.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        figures = {k: v for k, v in data.get("figures", {}).items() if k != "wish_share"}
        return cls(
            joins={int(k): list(v) for k, v in data.get("joins", {}).items()},
            new_teams=[NewTeam(**t) for t in data.get("new_teams", [])],
            unplaced=list(data.get("unplaced", [])),
            figures=Figures(**figures),
        )


def _primary_type(c: Candidate) -> str:
    return c.profile_types[0] if c.profile_types else "other"


def sizes_for(n: int, min_size: int, max_size: int) -> list[int]:
    """Team sizes for ``n`` people: as few teams as ``max_size`` allows, sizes differing by ≤ 1.

    When ``n < min_size`` there is one (small) team; the caller decides what to do with it.
    """
    if n <= 0:
        return []
    k = math.ceil(n / max_size)
    # Fewer, bigger teams when the even split would fall below min_size, but never
    # above max_size (a team too small is reported; a team too big is not allowed).
    while k > 1 and n // k < min_size and math.ceil(n / (k - 1)) <= max_size:
        k -= 1
    base, extra = divmod(n, k)
    return [base + 1] * extra + [base] * (k - extra)


def form_teams(
    candidates: Sequence[Candidate],
    open_teams: Sequence[OpenTeam] = (),
    *,
    min_size: int,
    max_size: int,
    challenge_id: int | None = None,
    eligible_challenges: Iterable[int] | None = None,
) -> Plan:
    """Place ``candidates`` into ``open_teams`` and new teams; see the module docstring."""
    eligible = set(eligible_challenges) if eligible_challenges is not None else None
    plan = Plan()
    if challenge_id is not None:
        pool = [c for c in candidates if not c.wishes or challenge_id in c.wishes]
    else:
        pool = list(candidates)
    by_id = {c.member_id: c for c in pool}

    # 1. Language popularity (how many candidates speak each), for the group key.
    spoken = Counter(lang for c in pool for lang in set(c.languages))

    def language_of(c: Candidate) -> str | None:
        if not c.languages:
            return None
        return max(c.languages, key=lambda lang: (spoken[lang], lang))

    def challenge_of(c: Candidate) -> int | None:
        if challenge_id is not None:
            return challenge_id
        for wish in c.wishes:
            if eligible is None or wish in eligible:
                return wish
        return None

    groups: dict[tuple[int | None, str | None], list[Candidate]] = defaultdict(list)
    for c in pool:
        groups[(challenge_of(c), language_of(c))].append(c)

    # 2. Existing teams with room take people from the matching groups first, up to
    # the size every team would have if everyone were spread evenly (so filling them
    # does not leave a handful of people for a last, too small team).
    pools: dict[tuple[int | None, str | None], _Pool] = {}
    everyone = len(pool) + sum(t.size for t in open_teams)
    teams_needed = max(len(open_teams), math.ceil(everyone / max_size), 1)
    target = min(max_size, max(min_size, math.ceil(everyone / teams_needed)))
    for team in sorted(open_teams, key=lambda t: (t.size, t.team_id)):
        room = max(0, target - team.size)
        if room <= 0:
            continue
        if challenge_id is not None and team.challenge_id not in (None, challenge_id):
            continue

        def size(key: tuple[int | None, str | None]) -> int:
            return pools[key].size if key in pools else len(groups[key])

        keys = [k for k in groups if k[0] == team.challenge_id and size(k)]
        if team.languages:
            keys = [k for k in keys if k[1] in team.languages or k[1] is None]
        have = Counter(team.profile_types)
        taken: list[int] = []
        team_pools = []
        for key in sorted(keys, key=lambda k: (-size(k), str(k))):
            if key not in pools:
                pools[key] = _Pool(groups[key])
            team_pools.append(pools[key])
        while len(taken) < room:
            # Across the matching groups: the profile type the team has least of.
            best = None
            for pool_ in team_pools:
                kind = pool_.best_kind(have)
                if kind is not None and (best is None or have[kind] < have[best[1]]):
                    best = (pool_, kind)
            if best is None:
                break
            chosen = best[0].take(best[1], team.utc_offset)
            taken.append(chosen.member_id)
            have[_primary_type(chosen)] += 1
        if taken:
            plan.joins[team.team_id] = taken
    for key, pool_ in pools.items():
        groups[key] = pool_.remaining()

    # 3. Groups too small for a team merge into a wider group.
    for key in sorted(groups, key=lambda k: (len(groups[k]), str(k))):
        members = groups[key]
        if not members or len(members) >= min_size:
            continue
        target = None
        # The same challenge in another language every one of them speaks...
        for other in sorted(groups, key=lambda k: (-len(groups[k]), str(k))):
            if other == key or other[0] != key[0] or not groups[other]:
                continue
            if other[1] is None or all(other[1] in c.languages for c in members):
                target = other
                break
        # ...then the same language without a challenge, then the biggest group.
        if target is None and groups.get((None, key[1])) and (None, key[1]) != key:
            target = (None, key[1])
        if target is None:
            others = [k for k in groups if k != key and groups[k]]
            if others:
                target = max(others, key=lambda k: (len(groups[k]), str(k)))
        if target is not None:
            groups[target].extend(members)
            groups[key] = []

    # 4. New teams: offset-sorted, dealt by profile type into contiguous teams.
    leftovers: list[Candidate] = []
    for (challenge, language), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if not members:
            continue
        if len(members) < min_size:
            leftovers.extend(members)  # only when the whole pool is this small
            continue
        for team_members in _split(members, min_size, max_size):
            plan.new_teams.append(
                NewTeam(
                    challenge_id=challenge,
                    language=language,
                    member_ids=[c.member_id for c in team_members],
                )
            )
    # Too few people to make a team: they go where there is still room, else they
    # stay unplaced and the organisers are told.
    for c in leftovers:
        home = next((t for t in plan.new_teams if len(t.member_ids) < max_size), None)
        if home is None:
            plan.unplaced.append(c.member_id)
        else:
            home.member_ids.append(c.member_id)

    plan.figures = _figures(plan, by_id, open_teams, min_size)
    return plan


class _Pool:
    """A group's members by profile type, each type sorted by UTC offset, to fill teams."""

    def __init__(self, members: list[Candidate]) -> None:
        self.buckets: dict[str, list[tuple[int, int, Candidate]]] = defaultdict(list)
        for c in members:
            self.buckets[_primary_type(c)].append((c.utc_offset, c.member_id, c))
        for bucket in self.buckets.values():
            bucket.sort(key=lambda item: (item[0], item[1]))
        self._size = len(members)

    def best_kind(self, have: Counter[str]) -> str | None:
        """The available profile type the team has least of (the commonest on a tie)."""
        kinds = [k for k, bucket in self.buckets.items() if bucket]
        if not kinds:
            return None
        return min(kinds, key=lambda k: (have[k], -len(self.buckets[k]), k))

    def take(self, kind: str, offset: int) -> Candidate:
        """The member of ``kind`` whose offset is closest to ``offset``."""
        bucket = self.buckets[kind]
        i = bisect.bisect_left(bucket, offset, key=lambda item: item[0])
        if i == len(bucket) or (i > 0 and offset - bucket[i - 1][0] <= bucket[i][0] - offset):
            i -= 1
        self._size -= 1
        return bucket.pop(i)[2]

    @property
    def size(self) -> int:
        return self._size

    def remaining(self) -> list[Candidate]:
        return [item[2] for bucket in self.buckets.values() for item in bucket]


#: How many consecutive teams share a window of the offset-sorted list.
WINDOW_TEAMS = 4


def _split(members: list[Candidate], min_size: int, max_size: int) -> list[list[Candidate]]:
    """Cut ``members`` into balanced teams with close time zones and mixed profile types.

    Sort by UTC offset; take the balanced sizes from :func:`sizes_for`; walk the
    sorted list in windows of :data:`WINDOW_TEAMS` teams' worth of people (so a
    team's members come from one narrow band of offsets) and, inside a window,
    deal people grouped by profile type round-robin over the window's teams (so
    each type is spread across them).
    """
    sizes = sizes_for(len(members), min_size, max_size)
    if len(sizes) <= 1:
        return [list(members)]
    ordered = sorted(members, key=lambda c: (c.utc_offset, c.member_id))
    teams: list[list[Candidate]] = []
    start = 0
    for first in range(0, len(sizes), WINDOW_TEAMS):
        window_sizes = sizes[first : first + WINDOW_TEAMS]
        count = sum(window_sizes)
        window = ordered[start : start + count]
        start += count
        kinds = Counter(_primary_type(c) for c in window)
        # Rarest types first, so they are dealt while every team still has room.
        window.sort(key=lambda c: (kinds[_primary_type(c)], _primary_type(c), c.utc_offset))
        dealt: list[list[Candidate]] = [[] for _ in window_sizes]
        turn = 0
        for c in window:
            while len(dealt[turn]) >= window_sizes[turn]:
                turn = (turn + 1) % len(window_sizes)
            dealt[turn].append(c)
            turn = (turn + 1) % len(window_sizes)
        teams.extend(dealt)
    return teams


def _figures(
    plan: Plan,
    by_id: dict[int, Candidate],
    open_teams: Sequence[OpenTeam],
    min_size: int,
) -> Figures:
    figures = Figures(participants=len(by_id))
    team_list: list[tuple[list[Candidate], tuple[str, ...], int | None, tuple[str, ...]]] = []
    existing = {t.team_id: t for t in open_teams}
    for team_id, ids in plan.joins.items():
        team = existing[team_id]
        team_list.append(
            ([by_id[i] for i in ids], team.profile_types, team.challenge_id, team.languages)
        )
    for new in plan.new_teams:
        team_list.append(([by_id[i] for i in new.member_ids], (), new.challenge_id, ()))
    sizes = []
    mixed = eligible_for_mix = 0
    shared = 0
    spreads: list[float] = []
    any_other_type = len({_primary_type(c) for c in by_id.values()}) > 1
    for members, prior_types, challenge, prior_langs in team_list:
        size = len(members) + len(prior_types)
        sizes.append(size)
        types = {t for c in members for t in c.profile_types} | set(prior_types)
        if any_other_type and size >= 2:
            eligible_for_mix += 1
            mixed += len(types) >= 2
        common = set(prior_langs) if prior_langs else None
        for c in members:
            common = set(c.languages) if common is None else common & set(c.languages)
        shared += bool(common)
        offsets = [c.utc_offset for c in members]
        spreads.append((max(offsets) - min(offsets)) / 60 if offsets else 0.0)
        for c in members:
            if c.wishes:
                figures.wishes += 1
                figures.wishes_honoured += challenge in c.wishes
    figures.placed = sum(len(m) for m, *_ in team_list)
    figures.unplaced = len(plan.unplaced)
    figures.new_teams = len(plan.new_teams)
    figures.filled_teams = len(plan.joins)
    figures.min_size = min(sizes, default=0)
    figures.max_size = max(sizes, default=0)
    figures.below_min = sum(1 for s in sizes if s < min_size)
    figures.mixed_share = mixed / eligible_for_mix if eligible_for_mix else 1.0
    figures.shared_language_share = shared / len(team_list) if team_list else 1.0
    if spreads:
        ordered = sorted(spreads)
        figures.max_offset_spread_h = ordered[-1]
        figures.median_offset_spread_h = ordered[len(ordered) // 2]
    return figures
