"""Team rules: creating, joining, requests and invitations, leaving, captaincy, archiving.

Every function takes the session of a write transaction (``db.begin()``) and plain
values (Discord user ids), checks the rules, changes rows and returns what the
adapter needs to tell people and to update the team's space. Nothing here talks to
Discord; after a change the cog refreshes the space and dispatches
``hackbot_team_changed``.

Guarantees:

* a participant is in at most one team (unique ``team_members.member_id``);
* a team never exceeds ``teams.max_size``: the size is checked inside the write
  transaction, which the database serialises (SQLite ``BEGIN IMMEDIATE``,
  PostgreSQL advisory lock), so two people taking the last seat at the same moment
  cannot both get it;
* team names are unique case- and accent-insensitively (``name_folded``) and have a
  unique channel-safe slug;
* a team always has a captain while it has members; when the captain leaves, the
  longest-standing member takes over; a team left empty is archived.

For other features: :func:`team_of` (a member's team), :func:`team_members`,
:func:`space_of` (where a team lives on Discord), :func:`access_list` /
:func:`grant_access` / :func:`revoke_access` (people other than members who may see
the space, e.g. mentors).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound
from bot.models import AuditEntry, Member
from bot.models.challenges import Challenge
from bot.models.outbox import Priority
from bot.models.teams import Profile, Team, TeamAccess, TeamMember, TeamRequest
from bot.services import matching, names, outbox, timeline

log = logging.getLogger(__name__)

TEAM_CHANGES = "team_changes"
NEW_TEAMS = "new_teams"
REGISTRATION = "registration"
PAGE_SIZE = 10
#: Teams a person may create and leave empty within the create cooldown before waiting.
CREATE_FREE_RESTARTS = 1
#: Rows written per statement by autoform (all of 28,000 in one would hold every parameter).
INSERT_SLICE = 2000


# --------------------------------------------------------------------------
# Phase gating


async def require_open(
    session: AsyncSession, settings: Settings, now: datetime, capability: str
) -> None:
    """Raise :class:`PhaseClosed` unless the timeline opens ``capability`` now (saying when
    it opens or since when it is closed). The one place team and registration rules ask."""
    await timeline.require_open(session, capability, now)


# --------------------------------------------------------------------------
# Results


@dataclass
class TeamView:
    id: int
    name: str
    slug: str
    description: str
    open: bool
    challenge_id: int | None
    challenge_name: str | None
    captain_discord_id: int | None
    member_discord_ids: list[int]
    member_names: list[str]
    looking_for: list[str]
    space_kind: str | None
    channel_id: int | None
    archived: bool

    @property
    def size(self) -> int:
        return len(self.member_discord_ids)


@dataclass
class Change:
    """What a rule changed, for the adapter: which team, and who to tell."""

    team_id: int
    team_name: str
    joined: list[int] = field(default_factory=list)  # discord ids
    left: list[int] = field(default_factory=list)
    new_captain: int | None = None
    archived: bool = False
    request_id: int | None = None
    outcome: Literal["joined", "requested", "invited", "declined", "changed"] = "changed"


class TeamFull(HackbotError):
    key = "teams.full"


# --------------------------------------------------------------------------
# Lookups


async def member_row(session: AsyncSession, discord_id: int) -> Member | None:
    return await session.scalar(select(Member).where(Member.discord_id == discord_id))


async def participant(session: AsyncSession, discord_id: int) -> tuple[Member, Profile]:
    """The registered participant behind a Discord user, or an error telling them to register."""
    row = (
        await session.execute(
            select(Member, Profile)
            .join(Profile, Profile.member_id == Member.id)
            .where(Member.discord_id == discord_id)
        )
    ).first()
    if row is None:
        raise NotAllowed("teams.not_registered")
    return row[0], row[1]


async def other_participant(session: AsyncSession, discord_id: int) -> tuple[Member, Profile]:
    try:
        return await participant(session, discord_id)
    except NotAllowed:
        raise NotAllowed("teams.other_not_registered", user=f"<@{discord_id}>") from None


async def team_of(session: AsyncSession, discord_id: int) -> Team | None:
    """The (active) team of a Discord user, or None."""
    return await session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .join(Member, Member.id == TeamMember.member_id)
        .where(Member.discord_id == discord_id)
    )


async def get_team(session: AsyncSession, team_id: int, *, active: bool = True) -> Team:
    team = await session.get(Team, team_id)
    if team is None or (active and team.archived_at is not None):
        raise NotFound("teams.unknown")
    return team


async def find_team(session: AsyncSession, text: str) -> Team:
    """A team from what a user typed or picked in autocomplete (id, slug or name)."""
    value = (text or "").strip()
    team = None
    if value.isdigit():
        team = await session.get(Team, int(value))
    if team is None:
        team = await session.scalar(
            select(Team).where(
                (Team.name_folded == names.fold(value)) | (Team.slug == value.lower())
            )
        )
    if team is None or team.archived_at is not None:
        raise NotFound("teams.unknown_named", name=value[:100])
    return team


async def team_members(session: AsyncSession, team_id: int) -> list[tuple[Member, TeamMember]]:
    """Members of a team, longest-standing first."""
    rows = await session.execute(
        select(Member, TeamMember)
        .join(TeamMember, TeamMember.member_id == Member.id)
        .where(TeamMember.team_id == team_id)
        .order_by(TeamMember.joined_at, TeamMember.id)
    )
    return [(m, tm) for m, tm in rows.all()]


async def member_discord_ids(session: AsyncSession, team_id: int) -> list[int]:
    return [m.discord_id for m, _ in await team_members(session, team_id)]


async def size_of(session: AsyncSession, team_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(TeamMember).where(TeamMember.team_id == team_id)
        )
        or 0
    )


@dataclass(frozen=True)
class Space:
    kind: str | None  # "channel", "thread" or None (not created yet)
    channel_id: int | None  # the text channel or the thread
    voice_channel_id: int | None


async def space_of(session: AsyncSession, team_id: int) -> Space:
    """Where a team lives on Discord (for broadcasts, mentors, judging)."""
    team = await get_team(session, team_id, active=False)
    return Space(team.space_kind, team.channel_id, team.voice_channel_id)


async def access_list(session: AsyncSession, team_id: int) -> list[int]:
    """Discord ids of non-members who may see the team's space (mentors helping it)."""
    rows = await session.scalars(
        select(TeamAccess.discord_id).where(TeamAccess.team_id == team_id).order_by(TeamAccess.id)
    )
    return list(rows.all())


async def grant_access(
    session: AsyncSession, team_id: int, discord_id: int, *, reason: str = "mentor"
) -> bool:
    """Let a non-member see the team's space. True if it was not granted already."""
    await get_team(session, team_id)
    existing = await session.scalar(
        select(TeamAccess).where(TeamAccess.team_id == team_id, TeamAccess.discord_id == discord_id)
    )
    if existing is not None:
        return False
    session.add(TeamAccess(team_id=team_id, discord_id=discord_id, reason=reason))
    await session.flush()
    return True


async def revoke_access(session: AsyncSession, team_id: int, discord_id: int) -> bool:
    existing = await session.scalar(
        select(TeamAccess).where(TeamAccess.team_id == team_id, TeamAccess.discord_id == discord_id)
    )
    if existing is None:
        return False
    await session.delete(existing)
    await session.flush()
    return True


async def view(session: AsyncSession, team: Team) -> TeamView:
    members = await team_members(session, team.id)
    challenge = await session.get(Challenge, team.challenge_id) if team.challenge_id else None
    captain = await session.get(Member, team.captain_member_id) if team.captain_member_id else None
    return TeamView(
        id=team.id,
        name=team.name,
        slug=team.slug,
        description=team.description,
        open=team.open,
        challenge_id=team.challenge_id,
        challenge_name=challenge.name if challenge else None,
        captain_discord_id=captain.discord_id if captain else None,
        member_discord_ids=[m.discord_id for m, _ in members],
        member_names=[m.display_name for m, _ in members],
        looking_for=list(team.looking_for or []),
        space_kind=team.space_kind,
        channel_id=team.channel_id,
        archived=team.archived_at is not None,
    )


def _size_of_team() -> Any:
    """A team's member count, counted for the rows a query returns only (through the index on
    ``team_members.team_id``): a join on every team's count grouped the whole membership
    table for each autocomplete (5 ms with 1,500 teams, now a fraction of one)."""
    return (
        select(func.count())
        .select_from(TeamMember)
        .where(TeamMember.team_id == Team.id)
        .correlate(Team)
        .scalar_subquery()
    )


async def search(
    session: AsyncSession, typed: str, *, limit: int = 25, challenge_id: int | None = None
) -> list[tuple[int, str, int]]:
    """(id, name, size) of active teams whose name contains what was typed, for autocomplete."""
    folded = names.fold(typed or "")
    query = select(Team.id, Team.name, _size_of_team()).where(Team.archived_at.is_(None))
    if folded:
        query = query.where(Team.name_folded.contains(folded, autoescape=True))
    if challenge_id is not None:
        query = query.where(Team.challenge_id == challenge_id)
    query = query.order_by(Team.name_folded).limit(limit)
    return [(i, n, int(s)) for i, n, s in (await session.execute(query)).all()]


async def list_page(
    session: AsyncSession, *, challenge_id: int | None, page: int, per_page: int = PAGE_SIZE
) -> tuple[list[tuple[Team, int]], int]:
    """One page of active teams (with their sizes) and the number of pages."""
    where = [Team.archived_at.is_(None)]
    if challenge_id is not None:
        where.append(Team.challenge_id == challenge_id)
    total = int(await session.scalar(select(func.count()).select_from(Team).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = await session.execute(
        select(Team, _size_of_team())
        .where(*where)
        .order_by(Team.name_folded)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [(team, int(n)) for team, n in rows.all()], pages


async def challenge_choices(session: AsyncSession, typed: str, limit: int = 25) -> list[Challenge]:
    """Non-archived challenges matching what was typed, for autocomplete."""
    query = select(Challenge).where(Challenge.archived_at.is_(None))
    folded = names.fold(typed or "")
    if folded:
        query = query.where(Challenge.name_folded.contains(folded, autoescape=True))
    query = query.order_by(Challenge.position, Challenge.name_folded).limit(limit)
    return list((await session.scalars(query)).all())


async def find_challenge(session: AsyncSession, text: str | None) -> Challenge | None:
    """A non-archived challenge from an autocomplete value (id) or a typed name; None if blank."""
    value = (text or "").strip()
    if not value:
        return None
    found = None
    if value.isdigit():
        found = await session.get(Challenge, int(value))
    if found is None:
        found = await session.scalar(
            select(Challenge).where(
                (Challenge.name_folded == names.fold(value)) | (Challenge.slug == value.lower())
            )
        )
    if found is None or found.archived_at is not None:
        raise NotFound("teams.unknown_challenge", name=value[:100])
    return found


# --------------------------------------------------------------------------
# Names


async def _check_name(
    session: AsyncSession, settings: Settings, raw: str, *, exclude_team: int | None = None
) -> tuple[str, str, str]:
    """(name, folded, slug) for a new or renamed team, or InvalidInput/Conflict."""
    name = names.clean_name(raw, min_length=2, max_length=settings.formation.name_max_length)
    folded = names.fold(name)
    clash = await session.scalar(select(Team).where(Team.name_folded == folded))
    if clash is not None and clash.id != exclude_team:
        raise Conflict("teams.name_taken", name=clash.name)

    taken_slugs = set(
        (
            await session.scalars(
                select(Team.slug).where(
                    Team.slug.startswith(names.slugify(name), autoescape=True),
                    Team.id != (exclude_team or 0),
                )
            )
        ).all()
    )
    slug = names.unique_slug(names.slugify(name), lambda s: s in taken_slugs)
    return name, folded, slug


# --------------------------------------------------------------------------
# Rules


def _audit(
    session: AsyncSession,
    actor: int | None,
    action: str,
    team: Team,
    *,
    at: datetime | None = None,
    **detail: object,
) -> None:
    entry = AuditEntry(
        actor_discord_id=actor,
        action=action,
        subject=f"team:{team.id}",
        detail={"team": team.name, **detail},
    )
    if at is not None:
        entry.at = at
    session.add(entry)


async def _add_member(
    session: AsyncSession, settings: Settings, team: Team, member: Member
) -> None:
    if await size_of(session, team.id) >= settings.teams.max_size:
        raise TeamFull(team=team.name, max=settings.teams.max_size)
    session.add(TeamMember(team_id=team.id, member_id=member.id))
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("teams.already_in_team") from None
    if team.captain_member_id is None:
        team.captain_member_id = member.id
    # Pending requests and invitations of this member elsewhere are moot now.
    for request in (
        await session.scalars(
            select(TeamRequest).where(
                TeamRequest.member_id == member.id, TeamRequest.status == "pending"
            )
        )
    ).all():
        request.status = "withdrawn" if request.team_id != team.id else "accepted"


async def _not_in_a_team(session: AsyncSession, member: Member, *, other: bool = False) -> None:
    current = await session.scalar(
        select(Team)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.member_id == member.id)
    )
    if current is not None:
        if other:
            raise Conflict("teams.other_in_team", user=f"<@{member.discord_id}>", team=current.name)
        raise Conflict("teams.already_in_team_named", team=current.name)


async def create_team(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    discord_id: int,
    name: str,
    *,
    challenge: str | None = None,
    description: str | None = None,
    override: bool = False,
) -> Change:
    """A registered participant without a team creates one and becomes its captain.

    Needs ``new_teams`` open (config validation makes every phase that opens it open
    ``team_changes`` too)."""
    if not override:
        await require_open(session, settings, now, NEW_TEAMS)
    member, _profile = await participant(session, discord_id)
    await _not_in_a_team(session, member)
    if not override:
        await _create_cooldown(session, settings, now, discord_id)
    clean, folded, slug = await _check_name(session, settings, name)
    found = await find_challenge(session, challenge)
    text = _clean_description(description)
    team = Team(
        name=clean,
        name_folded=folded,
        slug=slug,
        description=text,
        challenge_id=found.id if found else None,
        open=settings.formation.open_by_default,
        looking_for=[],
        created_at=now,
        updated_at=now,
    )
    session.add(team)
    await session.flush()
    await _add_member(session, settings, team, member)
    team.captain_member_id = member.id
    _audit(session, discord_id, "team.create", team, at=now)  # the event's clock: cooldown
    return Change(team.id, team.name, joined=[discord_id], outcome="joined")


async def _create_cooldown(
    session: AsyncSession, settings: Settings, now: datetime, discord_id: int
) -> None:
    """Creating a team and leaving it empty, in a loop, would open a new private channel
    each time and eat the server's 500. Starting over once is normal; after two teams you
    created within ``create_cooldown_minutes`` were left empty, you wait until the older
    one is that old before creating another."""
    wait = timedelta(minutes=settings.formation.create_cooldown_minutes)
    if not wait:
        return
    recent = (
        await session.execute(
            select(AuditEntry.at, AuditEntry.subject).where(
                AuditEntry.action == "team.create",
                AuditEntry.actor_discord_id == discord_id,
                AuditEntry.at > now - wait,
            )
        )
    ).all()
    abandoned = []
    for at, subject in recent:
        team = await session.get(Team, int(str(subject).removeprefix("team:")))
        if team is not None and team.archived_at is not None:
            abandoned.append(at)
    if len(abandoned) >= CREATE_FREE_RESTARTS + 1:
        raise cooldown_error(min(abandoned) + wait - now)


def _clean_description(text: str | None) -> str:
    if not text:
        return ""
    hidden = names.invisible_characters(text)
    if hidden:
        raise InvalidInput("names.team.invisible", codes=", ".join(dict.fromkeys(hidden)))
    return " ".join(text.split())[:300]


async def join_team(
    session: AsyncSession, settings: Settings, now: datetime, discord_id: int, team_text: str
) -> Change:
    """Join an open team (or one that invited you); ask to join a closed one."""
    await require_open(session, settings, now, TEAM_CHANGES)
    member, _profile = await participant(session, discord_id)
    team = await find_team(session, team_text)
    await _not_in_a_team(session, member)
    invitation = await session.scalar(
        select(TeamRequest).where(
            TeamRequest.team_id == team.id,
            TeamRequest.member_id == member.id,
            TeamRequest.kind == "invite",
            TeamRequest.status == "pending",
        )
    )
    if team.open or invitation is not None:
        await _add_member(session, settings, team, member)
        if invitation is not None:
            invitation.status = "accepted"
            invitation.decided_at = now
            invitation.decided_by_discord_id = discord_id
        _audit(session, discord_id, "team.join", team)
        return Change(team.id, team.name, joined=[discord_id], outcome="joined")
    if await size_of(session, team.id) >= settings.teams.max_size:
        raise TeamFull(team=team.name, max=settings.teams.max_size)
    request = await _pending(session, team.id, member.id, "request")
    if request is not None:
        raise Conflict("teams.request_pending", team=team.name)
    await _cooldown(session, settings, now, team.id, member.id)
    request = TeamRequest(
        team_id=team.id, member_id=member.id, kind="request", by_member_id=member.id, created_at=now
    )
    session.add(request)
    await session.flush()
    return Change(team.id, team.name, request_id=request.id, outcome="requested")


async def _pending(
    session: AsyncSession, team_id: int, member_id: int, kind: str
) -> TeamRequest | None:
    return await session.scalar(
        select(TeamRequest).where(
            TeamRequest.team_id == team_id,
            TeamRequest.member_id == member_id,
            TeamRequest.kind == kind,
            TeamRequest.status == "pending",
        )
    )


async def _cooldown(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    team_id: int,
    member_id: int,
    kind: str = "request",
) -> None:
    """One join request (or invitation) between the same team and person per
    ``request_cooldown_minutes``: a decline cannot be answered by a stream of new asks."""
    wait = timedelta(minutes=settings.formation.request_cooldown_minutes)
    if not wait:
        return
    last = await session.scalar(
        select(func.max(TeamRequest.created_at)).where(
            TeamRequest.team_id == team_id,
            TeamRequest.member_id == member_id,
            TeamRequest.kind == kind,
        )
    )
    if last is not None and now - last < wait:
        raise cooldown_error(last + wait - now)


def cooldown_error(remaining: timedelta) -> HackbotError:
    minutes = max(1, -(-int(remaining.total_seconds()) // 60))
    return HackbotError("teams.cooldown", minutes=minutes)


async def invite(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    inviter_discord_id: int,
    invitee_discord_id: int,
) -> Change:
    """A team member invites a registered participant without a team."""
    await require_open(session, settings, now, TEAM_CHANGES)
    inviter, _ = await participant(session, inviter_discord_id)
    team = await team_of(session, inviter_discord_id)
    if team is None:
        raise NotAllowed("teams.not_in_team")
    if inviter_discord_id == invitee_discord_id:
        raise InvalidInput("teams.invite_self")
    invitee, _ = await other_participant(session, invitee_discord_id)
    await _not_in_a_team(session, invitee, other=True)
    if await size_of(session, team.id) >= settings.teams.max_size:
        raise TeamFull(team=team.name, max=settings.teams.max_size)
    if await _pending(session, team.id, invitee.id, "invite") is not None:
        raise Conflict("teams.invite_pending", user=f"<@{invitee_discord_id}>")
    await _cooldown(session, settings, now, team.id, invitee.id, kind="invite")
    request = TeamRequest(
        team_id=team.id,
        member_id=invitee.id,
        kind="invite",
        by_member_id=inviter.id,
        created_at=now,
    )
    session.add(request)
    await session.flush()
    return Change(team.id, team.name, request_id=request.id, outcome="invited")


async def answer_request(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    request_id: int,
    answerer_discord_id: int,
    accept: bool,
) -> tuple[Change, int]:
    """Accept or decline a join request (a team member answers) or an invitation (the
    invitee answers). Returns the change and the Discord id of the person who asked/was asked."""
    request = await session.get(TeamRequest, request_id)
    if request is None:
        raise NotFound("teams.request_unknown")
    team = await get_team(session, request.team_id, active=False)
    subject = await session.get(Member, request.member_id)
    assert subject is not None
    if request.kind == "invite":
        if answerer_discord_id != subject.discord_id:
            raise NotAllowed("teams.invite_not_yours")
    else:
        current = await team_of(session, answerer_discord_id)
        if current is None or current.id != team.id:
            raise NotAllowed("teams.request_not_member")
    if request.status != "pending":
        raise Conflict(f"teams.request_already.{request.status}")
    if team.archived_at is not None:
        request.status = "withdrawn"
        raise NotFound("teams.unknown")
    if accept:
        await require_open(session, settings, now, TEAM_CHANGES)
        await _not_in_a_team(session, subject, other=request.kind == "request")
        await _add_member(session, settings, team, subject)
    request.status = "accepted" if accept else "declined"
    request.decided_at = now
    request.decided_by_discord_id = answerer_discord_id
    if accept:
        _audit(session, answerer_discord_id, f"team.{request.kind}.accept", team)
        change = Change(team.id, team.name, joined=[subject.discord_id], outcome="joined")
    else:
        change = Change(team.id, team.name, outcome="declined")
    change.request_id = request.id
    return change, subject.discord_id


async def set_request_message(
    session: AsyncSession, request_id: int, channel_id: int, message_id: int
) -> None:
    request = await session.get(TeamRequest, request_id)
    if request is not None:
        request.channel_id = channel_id
        request.message_id = message_id


#: The outbox's done handler that records where a join request's card was posted.
REQUEST_POSTED = "teams.request_posted"


@outbox.on_done(REQUEST_POSTED)
async def _request_posted(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    if error is not None or result is None:
        log.warning("the card of join request %s could not be posted: %s", write.payload, error)
        return
    await set_request_message(
        session,
        int(write.payload["ref"]["request_id"]),
        int(write.payload["channel_id"]),
        int(result["message_id"]),
    )


#: The outbox's done handler that records a team's new space (a channel, its voice channel,
#: or a private thread) and gives it its welcome and its people.
SPACE_CREATED = "teams.space_created"


@outbox.on_done(SPACE_CREATED)
async def _space_created(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    """``ref``: ``team_id``; ``kind`` ("channel" or "thread", absent for a voice channel);
    ``welcome`` (text); for a channel, the ``members`` its overwrites already name and the
    ``allow``/``deny`` bits a member gets. Whoever joined or left while the space was being
    made is added or removed here, so the space matches the team once it exists."""
    ref = write.payload["ref"]
    if error is not None or result is None:
        log.warning("team %s: Discord refused its space: %s", ref["team_id"], error)
        return
    channel_id = int(result["channel_id"])
    team = await session.get(Team, int(ref["team_id"]))
    if team is None:
        log.warning("a space (%s) was made for a team that is gone", channel_id)
        return
    kind = ref.get("kind")
    if kind is None:  # the voice channel of a team's text channel
        team.voice_channel_id = channel_id
    elif team.channel_id not in (None, channel_id):
        log.warning(
            "team %s already has the space %s, not %s", team.id, team.channel_id, channel_id
        )
        return
    else:
        team.space_kind, team.channel_id = kind, channel_id
    wanted = set(await member_discord_ids(session, team.id))
    wanted |= set(await access_list(session, team.id))
    writes: list[outbox.Write] = []
    if ref.get("welcome"):
        writes.append(outbox.message_send(channel_id, content=ref["welcome"]))
    if kind == "thread":
        writes += [outbox.thread_add(channel_id, user_id) for user_id in sorted(wanted)]
    else:
        given = {int(user_id) for user_id in ref.get("members") or []}
        writes += [
            outbox.overwrite_set(
                channel_id,
                user_id,
                allow=int(ref["allow"]),
                deny=int(ref["deny"]),
                reason=ref.get("reason"),
            )
            for user_id in sorted(wanted - given)
        ]
        writes += [
            outbox.overwrite_delete(channel_id, user_id, reason=ref.get("reason"))
            for user_id in sorted(given - wanted)
        ]
    await outbox.enqueue_many(session, now, writes)


#: The outbox's done handler of a "Talk" conversation (a private thread on the board): its
#: people are added and greeted, notified by name only.
TALK_OPENED = "teams.talk_opened"


@outbox.on_done(TALK_OPENED)
async def _talk_opened(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    if error is not None or result is None:
        log.warning("a conversation thread could not be opened: %s", error)
        return
    thread_id = int(result["channel_id"])
    people = [int(p) for p in write.payload["ref"]["people"]]
    writes = [outbox.thread_add(thread_id, person, priority=Priority.URGENT) for person in people]
    writes.append(
        outbox.message_send(
            thread_id,
            content=write.payload["ref"]["intro"],
            mentions={"parse": [], "users": [str(p) for p in people]},
            priority=Priority.URGENT,
        )
    )
    await outbox.enqueue_many(session, now, writes)


async def _remove(
    session: AsyncSession, now: datetime, team: Team, member: Member, actor: int | None, action: str
) -> Change:
    link = await session.scalar(
        select(TeamMember).where(TeamMember.member_id == member.id, TeamMember.team_id == team.id)
    )
    if link is None:
        raise NotFound("teams.not_member", user=f"<@{member.discord_id}>")
    await session.delete(link)
    await session.flush()
    change = Change(team.id, team.name, left=[member.discord_id])
    if team.captain_member_id == member.id:
        remaining = await team_members(session, team.id)
        if remaining:
            team.captain_member_id = remaining[0][0].id
            change.new_captain = remaining[0][0].discord_id
        else:
            team.captain_member_id = None
    if await size_of(session, team.id) == 0:
        archive(team, now)
        change.archived = True
    team.updated_at = now
    _audit(session, actor, action, team, member=member.discord_id, archived=change.archived)
    return change


def archive(team: Team, now: datetime) -> None:
    """Archive a team: its name and slug become free again (kept with a ``~id`` prefix)."""
    team.archived_at = now
    team.name_folded = f"~{team.id}~{team.name_folded}"[:120]
    team.slug = f"~{team.id}~{team.slug}"[:120]
    team.open = False


async def leave_team(
    session: AsyncSession, settings: Settings, now: datetime, discord_id: int
) -> Change:
    await require_open(session, settings, now, TEAM_CHANGES)
    member, _ = await participant(session, discord_id)
    team = await team_of(session, discord_id)
    if team is None:
        raise NotAllowed("teams.not_in_team")
    return await _remove(session, now, team, member, discord_id, "team.leave")


async def member_left_guild(session: AsyncSession, now: datetime, discord_id: int) -> Change | None:
    """Someone left the Discord server: they leave their team, whatever the phase."""
    member = await member_row(session, discord_id)
    team = await team_of(session, discord_id)
    if member is None or team is None:
        return None
    for request in (
        await session.scalars(
            select(TeamRequest).where(
                TeamRequest.member_id == member.id, TeamRequest.status == "pending"
            )
        )
    ).all():
        request.status = "withdrawn"
    return await _remove(session, now, team, member, None, "team.left_guild")


async def _captain_team(session: AsyncSession, discord_id: int) -> tuple[Member, Team]:
    member, _ = await participant(session, discord_id)
    team = await team_of(session, discord_id)
    if team is None:
        raise NotAllowed("teams.not_in_team")
    if team.captain_member_id != member.id:
        raise NotAllowed("teams.captain_only")
    return member, team


async def kick(
    session: AsyncSession, settings: Settings, now: datetime, captain_id: int, target_id: int
) -> Change:
    await require_open(session, settings, now, TEAM_CHANGES)
    _captain, team = await _captain_team(session, captain_id)
    if target_id == captain_id:
        raise InvalidInput("teams.kick_self")
    target = await member_row(session, target_id)
    if target is None:
        raise NotFound("teams.not_member", user=f"<@{target_id}>")
    return await _remove(session, now, team, target, captain_id, "team.kick")


async def set_captain(
    session: AsyncSession, settings: Settings, now: datetime, captain_id: int, target_id: int
) -> Change:
    _captain, team = await _captain_team(session, captain_id)
    target = await member_row(session, target_id)
    current = await team_of(session, target_id) if target else None
    if target is None or current is None or current.id != team.id:
        raise NotFound("teams.not_member", user=f"<@{target_id}>")
    if target_id == captain_id:
        raise InvalidInput("teams.already_captain")
    team.captain_member_id = target.id
    team.updated_at = now
    _audit(session, captain_id, "team.captain", team, captain=target_id)
    return Change(team.id, team.name, new_captain=target_id)


async def rename(
    session: AsyncSession, settings: Settings, now: datetime, captain_id: int, new_name: str
) -> tuple[Change, str]:
    """Returns the change and the old name."""
    await require_open(session, settings, now, TEAM_CHANGES)
    _captain, team = await _captain_team(session, captain_id)
    return await _rename(session, now, team, new_name, captain_id, settings)


async def _rename(
    session: AsyncSession,
    now: datetime,
    team: Team,
    new_name: str,
    actor: int | None,
    settings: Settings,
) -> tuple[Change, str]:
    clean, folded, slug = await _check_name(session, settings, new_name, exclude_team=team.id)
    old = team.name
    if clean == old:
        raise InvalidInput("teams.same_name")
    team.name, team.name_folded, team.slug = clean, folded, slug
    team.updated_at = now
    _audit(session, actor, "team.rename", team, old=old)
    return Change(team.id, team.name), old


async def set_challenge(
    session: AsyncSession, settings: Settings, now: datetime, captain_id: int, challenge: str | None
) -> Change:
    await require_open(session, settings, now, TEAM_CHANGES)
    _captain, team = await _captain_team(session, captain_id)
    found = await find_challenge(session, challenge)
    team.challenge_id = found.id if found else None
    team.updated_at = now
    _audit(session, captain_id, "team.challenge", team, challenge=team.challenge_id)
    return Change(team.id, team.name)


async def set_open(
    session: AsyncSession, settings: Settings, now: datetime, captain_id: int, is_open: bool
) -> Change:
    _captain, team = await _captain_team(session, captain_id)
    team.open = is_open
    team.updated_at = now
    return Change(team.id, team.name)


async def set_looking_for(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    discord_id: int,
    profile_types: list[str],
) -> tuple[Team, int]:
    """A member marks what the team is looking for (before posting its card). Returns the
    team and its size."""
    await participant(session, discord_id)
    team = await team_of(session, discord_id)
    if team is None:
        raise NotAllowed("teams.not_in_team")
    size = await size_of(session, team.id)
    if size >= settings.teams.max_size:
        raise TeamFull(team=team.name, max=settings.teams.max_size)
    known = set(settings.registration.profile_types)
    team.looking_for = [p for p in profile_types if p in known]
    wait = timedelta(minutes=settings.formation.card_cooldown_minutes)
    if wait and team.card_posted_at is not None and now - team.card_posted_at < wait:
        raise cooldown_error(team.card_posted_at + wait - now)
    team.card_posted_at = now
    team.updated_at = now
    return team, size


# --------------------------------------------------------------------------
# Board cards (/lft and /team recruit)


@dataclass(frozen=True)
class BoardCard:
    channel_id: int
    message_id: int


async def replace_profile_card(
    session: AsyncSession, discord_id: int, channel_id: int, message_id: int
) -> BoardCard | None:
    """Remember a new /lft card; returns the card it replaces (to take off the board)."""
    profile = await session.scalar(
        select(Profile)
        .join(Member, Member.id == Profile.member_id)
        .where(Member.discord_id == discord_id)
    )
    if profile is None:
        return None
    old = _card(profile.card_channel_id, profile.card_message_id)
    profile.card_channel_id, profile.card_message_id = channel_id, message_id
    return old


async def board_card_of(session: AsyncSession, kind: str, owner_id: int) -> BoardCard | None:
    """The card on the board now: a person's /lft card (``kind`` "profile", their Discord
    id) or a team's recruit card ("team", its id)."""
    if kind == "profile":
        profile = await session.scalar(
            select(Profile)
            .join(Member, Member.id == Profile.member_id)
            .where(Member.discord_id == owner_id)
        )
        return _card(profile.card_channel_id, profile.card_message_id) if profile else None
    team = await session.get(Team, owner_id)
    return _card(team.card_channel_id, team.card_message_id) if team else None


async def replace_team_card(
    session: AsyncSession, team_id: int, channel_id: int, message_id: int
) -> BoardCard | None:
    """Remember a new /team recruit card; returns the card it replaces."""
    team = await session.get(Team, team_id)
    if team is None:
        return None
    old = _card(team.card_channel_id, team.card_message_id)
    team.card_channel_id, team.card_message_id = channel_id, message_id
    return old


async def stale_cards(
    session: AsyncSession, settings: Settings, team_id: int, *, forget: bool = True
) -> list[BoardCard]:
    """Cards that no longer say the truth after a change to ``team_id``: the /lft cards of
    its members (they found a team), and its own recruit card when it is full or archived.
    With ``forget`` they are forgotten here, so they are taken off the board once; without
    it nothing is written (a cheap look on a read-only session first)."""
    stale: list[BoardCard] = []
    profiles = await session.scalars(
        select(Profile)
        .join(TeamMember, TeamMember.member_id == Profile.member_id)
        .where(TeamMember.team_id == team_id, Profile.card_message_id.is_not(None))
    )
    for profile in profiles:
        card = _card(profile.card_channel_id, profile.card_message_id)
        if card is not None:
            stale.append(card)
        if forget:
            profile.card_channel_id = profile.card_message_id = None
    team = await session.get(Team, team_id)
    if team is not None and team.card_message_id is not None:
        if team.archived_at is not None or await size_of(session, team_id) >= (
            settings.teams.max_size
        ):
            card = _card(team.card_channel_id, team.card_message_id)
            if card is not None:
                stale.append(card)
            if forget:
                team.card_channel_id = team.card_message_id = None
    return stale


def _card(channel_id: int | None, message_id: int | None) -> BoardCard | None:
    if channel_id is None or message_id is None:
        return None
    return BoardCard(channel_id, message_id)


# --------------------------------------------------------------------------
# Organiser overrides (no phase gate, no captain check)


async def admin_add(
    session: AsyncSession, settings: Settings, now: datetime, actor: int, team_text: str, user: int
) -> Change:
    team = await find_team(session, team_text)
    member, _ = await other_participant(session, user)
    await _not_in_a_team(session, member, other=True)
    await _add_member(session, settings, team, member)
    _audit(session, actor, "admin.team.add", team, member=user)
    return Change(team.id, team.name, joined=[user], outcome="joined")


async def admin_remove(
    session: AsyncSession, settings: Settings, now: datetime, actor: int, user: int
) -> Change:
    member = await member_row(session, user)
    team = await team_of(session, user)
    if member is None or team is None:
        raise NotFound("teams.other_not_in_team", user=f"<@{user}>")
    return await _remove(session, now, team, member, actor, "admin.team.remove")


async def admin_rename(
    session: AsyncSession, settings: Settings, now: datetime, actor: int, team_text: str, name: str
) -> tuple[Change, str]:
    team = await find_team(session, team_text)
    return await _rename(session, now, team, name, actor, settings)


async def admin_captain(
    session: AsyncSession, settings: Settings, now: datetime, actor: int, user: int
) -> Change:
    member = await member_row(session, user)
    team = await team_of(session, user)
    if member is None or team is None:
        raise NotFound("teams.other_not_in_team", user=f"<@{user}>")
    team.captain_member_id = member.id
    _audit(session, actor, "admin.team.captain", team, captain=user)
    return Change(team.id, team.name, new_captain=user)


async def admin_archive(
    session: AsyncSession, settings: Settings, now: datetime, actor: int, team_text: str
) -> Change:
    team = await find_team(session, team_text)
    members = await team_members(session, team.id)
    change = Change(team.id, team.name, left=[m.discord_id for m, _ in members], archived=True)
    for _m, link in members:
        await session.delete(link)
    team.captain_member_id = None
    await session.flush()
    archive(team, now)
    _audit(session, actor, "admin.team.archive", team)
    return change


@dataclass
class FormationReport:
    teams: int
    below_min: list[tuple[int, str, int]]  # id, name, size
    without_team: int  # registered participants with no team
    without_team_opted_in: int


async def formation_report(session: AsyncSession, settings: Settings) -> FormationReport:
    size = (
        select(TeamMember.team_id, func.count().label("n")).group_by(TeamMember.team_id).subquery()
    )
    rows = (
        await session.execute(
            select(Team.id, Team.name, func.coalesce(size.c.n, 0))
            .outerjoin(size, size.c.team_id == Team.id)
            .where(Team.archived_at.is_(None))
            .order_by(Team.name_folded)
        )
    ).all()
    below = [(i, n, int(s)) for i, n, s in rows if int(s) < settings.teams.min_size]
    in_team = select(TeamMember.member_id)
    without = int(
        await session.scalar(
            select(func.count()).select_from(Profile).where(Profile.member_id.not_in(in_team))
        )
        or 0
    )
    opted = int(
        await session.scalar(
            select(func.count())
            .select_from(Profile)
            .where(Profile.member_id.not_in(in_team), Profile.autoform.is_(True))
        )
        or 0
    )
    return FormationReport(len(rows), below, without, opted)


# --------------------------------------------------------------------------
# Automatic formation (the algorithm is in bot.services.matching)


async def autoform_inputs(
    session: AsyncSession, settings: Settings, now: datetime, challenge_id: int | None
) -> tuple[list[matching.Candidate], list[matching.OpenTeam], list[int]]:
    """Who to place (opted in, registered, without a team), teams with room, open challenges."""
    from bot.services.registration import zone_offset

    offsets: dict[str, int] = {}

    def offset_of(zone: str) -> int:
        # Thousands of people share a handful of zones: convert each zone once.
        if zone not in offsets:
            offsets[zone] = zone_offset(zone, now) or 0
        return offsets[zone]

    in_team = select(TeamMember.member_id)
    # Only the columns the matching needs (no ORM objects: 28,000 of them cost a second).
    profiles = (
        await session.execute(
            select(
                Profile.member_id,
                Profile.profile_types,
                Profile.languages,
                Profile.timezone,
                Profile.wishes,
            ).where(Profile.autoform.is_(True), Profile.member_id.not_in(in_team))
        )
    ).all()
    candidates = [
        matching.Candidate(
            member_id=member_id,
            profile_types=tuple(types or ()),
            languages=tuple(languages or ()),
            utc_offset=offset_of(zone),
            wishes=tuple(int(w) for w in wishes or ()),
        )
        for member_id, types, languages, zone, wishes in profiles
    ]
    rows = (
        await session.execute(
            select(Team.id, Team.challenge_id, Profile)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .join(Profile, Profile.member_id == TeamMember.member_id)
            .where(Team.archived_at.is_(None))
        )
    ).all()
    by_team: dict[int, list[Profile]] = {}
    challenge_of: dict[int, int | None] = {}
    for team_id, team_challenge, profile in rows:
        by_team.setdefault(team_id, []).append(profile)
        challenge_of[team_id] = team_challenge
    open_teams = []
    for team_id, members in by_team.items():
        if len(members) >= settings.teams.max_size:
            continue
        if challenge_id is not None and challenge_of[team_id] not in (None, challenge_id):
            continue
        common = set(members[0].languages or ())
        for p in members[1:]:
            common &= set(p.languages or ())
        team_offsets = [offset_of(p.timezone) for p in members]
        open_teams.append(
            matching.OpenTeam(
                team_id=team_id,
                size=len(members),
                challenge_id=challenge_of[team_id],
                profile_types=tuple((p.profile_types or ["other"])[0] for p in members),
                languages=tuple(sorted(common)),
                utc_offset=sum(team_offsets) // len(team_offsets),
            )
        )
    eligible = list(
        (await session.scalars(select(Challenge.id).where(Challenge.archived_at.is_(None)))).all()
    )
    return candidates, open_teams, eligible


@dataclass
class Applied:
    team_ids: list[int]
    created: int
    filled: int
    placed: int
    skipped: int  # people who found a team meanwhile, or whose team filled up


async def apply_plan(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    plan: matching.Plan,
    *,
    run_id: int,
    team_name: str,
    actor: int | None,
) -> Applied:
    """Create the planned teams and add the planned members, re-checking every rule.

    ``team_name`` is a pattern with ``{number}`` ("Team {number}"). Someone who joined a
    team since the preview, or a team that filled up meanwhile, is skipped, not forced.
    """
    busy = set((await session.scalars(select(TeamMember.member_id))).all())
    # Who is still registered: ids only (28,000 ORM objects were ~35 MB held while the
    # teams are written: `python -m bench autoform --memory`).
    members = set((await session.scalars(select(Member.id))).all())
    sizes = dict(
        (
            await session.execute(
                select(TeamMember.team_id, func.count()).group_by(TeamMember.team_id)
            )
        ).all()
    )
    applied = Applied([], 0, 0, 0, 0)
    for team_id, ids in plan.joins.items():
        team = await session.get(Team, team_id)
        if team is None or team.archived_at is not None:
            applied.skipped += len(ids)
            continue
        added = 0
        for member_id in ids:
            if member_id in busy or member_id not in members:
                applied.skipped += 1
                continue
            if sizes.get(team_id, 0) >= settings.teams.max_size:
                applied.skipped += 1
                continue
            session.add(TeamMember(team_id=team_id, member_id=member_id, joined_at=now))
            busy.add(member_id)
            sizes[team_id] = sizes.get(team_id, 0) + 1
            added += 1
        if added:
            applied.filled += 1
            applied.placed += added
            applied.team_ids.append(team_id)
    taken = set((await session.scalars(select(Team.name_folded))).all())
    taken_slugs = set((await session.scalars(select(Team.slug))).all())
    number = 0
    rows: list[dict] = []
    members_of: list[list[int]] = []
    for new in plan.new_teams:
        ids = [i for i in new.member_ids if i not in busy and i in members]
        applied.skipped += len(new.member_ids) - len(ids)
        if not ids:
            continue
        while True:
            number += 1
            name = team_name.format(number=number)
            if names.fold(name) not in taken:
                break
        slug = names.unique_slug(names.slugify(name), lambda s: s in taken_slugs)
        taken.add(names.fold(name))
        taken_slugs.add(slug)
        busy.update(ids)
        rows.append(
            {
                "name": name,
                "name_folded": names.fold(name),
                "slug": slug,
                "description": "",
                "challenge_id": new.challenge_id,
                # The first member of the plan starts as captain.
                "captain_member_id": ids[0],
                "open": settings.formation.open_by_default,
                "looking_for": [],
                "autoform_run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        members_of.append(ids)
    # Bulk inserts (one statement per batch, ids returned in order): 5,600 teams in seconds.
    if rows:
        new_ids = list(
            (
                await session.scalars(
                    insert(Team).returning(Team.id, sort_by_parameter_order=True), rows
                )
            ).all()
        )
        links = [
            {"team_id": team_id, "member_id": member_id, "joined_at": now}
            for team_id, ids in zip(new_ids, members_of, strict=True)
            for member_id in ids
        ]
        # In slices: one statement for 28,000 rows holds all their parameters at once.
        for start in range(0, len(links), INSERT_SLICE):
            await session.execute(insert(TeamMember), links[start : start + INSERT_SLICE])
        applied.created += len(new_ids)
        applied.placed += len(links)
        applied.team_ids.extend(new_ids)
    await session.flush()
    session.add(
        AuditEntry(
            actor_discord_id=actor,
            action="admin.teams.autoform",
            subject=f"autoform:{run_id}",
            detail={"created": applied.created, "filled": applied.filled, "placed": applied.placed},
        )
    )
    return applied
