"""Mentor help (issue 6): tickets and mentors on duty.

* ``help_tickets``: one row per request for help. While a ticket is ``open``
  (waiting in the queue) or ``claimed`` (a mentor is on it), ``active_team_id``
  holds its team id; that column is unique, so a team never has two live
  tickets, whatever the timing. ``epoch`` counts how many times the ticket
  (re)entered the queue and ``claims`` how many times it was claimed: stored
  timers carry them, so a timer set for an earlier wait or an earlier claim
  does nothing.
* ``help_mentors``: a mentor's duty state and skills, and when they were last
  pinged (routing rotates fairly through mentors with the same skills).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.clock import utcnow
from bot.models import Base, JSONType

TICKET_STATUSES = ("open", "claimed", "resolved", "cancelled", "expired")
LIVE_STATUSES = ("open", "claimed")
MEET_KINDS = ("space", "voice", "table")


class HelpTicket(Base):
    __tablename__ = "help_tickets"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'claimed', 'resolved', 'cancelled', 'expired')", name="status"
        ),
        CheckConstraint("meet IN ('space', 'voice', 'table')", name="meet"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating"),
        # The queue: live tickets, oldest first.
        Index(None, "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(Integer, index=True)
    # The team id while the ticket is open or claimed, else NULL: one live ticket per team.
    active_team_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    asker_discord_id: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(100))
    challenge_id: Mapped[int | None] = mapped_column(Integer)
    # Lowercase skills that route the ticket (the topic, or the challenge's mentor skills).
    skills: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(String(400))
    meet: Mapped[str] = mapped_column(String(16), default="space")
    meet_detail: Mapped[str | None] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When it last entered the queue (creation, or back after a release).
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    escalation: Mapped[int] = mapped_column(Integer, default=0)
    # Mentors already pinged for this ticket (discord ids), so escalation widens.
    pinged: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    claims: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[int | None] = mapped_column(BigInteger, index=True)
    claimed_at: Mapped[datetime | None]
    first_claimed_at: Mapped[datetime | None]
    # Last sign of life of the claim (the claim itself, or "Still helping").
    active_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(BigInteger, index=True)
    close_reason: Mapped[str | None] = mapped_column(String(32))
    # Where the bot shows it: the card in the queue channel, the team's status message.
    card_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    status_channel_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # What the status message shows now ({"position": 3, "eta": 10, "state": "waiting"}).
    shown: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    shown_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    rated_by: Mapped[int | None] = mapped_column(BigInteger)
    rated_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"HelpTicket(id={self.id!r}, team_id={self.team_id!r}, status={self.status!r})"


class HelpMentor(Base):
    __tablename__ = "help_mentors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discord_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    skills: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    duty_since: Mapped[datetime | None]
    last_pinged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"HelpMentor(discord_id={self.discord_id!r}, on_duty={self.on_duty!r})"
