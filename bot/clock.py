"""The bot's notion of "now".

Everything that depends on time asks a :class:`Clock` instead of calling
``datetime.now`` so that the sandbox and rehearsals can move time forward
(``sb.advance(minutes=30)``) and watch deadlines and reminders fire.
All times are timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock:
    """Real time, optionally shifted by an offset that only grows."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset
        self._listeners: list[Callable[[], object]] = []

    def now(self) -> datetime:
        return utcnow() + self._offset

    @property
    def offset(self) -> timedelta:
        return self._offset

    def on_jump(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` (sync or async) after every :meth:`advance`."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], object]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        self._offset += delta
        for callback in list(self._listeners):
            result = callback()
            if asyncio.iscoroutine(result):
                await result

    def until(self, when: datetime) -> float:
        """Seconds of real time until ``when`` on this clock (never negative)."""
        return max(0.0, (when - self.now()).total_seconds())


# -- following a remote clock (the sandbox's), for tests and benchmarks ------------------

CLOCK_URL_ENV = "HACKBOT_CLOCK_URL"


class ClockFollower:
    """Keep ``clock``'s offset equal to a remote clock's: the sandbox's, when the bot runs as
    a separate process in tests and benchmarks and ``sb.advance()`` must move its time.

    Only started when ``HACKBOT_CLOCK_URL`` is set (see :func:`follow_remote_clock`);
    a real event never sets it. Protocol: ``GET <url>`` answers
    ``{"version": int, "offset_us": int}``; ``GET <url>?after=N&wait=S`` answers once
    the remote version is above N (or after S seconds), and tells the remote that
    version N has been applied, listeners included (the sandbox waits for that).
    """

    def __init__(self, clock: Clock, url: str, *, wait_s: float = 20.0) -> None:
        self.clock = clock
        self.url = url
        self.wait_s = wait_s
        self.version = 0
        self._session: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Apply the remote offset now, then follow it in the background."""
        import aiohttp

        self._session = aiohttp.ClientSession()
        async with self._session.get(self.url) as response:
            response.raise_for_status()
            await self._apply(await response.json())
        self._task = asyncio.create_task(self._follow(), name="hackbot-clock-follower")

    async def _apply(self, data: dict[str, Any]) -> None:
        target = timedelta(microseconds=int(data["offset_us"]))
        delta = target - self.clock.offset
        if delta > timedelta(0):
            await self.clock.advance(delta)
        self.version = int(data["version"])

    async def _follow(self) -> None:
        import aiohttp

        assert self._session is not None
        while True:
            try:
                params = {"after": str(self.version), "wait": str(self.wait_s)}
                timeout = aiohttp.ClientTimeout(total=self.wait_s + 10)
                async with self._session.get(self.url, params=params, timeout=timeout) as response:
                    response.raise_for_status()
                    await self._apply(await response.json())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the sandbox restarting: try again shortly
                log.debug("remote clock unreachable (%s), retrying", exc)
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None


async def follow_remote_clock(
    clock: Clock, env: Mapping[str, str] = os.environ
) -> ClockFollower | None:
    """Start a :class:`ClockFollower` when ``HACKBOT_CLOCK_URL`` is set; else None (production)."""
    url = env.get(CLOCK_URL_ENV, "").strip()
    if not url:
        return None
    follower = ClockFollower(clock, url)
    await follower.start()
    log.info("following the clock at %s", url)
    return follower
