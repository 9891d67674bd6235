"""Problem statements: submission, support, curation and the funnel's figures (issue 5).

Never imports discord. The cog turns a statement into a forum post and back;
this module keeps the rules: who may submit and when, the per-member wait,
the review queue shared by several curators, duplicates (their supporters
move to the original) and merging into challenges.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import Conflict, HackbotError, InvalidInput, NotFound
from bot.models import AuditEntry, Challenge
from bot.models.problems import ProblemStatement, ProblemStatus, ProblemSupport
from bot.services import event as event_service
from bot.services import outbox, timeline

log = logging.getLogger(__name__)

CAPABILITY = "problem_collection"

TITLE_MAX = 100
DESCRIPTION_MAX = 2000
AFFECTED_MAX = 500
LINK_MAX = 500
REASON_MAX = 500

#: A curator's hold on the statement they are looking at; after this, another curator may take it.
CLAIM_TTL = timedelta(minutes=10)

#: Statuses a statement can leave the queue with (``pending`` is the queue itself).
REVIEWED = (
    ProblemStatus.ACCEPTED,
    ProblemStatus.REJECTED,
    ProblemStatus.DUPLICATE,
    ProblemStatus.MERGED,
)


# --------------------------------------------------------------------------
# Submitting


async def collection_open(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Whether /problem submit is open now: while the timeline (organiser overrides included)
    opens problem collection, or always when the event has no timeline at all."""
    if not await event_service.timeline(session):
        return True
    return await timeline.is_open(session, CAPABILITY, now)


async def require_collection_open(session: AsyncSession, settings: Settings, now: datetime) -> None:
    """Raise PhaseClosed saying when collection opens (or closed) unless it is open now."""
    if await event_service.timeline(session):
        await timeline.require_open(session, CAPABILITY, now)


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def clean_link(link: str | None) -> str | None:
    """An http(s) address with a real host name, or None for an empty field.

    Refused: other schemes (``javascript:``, ``ftp:``), addresses without a dot in the
    host, IP addresses, ``localhost``, user:password@ parts, spaces.
    """
    text = (link or "").strip()
    if not text:
        return None
    if len(text) > LINK_MAX or any(ch.isspace() for ch in text):
        raise InvalidInput("problems.bad_link")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidInput("problems.bad_link") from None
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password:
        raise InvalidInput("problems.bad_link")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput("problems.bad_link") from None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidInput("problems.bad_link")
    labels = host.rstrip(".").split(".")
    if (
        len(labels) < 2
        or not all(_HOST_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
        or len(labels[-1]) < 2
    ):
        raise InvalidInput("problems.bad_link")
    return text


def _text(value: str, limit: int, what: str, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(f"problems.empty_{what}")
    if len(text) > limit:
        raise InvalidInput(f"problems.too_long_{what}", max=limit)
    return text


async def next_allowed_at(
    session: AsyncSession, author_id: int, now: datetime, cooldown: timedelta
) -> datetime | None:
    """When ``author_id`` may submit again, or None if they may now."""
    if cooldown <= timedelta(0):
        return None
    last = await session.scalar(
        select(func.max(ProblemStatement.created_at)).where(
            ProblemStatement.author_discord_id == author_id
        )
    )
    if last is None or last + cooldown <= now:
        return None
    return last + cooldown


async def check_cooldown(
    session: AsyncSession, author_id: int, now: datetime, settings: Settings
) -> None:
    cooldown = timedelta(seconds=settings.problems.cooldown_seconds)
    allowed = await next_allowed_at(session, author_id, now, cooldown)
    if allowed is not None:
        raise HackbotError("problems.cooldown", when=f"<t:{int(allowed.timestamp()) + 1}:R>")


def check_theme(theme: str | None, settings: Settings) -> str | None:
    themes = settings.problems.themes
    if not themes:
        return None
    if theme not in themes:
        raise InvalidInput("problems.theme_unknown", themes=", ".join(themes))
    return theme


async def submit(
    session: AsyncSession,
    settings: Settings,
    *,
    author_id: int,
    author_name: str,
    title: str,
    description: str,
    affected: str,
    link: str | None,
    theme: str | None,
    lang: str,
    now: datetime,
) -> ProblemStatement:
    """Record a statement (the cog then posts it). Checks the phase, the wait and every field."""
    await require_collection_open(session, settings, now)
    statement = ProblemStatement(
        author_discord_id=author_id,
        author_name=author_name[:100],
        title=_text(title, TITLE_MAX, "title"),
        description=_text(description, DESCRIPTION_MAX, "description"),
        affected=_text(affected, AFFECTED_MAX, "affected"),
        link=clean_link(link),
        theme=check_theme(theme, settings),
        lang=lang,
        status=ProblemStatus.PENDING.value,
        created_at=now,
        updated_at=now,
    )
    await check_cooldown(session, author_id, now, settings)
    session.add(statement)
    await session.flush()
    log.info("problem statement %s submitted by %s", statement.id, author_id)
    return statement


async def set_thread(session: AsyncSession, problem_id: int, thread_id: int) -> None:
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.id == problem_id)
        .values(thread_id=thread_id, post_archived=False)
    )


#: The outbox's done handler that records a statement's forum post.
STATEMENT_POSTED = "problems.statement_posted"


@outbox.on_done(STATEMENT_POSTED)
async def _statement_posted(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    problem_id = int(write.payload["ref"]["statement_id"])
    if error is not None or result is None:
        log.error("statement %s could not be posted: %s", problem_id, error)
        return
    await set_thread(session, problem_id, int(result["channel_id"]))


async def get(session: AsyncSession, problem_id: int) -> ProblemStatement:
    statement = await session.get(ProblemStatement, problem_id)
    if statement is None:
        raise NotFound("problems.not_found", id=problem_id)
    return statement


async def by_thread(session: AsyncSession, thread_id: int) -> ProblemStatement | None:
    return await session.scalar(
        select(ProblemStatement).where(ProblemStatement.thread_id == thread_id)
    )


# --------------------------------------------------------------------------
# Support


async def toggle_support(
    session: AsyncSession, problem_id: int, member_id: int
) -> tuple[bool, int]:
    """Support the statement, or take the support back. Returns (supports now, count)."""
    statement = await get(session, problem_id)
    if statement.author_discord_id == member_id:
        raise HackbotError("problems.support_own")
    existing = await session.scalar(
        select(ProblemSupport).where(
            ProblemSupport.problem_id == problem_id, ProblemSupport.member_discord_id == member_id
        )
    )
    if existing is None:
        session.add(ProblemSupport(problem_id=problem_id, member_discord_id=member_id))
        delta, supported = 1, True
    else:
        await session.delete(existing)
        delta, supported = -1, False
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.id == problem_id)
        .values(support_count=ProblemStatement.support_count + delta)
    )
    await session.flush()
    count = await session.scalar(
        select(ProblemStatement.support_count).where(ProblemStatement.id == problem_id)
    )
    return supported, int(count or 0)


# --------------------------------------------------------------------------
# Review


async def queue_size(session: AsyncSession, theme: str | None = None) -> int:
    query = select(func.count()).where(ProblemStatement.status == ProblemStatus.PENDING.value)
    if theme:
        query = query.where(ProblemStatement.theme == theme)
    return int(await session.scalar(query.select_from(ProblemStatement)) or 0)


async def claim_next(
    session: AsyncSession,
    curator_id: int,
    now: datetime,
    *,
    theme: str | None = None,
    after_id: int = 0,
) -> ProblemStatement | None:
    """The oldest pending statement nobody else is looking at (after ``after_id``, for Skip),
    claimed for ``curator_id``. Curators working at the same time get different statements."""
    stale = now - CLAIM_TTL
    query = (
        select(ProblemStatement)
        .where(
            ProblemStatement.status == ProblemStatus.PENDING.value,
            ProblemStatement.id > after_id,
            (ProblemStatement.claimed_by.is_(None))
            | (ProblemStatement.claimed_by == curator_id)
            | (ProblemStatement.claimed_at < stale),
        )
        .order_by(ProblemStatement.id)
        .limit(1)
    )
    if theme:
        query = query.where(ProblemStatement.theme == theme)
    statement = await session.scalar(query)
    if statement is None:
        return None
    # Let go of anything else this curator held.
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.claimed_by == curator_id, ProblemStatement.id != statement.id)
        .values(claimed_by=None, claimed_at=None)
    )
    statement.claimed_by = curator_id
    statement.claimed_at = now
    return statement


async def release_claims(session: AsyncSession, curator_id: int) -> None:
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.claimed_by == curator_id)
        .values(claimed_by=None, claimed_at=None)
    )


def _decide(
    statement: ProblemStatement, status: ProblemStatus, curator_id: int, now: datetime
) -> None:
    statement.status = status.value
    statement.reviewed_by = curator_id
    statement.reviewed_at = now
    statement.claimed_by = None
    statement.claimed_at = None
    statement.updated_at = now


def _audit(session: AsyncSession, curator_id: int, action: str, problem_id: int, **detail) -> None:
    session.add(
        AuditEntry(
            actor_discord_id=curator_id,
            action=action,
            subject=f"problem:{problem_id}",
            detail=detail,
        )
    )


async def accept(
    session: AsyncSession, problem_id: int, curator_id: int, now: datetime
) -> ProblemStatement:
    statement = await get(session, problem_id)
    if statement.status == ProblemStatus.MERGED.value:
        raise Conflict("problems.already_merged", id=problem_id)
    _decide(statement, ProblemStatus.ACCEPTED, curator_id, now)
    statement.reason = None
    statement.duplicate_of_id = None
    _audit(session, curator_id, "problem.accept", problem_id)
    return statement


async def reject(
    session: AsyncSession, problem_id: int, curator_id: int, reason: str, now: datetime
) -> ProblemStatement:
    statement = await get(session, problem_id)
    if statement.status == ProblemStatus.MERGED.value:
        raise Conflict("problems.already_merged", id=problem_id)
    _decide(statement, ProblemStatus.REJECTED, curator_id, now)
    statement.reason = _text(reason, REASON_MAX, "reason")
    statement.duplicate_of_id = None
    _audit(session, curator_id, "problem.reject", problem_id, reason=statement.reason)
    return statement


async def root_of(session: AsyncSession, statement: ProblemStatement) -> ProblemStatement:
    """Follow duplicate links to the statement they all point to."""
    seen = {statement.id}
    while statement.duplicate_of_id is not None:
        nxt = await session.get(ProblemStatement, statement.duplicate_of_id)
        if nxt is None or nxt.id in seen:
            break
        seen.add(nxt.id)
        statement = nxt
    return statement


async def mark_duplicate(
    session: AsyncSession, problem_id: int, original_id: int, curator_id: int, now: datetime
) -> tuple[ProblemStatement, ProblemStatement]:
    """Mark ``problem_id`` as a duplicate of ``original_id`` (or of the statement that one
    duplicates). Its supporters move to the original; statements that pointed at it follow.
    Returns (duplicate, original)."""
    statement = await get(session, problem_id)
    original = await root_of(session, await get(session, original_id))
    if original.id == statement.id:
        raise InvalidInput("problems.duplicate_of_itself")
    if original.status == ProblemStatus.REJECTED.value:
        raise InvalidInput("problems.duplicate_of_rejected", id=original.id)
    if statement.status == ProblemStatus.MERGED.value:
        raise Conflict("problems.already_merged", id=problem_id)
    _decide(statement, ProblemStatus.DUPLICATE, curator_id, now)
    statement.duplicate_of_id = original.id
    statement.challenge_id = original.challenge_id
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.duplicate_of_id == statement.id)
        .values(duplicate_of_id=original.id, challenge_id=original.challenge_id)
    )
    await _move_supporters(session, statement.id, original.id, statement.author_discord_id)
    _audit(session, curator_id, "problem.duplicate", problem_id, original=original.id)
    await session.flush()
    await session.refresh(original)
    return statement, original


async def _move_supporters(session: AsyncSession, source: int, target: int, author: int) -> None:
    """Supporters of the duplicate (and its author) now support the original."""
    target_row = await session.get(ProblemStatement, target)
    already = set(
        (
            await session.scalars(
                select(ProblemSupport.member_discord_id).where(ProblemSupport.problem_id == target)
            )
        ).all()
    )
    moving = set(
        (
            await session.scalars(
                select(ProblemSupport.member_discord_id).where(ProblemSupport.problem_id == source)
            )
        ).all()
    )
    moving.add(author)
    if target_row is not None:
        moving.discard(target_row.author_discord_id)
    new = sorted(moving - already)
    for member in new:
        session.add(ProblemSupport(problem_id=target, member_discord_id=member))
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.id == target)
        .values(support_count=ProblemStatement.support_count + len(new))
    )


async def merge_into_challenge(
    session: AsyncSession, problem_id: int, challenge_id: int, curator_id: int, now: datetime
) -> ProblemStatement:
    """Link the statement (and its duplicates) to a challenge."""
    statement = await get(session, problem_id)
    challenge = await session.get(Challenge, challenge_id)
    if challenge is None or challenge.archived_at is not None:
        raise NotFound("challenges.not_found", name=str(challenge_id))
    if statement.status == ProblemStatus.DUPLICATE.value and statement.duplicate_of_id:
        statement = await root_of(session, statement)
    _decide(statement, ProblemStatus.MERGED, curator_id, now)
    statement.challenge_id = challenge_id
    statement.reason = None
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.duplicate_of_id == statement.id)
        .values(challenge_id=challenge_id)
    )
    _audit(session, curator_id, "problem.merge", statement.id, challenge=challenge_id)
    return statement


async def unlink_challenge(session: AsyncSession, challenge_id: int) -> int:
    """A removed challenge gives its statements back to the accepted pile. Returns how many."""
    merged = await session.execute(
        update(ProblemStatement)
        .where(
            ProblemStatement.challenge_id == challenge_id,
            ProblemStatement.status == ProblemStatus.MERGED.value,
        )
        .values(status=ProblemStatus.ACCEPTED.value, challenge_id=None)
    )
    await session.execute(
        update(ProblemStatement)
        .where(ProblemStatement.challenge_id == challenge_id)
        .values(challenge_id=None)
    )
    return int(merged.rowcount or 0)


async def linked_to(session: AsyncSession, challenge_id: int) -> list[ProblemStatement]:
    """Statements merged into a challenge, most supported first."""
    return list(
        (
            await session.scalars(
                select(ProblemStatement)
                .where(
                    ProblemStatement.challenge_id == challenge_id,
                    ProblemStatement.status == ProblemStatus.MERGED.value,
                )
                .order_by(ProblemStatement.support_count.desc(), ProblemStatement.id)
            )
        ).all()
    )


# --------------------------------------------------------------------------
# Similarity corpus, posts


async def corpus(session: AsyncSession) -> list[tuple[int, str, str]]:
    """(id, title, body) of every statement duplicates may be found among (not rejected)."""
    rows = await session.execute(
        select(
            ProblemStatement.id,
            ProblemStatement.title,
            ProblemStatement.description,
            ProblemStatement.affected,
        ).where(ProblemStatement.status != ProblemStatus.REJECTED.value)
    )
    return [(pid, title, f"{desc}\n{affected}") for pid, title, desc, affected in rows]


async def titles(session: AsyncSession, ids: list[int]) -> dict[int, ProblemStatement]:
    if not ids:
        return {}
    rows = await session.scalars(select(ProblemStatement).where(ProblemStatement.id.in_(ids)))
    return {row.id: row for row in rows}


async def active_posts(session: AsyncSession) -> list[tuple[int, int, str]]:
    """(id, thread id, status) of statement posts not yet archived, oldest first."""
    rows = await session.execute(
        select(ProblemStatement.id, ProblemStatement.thread_id, ProblemStatement.status)
        .where(ProblemStatement.thread_id.is_not(None), ProblemStatement.post_archived.is_(False))
        .order_by(ProblemStatement.id)
    )
    return [(pid, int(tid), status) for pid, tid, status in rows]


def posts_to_archive(posts: list[tuple[int, int, str]], keep: int) -> list[tuple[int, int, str]]:
    """Which active posts to archive so that at most ``keep`` stay active: reviewed ones first
    (rejected, duplicates, merged, accepted), then the oldest pending ones."""
    excess = len(posts) - keep
    if excess <= 0:
        return []
    order = {
        ProblemStatus.REJECTED.value: 0,
        ProblemStatus.DUPLICATE.value: 1,
        ProblemStatus.MERGED.value: 2,
        ProblemStatus.ACCEPTED.value: 3,
        ProblemStatus.PENDING.value: 4,
    }
    ranked = sorted(posts, key=lambda p: (order.get(p[2], 5), p[0]))
    return ranked[:excess]


async def mark_posts_archived(
    session: AsyncSession, thread_ids: list[int], archived: bool = True
) -> None:
    if thread_ids:
        await session.execute(
            update(ProblemStatement)
            .where(ProblemStatement.thread_id.in_(thread_ids))
            .values(post_archived=archived)
        )


# --------------------------------------------------------------------------
# Figures


@dataclass
class Stats:
    total: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_theme: dict[str, Counter[str]] = field(default_factory=dict)
    supporters: int = 0
    challenges: int = 0

    def count(self, status: ProblemStatus) -> int:
        return self.by_status.get(status.value, 0)


async def stats(session: AsyncSession) -> Stats:
    result = Stats()
    rows = await session.execute(
        select(ProblemStatement.theme, ProblemStatement.status, func.count()).group_by(
            ProblemStatement.theme, ProblemStatement.status
        )
    )
    for theme, status, count in rows:
        result.total += count
        result.by_status[status] += count
        result.by_theme.setdefault(theme or "", Counter())[status] += count
    result.supporters = int(
        await session.scalar(select(func.count(func.distinct(ProblemSupport.member_discord_id))))
        or 0
    )
    result.challenges = int(
        await session.scalar(
            select(func.count()).select_from(Challenge).where(Challenge.archived_at.is_(None))
        )
        or 0
    )
    return result
