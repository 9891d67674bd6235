"""The outbox's rules on a real database: storing, coalescing, claiming, retrying, figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.models.outbox import OutboxWrite, Priority, WriteStatus
from bot.services import outbox as service

NOW = datetime(2026, 10, 9, 16, 0, tzinfo=UTC)
GUILD = 10


async def rows(db) -> dict[int, OutboxWrite]:
    async with db.read() as session:
        return {row.id: row for row in (await session.scalars(select(OutboxWrite))).all()}


async def test_a_write_is_stored_with_its_lane_and_the_worker_hears_of_it(db):
    heard: list[service.Queued] = []
    db.on_commit(lambda info: heard.extend(info.pop(service.INFO_KEY, [])))
    async with db.begin() as session:
        done = await service.enqueue(
            session, NOW, service.role_add(GUILD, 1, 7, reason="registered", batch="register")
        )
    assert done.queued is not None and not done.coalesced
    assert heard == [done.queued]
    stored = (await rows(db))[done.queued.id]
    assert (stored.kind, stored.lane, stored.status) == ("role.add", "roles:10", "pending")
    assert stored.payload == {"guild_id": GUILD, "user_id": 1, "role_id": 7, "reason": "registered"}
    assert stored.batch == "register"


async def test_nothing_is_heard_of_a_transaction_that_rolled_back(db):
    heard: list[service.Queued] = []
    db.on_commit(lambda info: heard.extend(info.pop(service.INFO_KEY, [])))
    try:
        async with db.begin() as session:
            await service.enqueue(session, NOW, service.role_add(GUILD, 1, 7))
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    assert heard == [] and await rows(db) == {}


async def test_a_role_granted_then_removed_before_it_was_sent_costs_nothing(db):
    async with db.begin() as session:
        granted = await service.enqueue(session, NOW, service.role_add(GUILD, 1, 7))
    async with db.begin() as session:
        removed = await service.enqueue(session, NOW, service.role_remove(GUILD, 1, 7))
    assert removed.queued is None and removed.coalesced
    assert granted.queued is not None and removed.cancelled == [granted.queued.id]
    stored = await rows(db)
    assert [row.status for row in stored.values()] == ["cancelled"]
    # Another member's role, or another role, is untouched.
    async with db.begin() as session:
        other = await service.enqueue_many(
            session, NOW, [service.role_add(GUILD, 2, 7), service.role_remove(GUILD, 1, 8)]
        )
    assert all(o.queued is not None for o in other)


async def test_a_role_removed_after_it_was_sent_is_a_new_write(db):
    async with db.begin() as session:
        granted = await service.enqueue(session, NOW, service.role_add(GUILD, 1, 7))
        assert granted.queued is not None
        await service.claim(session, NOW, [granted.queued.id])
    async with db.begin() as session:
        removed = await service.enqueue(session, NOW, service.role_remove(GUILD, 1, 7))
    assert removed.queued is not None and not removed.coalesced


async def test_an_edit_superseded_by_a_newer_one_is_sent_once_as_last_written(db):
    async with db.begin() as session:
        first = await service.enqueue(
            session, NOW, service.message_edit(5, 50, content="3 waiting", priority=Priority.BULK)
        )
        await service.enqueue(session, NOW, service.message_send(5, content="unrelated"))
    async with db.begin() as session:
        second = await service.enqueue(
            session, NOW, service.message_edit(5, 50, content="2 waiting", priority=Priority.URGENT)
        )
    assert first.queued is not None and second.coalesced
    assert second.queued is not None and second.queued.id == first.queued.id
    stored = await rows(db)
    edits = [row for row in stored.values() if row.kind == "message.edit"]
    assert len(edits) == 1
    assert edits[0].payload["content"] == "2 waiting"
    assert edits[0].priority == Priority.URGENT  # as urgent as the most urgent of the two


async def test_writes_in_one_call_coalesce_with_each_other(db):
    async with db.begin() as session:
        done = await service.enqueue_many(
            session,
            NOW,
            [
                service.thread_add(9, 1),
                service.thread_remove(9, 1),
                service.overwrite_set(4, 1, allow=1024),
                service.overwrite_delete(4, 1),
            ],
        )
    assert [d.queued is None for d in done] == [False, True, False, False]
    stored = await rows(db)
    assert sorted((r.kind, r.status) for r in stored.values()) == [
        ("overwrite.delete", "pending"),
        ("thread.add", "cancelled"),
    ]


async def test_claim_marks_sending_and_skips_what_was_cancelled_or_paused(db):
    async with db.begin() as session:
        a, b, c = await service.enqueue_many(
            session,
            NOW,
            [
                service.role_add(GUILD, 1, 7),
                service.role_add(GUILD, 2, 7),
                service.role_add(GUILD, 3, 7),
            ],
        )
        await service.enqueue(session, NOW, service.role_remove(GUILD, 2, 7))  # cancels b
    assert a.queued and b.queued and c.queued
    async with db.begin() as session:
        when = await service.retry_later(session, NOW, c.queued.id, 1, "503 0: unavailable")
    assert when == NOW + timedelta(seconds=service.RETRY_PAUSES_S[0])
    async with db.begin() as session:
        claimed = await service.claim(session, NOW, [a.queued.id, b.queued.id, c.queued.id])
    assert [w.id for w in claimed] == [a.queued.id]
    assert claimed[0].attempts == 1 and not claimed[0].resumed
    # After its pause, the paused one goes; a claim of something already sending says so.
    async with db.begin() as session:
        later = await service.claim(session, when, [a.queued.id, c.queued.id])
    assert [(w.id, w.resumed) for w in later] == [(a.queued.id, True), (c.queued.id, False)]


async def test_a_write_refused_again_and_again_is_failed_after_the_last_pause(db):
    async with db.begin() as session:
        done = await service.enqueue(session, NOW, service.role_add(GUILD, 1, 7))
    assert done.queued is not None
    write_id = done.queued.id
    for attempt in range(1, len(service.RETRY_PAUSES_S) + 1):
        async with db.begin() as session:
            assert await service.retry_later(session, NOW, write_id, attempt, "502") is not None
    async with db.begin() as session:
        assert await service.retry_later(session, NOW, write_id, attempt + 1, "502 again") is None
    row = (await rows(db))[write_id]
    assert (row.status, row.error) == ("failed", "502 again")
    async with db.read() as session:
        assert await service.failed_since(session, NOW - timedelta(hours=1)) == {"role.add": 1}


async def test_unfinished_writes_load_in_order_and_progress_counts_a_batch(db):
    async with db.begin() as session:
        done = await service.enqueue_many(
            session,
            NOW,
            [
                service.message_send(
                    c, content="Deadline in 1 h", priority=Priority.BULK, batch="b:1"
                )
                for c in (1, 2, 3, 4)
            ],
        )
    ids = [d.queued.id for d in done if d.queued]
    async with db.begin() as session:
        await service.claim(session, NOW, ids[:2])
        await service.complete(session, NOW, ids[0], {"message_id": 99})
        await service.fail(session, NOW, ids[3], "403 50001: Missing Access")
    async with db.read() as session:
        unfinished = await service.load_unfinished(session)
        progress = await service.batch_progress(session, "b:1")
    assert [q.id for q in unfinished] == ids[1:3]
    assert (progress.done, progress.failed, progress.waiting, progress.total) == (1, 1, 2, 4)
    # Nonces differ per message: a repeated send of one never swallows another.
    nonces = {row.payload["nonce"] for row in (await rows(db)).values()}
    assert len(nonces) == 4


async def test_finished_writes_are_purged_but_failed_ones_kept(db):
    async with db.begin() as session:
        done = await service.enqueue_many(
            session, NOW, [service.role_add(GUILD, u, 7) for u in (1, 2, 3)]
        )
        ids = [d.queued.id for d in done if d.queued]
        await service.complete_many(session, NOW, ids[:2])
        await service.fail(session, NOW, ids[2], "404 10007: Unknown Member")
    async with db.begin() as session:
        assert await service.purge_done(session, NOW + timedelta(seconds=1)) == 2
    assert [row.status for row in (await rows(db)).values()] == [WriteStatus.FAILED.value]
