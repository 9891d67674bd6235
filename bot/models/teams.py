"""Registration, profiles and teams (issue 4).

* ``profiles``: one per registered participant (a :class:`~bot.models.Member`),
  what they told the bot at ``/register``.
* ``registrants``: the optional list organisers import; e-mail addresses and
  personal codes are stored only as salted-free SHA-256 digests of their
  normalised form (never shown back), names as written.
* ``teams`` and ``team_members``: a member is in at most one team at a time
  (unique ``member_id``); names are unique case- and accent-insensitively
  (``name_folded``) and map to a unique channel-safe ``slug``.
* ``team_requests``: join requests (someone asks) and invitations (a member
  asks someone), each pending until accepted, declined or withdrawn.
* ``team_access``: people other than members who may see a team's space
  (mentors helping it).
* ``autoform_runs``: a stored automatic-matching plan, so confirming it and
  creating the spaces survive a restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base, JSONType, TimestampMixin


class Registrant(Base):
    """One usable row of an imported registrant list."""

    __tablename__ = "registrants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    source_row: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Registrant(id={self.id!r}, row={self.source_row!r})"


class Profile(TimestampMixin, Base):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True
    )
    display_name: Mapped[str] = mapped_column(String(100))
    profile_types: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    skills: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    languages: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # An IANA zone ("Europe/Paris") or a fixed offset ("UTC+05:30").
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Challenge ids they would like to work on, most wanted first.
    wishes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    autoform: Mapped[bool] = mapped_column(Boolean, default=True)
    registrant_id: Mapped[int | None] = mapped_column(
        ForeignKey("registrants.id", ondelete="SET NULL"), unique=True
    )
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    card_posted_at: Mapped[datetime | None]
    # Their /lft card on the board, removed once they are in a team.
    card_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"Profile(id={self.id!r}, member_id={self.member_id!r})"


class Team(TimestampMixin, Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_folded: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    challenge_id: Mapped[int | None] = mapped_column(
        ForeignKey("challenges.id", ondelete="SET NULL"), index=True
    )
    captain_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    open: Mapped[bool] = mapped_column(Boolean, default=False)
    # Profile types the team is looking for (from /team recruit).
    looking_for: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # Where it lives on Discord: "channel" (plus optional voice) or "thread" (in the hub).
    space_kind: Mapped[str | None] = mapped_column(String(16))
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    voice_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    card_posted_at: Mapped[datetime | None]
    # Its /team recruit card on the board, removed once the team is full or archived.
    card_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    autoform_run_id: Mapped[int | None] = mapped_column(Integer)
    archived_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"Team(id={self.id!r}, slug={self.slug!r})"


class TeamMember(Base):
    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    # One team per participant, enforced by the database.
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True
    )
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"TeamMember(team_id={self.team_id!r}, member_id={self.member_id!r})"


class TeamRequest(Base):
    """A join request (``kind="request"``) or an invitation (``kind="invite"``)."""

    __tablename__ = "team_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('request', 'invite')", name="kind"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'withdrawn')", name="status"
        ),
        Index(None, "team_id", "member_id", "status"),
        # A member's pending requests and invitations, whatever the team.
        Index(None, "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    channel_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_discord_id: Mapped[int | None] = mapped_column(BigInteger)

    def __repr__(self) -> str:
        return f"TeamRequest(id={self.id!r}, kind={self.kind!r}, status={self.status!r})"


class TeamAccess(Base):
    """Someone who is not a member but may see the team's space (a mentor helping it)."""

    __tablename__ = "team_access"
    __table_args__ = (UniqueConstraint("team_id", "discord_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    discord_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reason: Mapped[str] = mapped_column(String(32), default="mentor")
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AutoformRun(Base):
    """One ``/admin teams autoform``: its plan, then its progress creating teams and spaces."""

    __tablename__ = "autoform_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('preview', 'spaces', 'done', 'cancelled', 'stale')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="preview")
    challenge_id: Mapped[int | None] = mapped_column(Integer)
    requested_by_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    lang: Mapped[str] = mapped_column(String(8), default="en")
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    figures: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    team_ids: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    done_spaces: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
