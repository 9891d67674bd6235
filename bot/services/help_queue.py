"""Mentor help: tickets, the queue, claims, escalation, expiry, ratings and figures.

A team asks for help (:func:`ask`); the ticket waits in the queue, oldest first,
until a mentor claims it (:func:`claim`), then is resolved (:func:`resolve`),
released back to the queue (:func:`release`, or by the idle timer), cancelled by
the team (:func:`cancel`) or expires unclaimed (:func:`expire`). The team rates the
help afterwards (:func:`rate`, :func:`add_comment`).

Guarantees (the database is the truth, nothing lives only in memory):

* one live ticket per team: ``active_team_id`` is unique while a ticket is open or
  claimed;
* exactly one mentor wins a claim: the claim is a conditional
  ``UPDATE ... WHERE status = 'open'`` inside a serialised write transaction, and the
  mentor's own limit (``max_tickets_per_mentor``) is counted in the same transaction;
* every timer (escalation steps, idle claims, expiry, status refreshes) is a stored
  :class:`~bot.models.Timer` carrying the ticket's ``epoch`` (times it entered the
  queue) or ``claims`` count, so a timer for an earlier wait or claim does nothing,
  and a handler run twice (at-least-once delivery) changes nothing the second time.

Routing: a new ticket pings mentors on duty whose skills match its topic (at most
``pings_per_step``, least recently pinged first, never the team's own members nor
mentors already at their limit); when none matches, mentors on duty of any skill.
Each escalation step but the last pings mentors not pinged yet; the last pings the
organisers.

Nothing here talks to Discord; functions return what the adapter must show.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound, PhaseClosed
from bot.models import AuditEntry, Member
from bot.models.challenges import Challenge
from bot.models.help import MEET_KINDS, HelpMentor, HelpTicket
from bot.models.teams import Profile, Team
from bot.services import event as event_service
from bot.services import teams as team_service
from bot.services import timeline

if TYPE_CHECKING:
    from bot.scheduler import TimerScheduler

log = logging.getLogger(__name__)

CAPABILITY = "help_queue"
QUEUE_STATE_KEY = "help.queue"

ESCALATE = "help.escalate"
IDLE = "help.idle"
EXPIRE = "help.expire"
REFRESH = "help.refresh"
TIMER_KINDS = (ESCALATE, IDLE, EXPIRE, REFRESH)

DESCRIPTION_MAX = 300
DETAIL_MAX = 100
COMMENT_MAX = 500
MAX_MENTOR_SKILLS = 20
SKILL_MAX = 50
#: Figures for the estimate use tickets of the last few hours.
RECENT = timedelta(hours=3)
RECENT_COUNT = 50
DEFAULT_HANDLING_MINUTES = 15.0
#: Prior of the smoothed mentor rating: a mentor's mean is pulled towards the event's
#: mean as if they had this many extra ratings at that mean.
RATING_PRIOR_WEIGHT = 3
RATING_PRIOR_MEAN = 4.0
#: A status message far back in the queue is edited when its position moved by a tenth.
EXACT_POSITIONS = 10


# --------------------------------------------------------------------------
# Results


@dataclass
class Asked:
    ticket: HelpTicket
    team_name: str
    space_channel_id: int | None
    pinged: list[int]
    position: int
    eta: int | None
    on_duty: int


@dataclass
class Claimed:
    ticket: HelpTicket
    team_name: str
    space_channel_id: int | None


@dataclass
class Requeued:
    """A claimed ticket back in the queue (released, or idle too long)."""

    ticket: HelpTicket
    mentor_id: int
    team_name: str
    space_channel_id: int | None
    pinged: list[int]
    reason: str  # "released" or "idle"


@dataclass
class Closed:
    """A ticket that left the queue for good (resolved, cancelled, expired)."""

    ticket: HelpTicket
    team_name: str
    space_channel_id: int | None
    mentor_id: int | None  # who held it when it closed (their access goes)


@dataclass
class Escalation:
    ticket: HelpTicket
    step: int
    kind: str  # "mentors" or "organisers"
    pinged: list[int]
    waited_minutes: int


@dataclass
class QueueEntry:
    ticket: HelpTicket
    position: int
    team_name: str
    matches: bool = False


@dataclass(frozen=True)
class Estimator:
    """Estimated waits from mentors on duty and recent claim and handling times."""

    on_duty: int
    capacity: int  # tickets mentors on duty can hold at once
    busy: int  # tickets claimed now
    handling_minutes: float  # median claim → resolve time, recent tickets
    wait_minutes: float | None  # median ask → claim time, recent tickets

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.busy)

    def eta(self, position: int) -> int | None:
        """Minutes until a mentor should reach the ticket at ``position``; None: nobody on duty."""
        if self.capacity <= 0:
            return None
        if position <= self.free:
            hint = self.wait_minutes if self.wait_minutes is not None else 2.0
            return round_eta(min(max(hint, 1.0), 15.0))
        return round_eta((position - self.free) * self.handling_minutes / self.capacity)


def round_eta(minutes: float) -> int:
    """Whole minutes up to 10, then 5-minute steps up to an hour, then 15-minute steps."""
    if minutes <= 10:
        return max(1, math.ceil(minutes))
    if minutes <= 60:
        return int(5 * math.ceil(minutes / 5))
    return int(15 * math.ceil(minutes / 15))


# --------------------------------------------------------------------------
# The queue's state (organisers may close it when swamped)


@dataclass(frozen=True)
class QueueState:
    closed: bool = False
    message: str | None = None
    by: int | None = None
    at: str | None = None


async def queue_state(session: AsyncSession) -> QueueState:
    value = await event_service.get_state(session, QUEUE_STATE_KEY)
    if not isinstance(value, dict):
        return QueueState()
    return QueueState(
        closed=bool(value.get("closed")),
        message=value.get("message"),
        by=value.get("by"),
        at=value.get("at"),
    )


async def require_queue_open(session: AsyncSession, now: datetime) -> None:
    """Raise unless teams may ask now: the timeline opens help (always, without a timeline)
    and the organisers have not closed the queue."""
    if await event_service.timeline(session):
        await timeline.require_open(session, CAPABILITY, now)
    state = await queue_state(session)
    if state.closed:
        if state.message:
            raise PhaseClosed("help.closed_with_message", message=state.message)
        raise PhaseClosed("help.closed")


async def set_closed(
    session: AsyncSession, now: datetime, actor: int, closed: bool, message: str | None = None
) -> list[HelpTicket]:
    """Close or reopen the queue. Returns the tickets waiting now (their teams are told)."""
    text = " ".join((message or "").split())[:DESCRIPTION_MAX] or None
    state = await queue_state(session)
    if state.closed == closed:
        raise Conflict("help.admin.already_closed" if closed else "help.admin.already_open")
    await event_service.set_state(
        session,
        QUEUE_STATE_KEY,
        {"closed": closed, "message": text, "by": actor, "at": now.isoformat()},
    )
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="help.close" if closed else "help.open",
            subject="help_queue",
            detail={"message": text},
        )
    )
    return await waiting(session)


# --------------------------------------------------------------------------
# Topics


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def normalise_skills(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        tag = _fold(str(value))
        if tag and tag not in out:
            out.append(tag)
    return out


async def topic_choices(
    session: AsyncSession, settings: Settings, typed: str, limit: int = 25
) -> list[tuple[str, str]]:
    """(label, value) pairs for the topic autocomplete: configured topics, then challenges."""
    needle = _fold(typed or "")
    out: list[tuple[str, str]] = [
        (topic, topic) for topic in settings.help.topics if needle in topic.casefold()
    ]
    rows = (
        await session.scalars(
            select(Challenge)
            .where(Challenge.archived_at.is_(None))
            .order_by(Challenge.position, Challenge.name)
        )
    ).all()
    out += [(c.name, f"challenge:{c.id}") for c in rows if needle in c.name.casefold()]
    return out[:limit]


async def resolve_topic(
    session: AsyncSession, settings: Settings, text: str
) -> tuple[str, int | None, list[str]]:
    """(topic shown, challenge id, routing skills) from what the asker picked or typed."""
    value = (text or "").strip()
    if value.startswith("challenge:") and value[10:].isdigit():
        challenge = await session.get(Challenge, int(value[10:]))
        if challenge is not None and challenge.archived_at is None:
            return _challenge_topic(challenge)
    folded = _fold(value)
    for topic in settings.help.topics:
        if topic.casefold() == folded:
            return topic, None, [topic]
    if folded:
        for challenge in (
            await session.scalars(select(Challenge).where(Challenge.archived_at.is_(None)))
        ).all():
            if _fold(challenge.name) == folded:
                return _challenge_topic(challenge)
    raise InvalidInput(
        "help.unknown_topic", topic=value[:50], topics=", ".join(settings.help.topics)
    )


def _challenge_topic(challenge: Challenge) -> tuple[str, int | None, list[str]]:
    skills = normalise_skills([challenge.name, *(challenge.mentor_skills or [])])
    return challenge.name, challenge.id, skills


def parse_mentor_skills(text: str) -> list[str]:
    tags = normalise_skills(re.split(r"[,;\n]", text or ""))
    for tag in tags:
        if any(ch in tag for ch in "@<>"):
            raise InvalidInput("help.mentor.skill_mention", skill=tag[:SKILL_MAX])
        if len(tag) > SKILL_MAX:
            raise InvalidInput("help.mentor.skill_too_long", skill=tag[:SKILL_MAX], max=SKILL_MAX)
    if len(tags) > MAX_MENTOR_SKILLS:
        raise InvalidInput("help.mentor.too_many_skills", max=MAX_MENTOR_SKILLS, count=len(tags))
    return tags


# --------------------------------------------------------------------------
# Mentors


async def mentor_row(session: AsyncSession, discord_id: int) -> HelpMentor | None:
    return await session.scalar(select(HelpMentor).where(HelpMentor.discord_id == discord_id))


async def _profile_skills(session: AsyncSession, discord_id: int) -> list[str]:
    skills = await session.scalar(
        select(Profile.skills)
        .join(Member, Member.id == Profile.member_id)
        .where(Member.discord_id == discord_id)
    )
    return normalise_skills(skills or [])


async def _ensure_mentor(session: AsyncSession, now: datetime, discord_id: int) -> HelpMentor:
    mentor = await mentor_row(session, discord_id)
    if mentor is None:
        mentor = HelpMentor(
            discord_id=discord_id,
            on_duty=False,
            skills=await _profile_skills(session, discord_id),
            updated_at=now,
        )
        session.add(mentor)
        await session.flush()
    return mentor


async def set_duty(session: AsyncSession, now: datetime, discord_id: int, on: bool) -> HelpMentor:
    mentor = await _ensure_mentor(session, now, discord_id)
    if mentor.on_duty != on:
        mentor.on_duty = on
        mentor.duty_since = now if on else None
    mentor.updated_at = now
    return mentor


async def set_skills(
    session: AsyncSession, now: datetime, discord_id: int, text: str
) -> HelpMentor:
    mentor = await _ensure_mentor(session, now, discord_id)
    mentor.skills = parse_mentor_skills(text)
    mentor.updated_at = now
    return mentor


async def held_counts(session: AsyncSession) -> dict[int, int]:
    """Tickets each mentor holds now."""
    rows = await session.execute(
        select(HelpTicket.claimed_by, func.count())
        .where(HelpTicket.status == "claimed")
        .group_by(HelpTicket.claimed_by)
    )
    return {int(mentor): int(count) for mentor, count in rows.all() if mentor is not None}


async def on_duty_count(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count()).select_from(HelpMentor).where(HelpMentor.on_duty.is_(True))
        )
        or 0
    )


# --------------------------------------------------------------------------
# Reading the queue


async def waiting(session: AsyncSession) -> list[HelpTicket]:
    """Open tickets in queue order (oldest ask first: a ticket released keeps its place)."""
    return list(
        (
            await session.scalars(
                select(HelpTicket)
                .where(HelpTicket.status == "open")
                .order_by(HelpTicket.created_at, HelpTicket.id)
            )
        ).all()
    )


async def live_ticket_of_team(session: AsyncSession, team_id: int) -> HelpTicket | None:
    return await session.scalar(select(HelpTicket).where(HelpTicket.active_team_id == team_id))


async def position_of(session: AsyncSession, ticket: HelpTicket) -> int:
    ahead = await session.scalar(
        select(func.count())
        .select_from(HelpTicket)
        .where(
            HelpTicket.status == "open",
            (HelpTicket.created_at < ticket.created_at)
            | ((HelpTicket.created_at == ticket.created_at) & (HelpTicket.id < ticket.id)),
        )
    )
    return int(ahead or 0) + 1


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _p90(values: Sequence[float]) -> float | None:
    """The 90th percentile (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


async def estimator(session: AsyncSession, settings: Settings, now: datetime) -> Estimator:
    on_duty = await on_duty_count(session)
    busy = int(
        await session.scalar(
            select(func.count())
            .select_from(HelpTicket)
            .join(HelpMentor, HelpMentor.discord_id == HelpTicket.claimed_by)
            .where(HelpTicket.status == "claimed", HelpMentor.on_duty.is_(True))
        )
        or 0
    )
    since = now - RECENT
    handled = (
        await session.execute(
            select(HelpTicket.claimed_at, HelpTicket.closed_at)
            .where(HelpTicket.status == "resolved", HelpTicket.closed_at >= since)
            .order_by(HelpTicket.closed_at.desc())
            .limit(RECENT_COUNT)
        )
    ).all()
    handling = _median(
        [(closed - claimed).total_seconds() / 60 for claimed, closed in handled if claimed]
    )
    claimed = (
        await session.execute(
            select(HelpTicket.queued_at, HelpTicket.first_claimed_at)
            .where(HelpTicket.first_claimed_at >= since)
            .order_by(HelpTicket.first_claimed_at.desc())
            .limit(RECENT_COUNT)
        )
    ).all()
    wait = _median([(c - q).total_seconds() / 60 for q, c in claimed if c and q and c >= q])
    return Estimator(
        on_duty=on_duty,
        capacity=on_duty * settings.help.max_tickets_per_mentor,
        busy=busy,
        handling_minutes=max(1.0, handling) if handling is not None else DEFAULT_HANDLING_MINUTES,
        wait_minutes=wait,
    )


# --------------------------------------------------------------------------
# Routing


async def _route(
    session: AsyncSession,
    settings: Settings,
    ticket: HelpTicket,
    now: datetime,
    *,
    wide: bool,
) -> list[int]:
    """Pick mentors to ping for ``ticket`` and book the ping (fair rotation)."""
    team_members = set(await team_service.member_discord_ids(session, ticket.team_id))
    held = await held_counts(session)
    already = {int(x) for x in ticket.pinged or []}
    limit = settings.help.max_tickets_per_mentor
    candidates = [
        mentor
        for mentor in (
            await session.scalars(
                select(HelpMentor)
                .where(HelpMentor.on_duty.is_(True))
                .order_by(HelpMentor.last_pinged_at.is_not(None), HelpMentor.last_pinged_at)
                .order_by(HelpMentor.id)
            )
        ).all()
        if mentor.discord_id not in team_members
        and mentor.discord_id not in already
        and held.get(mentor.discord_id, 0) < limit
    ]
    chosen = candidates
    if not wide:
        wanted = set(ticket.skills or [])
        matching = [m for m in candidates if wanted & set(normalise_skills(m.skills or []))]
        # Nobody with the skill is free: any mentor on duty is better than silence.
        chosen = matching or candidates
    chosen = chosen[: settings.help.pings_per_step]
    for mentor in chosen:
        mentor.last_pinged_at = now
    ids = [m.discord_id for m in chosen]
    if ids:
        ticket.pinged = [*(ticket.pinged or []), *ids]
    return ids


async def _schedule_wait(
    session: AsyncSession, settings: Settings, timers: TimerScheduler, ticket: HelpTicket
) -> None:
    """Timers for one stay in the queue: each escalation step, and expiry."""
    for step, minutes in enumerate(settings.help.escalation_minutes, start=1):
        await timers.add(
            session,
            ESCALATE,
            ticket.queued_at + timedelta(minutes=minutes),
            {"ticket": ticket.id, "epoch": ticket.epoch, "step": step},
            dedupe_key=f"help:escalate:{ticket.id}:{ticket.epoch}:{step}",
        )
    await timers.add(
        session,
        EXPIRE,
        ticket.queued_at + timedelta(minutes=settings.help.expiry_minutes),
        {"ticket": ticket.id, "epoch": ticket.epoch},
        dedupe_key=f"help:expire:{ticket.id}:{ticket.epoch}",
    )


async def _schedule_idle(
    session: AsyncSession, settings: Settings, timers: TimerScheduler, ticket: HelpTicket
) -> None:
    assert ticket.active_at is not None
    due = ticket.active_at + timedelta(minutes=settings.help.idle_claim_minutes)
    await timers.add(
        session,
        IDLE,
        due,
        {"ticket": ticket.id, "claims": ticket.claims},
        dedupe_key=f"help:idle:{ticket.id}:{ticket.claims}:{int(due.timestamp())}",
    )


async def request_refresh(session: AsyncSession, timers: TimerScheduler, due: datetime) -> None:
    """Make sure a status refresh pass runs at ``due`` (one timer per minute at most)."""
    minute = int(due.timestamp()) // 60
    await timers.add(session, REFRESH, due, {}, dedupe_key=f"help:refresh:{minute}")


# --------------------------------------------------------------------------
# Asking


def _clean_text(text: str | None, limit: int) -> str:
    return " ".join((text or "").split())[:limit]


async def _team_and_space(session: AsyncSession, team_id: int) -> tuple[Team, int | None]:
    team = await team_service.get_team(session, team_id, active=False)
    return team, team.channel_id


async def ask(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    asker_id: int,
    *,
    topic: str,
    description: str,
    meet: str,
    detail: str | None,
    lang: str,
) -> Asked:
    await require_queue_open(session, now)
    team = await team_service.team_of(session, asker_id)
    if team is None or team.archived_at is not None:
        raise NotAllowed("help.no_team")
    live = await live_ticket_of_team(session, team.id)
    if live is not None:
        raise Conflict("help.already_open", number=live.id)
    wait = timedelta(minutes=settings.help.ask_cooldown_minutes)
    if wait:
        last = await session.scalar(
            select(func.max(HelpTicket.created_at)).where(HelpTicket.team_id == team.id)
        )
        if last is not None and now - last < wait:
            ready = last + wait
            raise HackbotError(
                "help.cooldown",
                minutes=max(1, math.ceil((ready - now).total_seconds() / 60)),
                when=f"<t:{int(ready.timestamp())}:R>",
            )
    text = _clean_text(description, DESCRIPTION_MAX)
    if len(text) < 5:
        raise InvalidInput("help.description_short")
    if meet not in MEET_KINDS:
        raise InvalidInput("help.bad_meet")
    where = _clean_text(detail, DETAIL_MAX) or None
    if meet == "table" and not where:
        raise InvalidInput("help.table_needed")
    if meet == "space" and team.channel_id is None:
        raise InvalidInput("help.no_space")
    shown, challenge_id, skills = await resolve_topic(session, settings, topic)
    ticket = HelpTicket(
        team_id=team.id,
        active_team_id=team.id,
        asker_discord_id=asker_id,
        topic=shown,
        challenge_id=challenge_id,
        skills=skills,
        description=text,
        meet=meet,
        meet_detail=where,
        lang=lang,
        status="open",
        created_at=now,
        queued_at=now,
        epoch=0,
        escalation=0,
        pinged=[],
        claims=0,
        shown={},
    )
    session.add(ticket)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("help.already_open_race") from None
    pinged = await _route(session, settings, ticket, now, wide=False)
    await _schedule_wait(session, settings, timers, ticket)
    estimate = await estimator(session, settings, now)
    position = await position_of(session, ticket)
    ticket.shown = display(ticket, position, estimate, False)
    ticket.shown_at = now
    return Asked(
        ticket=ticket,
        team_name=team.name,
        space_channel_id=team.channel_id,
        pinged=pinged,
        position=position,
        eta=estimate.eta(position),
        on_duty=estimate.on_duty,
    )


async def _require_team_ticket(session: AsyncSession, member_id: int) -> tuple[Team, HelpTicket]:
    team = await team_service.team_of(session, member_id)
    if team is None:
        raise NotAllowed("help.no_team")
    ticket = await live_ticket_of_team(session, team.id)
    if ticket is None:
        raise NotFound("help.no_ticket")
    return team, ticket


async def status_of(
    session: AsyncSession, settings: Settings, now: datetime, member_id: int
) -> tuple[HelpTicket, int | None, Estimator]:
    """The team's live ticket, its position (None once claimed) and the estimate."""
    _, ticket = await _require_team_ticket(session, member_id)
    estimate = await estimator(session, settings, now)
    position = await position_of(session, ticket) if ticket.status == "open" else None
    return ticket, position, estimate


def _close(ticket: HelpTicket, now: datetime, status: str, reason: str) -> None:
    ticket.status = status
    ticket.active_team_id = None
    ticket.closed_at = now
    ticket.close_reason = reason


async def cancel(session: AsyncSession, now: datetime, member_id: int) -> Closed:
    team, ticket = await _require_team_ticket(session, member_id)
    mentor = ticket.claimed_by if ticket.status == "claimed" else None
    _close(ticket, now, "cancelled", "cancelled")
    return Closed(ticket, team.name, team.channel_id, mentor)


# --------------------------------------------------------------------------
# Mentors acting on tickets


async def get_ticket(session: AsyncSession, ticket_id: int) -> HelpTicket:
    ticket = await session.get(HelpTicket, ticket_id)
    if ticket is None:
        raise NotFound("help.unknown_ticket", number=ticket_id)
    return ticket


async def claim(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    ticket_id: int,
    mentor_id: int,
) -> Claimed:
    ticket = await get_ticket(session, ticket_id)
    if ticket.status == "claimed":
        if ticket.claimed_by == mentor_id:
            raise Conflict("help.claim.yours", number=ticket.id)
        raise Conflict("help.claim.taken", number=ticket.id, mentor=f"<@{ticket.claimed_by}>")
    if ticket.status != "open":
        raise Conflict("help.claim.closed", number=ticket.id)
    if mentor_id in await team_service.member_discord_ids(session, ticket.team_id):
        raise NotAllowed("help.claim.own_team")
    limit = settings.help.max_tickets_per_mentor
    held = (await held_counts(session)).get(mentor_id, 0)
    if held >= limit:
        raise NotAllowed("help.claim.limit", max=limit)
    result = await session.execute(
        update(HelpTicket)
        .where(HelpTicket.id == ticket_id, HelpTicket.status == "open")
        .values(
            status="claimed",
            claimed_by=mentor_id,
            claimed_at=now,
            active_at=now,
            first_claimed_at=func.coalesce(HelpTicket.first_claimed_at, now),
            claims=HelpTicket.claims + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        await session.refresh(ticket)
        raise Conflict("help.claim.taken", number=ticket.id, mentor=f"<@{ticket.claimed_by}>")
    await session.refresh(ticket)
    await _schedule_idle(session, settings, timers, ticket)
    team, space = await _team_and_space(session, ticket.team_id)
    return Claimed(ticket, team.name, space)


def _may_act(ticket: HelpTicket, actor: int, organiser: bool) -> None:
    if ticket.status != "claimed":
        raise Conflict("help.not_claimed", number=ticket.id)
    if ticket.claimed_by != actor and not organiser:
        raise NotAllowed("help.not_yours", mentor=f"<@{ticket.claimed_by}>")


async def _requeue(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    ticket: HelpTicket,
    reason: str,
) -> Requeued:
    mentor = int(ticket.claimed_by or 0)
    ticket.status = "open"
    ticket.claimed_by = None
    ticket.claimed_at = None
    ticket.active_at = None
    ticket.epoch += 1
    ticket.queued_at = now
    ticket.escalation = 0
    ticket.pinged = [mentor]  # the mentor who let go is not pinged again at once
    await session.flush()
    pinged = await _route(session, settings, ticket, now, wide=False)
    await _schedule_wait(session, settings, timers, ticket)
    team, space = await _team_and_space(session, ticket.team_id)
    return Requeued(ticket, mentor, team.name, space, pinged, reason)


async def release(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    ticket_id: int,
    actor: int,
    *,
    organiser: bool = False,
) -> Requeued:
    ticket = await get_ticket(session, ticket_id)
    _may_act(ticket, actor, organiser)
    return await _requeue(session, settings, timers, now, ticket, "released")


async def still_helping(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    ticket_id: int,
    actor: int,
) -> HelpTicket:
    ticket = await get_ticket(session, ticket_id)
    _may_act(ticket, actor, False)
    ticket.active_at = now
    await _schedule_idle(session, settings, timers, ticket)
    return ticket


async def resolve(
    session: AsyncSession, now: datetime, ticket_id: int, actor: int, *, organiser: bool = False
) -> Closed:
    ticket = await get_ticket(session, ticket_id)
    _may_act(ticket, actor, organiser)
    mentor = ticket.claimed_by
    _close(ticket, now, "resolved", "resolved")
    ticket.resolved_by = mentor
    team, space = await _team_and_space(session, ticket.team_id)
    return Closed(ticket, team.name, space, mentor)


# --------------------------------------------------------------------------
# Timers (each handler is idempotent: a second run finds nothing to do)


async def escalate(
    session: AsyncSession, settings: Settings, now: datetime, ticket_id: int, epoch: int, step: int
) -> Escalation | None:
    ticket = await session.get(HelpTicket, ticket_id)
    if ticket is None or ticket.status != "open" or ticket.epoch != epoch:
        return None
    if ticket.escalation >= step:
        return None
    steps = len(settings.help.escalation_minutes)
    ticket.escalation = step
    waited = max(0, int((now - ticket.queued_at).total_seconds() // 60))
    if step >= steps:
        return Escalation(ticket, step, "organisers", [], waited)
    pinged = await _route(session, settings, ticket, now, wide=True)
    return Escalation(ticket, step, "mentors", pinged, waited)


async def expire(session: AsyncSession, now: datetime, ticket_id: int, epoch: int) -> Closed | None:
    ticket = await session.get(HelpTicket, ticket_id)
    if ticket is None or ticket.status != "open" or ticket.epoch != epoch:
        return None
    _close(ticket, now, "expired", "expired")
    team, space = await _team_and_space(session, ticket.team_id)
    return Closed(ticket, team.name, space, None)


async def idle_check(
    session: AsyncSession,
    settings: Settings,
    timers: TimerScheduler,
    now: datetime,
    ticket_id: int,
    claims: int,
) -> Requeued | None:
    ticket = await session.get(HelpTicket, ticket_id)
    if ticket is None or ticket.status != "claimed" or ticket.claims != claims:
        return None
    assert ticket.active_at is not None
    if now - ticket.active_at < timedelta(minutes=settings.help.idle_claim_minutes):
        return None  # "Still helping" was pressed: a later timer checks again
    return await _requeue(session, settings, timers, now, ticket, "idle")


# --------------------------------------------------------------------------
# Ratings


async def check_rate(
    session: AsyncSession, ticket_id: int, member_id: int, score: int
) -> HelpTicket:
    """May ``member_id`` give ``score`` to the ticket? Reads only (answer first, write after)."""
    if not 1 <= score <= 5:
        raise InvalidInput("help.rate.range")
    ticket = await get_ticket(session, ticket_id)
    if member_id not in await team_service.member_discord_ids(session, ticket.team_id):
        raise NotAllowed("help.rate.not_team")
    if ticket.status != "resolved":
        raise Conflict("help.rate.not_resolved")
    if ticket.rating is not None:
        raise Conflict("help.rate.already", score=ticket.rating)
    return ticket


async def rate(
    session: AsyncSession, now: datetime, ticket_id: int, member_id: int, score: int
) -> HelpTicket:
    ticket = await check_rate(session, ticket_id, member_id, score)
    ticket.rating = score
    ticket.rated_by = member_id
    ticket.rated_at = now
    return ticket


async def add_comment(
    session: AsyncSession, now: datetime, ticket_id: int, member_id: int, text: str
) -> HelpTicket:
    ticket = await get_ticket(session, ticket_id)
    if ticket.rated_by != member_id:
        raise NotAllowed("help.rate.not_rater")
    comment = (text or "").strip()[:COMMENT_MAX]
    ticket.rating_comment = comment or None
    return ticket


# --------------------------------------------------------------------------
# Status messages (throttled)


def display(
    ticket: HelpTicket, position: int | None, estimate: Estimator, closed: bool
) -> dict[str, Any]:
    """What a team's status message shows, as data (compared to decide on an edit)."""
    return {
        "state": ticket.status,
        "position": position,
        "eta": estimate.eta(position) if position is not None else None,
        "duty": estimate.on_duty > 0,
        "closed": closed,
    }


def worth_editing(shown: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Edit when something a team cares about changed: the state, the estimate, whether
    mentors are on duty, the queue closing, or the position (exactly in the first
    :data:`EXACT_POSITIONS`, by a tenth further back: 1,500 waiting tickets must not
    mean 1,500 edits each time the front of the queue moves)."""
    if not shown:
        return True
    for key in ("state", "eta", "duty", "closed"):
        if shown.get(key) != wanted.get(key):
            return True
    old, new = shown.get("position"), wanted.get("position")
    if old is None or new is None:
        return old != new
    if new <= EXACT_POSITIONS or old <= EXACT_POSITIONS:
        return old != new
    return abs(old - new) >= max(1, old // 10)


@dataclass
class StatusEdit:
    ticket_id: int
    channel_id: int
    message_id: int
    display: dict[str, Any]


@dataclass
class RefreshPlan:
    edits: list[StatusEdit] = field(default_factory=list)
    # When throttled edits become possible (a refresh timer is set for then).
    later: datetime | None = None
    estimate: Estimator | None = None


async def refresh_plan(
    session: AsyncSession, settings: Settings, now: datetime, limit: int
) -> RefreshPlan:
    """The status messages worth editing now, front of the queue first (at most ``limit``)."""
    estimate = await estimator(session, settings, now)
    closed = (await queue_state(session)).closed
    interval = timedelta(seconds=settings.help.status_update_seconds)
    plan = RefreshPlan(estimate=estimate)
    for position, ticket in enumerate(await waiting(session), start=1):
        if ticket.status_message_id is None or ticket.status_channel_id is None:
            continue
        wanted = display(ticket, position, estimate, closed)
        if not worth_editing(ticket.shown or {}, wanted):
            continue
        if ticket.shown_at is not None and now - ticket.shown_at < interval:
            due = ticket.shown_at + interval
            plan.later = due if plan.later is None else min(plan.later, due)
            continue
        if len(plan.edits) >= limit:
            plan.later = now if plan.later is None else min(plan.later, now)
            continue
        plan.edits.append(
            StatusEdit(ticket.id, ticket.status_channel_id, ticket.status_message_id, wanted)
        )
    return plan


async def mark_shown(
    session: AsyncSession, ticket_id: int, shown: dict[str, Any], now: datetime
) -> None:
    await session.execute(
        update(HelpTicket)
        .where(HelpTicket.id == ticket_id)
        .values(shown=shown, shown_at=now)
        .execution_options(synchronize_session=False)
    )


# --------------------------------------------------------------------------
# Mentor's view of the queue


async def mentor_queue(
    session: AsyncSession, now: datetime, mentor_id: int, limit: int = 15
) -> tuple[list[QueueEntry], int, HelpMentor | None]:
    """Open tickets by wait time (longest first), those matching the mentor's skills marked;
    plus how many there are in all and the mentor's row."""
    mentor = await mentor_row(session, mentor_id)
    skills = set(normalise_skills(mentor.skills if mentor else []))
    tickets = await waiting(session)
    names = dict(
        (
            await session.execute(
                select(Team.id, Team.name).where(Team.id.in_({t.team_id for t in tickets}))
            )
        ).all()
    )
    entries = [
        QueueEntry(t, position, names.get(t.team_id, "?"), bool(skills & set(t.skills or [])))
        for position, t in enumerate(tickets, start=1)
    ]
    return entries[:limit], len(entries), mentor


async def holds_ticket_of(session: AsyncSession, team_id: int, mentor_id: int) -> bool:
    """Whether the mentor still holds a ticket of this team (access to its space stays)."""
    found = await session.scalar(
        select(HelpTicket.id).where(
            HelpTicket.team_id == team_id,
            HelpTicket.status == "claimed",
            HelpTicket.claimed_by == mentor_id,
        )
    )
    return found is not None


async def held_by(session: AsyncSession, mentor_id: int) -> list[HelpTicket]:
    return list(
        (
            await session.scalars(
                select(HelpTicket)
                .where(HelpTicket.status == "claimed", HelpTicket.claimed_by == mentor_id)
                .order_by(HelpTicket.claimed_at)
            )
        ).all()
    )


# --------------------------------------------------------------------------
# Figures


@dataclass
class SkillFigures:
    topic: str
    asked: int
    resolved: int
    median_wait: float | None


@dataclass
class HourFigures:
    hour: datetime  # local, start of the hour
    asked: int
    median_wait: float | None


@dataclass
class MentorFigures:
    discord_id: int
    resolved: int
    ratings: int
    mean: float | None
    smoothed: float


@dataclass
class Stats:
    counts: dict[str, int]
    on_duty: int
    median_wait: float | None
    p90_wait: float | None
    median_resolve: float | None
    p90_resolve: float | None
    by_skill: list[SkillFigures]
    by_hour: list[HourFigures]
    leaderboard: list[MentorFigures]
    expired_unanswered: int
    expired_examples: list[HelpTicket]
    mean_rating: float | None
    ratings: int
    closed: bool


def smoothed_rating(total: float, count: int, prior_mean: float) -> float:
    """Bayesian average: ``count`` ratings summing to ``total`` plus the prior's weight."""
    return (RATING_PRIOR_WEIGHT * prior_mean + total) / (RATING_PRIOR_WEIGHT + count)


async def stats(session: AsyncSession, now: datetime, tz: ZoneInfo, hours: int = 12) -> Stats:
    tickets = list((await session.scalars(select(HelpTicket).order_by(HelpTicket.id))).all())
    counts = Counter(t.status for t in tickets)

    def wait_of(t: HelpTicket) -> float | None:
        if t.first_claimed_at is None:
            return None
        return (t.first_claimed_at - t.created_at).total_seconds() / 60

    waits = [w for w in (wait_of(t) for t in tickets) if w is not None]
    resolves = [
        (t.closed_at - t.claimed_at).total_seconds() / 60
        for t in tickets
        if t.status == "resolved" and t.closed_at and t.claimed_at
    ]
    by_topic: dict[str, list[HelpTicket]] = defaultdict(list)
    for t in tickets:
        by_topic[t.topic].append(t)
    by_skill = sorted(
        (
            SkillFigures(
                topic,
                len(rows),
                sum(1 for r in rows if r.status == "resolved"),
                _median([w for w in (wait_of(r) for r in rows) if w is not None]),
            )
            for topic, rows in by_topic.items()
        ),
        key=lambda s: (-s.asked, s.topic),
    )
    current_hour = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    buckets: dict[datetime, list[HelpTicket]] = defaultdict(list)
    for t in tickets:
        buckets[t.created_at.astimezone(tz).replace(minute=0, second=0, microsecond=0)].append(t)
    first_hour = current_hour - timedelta(hours=hours - 1)
    by_hour = [
        HourFigures(
            hour,
            len(rows),
            _median([w for w in (wait_of(r) for r in rows) if w is not None]),
        )
        for hour, rows in sorted(buckets.items())
        if hour >= first_hour
    ]
    rated = [t for t in tickets if t.rating is not None]
    mean_rating = sum(t.rating or 0 for t in rated) / len(rated) if rated else None
    prior = mean_rating if mean_rating is not None else RATING_PRIOR_MEAN
    per_mentor: dict[int, list[HelpTicket]] = defaultdict(list)
    for t in tickets:
        if t.status == "resolved" and t.resolved_by is not None:
            per_mentor[int(t.resolved_by)].append(t)
    leaderboard = []
    for mentor, rows in per_mentor.items():
        scores = [r.rating for r in rows if r.rating is not None]
        leaderboard.append(
            MentorFigures(
                mentor,
                len(rows),
                len(scores),
                sum(scores) / len(scores) if scores else None,
                smoothed_rating(sum(scores), len(scores), prior),
            )
        )
    leaderboard.sort(key=lambda m: (-m.smoothed, -m.resolved, m.discord_id))
    expired = [t for t in tickets if t.status == "expired" and t.first_claimed_at is None]
    return Stats(
        counts={
            status: counts.get(status, 0)
            for status in ("open", "claimed", "resolved", "cancelled", "expired")
        },
        on_duty=await on_duty_count(session),
        median_wait=_median(waits),
        p90_wait=_p90(waits),
        median_resolve=_median(resolves),
        p90_resolve=_p90(resolves),
        by_skill=by_skill,
        by_hour=by_hour,
        leaderboard=leaderboard,
        expired_unanswered=len(expired),
        expired_examples=expired[-5:],
        mean_rating=mean_rating,
        ratings=len(rated),
        closed=(await queue_state(session)).closed,
    )
