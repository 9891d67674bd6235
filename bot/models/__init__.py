"""ORM models. Alembic (``migrations/``) owns the schema built from them.

The shared pieces (``Base``, column types, naming convention) and the
foundation's tables live here; each feature that adds tables does so in its
own module, ``bot/models/<feature>.py``, imported at the bottom of this file
so that ``Base.metadata`` always holds every table, plus a migration revision
under ``migrations/versions/``.

Conventions:

* Discord snowflakes are ``BigInteger`` (they overflow 32-bit integers).
* Every timestamp is a :class:`UTCDateTime`: stored as UTC, returned as an
  aware UTC ``datetime`` on SQLite and PostgreSQL alike; naive values are
  refused. Defaults are callables, evaluated at insert time. Services that
  follow the event's :class:`bot.clock.Clock` (which the sandbox can move
  forward) should set timestamps explicitly from it; the defaults are the
  wall-clock fallback.
* JSON columns use :data:`JSONType` (JSONB on PostgreSQL). Changes inside a
  stored dict or list are not tracked: assign a new value to save them.
* Constraint and index names follow :data:`NAMING_CONVENTION` so migrations
  can refer to them by name on every backend.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.clock import utcnow

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back as an aware UTC datetime.

    SQLite has no time zone storage (``DateTime(timezone=True)`` silently
    drops the offset), so values are converted to UTC before they are
    stored and tagged UTC when read. PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: use an aware UTC datetime"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[str]: JSONType,
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- Members (foundation) ----------------------------------------------------


class Member(TimestampMixin, Base):
    """A Discord user the bot knows about."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discord_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    # Preferred language ("en"/"fr"); None means "follow the Discord locale".
    locale: Mapped[str | None] = mapped_column(String(16))

    def __repr__(self) -> str:
        return f"Member(id={self.id!r}, discord_id={self.discord_id!r})"


# --- Phases (foundation; seeded from config by the bot) ----------------------


class Phase(TimestampMixin, Base):
    """A stage of the event (registration, hacking, judging...)."""

    __tablename__ = "phases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    # Names of the actions this phase opens (e.g. "team_create", "submit").
    opens: Mapped[list[str]] = mapped_column(default=list)

    def __repr__(self) -> str:
        return f"Phase(key={self.key!r}, position={self.position!r})"


# --- Audit log (foundation) --------------------------------------------------


class AuditEntry(Base):
    """Who did what, when: written by services for every organiser-visible change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_discord_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    def __repr__(self) -> str:
        return f"AuditEntry(id={self.id!r}, action={self.action!r}, subject={self.subject!r})"


# --- Timers (foundation) -----------------------------------------------------


class TimerStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


class Timer(Base):
    """Something due at a time: the table is the truth, the scheduler a cache of it.

    ``dedupe_key`` (unique, optional) makes scheduling idempotent: the same
    reminder can never be stored twice.
    """

    __tablename__ = "timers"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'running', 'done', 'skipped', 'failed')",
            name="status",
        ),
        # "What is pending, soonest first": serves the scheduler's rebuild.
        Index(None, "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=TimerStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    def __repr__(self) -> str:
        return f"Timer(id={self.id!r}, kind={self.kind!r}, due_at={self.due_at!r}, status={self.status!r})"


# --- Key/value state (foundation) --------------------------------------------


class KV(Base):
    """Small event-wide state (one JSON value per key)."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"KV(key={self.key!r})"


# --- Feature modules -----------------------------------------------------------
# Imported last: they use Base and the types above. One line per feature.
from bot.models.challenges import Challenge as Challenge  # noqa: E402
from bot.models.help import HelpMentor, HelpTicket  # noqa: E402, F401
from bot.models.judging import (  # noqa: E402, F401
    Award,
    Ceremony,
    Comparison,
    PairwiseItem,
    PairwiseJudge,
    Review,
)
from bot.models.outbox import OutboxWrite  # noqa: E402, F401
from bot.models.problems import ProblemStatement as ProblemStatement  # noqa: E402
from bot.models.submissions import Submission, SubmissionVersion  # noqa: E402, F401
from bot.models.teams import Profile, Team, TeamMember  # noqa: E402, F401
from bot.models.timeline import Broadcast, Delivery, PhaseMirror  # noqa: E402, F401
