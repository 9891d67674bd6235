"""The timeline: phases, what they open, organisers' edits, and the timers that follow them.

The ``phases`` table is the truth (seeded from the config at first start by
:func:`bot.services.event.sync_phases`). Everything else is derived from it:

* **what is open now** — :func:`is_open` / :func:`require_open`, the one
  question every feature asks ("may a team submit now?"), consistent with
  ``/about`` because both go through :func:`bot.services.event.overview`;
  organisers may force a capability open or closed (:func:`set_override`);
* **boundaries** — every moment a phase starts or ends. At each one a
  ``timeline.transition`` timer announces what opened and closed;
* **deadlines** — boundaries that close one of the configured features
  (``[timeline] deadlines``). Before each one, ``timeline.reminder`` timers
  fire at the configured offsets.

:func:`plan_timers` makes the pending timers match the timeline (it runs in the
transaction of every edit and at start-up): timers that no longer match are
cancelled, missing ones are added if their moment is still ahead. A timer
left pending across downtime is kept, so it fires late once the bot is back
(the handler then decides whether it is still worth sending).

Every edit is validated (phases in order, no overlap), audited and returns
what changed; nothing here talks to Discord.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import Conflict, InvalidInput, NotFound, PhaseClosed
from bot.i18n import SUPPORTED, t
from bot.models import AuditEntry, Phase, Timer
from bot.services import event as event_service
from bot.services.event import CAPABILITIES, PhaseView

if TYPE_CHECKING:
    from bot.scheduler import TimerScheduler

log = logging.getLogger(__name__)

OVERRIDES_KEY = event_service.OVERRIDES_KEY
REMINDER = "timeline.reminder"
TRANSITION = "timeline.transition"
TIMER_KINDS = (REMINDER, TRANSITION)
OVERRIDE_STATES = ("open", "closed", "auto")
_KEY = re.compile(r"[a-z0-9_-]{1,32}")
_EPSILON = timedelta(microseconds=1)


# --------------------------------------------------------------------------
# Reading the timeline


async def phase_rows(session: AsyncSession) -> list[Phase]:
    return list(
        (await session.scalars(select(Phase).order_by(Phase.starts_at, Phase.position))).all()
    )


async def get_phase(session: AsyncSession, key: str) -> Phase:
    row = await session.scalar(select(Phase).where(Phase.key == key))
    if row is None:
        raise NotFound("timeline.unknown_phase", phase_key=key)
    return row


def effective_end(phases: list[PhaseView], index: int) -> datetime | None:
    """When a phase stops being current: its end, else the next phase's start."""
    phase = phases[index]
    if phase.ends_at is not None:
        return phase.ends_at
    if index + 1 < len(phases):
        return phases[index + 1].starts_at
    return None


def opens_at(phases: list[PhaseView], when: datetime) -> frozenset[str]:
    """What the phases (without organiser overrides) open at ``when``."""
    current, _ = event_service.locate(phases, when)
    return current.opens if current else frozenset()


def boundaries(phases: list[PhaseView]) -> list[datetime]:
    """Every moment the timeline changes (a phase starts or ends), in order."""
    moments = {phase.starts_at for phase in phases}
    moments.update(phase.ends_at for phase in phases if phase.ends_at is not None)
    return sorted(moments)


@dataclass(frozen=True)
class Transition:
    at: datetime
    before: PhaseView | None
    after: PhaseView | None
    opened: frozenset[str]
    closed: frozenset[str]

    @property
    def phase_changed(self) -> bool:
        return (self.before and self.before.key) != (self.after and self.after.key)


def transition_at(
    phases: list[PhaseView], at: datetime, overrides: dict[str, str] | None = None
) -> Transition:
    before, _ = event_service.locate(phases, at - _EPSILON)
    after, _ = event_service.locate(phases, at)
    was = event_service.apply_overrides(before.opens if before else frozenset(), overrides)
    now = event_service.apply_overrides(after.opens if after else frozenset(), overrides)
    return Transition(at, before, after, now - was, was - now)


@dataclass(frozen=True)
class Deadline:
    at: datetime
    closes: frozenset[str]
    phase: PhaseView  # the phase that ends there


def deadlines(phases: list[PhaseView], features: Iterable[str]) -> list[Deadline]:
    """Boundaries that close one of ``features`` (phases only; overrides do not move deadlines)."""
    wanted = frozenset(features)
    found = []
    for at in boundaries(phases):
        change = transition_at(phases, at)
        closes = change.closed & wanted
        if closes and change.before is not None:
            found.append(Deadline(at, closes, change.before))
    return found


def deadline_at(phases: list[PhaseView], features: Iterable[str], at: datetime) -> Deadline | None:
    return next((d for d in deadlines(phases, features) if d.at == at), None)


# --------------------------------------------------------------------------
# What is open


async def overrides(session: AsyncSession) -> dict[str, str]:
    return await event_service.get_overrides(session)


async def open_now(session: AsyncSession, now: datetime) -> frozenset[str]:
    phases = await event_service.timeline(session)
    current, _ = event_service.locate(phases, now)
    return event_service.apply_overrides(
        event_service.scheduled_opens(phases, current), await overrides(session)
    )


async def is_open(session: AsyncSession, capability: str, now: datetime) -> bool:
    """Is ``capability`` (a name from :data:`CAPABILITIES`) open at ``now``?"""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    return capability in await open_now(session, now)


@dataclass(frozen=True)
class Window:
    """When a capability next opens, or when it last closed (phases only)."""

    opens_at: datetime | None
    closed_at: datetime | None


def window(phases: list[PhaseView], capability: str, now: datetime) -> Window:
    next_open = None
    last_close = None
    for at in boundaries(phases):
        change = transition_at(phases, at)
        if at > now and capability in change.opened and next_open is None:
            next_open = at
        if at <= now and capability in change.closed:
            last_close = at
    return Window(next_open, last_close)


async def require_open(session: AsyncSession, capability: str, now: datetime) -> None:
    """Raise :class:`PhaseClosed` saying when ``capability`` opens (or closed) unless it is open.

    The message is a catalogue key per capability, translated for the reader
    by the error handler; times are Discord timestamps (each reader's own time zone).
    """
    if await is_open(session, capability, now):
        return
    forced = (await overrides(session)).get(capability)
    phases = await event_service.timeline(session)
    found = window(phases, capability, now)
    if forced != "closed" and found.opens_at is not None:
        ts = int(found.opens_at.timestamp())
        raise PhaseClosed(
            f"timeline.closed.{capability}.opens", when=f"<t:{ts}:F>", relative=f"<t:{ts}:R>"
        )
    if forced != "closed" and found.closed_at is not None:
        ts = int(found.closed_at.timestamp())
        raise PhaseClosed(
            f"timeline.closed.{capability}.since", when=f"<t:{ts}:F>", relative=f"<t:{ts}:R>"
        )
    raise PhaseClosed(f"timeline.closed.{capability}.now")


async def set_override(
    session: AsyncSession, capability: str, state: str, *, actor: int | None, now: datetime
) -> None:
    """Force ``capability`` open or closed whatever the phase says, or back to ``auto``."""
    if capability not in CAPABILITIES:
        raise InvalidInput(
            "timeline.unknown_capability", value=capability, known=", ".join(CAPABILITIES)
        )
    if state not in OVERRIDE_STATES:
        raise InvalidInput("timeline.bad_override", value=state)
    current = dict(await overrides(session))
    before = current.get(capability, "auto")
    if state == "auto":
        current.pop(capability, None)
    else:
        current[capability] = state
    await event_service.set_state(session, OVERRIDES_KEY, current)
    audit(session, actor, "phase.override", capability, {"before": before, "after": state}, now)


# --------------------------------------------------------------------------
# Parsing organiser input


def parse_moment(text: str, tz: tzinfo, now: datetime) -> datetime:
    """An organiser's date and time, in the event's time zone unless it carries an offset.

    Accepts ``2026-10-09 18:00``, ``2026-10-09T18:00``, seconds, an offset
    (``+02:00``, ``Z``), or ``HH:MM`` alone for today (event time zone). A
    local time skipped or repeated by a daylight-saving change is refused.
    """
    raw = text.strip()
    cleaned = raw.replace(" ", "T", 1) if re.match(r"\d{4}-\d{2}-\d{2} ", raw) else raw
    parsed: datetime | None = None
    if re.fullmatch(r"\d{1,2}:\d{2}", cleaned):
        hour, minute = (int(x) for x in cleaned.split(":"))
        if hour < 24 and minute < 60:
            today = now.astimezone(tz)
            parsed = today.replace(hour=hour, minute=minute, second=0, microsecond=0, tzinfo=None)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{1,2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?", cleaned):
        try:
            parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
    if parsed is None:
        raise InvalidInput("timeline.bad_time", value=raw[:40])
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    first = parsed.replace(tzinfo=tz, fold=0)
    second = parsed.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed or (
        first.utcoffset() != second.utcoffset()
    ):
        raise InvalidInput("timeline.time_dst", value=raw[:40], timezone=str(tz))
    return first.astimezone(UTC)


def capability_names() -> dict[str, str]:
    """Every accepted spelling (key, English or French name, folded) → capability key."""
    names: dict[str, str] = {}
    for cap in CAPABILITIES:
        names[cap] = cap
        names[cap.replace("_", " ")] = cap
        names[cap.replace("_", "-")] = cap
        for lang in SUPPORTED:
            names[t(f"capability.{cap}", lang).casefold()] = cap
    return names


def parse_opens(text: str) -> frozenset[str]:
    """``"registration, team_changes"`` (keys or names in either language); ``-`` for nothing."""
    raw = text.strip()
    if raw in ("", "-") or raw.casefold() in ("none", "rien", "aucun"):
        return frozenset()
    known = capability_names()
    found = set()
    for part in re.split(r"[,;\n]+", raw):
        item = part.strip().casefold()
        if not item:
            continue
        if item not in known:
            raise InvalidInput(
                "timeline.unknown_capability",
                value=part.strip()[:40],
                known=", ".join(CAPABILITIES),
            )
        found.add(known[item])
    return frozenset(found)


# --------------------------------------------------------------------------
# Edits


def audit(
    session: AsyncSession,
    actor: int | None,
    action: str,
    subject: str | None,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    session.add(
        AuditEntry(at=now, actor_discord_id=actor, action=action, subject=subject, detail=detail)
    )


def snapshot(row: Phase) -> dict[str, Any]:
    return {
        "key": row.key,
        "name": row.name,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "opens": sorted(row.opens or ()),
    }


def _check_order(rows: list[Phase]) -> None:
    """Phases are in order, each ends after it starts, none overlaps the next."""
    ordered = sorted(rows, key=lambda r: (r.starts_at, r.position))
    for row in ordered:
        if row.ends_at is not None and row.ends_at <= row.starts_at:
            raise InvalidInput("timeline.end_before_start", phase=row.name)
    for before, after in pairwise(ordered):
        if after.starts_at == before.starts_at:
            raise InvalidInput("timeline.same_start", phase=after.name, other=before.name)
        if before.ends_at is not None and after.starts_at < before.ends_at:
            raise InvalidInput("timeline.overlap", phase=after.name, other=before.name)
    for position, row in enumerate(ordered):
        row.position = position


async def _finish_edit(session: AsyncSession, rows: list[Phase]) -> None:
    """Validate the edited timeline; on a refusal, undo the in-memory changes too (so a
    caller that catches the error inside its transaction cannot commit half an edit)."""
    try:
        _check_order(rows)
    except InvalidInput:
        for row in rows:
            if row in session.new:
                session.expunge(row)
            else:
                session.expire(row)
        raise
    await session.flush()


async def add_phase(
    session: AsyncSession,
    *,
    key: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime | None,
    opens: frozenset[str],
    actor: int | None,
    now: datetime,
) -> Phase:
    key = key.strip().lower()
    if not _KEY.fullmatch(key):
        raise InvalidInput("timeline.bad_key", value=key[:40])
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("timeline.bad_name")
    rows = await phase_rows(session)
    if any(row.key == key for row in rows):
        raise Conflict("timeline.duplicate_key", phase_key=key)
    row = Phase(
        key=key,
        name=name,
        position=len(rows),
        starts_at=starts_at,
        ends_at=ends_at,
        opens=sorted(opens),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await _finish_edit(session, [*rows, row])
    audit(session, actor, "phase.add", key, {"after": snapshot(row)}, now)
    return row


_UNSET: Any = object()


async def edit_phase(
    session: AsyncSession,
    key: str,
    *,
    name: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = _UNSET,
    opens: frozenset[str] | None = None,
    actor: int | None,
    now: datetime,
) -> tuple[dict[str, Any], Phase]:
    """Change some of a phase's fields; ``ends_at=None`` removes its end. Returns (before, row)."""
    rows = await phase_rows(session)
    row = next((r for r in rows if r.key == key), None)
    if row is None:
        raise NotFound("timeline.unknown_phase", phase_key=key)
    before = snapshot(row)
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidInput("timeline.bad_name")
        row.name = name
    if starts_at is not None:
        row.starts_at = starts_at
    if ends_at is not _UNSET:
        row.ends_at = ends_at
    if opens is not None:
        row.opens = sorted(opens)
    after = snapshot(row)
    if after == before:
        raise InvalidInput("timeline.nothing_changed")
    row.updated_at = now
    await _finish_edit(session, rows)
    audit(session, actor, "phase.edit", key, {"before": before, "after": after}, now)
    return before, row


async def remove_phase(
    session: AsyncSession, key: str, *, actor: int | None, now: datetime
) -> dict[str, Any]:
    row = await get_phase(session, key)
    before = snapshot(row)
    await session.delete(row)
    await session.flush()
    rows = await phase_rows(session)
    _check_order(rows)
    audit(session, actor, "phase.remove", key, {"before": before}, now)
    return before


@dataclass(frozen=True)
class AdvancePlan:
    current: PhaseView | None
    next: PhaseView
    opens: frozenset[str]
    closes: frozenset[str]


async def advance_plan(session: AsyncSession, now: datetime) -> AdvancePlan:
    """What ``/admin phase advance`` would do now: start the next phase (and end the current one)."""
    phases = await event_service.timeline(session)
    current, upcoming = event_service.locate(phases, now)
    if upcoming is None:
        raise InvalidInput("timeline.no_next_phase")
    was = current.opens if current else frozenset()
    return AdvancePlan(current, upcoming, upcoming.opens - was, was - upcoming.opens)


async def advance(
    session: AsyncSession, *, expected_next: str, actor: int | None, now: datetime
) -> AdvancePlan:
    """Start the next phase now; the current one ends now. Refused if the timeline moved since the preview."""
    plan = await advance_plan(session, now)
    if plan.next.key != expected_next:
        raise Conflict("timeline.advance_moved", phase=plan.next.name)
    rows = await phase_rows(session)
    by_key = {row.key: row for row in rows}
    before = {
        k: snapshot(by_key[k])
        for k in filter(None, [plan.current and plan.current.key, plan.next.key])
    }
    nxt = by_key[plan.next.key]
    nxt.starts_at = now
    nxt.updated_at = now
    if plan.current is not None:
        cur = by_key[plan.current.key]
        if cur.ends_at is None or cur.ends_at > now:
            cur.ends_at = now
            cur.updated_at = now
    await _finish_edit(session, rows)
    after = {k: snapshot(by_key[k]) for k in before}
    audit(session, actor, "phase.advance", plan.next.key, {"before": before, "after": after}, now)
    return plan


@dataclass(frozen=True)
class Extension:
    phase: PhaseView
    old_end: datetime
    new_end: datetime
    minutes: int
    moved: list[str] = field(default_factory=list)


async def extend(
    session: AsyncSession, minutes: int, *, actor: int | None, now: datetime
) -> Extension:
    """Push the current phase's end, and every later start and end, by ``minutes``."""
    if not 1 <= minutes <= 7 * 24 * 60:
        raise InvalidInput("timeline.bad_minutes")
    phases = await event_service.timeline(session)
    current, _ = event_service.locate(phases, now)
    if current is None:
        raise InvalidInput("timeline.nothing_to_extend")
    end = effective_end(phases, phases.index(current))
    if end is None:
        raise InvalidInput("timeline.nothing_to_extend")
    delta = timedelta(minutes=minutes)
    rows = await phase_rows(session)
    before = {row.key: snapshot(row) for row in rows}
    moved = []
    for row in rows:
        changed = False
        if row.starts_at >= end:
            row.starts_at += delta
            changed = True
        if row.ends_at is not None and row.ends_at >= end:
            row.ends_at += delta
            changed = True
        if changed:
            row.updated_at = now
            moved.append(row.key)
    await _finish_edit(session, rows)
    audit(
        session,
        actor,
        "phase.extend",
        current.key,
        {
            "minutes": minutes,
            "before": {k: before[k] for k in moved},
            "after": {row.key: snapshot(row) for row in rows if row.key in moved},
        },
        now,
    )
    return Extension(current, end, end + delta, minutes, moved)


# --------------------------------------------------------------------------
# Timers that follow the timeline


def _canon(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True)


def desired_timers(
    phases: list[PhaseView], settings: Settings
) -> dict[tuple[str, str], tuple[datetime, dict[str, Any]]]:
    """(kind, payload) → due time, for the whole timeline."""
    wanted: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
    if (
        settings.timeline.announce_changes
        or settings.timeline.countdown
        or settings.timeline.scheduled_events
    ):
        for at in boundaries(phases):
            payload = {"at": at.isoformat()}
            wanted[(TRANSITION, _canon(payload))] = (at, payload)
    for deadline in deadlines(phases, settings.timeline.deadlines):
        for offset in settings.timeline.reminder_offsets_minutes:
            due = deadline.at - timedelta(minutes=offset)
            payload = {"at": deadline.at.isoformat(), "offset": offset}
            wanted[(REMINDER, _canon(payload))] = (due, payload)
    return wanted


@dataclass(frozen=True)
class TimerPlan:
    added: int
    cancelled: int


async def plan_timers(
    session: AsyncSession, timers: TimerScheduler, settings: Settings, now: datetime
) -> TimerPlan:
    """Make the pending timeline timers match the phases (in the caller's write transaction)."""
    phases = await event_service.timeline(session)
    wanted = desired_timers(phases, settings)
    existing = (
        await session.scalars(
            select(Timer).where(
                Timer.kind.in_(TIMER_KINDS), Timer.status.in_(("pending", "running"))
            )
        )
    ).all()
    present = set()
    cancelled = 0
    for timer in existing:
        ident = (timer.kind, _canon(timer.payload or {}))
        if ident in wanted and ident not in present:
            present.add(ident)
        elif timer.status == "pending":
            cancelled += await timers.cancel(session, timer_id=timer.id)
    added = 0
    for ident, (due, payload) in wanted.items():
        if ident in present or due < now:
            continue
        await timers.add(session, ident[0], due, payload)
        added += 1
    if added or cancelled:
        log.info("timeline timers: %d added, %d cancelled", added, cancelled)
    return TimerPlan(added, cancelled)


def reminder_decision(
    phases: list[PhaseView], settings: Settings, payload: dict[str, Any], now: datetime
) -> tuple[str, Deadline | None]:
    """Whether a reminder timer should be sent: ("send"|"stale"|"passed"|"superseded", deadline)."""
    at = datetime.fromisoformat(payload["at"])
    offset = int(payload["offset"])
    deadline = deadline_at(phases, settings.timeline.deadlines, at)
    if deadline is None or offset not in settings.timeline.reminder_offsets_minutes:
        return "stale", None
    if now >= at:
        return "passed", deadline
    closer = [o for o in settings.timeline.reminder_offsets_minutes if o < offset]
    if any(at - timedelta(minutes=o) <= now for o in closer):
        return "superseded", deadline
    return "send", deadline


def transition_decision(
    phases: list[PhaseView], payload: dict[str, Any], now: datetime
) -> tuple[str, datetime]:
    """Whether a transition timer should be announced: ("send"|"stale"|"superseded", at)."""
    at = datetime.fromisoformat(payload["at"])
    moments = boundaries(phases)
    if at not in moments:
        return "stale", at
    if any(at < other <= now for other in moments):
        return "superseded", at
    return "send", at


async def recent_audit(session: AsyncSession, limit: int = 20) -> list[AuditEntry]:
    return list(
        (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.like("phase.%"))
                .order_by(AuditEntry.id.desc())
                .limit(limit)
            )
        ).all()
    )
