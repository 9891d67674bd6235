"""The bot's notion of "now".

Everything that depends on time asks a :class:`Clock` instead of calling
``datetime.now`` so that the sandbox and rehearsals can move time forward
(``sb.advance(minutes=30)``) and watch deadlines and reminders fire.
All times are timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


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
