"""Migrations: the schema they build is the models' schema, both ways, on both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot import migrations
from bot.db import Database
from bot.i18n import t
from bot.migrations import DatabaseBehind, DatabaseTooNew, ensure_schema
from bot.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _run(db: Database, fn):  # type: ignore[no-untyped-def]
    async with db.engine.connect() as connection:
        return await connection.run_sync(fn)


async def test_upgraded_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrations.upgrade_async(db)
        assert await _run(db, _diff) == []
        assert await _run(db, _tables) == {*Base.metadata.tables, "alembic_version"}
    finally:
        await db.dispose()


async def test_every_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    db = Database(database_url)
    script = ScriptDirectory.from_config(migrations.alembic_config())
    revisions = [rev.revision for rev in reversed(list(script.walk_revisions()))]
    try:
        for revision in revisions:
            await migrations.upgrade_async(db, revision)
            assert await migrations.current_async(db) == revision
            await migrations.downgrade_async(db, "-1")
            await migrations.upgrade_async(db, revision)
        assert await migrations.current_async(db) == migrations.head()

        await migrations.downgrade_async(db, "base")
        assert await migrations.current_async(db) is None
        assert await _run(db, _tables) == {"alembic_version"}

        await migrations.upgrade_async(db)
        assert await _run(db, _diff) == []
    finally:
        await db.dispose()


async def test_ensure_schema_upgrades_an_empty_database(database_url: str) -> None:
    assert await ensure_schema(database_url) == migrations.head()
    assert await migrations.current_async(database_url) == migrations.head()
    # Already current: nothing to do, same answer.
    assert await ensure_schema(database_url, auto_upgrade=False) == migrations.head()


async def test_ensure_schema_without_auto_upgrade_refuses_an_empty_database(
    database_url: str,
) -> None:
    with pytest.raises(DatabaseBehind) as info:
        await ensure_schema(database_url, auto_upgrade=False)
    assert info.value.db_revision is None
    assert info.value.code_revision == migrations.head()
    assert await migrations.current_async(database_url) is None
    assert migrations.head() in t(info.value.key, "fr", **info.value.params)


async def test_ensure_schema_refuses_a_database_from_a_newer_hackbot(db: Database) -> None:
    async with db.begin() as session:
        await session.execute(
            text("UPDATE alembic_version SET version_num = '0999_from_the_future'")
        )
    with pytest.raises(DatabaseTooNew) as info:
        await ensure_schema(db)
    error = info.value
    assert (error.db_revision, error.code_revision) == ("0999_from_the_future", migrations.head())
    assert error.key == "db.too_new"
    message = t(error.key, "en", **error.params)
    assert "0999_from_the_future" in message and migrations.head() in message
    # Left untouched.
    assert await migrations.current_async(db) == "0999_from_the_future"


def test_sync_api_from_plain_code(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3"
    assert migrations.current(url) is None
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()
    migrations.downgrade(url, "base")
    assert migrations.current(url) is None


async def test_sync_api_from_inside_a_running_event_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/loop.sqlite3"
    migrations.upgrade(url)
    assert migrations.current(url) == migrations.head()


def test_revisions_form_one_line_with_readable_ids() -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config())
    assert script.get_heads() == [migrations.head()]
    for revision in script.walk_revisions():
        # "0001_foundation": ordered, and the file is named after it.
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+", revision.revision), revision.revision
        assert Path(revision.path).stem == revision.revision
        assert revision.module.downgrade is not None


async def test_0009_lets_a_stored_timeline_keep_creating_teams(database_url: str) -> None:
    """An event upgraded mid-way: team creation stays open wherever team changes were."""
    db = Database(database_url)
    try:
        await migrations.upgrade_async(db, "0008_lookup_indexes")
        import sqlalchemy as sa
        from sqlalchemy.dialects import postgresql

        json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
        phases = sa.table(
            "phases",
            sa.column("key", sa.String),
            sa.column("name", sa.String),
            sa.column("position", sa.Integer),
            sa.column("starts_at", sa.DateTime(timezone=True)),
            sa.column("opens", json),
            sa.column("created_at", sa.DateTime(timezone=True)),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        )
        now = datetime.now(UTC)
        async with db.engine.begin() as connection:
            for position, opens in enumerate(
                (["registration"], ["help_queue", "team_changes"], ["judging"])
            ):
                await connection.execute(
                    phases.insert().values(
                        key=f"p{position}",
                        name=f"p{position}",
                        position=position,
                        starts_at=now,
                        opens=opens,
                        created_at=now,
                        updated_at=now,
                    )
                )
        await migrations.upgrade_async(db, "0009_new_teams")

        async def opens() -> list[list[str]]:
            async with db.read() as session:
                from sqlalchemy import select

                from bot.models import Phase

                rows = await session.scalars(select(Phase).order_by(Phase.position))
                return [sorted(phase.opens) for phase in rows]

        assert await opens() == [
            ["registration"],
            ["help_queue", "new_teams", "team_changes"],
            ["judging"],
        ]
        await migrations.downgrade_async(db, "0008_lookup_indexes")
        assert await opens() == [["registration"], ["help_queue", "team_changes"], ["judging"]]
    finally:
        await db.dispose()
