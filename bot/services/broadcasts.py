"""Broadcasts: one message to many destinations, stored first, delivered once, resumable.

A broadcast is created with its destinations (one :class:`~bot.models.Delivery`
row each) in one transaction; :func:`queue` then hands every pending destination to the
outbox (:mod:`bot.services.outbox`), in one transaction too: one message write each, in
the broadcast's batch, at bulk priority. The outbox sends them at the pace Discord allows,
after anything a person is waiting for, and records each outcome on its delivery row
(``sent`` with the message id, or ``failed`` with Discord's refusal) in the transaction
that records the write. A restart in the middle of a fan-out resumes where it stopped and
no destination gets the message twice (the outbox repeats a cut send with its nonce).

Targets (who a broadcast goes to) are a small registry: ``register_target(key,
resolver)``; a resolver turns a :class:`TargetContext` into destinations. The
built-in ones are everyone, participants, mentors, judges and one challenge;
features register theirs (teams, teams without a submission) the same way.

Nothing here imports discord.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import InvalidInput, NotFound
from bot.models import AuditEntry, Broadcast, Challenge, Delivery
from bot.models.outbox import Priority
from bot.services import outbox

log = logging.getLogger(__name__)

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
# Delivering: through the outbox

#: The outbox handler that records a destination's outcome.
DELIVERED = "broadcast.delivered"
#: Discord's "gold", the colour of broadcast embeds.
GOLD = 0xF1C40F


def mentions_for(mention: str | None) -> dict[str, Any]:
    """Exactly what the destination should ping (Discord's allowed_mentions), nothing a
    message's text might add."""
    if mention == "everyone":
        return {"parse": ["everyone"]}
    if mention and mention.startswith("role:"):
        return {"parse": [], "roles": [mention.split(":", 1)[1]]}
    return {"parse": []}


def render(broadcast: Broadcast, delivery: Delivery) -> outbox.Write:
    """One destination's message (mention first, then the text, and an embed), as an
    outbox write of the broadcast's batch."""
    prefix = ""
    if delivery.mention == "everyone":
        prefix = "@everyone"
    elif delivery.mention and delivery.mention.startswith("role:"):
        prefix = f"<@&{delivery.mention.split(':', 1)[1]}>"
    content = " ".join(part for part in (prefix, broadcast.content) if part)
    embeds: list[dict[str, Any]] = []
    if broadcast.title or broadcast.body:
        embed: dict[str, Any] = {"color": GOLD}
        if broadcast.title:
            embed["title"] = broadcast.title
        if broadcast.body:
            embed["description"] = broadcast.body
        if broadcast.footer:
            embed["footer"] = {"text": broadcast.footer}
        embeds.append(embed)
    return outbox.message_send(
        delivery.channel_id,
        content=content or None,
        embeds=embeds,
        mentions=mentions_for(delivery.mention),
        priority=Priority.BULK,
        batch=f"broadcast:{broadcast.id}",
        on_done=DELIVERED,
        ref={"delivery_id": delivery.id},
    )


async def queue(session: AsyncSession, now: datetime, broadcast_id: int) -> int:
    """Hand every pending destination of a broadcast to the outbox, in this transaction;
    how many. Safe to call again (after a restart): a destination handed over is
    ``sending`` until the outbox records its outcome, and is never handed over twice."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound("broadcast.unknown")
    if broadcast.status in ("done", "cancelled"):
        return 0
    broadcast.status = "running"
    pending = (
        await session.scalars(
            select(Delivery)
            .where(Delivery.broadcast_id == broadcast_id, Delivery.status == "pending")
            .order_by(Delivery.position, Delivery.id)
        )
    ).all()
    if not pending:
        return 0
    await outbox.enqueue_many(session, now, [render(broadcast, d) for d in pending])
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_([d.id for d in pending]))
        .values(status="sending", attempts=Delivery.attempts + 1, claimed_at=now)
    )
    return len(pending)


@outbox.on_done_many(DELIVERED)
async def _delivered(
    session: AsyncSession,
    now: datetime,
    outcomes: list[tuple[outbox.Claimed, dict[str, Any] | None, str | None]],
) -> None:
    """Each destination's outcome on its delivery row, in one statement for the lot."""
    rows: list[dict[str, Any]] = []
    for write, result, error in outcomes:
        delivery_id = int(write.payload["ref"]["delivery_id"])
        if error is None:
            rows.append(
                {
                    "id": delivery_id,
                    "status": "sent",
                    "message_id": (result or {}).get("message_id"),
                    "sent_at": now,
                    "error": None,
                }
            )
        else:
            rows.append({"id": delivery_id, "status": "failed", "error": error[:300]})
            log.warning("broadcast delivery %s refused: %s", delivery_id, error)
    sent = [r for r in rows if r["status"] == "sent"]
    failed = [r for r in rows if r["status"] == "failed"]
    for group in (sent, failed):  # one shape of row per statement
        if group:
            await session.execute(update(Delivery), group)


async def finish(session: AsyncSession, now: datetime, broadcast_id: int) -> Report:
    """The broadcast's figures; marked done once every destination has its outcome."""
    final = await report(session, broadcast_id)
    if final.finished:
        await session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status != "done")
            .values(status="done", finished_at=now)
        )
    return final
