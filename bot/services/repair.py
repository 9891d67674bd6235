"""Drift repair: what the database says Discord should hold, and the report of what was fixed.

The Discord side (cogs/repair) compares the guild with these reads and puts back what
people deleted or changed by hand; everything it reads from or writes to the database
goes through here. Nothing here talks to Discord.

* :class:`Fix` is one thing a checker put back; :func:`report` turns a run's fixes into
  messages in the reader's language (split to fit Discord's 2,000 characters).
* Permission overwrites are compared on the bits the bot sets itself
  (:func:`lacks`, :func:`merge`): whatever else people added to an overwrite is kept.
* :func:`structure_record` remembers the ids of the roles and channels hackbot keeps (and
  who held the organiser, mentor and judge roles), so a role or channel made again since
  the last run is noticed, even when the start-up set-up already recreated it, and the
  role is given back to the people who had it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.models import AuditEntry, Member, Phase, PhaseMirror
from bot.models.challenges import Challenge
from bot.models.submissions import Submission
from bot.models.teams import AutoformRun, Profile, Team, TeamAccess, TeamMember
from bot.services import event as event_service

#: KV key: {"roles": {kind: {"id", "name", "members"}}, "channels": {kind: {"id", "name"}}}.
STRUCTURE_KEY = "repair.structure"
#: At most this many holders of a role are remembered (organisers, mentors, judges).
ROLE_MEMBERS_KEPT = 2000
MESSAGE_LIMIT = 2000
LINE_LIMIT = 1000
TAIL_ROOM = 100
#: A report longer than this many messages ends with "... and N more (see the log)".
MAX_MESSAGES = 5


@dataclass(frozen=True)
class Term:
    """A parameter of a fix that is itself translated (e.g. "everyone"), in the reader's language."""

    key: str


@dataclass(frozen=True)
class Fix:
    """One thing put back. ``key`` is under ``repair.fix.`` in the catalogue."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        params = {
            name: t(value.key, lang) if isinstance(value, Term) else value
            for name, value in self.params.items()
        }
        return t(f"repair.fix.{self.key}", lang, **params)


def report(fixes: list[Fix], lang: str) -> list[str]:
    """The messages telling an organiser what a run fixed (or that nothing needed it)."""
    if not fixes:
        return [t("repair.report.nothing", lang)]
    messages: list[str] = []
    current = t("repair.report.header", lang, count=len(fixes))
    for index, fix in enumerate(fixes):
        line = "• " + fix.text(lang)
        if len(line) > LINE_LIMIT:
            line = line[: LINE_LIMIT - 1] + "…"
        last = len(messages) == MAX_MESSAGES - 1
        # The last message keeps room for "... and N more".
        limit = MESSAGE_LIMIT - (TAIL_ROOM if last else 0)
        if len(current) + 1 + len(line) <= limit:
            current += "\n" + line
            continue
        if last:
            more = t("repair.report.more", lang, count=len(fixes) - index)
            messages.append(current + "\n" + more)
            return messages
        messages.append(current)
        current = line
    messages.append(current)
    return messages


# --------------------------------------------------------------------------
# Permission overwrites as (allow, deny) bit pairs


def lacks(wanted: tuple[int, int], have: tuple[int, int]) -> bool:
    """Whether ``have`` misses any permission ``wanted`` allows or denies explicitly."""
    want_allow, want_deny = wanted
    have_allow, have_deny = have
    return (want_allow & ~have_allow) != 0 or (want_deny & ~have_deny) != 0


def merge(wanted: tuple[int, int], have: tuple[int, int]) -> tuple[int, int]:
    """``have`` with ``wanted``'s explicit permissions put back; other bits are kept."""
    want_allow, want_deny = wanted
    have_allow, have_deny = have
    allow = (have_allow & ~want_deny) | want_allow
    deny = (have_deny & ~want_allow) | want_deny
    return allow, deny


@dataclass(frozen=True)
class AccessDrift:
    """Member overwrites of a team space against who should see it."""

    missing: list[int]  # should see it, no overwrite
    wrong: list[int]  # have an overwrite lacking what the bot grants
    extra: list[int]  # have an overwrite, should not see it

    def __bool__(self) -> bool:
        return bool(self.missing or self.wrong or self.extra)


def access_drift(
    wanted: Iterable[int], present: dict[int, tuple[int, int]], grant: tuple[int, int]
) -> AccessDrift:
    wanted = set(wanted)
    return AccessDrift(
        missing=sorted(wanted - set(present)),
        wrong=sorted(uid for uid in wanted & set(present) if lacks(grant, present[uid])),
        extra=sorted(set(present) - wanted),
    )


# --------------------------------------------------------------------------
# Roles and channels hackbot keeps


@dataclass(frozen=True)
class Remembered:
    id: int
    name: str
    members: list[int] = field(default_factory=list)


#: channel kind → role kind → (role id, allow, deny): what a kept role was granted there.
RoleOverwrites = dict[str, dict[str, tuple[int, int, int]]]


@dataclass
class StructureRecord:
    roles: dict[str, Remembered] = field(default_factory=dict)
    channels: dict[str, Remembered] = field(default_factory=dict)
    overwrites: RoleOverwrites = field(default_factory=dict)

    def lost_overwrite(
        self, channel: str, role: str, current_role_id: int
    ) -> tuple[int, int] | None:
        """What a role made again had on ``channel`` before (Discord drops it with the role)."""
        old = self.overwrites.get(channel, {}).get(role)
        if old is None or old[0] == current_role_id:
            return None
        return old[1], old[2]

    def remade(self, group: str, kind: str, current_id: int, name: str) -> Remembered | None:
        """What was remembered for ``kind`` if it now has another id under the same name."""
        old = getattr(self, group).get(kind)
        if old is None or old.id == current_id or old.name != name:
            return None
        return old


async def structure_record(session: AsyncSession) -> StructureRecord:
    raw = await event_service.get_state(session, STRUCTURE_KEY) or {}

    def parse(items: dict[str, Any]) -> dict[str, Remembered]:
        return {
            kind: Remembered(int(v["id"]), str(v["name"]), [int(m) for m in v.get("members", [])])
            for kind, v in (items or {}).items()
        }

    overwrites = {
        channel: {role: (int(v[0]), int(v[1]), int(v[2])) for role, v in roles.items()}
        for channel, roles in (raw.get("overwrites") or {}).items()
    }
    return StructureRecord(parse(raw.get("roles", {})), parse(raw.get("channels", {})), overwrites)


async def remember_overwrites(session: AsyncSession, overwrites: RoleOverwrites) -> None:
    """Store the kept roles' overwrites on the channels given (others are kept)."""
    raw = await event_service.get_state(session, STRUCTURE_KEY) or {}
    stored = dict(raw.get("overwrites", {}))
    for channel, roles in overwrites.items():
        stored[channel] = {role: list(bits) for role, bits in roles.items()}
    await event_service.set_state(session, STRUCTURE_KEY, {**raw, "overwrites": stored})


async def remember(
    session: AsyncSession, group: str, items: dict[str, Remembered], *, keep: bool = True
) -> None:
    """Store what ``group`` ("roles" or "channels") holds now; ``keep`` keeps kinds not given."""
    raw = await event_service.get_state(session, STRUCTURE_KEY) or {}
    stored = dict(raw.get(group, {})) if keep else {}
    for kind, item in items.items():
        stored[kind] = {
            "id": item.id,
            "name": item.name,
            "members": sorted(item.members)[:ROLE_MEMBERS_KEPT],
        }
    await event_service.set_state(session, STRUCTURE_KEY, {**raw, group: stored})


async def registered_ids(session: AsyncSession) -> list[int]:
    """Discord ids of everyone registered (they hold the participant role)."""
    rows = await session.scalars(
        select(Member.discord_id).join(Profile, Profile.member_id == Member.id)
    )
    return sorted(rows.all())


# --------------------------------------------------------------------------
# Teams


@dataclass(frozen=True)
class TeamSpace:
    team_id: int
    name: str
    kind: str | None
    channel_id: int | None
    voice_channel_id: int | None
    members: list[int]
    access: list[int]
    # Its space is still being made by an automatic formation run (that run finishes it).
    forming: bool = False
    # The name its space should have (the team's slug).
    slug: str = ""

    @property
    def wanted(self) -> set[int]:
        return set(self.members) | set(self.access)


async def team_spaces(session: AsyncSession, team_id: int | None = None) -> list[TeamSpace]:
    """Every active team (or just ``team_id``), where it lives, and who should see its space."""
    query = select(Team).where(Team.archived_at.is_(None)).order_by(Team.id)
    if team_id is not None:
        query = query.where(Team.id == team_id)
    teams = (await session.scalars(query)).all()
    forming = set(
        (await session.scalars(select(AutoformRun.id).where(AutoformRun.status == "spaces"))).all()
    )
    members: dict[int, list[int]] = {}
    for tid, discord_id in await session.execute(
        select(TeamMember.team_id, Member.discord_id)
        .join(Member, Member.id == TeamMember.member_id)
        .where(TeamMember.team_id == team_id if team_id is not None else true())
        .order_by(TeamMember.id)
    ):
        members.setdefault(tid, []).append(discord_id)
    access: dict[int, list[int]] = {}
    for tid, discord_id in await session.execute(
        select(TeamAccess.team_id, TeamAccess.discord_id)
        .where(TeamAccess.team_id == team_id if team_id is not None else true())
        .order_by(TeamAccess.id)
    ):
        access.setdefault(tid, []).append(discord_id)
    return [
        TeamSpace(
            team.id,
            team.name,
            team.space_kind,
            team.channel_id,
            team.voice_channel_id,
            members.get(team.id, []),
            access.get(team.id, []),
            team.autoform_run_id in forming,
            team.slug,
        )
        for team in teams
    ]


async def team_space(session: AsyncSession, team_id: int) -> TeamSpace | None:
    found = await team_spaces(session, team_id)
    return found[0] if found else None


async def forget_team_space(session: AsyncSession, team_id: int) -> None:
    """The team's space is gone from Discord: the next refresh creates a new one."""
    team = await session.get(Team, team_id)
    if team is not None:
        team.space_kind, team.channel_id, team.voice_channel_id = None, None, None


# --------------------------------------------------------------------------
# Challenges


@dataclass(frozen=True)
class ChallengeHome:
    challenge_id: int
    name: str
    channel_id: int | None
    thread_id: int | None
    role_id: int | None
    pinned_message_id: int | None
    teams_message_id: int | None

    @property
    def home_id(self) -> int | None:
        return self.channel_id or self.thread_id


async def challenge_homes(session: AsyncSession) -> list[ChallengeHome]:
    rows = (
        await session.scalars(
            select(Challenge).where(Challenge.archived_at.is_(None)).order_by(Challenge.id)
        )
    ).all()
    return [
        ChallengeHome(
            c.id,
            c.name,
            c.channel_id,
            c.thread_id,
            c.role_id,
            c.pinned_message_id,
            c.teams_message_id,
        )
        for c in rows
    ]


async def forget_challenge_home(session: AsyncSession, challenge_id: int) -> None:
    """Its channel or post is gone: the next ``ensure_home`` makes a new one (role kept)."""
    challenge = await session.get(Challenge, challenge_id)
    if challenge is not None:
        challenge.channel_id = challenge.thread_id = None
        challenge.pinned_message_id = challenge.teams_message_id = None
        challenge.listing = {}


# --------------------------------------------------------------------------
# The gallery: one forum post per submitted project


@dataclass(frozen=True)
class GalleryPost:
    submission_id: int
    team_name: str
    thread_id: int


async def gallery_posts(session: AsyncSession) -> list[GalleryPost]:
    """Projects the gallery shows (a post was made for them)."""
    rows = await session.execute(
        select(Submission.id, Team.name, Submission.gallery_thread_id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.gallery_thread_id.is_not(None), Submission.gallery_version > 0)
        .order_by(Submission.id)
    )
    return [GalleryPost(sid, name, thread_id) for sid, name, thread_id in rows]


async def post_again(session: AsyncSession, submission_ids: list[int]) -> None:
    """Their posts are gone: the gallery job posts them again (it finds the old ones missing)."""
    for submission_id in submission_ids:
        submission = await session.get(Submission, submission_id)
        if submission is not None:
            submission.gallery_version = 0


# --------------------------------------------------------------------------
# Scheduled events mirroring phases


@dataclass(frozen=True)
class Mirror:
    phase_id: int
    phase_key: str
    event_id: int
    status: str


async def live_mirrors(session: AsyncSession) -> list[Mirror]:
    """Scheduled events the bot keeps for phases that have not ended."""
    rows = await session.execute(
        select(PhaseMirror, Phase.key)
        .join(Phase, Phase.id == PhaseMirror.phase_id)
        .where(PhaseMirror.status != "ended")
        .order_by(Phase.starts_at, Phase.position)
    )
    return [Mirror(m.phase_id, key, m.event_id, m.status) for m, key in rows]


async def forget_mirror(session: AsyncSession, phase_id: int) -> None:
    """The event was deleted on Discord: the next sync creates it again."""
    mirror = await session.scalar(select(PhaseMirror).where(PhaseMirror.phase_id == phase_id))
    if mirror is not None:
        await session.delete(mirror)


async def mark_mirror_stale(session: AsyncSession, phase_id: int) -> None:
    """The event was edited on Discord: the next sync sends the phase's details again."""
    mirror = await session.scalar(select(PhaseMirror).where(PhaseMirror.phase_id == phase_id))
    if mirror is not None:
        mirror.state = ""


async def mirror_ids(session: AsyncSession) -> dict[int, tuple[int, str]]:
    """phase id → (event id, state) for every mirror."""
    rows = await session.scalars(select(PhaseMirror))
    return {m.phase_id: (m.event_id, m.state) for m in rows}


# --------------------------------------------------------------------------
# The audit trail


async def record_run(
    session: AsyncSession, now: datetime, actor_discord_id: int | None, fixes: list[Fix]
) -> None:
    """One audit entry per run that fixed something (English text, for the log and exports)."""
    if not fixes:
        return
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor_discord_id,
            action="repair",
            subject=t("repair.report.header", "en", count=len(fixes))[:200],
            detail={"fixes": [f.text("en") for f in fixes]},
        )
    )
