"""Timers live in the database; the scheduler fires each once, at the bot's clock, across restarts."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from bot.clock import Clock
from bot.models import Timer
from bot.scheduler import TimerScheduler


class FakeBot:
    pass


async def wait_for(predicate, limit: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def make(db, clock: Clock, fired: list) -> TimerScheduler:
    scheduler = TimerScheduler(db, clock)
    scheduler.bind(FakeBot())  # type: ignore[arg-type]

    async def handler(bot, timer, late):
        fired.append((timer.payload["n"], late))

    scheduler.register("test", handler)
    await scheduler.start()
    return scheduler


async def statuses(db) -> list[str]:
    async with db.read() as session:
        return list((await session.scalars(select(Timer.status).order_by(Timer.id))).all())


async def test_timer_fires_once_when_the_clock_reaches_it(db):
    clock, fired = Clock(), []
    scheduler = await make(db, clock, fired)
    try:
        async with db.begin() as session:
            await scheduler.add(session, "test", clock.now() + timedelta(minutes=30), {"n": 1})
        await asyncio.sleep(0.2)
        assert fired == []
        await clock.advance(timedelta(minutes=29))
        await asyncio.sleep(0.2)
        assert fired == []
        await clock.advance(timedelta(minutes=2))
        await wait_for(lambda: fired == [(1, False)])
        await asyncio.sleep(0.1)
        assert await statuses(db) == ["done"]
        await clock.advance(timedelta(hours=1))
        await asyncio.sleep(0.2)
        assert fired == [(1, False)]
    finally:
        await scheduler.stop()


async def test_dedupe_key_schedules_a_reminder_only_once(db):
    clock, fired = Clock(), []
    scheduler = await make(db, clock, fired)
    try:
        async with db.begin() as session:
            first = await scheduler.add(
                session, "test", clock.now() + timedelta(minutes=5), {"n": 1}, dedupe_key="r1"
            )
            second = await scheduler.add(
                session, "test", clock.now() + timedelta(minutes=5), {"n": 2}, dedupe_key="r1"
            )
        assert first is not None and second is None
        await clock.advance(timedelta(minutes=6))
        await wait_for(lambda: len(fired) == 1)
        assert fired == [(1, False)]
    finally:
        await scheduler.stop()


async def test_timers_survive_a_restart_and_late_ones_are_marked(db):
    clock, fired = Clock(), []
    scheduler = await make(db, clock, fired)
    async with db.begin() as session:
        await scheduler.add(session, "test", clock.now() + timedelta(minutes=10), {"n": 1})
        await scheduler.add(session, "test", clock.now() + timedelta(hours=2), {"n": 2})
    await scheduler.stop()  # the bot goes down

    await clock.advance(timedelta(minutes=30))  # nothing runs while it is down
    assert fired == []

    restarted = await make(db, clock, fired)  # rebuilt from the database
    try:
        await wait_for(lambda: fired == [(1, True)])
        await clock.advance(timedelta(hours=1, minutes=31))  # one minute past the second one
        await wait_for(lambda: fired == [(1, True), (2, False)])
    finally:
        await restarted.stop()


async def test_a_timer_left_running_by_a_crash_runs_again(db):
    clock, fired = Clock(), []
    async with db.begin() as session:
        session.add(
            Timer(
                kind="test",
                due_at=clock.now() - timedelta(seconds=1),
                payload={"n": 7},
                status="running",
            )
        )
    scheduler = await make(db, clock, fired)
    try:
        await wait_for(lambda: fired == [(7, False)])
    finally:
        await scheduler.stop()


async def test_concurrent_fires_run_the_handler_once(db):
    clock, fired = Clock(), []
    scheduler = await make(db, clock, fired)
    try:
        async with db.begin() as session:
            timer = await scheduler.add(session, "test", clock.now() + timedelta(hours=1), {"n": 3})
        await clock.advance(timedelta(hours=1, seconds=1))
        await asyncio.gather(*(scheduler._fire(timer.id) for _ in range(5)))
        await asyncio.sleep(0.2)
        assert fired == [(3, False)]
    finally:
        await scheduler.stop()


async def test_a_failing_handler_is_retried_then_given_up(db):
    clock = Clock()
    scheduler = TimerScheduler(db, clock)
    scheduler.bind(FakeBot())  # type: ignore[arg-type]
    calls = []

    async def broken(bot, timer, late):
        calls.append(timer.attempts)
        raise RuntimeError("discord is down")

    scheduler.register("broken", broken)
    await scheduler.start()
    try:
        async with db.begin() as session:
            await scheduler.add(session, "broken", clock.now(), {})
        await wait_for(lambda: len(calls) == 1)
        for _ in range(6):
            await clock.advance(timedelta(minutes=1))
            await asyncio.sleep(0.1)
        await wait_for(lambda: len(calls) == 5)
        async with db.read() as session:
            timer = (await session.scalars(select(Timer))).one()
        assert timer.status == "failed"
        assert "discord is down" in timer.last_error
    finally:
        await scheduler.stop()
