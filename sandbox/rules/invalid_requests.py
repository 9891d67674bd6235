"""Discord's invalid-request limit: 10,000 per 10 minutes per IP address, then a ban.

What Discord documents: every answer with status 401, 403 or 429 counts as an
invalid request, except 429s whose ``X-RateLimit-Scope`` is ``shared`` (a limit on a
shared resource, not the bot's fault). An IP address that makes 10,000 of them in
10 minutes is banned from the API for about an hour (Cloudflare answers 429 without
a ``Via`` header, and discord.py gives up).

:class:`InvalidRequests` counts them in a sliding window::

    invalid = InvalidRequests()
    invalid.record(429, scope="user")     # True: counted
    invalid.record(429, scope="shared")   # False
    invalid.count                         # in the last 10 minutes
    invalid.peak                          # the most ever seen in one window
    invalid.total, invalid.by_status

Time is ``time.monotonic`` by default (the limit is on real time, whatever the bot's
clock says); pass ``time_source`` to drive it by hand.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable

INVALID_STATUSES = frozenset({401, 403, 429})
WINDOW_S = 600.0
BAN_THRESHOLD = 10_000


def is_invalid(status: int, scope: str | None = None) -> bool:
    """Whether Discord counts an answer with this status (and rate-limit scope)."""
    if status not in INVALID_STATUSES:
        return False
    return not (status == 429 and (scope or "").lower() == "shared")


class InvalidRequests:
    def __init__(
        self,
        window_s: float = WINDOW_S,
        limit: int = BAN_THRESHOLD,
        time_source: Callable[[], float] = time.monotonic,
    ) -> None:
        if window_s <= 0 or limit <= 0:
            raise ValueError("window_s and limit must be positive")
        self.window_s = window_s
        self.limit = limit
        self._now = time_source
        self._times: deque[float] = deque()
        self.total = 0
        self.peak = 0
        self.by_status: Counter[int] = Counter()

    def record(self, status: int, scope: str | None = None) -> bool:
        """Count one answer if Discord would; returns whether it was counted."""
        if not is_invalid(status, scope):
            return False
        now = self._now()
        self._prune(now)
        self._times.append(now)
        self.total += 1
        self.by_status[status] += 1
        self.peak = max(self.peak, len(self._times))
        return True

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    @property
    def count(self) -> int:
        """Invalid requests in the window ending now."""
        self._prune(self._now())
        return len(self._times)

    @property
    def banned(self) -> bool:
        """Whether Discord would have banned the address at some point (the peak reached the
        limit)."""
        return self.peak >= self.limit

    def reset(self) -> None:
        self._times.clear()
        self.total = self.peak = 0
        self.by_status.clear()

    def summary(self) -> dict[str, object]:
        return {
            "in_window": self.count,
            "peak": self.peak,
            "total": self.total,
            "by_status": dict(sorted(self.by_status.items())),
            "limit": self.limit,
            "window_s": self.window_s,
        }
