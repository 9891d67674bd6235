"""The in-memory timeline cache (bot.services.event): never stale after a change made
through this process, never filled from an old snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.models import KV, Phase
from bot.services import event as event_service

T0 = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)


def phase(key: str, position: int, hours: int, opens: list[str]) -> Phase:
    return Phase(
        key=key,
        name=key.title(),
        position=position,
        starts_at=T0 + timedelta(hours=hours),
        ends_at=T0 + timedelta(hours=hours + 1),
        opens=opens,
    )


async def keys(db) -> list[str]:
    async with db.read() as session:
        return [p.key for p in await event_service.timeline(session)]


async def test_a_phase_written_is_seen_by_the_next_read(db):
    assert await keys(db) == []  # cached: no phase
    async with db.begin() as session:
        session.add(phase("hacking", 0, 0, ["submissions"]))
    assert await keys(db) == ["hacking"]
    async with db.begin() as session:
        await session.execute(update(Phase).values(name="Build"))
    async with db.read() as session:
        assert [p.name for p in await event_service.timeline(session)] == ["Build"]


async def test_overrides_written_are_seen_and_a_rollback_leaves_nothing_stale(db):
    async with db.read() as session:
        assert await event_service.get_overrides(session) == {}
    async with db.begin() as session:
        await event_service.set_state(session, event_service.OVERRIDES_KEY, {"judging": "open"})
    async with db.read() as session:
        assert await event_service.get_overrides(session) == {"judging": "open"}
    try:
        async with db.begin() as session:
            await event_service.set_state(session, event_service.OVERRIDES_KEY, {})
            await session.flush()
            # The writing session reads its own change, not the cache.
            assert await event_service.get_overrides(session) == {}
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    async with db.read() as session:
        assert await event_service.get_overrides(session) == {"judging": "open"}
        assert (await session.get(KV, event_service.OVERRIDES_KEY)).value == {"judging": "open"}


async def test_a_reader_from_before_a_change_does_not_store_its_old_snapshot(db):
    async with db.read() as old_reader:
        # Its transaction begins (and its snapshot is taken) before the change...
        await old_reader.scalar(Phase.__table__.select().limit(1))
        async with db.begin() as session:
            session.add(phase("registration", 0, 0, ["registration"]))
        # ...so what it reads is its own snapshot, and it must not become the cache's truth.
        await event_service.timeline(old_reader)
    assert await keys(db) == ["registration"]
