"""SIGKILL at the worst moments: Discord has done what the bot asked (a card, a gallery post,
a receipt, a reminder exists) but the bot dies before it hears the answer and records it.
After a restart each of them exists exactly once and the database points at it.

The bot runs as a real process; ``sb.crash_after`` kills it from inside the sandbox right
after the matching request was carried out, before the answer leaves."""

from __future__ import annotations

from sqlalchemy import select

from bot.models import Broadcast, Delivery
from bot.models.help import HelpTicket
from bot.models.submissions import Submission, SubmissionVersion
from sandbox.server.interactions import APPLICATION_COMMAND
from tests.reliability.support import (
    background_done,
    bot_database,
    bot_messages,
    form,
    hacking,
    help_cards,
    project,
    receipts,
    seed_teams,
    wait_until,
)

HELP = {"help": {"ask_cooldown_minutes": 0}}
THREADS = {"bucket_overrides": {"POST /channels/{channel_id}/threads": (50, 1.0)}}
MESSAGES = "POST /channels/{channel_id}/messages"


def components_ids(message: dict) -> set[str]:
    ids = set()
    for row in message.get("components") or []:
        for child in row.get("components") or []:
            if child.get("custom_id"):
                ids.add(child["custom_id"])
    return ids


async def recover(sb, db, crash) -> None:
    await crash.wait(30)
    await sb.kill_bot()
    assert sb.bot_processes[-1].returncode == -9
    await sb.start_bot()
    await wait_until(lambda: background_done(sb, db), "the catch-up after the crash", 20)
    await sb.settle()


async def test_a_help_card_posted_just_before_a_crash_is_not_posted_again(start_sandbox):
    sb = await start_sandbox(hacking(**HELP), bot_process=True)
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 2)
        ana, bob = seeded.members
        # The queue opened with the phase: its channel is made through the outbox.
        await wait_until(lambda: background_done(sb, db), "the help queue's channel", 30)
        queue = sb.channel("help-queue")
        crash = sb.crash_after(
            MESSAGES, match=lambda call, _: call.params["channel_id"] == str(queue.id)
        )
        view, data = ana.slash_data("help ask", topic="python", description="API returns 500")
        sb.fire(ana, view, APPLICATION_COMMAND, data)  # ana never hears back: the bot dies
        await recover(sb, db, crash)

        cards = help_cards(sb)
        assert list(cards) == [1] and len(cards[1]) == 1
        space = seeded.space_ids[0]
        statuses = [m for m in bot_messages(sb, space) if "help:cancel:1" in components_ids(m)]
        assert len(statuses) == 1  # the team's status message, posted once after the restart
        async with db.read() as session:
            ticket = await session.get(HelpTicket, 1)
        assert ticket.status == "open"
        assert ticket.card_message_id == int(cards[1][0]["id"])
        # The catch-up records the status message it found a moment after the card.
        await wait_until(lambda: _status_recorded(db), "the status message recorded", 20)
        async with db.read() as session:
            ticket = await session.get(HelpTicket, 1)
        assert ticket.status_message_id == int(statuses[0]["id"])

        # The desk works as before: bob's team asks, its card comes once.
        reply = await bob.slash("help ask", topic="design", description="The logo is blurry")
        assert reply.text.startswith("🙋 Request **#2**")
        await sb.settle()
        assert {number: len(found) for number, found in help_cards(sb).items()} == {1: 1, 2: 1}


async def test_a_status_message_posted_just_before_a_crash_is_not_posted_again(start_sandbox):
    sb = await start_sandbox(hacking(**HELP), bot_process=True)
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 1)
        (ana,) = seeded.members
        space = seeded.space_ids[0]
        crash = sb.crash_after(
            MESSAGES, match=lambda call, _: call.params["channel_id"] == str(space)
        )
        view, data = ana.slash_data("help ask", topic="python", description="API returns 500")
        sb.fire(ana, view, APPLICATION_COMMAND, data)
        await recover(sb, db, crash)
        statuses = [m for m in bot_messages(sb, space) if "help:cancel:1" in components_ids(m)]
        assert len(statuses) == 1
        assert len(help_cards(sb)[1]) == 1
        # The catch-up records the status message it found a moment after the card.
        await wait_until(lambda: _status_recorded(db), "the status message recorded", 20)
        async with db.read() as session:
            ticket = await session.get(HelpTicket, 1)
        assert ticket.status_message_id == int(statuses[0]["id"])


async def _status_recorded(db) -> bool:
    async with db.read() as session:
        ticket = await session.get(HelpTicket, 1)
    return ticket is not None and ticket.status_message_id is not None


async def confirm_submission(sb, member, values) -> None:
    """Open /submit, fill the form and press Confirm, without waiting for the answer."""
    opened = await member.slash("submit")
    preview = await member.submit_modal(opened, form(values))
    from sandbox.driver import components as comp
    from sandbox.server.interactions import MESSAGE_COMPONENT

    button = comp.find_button(preview.message["components"], "Confirm", None)
    sb.fire(
        member,
        sb.channel(preview.record.channel_id),
        MESSAGE_COMPONENT,
        {"custom_id": button["custom_id"], "component_type": comp.BUTTON},
        message=preview.message,
    )


async def test_a_gallery_post_created_just_before_a_crash_is_found_not_duplicated(
    start_sandbox,
):
    sb = await start_sandbox(hacking(), bot_process=True, rate_limits=THREADS)
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 2)
        ana, bob = seeded.members
        crash = sb.crash_after("POST /channels/{channel_id}/threads")
        await confirm_submission(sb, ana, project(0))
        await recover(sb, db, crash)

        gallery = sb.channel("gallery")
        (thread,) = gallery.threads
        assert sb.channel(thread).name == "Project 000"
        assert receipts(sb, seeded.space_ids[0]) == [1]
        async with db.read() as session:
            (row,) = (await session.scalars(select(Submission))).all()
            versions = (await session.scalars(select(SubmissionVersion))).all()
        assert row.gallery_thread_id == int(thread.id) and row.gallery_version == 1
        assert row.receipt_version == 1 and [v.version for v in versions] == [1]
        assert f"<#{thread.id}>" in bot_messages(sb, seeded.space_ids[0])[-1]["content"]

        # A team with the same title is a different post, even after a restart.
        await sb.restart_bot()
        await confirm_submission(sb, bob, {**project(1), "title": "Project 000"})
        await wait_until(lambda: background_done(sb, db), "bob's gallery post")
        await sb.settle()
        assert len(gallery.threads) == 2
        assert receipts(sb, seeded.space_ids[1]) == [1]


async def test_a_receipt_sent_just_before_a_crash_is_not_sent_again(start_sandbox):
    sb = await start_sandbox(hacking(), bot_process=True, rate_limits=THREADS)
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 1)
        (ana,) = seeded.members
        space = seeded.space_ids[0]
        crash = sb.crash_after(
            MESSAGES, match=lambda call, _: call.params["channel_id"] == str(space)
        )
        await confirm_submission(sb, ana, project(0))
        await recover(sb, db, crash)
        assert receipts(sb, space) == [1]
        assert len(sb.channel("gallery").threads) == 1
        async with db.read() as session:
            (row,) = (await session.scalars(select(Submission))).all()
        assert (row.version, row.gallery_version, row.receipt_version) == (1, 1, 1)

        # An edit after the restart gets its own receipt, once.
        opened = await ana.slash("submit")
        preview = await ana.submit_modal(opened, form(project(0, version=2)))
        done = await preview.click("Confirm")
        assert done.text.startswith("✅ Saved for **Team 0**: version 2")
        await wait_until(lambda: background_done(sb, db), "the second receipt")
        await sb.settle()
        assert receipts(sb, space) == [1, 2]
        assert len(sb.channel("gallery").threads) == 1


async def test_a_reminder_delivered_just_before_a_crash_is_not_delivered_again(start_sandbox):
    # Submissions close in 61 minutes: the 60-minute reminder is a minute away.
    sb = await start_sandbox(
        hacking(61, timeline={"reminder_offsets_minutes": [60]}), bot_process=True
    )
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 3)
        first_space = seeded.space_ids[0]
        crash = sb.crash_after(
            MESSAGES, match=lambda call, _: call.params["channel_id"] == str(first_space)
        )
        await sb.advance(minutes=1, seconds=5)
        await recover(sb, db, crash)

        announced = [m for m in bot_messages(sb, "announcements") if "⏰" in m["content"]]
        assert len(announced) == 1
        for space in seeded.space_ids:
            reminded = [m for m in bot_messages(sb, space) if "⏰" in m["content"]]
            assert len(reminded) == 1, (space, [m["content"] for m in bot_messages(sb, space)])
        async with db.read() as session:
            deliveries = (
                await session.execute(
                    select(Delivery.channel_id, Delivery.status, Delivery.message_id).join(
                        Broadcast, Broadcast.id == Delivery.broadcast_id
                    )
                )
            ).all()
        assert all(status == "sent" and message for _, status, message in deliveries)
        assert len(deliveries) == 1 + len(seeded.space_ids)
        await sb.advance(minutes=10)  # nothing more to send
        assert len([m for m in bot_messages(sb, "announcements") if "⏰" in m["content"]]) == 1


async def test_a_submission_stored_just_before_a_crash_is_complete_and_shown_as_an_edit(
    start_sandbox,
):
    """The crash comes after the write, before the member's preview turns into "submitted":
    nobody told the team, but the submission is whole, gets its post and receipt, and the
    team finds it when it opens /submit again."""
    sb = await start_sandbox(hacking(), bot_process=True, rate_limits=THREADS)
    async with bot_database(sb) as db:
        seeded = await seed_teams(sb, db, 1)
        (ana,) = seeded.members
        crash = sb.crash_before(
            "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        )
        opened = await ana.slash("submit")
        preview = await ana.submit_modal(opened, form(project(0)))
        clicked = await preview.click("Confirm")
        await recover(sb, db, crash)
        assert not clicked.text.startswith("✅")  # the member never saw "submitted"

        async with db.read() as session:
            (row,) = (await session.scalars(select(Submission))).all()
            versions = (await session.scalars(select(SubmissionVersion))).all()
        expected = project(0)
        assert (row.title, row.pitch, row.description, row.repo_url, row.demo_url) == tuple(
            expected[key] for key in ("title", "pitch", "description", "repo_url", "demo_url")
        )
        assert [v.version for v in versions] == [1] and versions[0].content[
            "title"
        ] == "Project 000"
        assert (row.gallery_version, row.receipt_version) == (1, 1)
        assert receipts(sb, seeded.space_ids[0]) == [1]
        assert len(sb.channel("gallery").threads) == 1

        again = await ana.slash("submit")
        assert again.modal["title"] == "Edit your project"
        fields = {
            c["components"][0]["label"]: c["components"][0].get("value")
            for c in again.modal["components"]
        }
        assert fields["Project name"] == "Project 000"
