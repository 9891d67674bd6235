"""Timers: the database says what is due, the scheduler is a cache of it.

Every timer is a row in ``timers`` (kind, due time, payload, status). At
start-up, and whenever the bot's clock jumps (rehearsals, the sandbox),
pending timers are (re)scheduled in an in-memory APScheduler. A timer is
claimed atomically (``pending`` → ``running``) before its handler runs, so it
fires at most once per claim even with duplicates in the scheduler; a timer
left ``running`` by a crash is put back to ``pending`` at start-up, so
handlers must be idempotent (record what they delivered) — at least once,
never lost.

Handlers are registered per kind by the cogs: ``bot.timers.register(kind, fn)``
with ``async def fn(bot, timer, late: bool)``; ``late`` is true when the
timer fired more than :data:`LATE_AFTER` after its due time (the bot was down).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.clock import Clock, utcnow
from bot.db import Database
from bot.models import Timer

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 5
RETRY_DELAY = timedelta(seconds=30)
STOP_GRACE = timedelta(seconds=10)

Handler = Callable[["HackBot", Timer, bool], Awaitable[None]]

_PENDING_KEY = "hackbot_new_timers"

#: Every background task of the bot is named with this prefix, so that tests (the sandbox's
#: settle) and operators (asyncio debug) can tell the bot's own work from library tasks.
JOB_TASK_PREFIX = "hackbot-job:"


class TimerScheduler:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.bot: HackBot | None = None
        self._handlers: dict[str, Handler] = {}
        self._aps: AsyncIOScheduler | None = None
        self._in_flight: set[asyncio.Task[None]] = set()

    def bind(self, bot: HackBot) -> None:
        self.bot = bot

    def register(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    @property
    def running(self) -> bool:
        return self._aps is not None

    async def start(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.start()
        async with self.db.begin() as session:
            # A crash while a handler ran leaves it "running": run it again.
            await session.execute(
                update(Timer).where(Timer.status == "running").values(status="pending")
            )
        self.clock.on_jump(self.rebuild)
        await self.rebuild()

    async def stop(self) -> None:
        """Stop scheduling and let handlers already running finish (and record it)."""
        self.clock.remove_listener(self.rebuild)
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=STOP_GRACE.total_seconds())

    async def add(
        self,
        session: AsyncSession,
        kind: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        dedupe_key: str | None = None,
    ) -> Timer | None:
        """Store a timer in the caller's transaction; it is scheduled once that commits.

        With ``dedupe_key``, a timer that already exists with that key is left
        alone and ``None`` is returned.
        """
        if dedupe_key is not None:
            existing = await session.scalar(select(Timer.id).where(Timer.dedupe_key == dedupe_key))
            if existing is not None:
                return None
        timer = Timer(
            kind=kind, due_at=due_at, payload=payload or {}, status="pending", dedupe_key=dedupe_key
        )
        session.add(timer)
        await session.flush()
        sync_session = session.sync_session
        pending = sync_session.info.setdefault(_PENDING_KEY, [])
        if not pending:
            event.listen(sync_session, "after_commit", self._after_commit, once=True)
        pending.append((timer.id, timer.due_at))
        return timer

    def _after_commit(self, sync_session: Session) -> None:
        for timer_id, due_at in sync_session.info.pop(_PENDING_KEY, []):
            self._schedule(timer_id, due_at)

    async def cancel(
        self, session: AsyncSession, *, dedupe_key: str | None = None, timer_id: int | None = None
    ) -> int:
        """Mark pending timers skipped (by key or id); returns how many."""
        query = update(Timer).where(Timer.status == "pending")
        if dedupe_key is not None:
            query = query.where(Timer.dedupe_key == dedupe_key)
        elif timer_id is not None:
            query = query.where(Timer.id == timer_id)
        else:
            raise ValueError("cancel needs dedupe_key or timer_id")
        result = await session.execute(query.values(status="skipped", done_at=self.clock.now()))
        return result.rowcount or 0

    async def rebuild(self) -> None:
        """Schedule every pending timer again from the database."""
        if self._aps is None:
            return
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(Timer.id, Timer.due_at).where(Timer.status == "pending")
                )
            ).all()
        self._aps.remove_all_jobs()
        for timer_id, due_at in rows:
            self._schedule(timer_id, due_at)
        log.debug("scheduled %d pending timers", len(rows))

    def _schedule(self, timer_id: int, due_at: datetime) -> None:
        if self._aps is None:
            return
        run_at = utcnow() + timedelta(seconds=self.clock.until(due_at))
        self._aps.add_job(
            self._fire,
            trigger="date",
            run_date=run_at,
            args=[timer_id],
            id=f"timer:{timer_id}",
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    async def _fire(self, timer_id: int) -> None:
        task = asyncio.current_task()
        if task is not None:
            task.set_name(f"{JOB_TASK_PREFIX}timer-{timer_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        now = self.clock.now()
        async with self.db.begin() as session:
            claimed = await session.execute(
                update(Timer)
                .where(Timer.id == timer_id, Timer.status == "pending", Timer.due_at <= now)
                .values(status="running", attempts=Timer.attempts + 1)
            )
            if not claimed.rowcount:
                early = await session.scalar(
                    select(Timer.due_at).where(
                        Timer.id == timer_id, Timer.status == "pending", Timer.due_at > now
                    )
                )
                if early is not None:  # woke a hair early: sleep again
                    self._schedule(timer_id, early)
                return
            timer = await session.get(Timer, timer_id)
        assert timer is not None
        handler = self._handlers.get(timer.kind)
        if handler is None or self.bot is None:
            log.warning(
                "no handler for timer kind %r (timer %s): left pending", timer.kind, timer_id
            )
            async with self.db.begin() as session:
                await session.execute(
                    update(Timer).where(Timer.id == timer_id).values(status="pending")
                )
            return
        late = now - timer.due_at > LATE_AFTER
        try:
            await handler(self.bot, timer, late)
        except Exception as exc:
            log.exception(
                "timer %s (%s) failed on attempt %d", timer_id, timer.kind, timer.attempts
            )
            retry = timer.attempts < MAX_ATTEMPTS
            async with self.db.begin() as session:
                await session.execute(
                    update(Timer)
                    .where(Timer.id == timer_id)
                    .values(
                        status="pending" if retry else "failed",
                        last_error=f"{type(exc).__name__}: {exc}"[:500],
                        due_at=self.clock.now() + RETRY_DELAY if retry else timer.due_at,
                    )
                )
            if retry:
                self._schedule(timer_id, self.clock.now() + RETRY_DELAY)
            return
        async with self.db.begin() as session:
            await session.execute(
                update(Timer)
                .where(Timer.id == timer_id)
                .values(status="done", done_at=self.clock.now())
            )
