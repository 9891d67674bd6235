"""Challenges: what teams work on, where each lives on Discord, who works on it (issue 5).

Never imports discord. The cog creates the Discord side (a channel in an
overflowing category, or a forum post when channels run short: see
:func:`plan_home`) and records it here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Conflict, InvalidInput, NotFound
from bot.models import AuditEntry, Challenge
from bot.models.problems import ChallengeFollower, ProblemStatement, ProblemStatus
from bot.services import outbox
from bot.services import problems as problem_service
from bot.services.similarity import fold

log = logging.getLogger(__name__)

NAME_MAX = 100
SUMMARY_MAX = 300
DESCRIPTION_MAX = 4000
SPONSOR_MAX = 100
SKILLS_MAX = 10
SKILL_MAX = 40
PAGE_SIZE = 8

#: Discord's limits the home planner lives within.
GUILD_CHANNELS_MAX = 500
CATEGORY_CHANNELS_MAX = 50
GUILD_ROLES_MAX = 250


def fold_name(name: str) -> str:
    """Case- and accent-folded, spaces squeezed: "Accès  aux Soins" == "acces aux soins"."""
    return re.sub(r"\s+", " ", fold(name)).strip()


def slugify(name: str) -> str:
    """A Discord-valid text channel name: ``accès aux soins`` → ``acces-aux-soins``."""
    text = re.sub(r"[^a-z0-9]+", "-", fold(name)).strip("-")
    return text[:90].strip("-") or "challenge"


def parse_skills(text: str | None) -> list[str]:
    skills: list[str] = []
    for part in re.split(r"[,;\n]", text or ""):
        skill = part.strip()
        if not skill:
            continue
        if len(skill) > SKILL_MAX:
            raise InvalidInput("challenges.skill_too_long", max=SKILL_MAX)
        if fold_name(skill) not in {fold_name(s) for s in skills}:
            skills.append(skill)
    if len(skills) > SKILLS_MAX:
        raise InvalidInput("challenges.too_many_skills", max=SKILLS_MAX)
    return skills


def parse_problem_ids(text: str | None) -> list[int]:
    """``"#12, 40 41"`` → [12, 40, 41]."""
    ids: list[int] = []
    for part in re.split(r"[\s,;]+", (text or "").strip()):
        if not part:
            continue
        digits = part.lstrip("#")
        if not digits.isdigit():
            raise InvalidInput("challenges.bad_problem_ids", value=part)
        if int(digits) not in ids:
            ids.append(int(digits))
    return ids


def _field(value: str | None, limit: int, what: str, *, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"challenges.empty_{what}")
    if len(text) > limit:
        raise InvalidInput(f"challenges.too_long_{what}", max=limit)
    return text


async def _unique_slug(session: AsyncSession, name: str, own_id: int | None = None) -> str:
    base = slugify(name)
    slug, n = base, 1
    while True:
        other = await session.scalar(select(Challenge.id).where(Challenge.slug == slug))
        if other is None or other == own_id:
            return slug
        n += 1
        slug = f"{base[:85]}-{n}"


async def check_name_free(session: AsyncSession, name: str, own_id: int | None = None) -> str:
    folded = fold_name(name)
    other = await session.scalar(select(Challenge).where(Challenge.name_folded == folded))
    if other is not None and other.id != own_id:
        raise Conflict("challenges.name_taken", name=other.name)
    return folded


async def create(
    session: AsyncSession,
    *,
    name: str,
    summary: str,
    description: str = "",
    sponsor: str | None = None,
    mentor_skills: list[str] | None = None,
    problem_ids: list[int] | None = None,
    actor_id: int | None = None,
    now: datetime,
) -> Challenge:
    name = _field(name, NAME_MAX, "name", required=True)
    folded = await check_name_free(session, name)
    position = int(
        await session.scalar(select(func.coalesce(func.max(Challenge.position), 0))) or 0
    )
    challenge = Challenge(
        slug=await _unique_slug(session, name),
        name=name,
        name_folded=folded,
        summary=_field(summary, SUMMARY_MAX, "summary", required=True),
        description=_field(description, DESCRIPTION_MAX, "description"),
        sponsor=_field(sponsor, SPONSOR_MAX, "sponsor") or None,
        mentor_skills=list(mentor_skills or []),
        position=position + 1,
        listing={},
        created_at=now,
        updated_at=now,
    )
    session.add(challenge)
    await session.flush()
    if problem_ids:
        await link_problems(session, challenge.id, problem_ids, actor_id, now)
    session.add(
        AuditEntry(
            actor_discord_id=actor_id,
            action="challenge.add",
            subject=f"challenge:{challenge.id}",
            detail={"name": name},
        )
    )
    log.info("challenge %s (%s) created", challenge.id, challenge.slug)
    return challenge


async def update(
    session: AsyncSession,
    challenge_id: int,
    *,
    name: str,
    summary: str,
    description: str,
    sponsor: str | None,
    mentor_skills: list[str],
    actor_id: int | None,
    now: datetime,
) -> Challenge:
    challenge = await get(session, challenge_id)
    name = _field(name, NAME_MAX, "name", required=True)
    challenge.name_folded = await check_name_free(session, name, challenge.id)
    challenge.name = name
    challenge.summary = _field(summary, SUMMARY_MAX, "summary", required=True)
    challenge.description = _field(description, DESCRIPTION_MAX, "description")
    challenge.sponsor = _field(sponsor, SPONSOR_MAX, "sponsor") or None
    challenge.mentor_skills = list(mentor_skills)
    challenge.updated_at = now
    session.add(
        AuditEntry(
            actor_discord_id=actor_id,
            action="challenge.edit",
            subject=f"challenge:{challenge.id}",
            detail={"name": name},
        )
    )
    return challenge


async def link_problems(
    session: AsyncSession,
    challenge_id: int,
    problem_ids: list[int],
    actor_id: int | None,
    now: datetime,
) -> list[ProblemStatement]:
    linked = []
    for pid in problem_ids:
        statement = await session.get(ProblemStatement, pid)
        if statement is None:
            raise NotFound("problems.not_found", id=pid)
        if statement.status == ProblemStatus.REJECTED.value:
            raise InvalidInput("challenges.link_rejected", id=pid)
        linked.append(
            await problem_service.merge_into_challenge(
                session, pid, challenge_id, actor_id or 0, now
            )
        )
    return linked


async def remove(
    session: AsyncSession, challenge_id: int, actor_id: int | None, now: datetime
) -> Challenge:
    """Archive a challenge: hidden from lists, statements go back to "accepted".
    Refused while teams still work on it (they must pick another first)."""
    challenge = await get(session, challenge_id)
    teams = await teams_for(session, challenge_id)
    if teams:
        raise Conflict("challenges.has_teams", name=challenge.name, count=len(teams))
    challenge.archived_at = now
    # Free the name and slug for a new challenge.
    challenge.name_folded = f"{challenge.name_folded[:80]}#archived-{challenge.id}"
    challenge.slug = f"{challenge.slug[:80]}-archived-{challenge.id}"
    await problem_service.unlink_challenge(session, challenge_id)
    await session.execute(
        delete(ChallengeFollower).where(ChallengeFollower.challenge_id == challenge_id)
    )
    session.add(
        AuditEntry(
            actor_discord_id=actor_id,
            action="challenge.remove",
            subject=f"challenge:{challenge.id}",
            detail={"name": challenge.name},
        )
    )
    return challenge


async def get(session: AsyncSession, challenge_id: int) -> Challenge:
    challenge = await session.get(Challenge, challenge_id)
    if challenge is None or challenge.archived_at is not None:
        raise NotFound("challenges.not_found", name=str(challenge_id))
    return challenge


async def find(session: AsyncSession, text: str) -> Challenge:
    """A challenge by id (what autocomplete sends), slug or name (what people type)."""
    value = (text or "").strip()
    query = select(Challenge).where(Challenge.archived_at.is_(None))
    if value.isdigit():
        found = await session.scalar(query.where(Challenge.id == int(value)))
        if found is not None:
            return found
    found = await session.scalar(
        query.where(or_(Challenge.slug == value.lower(), Challenge.name_folded == fold_name(value)))
    )
    if found is None:
        raise NotFound("challenges.not_found", name=value)
    return found


async def search(session: AsyncSession, text: str, limit: int = 25) -> list[Challenge]:
    """For autocomplete: names containing the folded text, those starting with it first."""
    folded = fold_name(text or "")
    query = select(Challenge).where(Challenge.archived_at.is_(None))
    if folded:
        query = query.where(Challenge.name_folded.contains(folded, autoescape=True))
    rows = list((await session.scalars(query.order_by(Challenge.position))).all())
    rows.sort(key=lambda c: (not c.name_folded.startswith(folded), c.position))
    return rows[:limit]


async def all_active(session: AsyncSession) -> list[Challenge]:
    return list(
        (
            await session.scalars(
                select(Challenge)
                .where(Challenge.archived_at.is_(None))
                .order_by(Challenge.position, Challenge.id)
            )
        ).all()
    )


async def page(
    session: AsyncSession, number: int, size: int = PAGE_SIZE
) -> tuple[list[Challenge], int, int]:
    """(challenges on page ``number`` (0-based, clamped), page number, page count)."""
    total = int(
        await session.scalar(
            select(func.count()).select_from(Challenge).where(Challenge.archived_at.is_(None))
        )
        or 0
    )
    pages = max(1, -(-total // size))
    number = min(max(0, number), pages - 1)
    rows = (
        await session.scalars(
            select(Challenge)
            .where(Challenge.archived_at.is_(None))
            .order_by(Challenge.position, Challenge.id)
            .offset(number * size)
            .limit(size)
        )
    ).all()
    return list(rows), number, pages


async def set_home(session: AsyncSession, challenge_id: int, **values: Any) -> None:
    challenge = await session.get(Challenge, challenge_id)
    if challenge is None:
        return
    for key, value in values.items():
        setattr(challenge, key, value)


#: The outbox's done handler that records a part of a challenge's home (its role, channel or
#: forum post, pinned description, teams message) as Discord makes it, in the same
#: transaction: a home cut by a crash goes on from the parts recorded, none made twice.
HOME_MADE = "challenges.home_made"

#: Which of a challenge's columns a made part fills, by the part.
HOME_PARTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "role": ("role_id", ("role_id",)),
    "channel": ("channel_id", ("channel_id",)),
    "post": ("channel_id", ("thread_id", "pinned_message_id")),  # a post opens with it
    "description": ("message_id", ("pinned_message_id",)),
    "teams": ("message_id", ("teams_message_id",)),
}


def home_ref(challenge_id: int, part: str) -> dict[str, Any]:
    return {"challenge_id": challenge_id, "part": part}


@outbox.on_done(HOME_MADE)
async def _home_made(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    ref = write.payload["ref"]
    if error is not None or result is None:
        log.warning(
            "challenge %s: Discord refused its %s: %s", ref["challenge_id"], ref["part"], error
        )
        return
    challenge = await session.get(Challenge, int(ref["challenge_id"]))
    if challenge is None:
        return
    source, columns = HOME_PARTS[ref["part"]]
    for column in columns:
        setattr(challenge, column, int(result[source]))
    if ref["part"] == "teams":
        challenge.listing = {"digest": listing_digest([]), "team_ids": []}


async def by_home(session: AsyncSession, channel_id: int) -> Challenge | None:
    return await session.scalar(
        select(Challenge).where(
            or_(Challenge.channel_id == channel_id, Challenge.thread_id == channel_id),
            Challenge.archived_at.is_(None),
        )
    )


# --------------------------------------------------------------------------
# Followers


async def toggle_follow(session: AsyncSession, challenge_id: int, member_id: int) -> bool:
    """Follow, or stop following. Returns whether the member follows it now."""
    await get(session, challenge_id)
    existing = await session.scalar(
        select(ChallengeFollower).where(
            ChallengeFollower.challenge_id == challenge_id,
            ChallengeFollower.member_discord_id == member_id,
        )
    )
    if existing is not None:
        await session.delete(existing)
        return False
    session.add(ChallengeFollower(challenge_id=challenge_id, member_discord_id=member_id))
    return True


async def followers(session: AsyncSession, challenge_id: int) -> list[int]:
    return list(
        (
            await session.scalars(
                select(ChallengeFollower.member_discord_id).where(
                    ChallengeFollower.challenge_id == challenge_id
                )
            )
        ).all()
    )


# --------------------------------------------------------------------------
# Where a challenge lives


@dataclass(frozen=True)
class HomePlan:
    """``kind`` "channel": a text channel in category ``category`` (``create_category`` when
    it does not exist yet); "post": a post in the challenges forum (``create_forum`` when
    it does not exist yet); "none": not even that fits (the server is full)."""

    kind: str
    category: str | None = None
    create_category: bool = False
    create_forum: bool = False


def category_name(base: str, index: int) -> str:
    """ "Challenges", "Challenges 2", "Challenges 3"..."""
    return base if index == 1 else f"{base} {index}"


def plan_home(
    *,
    channel_count: int,
    categories: dict[str, int],
    base_category: str,
    forum_exists: bool,
    reserve: int,
) -> HomePlan:
    """Where the next challenge goes.

    ``channel_count``: the server's channels (categories included, threads not);
    ``categories``: children count of each existing challenge category by name.
    A channel is used while, after creating it (and its category if needed),
    ``reserve`` slots of Discord's 500 stay free for other features; then a forum post.
    """
    free = GUILD_CHANNELS_MAX - channel_count
    index = 1
    while True:
        name = category_name(base_category, index)
        if name not in categories:
            if free - 2 >= reserve:
                return HomePlan("channel", name, create_category=True)
            break
        if categories[name] < CATEGORY_CHANNELS_MAX:
            if free - 1 >= reserve:
                return HomePlan("channel", name)
            break
        index += 1
    if forum_exists:
        return HomePlan("post", create_forum=False)
    if free >= 1:
        return HomePlan("post", create_forum=True)
    return HomePlan("none")


def role_fits(role_count: int, reserve: int) -> bool:
    """Whether one more role leaves ``reserve`` of Discord's 250 free."""
    return GUILD_ROLES_MAX - role_count - 1 >= reserve


# --------------------------------------------------------------------------
# Teams (issue 4's tables, read defensively)


@dataclass(frozen=True)
class TeamLine:
    id: int
    name: str
    members: int
    looking_for: tuple[str, ...]
    open: bool


def _team_models() -> tuple[Any, Any] | None:
    try:
        from bot.models.teams import Team, TeamMember
    except ImportError:
        return None
    return Team, TeamMember


async def team_counts(session: AsyncSession, challenge_ids: list[int]) -> dict[int, int]:
    """How many active teams work on each of ``challenge_ids``, in one query (0 when none)."""
    counts = dict.fromkeys(challenge_ids, 0)
    models = _team_models()
    if models is None or not challenge_ids:
        return counts
    Team, _ = models
    query = (
        select(Team.challenge_id, func.count(Team.id))
        .where(Team.challenge_id.in_(challenge_ids), Team.archived_at.is_(None))
        .group_by(Team.challenge_id)
    )
    try:
        async with session.begin_nested():
            rows = (await session.execute(query)).all()
    except DBAPIError:
        log.warning("teams table not readable yet: challenge listings show no teams")
        return counts
    counts.update({int(challenge_id): int(n) for challenge_id, n in rows})
    return counts


async def teams_for(session: AsyncSession, challenge_id: int) -> list[TeamLine]:
    """The teams working on a challenge, by name. Empty when the teams feature is absent."""
    models = _team_models()
    if models is None:
        return []
    Team, TeamMember = models
    query = (
        select(Team, func.count(TeamMember.id))
        .outerjoin(TeamMember, TeamMember.team_id == Team.id)
        .where(Team.challenge_id == challenge_id)
        .group_by(Team.id)
        .order_by(Team.name)
    )
    if hasattr(Team, "archived_at"):
        query = query.where(Team.archived_at.is_(None))
    try:
        async with session.begin_nested():
            rows = (await session.execute(query)).all()
    except DBAPIError:
        log.warning("teams table not readable yet: challenge listings show no teams")
        return []
    return [
        TeamLine(
            id=team.id,
            name=team.name,
            members=int(count),
            looking_for=tuple(str(x) for x in (getattr(team, "looking_for", None) or [])),
            open=bool(getattr(team, "open", False)),
        )
        for team, count in rows
    ]


async def challenge_of_team(session: AsyncSession, team_id: int) -> int | None:
    models = _team_models()
    if models is None:
        return None
    Team, _ = models
    try:
        async with session.begin_nested():
            return await session.scalar(select(Team.challenge_id).where(Team.id == team_id))
    except DBAPIError:
        return None


async def challenges_to_refresh(session: AsyncSession, team_id: int) -> list[int]:
    """The team's challenge now, and any challenge whose listing still shows it (it moved)."""
    ids: set[int] = set()
    current = await challenge_of_team(session, team_id)
    if current is not None:
        ids.add(current)
    # Only the two columns needed (no ORM objects: this runs on every team change).
    listed = await session.execute(
        select(Challenge.id, Challenge.listing).where(Challenge.archived_at.is_(None))
    )
    for challenge_id, listing in listed:
        if team_id in (listing or {}).get("team_ids", []):
            ids.add(challenge_id)
    return sorted(ids)


def listing_digest(lines: list[TeamLine]) -> str:
    payload = [[t.id, t.name, t.members, list(t.looking_for), t.open] for t in lines]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]
