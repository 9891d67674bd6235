"""The outbox: every write the bot makes to Discord on its own initiative, stored first.

A feature never calls Discord to grant a role, post a card or open a team's access; it
adds an :class:`OutboxWrite` in the same transaction as the change that calls for it, and
the outbox worker (:mod:`bot.outbox`) carries the writes out at the pace Discord allows,
most urgent first. A write is ``pending`` until the worker claims it (``sending``,
committed before the request leaves), then ``done`` (with what Discord answered, e.g. a
message id), ``failed`` (Discord refused it for good) or ``cancelled`` (coalesced away:
a role granted then removed before it was sent costs nothing). A write found
``sending`` at start-up was cut by a crash: the worker carries it out again in a way
that cannot double it (idempotent routes as they are, messages with the same nonce).

``lane`` groups the writes that share one of Discord's rate-limit buckets (member
roles of a guild, the messages of a channel...): a lane is served one write at a time,
lanes in parallel under the global limit. ``coalesce_key`` names what a write changes
(a member's role, a message's content) so that a newer write to the same thing
supersedes a pending one. ``batch`` groups the writes of one piece of bulk work (a
broadcast, a rush of registrations) for progress reports.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base


class Priority(enum.IntEnum):
    """Who waits for the write. Lower is served first."""

    URGENT = 0  # a person is waiting for it right now (a mentor's access, a reply's follow-up)
    NORMAL = 1  # part of an action, nobody staring at it (a card's edit, a space's welcome)
    BULK = 2  # many of the same (a registration rush's roles, a broadcast, the gallery)


class WriteStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxWrite(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'done', 'failed', 'cancelled')", name="status"
        ),
        # The worker's start-up load and the backlog figures: what is still to do, in order.
        Index(None, "status", "id"),
        Index(None, "coalesce_key"),
        Index(None, "batch"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    lane: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.NORMAL.value)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    coalesce_key: Mapped[str | None] = mapped_column(String(200))
    batch: Mapped[str | None] = mapped_column(String(64))
    on_done: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=WriteStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return (
            f"OutboxWrite(id={self.id!r}, kind={self.kind!r}, lane={self.lane!r}, "
            f"status={self.status!r})"
        )
