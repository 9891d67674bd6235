"""Broadcasts: one message to many destinations, stored first, delivered once, resumable.

A broadcast is created with its destinations (one :class:`~bot.models.Delivery`
row each) in one transaction; :func:`deliver` then works through the rows:

1. the row is **claimed** (``pending`` → ``sending``, committed) just before the
   message goes out, and **confirmed** (``sent`` + message id) just after;
2. a row found ``sending`` when a fan-out resumes (the bot died between the
   two) is checked against the channel (:meth:`Sender.find_sent`) instead of
   being sent again;
3. permanent refusals (the channel is gone, the bot may not post there) mark
   the row ``failed``; transient errors are retried a few times.

So a restart in the middle of a fan-out resumes where it stopped and no
destination gets the message twice. Sending is paced (:class:`Pacer`, real
time) well under Discord's global limit of 50 requests per second.

Targets (who a broadcast goes to) are a small registry: ``register_target(key,
resolver)``; a resolver turns a :class:`TargetContext` into destinations. The
built-in ones are everyone, participants, mentors, judges and one challenge;
features register theirs (teams, teams without a submission) the same way.

Nothing here imports discord: the cog supplies the :class:`Sender`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.db import Database
from bot.errors import InvalidInput, NotFound
from bot.models import AuditEntry, Broadcast, Challenge, Delivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_PAUSE_S = 1.0
TITLE_MAX = 256
BODY_MAX = 4000


# --------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class Destination:
    channel_id: int
    # "role:<id>", "everyone" or None: who the message pings there.
    mention: str | None = None


@dataclass
class TargetContext:
    """What a resolver may use to find a target's destinations."""

    session: AsyncSession
    settings: Settings
    now: datetime
    arg: str | None
    announcements_id: int | None
    # Role ids by kind: "participant", "mentor", "judge", "organiser".
    role_ids: dict[str, int] = field(default_factory=dict)


Resolver = Callable[[TargetContext], Awaitable[list[Destination]]]


@dataclass(frozen=True)
class Target:
    key: str
    resolver: Resolver
    # A target that takes an argument (the challenge id) and how it is chosen.
    needs_arg: bool = False


_TARGETS: dict[str, Target] = {}


def register_target(key: str, resolver: Resolver, *, needs_arg: bool = False) -> None:
    """Add (or replace) a broadcast target. Its label is the catalogue key ``broadcast.target.<key>``."""
    _TARGETS[key] = Target(key, resolver, needs_arg)


def unregister_target(key: str) -> None:
    _TARGETS.pop(key, None)


def get_target(key: str) -> Target:
    try:
        return _TARGETS[key]
    except KeyError:
        raise InvalidInput("broadcast.unknown_target", target=key) from None


def target_keys() -> list[str]:
    return list(_TARGETS)


async def resolve(key: str, ctx: TargetContext) -> list[Destination]:
    target = get_target(key)
    if target.needs_arg and not ctx.arg:
        raise InvalidInput(f"broadcast.needs_arg.{key}")
    destinations = await target.resolver(ctx)
    unique: dict[int, Destination] = {}
    for destination in destinations:
        unique.setdefault(destination.channel_id, destination)
    if not unique:
        raise InvalidInput("broadcast.no_destination")
    return list(unique.values())


def _announcements(ctx: TargetContext) -> int:
    if ctx.announcements_id is None:
        raise InvalidInput(
            "broadcast.no_announcements", channel=ctx.settings.channels.announcements
        )
    return ctx.announcements_id


def _role_target(kind: str) -> Resolver:
    async def resolver(ctx: TargetContext) -> list[Destination]:
        channel = _announcements(ctx)
        role_id = ctx.role_ids.get(kind)
        if role_id is None:
            raise InvalidInput("broadcast.no_role", role=getattr(ctx.settings.roles, kind))
        return [Destination(channel, f"role:{role_id}")]

    return resolver


async def _everyone(ctx: TargetContext) -> list[Destination]:
    return [Destination(_announcements(ctx), "everyone")]


async def _challenge(ctx: TargetContext) -> list[Destination]:
    try:
        challenge_id = int(ctx.arg or "")
    except ValueError:
        raise NotFound("broadcast.unknown_challenge") from None
    challenge = await ctx.session.get(Challenge, challenge_id)
    if challenge is None or challenge.archived_at is not None:
        raise NotFound("broadcast.unknown_challenge")
    place = challenge.thread_id or challenge.channel_id
    if place is None:
        raise InvalidInput("broadcast.challenge_has_no_channel", challenge=challenge.name)
    return [Destination(place, f"role:{challenge.role_id}" if challenge.role_id else None)]


async def challenge_choices(session: AsyncSession, typed: str, limit: int = 25) -> list[Challenge]:
    """Challenges with a home on Discord whose name contains ``typed`` (for autocomplete)."""
    query = (
        select(Challenge)
        .where(Challenge.archived_at.is_(None))
        .order_by(Challenge.position, Challenge.name)
    )
    rows = (await session.scalars(query)).all()
    folded = typed.casefold().strip()
    return [
        row
        for row in rows
        if (row.channel_id or row.thread_id) and (not folded or folded in row.name.casefold())
    ][:limit]


async def _teams(ctx: TargetContext) -> list[Destination]:
    """Every active team's own space (channel or private thread), without a ping."""
    from bot.models import Team

    rows = await ctx.session.scalars(
        select(Team.channel_id)
        .where(Team.archived_at.is_(None), Team.channel_id.is_not(None))
        .order_by(Team.id)
    )
    spaces = [Destination(channel_id) for channel_id in rows]
    if not spaces:
        raise InvalidInput("broadcast.no_team_spaces")
    return spaces


register_target("everyone", _everyone)
register_target("participants", _role_target("participant"))
register_target("mentors", _role_target("mentor"))
register_target("judges", _role_target("judge"))
register_target("challenge", _challenge, needs_arg=True)
register_target("teams", _teams)


# --------------------------------------------------------------------------
# Creating a broadcast


def check_text(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise InvalidInput("broadcast.empty")
    if len(title) > TITLE_MAX or len(body) > BODY_MAX:
        raise InvalidInput("broadcast.too_long", title=TITLE_MAX, body=BODY_MAX)
    return title, body


async def create(
    session: AsyncSession,
    *,
    kind: str,
    target: str,
    destinations: list[Destination],
    now: datetime,
    lang: str,
    content: str = "",
    title: str | None = None,
    body: str | None = None,
    footer: str | None = None,
    target_arg: str | None = None,
    author: int | None = None,
    dedupe_key: str | None = None,
    late: bool = False,
) -> Broadcast:
    """Store a broadcast and one delivery per destination. With ``dedupe_key``, an
    existing broadcast with that key is returned instead (never two)."""
    if dedupe_key is not None:
        existing = await session.scalar(select(Broadcast).where(Broadcast.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    broadcast = Broadcast(
        kind=kind,
        dedupe_key=dedupe_key,
        author_discord_id=author,
        target=target,
        target_arg=target_arg,
        content=content,
        title=title,
        body=body,
        footer=footer,
        lang=lang,
        late=late,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(broadcast)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        existing = await session.scalar(select(Broadcast).where(Broadcast.dedupe_key == dedupe_key))
        if existing is None:
            raise
        return existing
    session.add_all(
        Delivery(
            broadcast_id=broadcast.id,
            position=position,
            channel_id=destination.channel_id,
            mention=destination.mention,
            status="pending",
            attempts=0,
        )
        for position, destination in enumerate(destinations)
    )
    await session.flush()
    return broadcast


def audit(
    session: AsyncSession, actor: int | None, broadcast: Broadcast, count: int, now: datetime
) -> None:
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="broadcast.send",
            subject=f"broadcast:{broadcast.id}",
            detail={
                "target": broadcast.target,
                "arg": broadcast.target_arg,
                "title": broadcast.title,
                "destinations": count,
            },
        )
    )


async def unfinished(session: AsyncSession) -> list[int]:
    return list(
        (
            await session.scalars(
                select(Broadcast.id)
                .where(Broadcast.status.in_(("pending", "running")))
                .order_by(Broadcast.id)
            )
        ).all()
    )


@dataclass(frozen=True)
class Report:
    broadcast_id: int
    total: int
    sent: int
    failed: int

    @property
    def done(self) -> int:
        return self.sent + self.failed

    @property
    def finished(self) -> bool:
        return self.done >= self.total


async def report(session: AsyncSession, broadcast_id: int) -> Report:
    rows = (
        await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.broadcast_id == broadcast_id)
            .group_by(Delivery.status)
        )
    ).all()
    counts = {status: count for status, count in rows}
    return Report(
        broadcast_id,
        sum(counts.values()),
        counts.get("sent", 0),
        counts.get("failed", 0),
    )


# --------------------------------------------------------------------------
# Delivering


async def _report(db: Database, broadcast_id: int) -> Report:
    async with db.read() as session:
        return await report(session, broadcast_id)


@dataclass(frozen=True)
class Outgoing:
    """One destination's message: the text (mention first) and an optional embed."""

    channel_id: int
    content: str
    title: str | None
    body: str | None
    footer: str | None
    mention: str | None  # what may ping: "role:<id>", "everyone" or None


def render(broadcast: Broadcast, delivery: Delivery) -> Outgoing:
    prefix = ""
    if delivery.mention == "everyone":
        prefix = "@everyone"
    elif delivery.mention and delivery.mention.startswith("role:"):
        prefix = f"<@&{delivery.mention.split(':', 1)[1]}>"
    content = " ".join(part for part in (prefix, broadcast.content) if part)
    return Outgoing(
        delivery.channel_id,
        content,
        broadcast.title,
        broadcast.body,
        broadcast.footer,
        delivery.mention,
    )


class DeliveryError(Exception):
    """A destination refused the message; ``permanent`` ones are not retried."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, message: Outgoing) -> int:
        """Post the message; return its id or raise :class:`DeliveryError`."""

    async def find_sent(self, message: Outgoing, since: datetime) -> int | None:
        """The id of this message if it was already posted at or after ``since``."""


class Pacer:
    """Spaces sends evenly at ``per_second`` (real time, shared by every fan-out of the bot)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        # A slot is granted only when it is really due, measured when granting: senders that
        # wake up late (a busy event loop) never go out in a burst to catch up.
        while True:
            async with self._lock:
                now = time.monotonic()
                if now >= self._next:
                    self._next = now + self.interval
                    return
                wait = self._next - now
            await asyncio.sleep(wait)


Progress = Callable[[Report], Awaitable[None]]

#: How long one delivery may take (claim, send with Discord's latency, confirm) before
#: the sends in flight can no longer keep the pace.
SEND_BUDGET_S = 0.5


def concurrency_for(per_second: float) -> int:
    """Sends in flight a fan-out needs to keep ``per_second`` when each takes up to
    :data:`SEND_BUDGET_S` (at least 4; the pacer, not this, bounds the rate)."""
    return max(4, math.ceil(per_second * SEND_BUDGET_S))


async def deliver(
    db: Database,
    clock: Clock,
    broadcast_id: int,
    sender: Sender,
    pacer: Pacer,
    *,
    on_progress: Progress | None = None,
    concurrency: int = 4,
    stopped: Callable[[], bool] = lambda: False,
) -> Report:
    """Deliver every pending destination of a broadcast; safe to call again after a crash.

    ``stopped()`` turning true (the bot is shutting down) ends the run early:
    what was not claimed stays pending, what was being sent stays ``sending``
    (checked against the channel when the fan-out resumes).
    """
    async with db.begin() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            raise NotFound("broadcast.unknown")
        if broadcast.status in ("done", "cancelled"):
            return await report(session, broadcast_id)
        broadcast.status = "running"
        uncertain = (
            await session.scalars(
                select(Delivery).where(
                    Delivery.broadcast_id == broadcast_id, Delivery.status == "sending"
                )
            )
        ).all()
        session.expunge_all()
    # The bot died between claiming these and recording the result: look before resending.
    for delivery in uncertain:
        message = render(broadcast, delivery)
        since = delivery.claimed_at or broadcast.created_at
        try:
            found = await sender.find_sent(message, since)
        except DeliveryError:
            found = None
        async with db.begin() as session:
            if found is not None:
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery.id)
                    .values(status="sent", message_id=found, sent_at=clock.now())
                )
                log.info(
                    "broadcast %s: channel %s already had it", broadcast_id, delivery.channel_id
                )
            else:
                await session.execute(
                    update(Delivery).where(Delivery.id == delivery.id).values(status="pending")
                )

    async with db.read() as session:
        ids = list(
            (
                await session.scalars(
                    select(Delivery.id)
                    .where(Delivery.broadcast_id == broadcast_id, Delivery.status == "pending")
                    .order_by(Delivery.position, Delivery.id)
                )
            ).all()
        )
    queue: asyncio.Queue[int] = asyncio.Queue()
    for delivery_id in ids:
        queue.put_nowait(delivery_id)
    progress_lock = asyncio.Lock()

    async def tell() -> None:
        if on_progress is None:
            return
        async with progress_lock:
            async with db.read() as session:
                current = await report(session, broadcast_id)
            try:
                await on_progress(current)
            except Exception:
                log.exception("broadcast %s: progress callback failed", broadcast_id)

    async def one(delivery_id: int) -> None:
        await pacer.wait()
        if stopped():
            return
        async with db.begin() as session:
            claimed = await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.status == "pending")
                .values(status="sending", attempts=Delivery.attempts + 1, claimed_at=clock.now())
            )
            if not claimed.rowcount:
                return  # someone else has it
            delivery = await session.get(Delivery, delivery_id)
            assert delivery is not None
            attempts = delivery.attempts
            message = render(broadcast, delivery)
        try:
            message_id = await sender.send(message)
        except Exception as exc:
            if stopped() or not isinstance(exc, DeliveryError):
                # Shutting down (or an unexpected failure): leave the row "sending" for
                # the resumed run to check, rather than guess whether it went out.
                if not stopped():
                    log.exception("broadcast %s: unexpected error", broadcast_id)
                return

            retry = not exc.permanent and attempts < MAX_ATTEMPTS
            async with db.begin() as session:
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id)
                    .values(status="pending" if retry else "failed", error=exc.reason[:300])
                )
            log.warning(
                "broadcast %s: channel %s refused (%s)%s",
                broadcast_id,
                message.channel_id,
                exc.reason,
                ", will retry" if retry else "",
            )
            if retry:
                await asyncio.sleep(RETRY_PAUSE_S)
                queue.put_nowait(delivery_id)
            else:
                await tell()
            return
        async with db.begin() as session:
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status="sent", message_id=message_id, sent_at=clock.now(), error=None)
            )
        await tell()

    async def worker() -> None:
        while not stopped():
            try:
                delivery_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(delivery_id)

    while not queue.empty() and not stopped():
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    if stopped():
        log.info("broadcast %s interrupted by shutdown; it resumes at the next start", broadcast_id)
        return await _report(db, broadcast_id)

    async with db.begin() as session:
        final = await report(session, broadcast_id)
        if final.finished:
            await session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id)
                .values(status="done", finished_at=clock.now())
            )
    if on_progress is not None:
        try:
            await on_progress(final)
        except Exception:
            log.exception("broadcast %s: progress callback failed", broadcast_id)
    log.info(
        "broadcast %s (%s): %d sent, %d failed of %d",
        broadcast_id,
        broadcast.kind,
        final.sent,
        final.failed,
        final.total,
    )
    return final
