"""Judging and results (issue 7).

* ``judge_reviews``: one judge's look at one project in one round: assigned, then
  scored (rubric scores by criterion key), skipped or flagged (broken/absent). In
  pairwise mode only skips and flags are stored here.
* ``judge_comparisons``: pairwise votes (winner, loser), the raw material of the
  Crowd Bradley-Terry model.
* ``pairwise_items`` / ``pairwise_judges``: the model's state per round: each
  project's quality estimate (mean ``mu``, variance ``sigma_sq``) and each judge's
  reliability (``alpha``/``beta``), with the project in front of them and the previous one.
* ``awards``: shortlist, finalists and winners (``scope`` is ``overall`` or
  ``challenge:<id>``); ``manual`` marks a winner an organiser placed by hand.
* ``ceremonies``: a winners' announcement in progress, revealed one by one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base, JSONType


class Review(Base):
    __tablename__ = "judge_reviews"
    __table_args__ = (
        UniqueConstraint("round", "submission_id", "judge_discord_id"),
        CheckConstraint("status IN ('assigned', 'scored', 'skipped', 'flagged')", name="status"),
        Index(None, "round", "status"),
        Index(None, "judge_discord_id", "round"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    judge_discord_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="assigned")
    scores: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    flag_reason: Mapped[str | None] = mapped_column(String(32))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class Comparison(Base):
    __tablename__ = "judge_comparisons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round: Mapped[int] = mapped_column(Integer, index=True)
    judge_discord_id: Mapped[int] = mapped_column(BigInteger)
    winner_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    loser_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PairwiseItem(Base):
    __tablename__ = "pairwise_items"
    __table_args__ = (UniqueConstraint("round", "submission_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    mu: Mapped[float] = mapped_column(Float)
    sigma_sq: Mapped[float] = mapped_column(Float)
    views: Mapped[int] = mapped_column(Integer, default=0)


class PairwiseJudge(Base):
    __tablename__ = "pairwise_judges"
    __table_args__ = (UniqueConstraint("round", "judge_discord_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round: Mapped[int] = mapped_column(Integer)
    judge_discord_id: Mapped[int] = mapped_column(BigInteger)
    alpha: Mapped[float] = mapped_column(Float)
    beta: Mapped[float] = mapped_column(Float)
    current_id: Mapped[int | None] = mapped_column(Integer)
    previous_id: Mapped[int | None] = mapped_column(Integer)
    # Submission ids this judge has seen or skipped in this round (never shown again).
    seen: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Award(Base):
    __tablename__ = "awards"
    __table_args__ = (
        UniqueConstraint("kind", "scope", "submission_id"),
        CheckConstraint("kind IN ('shortlist', 'finalist', 'winner')", name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # "overall" or "challenge:<id>".
    scope: Mapped[str] = mapped_column(String(32))
    round: Mapped[int] = mapped_column(Integer)
    place: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    score: Mapped[float | None] = mapped_column(Float)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    # Placed by an organiser (/admin judging winner-set), not taken from the ranking.
    manual: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Ceremony(Base):
    __tablename__ = "ceremonies"
    __table_args__ = (CheckConstraint("status IN ('running', 'done', 'cancelled')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="running")
    interval_seconds: Mapped[int] = mapped_column(Integer)
    # Award ids in the order they are revealed, and how many are out.
    order: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    revealed: Mapped[int] = mapped_column(Integer, default=0)
    lang: Mapped[str] = mapped_column(String(8), default="en")
    started_by_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
