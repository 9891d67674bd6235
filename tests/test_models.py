"""bot.models: column types, defaults and constraints on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, StatementError

from bot.clock import utcnow
from bot.db import Database
from bot.models import KV, NAMING_CONVENTION, AuditEntry, Base, Member, Phase, Timer, TimerStatus

PARIS_SUMMER = timezone(timedelta(hours=2))


async def test_utc_datetime_round_trips_as_aware_utc(db: Database) -> None:
    local = datetime(2025, 6, 14, 12, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    async with db.begin() as session:
        session.add(Timer(kind="reminder", due_at=local))
    async with db.read() as session:
        timer = await session.scalar(select(Timer))
    assert timer is not None
    assert timer.due_at == local  # the same instant...
    assert timer.due_at.utcoffset() == timedelta(0)  # ...expressed in UTC
    assert timer.due_at.tzinfo is UTC
    assert (timer.due_at.hour, timer.due_at.minute) == (10, 30)


async def test_utc_datetime_is_stored_as_utc(sqlite_db: Database) -> None:
    # What another tool reading the SQLite file sees: the UTC wall time.
    async with sqlite_db.begin() as session:
        session.add(Timer(kind="k", due_at=datetime(2025, 6, 14, 12, 0, tzinfo=PARIS_SUMMER)))
    async with sqlite_db.read() as session:
        stored = (await session.execute(text("SELECT due_at FROM timers"))).scalar_one()
    assert stored.startswith("2025-06-14 10:00:00")


async def test_utc_datetime_compares_in_queries(db: Database) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    async with db.begin() as session:
        for hours in (1, 2, 3):
            session.add(Timer(kind="k", due_at=base + timedelta(hours=hours)))
    cutoff = (base + timedelta(hours=2)).astimezone(PARIS_SUMMER)
    async with db.read() as session:
        due = (await session.scalars(select(Timer.due_at).where(Timer.due_at <= cutoff))).all()
    assert sorted(due) == [base + timedelta(hours=1), base + timedelta(hours=2)]


async def test_utc_datetime_refuses_naive(db: Database) -> None:
    with pytest.raises(StatementError) as info:
        async with db.begin() as session:
            session.add(Timer(kind="k", due_at=datetime(2025, 6, 14, 12, 0)))
    assert isinstance(info.value.orig, ValueError)
    assert "naive" in str(info.value.orig)


async def test_big_discord_ids_round_trip(db: Database) -> None:
    ids = [2**53 + 1, 1_234_567_890_123_456_789, 2**63 - 1]
    async with db.begin() as session:
        for n, discord_id in enumerate(ids):
            session.add(Member(discord_id=discord_id, display_name=f"m{n}"))
            session.add(AuditEntry(actor_discord_id=discord_id, action="test"))
    async with db.read() as session:
        members = (await session.scalars(select(Member.discord_id).order_by(Member.id))).all()
        actors = (
            await session.scalars(select(AuditEntry.actor_discord_id).order_by(AuditEntry.id))
        ).all()
    assert members == ids
    assert actors == ids


async def test_member_discord_id_is_unique(db: Database) -> None:
    async with db.begin() as session:
        session.add(Member(discord_id=1, display_name="a"))
    with pytest.raises(IntegrityError):
        async with db.begin() as session:
            session.add(Member(discord_id=1, display_name="b"))


async def test_timer_dedupe_key_is_unique_but_optional(db: Database) -> None:
    due = datetime(2025, 1, 1, tzinfo=UTC)
    async with db.begin() as session:
        session.add(Timer(kind="reminder", due_at=due, dedupe_key="reminder:team:7:1h"))
        # Several timers without a key are fine.
        session.add(Timer(kind="reminder", due_at=due))
        session.add(Timer(kind="reminder", due_at=due))
    with pytest.raises(IntegrityError):
        async with db.begin() as session:
            session.add(Timer(kind="reminder", due_at=due, dedupe_key="reminder:team:7:1h"))
    async with db.read() as session:
        count = len((await session.scalars(select(Timer.id))).all())
    assert count == 3


async def test_timer_defaults_and_status_check(db: Database) -> None:
    async with db.begin() as session:
        timer = Timer(kind="k", due_at=datetime(2025, 1, 1, tzinfo=UTC))
        session.add(timer)
    assert timer.status == TimerStatus.PENDING == "pending"
    assert timer.attempts == 0
    assert timer.payload == {}
    assert timer.done_at is None
    with pytest.raises(IntegrityError):
        async with db.begin() as session:
            session.add(Timer(kind="k", due_at=datetime(2025, 1, 1, tzinfo=UTC), status="lost"))


async def test_timestamp_defaults_are_evaluated_at_insert(db: Database) -> None:
    before = utcnow()
    async with db.begin() as session:
        member = Member(discord_id=5, display_name="Ada")
        session.add(member)
    after = utcnow()
    assert before <= member.created_at <= after
    assert member.created_at.tzinfo is UTC
    created = member.created_at

    async with db.begin() as session:
        await session.execute(
            update(Member).where(Member.id == member.id).values(display_name="Ada L.")
        )
    async with db.read() as session:
        again = await session.get(Member, member.id)
    assert again is not None
    assert again.created_at == created
    assert again.updated_at >= after


async def test_json_columns_round_trip(db: Database) -> None:
    detail = {"team": "Les Écureuils", "members": [1, 2], "nested": {"ok": True, "n": None}}
    async with db.begin() as session:
        session.add(AuditEntry(action="team.create", subject="team:1", detail=detail))
        session.add(
            Phase(
                key="hacking",
                name="Hacking",
                position=2,
                starts_at=datetime(2025, 6, 14, 9, tzinfo=UTC),
                opens=["submit", "help"],
            )
        )
        for key, value in {"list": [1, "a"], "int": 3, "str": "é", "dict": {"a": 1}}.items():
            session.add(KV(key=key, value=value))
    async with db.read() as session:
        entry = await session.scalar(select(AuditEntry))
        phase = await session.scalar(select(Phase))
        kv = {row.key: row.value for row in (await session.scalars(select(KV))).all()}
    assert entry is not None and entry.detail == detail
    assert phase is not None and phase.opens == ["submit", "help"] and phase.ends_at is None
    assert kv == {"list": [1, "a"], "int": 3, "str": "é", "dict": {"a": 1}}


def test_every_constraint_and_index_follows_the_naming_convention() -> None:
    assert Base.metadata.naming_convention == NAMING_CONVENTION
    for table in Base.metadata.tables.values():
        assert table.primary_key.name == f"pk_{table.name}"
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
            assert constraint.name.split("_", 1)[0] in {"pk", "uq", "ck", "fk"}
        for index in table.indexes:
            assert index.name is not None
            assert index.name.startswith(f"ix_{table.name}_")
