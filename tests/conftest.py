"""Shared database fixtures.

* ``database_url``: a fresh, empty database. Always a SQLite file in
  ``tmp_path``; also PostgreSQL when ``HACKBOT_TEST_DATABASE_URL`` is set
  (e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), otherwise that
  parameter is skipped. On PostgreSQL each test gets its own database,
  created next to the configured one and dropped afterwards (if the role may
  not create databases, the configured database itself is emptied instead, so
  point it at a throwaway database).
* ``db``: a :class:`bot.db.Database` on ``database_url``, migrated to head,
  disposed after the test.
* ``sqlite_db``: the same, SQLite only (for tests that need no PostgreSQL run).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db import Database
from bot.migrations import ensure_schema

pytest_plugins = ["sandbox.driver.fixtures"]  # start_sandbox, sb: the real bot on the local Discord

PG_ENV = "HACKBOT_TEST_DATABASE_URL"


def sqlite_url(directory: Path) -> str:
    return f"sqlite+aiosqlite:///{directory / 'hackbot.sqlite3'}"


@asynccontextmanager
async def fresh_postgres_database(base_url: str) -> AsyncIterator[str]:
    """Yield the URL of an empty PostgreSQL database; clean up after."""
    base = make_url(base_url)
    name = f"hackbot_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        except DBAPIError:
            # No CREATEDB privilege: fall back to emptying the given database.
            await _drop_everything(admin)
            yield base.render_as_string(hide_password=False)
            await _drop_everything(admin)
            return
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def _drop_everything(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        metadata = MetaData()
        await conn.run_sync(metadata.reflect)
        await conn.run_sync(metadata.drop_all)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    async with fresh_postgres_database(base) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        await ensure_schema(database)
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(tmp_path))
    try:
        await ensure_schema(database)
        yield database
    finally:
        await database.dispose()
