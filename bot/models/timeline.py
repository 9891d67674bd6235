"""Timeline state: broadcasts and their deliveries, and the scheduled events mirroring phases.

Every message the bot fans out is stored before it is sent. A :class:`Broadcast` is one message for a set of destinations (an organiser's
``/admin broadcast``, a deadline reminder, a phase-change announcement); each
destination is a :class:`Delivery` row. A delivery is claimed (``sending``)
before the message goes out and confirmed (``sent`` with the message id)
after, so a restart resumes a fan-out where it stopped and never sends a
destination twice. ``Broadcast.dedupe_key`` makes automatic broadcasts
(one reminder per deadline and offset) unique.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import Base, TimestampMixin


class Broadcast(TimestampMixin, Base):
    __tablename__ = "broadcasts"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'done', 'cancelled')", name="status"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # manual, reminder, phase_change, extension
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    author_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    target: Mapped[str] = mapped_column(String(64))
    target_arg: Mapped[str | None] = mapped_column(String(100))
    # What every destination receives: a text line and/or an embed (title + body).
    content: Mapped[str] = mapped_column(Text, default="")
    title: Mapped[str | None] = mapped_column(String(256))
    body: Mapped[str | None] = mapped_column(Text)
    footer: Mapped[str | None] = mapped_column(String(300))
    lang: Mapped[str] = mapped_column(String(8), default="en")
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    finished_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"Broadcast(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "channel_id"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    # "role:<id>", "everyone" or None: who this destination's message pings.
    mention: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))

    def __repr__(self) -> str:
        return f"Delivery(id={self.id!r}, channel_id={self.channel_id!r}, status={self.status!r})"


class PhaseMirror(Base):
    """The Discord scheduled event that mirrors a phase, and what it last showed."""

    __tablename__ = "phase_mirrors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phase_id: Mapped[int] = mapped_column(ForeignKey("phases.id", ondelete="CASCADE"), unique=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    # A digest of the name, times, description and status last sent to Discord.
    state: Mapped[str] = mapped_column(String(64), default="")
    # scheduled, active, ended (completed or removed on Discord's side)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
