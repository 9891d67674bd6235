"""Alembic environment: async engines, batch mode on SQLite, one transaction per run.

Used two ways:

* by :mod:`bot.migrations`, which passes an open connection in
  ``config.attributes["connection"]`` (from inside the bot's event loop via
  ``AsyncConnection.run_sync``);
* by a developer running ``alembic`` with the repository's ``alembic.ini``;
  the URL then comes from ``config.attributes["url"]``, the
  ``sqlalchemy.url`` option, or the environment variable
  ``HACKBOT_DATABASE_URL``, in that order.

On SQLite the whole upgrade runs in one ``BEGIN IMMEDIATE`` transaction
(SQLite's DDL is transactional once the driver stops managing transactions,
which :class:`bot.db.Database` does), with foreign keys off so batch-mode
table rebuilds can drop and recreate tables; foreign keys are checked before
the commit.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from bot.db import Database
from bot.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:  # the developer's alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("HACKBOT_DATABASE_URL")
    )
    if not url:
        raise RuntimeError(
            "no database URL: set HACKBOT_DATABASE_URL (or sqlalchemy.url in alembic.ini)"
        )
    return str(url)


def _configure(connection: Connection | None = None, **kwargs: object) -> None:
    sqlite = (
        connection.dialect.name == "sqlite"
        if connection is not None
        else _url().startswith("sqlite")
    )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        transactional_ddl=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # Read by bot.db's "begin" listener: foreign keys off (SQLite), writer lock.
    connection.execution_options(hackbot_mode="migrate")
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign key violations after migrating: {problems[:10]}")


async def run_async_migrations() -> None:
    db = Database(_url())
    try:
        async with db.engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await db.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
