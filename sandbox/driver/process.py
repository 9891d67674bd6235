"""The real bot as a separate OS process: ``python -m bot run`` against the sandbox.

Used by ``Sandbox.start(..., bot_process=True)`` and the benchmarks. The process
gets its configuration as a TOML file, the sandbox's token in ``DISCORD_TOKEN``,
the sandbox's address through ``--api-base`` and the sandbox clock through
``HACKBOT_CLOCK_URL``. Its output (stdout and stderr, one stream) is kept in
:attr:`BotProcess.lines`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
READY_MARK = "hackbot ready for"  # bot.app logs it (INFO) once the guild is set up
# Variables of the test process that must not leak into the bot's environment.
SCRUBBED_ENV = ("DISCORD_TOKEN", "HACKBOT_CONFIG", "HACKBOT_LANG", "HACKBOT_DATABASE_URL")


class BotExited(RuntimeError):
    """The bot process ended while the sandbox expected it to run."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the bot gets SIGKILL if the test or benchmark process dies (no orphans)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class BotProcess:
    """One ``python -m bot run`` process. Start it, wait until ready, stop or kill it."""

    def __init__(
        self,
        *,
        config_path: Path,
        api_base: str,
        token: str,
        clock_url: str | None = None,
        log_level: str = "INFO",
        env: Mapping[str, str] | None = None,
        lines: list[str] | None = None,
        python_args: list[str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.python_args = list(python_args or [])  # e.g. ["-m", "cProfile", "-o", "bot.prof"]
        self.api_base = api_base
        self.token = token
        self.clock_url = clock_url
        self.log_level = log_level
        self.extra_env = dict(env or {})
        self.lines: list[str] = lines if lines is not None else []
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None  # time.monotonic() at spawn
        self.ready_at: float | None = None
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._first_line = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def own_lines(self) -> list[str]:
        """The lines this process wrote (``lines`` may be shared by successive processes)."""
        return self.lines[self._first_line :]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        )
        env["DISCORD_TOKEN"] = self.token
        env["PYTHONUNBUFFERED"] = "1"
        if self.clock_url:
            env["HACKBOT_CLOCK_URL"] = self.clock_url
        env.update(self.extra_env)
        return env

    async def start(self) -> None:
        if self.proc is not None:
            raise RuntimeError("this BotProcess was already started")
        self._first_line = len(self.lines)
        self.started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *self.python_args,
            "-m",
            "bot",
            "run",
            "--config",
            str(self.config_path),
            "--api-base",
            self.api_base,
            "--log-level",
            self.log_level,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.environment(),
            cwd=str(self.config_path.parent),
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        self._reader = asyncio.create_task(self._read(), name="sandbox-bot-log")

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the stream's limit: take it in pieces
                raw = await stream.read(64 * 1024)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.lines.append(line)
            if READY_MARK in line and not self._ready.is_set():
                self.ready_at = time.monotonic()
                self._ready.set()

    async def wait_ready(self, max_wait: float) -> None:
        """Wait for the bot's "hackbot ready" line; raise if it exits or times out first."""
        assert self.proc is not None
        ready = asyncio.ensure_future(self._ready.wait())
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait(
                {ready, exited}, timeout=max_wait, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
            exited.cancel()
        if self._ready.is_set():
            return
        if self.proc.returncode is not None:
            await self._drain()
            raise BotExited(
                f"the bot process exited with code {self.proc.returncode} before it was ready:\n"
                + self.tail()
            )
        raise TimeoutError(f"the bot process was not ready within {max_wait:.0f} s:\n{self.tail()}")

    def tail(self, count: int = 30) -> str:
        return "\n".join("  | " + line for line in self.own_lines[-count:])

    async def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)

    async def kill(self) -> int | None:
        """SIGKILL: a crash. Nothing is closed gracefully, writes in flight are cut."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        code = await self.proc.wait()
        await self._drain()
        return code

    async def terminate(self, max_wait: float = 20.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after ``max_wait`` s, with a warning)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), max_wait)
            except TimeoutError:
                log.warning("the bot did not stop within %.0f s of SIGTERM: killing it", max_wait)
                return await self.kill()
        await self._drain()
        return self.proc.returncode

    def memory(self) -> dict[str, int]:
        """The process's memory in kB from /proc/<pid>/status: VmRSS (now), VmHWM (peak)."""
        return read_memory(self.pid) if self.running and self.pid else {}


def read_memory(pid: int) -> dict[str, int]:
    """``{"VmRSS": kB, "VmHWM": kB, ...}`` of a live process (Linux), empty elsewhere."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize", "VmPeak", "RssAnon"):
                found[key] = int(value.split()[0])
    return found


# -- TOML (the bot reads its configuration from a file) -----------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, dict) for v in value)
    )


def toml_dumps(data: Mapping[str, Any]) -> str:
    """A TOML document for a configuration dict (tables, arrays of tables, scalars, dates)."""
    out: list[str] = []

    def table(prefix: str, body: Mapping[str, Any], header: str | None) -> None:
        scalars = [
            (k, v) for k, v in body.items() if not isinstance(v, dict) and not _is_table_array(v)
        ]
        if header is not None:
            out.append(header)
        for k, v in scalars:
            out.append(f"{_key(k)} = {_value(v)}")
        if header is not None or scalars:
            out.append("")
        for k, v in body.items():
            path = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                table(path, v, f"[{path}]")
            elif _is_table_array(v):
                for item in v:
                    table(path, item, f"[[{path}]]")

    table("", data, None)
    return "\n".join(out).strip() + "\n"
