"""The fan-out engine on a real database with a recording sender: once per destination,
resumable, retries, permanent refusals, dedupe, targets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.clock import Clock
from bot.config import settings_from_dict
from bot.errors import InvalidInput, NotFound
from bot.models import Broadcast, Challenge, Delivery
from bot.services import broadcasts as service

NOW = datetime(2026, 10, 9, 16, 0, tzinfo=UTC)


class Recorder:
    def __init__(self, fail: dict[int, list[bool]] | None = None, already: set[int] | None = None):
        self.sent: list[service.Outgoing] = []
        self.fail = fail or {}  # channel → list of "permanent?" for the next attempts
        self.already = already or set()

    async def send(self, message: service.Outgoing) -> int:
        plan = self.fail.get(message.channel_id)
        if plan:
            permanent = plan.pop(0)
            raise service.DeliveryError("refused", permanent=permanent)
        self.sent.append(message)
        return 1000 + len(self.sent)

    async def find_sent(self, message: service.Outgoing, since: datetime) -> int | None:
        return 999 if message.channel_id in self.already else None


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


async def test_every_destination_gets_it_once_with_its_own_mention(db):
    broadcast_id = await make(db, [1, 2, 3])
    sender = Recorder()
    progress: list[service.Report] = []

    async def on_progress(report):
        progress.append(report)

    report = await service.deliver(
        db, Clock(), broadcast_id, sender, service.Pacer(1000), on_progress=on_progress
    )
    assert (report.total, report.sent, report.failed) == (3, 3, 0)
    assert sorted(m.channel_id for m in sender.sent) == [1, 2, 3]
    first = next(m for m in sender.sent if m.channel_id == 1)
    assert first.content == "<@&55>" and first.mention == "role:55"
    assert progress[-1].finished
    again = await service.deliver(db, Clock(), broadcast_id, sender, service.Pacer(1000))
    assert again.sent == 3 and len(sender.sent) == 3  # done: nothing sent twice


async def test_a_resumed_fan_out_checks_uncertain_rows_instead_of_resending(db):
    broadcast_id = await make(db, [1, 2, 3, 4])
    async with db.begin() as session:
        rows = (await session.scalars(select(Delivery).order_by(Delivery.channel_id))).all()
        rows[0].status, rows[0].message_id = "sent", 77  # delivered before the crash
        rows[1].status = "sending"  # claimed, went out, not confirmed
        rows[2].status = "sending"  # claimed, never went out
        (await session.get(Broadcast, broadcast_id)).status = "running"
    sender = Recorder(already={2})
    report = await service.deliver(db, Clock(), broadcast_id, sender, service.Pacer(1000))
    assert report.sent == 4
    assert sorted(m.channel_id for m in sender.sent) == [3, 4]


async def test_transient_errors_are_retried_and_permanent_ones_reported(db, monkeypatch):
    monkeypatch.setattr(service, "RETRY_PAUSE_S", 0)
    broadcast_id = await make(db, [1, 2, 3])
    sender = Recorder(fail={2: [False, False], 3: [True]})
    report = await service.deliver(db, Clock(), broadcast_id, sender, service.Pacer(1000))
    assert (report.sent, report.failed) == (2, 1)
    async with db.read() as session:
        failed = await session.scalar(select(Delivery).where(Delivery.channel_id == 3))
        broadcast = await session.get(Broadcast, broadcast_id)
    assert failed.status == "failed" and failed.error == "refused"
    assert broadcast.status == "done"


async def test_stopping_leaves_the_rest_pending(db):
    broadcast_id = await make(db, [1, 2, 3])
    sender = Recorder()
    report = await service.deliver(
        db, Clock(), broadcast_id, sender, service.Pacer(1000), stopped=lambda: True
    )
    assert report.sent == 0 and sender.sent == []
    async with db.read() as session:
        assert (await session.get(Broadcast, broadcast_id)).status == "running"
        assert await service.unfinished(session) == [broadcast_id]


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


def test_pacer_spaces_sends():
    import asyncio
    import time

    async def run():
        pacer = service.Pacer(50)
        started = time.monotonic()
        for _ in range(11):
            await pacer.wait()
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.19  # 10 intervals of 20 ms


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
