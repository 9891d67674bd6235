"""Database handle: one async engine, write and read transactions.

Usage::

    db = Database(settings.database.url)
    async with db.begin() as session:      # write transaction
        member = await session.get(Member, 1)
        member.display_name = "Ada"
    async with db.read() as session:       # read-only transaction
        ...
    await db.dispose()

Write transactions are serialised, on both backends, so a service may read a
row and then update it without losing a concurrent update:

* SQLite: the driver's implicit transactions are switched off
  (``isolation_level = None``) and every transaction is opened explicitly from
  the engine's ``begin`` event: ``BEGIN IMMEDIATE`` for writes (takes the
  write lock up front, others wait up to ``busy_timeout``), plain ``BEGIN``
  for reads (a consistent WAL snapshot that never blocks or is blocked by the
  writer). Without this, Python's sqlite3 opens the transaction only at the
  first write, after the SELECT, and concurrent read-modify-write sequences
  overwrite each other (about 920 lost updates per 1000 on our hardware).
* PostgreSQL: a write transaction first takes a transaction-scoped advisory
  lock, the same single-writer rule as SQLite; reads run ``READ ONLY`` at
  ``REPEATABLE READ`` (one snapshot for the whole read, as on SQLite).

Writers of one process also queue in the process, first come first served
(``_writer_turn``), before they take a connection: waiting writers then hold no
pooled connection, and SQLite's busy-wait (whose growing sleeps let late writers
overtake early ones) is not used between them.

Keep write transactions short: compute first, write, leave; never await a
Discord call inside ``db.begin()``, every other writer waits meanwhile.

A transaction that gets no pooled connection within :data:`POOL_TIMEOUT_S` raises
:class:`Busy`, a translated "busy, try again" for the user.

Read and write are told apart by an execution option (``hackbot_mode``) on
two views of the same engine (``engine.execution_options(...)`` shares the
pool and the event listeners); the ``begin`` listener reads it. SQLite read
transactions also run with ``PRAGMA query_only`` so an accidental write in
``db.read()`` fails loudly instead of being lost.

On a SQLite file, reads have an engine of their own whose connections run each
statement on the event loop's thread (:class:`InlineConnection`) instead of
aiosqlite's worker thread. A read in WAL mode never waits for a lock and an
indexed lookup takes tens of microseconds, less than the trip to a thread and
back; each trip also waits for its turn behind every callback the loop has
queued, so under load a read transaction (BEGIN, query, fetch, close: about
eight trips) took hundreds of milliseconds to answer a few-microsecond query.
Writes stay on aiosqlite's threads: a write may wait for the lock held by another
process (``hackbot export``, a second bot) and a commit may checkpoint the WAL
(an fsync), neither of which may freeze the bot.

Nesting ``db.begin()`` inside ``db.begin()`` in the same task would wait for
itself forever; it raises instead. An in-memory SQLite database (one shared
connection) runs one transaction at a time, reads included.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from bot.errors import HackbotError

log = logging.getLogger(__name__)

Mode = Literal["write", "read", "migrate"]

#: How long a writer waits for the lock before giving up, in milliseconds.
LOCK_TIMEOUT_MS = 30_000

#: How long a read on the loop's thread (SQLite, see the module doc) may wait for a lock.
INLINE_BUSY_TIMEOUT_MS = 500

#: How long a transaction waits for a pooled connection before the user is told the bot is
#: busy (:class:`Busy`), in seconds: well under Discord's 3-second deadline for a first
#: answer, so the answer is "try again" rather than "the application did not respond".
POOL_TIMEOUT_S = 1.0

#: Pooled connections (kept open) and extra ones opened under load, per backend. On
#: PostgreSQL each is a server connection (its default max_connections is 100); on a
#: SQLite file each is a thread of aiosqlite.
POOL_SIZE = {"sqlite": 10, "postgresql": 20}
MAX_OVERFLOW = {"sqlite": 10, "postgresql": 10}

#: Key of the PostgreSQL advisory lock that serialises write transactions
#: (the bytes of "hackbot!" as a signed 64-bit integer).
PG_WRITE_LOCK_KEY = int.from_bytes(b"hackbot!", "big", signed=True)

_MODE_OPTION = "hackbot_mode"

# The task currently inside a write transaction (per task: asyncio copies
# context into child tasks, which may legitimately wait for the parent).
_writer_task: contextvars.ContextVar[asyncio.Task[Any] | None] = contextvars.ContextVar(
    "hackbot_writer_task", default=None
)


class Busy(HackbotError):
    """No database connection came free within :data:`POOL_TIMEOUT_S`: the bot is overloaded."""

    key = "performance.busy"


_T = TypeVar("_T")


class Database:
    """An async engine plus session factories for write and read transactions."""

    def __init__(
        self,
        url: str | URL,
        *,
        echo: bool = False,
        pool_size: int | None = None,
        max_overflow: int | None = None,
    ) -> None:
        self.url: URL = make_url(url)
        backend = self.url.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database backend {backend!r} (sqlite or postgresql)")
        self.dialect: Literal["sqlite", "postgresql"] = backend  # type: ignore[assignment]

        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            _ensure_sqlite_parent(self.url)
        if self.dialect == "postgresql" or not _is_sqlite_memory(self.url):
            # (An in-memory SQLite database has one shared connection and no pool to size.)
            kwargs["pool_size"] = POOL_SIZE[self.dialect] if pool_size is None else pool_size
            kwargs["max_overflow"] = (
                MAX_OVERFLOW[self.dialect] if max_overflow is None else max_overflow
            )
            kwargs["pool_timeout"] = POOL_TIMEOUT_S
        if self.dialect == "postgresql":
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"server_settings": {"lock_timeout": str(LOCK_TIMEOUT_MS)}}

        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"async_creator_fn": threaded_connect}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        _install_listeners(self.engine, self.dialect)
        # Reads on a SQLite file: their own engine, run on the loop's thread (module doc).
        self._inline_engine: AsyncEngine | None = None
        if self.dialect == "sqlite" and not _is_sqlite_memory(self.url):
            self._inline_engine = create_async_engine(
                self.url, **{**kwargs, "connect_args": {"async_creator_fn": inline_connect}}
            )
            _install_listeners(self._inline_engine, self.dialect)

        write_engine = self.engine.execution_options(**{_MODE_OPTION: "write"})
        read_options: dict[str, Any] = {_MODE_OPTION: "read"}
        if self.dialect == "postgresql":
            read_options["postgresql_readonly"] = True
            read_options["isolation_level"] = "REPEATABLE READ"
        read_engine = (self._inline_engine or self.engine).execution_options(**read_options)

        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(read_engine, expire_on_commit=False)

        # An in-memory SQLite database lives on one shared connection, which
        # cannot hold two transactions at once: take turns.
        self._memory_lock: asyncio.Lock | None = None
        self._memory_owner: asyncio.Task[Any] | None = None
        self._write_lock: asyncio.Lock | None = asyncio.Lock()
        self._commit_hooks: list[Callable[[dict[str, Any]], None]] = []
        if self.dialect == "sqlite" and _is_sqlite_memory(self.url):
            self._memory_lock = asyncio.Lock()
            self._write_lock = None  # the memory lock already gives one turn at a time

    def on_commit(self, hook: Callable[[dict[str, Any]], None]) -> None:
        """Call ``hook(session.info)`` after every write transaction that committed with
        something in its ``info`` (the outbox learns of new writes this way, without
        polling and without each caller having to remember it)."""
        self._commit_hooks.append(hook)

    def _committed(self, info: dict[str, Any]) -> None:
        for hook in self._commit_hooks:
            try:
                hook(info)
            except Exception:
                log.exception("a commit hook failed")

    @classmethod
    def for_settings(cls, settings: Any, *, echo: bool = False) -> Database:
        """Build from a :class:`bot.config.Settings` (uses ``settings.database.url``)."""
        return cls(settings.database.url, echo=echo)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on normal exit, rolled back on error."""
        task = asyncio.current_task()
        if task is not None and _writer_task.get() is task:
            raise RuntimeError(
                "db.begin() inside db.begin() in the same task would deadlock: "
                "pass the session down instead"
            )
        token = _writer_task.set(task)
        try:
            async with (
                self._writer_turn(),
                self._turn(),
                self._write_sessions() as session,
            ):
                async with session.begin():
                    yield session
                if session.info:
                    self._committed(session.info)
        except PoolTimeout as exc:
            log.warning("no database connection within %.1f s: answering busy", POOL_TIMEOUT_S)
            raise Busy() from exc
        finally:
            _writer_task.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction (a consistent snapshot on SQLite WAL).

        Writes inside it fail. Closing the session ends the transaction
        without expiring what was loaded, so the objects stay usable after.
        """
        try:
            async with self._turn():
                if self._inline_engine is None:
                    async with self._read_sessions() as session:
                        yield session
                    return
                session = self._read_sessions()
                try:
                    yield session
                finally:
                    # Closed directly: ``async with session`` closes in a shielded task,
                    # one more turn of the loop; an inline close never suspends, so no
                    # cancellation can cut it short.
                    await session.close()
        except PoolTimeout as exc:
            log.warning("no database connection within %.1f s: answering busy", POOL_TIMEOUT_S)
            raise Busy() from exc

    async def read_apart(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """Run ``work(session)``, a long read, in a worker thread on an event loop and an
        engine of its own, and return its result (plain data: ORM objects stay there).

        An export of a 28,000-person event is seconds of Python; on the bot's loop every
        interaction in those seconds would miss Discord's 3-second deadline. In a thread the
        interpreter hands the bot's loop its turn every few milliseconds (its switch
        interval), so the bot goes on answering, a little slower. An in-memory SQLite
        database exists on this engine only: there the work runs here, as ``read()``.
        """
        if self.dialect == "sqlite" and _is_sqlite_memory(self.url):
            async with self.read() as session:
                return await work(session)
        return await asyncio.to_thread(self._run_apart, work, write=False)

    async def write_apart(self, work: Callable[[AsyncSession], Awaitable[_T]]) -> _T:
        """Run ``work(session)``, a long write transaction, like :meth:`read_apart`: in a
        worker thread on an event loop and an engine of its own, committed there (rolled back
        if it raises). Returns its result (plain data).

        The bot's other writers wait for it as they wait for any writer (it holds this
        process's write turn until it ends, even if the caller is cancelled), but its reads
        and answers go on meanwhile: autoform's confirmed write for 28,000 people is seconds
        of Python that would otherwise hold every interaction. In-memory SQLite: here, as
        ``begin()``."""
        if self.dialect == "sqlite" and _is_sqlite_memory(self.url):
            async with self.begin() as session:
                return await work(session)
        committed: list[dict[str, Any]] = []
        async with self._writer_turn():
            done = asyncio.ensure_future(
                asyncio.to_thread(self._run_apart, work, write=True, committed=committed)
            )
            try:
                return await asyncio.shield(done)
            except asyncio.CancelledError:
                # The thread cannot be stopped: keep the turn until its commit or rollback.
                await asyncio.wait([done])
                raise
            finally:
                # What the transaction added for the commit hooks (the outbox's new writes)
                # reaches them here, on the bot's loop.
                for info in committed:
                    self._committed(info)

    def _run_apart(
        self,
        work: Callable[[AsyncSession], Awaitable[_T]],
        *,
        write: bool,
        committed: list[dict[str, Any]] | None = None,
    ) -> _T:
        """In a worker thread: ``work`` in a read or write transaction of a one-connection
        engine on a new event loop, disposed of after. ``committed`` collects the session
        info a commit hook would have seen."""
        url = self.url

        async def apart() -> _T:
            db = Database(url, pool_size=1, max_overflow=0)
            if committed is not None:
                db.on_commit(lambda info: committed.append(dict(info)))
            try:
                async with db.begin() if write else db.read() as session:
                    return await work(session)
            finally:
                await db.dispose()

        return asyncio.run(apart())

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """Writers of this process queue here, first come first served, before they take a
        connection. The database would serialise them anyway (SQLite's write lock, the
        PostgreSQL advisory lock); queueing in the process first keeps waiting writers from
        holding pooled connections, and avoids SQLite's busy-wait, whose growing sleeps
        let late writers overtake early ones (seconds of waiting under steady writes)."""
        if self._write_lock is None:
            yield
            return
        try:
            async with asyncio.timeout(LOCK_TIMEOUT_MS / 1000):
                await self._write_lock.acquire()
        except TimeoutError as exc:
            log.warning("no write turn within %d s: answering busy", LOCK_TIMEOUT_MS // 1000)
            raise Busy() from exc
        try:
            yield
        finally:
            self._write_lock.release()

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._memory_lock is None:
            yield
            return
        task = asyncio.current_task()
        if task is not None and self._memory_owner is task:
            raise RuntimeError(
                "nested transactions on an in-memory SQLite database would deadlock: "
                "use a database file, or pass the session down"
            )
        async with self._memory_lock:
            self._memory_owner = task
            try:
                yield
            finally:
                self._memory_owner = None

    async def dispose(self) -> None:
        if self._inline_engine is not None:
            await self._inline_engine.dispose()
        await self.engine.dispose()


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, on the
    caller's thread, and settles its future before the caller awaits it (so the await does
    not suspend)."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Any]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            # Handed to the awaiting caller; with no caller (a close from ``__del__``) there
            # is no one left to tell.
            if future is not None and not future.done():
                future.set_exception(exc)
            return
        if future is not None and not future.done():
            future.set_result(result)


class SafeStopConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose ``stop`` does nothing once its worker has stopped.

    A task cancelled while it holds a connection makes SQLAlchemy terminate it: a graceful
    close in a shielded task and, when the cancellation reaches that too, a forced stop.
    aiosqlite's ``close`` then asks the already stopped worker to stop again and waits for
    an answer that never comes: the task, and the event loop's shutdown, hang for ever."""

    def stop(self) -> asyncio.Future[Any] | None:
        if not self._running:
            return None
        return super().stop()


def threaded_connect(
    database: str, *, iter_chunk_size: int = 64, **kwargs: Any
) -> SafeStopConnection:
    """``aiosqlite.connect`` for :class:`SafeStopConnection` (SQLAlchemy's ``async_creator_fn``)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = SafeStopConnection(connector, iter_chunk_size)
    connection._thread.daemon = True  # as SQLAlchemy makes aiosqlite's own connect
    return connection


class InlineConnection(SafeStopConnection):
    """An aiosqlite connection without its worker thread: every call runs on the event
    loop's thread (for SQLite reads, see the module doc). SQLAlchemy's aiosqlite dialect
    drives it unchanged, including the calls it queues itself."""

    def __init__(self, connector: Any, iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Any:
        return self._connect().__await__()  # no thread to start


def inline_connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> InlineConnection:
    """``aiosqlite.connect`` for :class:`InlineConnection` (SQLAlchemy's ``async_creator_fn``)."""

    # sqlite3's own lock wait (5 s by default) applies until the busy_timeout pragma is set.
    kwargs.setdefault("timeout", INLINE_BUSY_TIMEOUT_MS / 1000)

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    return InlineConnection(connector, iter_chunk_size)


def _is_sqlite_memory(url: URL) -> bool:
    database = url.database
    return not database or database == ":memory:" or url.query.get("mode") == "memory"


def _ensure_sqlite_parent(url: URL) -> None:
    database = url.database
    if _is_sqlite_memory(url) or not database or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _install_listeners(engine: AsyncEngine, dialect: str) -> None:
    sync_engine = engine.sync_engine
    if dialect == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_on_connect)
        event.listen(sync_engine, "begin", _sqlite_on_begin)
    else:
        event.listen(sync_engine, "begin", _postgresql_on_begin)


def _sqlite_on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # No implicit transactions from the driver: we issue BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        inline = isinstance(getattr(dbapi_connection, "_connection", None), InlineConnection)
        # A read in WAL mode waits only in rare moments (another process recovering the WAL
        # after a crash); on the loop's thread such a wait would freeze the bot, so it is
        # short, and past it the read fails instead.
        busy = INLINE_BUSY_TIMEOUT_MS if inline else LOCK_TIMEOUT_MS
        cursor.execute(f"PRAGMA busy_timeout={busy}")
    finally:
        cursor.close()
    record.info["hackbot_pragmas"] = {"foreign_keys": 1, "query_only": 0}


# Per mode: connection-level pragmas (they cannot change inside a
# transaction, so they are applied just before BEGIN), and the BEGIN itself.
_SQLITE_MODES: dict[str, tuple[dict[str, int], str]] = {
    "write": ({"foreign_keys": 1, "query_only": 0}, "BEGIN IMMEDIATE"),
    "read": ({"foreign_keys": 1, "query_only": 1}, "BEGIN"),
    # Alembic's batch mode rebuilds tables (copy, drop, rename): foreign keys
    # must be off meanwhile; migrations check them before committing.
    "migrate": ({"foreign_keys": 0, "query_only": 0}, "BEGIN IMMEDIATE"),
}


def _mode(conn: Connection) -> str:
    return conn.get_execution_options().get(_MODE_OPTION, "write")


def _sqlite_on_begin(conn: Connection) -> None:
    pragmas, begin = _SQLITE_MODES[_mode(conn)]
    state = conn.connection.info.setdefault("hackbot_pragmas", {})
    driver = conn.connection.driver_connection
    if isinstance(driver, InlineConnection):
        # Same thread, nothing to wait for: straight to sqlite3, without the statement
        # machinery (a third of a short read's cost went to its BEGIN).
        run = driver._conn.execute
    else:
        run = conn.exec_driver_sql
    for name, value in pragmas.items():
        if state.get(name) != value:
            run(f"PRAGMA {name}={value}")
            state[name] = value
    run(begin)


def _postgresql_on_begin(conn: Connection) -> None:
    if _mode(conn) != "read":
        # asyncpg starts the transaction at the first statement, so the lock
        # is taken inside it and released at COMMIT/ROLLBACK.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITE_LOCK_KEY})")
