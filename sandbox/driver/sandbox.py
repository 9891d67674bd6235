"""The test driver: a sandbox Discord server plus the real bot, and members who use it."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.driver.member import CHANNEL, MENTIONABLE, ROLE, USER, SandboxMember
from sandbox.driver.process import BotProcess, toml_dumps
from sandbox.driver.reply import InteractionFailed, Reply
from sandbox.driver.views import ChannelView
from sandbox.rules.permissions import P
from sandbox.server import state as st
from sandbox.server.control import ControlServer
from sandbox.server.core import DEFAULT_BOT_PERMISSIONS, Violation
from sandbox.server.interactions import (
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    InteractionRecord,
)

if TYPE_CHECKING:
    import discord

    from bot.clock import Clock

log = logging.getLogger(__name__)

ChannelRef = str | int | ChannelView | dict
BotFactory = Callable[["Sandbox"], Awaitable["discord.Client"]]

# Tasks discord.py creates to run event handlers, app commands and views.
BOT_TASK_PREFIXES = (
    "hackbot-job:",  # the bot's own background work (timers, fan-outs, bulk jobs): see bot/app.py
    "discord.py: ",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-modal-dispatch",
    "discord-ui-dynamic-item",
)


def deep_merge(base: dict, extra: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass
class ExpectedViolation:
    code: int | None = None
    status: int | None = None
    path_contains: str | None = None
    count: int | None = None  # None: any number (at least one is not required)

    def matches(self, violation: Violation) -> bool:
        return (
            (self.code is None or violation.code == self.code)
            and (self.status is None or violation.status == self.status)
            and (self.path_contains is None or self.path_contains in violation.path)
        )


class Sandbox:
    """A running sandbox: ``async with Sandbox.start(config=...) as sb: ...``.

    See sandbox/README.md for the whole API.
    """

    def __init__(
        self,
        server: ControlServer,
        *,
        settings: Any,
        clock: Clock,
        tmp_dir: Path,
        bot_factory: BotFactory | None,
        guild_ready_timeout: float,
        bot_process: bool = False,
        config_path: Path | None = None,
        bot_env: dict[str, str] | None = None,
        bot_log_level: str = "INFO",
    ) -> None:
        self.server = server
        self.settings = settings
        self.clock = clock
        self.tmp_dir = tmp_dir
        self.bot: discord.Client | None = None
        self._bot_task: asyncio.Task[None] | None = None
        self._bot_factory = bot_factory
        self._guild_ready_timeout = guild_ready_timeout
        self._expected: list[ExpectedViolation] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.guild_id = int(server.guild().id)
        self.default_channel_name = "general"
        self.quiet_s = 0.02
        self.settle_max_s = 30.0
        self.deferred_max_s = 10.0
        self.bot_ready_max_s = 60.0
        self.advance_tasks_max_s = 5.0
        # False: an interaction returns as soon as it is answered, without waiting for the
        # whole sandbox to settle (many members acting at once: see "Bursts" in the README).
        self.settle_after_interaction = True
        self.startup_s: float | None = None
        # The bot as a separate OS process (bot_process=True): see sandbox/driver/process.py.
        self.process_mode = bot_process
        self.config_path = config_path
        self.bot_env = dict(bot_env or {})
        self.bot_log_level = bot_log_level
        self.bot_process: BotProcess | None = None
        self.bot_processes: list[BotProcess] = []
        self.bot_python_args: list[str] = []  # before "-m bot", e.g. a profiler
        self._bot_lines: list[str] = []
        self.stop_max_s = 20.0
        if bot_process:
            # Server-side quiescence only (the bot's tasks are in another process):
            # leave it time to go from one step of its work to the next.
            self.quiet_s = 0.1

    # -- start / stop ------------------------------------------------------------

    @classmethod
    def start(
        cls,
        config: Any = None,
        *,
        tmp_path: Path | str | None = None,
        validate: bool = True,
        latency_ms: float = 0,
        rate_limits: Any = None,
        bot_permissions: int | None = None,
        start_bot: bool = True,
        bot_factory: BotFactory | None = None,
        guild_ready_timeout: float = 0.05,
        check_violations: bool = True,
        bot_process: bool = False,
        bot_env: dict[str, str] | None = None,
        bot_log_level: str = "INFO",
    ) -> _Starting:
        """Start the server and (unless ``start_bot=False``) the real bot; use with ``async with``.

        ``config``: None (``bot.config.default_config_dict()``), a dict deep-merged onto
        it, or a ready ``Settings``. The SQLite database goes in ``tmp_path`` (or a
        temporary directory). ``rate_limits``: None for Discord-like defaults, False
        to switch them off, a dict of ``RateLimiter`` arguments or a ``RateLimiter``.
        ``bot_permissions``: what the bot was invited with (its managed role).
        ``bot_factory``: build another bot than hackbot's (``await factory(sb)``
        returns a discord.py client; readiness is its ``hackbot_ready`` event if
        it has one, else ``wait_until_ready()``).
        ``bot_process``: run the bot as a separate OS process (``python -m bot run``
        with a generated config file); ``bot_env`` adds environment variables to it
        and ``bot_log_level`` is its ``--log-level``.
        """
        return _Starting(
            cls,
            dict(
                config=config,
                tmp_path=tmp_path,
                validate=validate,
                latency_ms=latency_ms,
                rate_limits=rate_limits,
                bot_permissions=bot_permissions,
                start_bot=start_bot,
                bot_factory=bot_factory,
                guild_ready_timeout=guild_ready_timeout,
                bot_process=bot_process,
                bot_env=bot_env,
                bot_log_level=bot_log_level,
            ),
            check_violations,
        )

    @classmethod
    async def _create(
        cls,
        *,
        config: Any,
        tmp_path: Path | str | None,
        validate: bool,
        latency_ms: float,
        rate_limits: Any,
        bot_permissions: int | None,
        start_bot: bool,
        bot_factory: BotFactory | None,
        guild_ready_timeout: float,
        bot_process: bool = False,
        bot_env: dict[str, str] | None = None,
        bot_log_level: str = "INFO",
    ) -> Sandbox:
        from bot.clock import Clock

        if bot_process and bot_factory is not None:
            raise ValueError("bot_process runs hackbot itself: it cannot take a bot_factory")

        began = time.perf_counter()
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if tmp_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="hackbot-sandbox-")
            tmp_dir = Path(tmp.name)
        else:
            tmp_dir = Path(tmp_path)
            tmp_dir.mkdir(parents=True, exist_ok=True)
        settings = (
            None if config is None and bot_factory is not None else _settings(config, tmp_dir)
        )
        config_path = _write_config(config, settings, tmp_dir) if bot_process else None
        if validate:
            # Load the OpenAPI description now (about 5 s the first time in a
            # process) rather than inside the bot's first request.
            from sandbox.rules.openapi import SpecValidator

            SpecValidator.shared()
        clock = Clock()
        server = ControlServer(
            validate=validate,
            rate_limits=rate_limits,
            latency_ms=latency_ms,
            bot_permissions=_default_permissions(bot_factory)
            if bot_permissions is None
            else bot_permissions,
            now=clock.now,
            clock=clock,
        )
        event = getattr(settings, "event", None)
        server.create_guild(
            guild_id=getattr(event, "guild_id", None), name=getattr(event, "name", "Hackathon")
        )
        await server.start()
        sb = cls(
            server,
            settings=settings,
            clock=clock,
            tmp_dir=tmp_dir,
            bot_factory=bot_factory,
            guild_ready_timeout=guild_ready_timeout,
            bot_process=bot_process,
            config_path=config_path,
            bot_env=bot_env,
            bot_log_level=bot_log_level,
        )
        sb._tmp = tmp
        try:
            if start_bot:
                await sb.start_bot()
        except BaseException:
            await sb.close()
            raise
        sb.startup_s = time.perf_counter() - began
        return sb

    async def close(self) -> None:
        """Stop the bot (gracefully) and the server; remove the temporary directory."""
        if self.bot is not None or self.bot_process is not None:
            with contextlib.suppress(Exception):
                await self._close_bot()
        await self.server.stop()
        if self._tmp is not None:
            with contextlib.suppress(Exception):
                self._tmp.cleanup()
            self._tmp = None

    # -- the bot -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url

    async def _build_bot(self) -> discord.Client:
        if self._bot_factory is not None:
            return await self._bot_factory(self)
        from bot.app import create_bot

        return await create_bot(self.settings, clock=self.clock)

    async def start_bot(self) -> discord.Client | BotProcess:
        """Start a new bot on the same database and server; wait until it is ready.

        In process mode this is a new OS process (returned as a :class:`BotProcess`);
        otherwise a new discord.py client in this event loop."""
        if self.bot is not None or (self.bot_process is not None and self.bot_process.running):
            raise RuntimeError("a bot is already running: kill_bot() or restart_bot() first")
        if self.process_mode:
            return await self._start_bot_process()
        if self._bot_factory is None:
            from bot.app import point_discord_at
        else:
            point_discord_at = _point_discord_at
        point_discord_at(self.server.url)
        bot = await self._build_bot()
        # Equivalent to Client(guild_ready_timeout=...): the sandbox sends its only
        # GUILD_CREATE right after READY, so waiting 2 s for more guilds is pointless.
        bot._connection.guild_ready_timeout = self._guild_ready_timeout
        self.bot = bot
        self._bot_task = asyncio.create_task(bot.start(self.server.token), name="sandbox-bot")
        ready = getattr(bot, "hackbot_ready", None)
        waiter = asyncio.ensure_future(
            ready.wait() if ready is not None else bot.wait_until_ready()
        )
        done, _pending = await asyncio.wait(
            {waiter, self._bot_task},
            timeout=self.bot_ready_max_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if waiter not in done:
            waiter.cancel()
            if self._bot_task in done:
                error = self._bot_task.exception()
                self.bot = None
                self._bot_task = None
                raise RuntimeError(f"the bot stopped before it was ready: {error!r}") from error
            raise TimeoutError(f"the bot was not ready within {self.bot_ready_max_s:.0f} s")
        await self.settle()
        return bot

    async def _start_bot_process(self) -> BotProcess:
        assert self.config_path is not None
        process = BotProcess(
            config_path=self.config_path,
            api_base=self.server.url,
            token=self.server.token,
            clock_url=self.server.clock_url,
            log_level=self.bot_log_level,
            env=self.bot_env,
            lines=self._bot_lines,
            python_args=self.bot_python_args,
        )
        self._bot_lines.append(f"--- sandbox: bot process {len(self.bot_processes) + 1} ---")
        await process.start()
        self.bot_process = process
        self.bot_processes.append(process)
        try:
            await process.wait_ready(self.bot_ready_max_s)
        except BaseException:
            await process.kill()
            self.server.gateway.forget_sessions()
            raise
        await self.settle()
        return process

    @property
    def bot_log(self) -> str:
        """Everything the bot processes wrote (stdout and stderr), in order (process mode)."""
        return "\n".join(self._bot_lines)

    @property
    def bot_pid(self) -> int | None:
        return self.bot_process.pid if self.bot_process is not None else None

    def bot_memory(self) -> dict[str, int]:
        """The bot process's memory in kB (``VmRSS`` now, ``VmHWM`` peak), from /proc."""
        return self.bot_process.memory() if self.bot_process is not None else {}

    async def kill_bot(self) -> None:
        """Crash the bot: its connections drop without a close frame and its task is cancelled.

        In-process resources (database engine, HTTP session) are then released
        without sending anything to the server, as if the process had died.
        In process mode: SIGKILL, a real crash (in-flight writes are cut).
        """
        if self.process_mode:
            process = self.bot_process
            if process is not None:
                await process.kill()
            self.server.gateway.forget_sessions()
            self.server.control.forget_acks()
            return
        bot = self.bot
        if bot is None:
            return
        self.server.gateway.drop(None)
        self.server.gateway.forget_sessions()
        task = self._bot_task
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        # Close its HTTP session first, so that nothing its shutdown code might try
        # reaches the server; then let close() stop its timers and database engine
        # (the in-process equivalent of the process having died).
        with contextlib.suppress(Exception):
            await bot.http.close()
        with contextlib.suppress(Exception):
            await bot.close()
        self.bot = None
        self._bot_task = None

    async def _close_bot(self) -> None:
        if self.process_mode:
            process = self.bot_process
            if process is not None and process.running:
                await process.terminate(self.stop_max_s)
            self.server.control.forget_acks()
            return
        bot = self.bot
        if bot is None:
            return
        await bot.close()
        task = self._bot_task
        if task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 10)
        self.bot = None
        self._bot_task = None

    async def restart_bot(self) -> discord.Client | BotProcess:
        """Graceful stop (close frame, like a deploy) then a new bot on the same database.

        In process mode: SIGTERM, wait for the process to exit, start a new one."""
        await self._close_bot()
        return await self.start_bot()

    # -- time and settling -------------------------------------------------------------

    def _bot_busy(self) -> bool:
        if self.process_mode:
            return self._interactions_pending()
        outbox = getattr(self.bot, "outbox", None)
        if outbox is not None and outbox.busy():
            return True  # writes stored and due: roles, access, posts still to reach Discord
        for task in asyncio.all_tasks():
            if task.done():
                continue
            name = task.get_name()
            if name.startswith(BOT_TASK_PREFIXES):
                return True
        return False

    def _interactions_pending(self) -> bool:
        """An interaction still waits for its first answer, or a deferred one to be filled."""
        now = time.monotonic()
        deadline = self.server.interactions.deadline_s
        for record in self.server.interactions.records.values():
            age = now - record.created_mono
            if record.response_type is None:
                if not record.missed_deadline and age < deadline:
                    return True
            elif (
                record.response_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
                and not record.completed
                and not record.followup_ids
                and age < self.deferred_max_s
            ):
                return True
        return False

    async def settle(self, *, quiet: float | None = None) -> None:
        """Wait until the bot is idle: no REST request in flight, no event queued, no
        discord.py handler running, and nothing happened for a short quiet period.

        In process mode only what the server sees counts: no request in flight, no
        event queued, no interaction waiting for its answer, and ``quiet_s`` (0.1 s)
        without any request or event."""
        await self.server.wait_quiet(
            quiet=self.quiet_s if quiet is None else quiet,
            max_wait=self.settle_max_s,
            extra_busy=self._bot_busy,
        )

    async def advance(self, **delta: float) -> None:
        """Move the clock (the bot's and Discord's) forward, e.g. ``advance(minutes=30)``.

        Discord's own timers apply (inactive threads get archived). Then wait for what the jump set off: tasks started meanwhile (timers that
        came due run in new tasks) get up to ``advance_tasks_max_s`` to finish,
        and the bot settles.
        """
        if self.process_mode:
            version = await self.server.advance_clock(timedelta(**delta))
            process = self.bot_process
            if process is not None and process.running:
                # The bot's ClockFollower applies the jump (its timers are rebuilt) and says so.
                applied = await self.server.control.wait_acked(version, self.advance_tasks_max_s)
                if not applied:
                    log.warning(
                        "the bot process did not apply the clock jump within %.1f s",
                        self.advance_tasks_max_s,
                    )
            await self.settle()
            return
        before = set(asyncio.all_tasks())
        await self.server.advance_clock(timedelta(**delta))
        await self._wait_new_tasks(before)
        await self.settle()

    async def _wait_new_tasks(self, before: set[asyncio.Task[Any]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.advance_tasks_max_s
        current = asyncio.current_task()
        idle_rounds = 0
        while loop.time() < deadline:
            pending = [
                t
                for t in asyncio.all_tasks()
                if t not in before and t is not current and not t.done() and not _infrastructure(t)
            ]
            if pending:
                idle_rounds = 0
                await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
                continue
            idle_rounds += 1
            if idle_rounds >= 3:
                return
            await asyncio.sleep(0.01)
        log.debug(
            "tasks started by the clock jump still running after %.1f s", self.advance_tasks_max_s
        )

    # -- faults --------------------------------------------------------------------

    @property
    def faults(self) -> Any:
        return self.server.faults

    @property
    def rate_limiter(self) -> Any:
        return self.server.rate_limiter

    @property
    def invalid_requests(self) -> Any:
        """Discord's invalid-request count (401, 403, 429 except shared-scope 429s) in a
        sliding 10-minute window: ``count``, ``peak``, ``total``, ``by_status``, ``summary()``
        (a :class:`sandbox.rules.invalid_requests.InvalidRequests`)."""
        return self.server.invalid_requests

    def crash_after(
        self, route: str, match: Callable[[Any, Any], bool] | None = None
    ) -> CrashPoint:
        """SIGKILL the bot process right after the server did what a request asked, before the
        bot hears the answer: the crash between "Discord did it" and "the bot recorded it".

        ``route`` is ``"METHOD /template"`` (e.g. ``"POST /channels/{channel_id}/messages"``);
        ``match(call, result)`` narrows it down (``call.params``, ``call.json``; ``result`` is
        what the handler returned, e.g. the message). Fires once. Process mode only. Then
        ``await point.wait()`` and ``await sb.kill_bot()`` (which reaps the process) before
        ``start_bot()``."""
        if not self.process_mode:
            raise RuntimeError("crash_after needs the bot as a process (bot_process=True)")
        point = CrashPoint(self, route, match)
        self.server.after_handled.append(point.check)
        return point

    def crash_before(self, route: str, match: Callable[[Any], bool] | None = None) -> CrashPoint:
        """SIGKILL the bot process when a matching request arrives, and do not carry it out:
        the bot died just before that request left (what it did before is done, this and
        what follows is not). ``match(call)``; otherwise as :meth:`crash_after`."""
        if not self.process_mode:
            raise RuntimeError("crash_before needs the bot as a process (bot_process=True)")
        point = CrashPoint(self, route, (lambda call, _r: match(call)) if match else None)
        point.before = True
        self.server.before_handled.append(point.check_before)
        return point

    def drop_gateway(self, *, resumable: bool = True, close_code: int | None = None) -> int:
        """Cut the bot's gateway connection. Default: a network failure (no close frame);
        the bot reconnects and RESUMEs, receiving the events it missed.
        ``resumable=False`` makes the resume fail (INVALID_SESSION) so it IDENTIFYs anew."""
        return self.server.drop_gateway(close_code=close_code, resumable=resumable)

    async def wait_gateway(self, *, max_wait: float = 30.0) -> None:
        """Wait until the bot is connected to the gateway again, then settle."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not self.server.gateway.connected_sessions():
            if loop.time() > deadline:
                raise TimeoutError(f"the bot did not reconnect within {max_wait:.0f} s")
            await asyncio.sleep(0.02)
        await self.settle()

    # -- violations ----------------------------------------------------------------------

    @property
    def violations(self) -> list[Violation]:
        return list(self.server.violations)

    def expect_violation(
        self,
        code: int | None = None,
        *,
        status: int | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Declare that requests refused with this code (and/or status, path) are expected here."""
        self._expected.append(ExpectedViolation(code, status, path_contains))

    def take_violations(self) -> list[Violation]:
        """Return the violations recorded so far and forget them."""
        return self.server.reset_violations()

    def unexpected_violations(self) -> list[Violation]:
        return [v for v in self.server.violations if not any(e.matches(v) for e in self._expected)]

    def check_violations(self) -> None:
        unexpected = self.unexpected_violations()
        if unexpected:
            lines = "\n".join(f"  - {v}" for v in unexpected)
            raise AssertionError(
                f"the sandbox refused {len(unexpected)} request(s) real Discord would refuse too:\n{lines}"
            )

    @property
    def missed_deadlines(self) -> list[InteractionRecord]:
        return list(self.server.interactions.missed)

    # -- the guild -------------------------------------------------------------------

    @property
    def guild(self) -> st.GuildState:
        return self.server.guild(self.guild_id)

    def channel(self, ref: ChannelRef) -> ChannelView:
        """A channel, thread or DM by name, id, ChannelView or dict."""
        if isinstance(ref, ChannelView):
            return ref
        if isinstance(ref, dict):
            return ChannelView(self, ref["id"])
        key = str(ref).lstrip("#")
        if key.isdigit():
            self.server.find_channel(key)
            return ChannelView(self, key)
        channel = self.guild.channel_by_name(key)
        if channel is None:
            names = sorted(c["name"] for c in self.guild.channels.values())
            raise LookupError(f"no channel named {key!r} (channels: {names})")
        return ChannelView(self, channel["id"])

    def has_channel(self, name: str) -> bool:
        return self.guild.channel_by_name(name.lstrip("#")) is not None

    @property
    def channels(self) -> list[ChannelView]:
        return [ChannelView(self, c["id"]) for c in self.guild.guild_channels()]

    @property
    def threads(self) -> list[ChannelView]:
        return [ChannelView(self, c["id"]) for c in self.guild.threads()]

    @property
    def default_channel(self) -> ChannelView:
        return self.channel(self.default_channel_name)

    def role(self, name: str | int) -> dict:
        return self.server.resolve_role(self.guild, name)

    def has_role(self, name: str) -> bool:
        return self.guild.role_by_name(name) is not None

    @property
    def roles(self) -> list[dict]:
        return sorted(self.guild.roles.values(), key=lambda r: r["position"])

    @property
    def scheduled_events(self) -> list[dict]:
        return list(self.guild.scheduled_events.values())

    @property
    def commands(self) -> list[dict]:
        """Commands the bot registered: guild commands first, then global ones."""
        return list(self.guild.commands.values()) + list(self.server.global_commands.values())

    def find_command(self, name: str, kind: int = 1) -> dict:
        for command in self.commands:
            if command["name"] == name and command.get("type", 1) == kind:
                return command
        names = sorted(c["name"] for c in self.commands if c.get("type", 1) == kind)
        raise LookupError(f"the bot registered no command {name!r} (registered: {names})")

    def member(self, name: str) -> SandboxMember:
        for member in self.guild.members.values():
            if member["user"]["username"] == name:
                return SandboxMember(self, member["user"]["id"])
        raise LookupError(f"no member named {name!r}")

    @property
    def bot_member(self) -> dict:
        return self.guild.members[self.server.bot_user["id"]]

    @property
    def bot_user_id(self) -> int:
        return int(self.server.bot_user["id"])

    def to_id(self, value: Any, kind: int | None) -> str:
        """The snowflake Discord would send for a member, channel, role or message given by a test."""
        if isinstance(value, SandboxMember):
            return str(value.id)
        if isinstance(value, ChannelView):
            return str(value.id)
        if isinstance(value, dict):
            return str(value["id"]) if "id" in value else str(value["user"]["id"])
        text = str(value)
        if text.isdigit():
            return text
        if kind == USER:
            return str(self.member(text).id)
        if kind == CHANNEL:
            return str(self.channel(text).id)
        if kind == ROLE:
            return self.role(text)["id"]
        if kind == MENTIONABLE:
            if self.guild.role_by_name(text) is not None:
                return self.role(text)["id"]
            return str(self.member(text).id)
        return text

    def channel_type_of(self, channel_id: str) -> int | None:
        try:
            return int(self.server.find_channel(channel_id)[1]["type"])
        except Exception:
            return None

    # -- permissions ------------------------------------------------------------------

    def _member_id(self, who: SandboxMember | int | str | dict) -> str:
        if isinstance(who, SandboxMember):
            return str(who.id)
        if isinstance(who, dict):
            return str(who["user"]["id"] if "user" in who else who["id"])
        return str(who)

    def permissions(self, who: SandboxMember | int | str | dict, channel: ChannelRef) -> int:
        view = self.channel(channel)
        guild, data = self.server.find_channel(str(view.id))
        if guild is None:
            return 0
        return self.server.channel_perms(guild, self._member_id(who), data)

    def can_view(self, who: SandboxMember | int | str | dict, channel: ChannelRef) -> bool:
        return self.server.can_view(self._member_id(who), str(self.channel(channel).id))

    def can_send(self, who: SandboxMember | int | str | dict, channel: ChannelRef) -> bool:
        return self.server.can_send(self._member_id(who), str(self.channel(channel).id))

    def pinged(self, message: dict) -> dict:
        """Who ``message`` notified: ``{"users": [...], "roles": [...], "everyone", "here"}``."""
        return dict(message.get("_pinged") or {})

    # -- acting as an administrator in the Discord client ---------------------------

    async def add_member(
        self,
        name: str,
        *,
        roles: list[str | int] | tuple[str | int, ...] = (),
        locale: str = "en-US",
        nick: str | None = None,
        bot: bool = False,
    ) -> SandboxMember:
        """A new member joins (GUILD_MEMBER_ADD), with these roles (names or ids)."""
        member = self.server.add_member(
            self.guild, name, roles=list(roles), locale=_locale(locale), nick=nick, bot=bot
        )
        await self.settle()
        return SandboxMember(self, member["user"]["id"])

    async def add_members(
        self,
        count: int,
        *,
        prefix: str = "member",
        roles: list[str | int] | tuple[str | int, ...] = (),
        locale: str = "en-US",
    ) -> list[SandboxMember]:
        """``count`` members join at once (``member0``, ``member1``, ...), settling once.

        Before the bot starts this is how a large guild is built (the bot then gets
        them through GUILD_CREATE or member chunks, as from Discord)."""
        start = len(self.guild.members)
        added = [
            self.server.add_member(
                self.guild, f"{prefix}{start + i}", roles=list(roles), locale=_locale(locale)
            )
            for i in range(count)
        ]
        if self.bot is not None or self.bot_process is not None:
            await self.settle()
        return [SandboxMember(self, member["user"]["id"]) for member in added]

    async def create_role(
        self,
        name: str,
        *,
        permissions: int = 0,
        mentionable: bool = False,
        hoist: bool = False,
    ) -> dict:
        """An administrator creates a role (placed just above @everyone)."""
        guild = self.guild
        for role in guild.roles.values():
            if role["position"] >= 1:
                role["position"] += 1
        role = st.make_role(
            self.server.new_id(),
            name,
            permissions=permissions,
            position=1,
            mentionable=mentionable,
            hoist=hoist,
        )
        guild.roles[role["id"]] = role
        self.server.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": guild.id, "role": st.public(role)}
        )
        await self.settle()
        return role

    async def create_channel(
        self,
        name: str,
        *,
        type: int = st.GUILD_TEXT,
        parent: ChannelRef | None = None,
        overwrites: list[dict] | None = None,
        topic: str | None = None,
    ) -> ChannelView:
        """An administrator creates a channel (no limit on the bot's permissions applies)."""
        from sandbox.rules import limits

        payload: dict[str, Any] = {
            "name": name,
            "type": type,
            "permission_overwrites": overwrites or [],
        }
        if parent is not None:
            payload["parent_id"] = str(self.channel(parent).id)
        if topic is not None:
            payload["topic"] = topic
        limits.check_channel_create(self.guild.guild_channels(), payload)
        channel = self.server.create_channel(self.guild, payload)
        await self.settle()
        return ChannelView(self, channel["id"])

    async def set_permissions(
        self,
        channel: ChannelRef,
        target: SandboxMember | dict | str,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> None:
        """An administrator sets a channel overwrite for a member or a role (dict or role name)."""
        view = self.channel(channel)
        if isinstance(target, SandboxMember):
            target_id, kind = str(target.id), 1
        elif isinstance(target, dict):
            target_id, kind = str(target["id"]), 0
        else:
            target_id, kind = self.role(target)["id"], 0
        self.server.set_overwrite(self.guild, view.data, target_id, kind, int(allow), int(deny))
        await self.settle()

    @property
    def onboarding(self) -> dict:
        """The guild's onboarding object (prompts, default channels, enabled, mode)."""
        return st.public(self.guild.onboarding)

    async def set_onboarding(self, **fields: Any) -> dict:
        """An administrator edits Server Settings -> Onboarding: the fields of Discord's PUT
        body (``prompts``, ``default_channel_ids``, ``enabled``, ``mode``; channels may be
        given by name too). No bot permission applies; Discord's own rules do (limits,
        Community, 350000/350001 below the 7 default channels, 5 open to @everyone's
        messages), raised as :class:`DiscordError`."""
        payload = dict(fields)
        if payload.get("default_channel_ids") is not None:
            payload["default_channel_ids"] = [
                str(self.channel(c).id) for c in payload["default_channel_ids"]
            ]
        result = self.server.set_onboarding(self.guild, payload)
        await self.settle()
        return st.public(result)

    async def set_bot_permissions(self, permissions: int) -> None:
        """An administrator changes the bot's managed role."""
        self.server.set_bot_permissions(int(permissions), self.guild)
        await self.settle()

    # -- interactions ------------------------------------------------------------------

    def _process_note(self) -> str:
        """In process mode, when the bot process is not running: say so, with its last lines."""
        process = self.bot_process
        if not self.process_mode or process is None or process.running:
            return ""
        return (
            f" (the bot process has exited with code {process.returncode}:\n{process.tail(15)}\n)"
        )

    def fire(
        self,
        member: SandboxMember,
        channel: ChannelView,
        interaction_type: int,
        data: dict,
        *,
        message: dict | None = None,
    ) -> InteractionRecord:
        """Send an interaction and return at once (its record fills in as the bot answers).

        For load: ``view, data = member.slash_data("about")`` then ``sb.fire(member, view,
        APPLICATION_COMMAND, data)``; ``run_interaction`` is the waiting version."""
        return self.server.interactions.create(
            guild=self.guild,
            channel=channel.data,
            user_id=str(member.id),
            interaction_type=interaction_type,
            data=data,
            message=message,
        )

    async def run_interaction(
        self,
        member: SandboxMember,
        channel: ChannelView,
        interaction_type: int,
        data: dict,
        *,
        message: dict | None = None,
    ) -> Reply:
        interactions = self.server.interactions
        record = interactions.create(
            guild=self.guild,
            channel=channel.data,
            user_id=str(member.id),
            interaction_type=interaction_type,
            data=data,
            message=message,
        )
        what = f"{member.name}'s interaction {record.name!r}" + self._process_note()
        answered = await record.wait_until(
            lambda: record.response_type is not None or record.missed_deadline,
            interactions.deadline_s + 0.25,
        )
        if record.missed_deadline:
            raise InteractionFailed(
                f"the bot answered {what} after {record.late_callback_at:.2f} s; "
                "Discord allows 3 s (defer first)"
            )
        if not answered:
            raise InteractionFailed(
                f"the bot did not answer {what} within 3 s: the member sees "
                '"The application did not respond"'
            )
        if record.response_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            filled = await record.wait_until(
                lambda: record.completed or bool(record.followup_ids), self.deferred_max_s
            )
            if not filled:
                raise AssertionError(
                    f"the bot deferred {what} but neither edited the response nor sent a "
                    f"follow-up within {self.deferred_max_s:.0f} s (the member sees 'thinking...')"
                )
        if self.settle_after_interaction:
            await self.settle()
        return Reply(self, member, record)


class CrashPoint:
    """A one-shot crash of the bot process after a matching request (``sb.crash_after``)."""

    def __init__(self, sb: Sandbox, route: str, match: Callable[[Any, Any], bool] | None) -> None:
        self._sb = sb
        self.route = route
        self.match = match
        self.call: Any = None
        self.result: Any = None
        self.before = False
        self._fired = asyncio.Event()

    @property
    def fired(self) -> bool:
        return self._fired.is_set()

    def check(self, route: str, call: Any, result: Any) -> None:
        if self.fired or route != self.route:
            return
        if self.match is not None and not self.match(call, result):
            return
        process = self._sb.bot_process
        if process is None or process.pid is None or not process.running:
            return
        import os
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        self.call, self.result = call, result
        self._fired.set()
        self.cancel()

    def check_before(self, route: str, call: Any) -> bool:
        """``check`` before the handler: True (swallow the request) when it fired."""
        self.check(route, call, None)
        return self.fired and self.call is call

    def cancel(self) -> None:
        for hooks, hook in (
            (self._sb.server.after_handled, self.check),
            (self._sb.server.before_handled, self.check_before),
        ):
            with contextlib.suppress(ValueError):
                hooks.remove(hook)

    async def wait(self, max_wait: float = 30.0) -> None:
        """Wait until the crash happened (raises TimeoutError otherwise)."""
        await asyncio.wait_for(self._fired.wait(), max_wait)


def _default_permissions(bot_factory: Any) -> int:
    """hackbot runs with exactly what its invite link asks for; other bots get the sandbox's default."""
    if bot_factory is not None:
        return DEFAULT_BOT_PERMISSIONS
    from bot.permissions import required_permissions

    return required_permissions().value


class _Starting:
    """``Sandbox.start(...)``: use with ``async with`` (or ``await`` it and ``close()`` yourself)."""

    def __init__(self, cls: type[Sandbox], kwargs: dict, check_violations: bool) -> None:
        self._cls = cls
        self._kwargs = kwargs
        self._check = check_violations
        self._sb: Sandbox | None = None

    def __await__(self):
        return self._cls._create(**self._kwargs).__await__()

    async def __aenter__(self) -> Sandbox:
        self._sb = await self._cls._create(**self._kwargs)
        return self._sb

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        sb = self._sb
        if sb is None:
            return
        try:
            if exc_type is None and self._check:
                with contextlib.suppress(TimeoutError):
                    await sb.settle()
                sb.check_violations()
        finally:
            await sb.close()


def _infrastructure(task: asyncio.Task[Any]) -> bool:
    """Long-lived tasks of the sandbox server and aiohttp (not work the bot is doing)."""
    if task.get_name().startswith("sandbox-"):
        return True
    qualname = getattr(task.get_coro(), "__qualname__", "")
    return qualname.startswith("RequestHandler.")


def _point_discord_at(base_url: str) -> None:
    """What ``bot.app.point_discord_at`` does, for bots that are not hackbot's."""
    import discord
    import yarl

    discord.http.Route.BASE = f"{base_url}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        base_url.replace("http://", "ws://", 1) + "/gateway"
    )


def _locale(value: str) -> str:
    """Discord locale codes: "fr", "en-US", "en-GB", ... ("en" means en-US)."""
    return {"en": "en-US"}.get(value, value)


def _write_config(config: Any, settings: Any, tmp_dir: Path) -> Path:
    """The configuration file a bot process reads (from the same dict as ``sb.settings``)."""
    if config is not None and not isinstance(config, dict):
        existing = getattr(settings, "config_path", None)
        if existing is None:
            raise TypeError(
                "bot_process=True needs the configuration as a dict (or Settings loaded from a file)"
            )
        return Path(existing)
    from bot.config import default_config_dict

    data = default_config_dict() if config is None else deep_merge(default_config_dict(), config)
    path = tmp_dir / "hackbot.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    return path


def _settings(config: Any, tmp_dir: Path) -> Any:
    from bot.config import default_config_dict, settings_from_dict

    if config is None:
        return settings_from_dict(default_config_dict(), tmp_dir)
    if isinstance(config, dict):
        return settings_from_dict(deep_merge(default_config_dict(), config), tmp_dir)
    return config


__all__ = ["BOT_TASK_PREFIXES", "P", "Sandbox"]
