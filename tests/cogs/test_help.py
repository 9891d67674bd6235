"""Mentor help end to end: ask → position/ETA → claim → access → resolve → rating, escalation
and expiry on timers, two mentors clicking Claim at once, restarts and crashes with open
tickets, idle claims, organisers closing the queue, and teams living in private threads."""

from __future__ import annotations

import asyncio

import pytest

from cogs.help.desk import desk_of
from sandbox.server import state as st
from tests.cogs.test_registration import NOBODY
from tests.cogs.test_teams import FAST_CHANNELS, registered

CONFIG = {"teams": {"min_size": 1, "max_size": 3}, "help": {"ask_cooldown_minutes": 0}}


def users(pinged: dict) -> set[str]:
    return {str(u) for u in pinged.get("users", [])}


async def team(sb, name: str, captain: str, locale: str = "en-US"):
    member = await registered(sb, captain, locale=locale)
    reply = await member.slash("team create", name=name)
    assert "created" in reply.text or "créée" in reply.text, reply.text
    return member


async def mentor(sb, name: str, skills: str, *, on: bool = True, locale: str = "en-US"):
    member = await sb.add_member(name, roles=["Mentor"], locale=locale)
    await member.slash("mentor skills", skills=skills)
    if on:
        reply = await member.slash("mentor duty on")
        assert reply.ephemeral and "on duty" in reply.text
    return member


def cards(sb) -> list[dict]:
    return [m for m in sb.channel("help-queue").messages if m.get("embeds")]


def card_of(sb, number: int) -> dict:
    for message in cards(sb):
        if message["embeds"][0]["footer"]["text"] == f"Ticket {number}":
            return message
    raise AssertionError(f"no card for ticket {number}")


def status_message(sb, space: str) -> dict:
    return next(m for m in sb.channel(space).messages if "Help request #" in m["content"])


async def test_a_tickets_life_ask_claim_access_resolve_and_rating(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    cid = await team(sb, "Foxes", "cid", locale="fr")
    mia = await mentor(sb, "mia", "Python, Django")
    max_ = await mentor(sb, "max", "design")
    assert not sb.can_view(ana, "help-queue") and sb.can_view(mia, "help-queue")
    assert not sb.can_send(mia, "help-queue")

    asked = await ana.slash(
        "help ask", topic="python", description="API returns 500 @everyone <@1>"
    )
    assert asked.ephemeral
    assert asked.text.startswith("🙋 Request **#1** (python) is in the queue: position **1**")
    assert "estimated wait about 2 min" in asked.text
    card = card_of(sb, 1)
    assert users(sb.pinged(card)) == {str(mia.id)}  # only the mentor whose skill matches
    assert not sb.pinged(card)["everyone"] and not sb.pinged(card)["roles"]
    assert card["embeds"][0]["title"] == "#1 · python · Owls"
    assert [b["label"] for row in card["components"] for b in row["components"]] == ["Claim"]
    status = status_message(sb, "owls")
    assert "Position **1** in the queue" in status["content"]
    assert sb.pinged(status) == NOBODY

    french = await cid.slash("help ask", topic="python", description="Base de données lente")
    assert "position **2**" in french.text and "n°2" in french.text
    again = await ana.slash("help ask", topic="design", description="And the logo too")
    assert again.text.startswith("Your team already has a request in progress (#1).")

    # Participants do not even see the queue; a mentor claims and gets into the team's space.
    with pytest.raises(PermissionError):
        await ana.click(card_of(sb, 1), "Claim")
    assert not sb.can_view(mia, "owls")
    claimed = await mia.click(card_of(sb, 1), "Claim")
    assert claimed.ephemeral and "You took #1 for **Owls**" in claimed.text
    assert sb.can_view(mia, "owls") and sb.can_send(mia, "owls")
    told = sb.channel("owls").messages[-1]
    assert f"<@{mia.id}> is taking your request #1" in told["content"]
    assert users(sb.pinged(told)) == {str(ana.id)}
    assert "took it" in status_message(sb, "owls")["content"]
    assert card_of(sb, 1)["content"] == "🤝 Request #1 is taken"
    labels = [b["label"] for row in card_of(sb, 1)["components"] for b in row["components"]]
    assert labels == ["Resolve", "Still helping", "Release"]
    not_yours = await max_.click(card_of(sb, 1), "Resolve")
    assert "only they (or an organiser)" in not_yours.text

    # Foxes moved up: their status message follows (throttled to once a minute per team).
    await sb.advance(minutes=2)
    foxes = next(m for m in sb.channel("foxes").messages if "Demande d'aide n°2" in m["content"])
    assert "Position **1** dans la file" in foxes["content"]
    status = await cid.slash("help status")
    assert "position **1**" in status.text

    # Resolved: the access goes, the team rates.
    done = await mia.click(card_of(sb, 1), "Resolve")
    assert "#1 resolved, thank you!" in done.text
    assert not sb.can_view(mia, "owls")
    rating = sb.channel("owls").messages[-1]
    assert "How was the help?" in rating["content"]
    form = await ana.click(rating, "4 ★")
    assert form.modal is not None
    thanks = await form.submit({"Anything to add? (optional)": "Clear and fast"})
    assert thanks.text == "Thank you, your comment is saved."
    assert "rated the help on #1: ★★★★☆" in sb.channel("owls").messages[-1]["content"]
    twice = await (await team_mate(sb, ana)).slash("help status")
    assert twice.text.startswith("Your team has no help request in progress.")
    assert "Resolved by" in card_of(sb, 1)["embeds"][0]["fields"][2]["value"]

    org = await sb.add_member("org", roles=["Organiser"])
    stats = await org.slash("admin help stats")
    assert stats.ephemeral
    text = stats.embed_text
    assert "Waiting **1** · taken **0** · resolved **1**" in text
    assert f"1. <@{mia.id}>: 1 resolved" in text
    assert "python: 2 asked, 1 resolved" in text


async def team_mate(sb, captain):
    """A second member of the captain's team (the team is open to join)."""
    await captain.slash("team joining", mode="open")
    mate = await registered(sb, f"{captain.name}-mate")
    info = await captain.slash("team info")
    name = info.embed["title"]
    joined = await mate.slash("team join", team=name)
    assert "joined" in joined.text, joined.text
    return mate


async def test_two_mentors_clicking_claim_at_the_same_instant_one_wins(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    mia = await mentor(sb, "mia", "python")
    max_ = await mentor(sb, "max", "python")
    await ana.slash("help ask", topic="python", description="Tests are flaky")
    card = card_of(sb, 1)
    first, second = await asyncio.gather(mia.click(card, "Claim"), max_.click(card, "Claim"))
    texts = sorted(r.text for r in (first, second))
    assert sum(t.startswith("You took #1") for t in texts) == 1
    assert sum(t.startswith("Too late:") for t in texts) == 1
    winner, loser = (mia, max_) if "You took" in first.text else (max_, mia)
    assert sb.can_view(winner, "owls") and not sb.can_view(loser, "owls")
    assert f"<@{winner.id}>" in card_of(sb, 1)["embeds"][0]["fields"][2]["value"]


async def test_a_claim_pressed_before_the_cards_id_is_stored_still_shows_on_the_card(
    start_sandbox,
):
    """Seen at full scale (1,462 teams): under load the write that stores a new card's id
    queues for seconds; a mentor quick enough to press Claim meanwhile got "You took #N" but
    the card kept its Claim button, because the claim found no card to edit. The outbox
    records a posted card's id (and its status message's) when it records the write done:
    that transaction is held here until the claim is done."""
    import sys
    from contextlib import asynccontextmanager

    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    mia = await mentor(sb, "mia", "python")
    db = sb.bot.db
    real_begin = db.begin
    stored = asyncio.Event()
    held: list[str] = []

    @asynccontextmanager
    async def begin_after_the_claim():
        # The transactions that store a posted message's id wait until the claim is done.
        if sys._getframe(2).f_code.co_name == "_record":
            held.append(sys._getframe(2).f_code.co_name)
            await stored.wait()
        async with real_begin() as session:
            yield session

    db.begin = begin_after_the_claim
    try:
        asking = asyncio.create_task(
            ana.slash("help ask", topic="python", description="Tests are flaky")
        )
        for _ in range(250):
            if cards(sb) and "_record" in held:
                break
            await asyncio.sleep(0.02)
        assert "_record" in held  # the card is out, its id not stored yet
        # Mia presses Claim now; the card's id is stored a second later.
        asyncio.get_running_loop().call_later(1.0, stored.set)
        claimed = await mia.click(card_of(sb, 1), "Claim")
        assert claimed.text.startswith("You took #1")
        await asking
        await sb.settle()
    finally:
        db.begin = real_begin
    assert held[0] == "_record"
    buttons = str(card_of(sb, 1)["components"])
    assert "Resolve" in buttons and "'Claim'" not in buttons, buttons
    assert f"<@{mia.id}>" in card_of(sb, 1)["embeds"][0]["fields"][2]["value"]
    status = status_message(sb, "owls")["content"]
    assert f"<@{mia.id}>" in status and "Position" not in status, status


async def test_escalation_then_organisers_then_expiry_on_stored_timers(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    mia = await mentor(sb, "mia", "python")
    max_ = await mentor(sb, "max", "design")
    await sb.add_member("org", roles=["Organiser"])
    await ana.slash("help ask", topic="python", description="Deploy fails")
    assert users(sb.pinged(card_of(sb, 1))) == {str(mia.id)}

    await sb.advance(minutes=10)
    wider = sb.channel("help-queue").messages[-1]
    assert "#1 (python, Owls) has waited 10 min" in wider["content"]
    assert users(sb.pinged(wider)) == {str(max_.id)}  # mentors not paged yet, any skill

    await sb.advance(minutes=10)
    organisers = sb.channel("help-queue").messages[-1]
    assert "no mentor took it" in organisers["content"]
    assert sb.pinged(organisers)["roles"] == [str(sb.role("Organiser")["id"])]
    assert not users(sb.pinged(organisers))

    await sb.advance(minutes=100)
    assert card_of(sb, 1)["content"] == "⌛ Request #1 expired unanswered"
    assert not card_of(sb, 1)["components"]
    expired = sb.channel("owls").messages[-1]
    assert "no mentor could take request #1 (python) within 120 minutes" in expired["content"]
    assert "Closed: no mentor could take it in time." in status_message(sb, "owls")["content"]
    stats = await sb.member("org").slash("admin help stats")
    assert "Expired unanswered" in stats.embed_text and "1 request(s)" in stats.embed_text
    # Each step happened once.
    texts = [m["content"] for m in sb.channel("help-queue").messages]
    assert sum("can you take it?" in x for x in texts) == 1
    assert sum("no mentor took" in x for x in texts) == 1


async def test_open_tickets_survive_a_restart_and_a_crash_and_timers_continue(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    cid = await team(sb, "Foxes", "cid")
    mia = await mentor(sb, "mia", "python")
    await mentor(sb, "max", "design")
    await ana.slash("help ask", topic="python", description="Docker build breaks")
    await cid.slash("help ask", topic="python", description="CORS errors everywhere")

    await sb.restart_bot()
    claimed = await mia.click(card_of(sb, 1), "Claim")  # a card posted before the restart
    assert claimed.text.startswith("You took #1")
    assert sb.can_view(mia, "owls")
    status = await cid.slash("help status")
    assert "position **1**" in status.text

    await sb.kill_bot()
    await sb.start_bot()
    await sb.advance(minutes=10)  # the escalation timer stored before the crash fires
    assert (
        "#2 (python, Foxes) has waited 10 min" in sb.channel("help-queue").messages[-1]["content"]
    )
    done = await mia.click(card_of(sb, 1), "Resolve")
    assert "#1 resolved" in done.text
    assert not sb.can_view(mia, "owls")
    await sb.advance(minutes=110)
    assert card_of(sb, 2)["content"] == "⌛ Request #2 expired unanswered"


async def test_an_idle_claim_goes_back_to_the_queue_and_still_helping_keeps_it(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    mia = await mentor(sb, "mia", "python")
    max_ = await mentor(sb, "max", "python")
    await ana.slash("help ask", topic="python", description="Memory leak")
    card = card_of(sb, 1)
    first = max_ if str(max_.id) in users(sb.pinged(card)) else mia
    await first.click(card, "Claim")
    await sb.advance(minutes=30)
    kept = await first.click(card_of(sb, 1), "Still helping")
    assert "stays yours for another 45 minutes" in kept.text
    await sb.advance(minutes=30)  # the first idle deadline passes: kept
    assert card_of(sb, 1)["content"] == "🤝 Request #1 is taken"
    await sb.advance(minutes=20)
    assert card_of(sb, 1)["content"] == "🆘 Request #1 is waiting"
    assert not sb.can_view(first, "owls")
    messages = sb.channel("help-queue").messages
    idle = next(m for m in messages if "went back to the queue" in m["content"])
    assert users(sb.pinged(idle)) == {str(first.id)}
    back = next(m for m in messages if "is back in the queue" in m["content"])
    other = mia if first is max_ else max_
    assert users(sb.pinged(back)) == {str(other.id)}
    assert "back in the queue, in its place" in sb.channel("owls").messages[-1]["content"]


async def test_bad_input_and_rules_have_clear_answers(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    solo = await registered(sb, "solo")
    ana = await team(sb, "Owls", "ana", locale="fr")
    mia = await mentor(sb, "mia", "python")
    no_team = await solo.slash("help ask", topic="python", description="Need help")
    assert no_team.text.startswith("Help requests are made for a team")
    topic = await ana.slash("help ask", topic="cobol", description="Vieux code")
    assert topic.text.startswith("« cobol » n'est pas un sujet de cet événement")
    table = await ana.slash("help ask", topic="python", description="Venez", where="table")
    assert "numéro de table" in table.text
    not_mentor = await ana.slash("mentor duty on")
    assert not_mentor.text.startswith("C'est réservé aux mentors")
    skills = await mia.slash("mentor skills", skills="python, <@123>")
    assert "cannot contain @, < or >" in skills.text
    nothing = await ana.slash("help cancel")
    assert nothing.text.startswith("Votre équipe n'a pas de demande d'aide en cours")
    for reply in (no_team, topic, table, not_mentor, skills, nothing):
        assert reply.ephemeral
    assert not cards(sb)
    # Cooldown with a friendly wait (default 5 minutes between two asks of a team).
    asked = await ana.slash(
        "help ask", topic="python", description="Boucle infinie", where="table", details="12"
    )
    assert "position **1**" in asked.text
    cancelled = await ana.click(status_message_fr(sb, "owls"), "Annuler la demande")
    assert cancelled.text == "La demande n°1 est annulée. Tant mieux si vous avez trouvé !"
    assert card_of(sb, 1)["content"] == "Request #1 was cancelled by the team"
    queue = await mia.slash("mentor queue")
    assert queue.embed["description"] == "Nobody is waiting. 🎉"


def status_message_fr(sb, space: str) -> dict:
    return next(m for m in sb.channel(space).messages if "Demande d'aide n°" in m["content"])


async def test_cooldown_between_two_asks(start_sandbox):
    sb = await start_sandbox(
        {**CONFIG, "help": {"ask_cooldown_minutes": 5}}, rate_limits=FAST_CHANNELS
    )
    ana = await team(sb, "Owls", "ana")
    await ana.slash("help ask", topic="python", description="First question")
    await ana.slash("help cancel")
    wait = await ana.slash("help ask", topic="python", description="Second question")
    assert wait.text.startswith("Your team asked very recently: you can ask again <t:")
    assert "(in about 5 min)" in wait.text
    await sb.advance(minutes=5)
    assert (
        "position **1**"
        in (await ana.slash("help ask", topic="python", description="Third time")).text
    )


async def test_organisers_close_the_queue_with_a_message_and_reopen_it(start_sandbox):
    sb = await start_sandbox(CONFIG, rate_limits=FAST_CHANNELS)
    ana = await team(sb, "Owls", "ana")
    cid = await team(sb, "Foxes", "cid")
    org = await sb.add_member("org", roles=["Organiser"])
    await ana.slash("help ask", topic="python", description="Waiting already")
    closed = await org.slash(
        "admin help close", message="Mentors at lunch, back at 14:00 @everyone"
    )
    assert "1 request(s) still waiting stay in it; 1 team space(s) are being told" in closed.text
    for _ in range(100):  # the notice goes out through the broadcast engine
        notice = [m for m in sb.channel("owls").messages if m.get("embeds")]
        if notice:
            break
        await asyncio.sleep(0.05)
    assert notice[0]["embeds"][0]["description"] == "Mentors at lunch, back at 14:00 @everyone"
    assert sb.pinged(notice[0]) == NOBODY
    refused = await cid.slash("help ask", topic="python", description="Can we?")
    assert refused.text == (
        "The help queue is closed for now. The organisers say: Mentors at lunch, back at 14:00 @everyone"
    )
    with pytest.raises(PermissionError):  # Discord does not even show /admin to participants
        await cid.slash("admin help stats")
    opened = await org.slash("admin help open")
    assert opened.text == "The help queue is open again."
    assert (
        "position **2**"
        in (await cid.slash("help ask", topic="python", description="Open again?")).text
    )


async def test_a_team_in_a_private_thread_gets_its_mentor_added_and_removed(start_sandbox):
    sb = await start_sandbox(
        {**CONFIG, "formation": {"channel_headroom": 0}}, rate_limits=FAST_CHANNELS
    )
    for index in range(499 - len(sb.guild.guild_channels())):
        sb.server.create_channel(sb.guild, {"name": f"filler-{index}", "type": st.GUILD_TEXT})
    await sb.settle()
    ana = await team(sb, "Owls", "ana")
    space = sb.channel("owls")
    assert space.is_thread
    mia = await mentor(sb, "mia", "python")
    await ana.slash("help ask", topic="python", description="Thread team needs help")
    assert "Help request #1" in status_message(sb, "owls")["content"]
    await mia.click(card_of(sb, 1), "Claim")
    assert mia.id in space.thread_member_ids and sb.can_view(mia, space)
    await mia.click(card_of(sb, 1), "Resolve")
    assert mia.id not in space.thread_member_ids


async def test_a_claimed_cards_edit_overtakes_the_queues_other_edits(start_sandbox):
    """The mentor who claimed looks at the card next (Resolve, Release): its edit goes ahead
    of the queue channel's ordinary edits, even when Discord paces that channel's edits."""
    edits = "PATCH /channels/{channel_id}/messages/{message_id}"
    sb = await start_sandbox(
        CONFIG,
        rate_limits={"bucket_overrides": {**FAST_CHANNELS["bucket_overrides"], edits: (1, 1.0)}},
    )
    askers = [await team(sb, f"Team {i}", f"cap{i}") for i in range(6)]
    mia = await mentor(sb, "mia", "python")
    for asker in askers:
        reply = await asker.slash("help ask", topic="python", description="It breaks")
        assert "Request **#" in reply.text
    await sb.settle()
    assert await sb.bot.outbox.idle(within=30)
    queue = str(sb.channel("help-queue").id)
    done: list[str] = []  # the queue's card edits, in the order Discord carried them out

    def hook(route, call, _result) -> None:
        if route == edits and call.params["channel_id"] == queue:
            done.append(call.params["message_id"])

    sb.server.after_handled.append(hook)
    desk = desk_of(sb.bot)
    for number in range(2, 7):  # ordinary edits of the other cards, waiting their turn
        await desk.update_card(number)
    claimed = await mia.click(card_of(sb, 1), "Claim")
    assert "You took #1" in claimed.text
    card = str(card_of(sb, 1)["id"])
    assert await sb.bot.outbox.idle(within=30)
    assert card in done[:2], (card, done)  # after at most the one already on its way
    labels = [b["label"] for row in card_of(sb, 1)["components"] for b in row["components"]]
    assert labels == ["Resolve", "Still helping", "Release"]
