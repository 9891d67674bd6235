"""/admin status end to end: an organiser sees what the bot still has to do on Discord, in
their language, privately; during a slow rush of role grants the backlog shows with its
estimate (and the worker logs it); anyone else is refused."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from tests.cogs.test_registration import NOBODY, register

ROLES_ROUTE = "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}"
#: One role grant a minute: a few registrations make a backlog that lasts.
SLOW_ROLES = {"bucket_overrides": {ROLES_ROUTE: (1, 60.0)}}
MANAGE_EVENTS = 1 << 33
#: Without the pinned countdown, whose post and pin are the outbox's first writes.
QUIET = {"timeline": {"countdown": False, "scheduled_events": False}}  # no writes of their own

EMPTY_EN = "Nothing waiting: every role, access and post the bot had to make is done."
EMPTY_FR = "Rien en attente : tous les rôles, accès et messages que le bot devait faire sont faits."


def since_start(sb, lang: str, failed: int = 0, limited: int = 0) -> str:
    """The status's last line: writes done (the bot's own count: the help queue's channel is
    one of them), refused and slowed down (what each test caused)."""
    sent = sb.bot.outbox.sent
    if lang == "en":
        return (
            f"Since the bot started — writes done: {sent} · refused by Discord: {failed} · "
            f"asked to slow down: {limited}"
        )
    return (
        f"Depuis le démarrage du bot — écritures faites : {sent} · refusées par Discord : "
        f"{failed} · demandes de ralentir : {limited}"
    )


def lines(reply) -> list[str]:
    return reply.embed["description"].split("\n")


async def test_an_organiser_sees_the_empty_state_in_their_language(start_sandbox):
    sb = await start_sandbox(QUIET)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-GB")
    reply = await org.slash("admin status")
    assert reply.ephemeral and reply.pinged == NOBODY
    assert reply.embed["title"] == "Discord work in progress"
    assert lines(reply) == [EMPTY_EN, "", since_start(sb, "en")]

    orga = await sb.add_member("orga", roles=["Organiser"], locale="fr")
    reply = await orga.slash("admin status")
    assert reply.ephemeral and reply.pinged == NOBODY
    assert reply.embed["title"] == "Travail en cours sur Discord"
    assert lines(reply) == [EMPTY_FR, "", since_start(sb, "fr")]


async def test_a_rush_of_registrations_shows_as_roles_to_give(start_sandbox, caplog):
    sb = await start_sandbox(QUIET, rate_limits=SLOW_ROLES)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    orga = await sb.add_member("orga", roles=["Organiser"], locale="fr")
    people = [await sb.add_member(name) for name in ("ana", "bob", "cid", "dan")]
    # The role grants wait for Discord: answers come back at once, the sandbox never settles
    # (and need not when it closes: the rest would take minutes).
    sb.settle_after_interaction = False
    sb.settle_max_s = 0.5
    for member in people:
        joined = await register(member)
        assert "You are registered" in joined.text, joined.text
        assert "Your access to the participant channels arrives in " in joined.text

    # One grant a minute: the first is held by discord.py until the bucket resets, the
    # three others queue behind it; about five minutes in all.
    reply = await org.slash("admin status")
    assert reply.ephemeral and reply.pinged == NOBODY
    assert reply.embed["title"] == "Discord work in progress"
    first, *rest = lines(reply)
    assert re.fullmatch(r"\*\*Roles to give\*\*: 4 waiting, done in about [4-6] min", first), first
    assert rest == ["", since_start(sb, "en")]

    reply = await orga.slash("admin status")
    assert reply.embed["title"] == "Travail en cours sur Discord"
    first, *rest = lines(reply)
    assert re.fullmatch(
        r"\*\*Rôles à donner\*\* : 4 en attente, terminé dans environ [4-6] min", first
    ), first
    assert rest == ["", since_start(sb, "fr")]

    # The worker says the same in the log while the grants wait.
    outbox = sb.bot.outbox
    outbox.BACKLOG_LOG_EVERY_S = 0.02
    with caplog.at_level(logging.INFO, logger="bot.outbox"):
        logger = asyncio.create_task(outbox._log_backlog())
        await asyncio.sleep(0.1)
        logger.cancel()
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("outbox: wait")]
    assert logged, caplog.text
    assert re.fullmatch(r"outbox: waiting role\.add 4 \(eta \d+ s\)", logged[-1]), logged


async def test_refusals_and_slow_downs_are_counted(start_sandbox):
    sb = await start_sandbox(QUIET)
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    orga = await sb.add_member("orga", roles=["Organiser"], locale="fr")
    ana, bob = await sb.add_member("ana"), await sb.add_member("bob")
    # Discord refuses ana's role for good (403), then asks the bot to slow down once.
    sb.faults.routes = frozenset({ROLES_ROUTE})
    sb.faults.error_status = 403
    sb.faults.fail_next = 1
    sb.faults.rate_limit_next = 1
    sb.faults.rate_limit_retry_after = (0.05, 0.05)
    await register(ana)
    await register(bob)
    assert await sb.bot.outbox.idle()
    assert not ana.has_role("Participant") and bob.has_role("Participant")

    reply = await org.slash("admin status")
    assert lines(reply) == [
        EMPTY_EN,
        "",
        since_start(sb, "en", failed=1, limited=1),
        "Refused for good in the last 24 hours: Roles to give (1) (see the bot's log).",
    ]
    reply = await orga.slash("admin status")
    assert lines(reply) == [
        EMPTY_FR,
        "",
        since_start(sb, "fr", failed=1, limited=1),
        "Refusées définitivement ces dernières 24 heures : Rôles à donner (1) "
        "(voir le journal du bot).",
    ]


@pytest.mark.parametrize("locale", ["fr", "en-US"])
async def test_only_organisers_may_see_the_status(start_sandbox, locale):
    sb = await start_sandbox(QUIET)
    ana = await sb.add_member("ana", locale=locale)
    await register(ana)
    with pytest.raises(PermissionError):
        await ana.slash("admin status")  # Discord does not even show /admin to participants

    # A server admin shows it to them anyway (Manage Events through another role).
    await sb.create_role("Staff", permissions=MANAGE_EVENTS)
    staff = await sb.add_member("staff", roles=["Staff"], locale=locale)
    await register(staff)
    refused = await staff.slash("admin status")
    assert refused.ephemeral and refused.embed is None
    assert refused.text == (
        "Seuls les organisateurs peuvent utiliser cette commande."
        if locale == "fr"
        else "Only organisers can use this command."
    )
