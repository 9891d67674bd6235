"""``[registration] onboarding = true``: the bot adds a question to the server's onboarding
whose answer gives the participant role; Discord gives it, /register then has no role to
grant, and what needs a registration still checks the database."""

from __future__ import annotations

from bot.permissions import required_permissions
from tests.cogs.test_registration import register

ONBOARDING = {"registration": {"onboarding": True}}
WITH_MANAGE_SERVER = required_permissions(onboarding=True).value
ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
ROLE_COMING = "Your access to the participant channels arrives"
HINT = "Faster: in the server's **Channels & Roles**, answer “I take part”"


async def enable_onboarding(sb) -> None:
    """What an organiser does in Server Settings -> Onboarding: 7 default channels (5 open to
    everyone's messages, Discord's minimum), then enable it."""
    names = ["general"]
    for name in ("lobby", "intro", "ask", "random", "showcase", "rules"):
        await sb.create_channel(name)
        names.append(name)
    await sb.set_onboarding(default_channel_ids=names, enabled=True)


def role_puts(sb, since: int = 0) -> int:
    return sum(
        1
        for method, route, _ in sb.server.requests[since:]
        if (method, route) == ("PUT", ROLE_ROUTE)
    )


async def test_set_up_adds_the_question_in_the_event_language_keeping_the_organisers(
    start_sandbox,
):
    sb = await start_sandbox(
        {**ONBOARDING, "event": {"language": "fr"}},
        bot_permissions=WITH_MANAGE_SERVER,
        start_bot=False,
    )
    theirs = await sb.set_onboarding(
        prompts=[
            {
                "id": "0",
                "title": "D'où venez-vous ?",
                "options": [{"title": "Nord"}, {"title": "Sud"}],
                "single_select": True,
                "required": False,
                "in_onboarding": True,
            }
        ]
    )
    await sb.start_bot()
    first, ours = sb.onboarding["prompts"]
    assert first == theirs["prompts"][0]  # untouched, ids included
    assert ours["title"] == "Participez-vous à Demo Hackathon ?"
    (option,) = ours["options"]
    assert option["title"] == "Je participe"
    assert "/inscription" in option["description"]
    assert option["role_ids"] == [sb.role("Participant")["id"]]
    assert not ours["required"]  # mentors, judges and visitors skip it
    # Idempotent: a restart does not add it twice.
    await sb.restart_bot()
    assert [p["id"] for p in sb.onboarding["prompts"]] == [first["id"], ours["id"]]


async def test_answering_gives_the_role_and_register_asks_nothing_of_discord(start_sandbox):
    sb = await start_sandbox(ONBOARDING, bot_permissions=WITH_MANAGE_SERVER)
    await enable_onboarding(sb)
    ana = await sb.add_member("ana", locale="en-US")
    before = len(sb.server.requests)
    await ana.complete_onboarding(["I take part"])
    assert ana.has_role("Participant")
    assert len(sb.server.requests) == before  # Discord gave it, not the bot
    reply = await register(ana)
    assert reply.text.startswith("Welcome to Demo Hackathon!")
    assert ROLE_COMING not in reply.text and HINT not in reply.text
    assert role_puts(sb, before) == 0
    await sb.settle()
    assert role_puts(sb, before) == 0


async def test_a_registrant_without_the_answer_gets_the_role_and_the_hint(start_sandbox):
    sb = await start_sandbox(ONBOARDING, bot_permissions=WITH_MANAGE_SERVER)
    await enable_onboarding(sb)
    bob = await sb.add_member("bob", locale="en-US")  # joined before, never answered
    reply = await register(bob)
    assert ROLE_COMING in reply.text and HINT in reply.text
    await sb.settle()
    assert bob.has_role("Participant")  # the bot's grant stays the fallback
    zoe = await sb.add_member("zoe", locale="fr")
    reply = await register(zoe)
    assert "dans **Salons et rôles** du serveur, répondez « Je participe »" in reply.text


async def test_without_onboarding_enabled_register_grants_and_gives_no_hint(start_sandbox):
    sb = await start_sandbox(ONBOARDING, bot_permissions=WITH_MANAGE_SERVER)
    assert not sb.onboarding["enabled"]  # the question is there, the organisers did not enable it
    assert len(sb.onboarding["prompts"]) == 1
    ana = await sb.add_member("ana", locale="en-US")
    reply = await register(ana)
    assert ROLE_COMING in reply.text and HINT not in reply.text
    await sb.settle()
    assert ana.has_role("Participant")


async def test_without_manage_server_the_bot_still_runs(start_sandbox):
    sb = await start_sandbox(ONBOARDING)  # invited without --onboarding
    assert sb.take_violations()[0].code == 50013
    assert sb.onboarding["prompts"] == []
    ana = await sb.add_member("ana", locale="en-US")
    reply = await register(ana)
    assert ROLE_COMING in reply.text
    await sb.settle()
    assert ana.has_role("Participant")


async def test_problem_submission_checks_registration_not_the_role(start_sandbox):
    sb = await start_sandbox(ONBOARDING, bot_permissions=WITH_MANAGE_SERVER)
    await enable_onboarding(sb)
    eve = await sb.add_member("eve", locale="en-US")
    await eve.complete_onboarding(["I take part"])
    assert eve.has_role("Participant")
    reply = await eve.slash("problem submit")
    assert reply.modal is None and "Only registered participants can submit" in reply.text
    await register(eve)
    reply = await eve.slash("problem submit")
    assert reply.modal is not None
