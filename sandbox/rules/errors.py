"""Errors shaped like the ones the Discord HTTP API returns.

``DiscordError.body()`` is the JSON body Discord sends with a 4xx answer::

    {"code": 50035, "message": "Invalid Form Body", "errors": {...}}

``RateLimited`` is the 429 answer, with the headers discord.py relies on. A
429 without ``Via`` is treated by discord.py as a Cloudflare ban and raised
instead of retried, so :meth:`RateLimited.headers` always includes it.
"""

from __future__ import annotations

import math
from typing import Any

INVALID_FORM_BODY = 50035


class DiscordError(Exception):
    """An error answer of the Discord API: HTTP status, JSON error code, message, errors tree."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return body

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code}, "
            f"message={self.message!r}, errors={self.errors!r})"
        )


class SandboxFault(DiscordError):
    """Not an answer of Discord's: the sandbox itself failed on a request (a sandbox bug).

    It is recorded as a violation carrying the exception, so the test fails and says
    why, and the request is not carried out. The client gets a 400 with code 0: discord.py
    raises it at once instead of retrying as it would a 5xx.
    """

    def __init__(self, what: str, exception: BaseException) -> None:
        super().__init__(
            400, 0, f"sandbox fault: {what} crashed ({type(exception).__name__}: {exception})"
        )
        self.exception = exception


def invalid_form_body(errors: dict[str, Any]) -> DiscordError:
    """The 400/50035 error Discord returns when a request body fails validation."""
    return DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


class RateLimited(DiscordError):
    """A 429 answer.

    ``scope`` is what Discord puts in ``X-RateLimit-Scope``: ``"user"`` for a
    per-route bucket of this bot, ``"global"`` for the 50 requests/second
    limit, ``"shared"`` for a resource-wide limit. ``bucket`` and ``limit``
    describe the exhausted bucket (absent for the global limit).
    """

    def __init__(
        self,
        retry_after: float,
        *,
        is_global: bool = False,
        scope: str | None = None,
        bucket: str | None = None,
        limit: int | None = None,
        reset_at: float | None = None,
        code: int = 0,
        message: str = "You are being rate limited.",
    ) -> None:
        super().__init__(429, code, message)
        self.retry_after = max(0.0, float(retry_after))
        self.is_global = is_global
        self.scope = scope or ("global" if is_global else "user")
        self.bucket = bucket
        self.limit = limit
        self.reset_at = reset_at

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "retry_after": round(self.retry_after, 3),
            "global": self.is_global,
            "code": self.code,
        }

    def headers(self) -> dict[str, str]:
        # Discord sends Retry-After in whole seconds (rounded up); the precise
        # value is in the body's retry_after, which is what clients use.
        headers = {
            "Retry-After": str(max(1, math.ceil(self.retry_after))),
            "X-RateLimit-Scope": self.scope,
            "Via": "1.1 google",
        }
        if self.is_global:
            headers["X-RateLimit-Global"] = "true"
        if self.bucket is not None:
            headers["X-RateLimit-Bucket"] = self.bucket
        if self.limit is not None:
            headers["X-RateLimit-Limit"] = str(self.limit)
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset-After"] = f"{self.retry_after:.3f}"
        if self.reset_at is not None:
            headers["X-RateLimit-Reset"] = f"{self.reset_at:.3f}"
        return headers
