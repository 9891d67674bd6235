"""The outbox worker against the sandbox: priority with a fair share for bulk work, the pace
learned from Discord's headers, coalescing, a graceful restart and ``kill -9`` in the middle
of a backlog (nothing lost, nothing doubled)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.clock import utcnow
from bot.i18n import t
from bot.models.outbox import OutboxWrite, Priority, WriteStatus
from bot.outbox import FAIR_SHARE, Lane, RateLearner, eta_text
from bot.services import outbox as service
from sandbox.driver.process import BotExited
from tests.reliability.support import bot_database

ROLE_PUT = "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}"
MESSAGES = "POST /channels/{channel_id}/messages"


def record(sb, route: str, key: str) -> list[str]:
    """The values of ``key`` in the path of each ``route`` request Discord carried out."""
    seen: list[str] = []

    def hook(route_key, call, _result) -> None:
        if route_key == route:
            seen.append(call.params[key])

    sb.server.after_handled.append(hook)
    return seen


async def enqueue(bot, writes: list[service.Write]) -> list[service.Enqueued]:
    async with bot.db.begin() as session:
        return await service.enqueue_many(session, bot.clock.now(), writes)


async def until(check, max_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    while not check():
        assert loop.time() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


def slow_roles(limit: int, per: float) -> dict:
    return {"bucket_overrides": {ROLE_PUT: (limit, per)}}


# -- pure parts ------------------------------------------------------------------------


def test_a_lane_serves_the_urgent_first_and_bulk_its_fair_share():
    lane = Lane("roles:1")
    lane.queues[Priority.BULK].extend([101, 102])
    lane.queues[Priority.URGENT].extend(range(1, 11))
    order = [lane.pop() for _ in range(12)]
    assert order[:FAIR_SHARE] == [1, 2, 3, 4]
    assert order[FAIR_SHARE] == 101  # bulk goes once after FAIR_SHARE urgent writes
    assert order.index(102) == 2 * FAIR_SHARE + 1
    assert sorted(order) == [*range(1, 11), 101, 102]


def test_the_pace_is_learned_from_the_headers_and_a_spent_bucket_blocks_its_lane():
    learner = RateLearner()
    assert learner.pace("roles:1") == pytest.approx(1.0)  # the commonly observed 10 per 10 s
    learner.observe(
        "roles:1",
        204,
        {"X-RateLimit-Limit": "4", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset-After": "2.0"},
    )
    assert learner.pace("roles:1") == pytest.approx(2.0)
    learner.observe(
        "roles:1",
        204,
        {"X-RateLimit-Limit": "4", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "1.5"},
    )
    assert learner.blocked_until["roles:1"] > time.monotonic() + 1.0
    assert learner.pace("roles:1") == pytest.approx(2.0)  # the window is the longest seen
    # A 429 pauses the lane for what Discord asks and counts as an invalid request.
    learner.observe("messages:5", 429, {"Retry-After": "3", "X-RateLimit-Scope": "user"})
    assert learner.blocked_until["messages:5"] > time.monotonic() + 2.5
    assert learner.invalid_recently() == 1
    # A shared-scope 429 does not count towards Discord's ban.
    learner.observe("messages:6", 429, {"Retry-After": "1", "X-RateLimit-Scope": "shared"})
    assert learner.invalid_recently() == 1


def test_every_kind_of_write_has_a_name_organisers_read_in_both_languages():
    from bot.i18n import catalogue
    from bot.outbox import EXECUTORS

    for kind in EXECUTORS:
        assert catalogue().has(f"outbox.kind.{kind}"), kind
        assert t(f"outbox.kind.{kind}", "en") != t(f"outbox.kind.{kind}", "fr"), kind


def test_eta_reads_as_people_speak():
    assert eta_text(5, "en") == "in a few seconds"
    assert eta_text(600, "en") == "in about 10 min"
    assert eta_text(2 * 3600 + 5 * 60, "fr") == "dans environ 2 h 05"


# -- against the sandbox ---------------------------------------------------------------


async def test_an_urgent_write_overtakes_a_bulk_backlog_and_bulk_still_finishes(start_sandbox):
    sb = await start_sandbox(rate_limits=slow_roles(2, 0.5))
    bot = sb.bot
    members = await sb.add_members(24)
    role = int(sb.role("Participant")["id"])
    guild = bot.guild_id
    order = record(sb, ROLE_PUT, "user_id")
    await enqueue(
        bot,
        [
            service.role_add(guild, m.id, role, priority=Priority.BULK, batch="rush")
            for m in members[:20]
        ],
    )
    await until(lambda: len(order) >= 4)
    urgent = members[20:24]
    await enqueue(
        bot, [service.role_add(guild, m.id, role, priority=Priority.URGENT) for m in urgent]
    )
    started = len(order)
    await sb.settle()
    assert await bot.outbox.idle(within=30)
    positions = [order.index(str(m.id)) for m in urgent]
    # The four urgent ones go next (give or take the write in flight), not after the backlog.
    assert max(positions) <= started + len(urgent) + 1, (started, positions)
    assert sorted(order) == sorted(str(m.id) for m in members)  # each once, bulk finished
    assert all(m.has_role("Participant") for m in members)
    # The outbox learned the sandbox's bucket (2 per 0.5 s) from its headers.
    bucket = bot.outbox.learner.buckets[service.role_lane(guild)]
    assert bucket.limit == 2 and bucket.window <= 0.5
    async with bot.db.read() as session:
        progress = await service.batch_progress(session, "rush")
    assert (progress.done, progress.waiting, progress.failed) == (20, 0, 0)


async def test_a_waiting_write_made_urgent_by_a_newer_one_goes_next(start_sandbox):
    """A role grant waits at the end of a bulk backlog; the same grant is asked for again,
    urgent (a member waiting for it now): the two are one write, and it goes next, not
    after the backlog."""
    sb = await start_sandbox(rate_limits=slow_roles(2, 0.5))
    bot = sb.bot
    members = await sb.add_members(16)
    role = int(sb.role("Participant")["id"])
    guild = bot.guild_id
    order = record(sb, ROLE_PUT, "user_id")
    await enqueue(
        bot, [service.role_add(guild, m.id, role, priority=Priority.BULK) for m in members]
    )
    await until(lambda: len(order) >= 2)
    last = members[-1]
    (again,) = await enqueue(
        bot, [service.role_add(guild, last.id, role, priority=Priority.URGENT)]
    )
    assert again.coalesced
    started = len(order)
    await sb.settle()
    assert await bot.outbox.idle(within=30)
    assert order.index(str(last.id)) <= started + 2, (started, order.index(str(last.id)))
    assert sorted(order) == sorted(str(m.id) for m in members)  # each once


async def test_the_global_pace_is_kept_evenly_and_never_stalls(start_sandbox):
    """Writes to many channels (one lane each) go at the global pace, spaced rather than
    in bursts (a burst of a second's worth can reach Discord inside one of its windows
    together with the next), and the worker wakes for the next one as soon as the pace
    allows it (not at the next completion or a second later)."""
    sb = await start_sandbox()
    bot = sb.bot
    bot.outbox.learner.global_rate = 20.0
    channels = [(await sb.create_channel(f"space-{i}")).id for i in range(45)]
    times: list[float] = []

    def hook(route_key, _call, _result) -> None:
        if route_key == MESSAGES:
            times.append(time.monotonic())

    sb.server.after_handled.append(hook)
    await enqueue(
        bot,
        [service.message_send(c, content="Lunch", priority=Priority.BULK) for c in channels],
    )
    assert await bot.outbox.idle(within=20)
    assert len(times) == 45
    # At most the burst allowance plus the pace in any second...
    most = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert most <= 20 + 5 + 1, most
    half = max(sum(1 for t in times if start <= t < start + 0.5) for start in times)
    assert half <= 5 + 10 + 1, half  # spaced: not a second's worth at once
    # ...and the whole lot in about (45 - 5) / 20 s: no stalls between bursts. A worker
    # that waited for a completion or the next second would leave gaps of a second and
    # take 8 s or more; a busy machine only stretches every write a little.
    span = times[-1] - times[0]
    assert span >= 1.5, span
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) < 0.7, max(gaps)
    assert span <= 6.0, span


async def test_the_estimate_grows_with_the_backlog_at_the_learned_pace(start_sandbox):
    sb = await start_sandbox(rate_limits=slow_roles(1, 1.0))
    bot = sb.bot
    members = await sb.add_members(12)
    role = int(sb.role("Participant")["id"])
    done = await enqueue(
        bot,
        [service.role_add(bot.guild_id, m.id, role, priority=Priority.BULK) for m in members[:2]],
    )
    await until(lambda: service.role_lane(bot.guild_id) in bot.outbox.learner.buckets)
    more = await enqueue(
        bot,
        [service.role_add(bot.guild_id, m.id, role, priority=Priority.BULK) for m in members[2:]],
    )
    last = bot.outbox.estimate(more[-1].queued)
    assert done[0].queued is not None
    assert 8 <= last <= 14  # about ten more at the learned one a second
    # An urgent write in another lane does not wait for that backlog.
    (urgent,) = await enqueue(
        bot, [service.message_send(sb.default_channel.id, content="hi", priority=Priority.URGENT)]
    )
    assert bot.outbox.estimate(urgent.queued) < 2
    kinds = {b.kind: b for b in bot.outbox.backlog()}
    assert kinds["role.add"].waiting >= 9 and kinds["role.add"].eta_s >= 8
    await sb.settle(quiet=0.5)
    assert await bot.outbox.idle(within=30)


async def test_a_role_granted_then_taken_back_before_it_went_costs_no_request(start_sandbox):
    sb = await start_sandbox()
    bot = sb.bot
    ana, bob = await sb.add_members(2)
    role = int(sb.role("Participant")["id"])
    order = record(sb, ROLE_PUT, "user_id")
    removed = record(sb, "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}", "user_id")
    await bot.outbox.stop()  # nothing leaves meanwhile
    await enqueue(bot, [service.role_add(bot.guild_id, ana.id, role)])
    await enqueue(bot, [service.role_remove(bot.guild_id, ana.id, role)])
    await enqueue(bot, [service.role_add(bot.guild_id, bob.id, role)])
    await bot.outbox.start(bot.http)
    await sb.settle()
    assert await bot.outbox.idle(within=10)
    assert order == [str(bob.id)] and removed == []
    assert bob.has_role("Participant") and not ana.has_role("Participant")


async def test_a_refused_write_is_failed_and_a_passing_error_tried_again(start_sandbox):
    sb = await start_sandbox()
    bot = sb.bot
    (ana,) = await sb.add_members(1)
    role = int(sb.role("Participant")["id"])
    # A member who left: Discord answers 404 Unknown Member, for good.
    sb.expect_violation(status=404)
    gone = await enqueue(bot, [service.role_add(bot.guild_id, 999_999_999_999, role)])
    await until(lambda: bot.outbox.failed == 1)
    # A 503 on the next role change (discord.py does not retry it): tried again after a pause.
    sb.faults.routes = frozenset({ROLE_PUT})
    sb.faults.error_status = 503
    sb.faults.fail_next = 1
    again = await enqueue(bot, [service.role_add(bot.guild_id, ana.id, role)])
    await until(lambda: ana.has_role("Participant"), 20)
    assert await bot.outbox.idle(within=20)
    async with bot.db.read() as session:
        rows = {r.id: r for r in (await session.scalars(select(OutboxWrite))).all()}
    assert gone[0].queued and again[0].queued
    assert rows[gone[0].queued.id].status == WriteStatus.FAILED.value
    assert rows[gone[0].queued.id].error.startswith("404 10007")
    assert rows[again[0].queued.id].status == WriteStatus.DONE.value
    assert rows[again[0].queued.id].attempts == 2
    assert bot.outbox.failed == 1


async def test_a_direct_message_falls_back_to_a_channel_only_when_asked_and_says_where(
    start_sandbox,
):
    sb = await start_sandbox()
    bot = sb.bot
    ana, bob, cid = await sb.add_members(3)
    channel = (await sb.create_channel("owls")).id
    bob.close_dms()
    cid.close_dms()
    sb.expect_violation(code=50007)
    sb.expect_violation(code=50007)
    told = await bot.outbox.deliver(service.dm_send(ana.id, content="Hello Ana"), within=10)
    assert told.status == "done" and told.result["via"] == "dm"
    assert ana.dms[-1]["content"] == "Hello Ana"
    fell_back = await bot.outbox.deliver(
        service.dm_send(bob.id, content="Hello Bob", fallback_channel_id=channel), within=10
    )
    assert fell_back.status == "done" and fell_back.result["via"] == "channel"
    posted = sb.channel(channel).messages[-1]
    assert posted["content"] == f"<@{bob.id}> Hello Bob"
    assert sb.pinged(posted)["users"] == [str(bob.id)]  # only the person it was meant for
    refused = await bot.outbox.deliver(service.dm_send(cid.id, content="Hello Cid"), within=10)
    assert refused.status == "refused"
    assert not bob.dms and not cid.dms
    assert [m["content"] for m in sb.channel(channel).messages] == [f"<@{bob.id}> Hello Bob"]
    # The fallback is a post closed meanwhile: the message goes in, the post stays closed.
    sb.server.create_thread(
        sb.guild,
        sb.channel(channel).data,
        name="post",
        owner_id=str(sb.bot_user_id),
        thread_type=11,
    )
    post = sb.guild.active_threads()[-1]
    sb.server.update_channel(sb.guild, post, {"archived": True, "locked": True})
    sb.expect_violation(code=50007)
    closed = await bot.outbox.deliver(
        service.dm_send(bob.id, content="Rejected", fallback_channel_id=int(post["id"])),
        within=10,
    )
    assert closed.status == "done" and closed.result["via"] == "channel"
    assert sb.channel(post["id"]).messages[-1]["content"] == f"<@{bob.id}> Rejected"
    assert post["thread_metadata"]["archived"] and post["thread_metadata"]["locked"]


async def test_a_graceful_restart_in_the_middle_of_a_backlog_finishes_it(start_sandbox):
    sb = await start_sandbox(rate_limits=slow_roles(2, 1.0))
    members = await sb.add_members(12)
    role = int(sb.role("Participant")["id"])
    order = record(sb, ROLE_PUT, "user_id")
    await enqueue(
        sb.bot,
        [service.role_add(sb.bot.guild_id, m.id, role, priority=Priority.BULK) for m in members],
    )
    await until(lambda: len(order) >= 3)
    await sb.restart_bot()
    await sb.settle()
    assert await sb.bot.outbox.idle(within=30)
    assert all(m.has_role("Participant") for m in members)
    assert len(order) <= len(members) + 1  # at most the write cut by the stop went twice


@pytest.mark.slow
async def test_kill_9_in_the_middle_of_a_backlog_loses_nothing_and_posts_nothing_twice(
    start_sandbox,
):
    """Messages and roles stored while the bot was down; it starts, dies right after Discord
    posted the 8th message (before the bot heard of it) and again after the 20th role,
    comes back each time, and every channel ends with exactly one message, every member
    with the role."""
    sb = await start_sandbox(bot_process=True, validate=False, rate_limits=slow_roles(5, 1.0))
    members = await sb.add_members(30)
    role = int(sb.role("Participant")["id"])
    channels = [(await sb.create_channel(f"space-{i}")).id for i in range(16)]
    await sb.kill_bot()
    async with bot_database(sb) as db:
        async with db.begin() as session:
            await service.enqueue_many(
                session,
                utcnow(),
                [
                    service.message_send(
                        c, content=f"Welcome to space {i}", priority=Priority.NORMAL
                    )
                    for i, c in enumerate(channels)
                ]
                + [
                    service.role_add(int(sb.guild.id), m.id, role, priority=Priority.BULK)
                    for m in members
                ],
            )
        posted = record(sb, MESSAGES, "channel_id")
        granted = record(sb, ROLE_PUT, "user_id")
        # The outbox starts before the bot is ready: the crash may come first.
        crash = sb.crash_after(MESSAGES, match=lambda _call, _result: len(posted) >= 8)
        with contextlib.suppress(BotExited):
            await sb.start_bot()
        await crash.wait(60)
        await sb.kill_bot()
        crash = sb.crash_after(ROLE_PUT, match=lambda _call, _result: len(granted) >= 20)
        with contextlib.suppress(BotExited):
            await sb.start_bot()
        await crash.wait(60)
        await sb.kill_bot()
        await sb.start_bot()

        async def finished() -> bool:
            async with db.read() as session:
                left = await session.scalar(
                    select(func.count())
                    .select_from(OutboxWrite)
                    .where(OutboxWrite.status.in_(["pending", "sending"]))
                )
            return left == 0

        deadline = asyncio.get_running_loop().time() + 60
        while not await finished():
            assert asyncio.get_running_loop().time() < deadline, "the backlog never drained"
            await asyncio.sleep(0.2)
    for channel_id in channels:
        texts = [m["content"] for m in sb.channel(channel_id).messages]
        assert len([t for t in texts if t.startswith("Welcome to space")]) == 1, texts
    # The cut send came back as the first message (Discord's nonce), or was found among the
    # channel's last messages before it was sent again.
    assert all(m.has_role("Participant") for m in members)
    assert sorted(set(granted)) == sorted(str(m.id) for m in members)
    # Grants Discord carried out in the last moments before a kill, before the outbox recorded
    # them (it records in batches every 50 ms), go again after the restart: a role PUT is
    # idempotent, the member's roles do not change. At most a few per kill, never a message.
    assert len(granted) - len(set(granted)) <= 6


@pytest.mark.slow
async def crash_then_finish(sb, db, posted: list[str], route: str = MESSAGES) -> list[OutboxWrite]:
    """Start the bot on the stored writes, kill it once Discord carried out two of its
    ``route`` requests (posts), keep it down past the nonce's window (ten minutes), start it
    again, and wait until every write is done; the writes, as stored."""
    crash = sb.crash_after(route, match=lambda _call, _result: len(posted) >= 2)
    with contextlib.suppress(BotExited):
        await sb.start_bot()
    await crash.wait(60)
    await sb.kill_bot()
    await sb.advance(minutes=10)  # past the nonce's window
    await sb.start_bot()
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        async with db.read() as session:
            rows = (await session.scalars(select(OutboxWrite))).all()
        if rows and all(r.status == WriteStatus.DONE.value for r in rows):
            return list(rows)
        assert asyncio.get_running_loop().time() < deadline, [r.status for r in rows]
        await asyncio.sleep(0.2)


async def test_a_send_cut_by_a_crash_is_not_repeated_after_the_nonce_is_forgotten(
    start_sandbox,
):
    """Discord honours a message's nonce for a few minutes only. The bot dies right after
    Discord posted a card (with its buttons) and stays down for ten minutes: at the restart
    the cut send is looked for among the channel's last messages, found, and its id
    handed to what follows (here: nothing is posted twice)."""
    sb = await start_sandbox(bot_process=True, validate=False)
    channel = (await sb.create_channel("queue")).id
    await sb.kill_bot()
    posted = record(sb, MESSAGES, "channel_id")
    async with bot_database(sb) as db:
        async with db.begin() as session:
            await service.enqueue_many(
                session,
                utcnow(),
                [
                    service.message_send(
                        channel,
                        content=f"Card {i}",
                        embeds=[{"title": f"Ticket {i}", "description": "Help"}],
                        components=[
                            {
                                "type": 1,
                                "components": [
                                    {
                                        "type": 2,
                                        "style": 1,
                                        "label": "Claim",
                                        "custom_id": f"help:claim:{i}",
                                    }
                                ],
                            }
                        ],
                    )
                    for i in range(3)
                ],
            )
        rows = await crash_then_finish(sb, db, posted)
    texts = [m["content"] for m in sb.channel(channel).messages]
    assert sorted(texts) == ["Card 0", "Card 1", "Card 2"], texts
    assert sb.server.stats["nonce_repeats"] == 0  # not Discord's memory: the bot's search
    ids = {m["content"]: int(m["id"]) for m in sb.channel(channel).messages}
    cards = [r for r in rows if r.payload.get("channel_id") == channel]
    assert {r.result["message_id"] for r in cards} == set(ids.values())


async def test_a_direct_message_cut_by_a_crash_is_not_sent_twice(start_sandbox):
    """The bot dies right after Discord delivered direct messages and stays down past the
    nonce's window: at the restart each cut one is found in the conversation."""
    sb = await start_sandbox(bot_process=True, validate=False)
    people = await sb.add_members(3)
    await sb.kill_bot()
    posted = record(sb, MESSAGES, "channel_id")
    async with bot_database(sb) as db:
        async with db.begin() as session:
            await service.enqueue_many(
                session,
                utcnow(),
                [service.dm_send(p.id, content=f"Hello {i}") for i, p in enumerate(people)],
            )
        await crash_then_finish(sb, db, posted)
    for i, person in enumerate(people):
        assert [m["content"] for m in person.dms] == [f"Hello {i}"]
    assert sb.server.stats["nonce_repeats"] == 0


async def test_channels_threads_and_events_cut_by_a_crash_are_not_made_twice(start_sandbox):
    """The bot dies right after Discord made its second channel (then its second thread,
    role, scheduled event):
    at the restart each creation it had not recorded is found on the server by name,
    type and parent, and its id handed on, instead of a second channel being made."""
    sb = await start_sandbox(bot_process=True, validate=False)
    guild_id = int(sb.guild_id)
    category = (await sb.create_channel("Teams", type=4)).id
    hub = (await sb.create_channel("hub")).id
    await sb.kill_bot()
    for route, writes in (
        (
            "POST /guilds/{guild_id}/channels",
            [
                service.channel_create(
                    guild_id, name=f"team-{i}", type=0, parent_id=int(category), key=f"c{i}"
                )
                for i in range(3)
            ],
        ),
        (
            "POST /channels/{channel_id}/threads",
            [
                service.thread_create(int(hub), guild_id=guild_id, name=f"squad-{i}", key=f"t{i}")
                for i in range(3)
            ],
        ),
        (
            "POST /guilds/{guild_id}/roles",
            [service.role_create(guild_id, name=f"Track {i}", key=f"r{i}") for i in range(3)],
        ),
    ):
        made = record(sb, route, "guild_id" if "guilds" in route else "channel_id")
        async with bot_database(sb) as db:
            async with db.begin() as session:
                await service.enqueue_many(session, utcnow(), writes)
            rows = await crash_then_finish(sb, db, made, route)
        await sb.kill_bot()
        assert len(made) == 3, made  # the cut one was not made again
    # And scheduled events (a phase's), the same way.
    start = sb.clock.now() + timedelta(days=2)
    events = [
        service.event_create(
            guild_id,
            fields={
                "name": f"Phase {i}",
                "description": f"What phase {i} is for",
                "scheduled_start_time": (start + timedelta(hours=i)).isoformat(),
                "scheduled_end_time": (start + timedelta(hours=i + 1)).isoformat(),
                "entity_type": 3,
                "entity_metadata": {"location": "#announcements"},
                "privacy_level": 2,
            },
            key=f"e{i}",
        )
        for i in range(3)
    ]
    route = "POST /guilds/{guild_id}/scheduled-events"
    made = record(sb, route, "guild_id")
    async with bot_database(sb) as db:
        async with db.begin() as session:
            await service.enqueue_many(session, utcnow(), events)
        rows = await crash_then_finish(sb, db, made, route)
    assert len(made) == 3, made
    shown = {e["name"]: int(e["id"]) for e in sb.scheduled_events}
    assert sorted(shown) == ["Phase 0", "Phase 1", "Phase 2"]
    assert {
        r.payload["fields"]["name"]: r.result["event_id"] for r in rows if r.kind == "event.create"
    } == shown

    names = sorted(c.name for c in sb.channels if c.name.startswith("team-"))
    assert names == ["team-0", "team-1", "team-2"]
    squads = {c.name: int(c.id) for c in sb.threads if c.name.startswith("squad-")}
    assert sorted(squads) == ["squad-0", "squad-1", "squad-2"]
    done = {r.payload["name"]: r.result["channel_id"] for r in rows if r.kind == "thread.create"}
    assert done == squads  # every id recorded, the cut one's too
    tracks = {r["name"]: int(r["id"]) for r in sb.roles if r["name"].startswith("Track ")}
    assert sorted(tracks) == ["Track 0", "Track 1", "Track 2"]


async def test_writes_stored_by_a_transaction_apart_reach_the_worker(start_sandbox):
    sb = await start_sandbox()
    bot = sb.bot
    members = await sb.add_members(3)
    role = int(sb.role("Participant")["id"])

    async def work(session):
        await service.enqueue_many(
            session, utcnow(), [service.role_add(bot.guild_id, m.id, role) for m in members]
        )

    await bot.db.write_apart(work)
    await sb.settle()
    assert await bot.outbox.idle(within=10)
    assert all(m.has_role("Participant") for m in members)
