"""Discord-style snowflakes: 42 bits of milliseconds since 2015, worker, process, increment."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Hands out unique, increasing snowflake ids (as ints) stamped with the current time."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._counter = itertools.count()
        self._last = 0

    def next(self, when: datetime | None = None) -> int:
        ms = int((when.timestamp() if when else time.time()) * 1000) - DISCORD_EPOCH_MS
        value = (
            (ms << 22)
            | (self._worker << 17)
            | (self._process << 12)
            | (next(self._counter) & 0xFFF)
        )
        # Strictly increasing even when two ids are minted in the same millisecond
        # and the 12-bit increment wraps.
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value

    def next_str(self, when: datetime | None = None) -> str:
        return str(self.next(when))


def snowflake_time(snowflake: int | str) -> datetime:
    return datetime.fromtimestamp(((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)
