"""The event as a whole: its timeline seen from "now", and small event-wide state."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.models import KV, Phase

log = logging.getLogger(__name__)

# What a phase can open, in the order /about lists them.
CAPABILITIES: tuple[str, ...] = (
    "registration",
    "problem_collection",
    "new_teams",
    "team_changes",
    "help_queue",
    "submissions",
    "judging",
)


#: KV key holding organisers' per-capability overrides: {"submissions": "open" | "closed"}.
OVERRIDES_KEY = "timeline.overrides"


@dataclass(frozen=True)
class PhaseView:
    key: str
    name: str
    starts_at: datetime
    ends_at: datetime | None
    opens: frozenset[str]


@dataclass(frozen=True)
class Overview:
    event_name: str
    phases: list[PhaseView]
    current: PhaseView | None
    next: PhaseView | None
    open_now: frozenset[str] = field(default_factory=frozenset)

    @property
    def finished(self) -> bool:
        return bool(self.phases) and self.current is None and self.next is None

    @property
    def not_started(self) -> bool:
        return bool(self.phases) and self.current is None and self.next is self.phases[0]


async def sync_phases(session: AsyncSession, settings: Settings) -> int:
    """Seed the timeline from the config the first time; afterwards the database is the truth.

    Returns how many phases were inserted.
    """
    existing = await session.scalar(select(func.count()).select_from(Phase))
    if existing:
        return 0
    for position, phase in enumerate(settings.phases):
        session.add(
            Phase(
                key=phase.key,
                name=phase.name,
                position=position,
                starts_at=phase.start,
                ends_at=phase.end,
                opens=sorted(phase.opens),
            )
        )
    if settings.phases:
        log.info("seeded %d phases from the config", len(settings.phases))
    return len(settings.phases)


# --------------------------------------------------------------------------
# The timeline cache
#
# Nearly every command asks what is open now: the phases and the organisers' overrides,
# two queries each time, for values that change a few times per event. They are kept
# in memory per database (URL) and dropped whenever a session of this process writes a
# phase or a KV row (ORM changes, or ``insert/update/delete`` statements on them): at
# the flush and again at the commit. A reader stores what it read only if nothing was
# written since its transaction began (a generation counter), so an old snapshot never
# overwrites a newer timeline; a session that has written phases itself reads the
# database, not the cache. One bot process owns an event's database; changes made by
# another process (or with raw SQL) are not seen until the bot restarts.


@dataclass
class _Cached:
    phases: list[PhaseView] | None = None
    overrides: dict[str, str] | None = None
    generation: int = 0


_CACHE: dict[str, _Cached] = {}
_GENERATION_AT_BEGIN = "hackbot_timeline_generation"
_TOUCHED = "hackbot_timeline_touched"


def _cache_key(session: AsyncSession) -> str | None:
    bind = session.bind
    if bind is None:
        return None
    url = bind.url
    if url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"
    ):
        return None  # every in-memory database has the same URL
    return url.render_as_string(hide_password=False)


def _entry(key: str) -> _Cached:
    entry = _CACHE.get(key)
    if entry is None:
        entry = _CACHE[key] = _Cached()
    return entry


def _touches_timeline(objects: Any) -> bool:
    return any(isinstance(o, (Phase, KV)) for o in objects)


def _usable(session: AsyncSession) -> _Cached | None:
    """The cache entry this session may read and fill, or None (read the database)."""
    key = _cache_key(session)
    if key is None:
        return None
    sync = session.sync_session
    if sync.info.get(_TOUCHED) or _touches_timeline([*sync.new, *sync.dirty, *sync.deleted]):
        return None
    return _entry(key)


def _may_store(session: AsyncSession, entry: _Cached) -> bool:
    began = session.sync_session.info.get(_GENERATION_AT_BEGIN)
    return began is not None and began == entry.generation


def _invalidate(session: Any) -> None:
    bind = session.bind
    if bind is None:
        return
    url = bind.url
    key = url.render_as_string(hide_password=False)
    entry = _entry(key)
    entry.phases = entry.overrides = None
    entry.generation += 1


def clear_timeline_cache() -> None:
    """Forget every cached timeline (tests that write phases behind the ORM's back)."""
    for entry in _CACHE.values():
        entry.phases = entry.overrides = None
        entry.generation += 1


def _install_cache_events() -> None:
    from sqlalchemy import event as sa_event
    from sqlalchemy.orm import Session

    @sa_event.listens_for(Session, "after_begin")
    def _began(session: Session, transaction: Any, connection: Any) -> None:
        key = connection.engine.url.render_as_string(hide_password=False)
        session.info[_GENERATION_AT_BEGIN] = _entry(key).generation

    @sa_event.listens_for(Session, "before_flush")
    def _flushing(session: Session, context: Any, instances: Any) -> None:
        if _touches_timeline([*session.new, *session.dirty, *session.deleted]):
            session.info[_TOUCHED] = True
            _invalidate(session)

    @sa_event.listens_for(Session, "do_orm_execute")
    def _executing(state: Any) -> None:
        if not (state.is_insert or state.is_update or state.is_delete):
            return
        mapper = state.bind_mapper
        if mapper is not None and mapper.class_ in (Phase, KV):
            state.session.info[_TOUCHED] = True
            _invalidate(state.session)

    @sa_event.listens_for(Session, "after_commit")
    def _committed(session: Session) -> None:
        if session.info.pop(_TOUCHED, False):
            _invalidate(session)
        session.info.pop(_GENERATION_AT_BEGIN, None)

    @sa_event.listens_for(Session, "after_rollback")
    def _rolled_back(session: Session) -> None:
        if session.info.pop(_TOUCHED, False):
            _invalidate(session)
        session.info.pop(_GENERATION_AT_BEGIN, None)


_install_cache_events()


async def timeline(session: AsyncSession) -> list[PhaseView]:
    entry = _usable(session)
    if entry is not None and entry.phases is not None:
        return list(entry.phases)
    phases = await _read_timeline(session)
    if entry is not None and _may_store(session, entry):
        entry.phases = phases
    return list(phases)


async def _read_timeline(session: AsyncSession) -> list[PhaseView]:
    rows = (await session.scalars(select(Phase).order_by(Phase.starts_at, Phase.position))).all()
    return [
        PhaseView(
            key=row.key,
            name=row.name,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            opens=frozenset(row.opens or ()),
        )
        for row in rows
    ]


def locate(phases: list[PhaseView], now: datetime) -> tuple[PhaseView | None, PhaseView | None]:
    """The phase running at ``now`` (if any) and the next one to start."""
    current: PhaseView | None = None
    upcoming: PhaseView | None = None
    for phase in phases:
        if phase.starts_at <= now:
            current = phase
        elif upcoming is None:
            upcoming = phase
    if current is not None and current.ends_at is not None and current.ends_at <= now:
        current = None
    return current, upcoming


def apply_overrides(opens: frozenset[str], overrides: dict[str, str] | None) -> frozenset[str]:
    """What is open once organisers' forced states are applied to what the phase opens."""
    if not overrides:
        return opens
    forced_open = {cap for cap, state in overrides.items() if state == "open"}
    forced_closed = {cap for cap, state in overrides.items() if state == "closed"}
    return frozenset((opens | forced_open) - forced_closed)


async def get_overrides(session: AsyncSession) -> dict[str, str]:
    entry = _usable(session)
    if entry is not None and entry.overrides is not None:
        return dict(entry.overrides)
    value = await get_state(session, OVERRIDES_KEY)
    overrides = dict(value) if isinstance(value, dict) else {}
    if entry is not None and _may_store(session, entry):
        entry.overrides = overrides
    return dict(overrides)


async def overview(session: AsyncSession, settings: Settings, now: datetime) -> Overview:
    """The timeline seen from ``now``. ``open_now`` is what
    :func:`bot.services.timeline.is_open` answers (phase plus organiser overrides)."""
    phases = await timeline(session)
    current, upcoming = locate(phases, now)
    return Overview(
        event_name=settings.event.name,
        phases=phases,
        current=current,
        next=upcoming,
        open_now=apply_overrides(scheduled_opens(phases, current), await get_overrides(session)),
    )


def scheduled_opens(phases: list[PhaseView], current: PhaseView | None) -> frozenset[str]:
    """What the timeline opens now. An event without any phase has everything open:
    a small event need not write a timeline (organisers can still close things)."""
    if not phases:
        return frozenset(CAPABILITIES)
    return current.opens if current else frozenset()


async def get_state(session: AsyncSession, key: str) -> Any:
    row = await session.get(KV, key)
    return None if row is None else row.value


async def set_state(session: AsyncSession, key: str, value: Any) -> None:
    row = await session.get(KV, key)
    if row is None:
        session.add(KV(key=key, value=value))
    else:
        row.value = value
