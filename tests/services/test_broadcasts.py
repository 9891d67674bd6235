"""Broadcasts on a real database: each destination handed to the outbox once, with its own
mention; outcomes recorded; dedupe; targets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.config import settings_from_dict
from bot.errors import InvalidInput, NotFound
from bot.models import Broadcast, Challenge, Delivery
from bot.models.outbox import OutboxWrite, Priority
from bot.services import broadcasts as service
from bot.services import outbox

NOW = datetime(2026, 10, 9, 16, 0, tzinfo=UTC)


async def make(db, channels: list[int], **kwargs) -> int:
    async with db.begin() as session:
        broadcast = await service.create(
            session,
            kind=kwargs.pop("kind", "manual"),
            target="test",
            destinations=[service.Destination(c, "role:55" if c == 1 else None) for c in channels],
            now=NOW,
            lang="en",
            title="Title",
            body="Body",
            **kwargs,
        )
        return broadcast.id


async def outbox_writes(db, broadcast_id: int) -> list[OutboxWrite]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(OutboxWrite)
                    .where(OutboxWrite.batch == f"broadcast:{broadcast_id}")
                    .order_by(OutboxWrite.id)
                )
            ).all()
        )


async def carry_out(db, write: OutboxWrite, result=None, error=None) -> None:
    """What the outbox does once Discord answered: record the write, run its handler."""
    async with db.begin() as session:
        (claimed,) = await outbox.claim(session, NOW, [write.id])
        handler = outbox.DONE_MANY_HANDLERS[claimed.on_done]
        await handler(session, NOW, [(claimed, result, error)])


async def test_every_destination_is_handed_to_the_outbox_once_with_its_own_mention(db):
    broadcast_id = await make(db, [1, 2, 3])
    async with db.begin() as session:
        assert await service.queue(session, NOW, broadcast_id) == 3
    async with db.begin() as session:
        assert await service.queue(session, NOW, broadcast_id) == 0  # never twice
    writes = await outbox_writes(db, broadcast_id)
    assert [w.payload["channel_id"] for w in writes] == [1, 2, 3]
    assert {w.priority for w in writes} == {Priority.BULK}
    first = writes[0].payload
    assert first["content"] == "<@&55>"
    assert first["allowed_mentions"] == {"parse": [], "roles": ["55"]}
    assert first["embeds"] == [{"color": service.GOLD, "title": "Title", "description": "Body"}]
    assert writes[1].payload["allowed_mentions"] == {"parse": []}
    assert "content" not in writes[1].payload
    async with db.read() as session:
        report = await service.report(session, broadcast_id)
        assert (await session.get(Broadcast, broadcast_id)).status == "running"
        assert await service.unfinished(session) == [broadcast_id]
    assert (report.total, report.sent, report.failed, report.finished) == (3, 0, 0, False)


async def test_outcomes_are_recorded_and_the_broadcast_finishes(db):
    broadcast_id = await make(db, [1, 2, 3])
    async with db.begin() as session:
        await service.queue(session, NOW, broadcast_id)
    one, two, three = await outbox_writes(db, broadcast_id)
    await carry_out(db, one, {"message_id": 501})
    await carry_out(db, two, {"message_id": 502})
    async with db.begin() as session:
        assert not (await service.finish(session, NOW, broadcast_id)).finished
    await carry_out(db, three, error="403 50001: Missing Access")
    async with db.begin() as session:
        final = await service.finish(session, NOW, broadcast_id)
    assert (final.sent, final.failed, final.finished) == (2, 1, True)
    async with db.read() as session:
        rows = {d.channel_id: d for d in (await session.scalars(select(Delivery))).all()}
        broadcast = await session.get(Broadcast, broadcast_id)
    assert rows[1].message_id == 501 and rows[1].status == "sent"
    assert rows[3].status == "failed" and rows[3].error == "403 50001: Missing Access"
    assert broadcast.status == "done" and broadcast.finished_at == NOW


async def test_a_finished_or_cancelled_broadcast_is_not_handed_over(db):
    broadcast_id = await make(db, [1])
    async with db.begin() as session:
        (await session.get(Broadcast, broadcast_id)).status = "cancelled"
    async with db.begin() as session:
        assert await service.queue(session, NOW, broadcast_id) == 0
        with pytest.raises(NotFound):
            await service.queue(session, NOW, 999)


async def test_a_dedupe_key_makes_one_broadcast(db):
    first = await make(db, [1], kind="reminder", dedupe_key="reminder:1:60")
    second = await make(db, [1, 2], kind="reminder", dedupe_key="reminder:1:60")
    assert first == second
    async with db.read() as session:
        assert len((await session.scalars(select(Delivery))).all()) == 1


async def test_targets_resolve_and_explain_what_is_missing(db, tmp_path):
    settings = settings_from_dict({"event": {"name": "Hack", "guild_id": 1}}, tmp_path)
    async with db.begin() as session:
        session.add(Challenge(slug="a", name="A", name_folded="a", channel_id=500, role_id=9))
        session.add(Challenge(slug="b", name="B", name_folded="b"))
    async with db.read() as session:
        ids = {c.slug: c.id for c in (await session.scalars(select(Challenge))).all()}

        def ctx(arg=None, announcements=10, roles=None):
            return service.TargetContext(session, settings, NOW, arg, announcements, roles or {})

        assert await service.resolve("everyone", ctx()) == [service.Destination(10, "everyone")]
        assert await service.resolve("judges", ctx(roles={"judge": 3})) == [
            service.Destination(10, "role:3")
        ]
        assert await service.resolve("challenge", ctx(str(ids["a"]))) == [
            service.Destination(500, "role:9")
        ]
        with pytest.raises(InvalidInput) as no_role:
            await service.resolve("mentors", ctx())
        assert no_role.value.key == "broadcast.no_role"
        with pytest.raises(InvalidInput) as no_home:
            await service.resolve("challenge", ctx(str(ids["b"])))
        assert no_home.value.key == "broadcast.challenge_has_no_channel"
        with pytest.raises(NotFound):
            await service.resolve("challenge", ctx("12345"))
        with pytest.raises(InvalidInput):
            await service.resolve("everyone", ctx(announcements=None))
        assert [c.name for c in await service.challenge_choices(session, "")] == ["A"]


async def test_the_teams_target_reaches_every_active_team_space(db, tmp_path):
    from bot.models import Team

    settings = settings_from_dict({"event": {"name": "Hack", "guild_id": 1}}, tmp_path)

    def ctx(session):
        return service.TargetContext(session, settings, NOW, None, 10, {})

    async with db.read() as session:
        with pytest.raises(InvalidInput) as nothing:
            await service.resolve("teams", ctx(session))
        assert nothing.value.key == "broadcast.no_team_spaces"
    async with db.begin() as session:
        for i, (channel, archived) in enumerate(
            [(701, None), (702, NOW), (None, None), (704, None)]
        ):
            session.add(
                Team(
                    name=f"T{i}",
                    name_folded=f"t{i}",
                    slug=f"t{i}",
                    channel_id=channel,
                    archived_at=archived,
                )
            )
    async with db.read() as session:
        assert await service.resolve("teams", ctx(session)) == [
            service.Destination(701),
            service.Destination(704),
        ]
