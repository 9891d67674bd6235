"""Programmatic Alembic: what the bot and ``hackbot db ...`` use. No alembic.ini needed.

Sync API (for the CLI and plain scripts)::

    head() -> str                         # newest revision this code knows
    current(url) -> str | None            # the database's revision (None: empty)
    upgrade(url, revision="head")
    downgrade(url, revision)

Async API (inside the bot's event loop)::

    await ensure_schema(db_or_url, auto_upgrade=True) -> str
    await current_async(db_or_url); await upgrade_async(db_or_url, revision)

Alembic's command API is synchronous. The async functions run it on one of
the engine's connections through ``AsyncConnection.run_sync`` (no extra
thread or engine when given the bot's Database); the sync functions run the async ones
with ``asyncio.run``, in a worker thread when called from a thread that
already runs an event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, Connection

from bot.db import Database
from bot.errors import HackbotError

log = logging.getLogger(__name__)

T = TypeVar("T")


def _script_location() -> Path:
    import migrations

    return Path(migrations.__file__).resolve().parent


class DatabaseTooNew(HackbotError):
    """The database was migrated by a newer hackbot than this one."""

    key = "db.too_new"

    def __init__(self, db_revision: str, code_revision: str) -> None:
        super().__init__(db=db_revision, code=code_revision)
        self.db_revision = db_revision
        self.code_revision = code_revision


class DatabaseBehind(HackbotError):
    """The database needs migrating and automatic upgrades are off."""

    key = "db.behind"

    def __init__(self, db_revision: str | None, code_revision: str) -> None:
        if db_revision is None:
            super().__init__("db.empty", code=code_revision)
        else:
            super().__init__(db=db_revision, code=code_revision)
        self.db_revision = db_revision
        self.code_revision = code_revision


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config pointing at ``migrations/`` (and at ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    if url is not None:
        # attributes, not set_main_option: ConfigParser would choke on a "%"
        # in an escaped password.
        config.attributes["url"] = url if isinstance(url, str) else url.render_as_string(False)
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this code knows."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads[0]


def _is_known(revision: str) -> bool:
    try:
        return _script().get_revision(revision) is not None
    except CommandError:
        return False


# --- async API ---------------------------------------------------------------


async def _with_connection(db_or_url: Database | str | URL, fn: Callable[[Connection], T]) -> T:
    """Run ``fn(sync_connection)`` on a connection of ``db_or_url`` and commit."""
    owned = not isinstance(db_or_url, Database)
    db = Database(db_or_url) if owned else db_or_url
    assert isinstance(db, Database)
    try:
        async with db.engine.connect() as connection:
            result = await connection.run_sync(fn)
            await connection.commit()
            return result
    finally:
        if owned:
            await db.dispose()


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_async(db_or_url: Database | str | URL) -> str | None:
    return await _with_connection(db_or_url, _current_on)


async def upgrade_async(db_or_url: Database | str | URL, revision: str = "head") -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    await _with_connection(db_or_url, run)


async def downgrade_async(db_or_url: Database | str | URL, revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    await _with_connection(db_or_url, run)


async def ensure_schema(db_or_url: Database | str | URL, *, auto_upgrade: bool = True) -> str:
    """Make sure the database schema is the one this code expects; return its revision.

    Raises :class:`DatabaseTooNew` if the database carries a revision this
    code does not know (a newer hackbot migrated it), and
    :class:`DatabaseBehind` if it needs migrating and ``auto_upgrade`` is off.
    """
    code = head()
    db_revision = await current_async(db_or_url)
    if db_revision == code:
        return code
    if db_revision is not None and not _is_known(db_revision):
        raise DatabaseTooNew(db_revision, code)
    if not auto_upgrade:
        raise DatabaseBehind(db_revision, code)
    log.info("migrating database from %s to %s", db_revision or "empty", code)
    await upgrade_async(db_or_url, "head")
    return code


# --- sync API ----------------------------------------------------------------


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from a thread that runs an event loop: asyncio.run() is not
    # allowed here, so run the migration on a worker thread and wait.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hackbot-migrate") as pool:
        return pool.submit(asyncio.run, main()).result()


def current(url: str | URL) -> str | None:
    """The database's revision, or None if it has never been migrated."""
    return _run(lambda: current_async(url))


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``."""
    _run(lambda: upgrade_async(url, revision))


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` ("base": empty)."""
    _run(lambda: downgrade_async(url, revision))
