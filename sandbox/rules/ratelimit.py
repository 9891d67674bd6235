"""Discord-style rate limits: a global per-second limit plus per-route buckets.

Semantics modelled on what Discord documents and clients (discord.py) rely on:

* Global: ``global_per_second`` requests per second per bot token. Interaction
  callbacks and interaction-token webhook calls are exempt: the caller passes
  ``global_exempt=True``.
* Per route: a bucket per (route, major parameter). The route is
  ``"METHOD /template"``; the major parameter is the channel id, guild id or
  ``webhook_id/token`` the caller extracted. A bucket allows ``limit`` requests
  in a window of ``per_seconds`` that opens with the first request; when the
  window is spent the next request gets a 429 until it closes.
* Sub-buckets: some limits sit on top of a route's bucket (renaming a channel
  is ``PATCH /channels/{channel_id}`` like any other edit, but only about 2 per
  10 minutes are allowed). ``hit(..., sub_bucket=CHANNEL_RENAME)`` checks both;
  a 429 from a sub-bucket arrives while the route still shows remaining
  requests, which is how Discord's sub-ratelimits look to clients.

A rejected request consumes nothing. Every successful ``hit`` returns the
``X-RateLimit-*`` headers of the route bucket; a refused one raises
:class:`~sandbox.rules.errors.RateLimited`, whose ``headers()`` and ``body()``
are the 429 answer.

Discord does not publish per-route numbers. The defaults below are the values
its documentation uses in examples (5 per second) and the ones commonly
observed and reported by bot developers; every one can be overridden.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sandbox.rules.errors import RateLimited

CHANNEL_RENAME = "channel_rename"

#: (limit, per_seconds), keyed by "METHOD /route/template", a bare template
#: (any method), or a sub-bucket name.
DEFAULT_BUCKETS: dict[str, tuple[int, float]] = {
    # Sending messages: 5 per 5 s per channel (commonly observed).
    "POST /channels/{channel_id}/messages": (5, 5.0),
    # Reactions: 1 per 0.25 s per channel (commonly observed).
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (1, 0.25),
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me": (1, 0.25),
    # Channel creation is a known slow bucket.
    "POST /guilds/{guild_id}/channels": (5, 10.0),
    # Renames: about 2 per 10 minutes per channel.
    CHANNEL_RENAME: (2, 600.0),
    # Member edits (roles, nicknames): 10 per 10 s per guild.
    "PATCH /guilds/{guild_id}/members/{user_id}": (10, 10.0),
    "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (10, 10.0),
    "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}": (10, 10.0),
}
DEFAULT_ROUTE_BUCKET: tuple[int, float] = (5, 1.0)


@dataclass
class _Window:
    limit: int
    per: float
    opened_at: float
    count: int = 0

    def expired(self, now: float) -> bool:
        return now >= self.opened_at + self.per

    def reset_after(self, now: float) -> float:
        return max(0.0, self.opened_at + self.per - now)


def bucket_hash(name: str) -> str:
    """A stable opaque id for X-RateLimit-Bucket, like Discord's."""
    return hashlib.sha1(name.encode()).hexdigest()[:16]


class RateLimiter:
    def __init__(
        self,
        global_per_second: int = 50,
        bucket_overrides: Mapping[str, tuple[int, float]] | None = None,
        default_bucket: tuple[int, float] = DEFAULT_ROUTE_BUCKET,
        time_source: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.global_per_second = global_per_second
        self.buckets: dict[str, tuple[int, float]] = {**DEFAULT_BUCKETS, **(bucket_overrides or {})}
        self.default_bucket = default_bucket
        self._now = time_source
        self._wall = wall_clock
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None
        self._counts: Counter[str] = Counter()
        self._limited_routes: Counter[str] = Counter()
        self._routes: Counter[str] = Counter()
        self._hits_since_prune = 0

    # -- configuration -----------------------------------------------------------------

    def bucket_for(self, method: str, route_template: str) -> tuple[str, tuple[int, float]]:
        """The bucket name and (limit, per_seconds) that apply to a route."""
        key = f"{method.upper()} {route_template}"
        if key in self.buckets:
            return key, self.buckets[key]
        if route_template in self.buckets:
            return route_template, self.buckets[route_template]
        return key, self.default_bucket

    # -- the check ---------------------------------------------------------------------

    def hit(
        self,
        method: str,
        route_template: str,
        major: str,
        *,
        global_exempt: bool = False,
        sub_bucket: str | None = None,
    ) -> dict[str, str]:
        now = self._now()
        self._counts["requests"] += 1
        self._routes[f"{method.upper()} {route_template}"] += 1
        if global_exempt:
            self._counts["global_exempt"] += 1
        self._maybe_prune(now)

        route_name, (limit, per) = self.bucket_for(method, route_template)
        major = str(major)
        route_window = self._window(route_name, major, limit, per, now)
        checks = [(route_name, route_window)]
        if sub_bucket is not None:
            sub_limit, sub_per = self.buckets.get(sub_bucket, self.default_bucket)
            checks.append((sub_bucket, self._window(sub_bucket, major, sub_limit, sub_per, now)))

        if not global_exempt and self.global_per_second:
            if self._global is None or self._global.expired(now):
                self._global = _Window(self.global_per_second, 1.0, now)
            if self._global.count >= self._global.limit:
                self._counts["rate_limited"] += 1
                self._counts["global_rate_limited"] += 1
                self._limited_routes[f"{method.upper()} {route_template}"] += 1
                raise RateLimited(self._global.reset_after(now), is_global=True)

        for name, window in checks:
            if window.count >= window.limit:
                self._counts["rate_limited"] += 1
                self._limited_routes[f"{method.upper()} {route_template}"] += 1
                retry = window.reset_after(now)
                raise RateLimited(
                    retry,
                    scope="user",
                    bucket=bucket_hash(name),
                    limit=window.limit,
                    reset_at=self._wall() + retry,
                )

        if not global_exempt and self.global_per_second and self._global is not None:
            self._global.count += 1
        for name, window in checks:
            window.count += 1
            self._windows[(name, major)] = window

        reset_after = route_window.reset_after(now)
        return {
            "X-RateLimit-Limit": str(route_window.limit),
            "X-RateLimit-Remaining": str(route_window.limit - route_window.count),
            "X-RateLimit-Reset": f"{self._wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(route_name),
        }

    def _window(self, name: str, major: str, limit: int, per: float, now: float) -> _Window:
        """The open window of a bucket, or a fresh one (stored only once a request is counted)."""
        window = self._windows.get((name, major))
        if window is None or window.expired(now):
            window = _Window(limit, per, now)
        return window

    def _maybe_prune(self, now: float) -> None:
        self._hits_since_prune += 1
        if self._hits_since_prune < 1000:
            return
        self._hits_since_prune = 0
        for key in [k for k, w in self._windows.items() if w.expired(now)]:
            del self._windows[key]

    # -- observation -------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        """Counters: requests, rate_limited (all 429s), global_rate_limited,
        global_exempt, by_route ({"METHOD /template": requests}) and limited_by_route
        ({"METHOD /template": 429 count})."""
        return {
            "requests": self._counts["requests"],
            "rate_limited": self._counts["rate_limited"],
            "global_rate_limited": self._counts["global_rate_limited"],
            "global_exempt": self._counts["global_exempt"],
            "by_route": dict(self._routes),
            "limited_by_route": dict(self._limited_routes),
        }

    def reset(self) -> None:
        """Forget every window and counter."""
        self._windows.clear()
        self._global = None
        self._counts.clear()
        self._limited_routes.clear()
        self._routes.clear()
