"""Project submissions (issue 7).

* ``submissions``: one per team (unique ``team_id``), the current content, its
  version number, lateness and flags for the organisers, and how far the gallery
  post and the team's receipt have caught up with it (``gallery_version``,
  ``receipt_version``: work left after a restart is found by comparing them with
  ``version``).
* ``submission_versions``: every confirmed version, content as it was, who and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base, JSONType, TimestampMixin


class Submission(TimestampMixin, Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    pitch: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text)
    repo_url: Mapped[str] = mapped_column(String(500), default="")
    demo_url: Mapped[str] = mapped_column(String(500), default="")
    # Answers to the event's extra fields, by field key.
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # The repository URL normalised (host lowercased, no scheme, no ".git"): duplicates.
    repo_key: Mapped[str | None] = mapped_column(String(500), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    submitted_at: Mapped[datetime]
    last_edit_at: Mapped[datetime]
    last_editor_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    # Seconds past the deadline (and its grace) of the latest version, when accepted late.
    late_seconds: Mapped[int | None] = mapped_column(Integer)
    # For the organisers: "late", "duplicate_repo".
    flags: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # An organiser reopened it: the team may edit until then whatever the timeline says.
    reopened_until: Mapped[datetime | None]
    gallery_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    gallery_version: Mapped[int] = mapped_column(Integer, default=0)
    receipt_version: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"Submission(id={self.id!r}, team_id={self.team_id!r}, v={self.version!r})"


class SubmissionVersion(Base):
    __tablename__ = "submission_versions"
    __table_args__ = (UniqueConstraint("submission_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    by_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    late_seconds: Mapped[int | None] = mapped_column(Integer)

    def __repr__(self) -> str:
        return f"SubmissionVersion(submission_id={self.submission_id!r}, v={self.version!r})"
