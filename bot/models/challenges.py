"""Challenges: the problems teams work on, each with a home on Discord.

Issue 5 (the problem-statement funnel) extends this; teams, broadcasts,
the gallery and judging refer to a challenge by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.models import Base, JSONType, TimestampMixin


class Challenge(TimestampMixin, Base):
    __tablename__ = "challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Channel-safe slug (``climate-data``) and a case- and accent-folded name for uniqueness.
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_folded: Mapped[str] = mapped_column(String(100), unique=True)
    summary: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    sponsor: Mapped[str | None] = mapped_column(String(100))
    mentor_skills: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Where it lives on Discord: a channel, or a forum post when channels run short.
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    role_id: Mapped[int | None] = mapped_column(BigInteger)
    pinned_message_id: Mapped[int | None] = mapped_column(BigInteger)
    archived_at: Mapped[datetime | None]
    # The second pinned message: the teams working on it (edited when teams change).
    teams_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # What that message shows now: {"digest": ..., "team_ids": [...]} (skips needless edits and
    # lets a team that moved away be removed from its old challenge's listing).
    listing: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    def __repr__(self) -> str:
        return f"Challenge(id={self.id!r}, slug={self.slug!r})"
