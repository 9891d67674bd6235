"""The sandbox's own control endpoints, beside the Discord API (not part of Discord).

:class:`ControlServer` is a :class:`SandboxServer` with two additions that a bot
running as a separate OS process needs:

* ``GET /_sandbox/clock``: the sandbox clock's offset from real time, for
  :class:`bot.clock.ClockFollower` (``HACKBOT_CLOCK_URL`` points the bot at it).
  ``?after=N&wait=S`` is a long poll: it answers once the clock has jumped past
  version N (or after S seconds) and records that the bot applied version N,
  so that ``sb.advance()`` can wait until the bot's clock has moved and its
  timers were rebuilt. ``POST /_sandbox/clock`` with ``{"advance_s": 600}``
  moves the clock (for a server run on its own with ``python -m sandbox.server``).
* the arrival time of every interaction callback, before any injected latency
  (``server.callback_arrivals``): what a benchmark reports as the bot's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from sandbox.server.core import SandboxServer

log = logging.getLogger(__name__)

CLOCK_PATH = "/_sandbox/clock"
MAX_WAIT_S = 60.0


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )


class ClockControl:
    """The sandbox clock as seen by bots in other processes: an offset and a version."""

    def __init__(self, offset: Callable[[], timedelta]) -> None:
        self._offset = offset
        self.version = 0
        self.acked = 0  # the latest version a follower said it applied
        self.followers = 0  # long polls waiting right now
        self._changed = asyncio.Event()
        self._acks: list[tuple[int, asyncio.Future[None]]] = []
        self._closed = False

    def state(self) -> dict[str, int]:
        offset = self._offset()
        return {"version": self.version, "offset_us": offset // timedelta(microseconds=1)}

    def jumped(self) -> int:
        """The clock moved: wake followers; returns the new version to wait for."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()
        return self.version

    def ack(self, version: int) -> None:
        self.acked = max(self.acked, min(version, self.version))
        still: list[tuple[int, asyncio.Future[None]]] = []
        for wanted, future in self._acks:
            if self.acked >= wanted:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((wanted, future))
        self._acks = still

    async def wait_acked(self, version: int, max_wait: float) -> bool:
        """True once a follower applied ``version`` (False after ``max_wait`` s)."""
        if self.acked >= version:
            return True
        future = asyncio.get_running_loop().create_future()
        self._acks.append((version, future))
        try:
            await asyncio.wait_for(future, max_wait)
            return True
        except TimeoutError:
            return False

    def forget_acks(self) -> None:
        """The follower is gone (its process died): the next one starts from the current version."""
        self.acked = self.version

    async def handle_get(self, request: web.Request) -> web.Response:
        after = request.query.get("after")
        if after is not None and not self._closed:
            try:
                seen = int(after)
                wait = min(float(request.query.get("wait", "20")), MAX_WAIT_S)
            except ValueError:
                return _json({"message": "after and wait must be numbers"}, 400)
            self.ack(seen)
            if self.version <= seen:
                changed = self._changed
                self.followers += 1
                try:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), wait)
                finally:
                    self.followers -= 1
        return _json(self.state())

    def close(self) -> None:
        """Answer every waiting long poll now (the server is stopping)."""
        self._closed = True
        self._changed.set()


class ControlServer(SandboxServer):
    """A :class:`SandboxServer` with the control endpoints described in the module docstring."""

    def __init__(self, *args: Any, clock: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock  # a bot.clock.Clock, or None for real time
        self.control = ClockControl(self._offset)
        self.callback_arrivals: dict[str, float] = {}  # interaction id -> time.monotonic()

    def _offset(self) -> timedelta:
        return self.clock.offset if self.clock is not None else timedelta(0)

    @property
    def clock_url(self) -> str:
        return f"{self.url}{CLOCK_PATH}"

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._arrivals)
        # Routes are tried in order: ours must come before the API's catch-all, which
        # is under /api/v10 only, so adding them afterwards is enough.
        app.router.add_get(CLOCK_PATH, self.control.handle_get)
        app.router.add_post(CLOCK_PATH, self._advance)
        return app

    @web.middleware
    async def _arrivals(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path.endswith("/callback") and "/interactions/" in path:
            parts = path.split("/")  # /api/v10/interactions/{id}/{token}/callback
            self.callback_arrivals.setdefault(parts[-3], time.monotonic())
        return await handler(request)

    async def _advance(self, request: web.Request) -> web.Response:
        if self.clock is None:
            return _json({"message": "this sandbox runs on real time"}, 400)
        try:
            body = await request.json()
            seconds = float(body["advance_s"])
        except (ValueError, KeyError, TypeError):
            return _json({"message": 'send {"advance_s": <seconds>}'}, 400)
        if seconds < 0:
            return _json({"message": "time only moves forward"}, 400)
        await self.advance_clock(timedelta(seconds=seconds))
        return _json(self.control.state())

    async def advance_clock(self, delta: timedelta) -> int:
        """Move the clock, apply Discord's own timers, tell followers; returns the new version."""
        assert self.clock is not None
        await self.clock.advance(delta)
        self.time_passed()
        return self.control.jumped()

    async def stop(self) -> None:
        self.control.close()
        await super().stop()
