"""Problem statements: what participants submit before challenges exist (issue 5).

A statement is a forum post on Discord (``thread_id``); curators accept,
reject, mark duplicates and merge statements into challenges.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base, TimestampMixin


class ProblemStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for a curator
    ACCEPTED = "accepted"  # kept: a candidate for a challenge
    REJECTED = "rejected"  # not kept; the author was told why
    DUPLICATE = "duplicate"  # the same problem as ``duplicate_of_id``
    MERGED = "merged"  # part of challenge ``challenge_id``


class ProblemStatement(TimestampMixin, Base):
    __tablename__ = "problem_statements"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'accepted', 'rejected', 'duplicate', 'merged')",
            name="status",
        ),
        # The review queue: pending statements, oldest first.
        Index(None, "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_discord_id: Mapped[int] = mapped_column(BigInteger, index=True)
    author_name: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    affected: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    theme: Mapped[str | None] = mapped_column(String(20))
    # The author's language when they submitted ("en"/"fr"), for messages sent back to them.
    lang: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default=ProblemStatus.PENDING.value)
    reason: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("problem_statements.id", ondelete="SET NULL")
    )
    challenge_id: Mapped[int | None] = mapped_column(
        ForeignKey("challenges.id", ondelete="SET NULL"), index=True
    )
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    # The forum post (a thread; its starter message has the same id).
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    post_archived: Mapped[bool] = mapped_column(default=False)
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None]
    # A curator looking at it now (so two curators do not review the same statement).
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"ProblemStatement(id={self.id!r}, status={self.status!r})"


class ProblemSupport(Base):
    """One member supporting one statement (the Support button)."""

    __tablename__ = "problem_supports"
    __table_args__ = (UniqueConstraint("problem_id", "member_discord_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problem_statements.id", ondelete="CASCADE"))
    member_discord_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChallengeFollower(Base):
    """A member following a challenge (its Follow button)."""

    __tablename__ = "challenge_followers"
    __table_args__ = (UniqueConstraint("challenge_id", "member_discord_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    challenge_id: Mapped[int] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"))
    member_discord_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
