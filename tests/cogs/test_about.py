"""/about end to end: the real bot on the local Discord, read as participants would."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import utcnow
from bot.errors import PhaseClosed
from bot.services import event as event_service


def timeline_config(now=None) -> dict:
    now = now or utcnow()

    def at(delta: timedelta) -> str:
        return (now + delta).isoformat(timespec="seconds")

    return {
        "event": {"name": "Hack'n'Town", "timezone": "Europe/Paris", "language": "fr"},
        "phases": [
            {
                "key": "registration",
                "name": "Inscriptions",
                "start": at(-timedelta(hours=1)),
                "end": at(timedelta(hours=2)),
                "opens": ["registration"],
            },
            {
                "key": "hacking",
                "name": "Hacking",
                "start": at(timedelta(hours=3)),
                "end": at(timedelta(hours=20)),
                "opens": ["team_changes", "help_queue", "submissions"],
            },
        ],
    }


async def test_a_french_newcomer_reads_about_in_french(start_sandbox):
    sb = await start_sandbox(timeline_config())
    camille = await sb.add_member("camille", locale="fr")
    reply = await camille.slash("about")
    assert reply.ephemeral
    embed = reply.embed
    assert embed["title"] == "Hack'n'Town"
    assert "Nous sommes dans l'étape **Inscriptions**" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Ouvert en ce moment"] == "• Inscriptions"
    register_id = sb.find_command("register")["id"]
    assert (
        fields["Que faire maintenant"]
        == f"Inscrivez-vous à l'événement avec </register:{register_id}>."
    )
    guide = fields["Commandes"]
    assert len(guide) <= 1024
    for line in guide.splitlines()[
        :-1
    ]:  # each main command is clickable, localized by Discord itself
        assert line.startswith("</") and " — " in line, line
    assert "Outils des organisateurs (visibles d'eux seuls)" not in fields
    assert reply.pinged == {"users": [], "roles": [], "everyone": False, "here": False}


async def test_english_reader_and_the_timeline_moving(start_sandbox):
    sb = await start_sandbox(timeline_config())
    sam = await sb.add_member("sam", locale="en-GB")
    text = (await sam.slash("about")).embed["description"]
    assert "We are in the **Inscriptions** phase. It ends <t:" in text

    await sb.advance(hours=2, minutes=30)  # between the two phases
    embed = (await sam.slash("about")).embed
    assert embed["description"].startswith("Next phase: **Hacking**")
    assert {f["name"]: f["value"] for f in embed["fields"]}[
        "Open now"
    ] == "Nothing is open right now."

    await sb.advance(hours=1)
    fields = {f["name"]: f["value"] for f in (await sam.slash("about")).embed["fields"]}
    assert fields["Open now"].splitlines() == [
        "• New teams",
        "• Joining and changing teams",
        "• Mentor help",
        "• Project submissions",
    ]

    await sb.advance(days=1)
    assert (await sam.slash("about")).embed[
        "description"
    ] == "The event is over. Thank you for taking part!"


async def test_no_timeline_yet(start_sandbox):
    sb = await start_sandbox()
    reply = await (await sb.add_member("lee", locale="en-US")).slash("about")
    assert reply.embed["description"] == "The organisers have not published the timeline yet."


async def test_the_bot_sets_up_roles_and_channels_with_the_right_access(start_sandbox):
    sb = await start_sandbox()
    for role in ("Organiser", "Mentor", "Judge", "Participant"):
        assert sb.has_role(role), role
    org = await sb.add_member("org", roles=["Organiser"])
    ana = await sb.add_member("ana", roles=["Participant"])
    assert sb.can_view(ana, "announcements") and not sb.can_send(ana, "announcements")
    assert sb.can_send(sb.bot_member, "announcements")
    assert not sb.can_view(ana, "organisers")
    assert sb.can_send(org, "organisers")
    assert (
        "Annonces" not in sb.channel("announcements").topic
    )  # the default event language is English
    # Restarting does not create anything twice.
    channels_before = len(sb.channels)
    await sb.restart_bot()
    assert len(sb.channels) == channels_before


async def test_a_domain_error_becomes_a_translated_ephemeral_message(start_sandbox, monkeypatch):
    sb = await start_sandbox()

    async def closed(*args, **kwargs):
        raise PhaseClosed()

    monkeypatch.setattr(event_service, "overview", closed)
    reply = await (await sb.add_member("zoe", locale="fr")).slash("about")
    assert reply.ephemeral
    assert reply.text == "Ce n'est pas ouvert en ce moment."


async def test_a_crash_becomes_an_apology_with_an_error_id_that_is_in_the_log(
    start_sandbox, monkeypatch, caplog
):
    sb = await start_sandbox()

    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(event_service, "overview", broken)
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        reply = await (await sb.add_member("max", locale="en-US")).slash("about")
    assert reply.ephemeral
    assert reply.text.startswith("Sorry, something broke on our side.")
    error_id = reply.text.split("`")[1]
    record = next(r for r in caplog.records if error_id in r.getMessage())
    assert record.exc_info and "database on fire" in str(record.exc_info[1])
    assert "database on fire" not in reply.text


async def test_organisers_see_their_tools_and_everything_fits_discords_limits(start_sandbox):
    sb = await start_sandbox(timeline_config())
    nadia = await sb.add_member("nadia", roles=["Organiser"], locale="fr")
    fields = {f["name"]: f["value"] for f in (await nadia.slash("about")).embed["fields"]}
    tools = fields.get("Outils des organisateurs (visibles d'eux seuls)", "")
    admin_groups = {c["name"] for c in sb.commands if c["name"] == "admin"}
    assert bool(tools) == bool(admin_groups)
    assert all(len(value) <= 1024 for value in fields.values())
