"""/register, /profile and /admin import-registrants end to end, as people see them."""

from __future__ import annotations

from sandbox.server.interactions import APPLICATION_COMMAND

FRENCH = {
    "Developer": "Développement",
    "Data": "Données",
    "Product": "Produit",
    "English": "Anglais",
}
NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}


async def register(member, *, name=None, types=("Developer",), languages=("English",), **extra):
    reply = await member.slash("register")
    assert reply.modal is not None, reply
    fr = member.locale.startswith("fr")
    if fr:
        types = [FRENCH.get(x, x) for x in types]
        languages = [FRENCH.get(x, x) for x in languages]
    values = {
        ("Nom affiché" if fr else "Name shown to others"): name or member.name.title(),
        ("Ce que vous faites" if fr else "What you do"): list(types),
        ("Langues parlées" if fr else "Languages you speak"): list(languages),
        ("Votre fuseau horaire" if fr else "Your time zone"): ["Europe/Paris"],
    }
    return await reply.submit({**values, **extra})


async def test_register_grants_the_role_and_shows_the_profile(start_sandbox):
    sb = await start_sandbox()
    ana = await sb.add_member("ana", locale="fr")
    form = await ana.slash("register")
    labels = [c.get("label") for c in form.modal["components"]]
    assert labels == [
        "Nom affiché",
        "Ce que vous faites",
        "Langues parlées",
        "Votre fuseau horaire",
        "Compétences (facultatif)",
    ]
    reply = await form.submit(
        {
            "Nom affiché": "Ana <3",
            "Ce que vous faites": ["Design", "Données"],
            "Langues parlées": ["Français", "Anglais"],
            "Votre fuseau horaire": ["Europe/Paris"],
            "Compétences (facultatif)": "Figma, recherche utilisateur, figma",
        }
    )
    assert reply.ephemeral
    assert reply.text.startswith("Bienvenue à Demo Hackathon ! Vous êtes inscrit·e.")
    fields = {f["name"]: f["value"] for f in reply.embed["fields"]}
    assert reply.embed["title"] == "Ana <3"
    assert fields["Profil"] == "Design, Données"
    assert fields["Compétences"] == "figma, recherche utilisateur"
    assert fields["Langues"] == "Anglais, Français"
    assert fields["Équipe"] == "Pas encore d'équipe"
    assert ana.has_role("Participant")
    assert reply.pinged == NOBODY

    # Someone else sees the public part only.
    sam = await sb.add_member("sam", locale="en-GB")
    other = await sam.slash("profile", member=ana)
    names = [f["name"] for f in other.embed["fields"]]
    assert "Automatic team matching" not in names and "Skills" in names
    mine = await ana.slash("profile")
    assert "Équipe attribuée automatiquement" in [f["name"] for f in mine.embed["fields"]]
    nobody = await sam.slash("profile", member=sb.member("ana"))
    assert nobody.embed["title"] == "Ana <3"


async def test_profile_edits_and_skill_suggestions(start_sandbox):
    sb = await start_sandbox()
    ana = await sb.add_member("ana", locale="en-US")
    await register(ana, **{"Skills (optional)": "Python, UX research"})
    bob = await sb.add_member("bob", locale="en-US")
    await register(bob, **{"Skills (optional)": "python, logistics"})
    choices = await bob.autocomplete("profile", "skills", "logistics, py")
    assert choices[0]["value"] == "logistics, python"
    reply = await bob.slash(
        "profile", skills="logistics, python, ux research", timezone="UTC+05:30"
    )
    fields = {f["name"]: f["value"] for f in reply.embed["fields"]}
    assert fields["Skills"] == "logistics, python, ux research"
    assert fields["Time zone"] == "UTC+05:30"
    bad = await bob.slash("profile", timezone="Mars/Olympus")
    assert bad.ephemeral and "I do not know the time zone" in bad.text
    zones = await bob.autocomplete("profile", "timezone", "montr")
    assert zones and zones[0]["value"] == "America/Montreal"
    # The edit button opens the same form, pre-filled.
    mine = await bob.slash("profile")
    form = await mine.click("Edit")
    assert form.modal is not None


async def test_a_name_with_a_mention_or_invisible_characters_is_refused(start_sandbox):
    sb = await start_sandbox()
    ana = await sb.add_member("ana", locale="en-US")
    reply = await register(ana, name="@everyone hi")
    assert reply.ephemeral and "cannot contain a mention" in reply.text
    assert not ana.has_role("Participant")
    reply = await register(ana, name="A\u200bna")
    assert "invisible characters (U+200B)" in reply.text


async def test_registration_closed_outside_its_phase(start_sandbox):
    from datetime import timedelta

    from bot.clock import utcnow

    now = utcnow()
    sb = await start_sandbox(
        {
            "phases": [
                {
                    "key": "reg",
                    "name": "Registration",
                    "start": (now + timedelta(hours=1)).isoformat(timespec="seconds"),
                    "opens": ["registration"],
                }
            ]
        }
    )
    ana = await sb.add_member("ana", locale="en-US")
    reply = await ana.slash("register")
    assert reply.modal is None and reply.ephemeral
    opens = int((now + timedelta(hours=1)).timestamp())
    assert reply.text == f"Registration is not open yet: it opens on <t:{opens}:F> (<t:{opens}:R>)."
    await sb.advance(hours=1, minutes=1)
    assert (await ana.slash("register")).modal is not None


async def run_import(sb, organiser, data: bytes, filename: str = "people.csv"):
    """/admin import-registrants with an attachment (built by hand: the driver has no uploads)."""
    server = sb.server
    attachment_id = server.new_id()
    server.attachments[attachment_id] = (filename, "text/csv", data)
    command = sb.find_command("admin")
    option = next(o for o in command["options"] if o["name"] == "import-registrants")
    resolved = {
        "attachments": {
            attachment_id: {
                "id": attachment_id,
                "filename": filename,
                "size": len(data),
                "url": f"{server.url}/attachments/{attachment_id}/{filename}",
                "proxy_url": f"{server.url}/attachments/{attachment_id}/{filename}",
                "content_type": "text/csv",
            }
        }
    }
    data_payload = {
        "id": command["id"],
        "name": "admin",
        "type": 1,
        "guild_id": command.get("guild_id"),
        "options": [
            {
                "name": option["name"],
                "type": 1,
                "options": [{"name": "file", "type": 11, "value": attachment_id}],
            }
        ],
        "resolved": resolved,
    }
    return await sb.run_interaction(
        organiser, sb.default_channel, APPLICATION_COMMAND, data_payload
    )


async def test_registrant_list_by_email(start_sandbox):
    sb = await start_sandbox({"registration": {"mode": "email"}})
    org = await sb.add_member("org", roles=["Organiser"], locale="en-US")
    csv = (
        b"Email;Name\n"
        b"ana@example.org;Ana\n"
        b"not-an-address;Bob\n"
        b";Nobody\n"
        b"ANA@example.org ;Ana again\n"
        b"sam@example.org;Sam\n"
    )
    report = await run_import(sb, org, csv)
    assert report.ephemeral
    lines = report.text.splitlines()
    assert "5 row(s) read, 2 added, 0 already on the list, 3 not usable." in lines[0]
    assert "• row 3: the e-mail address is not valid" in lines
    assert "• row 4: no e-mail address" in lines
    assert "• row 5: appears twice in the file" in lines
    assert "example.org" not in report.text  # addresses are never echoed
    again = await run_import(sb, org, csv)
    assert "2 already on the list" in again.text

    ana = await sb.add_member("ana", locale="en-US")
    form = await ana.slash("register")
    assert form.modal["components"][0]["label"] == "Your registration e-mail"
    base = {
        "Name shown to others": "Ana",
        "What you do": ["Developer"],
        "Languages you speak": ["English"],
        "Your time zone": ["Europe/Paris"],
    }
    wrong = await form.submit({**base, "Your registration e-mail": "ana@example.com"})
    assert "not on the registration list" in wrong.text and not ana.has_role("Participant")
    form = await ana.slash("register")
    ok = await form.submit({**base, "Your registration e-mail": " Ana@Example.org"})
    assert ok.text.startswith("Welcome") and ana.has_role("Participant")
    eve = await sb.add_member("eve", locale="en-US")
    form = await eve.slash("register")
    taken = await form.submit({**base, "Your registration e-mail": "ana@example.org"})
    assert "already registered with this address" in taken.text
    for message in sb.channel("general").messages:
        assert "example.org" not in (message.get("content") or "")


async def test_import_is_for_organisers_only(start_sandbox):
    sb = await start_sandbox({"registration": {"mode": "code"}})
    ana = await sb.add_member("ana", roles=["Organiser"], locale="fr")
    reply = await run_import(sb, ana, b"name,email\nAna,ana@example.org\n")
    assert "colonne « code »" in reply.text


async def test_a_rush_of_registrations_is_answered_at_once_and_every_role_follows(start_sandbox):
    """30 people send the form at the same moment while Discord gives the bot 2 role changes
    a second: everyone is answered in time with when their access arrives, registered at
    once (every command works), and every role follows, each granted once."""
    import asyncio

    from tests.reliability.support import crowd

    role_put = "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}"
    sb = await start_sandbox(rate_limits={"bucket_overrides": {role_put: (2, 1.0)}})
    people = await sb.add_members(30, prefix="rush")
    granted: list[str] = []
    sb.server.after_handled.append(
        lambda route, call, _r: (
            granted.append(call.params["user_id"]) if route == role_put else None
        )
    )
    sb.settle_after_interaction = False

    def flow(member):
        async def run() -> list[str]:
            form = await member.slash("register")
            await asyncio.sleep(0.3)  # reading the form
            reply = await form.submit(
                {
                    "Name shown to others": member.name.title(),
                    "What you do": ["Developer"],
                    "Languages you speak": ["English"],
                    "Your time zone": ["Europe/Paris"],
                }
            )
            return [reply.text]

        return run

    outcomes = await crowd([flow(m) for m in people], in_flight=30)
    assert not [o.error for o in outcomes if o.error]
    texts = [o.texts[0] for o in outcomes]
    assert all(text.startswith("Welcome to Demo Hackathon! You are registered.") for text in texts)
    assert all("Your access to the participant channels arrives" in text for text in texts)
    assert not sb.missed_deadlines
    # Registered at once: the team commands work before the role arrives.
    early = await people[-1].slash("team create", name="Early Birds")
    assert early.text.startswith("Team **Early Birds** created")
    sb.settle_after_interaction = True
    await sb.settle(quiet=1.5)
    assert await sb.bot.outbox.idle(within=60)
    assert all(member.has_role("Participant") for member in people)
    assert sorted(granted) == sorted(str(member.id) for member in people)  # each once
