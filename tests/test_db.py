"""bot.db: connection setup, transactions, and no lost updates under concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.db import INLINE_BUSY_TIMEOUT_MS, LOCK_TIMEOUT_MS, Database
from bot.migrations import ensure_schema
from bot.models import KV


async def _scalar(session: AsyncSession, sql: str) -> object:
    return (await session.execute(text(sql))).scalar_one()


async def test_sqlite_pragmas_on_every_connection(sqlite_db: Database) -> None:
    # Two sessions open at once use two pooled connections: both are set up.
    async with sqlite_db.begin() as one, sqlite_db.read() as two:
        for session in (one, two):
            assert await _scalar(session, "PRAGMA journal_mode") == "wal"
            assert await _scalar(session, "PRAGMA synchronous") == 1  # NORMAL
            assert await _scalar(session, "PRAGMA foreign_keys") == 1
        # A write may wait for another process's lock; a read, on the loop's thread, briefly.
        assert await _scalar(one, "PRAGMA busy_timeout") == LOCK_TIMEOUT_MS
        assert await _scalar(two, "PRAGMA busy_timeout") == INLINE_BUSY_TIMEOUT_MS


async def test_sqlite_enforces_foreign_keys(sqlite_db: Database) -> None:
    async with sqlite_db.begin() as session:
        await session.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await session.execute(
            text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id REFERENCES parent (id))")
        )
    with pytest.raises(IntegrityError):
        async with sqlite_db.begin() as session:
            await session.execute(text("INSERT INTO child (parent_id) VALUES (42)"))


async def test_creates_the_sqlite_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite3"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.begin() as session:
            await session.execute(text("CREATE TABLE t (x INTEGER)"))
        assert path.is_file()
    finally:
        await db.dispose()


def test_dialect_and_constructors(tmp_path: Path) -> None:
    assert Database(f"sqlite+aiosqlite:///{tmp_path}/a.db").dialect == "sqlite"
    # Building the engine does not connect, so no server is needed here.
    assert Database("postgresql+asyncpg://u:secret@example.invalid/x").dialect == "postgresql"
    assert "secret" not in repr(Database("postgresql+asyncpg://u:secret@example.invalid/x"))
    settings = SimpleNamespace(database=SimpleNamespace(url=f"sqlite+aiosqlite:///{tmp_path}/b.db"))
    assert Database.for_settings(settings).url.database == f"{tmp_path}/b.db"
    with pytest.raises(ValueError, match="unsupported"):
        Database("mysql+aiomysql://u@localhost/x")


async def test_begin_commits_on_exit_and_rolls_back_on_error(db: Database) -> None:
    async with db.begin() as session:
        session.add(KV(key="kept", value=1))
    with pytest.raises(RuntimeError, match="boom"):
        async with db.begin() as session:
            session.add(KV(key="dropped", value=2))
            await session.flush()
            raise RuntimeError("boom")
    async with db.read() as session:
        keys = (await session.scalars(select(KV.key))).all()
    assert keys == ["kept"]


async def test_objects_stay_usable_after_commit(db: Database) -> None:
    async with db.begin() as session:
        row = KV(key="k", value={"a": [1, 2]})
        session.add(row)
    # expire_on_commit=False: no lazy load (which would fail outside the session).
    assert row.value == {"a": [1, 2]}
    assert row.updated_at.tzinfo is not None


async def test_read_transaction_sees_one_snapshot(db: Database) -> None:
    async with db.begin() as session:
        session.add(KV(key="k", value=1))
    async with db.read() as session:
        first = (await session.execute(select(KV.value))).scalar_one()
        # A write committed by someone else meanwhile is not seen by this read.
        async with db.begin() as other:
            (await other.get(KV, "k")).value = 2  # type: ignore[union-attr]
        second = (await session.execute(select(KV.value))).scalar_one()
    assert (first, second) == (1, 1)
    async with db.read() as session:
        assert (await session.execute(select(KV.value))).scalar_one() == 2


async def test_read_transaction_refuses_writes(db: Database) -> None:
    with pytest.raises(DBAPIError):
        async with db.read() as session:
            session.add(KV(key="nope", value=0))
            await session.flush()
    async with db.read() as session:
        assert await session.get(KV, "nope") is None


async def test_connection_reused_after_read_can_write(tmp_path: Path) -> None:
    # One pooled connection: the read-only setting of a read must not leak
    # into the next write on the same connection (nor foreign keys stay off
    # after migrating).
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/one.db", pool_size=1, max_overflow=0)
    try:
        await ensure_schema(db)
        async with db.read() as session:
            assert await _scalar(session, "PRAGMA query_only") == 1
        async with db.begin() as session:
            assert await _scalar(session, "PRAGMA query_only") == 0
            assert await _scalar(session, "PRAGMA foreign_keys") == 1
            session.add(KV(key="k", value="v"))
        async with db.read() as session:
            assert (await session.get(KV, "k")).value == "v"  # type: ignore[union-attr]
    finally:
        await db.dispose()


async def test_sqlite_reads_run_on_the_loop_thread_without_suspending(
    sqlite_db: Database,
) -> None:
    # A read must not wait for its turn in the loop between statements (each trip to a
    # worker thread did, and under load that turned microseconds into hundreds of ms).
    async with sqlite_db.begin() as session:
        session.add(KV(key="k", value=1))
    ran: list[str] = []
    asyncio.get_running_loop().call_soon(ran.append, "other callback")
    async with sqlite_db.read() as session:
        value = (await session.execute(select(KV.value))).scalar_one()
        assert await _scalar(session, "PRAGMA query_only") == 1
    assert value == 1 and ran == []  # the whole read ran before any other callback
    # Writes still go through aiosqlite's thread (a lock wait must not freeze the loop).
    async with sqlite_db.begin() as session:
        (await session.get(KV, "k")).value = 2  # type: ignore[union-attr]
    assert ran == ["other callback"]


async def test_inline_connection_reports_errors_to_the_caller(sqlite_db: Database) -> None:
    with pytest.raises(DBAPIError):
        async with sqlite_db.read() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    async with sqlite_db.read() as session:  # the connection is usable again
        assert await _scalar(session, "SELECT 1") == 1


async def test_nested_write_transaction_in_same_task_raises(db: Database) -> None:
    async with db.begin():
        with pytest.raises(RuntimeError, match="deadlock"):
            async with db.begin():
                pass
    # ...but the flag is per task and is cleared afterwards.
    async with db.begin() as session:
        session.add(KV(key="after", value=True))


async def _increment(db: Database, key: str) -> None:
    # The read-modify-write sequence a service would naturally write.
    async with db.begin() as session:
        row = await session.get(KV, key)
        assert row is not None
        await asyncio.sleep(0)  # let the other tasks run between read and write
        row.value = row.value + 1


async def test_concurrent_read_modify_write_loses_no_update(db: Database) -> None:
    """50 concurrent select-then-update(+1) transactions on one row end at exactly 50.

    With SQLAlchemy's default SQLite setup the same code ends far below 50:
    the driver opens the transaction only at the UPDATE, so every task reads
    the same old value (see test_default_sqlite_transactions_lose_updates).
    """
    async with db.begin() as session:
        session.add(KV(key="counter", value=0))
    await asyncio.gather(*(_increment(db, "counter") for _ in range(50)))
    async with db.read() as session:
        row = await session.get(KV, "counter")
    assert row is not None
    assert row.value == 50


async def test_default_sqlite_transactions_lose_updates(sqlite_db: Database) -> None:
    """Control: the same read-modify-write on a default engine loses an update.

    The interleaving is fixed by hand, so this is deterministic: both
    sessions read 0, both write 1. Through ``Database.begin()`` the second
    read cannot happen before the first transaction commits.
    """
    async with sqlite_db.begin() as session:
        session.add(KV(key="counter", value=0))
    plain = create_async_engine(sqlite_db.url)
    try:
        async with AsyncSession(plain) as a, AsyncSession(plain) as b:
            row_a = await a.get(KV, "counter")
            row_b = await b.get(KV, "counter")
            assert row_a is not None and row_b is not None
            row_a.value += 1
            await a.commit()
            row_b.value += 1
            await b.commit()  # no error: the driver had no transaction open for the read
    finally:
        await plain.dispose()
    async with sqlite_db.read() as session:
        row = await session.get(KV, "counter")
    assert row is not None
    assert row.value == 1  # two increments, one lost


async def test_objects_loaded_in_a_read_stay_usable(db: Database) -> None:
    async with db.begin() as session:
        session.add(KV(key="k", value=[1, "two"]))
    async with db.read() as session:
        row = await session.get(KV, "k")
    assert row is not None
    assert row.value == [1, "two"]


async def test_a_long_read_runs_apart_and_the_loop_keeps_going(db: Database) -> None:
    async with db.begin() as session:
        session.add_all([KV(key=f"k{i}", value=i) for i in range(50)])
    loop_thread = threading.get_ident()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def long_read(session: AsyncSession) -> tuple[int, list[int], int]:
        values = (await session.scalars(select(KV.value).order_by(KV.key))).all()
        ticks_before = ticks
        busy_until = time.perf_counter() + 0.3
        while time.perf_counter() < busy_until:  # pure Python, as an export's rows are
            pass
        return threading.get_ident(), sorted(values), ticks - ticks_before

    ticking = asyncio.create_task(ticker())
    try:
        thread, values, ticked = await db.read_apart(long_read)
    finally:
        ticking.cancel()
    assert thread != loop_thread
    assert values == list(range(50))
    assert ticked >= 5  # the bot's loop went on while the read worked
    # What fails there is raised here.
    with pytest.raises(ZeroDivisionError):
        await db.read_apart(lambda session: _divide_by_zero())


async def _divide_by_zero() -> None:
    1 / 0  # noqa: B018


async def test_a_long_write_runs_apart_commits_there_and_other_writers_wait(
    db: Database,
) -> None:
    loop_thread = threading.get_ident()
    ticks = 0
    order: list[str] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async def long_write(session: AsyncSession) -> tuple[int, int]:
        session.add_all([KV(key=f"w{i}", value=i) for i in range(50)])
        await session.flush()
        ticks_before = ticks
        busy_until = time.perf_counter() + 0.3
        while time.perf_counter() < busy_until:  # pure Python, as building 5,000 teams is
            pass
        order.append("apart")
        return threading.get_ident(), ticks - ticks_before

    async def other_writer() -> None:
        await asyncio.sleep(0.05)  # while the long write works
        async with db.begin() as session:
            order.append("other")
            session.add(KV(key="other", value=1))

    async def reader() -> int:
        await asyncio.sleep(0.05)
        async with db.read() as session:
            return len((await session.scalars(select(KV.key))).all())

    ticking = asyncio.create_task(ticker())
    try:
        (thread, ticked), _, seen = await asyncio.gather(
            db.write_apart(long_write), other_writer(), reader()
        )
    finally:
        ticking.cancel()
    assert thread != loop_thread
    assert ticked >= 5  # the bot's loop went on while the write worked
    assert seen == 0  # reads went on too, and did not see the write before its commit
    assert order == ["apart", "other"]  # the other writer waited for its turn
    async with db.read() as session:
        assert len((await session.scalars(select(KV.key))).all()) == 51

    # What fails there is raised here, and nothing of it is written.
    async def failing(session: AsyncSession) -> None:
        session.add(KV(key="half-done", value=1))
        await session.flush()
        await _divide_by_zero()

    with pytest.raises(ZeroDivisionError):
        await db.write_apart(failing)
    async with db.read() as session:
        assert await session.get(KV, "half-done") is None


async def test_an_in_memory_database_writes_on_its_own_engine_not_apart() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        await ensure_schema(db)

        async def add(session: AsyncSession) -> int:
            session.add(KV(key="only-here", value=1))
            return threading.get_ident()

        assert await db.write_apart(add) == threading.get_ident()
        async with db.read() as session:
            assert (await session.get(KV, "only-here")) is not None
    finally:
        await db.dispose()


async def test_an_in_memory_database_reads_on_its_own_engine_not_apart() -> None:
    db = Database("sqlite+aiosqlite://")
    try:
        await ensure_schema(db)
        async with db.begin() as session:
            session.add(KV(key="only-here", value=1))

        async def keys(session: AsyncSession) -> tuple[int, list[str]]:
            return threading.get_ident(), list((await session.scalars(select(KV.key))).all())

        assert await db.read_apart(keys) == (threading.get_ident(), ["only-here"])
    finally:
        await db.dispose()


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
async def test_in_memory_sqlite_takes_turns(url: str) -> None:
    db = Database(url)
    try:
        await ensure_schema(db)
        async with db.begin() as session:
            session.add(KV(key="counter", value=0))
        await asyncio.gather(*(_increment(db, "counter") for _ in range(20)))
        async with db.read() as session:
            assert (await session.get(KV, "counter")).value == 20  # type: ignore[union-attr]
            with pytest.raises(RuntimeError, match="in-memory"):
                async with db.begin():
                    pass
    finally:
        await db.dispose()


async def test_a_read_that_meets_a_lock_gives_up_instead_of_freezing_the_bot(
    sqlite_db: Database,
) -> None:
    import sqlite3
    import time

    assert sqlite_db.url.database
    await sqlite_db.dispose()  # (exclusive mode needs the file to itself at first)
    other = sqlite3.connect(sqlite_db.url.database, isolation_level=None)
    try:
        other.execute("PRAGMA locking_mode=EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("CREATE TABLE held (x)")  # another process holds the file exclusively
        began = time.monotonic()
        with pytest.raises(DBAPIError):
            async with sqlite_db.read() as session:
                await session.execute(select(KV.value))
        assert time.monotonic() - began < 5  # not the 30 s a writer may wait
    finally:
        other.close()
    async with sqlite_db.read() as session:  # the lock gone, reads work again
        assert await _scalar(session, "SELECT 1") == 1


def test_aiosqlite_still_queues_its_calls_as_the_inline_connection_expects() -> None:
    """``InlineConnection`` replaces aiosqlite's private queue to its worker thread
    (``Connection._tx``) with one that runs each call at once. It relies on the queue's
    name and on the shape of what goes into it (``(future, function)`` pairs, read back as
    such by the worker). An aiosqlite release that changes either fails here, instead of
    SQLite reads hanging (a renamed queue no thread reads) or failing at run time."""
    import inspect
    import queue
    import re
    import sqlite3

    import aiosqlite.core

    connection = aiosqlite.core.Connection(lambda: sqlite3.connect(":memory:"), 64)
    assert isinstance(connection._tx, queue.SimpleQueue)
    source = inspect.getsource(aiosqlite.core.Connection)
    puts = re.findall(r"\._tx\.(\w+)\((.*)\)", source)
    assert puts, "aiosqlite no longer feeds its worker through Connection._tx"
    for method, item in puts:
        assert method == "put_nowait", (method, item)
        assert re.fullmatch(r"\(future, [\w.]+\)", item), item
    worker = inspect.getsource(aiosqlite.core._connection_worker_thread)
    assert "future, function = tx.get()" in worker


async def test_an_inline_connection_runs_every_call_on_the_loops_thread(tmp_path: Path) -> None:
    """No worker thread: the connection, each call and the close run on the caller's thread,
    and each call's future is settled before it is awaited (the await does not suspend)."""
    from bot.db import inline_connect

    connection = inline_connect(str(tmp_path / "inline.db"))
    await asyncio.wait_for(connection, 5)
    seen: list[int] = []
    await asyncio.wait_for(connection._execute(lambda: seen.append(threading.get_ident())), 5)
    cursor = await asyncio.wait_for(connection.execute("SELECT 41 + 1"), 5)
    assert await cursor.fetchone() == (42,)
    assert seen == [threading.get_ident()]
    assert not connection._thread.is_alive()
    await asyncio.wait_for(connection.close(), 5)
