"""What every benchmark shares: options, a fresh database, the sandbox with the bot as a
separate process, statistics, the machine description, tables and JSON results.

A benchmark is a module ``bench/<name>.py`` with::

    DESCRIPTION = "one line for --help"

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...

    async def run(args: argparse.Namespace, report: Report) -> None: ...

``python -m bench <name>`` finds it, adds the common options (:func:`common_arguments`),
runs it, prints ``report``'s tables and writes ``bench/results/<name>-<time>-<db>.json``.
Inside ``run``, :func:`bench_sandbox` starts the sandbox (in this process) and the
real bot (in its own process) on a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_LATENCY_MS = 80.0


def common_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--latency-ms",
        type=float,
        default=DEFAULT_LATENCY_MS,
        help=f"added to every REST answer, as from a real Discord (default {DEFAULT_LATENCY_MS:g})",
    )
    group.add_argument(
        "--database",
        metavar="URL",
        help="run the bot on this database server (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test);"
        " a fresh database is created on it for the run and dropped after. Default: a new SQLite file",
    )
    group.add_argument(
        "--keep-database", action="store_true", help="do not drop the PostgreSQL database after"
    )
    group.add_argument(
        "--validate",
        action="store_true",
        help="validate every request against Discord's OpenAPI description (off: it costs ~2 ms each)",
    )
    group.add_argument(
        "--no-rate-limits", action="store_true", help="switch the sandbox's rate limits off"
    )
    group.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help="where the JSON result goes"
    )
    group.add_argument("--no-json", action="store_true", help="print only, write no JSON file")
    group.add_argument("--bot-log", type=Path, help="also write the bot process's log to this file")
    group.add_argument(
        "--profile-bot",
        type=Path,
        metavar="FILE",
        help="run the bot under cProfile and write its profile here (read with pstats)",
    )


# -- the report -----------------------------------------------------------------------------


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)

    def add(self, *row: Any) -> None:
        self.rows.append(list(row))

    def render(self) -> str:
        cells = [[_cell(v) for v in row] for row in self.rows]
        widths = [
            max([len(col), *(len(row[i]) for row in cells if i < len(row))])
            for i, col in enumerate(self.columns)
        ]
        line = "  ".join(col.ljust(widths[i]) for i, col in enumerate(self.columns))
        out = [self.title, line, "  ".join("-" * w for w in widths)]
        for row in cells:
            out.append(
                "  ".join(
                    value.rjust(widths[i]) if _numeric(value) else value.ljust(widths[i])
                    for i, value in enumerate(row)
                )
            )
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("%"))
    except ValueError:
        return False
    return True


@dataclass
class Report:
    """What a benchmark found: tables for people, ``data`` for the JSON file, notes."""

    name: str
    args: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def table(self, title: str, columns: Sequence[str]) -> Table:
        table = Table(title, list(columns))
        self.tables.append(table)
        return table

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        parts = [f"== bench {self.name} ({self.started}) on {machine_line()}"]
        parts.extend(table.render() for table in self.tables)
        parts.extend(f"note: {text}" for text in self.notes)
        return "\n\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": self.name,
            "started": self.started,
            "machine": machine(),
            "args": self.args,
            "results": self.data,
            "tables": [t.as_dict() for t in self.tables],
            "notes": self.notes,
        }

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stamp = self.started.replace(":", "").replace("-", "").replace("+0000", "Z")
        backend = "postgresql" if self.args.get("database") else "sqlite"
        path = directory / f"{self.name}-{stamp}-{backend}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path


# -- statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by the nearest-rank method; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values_s: Iterable[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p99, max of durations given in seconds, in milliseconds."""
    values = [v * 1000 for v in values_s]
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


# -- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _meminfo_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }
    with contextlib.suppress(Exception):
        import discord

        info["discord.py"] = discord.__version__
    with contextlib.suppress(Exception):
        info["load_average"] = list(os.getloadavg())
    return info


def machine_line() -> str:
    info = machine()
    memory = f", {info['memory_mb'] / 1024:.0f} GB" if info.get("memory_mb") else ""
    return f"{info['cores']} cores ({info['cpu']}{memory}), Python {info['python']}"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _meminfo_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


# -- a fresh database ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def fresh_database(url: str | None, keep: bool = False) -> AsyncIterator[str | None]:
    """A new, empty database for one run: None (the sandbox's own SQLite file) or, on a
    PostgreSQL server, ``CREATE DATABASE hackbot_bench_...`` then ``DROP`` after."""
    if not url:
        yield None
        return
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url  # another server database: used as given
        return
    import asyncpg

    name = f"hackbot_bench_{os.getpid()}_{int(time.time())}"
    admin = {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 5432,
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "database": "postgres",
    }
    conn = await asyncpg.connect(**admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            conn = await asyncpg.connect(**admin)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()


# -- the sandbox with the bot as a process ------------------------------------------------------


@dataclass
class Startup:
    """When the bot process got where, in seconds after it was spawned (None: not seen)."""

    identify_s: float | None = None  # its gateway IDENTIFY reached the sandbox
    chunk_request_s: float | None = None  # it asked for the guild's members (op 8)
    ready_s: float | None = None  # it logged "hackbot ready" (guild set up, commands synced)


async def _watch_gateway(sb: Any, started: float, startup: Startup) -> None:
    gateway = sb.server.gateway
    identified, requested = gateway.identify_count, gateway.request_members_count
    while startup.identify_s is None or startup.chunk_request_s is None:
        now = time.monotonic()
        if startup.identify_s is None and gateway.identify_count > identified:
            startup.identify_s = now - started
        if startup.chunk_request_s is None and gateway.request_members_count > requested:
            startup.chunk_request_s = now - started
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def bench_sandbox(
    args: argparse.Namespace,
    *,
    members: int = 0,
    config: dict[str, Any] | None = None,
    bot_permissions: int | None = None,
) -> AsyncIterator[tuple[Any, Startup]]:
    """The sandbox in this process, ``members`` members in its guild, and the real bot started
    as its own process on a fresh database; yields ``(sb, startup)``. ``bot_permissions``:
    what the bot was invited with (default: hackbot's invite link)."""
    from sandbox.driver.sandbox import Sandbox, deep_merge

    async with fresh_database(args.database, keep=args.keep_database) as url:
        with tempfile.TemporaryDirectory(prefix="hackbot-bench-") as tmp:
            merged = deep_merge({"event": {"name": "Bench Hack"}}, config or {})
            if url:
                merged = deep_merge(merged, {"database": {"url": url}})
            sb = await Sandbox.start(
                merged,
                tmp_path=tmp,
                validate=args.validate,
                latency_ms=args.latency_ms,
                rate_limits=False if args.no_rate_limits else None,
                start_bot=False,
                bot_process=True,
                **({} if bot_permissions is None else {"bot_permissions": bot_permissions}),
            )
            try:
                sb.settle_max_s = 120.0
                sb.bot_ready_max_s = 600.0
                if members:
                    await sb.add_members(members, locale="en-US")
                if args.profile_bot is not None:
                    sb.bot_python_args = ["-m", "cProfile", "-o", str(args.profile_bot.absolute())]
                startup = Startup()
                began = time.monotonic()
                watcher = asyncio.create_task(_watch_gateway(sb, began, startup))
                try:
                    process = await sb.start_bot()
                finally:
                    watcher.cancel()
                if process.ready_at is not None and process.started_at is not None:
                    startup.ready_s = process.ready_at - process.started_at
                yield sb, startup
            finally:
                if args.bot_log is not None:
                    args.bot_log.write_text(sb.bot_log + "\n", encoding="utf-8")
                await sb.close()


@contextlib.contextmanager
def no_collector_pauses() -> Any:
    """For a timed phase: this process (the sandbox and the load generator) stops its cyclic
    garbage collector, so that its own pauses (150-250 ms per full collection once the
    sandbox holds a few hundred thousand objects) are not measured as the bot's latency.
    What it set aside is collected after. The bot's process is left as it is."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.collect()


def bot_errors(sb: Any) -> list[str]:
    """Lines of the bot's log at ERROR or CRITICAL."""
    return [line for line in sb.bot_log.splitlines() if " ERROR " in line or " CRITICAL " in line]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by a process (this one by default), in seconds."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def mb(kb: int | None) -> float | None:
    return None if kb is None else kb / 1024


def default_argv_note() -> str:
    return " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]])


async def insert_members(session: Any, members: Any, now: Any) -> list[int]:
    """Write sandbox members to the bot's database as ``members`` rows in one statement (as
    the bot's first contact with them leaves them); their row ids, in the same order."""
    from sqlalchemy import insert

    from bot.models import Member

    rows = [
        {
            "discord_id": int(m.id),
            "display_name": m.name,
            "locale": None,
            "created_at": now,
            "updated_at": now,
        }
        for m in members
    ]
    returning = insert(Member).returning(Member.id, sort_by_parameter_order=True)
    return list((await session.scalars(returning, rows)).all())
