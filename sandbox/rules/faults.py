"""Fault injection for the sandbox: REST errors, latency, and gateway drops.

The server asks a :class:`Faults` before answering each REST request::

    status = faults.pick_error(route="POST /channels/{channel_id}/messages")
    if status is not None:
        raise faults.error(status)          # DiscordError with Discord's body for that status
    await asyncio.sleep(faults.delay())

Randomness comes from ``random.Random(seed)``, so a run with the same seed and
the same request sequence injects the same faults.

429 storms: ``rate_limit_rate`` answers that share of the bot's own REST requests
with a 429 before its bucket is even looked at (Discord does this under load, and a
shared resource's limit looks the same to a client)::

    limited = faults.pick_rate_limit(route="POST /channels/{channel_id}/messages")
    if limited is not None:
        raise limited                       # RateLimited: Retry-After, X-RateLimit-Scope, Via

``rate_limit_next`` answers the next N such requests 429 for sure (as ``fail_next`` does
with 5xx). ``rate_limit_scope`` is what ``X-RateLimit-Scope`` says: ``"user"`` (counts towards
Discord's invalid-request limit), ``"shared"`` (does not) or ``"global"``;
``rate_limit_retry_after`` is the (low, high) range the retry delay is drawn from.
Interaction callbacks and interaction webhooks are not stormed (they carry no bot
token and Discord exempts them from the global limit).

Gateway drops: a test calls :meth:`Faults.request_gateway_drop`; the server
either registers a callback with :meth:`Faults.on_gateway_drop` (called at once
with the :class:`GatewayDrop`) or polls :meth:`Faults.consume_gateway_drop`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sandbox.rules.errors import DiscordError, RateLimited

_STATUS_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    524: "A Timeout Occurred",
}


@dataclass(frozen=True)
class GatewayDrop:
    """How the gateway connection should be cut.

    ``close_code`` 4000 (unknown error) lets the client resume; ``resumable=False``
    makes the server refuse the resume (op 9 Invalid Session, d=false), forcing
    a fresh IDENTIFY.
    """

    close_code: int = 4000
    resumable: bool = True


@dataclass
class Faults:
    rest_error_rate: float = 0.0  # probability that a REST request fails with error_status
    error_status: int = 500
    latency_ms: float = 0.0  # added to every REST request
    slow_ms: float = 0.0  # added to a fraction slow_rate of REST requests
    slow_rate: float = 1.0
    jitter_ms: float = 0.0  # uniform random extra delay in [0, jitter_ms]
    fail_next: int = 0  # the next N REST requests fail with error_status, deterministically
    routes: frozenset[str] | None = None  # only these "METHOD /template" routes (None: all)
    rate_limit_rate: float = 0.0  # share of the bot's REST requests answered 429 (a storm)
    rate_limit_scope: str = "user"  # X-RateLimit-Scope of those 429s: user, shared or global
    rate_limit_retry_after: tuple[float, float] = (0.2, 1.5)  # seconds, drawn uniformly
    rate_limit_next: int = 0  # the next N of the bot's REST requests answered 429, for sure
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False)
    drop_gateway_requested: GatewayDrop | None = field(default=None, init=False)
    injected_errors: int = field(default=0, init=False)
    injected_rate_limits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.rest_error_rate <= 1.0:
            raise ValueError("rest_error_rate must be between 0 and 1")
        self._check_storm()
        if not 0.0 <= self.slow_rate <= 1.0:
            raise ValueError("slow_rate must be between 0 and 1")
        if self.error_status < 400 or self.error_status > 599:
            raise ValueError("error_status must be an HTTP error status")
        if min(self.latency_ms, self.slow_ms, self.jitter_ms) < 0 or self.fail_next < 0:
            raise ValueError("delays and fail_next cannot be negative")
        if self.routes is not None:
            self.routes = frozenset(self.routes)
        self.rng = random.Random(self.seed)
        self._drop_callbacks: list[Callable[[GatewayDrop], None]] = []

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    # -- REST --------------------------------------------------------------------------

    def applies_to(self, route: str | None) -> bool:
        return self.routes is None or route is None or route in self.routes

    def pick_error(self, rng: random.Random | None = None, route: str | None = None) -> int | None:
        """The status to fail this request with, or None to serve it normally."""
        if not self.applies_to(route):
            return None
        if self.fail_next > 0:
            self.fail_next -= 1
            self.injected_errors += 1
            return self.error_status
        if self.rest_error_rate > 0 and (rng or self.rng).random() < self.rest_error_rate:
            self.injected_errors += 1
            return self.error_status
        return None

    def delay(self, rng: random.Random | None = None, route: str | None = None) -> float:
        """Seconds to wait before answering this request."""
        if not self.applies_to(route):
            return 0.0
        rng = rng or self.rng
        ms = self.latency_ms
        if self.slow_ms and (self.slow_rate >= 1.0 or rng.random() < self.slow_rate):
            ms += self.slow_ms
        if self.jitter_ms:
            ms += rng.uniform(0.0, self.jitter_ms)
        return ms / 1000.0

    def _check_storm(self) -> None:
        if not 0.0 <= self.rate_limit_rate <= 1.0:
            raise ValueError("rate_limit_rate must be between 0 and 1")
        if self.rate_limit_scope not in ("user", "shared", "global"):
            raise ValueError("rate_limit_scope must be user, shared or global")
        low, high = self.rate_limit_retry_after
        if not 0.0 <= low <= high:
            raise ValueError("rate_limit_retry_after must be (low, high) with 0 <= low <= high")
        if self.rate_limit_next < 0:
            raise ValueError("rate_limit_next cannot be negative")

    def pick_rate_limit(
        self, rng: random.Random | None = None, route: str | None = None
    ) -> RateLimited | None:
        """The 429 to answer this request with during a storm, or None."""
        if (self.rate_limit_rate <= 0 and self.rate_limit_next <= 0) or not self.applies_to(route):
            return None
        self._check_storm()
        rng = rng or self.rng
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
        elif rng.random() >= self.rate_limit_rate:
            return None
        self.injected_rate_limits += 1
        retry = rng.uniform(*self.rate_limit_retry_after)
        if self.rate_limit_scope == "global":
            return RateLimited(retry, is_global=True)
        return RateLimited(retry, scope=self.rate_limit_scope)

    @staticmethod
    def error(status: int) -> DiscordError:
        """The error Discord (or its edge) answers with for an injected status."""
        text = _STATUS_TEXT.get(status, "Error")
        return DiscordError(status, 0, f"{status}: {text}")

    # -- gateway -----------------------------------------------------------------------

    def on_gateway_drop(self, callback: Callable[[GatewayDrop], None]) -> None:
        self._drop_callbacks.append(callback)

    def request_gateway_drop(
        self, close_code: int = 4000, *, resumable: bool = True
    ) -> GatewayDrop:
        """Ask the server to cut the bot's gateway connection."""
        drop = GatewayDrop(close_code, resumable)
        if self._drop_callbacks:
            for callback in list(self._drop_callbacks):
                callback(drop)
        else:
            self.drop_gateway_requested = drop
        return drop

    def consume_gateway_drop(self) -> GatewayDrop | None:
        """The pending drop request, if any; clears it."""
        drop, self.drop_gateway_requested = self.drop_gateway_requested, None
        return drop

    def clear(self) -> None:
        """Stop injecting anything (keeps callbacks and the seed)."""
        self.rest_error_rate = 0.0
        self.rate_limit_rate = 0.0
        self.rate_limit_next = 0
        self.latency_ms = self.slow_ms = self.jitter_ms = 0.0
        self.fail_next = 0
        self.drop_gateway_requested = None


def fail_routes(routes: Iterable[str], status: int = 500, count: int = 1) -> Faults:
    """Faults failing the next ``count`` requests to the given routes."""
    return Faults(error_status=status, fail_next=count, routes=frozenset(routes))
