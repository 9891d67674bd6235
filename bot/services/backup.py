"""Database backups: consistent copies of the SQLite file while the bot runs.

SQLite: :func:`backup_sqlite` uses sqlite3's online backup API from its own
connection. The copy is one consistent snapshot (in WAL mode the bot keeps
writing meanwhile; the backup reads a snapshot and never sees half a
transaction). It is written to a temporary file, checked with
``PRAGMA quick_check`` and only then renamed into place, so a copy that exists
is a complete one, even if the process dies half-way.

PostgreSQL: hackbot does not copy the database itself (the server has better
tools); :func:`pg_dump_command` gives the command to run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.errors import HackbotError

log = logging.getLogger(__name__)

#: Backup files are named ``hackbot-<UTC time>.sqlite3`` so that names sort by time.
PREFIX = "hackbot-"
SUFFIX = ".sqlite3"
NAME_TIME_FORMAT = "%Y%m%d-%H%M%S"


class BackupError(HackbotError):
    key = "backup.failed"


class NotSqlite(HackbotError):
    key = "backup.not_sqlite"


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    pruned: tuple[Path, ...] = ()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; ``None`` for another backend or an in-memory one."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def backup_directory(settings: Settings) -> Path:
    directory = Path(settings.backup.directory).expanduser()
    if not directory.is_absolute():
        directory = settings.base_dir / directory
    return directory


def backup_name(moment: datetime) -> str:
    return f"{PREFIX}{moment.strftime(NAME_TIME_FORMAT)}{SUFFIX}"


def backup_sqlite(source: Path, destination: Path) -> int:
    """Copy the live database ``source`` to ``destination`` (atomically); returns its size."""
    if not source.exists():
        raise BackupError(reason=f"{source}: no such file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # one step: one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if verdict != "ok":
            raise BackupError(reason=f"integrity check: {verdict}")
        os.replace(partial, destination)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(reason=str(error)) from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return destination.stat().st_size


def existing_backups(directory: Path) -> list[Path]:
    """Automatic backups in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.iterdir()
        if path.name.startswith(PREFIX) and path.name.endswith(SUFFIX) and path.is_file()
    )


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete the oldest automatic backups beyond ``keep``; returns what was deleted."""
    backups = existing_backups(directory)
    removed = backups[: max(0, len(backups) - keep)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def take_backup(settings: Settings, moment: datetime, out: Path | None = None) -> BackupResult:
    """Back up the configured SQLite database.

    Without ``out`` the copy goes to the backup directory under a timestamped
    name and old copies beyond ``[backup] keep`` are deleted. ``out`` may be a
    file or an existing directory.
    """
    source = sqlite_path(settings.database.url)
    if source is None:
        raise NotSqlite(command=pg_dump_command(settings.database.url))
    if out is None:
        directory = backup_directory(settings)
        destination = directory / backup_name(moment)
        size = backup_sqlite(source, destination)
        pruned = prune(directory, settings.backup.keep)
        return BackupResult(destination, size, tuple(pruned))
    destination = out / backup_name(moment) if out.is_dir() else out
    if destination.resolve() == source.resolve():
        raise BackupError(reason="the backup would overwrite the database itself")
    return BackupResult(destination, backup_sqlite(source, destination))


async def take_backup_async(
    settings: Settings, moment: datetime, out: Path | None = None
) -> BackupResult:
    """:func:`take_backup` in a worker thread (the event loop keeps serving Discord)."""
    return await asyncio.to_thread(take_backup, settings, moment, out)


def pg_dump_command(url: str, out: str = "hackbot.dump") -> str:
    """The pg_dump command that backs up the PostgreSQL database of ``url`` (no password in it)."""
    parsed = make_url(url)
    args = ["pg_dump", "--format=custom", f"--file={out}"]
    if parsed.host:
        args.append(f"--host={parsed.host}")
    if parsed.port:
        args.append(f"--port={parsed.port}")
    if parsed.username:
        args.append(f"--username={parsed.username}")
    args.append(parsed.database or "")
    return shlex.join(args)
