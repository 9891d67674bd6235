"""The problem-statement funnel end to end: submit, support, review (accept, reject, duplicate,
merge, new challenge), stats, and staying within Discord's active-thread limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import utcnow
from bot.models.teams import Profile
from bot.services import registration as reg

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}

# Channel creation is Discord's slow bucket (5 per 10 s): the bot waits it out, as it must;
# these tests widen it so that the flow, not the waiting, is what they measure.
FAST_CHANNELS = {"bucket_overrides": {"POST /guilds/{guild_id}/channels": (50, 10.0)}}


def config(**problems) -> dict:
    return {
        "event": {"name": "Hack", "language": "fr"},
        "problems": {"themes": ["Santé", "Climat"], "cooldown_seconds": 60, **problems},
        "challenges": {"channel_reserve": 10},
    }


async def submit(member, title, description, *, theme="Santé", affected="Les habitants", link=""):
    reply = await member.slash("problem submit")
    reply = await reply.select(None, [theme])
    return await reply.submit(
        {
            _label(reply, 0): title,
            _label(reply, 1): description,
            _label(reply, 2): affected,
            _label(reply, 3): link,
        }
    )


def _label(reply, index: int) -> str:
    rows = reply.modal["components"]
    return rows[index]["components"][0]["label"]


def post_of(sb, title):
    return next(t for t in sb.threads if t.name == title)


async def test_the_whole_funnel(start_sandbox):
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    org = await sb.add_member("nadia", roles=["Organiser"], locale="fr")
    ana = await sb.add_member("ana", roles=["Participant"], locale="fr")
    ben = await sb.add_member("ben", roles=["Participant"], locale="en-US")
    cleo = await sb.add_member("cleo", roles=["Participant"], locale="en-US")

    # A participant picks a theme, fills the form: the statement is a post with a tag.
    reply = await ana.slash("problem submit")
    assert reply.ephemeral and "thème" in reply.text
    reply = await reply.select(None, ["Santé"])
    assert reply.modal["title"] == "Décrire un problème"
    done = await reply.submit(
        {
            "Titre (une ligne)": "Accès aux soins des personnes âgées",
            "Quel est le problème ?": "Les personnes âgées isolées ne voient plus de médecin @everyone",
            "Qui est concerné ?": "Les aînés en zone rurale <@1>",
            "Lien (facultatif) : une source, un article": "https://example.org/rapport",
        }
    )
    assert done.ephemeral and "n°1 est publiée" in done.all_text
    forum = sb.channel("problem-statements")
    assert forum.type == 15
    assert {tag["name"] for tag in forum.data["available_tags"]} == {"Santé", "Climat"}
    post = post_of(sb, "Accès aux soins des personnes âgées")
    sante = next(t["id"] for t in forum.data["available_tags"] if t["name"] == "Santé")
    assert post.data["applied_tags"] == [sante]
    card = post.messages[0]
    assert card["embeds"][0]["fields"][1]["value"] == "https://example.org/rapport"
    assert sb.pinged(card) == NOBODY
    # Members discuss in the post but cannot open posts themselves.
    assert sb.can_send(ben, post.id) and not sb.can_send(ben, "problem-statements")

    # Support: a button that counts; the author cannot support their own.
    reply = await ben.click(card, custom_id="problem:support:1")
    assert reply.followups[0].ephemeral
    assert reply.followups[0].text == "You support this problem. Supporters: 1."
    assert post.messages[0]["components"][0]["components"][0]["label"] == "Soutenir (1)"
    own = await ana.click(post.messages[0], custom_id="problem:support:1")
    assert own.ephemeral and "propre problématique" in own.text

    # A friendly wait between two statements.
    reply = await ana.slash("problem submit")
    assert reply.ephemeral and "Vous pourrez soumettre une autre problématique <t:" in reply.text

    # A bad link: nothing is posted, the author can fix it without retyping.
    bad = await submit(
        ben,
        "Soins en zone rurale",
        "Les personnes âgées isolées n'ont plus de médecin",
        link="javascript:alert(1)",
    )
    assert bad.ephemeral and "http://" in bad.text and bad.buttons == ["Edit my statement"]
    fixed = await bad.click("Edit my statement")
    assert fixed.modal["components"][0]["components"][0]["value"] == "Soins en zone rurale"
    done = await fixed.submit({"Link (optional): a source, an article": "https://who.int/x"})
    assert "#2 is posted" in done.all_text
    assert "Accès aux soins" in done.all_text  # the similar statement is suggested
    await sb.advance(seconds=61)
    await submit(
        cleo,
        "Old people and their doctors",
        "Elderly people living alone do not see a doctor",
        affected="elderly",
    )
    await submit(
        ben, "Plus de pistes cyclables", "Les vélos n'ont pas de place en ville", theme="Climat"
    )
    await sb.advance(seconds=61)
    await submit(cleo, "Spam spam", "buy my product now please thanks", theme="Climat")

    # Review: accept #1, #2 is a duplicate of #1 (suggested), reject the spam.
    review = await org.slash("admin problem review")
    assert review.ephemeral and "5 problématiques en attente" in review.text
    assert review.embed["title"] == "Accès aux soins des personnes âgées"
    assert review.buttons[:3] == ["Accepter", "Refuser…", "Passer"]
    review = await review.click("Accepter")
    assert "N°1 acceptée" in review.text and review.embed["title"] == "Soins en zone rurale"
    suggestions = next(f for f in review.embed["fields"] if f["name"] == "Doublons probables")
    assert "#1" in suggestions["value"]
    review = await review.select("Doublon de…", ["1"])
    assert "N°2 marquée comme doublon de la n°1" in review.text
    dup_post = post_of(sb, "Soins en zone rurale")
    assert (
        dup_post.data["thread_metadata"]["archived"] and dup_post.data["thread_metadata"]["locked"]
    )
    assert "problématique n°1" in dup_post.messages[-1]["content"]
    # Ben supported #1 already and wrote #2: still one supporter, counted once.
    assert post.messages[0]["components"][0]["components"][0]["label"] == "Soutenir (1)"

    review = await review.click("Passer")  # #3 skipped for now
    assert review.embed["title"] == "Plus de pistes cyclables"
    review = await review.click("Passer")
    assert review.embed["title"] == "Spam spam"
    cleo.close_dms()
    sb.expect_violation(code=50007)  # Discord refuses the DM; the bot falls back to the post
    modal = await review.click("Refuser…")
    review = await modal.submit({"Raison (envoyée à l'auteur)": "Ce n'est pas un problème"})
    assert "N°5 refusée" in review.text
    spam = post_of(sb, "Spam spam")
    assert spam.data["thread_metadata"]["archived"]
    notice = [m for m in spam.messages if "Ce n'est pas un problème" in m["content"]]
    assert notice and sb.pinged(notice[0])["users"] == [
        str(cleo.id)
    ]  # DMs closed: told in the post
    assert not cleo.dms

    # Promote #3 to a new challenge straight from the review.
    assert review.embed["title"] == "Old people and their doctors"
    form = await review.click("Nouveau défi…")
    created = await form.submit({"Nom": "Santé des aînés"})
    assert "Défi **Santé des aînés** créé" in created.all_text
    assert sb.has_channel("sante-des-aines")

    # Merge #4 into it.
    review = await org.slash("admin problem review")
    assert review.embed["title"] == "Plus de pistes cyclables"
    review = await review.select(
        "Fusionner dans le défi…",
        [review.message["components"][-1]["components"][0]["options"][0]["value"]],
    )
    assert "fusionnée dans le défi Santé des aînés" in review.text
    assert "Plus rien à examiner" in review.text

    stats = await org.slash("admin problem stats")
    assert stats.ephemeral
    assert stats.embed["description"].startswith(
        "**5** soumises · 0 en attente · 1 acceptées · 2 intégrées"
    )
    assert "1 refusées · 1 doublons" in stats.embed["description"]
    # The reviewed posts are archived: they do not hold active threads.
    active = [t for t in sb.threads if not t.data["thread_metadata"]["archived"]]
    assert {t.name for t in active} <= {"Accès aux soins des personnes âgées"}

    # Everybody else: Discord hides curation (and the bot checks the role itself).
    with pytest.raises(PermissionError):
        await ana.slash("admin problem stats")
    for view in (forum, *sb.threads):
        for message in view.messages:
            if message["author"]["id"] == str(sb.bot_user_id) and "Ce n'est pas" not in message.get(
                "content", ""
            ):
                assert sb.pinged(message) == NOBODY


async def test_a_screen_left_open_cannot_overturn_a_decision(start_sandbox):
    """Two review screens on the same statement (an earlier /admin problem review left open,
    or two organisers after a claim went stale): the first decision stands; a decision from
    the other screen changes nothing, says who decided, and moves on to the next statement."""
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    nadia = await sb.add_member("nadia", roles=["Organiser"], locale="fr")
    omar = await sb.add_member("omar", roles=["Organiser"], locale="en-US")
    ana = await sb.add_member("ana", roles=["Participant"], locale="fr")
    await submit(ana, "Accès aux soins des personnes âgées", "Plus de médecin au village")
    await sb.advance(seconds=61)
    await submit(ana, "Cantine trop chère", "Les familles ne peuvent plus payer", theme="Climat")

    old = await nadia.slash("admin problem review")
    assert old.embed["title"] == "Accès aux soins des personnes âgées"
    current = await nadia.slash("admin problem review")  # the same statement, a second screen
    current = await current.click("Accepter")
    assert "N°1 acceptée" in current.text

    # Refusing #1 from the first screen: nothing changes, Nadia is told, the next one shows.
    form = await old.click("Refuser…")
    after = await form.submit({"Raison (envoyée à l'auteur)": "Hors sujet"})
    assert "N°1 a déjà été traitée par nadia : acceptée. Rien n'a changé." in after.text
    assert after.embed["title"] == "Cantine trop chère"
    assert not ana.dms  # no refusal was sent to the author

    # Another organiser whose screen went stale (the claim expired): same answer, in English.
    await sb.advance(minutes=31)
    stale = await omar.slash("admin problem review")
    assert stale.embed["title"] == "Cantine trop chère"
    merged = await after.click("Accepter")
    assert "N°2 acceptée" in merged.text
    late = await stale.click("Accept")
    assert "#2 was already decided by nadia: accepted. Nothing changed." in late.text
    stats = await nadia.slash("admin problem stats")
    assert "**2** soumises · 0 en attente · 2 acceptées" in stats.embed["description"]


async def test_a_duplicate_of_the_statement_under_review_is_not_offered_as_its_original(
    start_sandbox,
):
    """#2 was marked as a duplicate of #1 while #1 waited: reviewing #1, #2 is listed among
    the likely duplicates but not offered as its original (the bot would have to refuse:
    #1 cannot be a duplicate of itself)."""
    sb = await start_sandbox(config(), rate_limits=FAST_CHANNELS)
    nadia = await sb.add_member("nadia", roles=["Organiser"], locale="en-US")
    ana = await sb.add_member("ana", roles=["Participant"], locale="fr")
    ben = await sb.add_member("ben", roles=["Participant"], locale="fr")
    await submit(
        ana, "Soins des personnes âgées isolées", "Les personnes âgées isolées sans médecin"
    )
    await submit(ben, "Personnes âgées isolées et soins", "Les personnes âgées isolées sans soins")
    await sb.advance(seconds=61)
    await submit(
        ana, "Médecin pour personnes âgées isolées", "Pas de médecin pour les âgées isolées"
    )

    review = await nadia.slash("admin problem review")
    assert review.embed["title"] == "Soins des personnes âgées isolées"
    review = await review.click("Skip")
    review = await review.select("Duplicate of…", ["1"])
    assert "#2 marked as a duplicate of #1" in review.text

    review = await nadia.slash("admin problem review")  # from the oldest again: #1
    assert review.embed["title"] == "Soins des personnes âgées isolées"
    field = next(f for f in review.embed["fields"] if f["name"] == "Likely duplicates")
    assert "#2" in field["value"] and "#3" in field["value"]
    options = next(
        c["options"]
        for row in review.message["components"]
        for c in row["components"]
        if c.get("placeholder") == "Duplicate of…"
    )
    assert [o["value"] for o in options] == ["3"]
    review = await review.select("Duplicate of…", ["3"])
    assert "#1 marked as a duplicate of #3" in review.text


async def test_who_may_submit_and_when(start_sandbox):
    now = utcnow()
    phases = [
        {
            "key": "ideas",
            "name": "Idées",
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat(),
            "opens": ["problem_collection"],
        },
        {
            "key": "hack",
            "name": "Hack",
            "start": (now + timedelta(hours=1)).isoformat(),
            "opens": ["team_changes"],
        },
    ]
    sb = await start_sandbox({**config(themes=[]), "phases": phases})
    guest = await sb.add_member("guest", locale="en-US")
    reply = await guest.slash("problem submit")
    assert reply.ephemeral and "Only registered participants can submit" in reply.text
    # Registered, the role still on its way (the outbox grants it at Discord's pace): allowed.
    async with sb.bot.db.begin() as session:
        member = await reg.ensure_member(session, guest.id, "guest")
        await session.flush()
        session.add(Profile(member_id=member.id, display_name="guest"))
    reply = await guest.slash("problem submit")
    assert reply.modal is not None
    ana = await sb.add_member("ana", roles=["Participant"], locale="en-US")
    reply = await ana.slash("problem submit")
    assert reply.modal is not None  # no themes: the form comes at once
    await sb.advance(hours=2)
    reply = await ana.slash("problem submit")
    assert reply.ephemeral and reply.text.startswith("Problem statements closed on <t:")


async def test_anyone_may_submit_when_configured(start_sandbox):
    sb = await start_sandbox(config(themes=[], submitters="anyone"))
    guest = await sb.add_member("guest", locale="en-US")
    reply = await guest.slash("problem submit")
    assert reply.modal is not None


async def test_statement_posts_stay_within_the_active_thread_limit(start_sandbox):
    """Other features hold 940 active threads; the bot archives its oldest posts to stay under 1000."""
    sb = await start_sandbox(config(themes=[], cooldown_seconds=0, max_active_posts=10))
    guild = sb.guild
    other = await sb.create_channel("busy", type=0)
    for i in range(940):  # set-up straight in the server's state: no rate limits involved
        sb.server.create_thread(
            guild, other.data, name=f"t{i}", owner_id=str(sb.bot_user_id), thread_type=11
        )
    await sb.settle()
    members = [
        await sb.add_member(f"p{i}", roles=["Participant"], locale="en-US") for i in range(14)
    ]
    for i, member in enumerate(members):
        reply = await member.slash("problem submit")
        modal_fields = [row["components"][0]["label"] for row in reply.modal["components"]]
        done = await reply.submit(
            dict(
                zip(
                    modal_fields,
                    [f"Problem number {i}", f"A long enough description {i}", "people", ""],
                    strict=True,
                )
            )
        )
        assert "is posted" in done.all_text
    ours = [t for t in sb.threads if t.parent and t.parent.name == "problem-statements"]
    active = [t for t in ours if not t.data["thread_metadata"]["archived"]]
    assert len(ours) == 14 and len(active) == 10  # max_active_posts
    assert {t.name for t in active} == {f"Problem number {i}" for i in range(4, 14)}
    total_active = len(guild.active_threads())
    assert total_active <= 1000 - 50 + 1


async def test_a_statement_discord_is_slow_to_post_is_promised_then_posted_once(start_sandbox):
    """Discord takes 6 s to open each forum post: the author reads that the statement is
    recorded and when its post appears (not a wait), and the post appears once."""
    sb = await start_sandbox(config(themes=[], cooldown_seconds=0))
    ana = await sb.add_member("ana", roles=["Participant"], locale="en-US")
    await sb.settle()
    sb.faults.routes = frozenset({"POST /channels/{channel_id}/threads"})
    sb.faults.latency_ms = 6000
    sb.settle_after_interaction = False
    reply = await ana.slash("problem submit")
    fields = [row["components"][0]["label"] for row in reply.modal["components"]]
    done = await reply.submit(
        dict(
            zip(
                fields,
                ["Late buses", "Buses come late every morning", "commuters", ""],
                strict=True,
            )
        )
    )
    assert "Your problem statement #1 is recorded; its post appears in the forum" in done.all_text
    sb.settle_after_interaction = True
    assert await sb.bot.outbox.idle(within=30)
    await sb.settle()
    posts = [t for t in sb.threads if t.name == "Late buses"]
    assert len(posts) == 1
    assert posts[0].messages[0]["embeds"][0]["title"] == "Late buses"
