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


async def timeline(session: AsyncSession) -> list[PhaseView]:
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
    value = await get_state(session, OVERRIDES_KEY)
    return dict(value) if isinstance(value, dict) else {}


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
