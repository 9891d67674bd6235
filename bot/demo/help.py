"""Mentor help in the demo: a team asks, exactly the right mentor is paged, two mentors
press Claim at the same instant, the winner joins the team's space, resolves, the team
rates; a second request waits, escalates on timers, survives a restart, and the organiser
reads the figures."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.demo.foundation import yes_no
from bot.i18n import t

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import SandboxMember


def _show_message(demo: Demo, reader: SandboxMember, message: dict) -> None:
    render = demo.renderer(reader)
    render.names.update({int(r["id"]): r["name"] for r in demo.sb.roles})
    for line in render.text(message.get("content") or "").splitlines():
        demo.out("│ " + line)
    for embed in message.get("embeds") or []:
        for line in render.embed(embed):
            demo.out(line)
    labels = [
        b.get("label", "")
        for row in message.get("components") or []
        for b in row.get("components") or []
    ]
    if labels:
        demo.out("│ " + "  ".join(f"[{label}]" for label in labels))


def _names(demo: Demo, ids: list) -> str:
    people = {str(m.id): m.display_name for m in demo.people.values()}
    return ", ".join(people.get(str(i), str(i)) for i in ids) or "-"


def _card(sb, number: int) -> dict:  # type: ignore[no-untyped-def]
    queue = sb.channel(sb.settings.channels.help_queue)
    return next(
        m
        for m in queue.messages
        if m.get("embeds")
        and m["embeds"][0].get("footer", {}).get("text", "").endswith(f" {number}")
    )


async def _someone_in_another_team(demo: Demo, team: str) -> SandboxMember:
    for key in ("léa", "omar", "tom", "inès", "yuki"):
        member = demo.people.get(key)
        if member is None:
            continue
        info = await member.slash("team info")
        if info.embed and info.embed.get("title") not in (None, team):
            return member
    return demo.people["sam"]


async def scene_help(demo: Demo) -> None:
    sb = demo.sb
    lang = sb.settings.event.language
    nadia, camille = demo.people["nadia"], demo.people["camille"]
    demo.heading("demo.scene.help")
    hugo = await sb.add_member("Hugo", roles=[sb.settings.roles.mentor], locale="fr")
    priya = await sb.add_member("Priya", roles=[sb.settings.roles.mentor], locale="en-GB")
    demo.people["hugo"], demo.people["priya"] = hugo, priya
    demo.say("demo.help.cast", hugo=hugo.display_name, priya=priya.display_name)
    demo.say("demo.help.open", who=nadia.display_name)
    await demo.slash(nadia, "admin phase override", what="help_queue", state="open")

    await demo.slash(hugo, "mentor skills", skills="python, données")
    await demo.slash(hugo, "mentor duty on")
    await priya.slash("mentor skills", skills="python, design")
    await priya.slash("mentor duty on")
    demo.interactions += 2
    demo.say("demo.help.priya_too", who=priya.display_name)

    await demo.slash(
        camille,
        "help ask",
        topic="python",
        description="Notre API renvoie une erreur 500 quand on charge les données des villages",
    )
    queue = sb.channel(sb.settings.channels.help_queue)
    card = _card(sb, 1)
    demo.say(
        "demo.help.card",
        channel="#" + queue.name,
        pinged=_names(demo, sb.pinged(card).get("users", [])),
        camille=camille.display_name,
        can_view=yes_no(sb.can_view(camille, queue), demo.lang),
    )
    _show_message(demo, hugo, card)
    space = sb.channel("les-herons")
    status = next(m for m in space.messages if "n°1" in m["content"])
    demo.say("demo.help.status", channel="#" + space.name)
    _show_message(demo, camille, status)

    demo.say("demo.help.race", hugo=hugo.display_name, priya=priya.display_name)
    first, second = await asyncio.gather(
        hugo.click(card, t("help.button.claim", lang)),
        priya.click(card, t("help.button.claim", lang)),
    )
    demo.interactions += 2
    demo.show(hugo, first)
    demo.show(priya, second)
    winner = hugo if first.text.startswith("Vous avez pris") else priya
    demo.say(
        "demo.help.access",
        who=winner.display_name,
        channel="#" + space.name,
        can_view=yes_no(sb.can_view(winner, space), demo.lang),
    )
    _show_message(demo, camille, space.messages[-1])

    await demo.advance(minutes=20)
    label = t("help.button.resolve", lang)
    done = await winner.click(_card(sb, 1), label)
    demo.interactions += 1
    demo.show(winner, done)
    demo.say(
        "demo.help.after",
        who=winner.display_name,
        channel="#" + space.name,
        can_view=yes_no(sb.can_view(winner, space), demo.lang),
    )
    rating = space.messages[-1]
    _show_message(demo, camille, rating)
    form = await camille.click(rating, "5 ★")
    demo.say("demo.help.rate", who=camille.display_name)
    thanks = await form.submit(
        {t("help.rate.comment_label", "fr"): "Hugo a trouvé la requête fautive en dix minutes."}
    )
    demo.interactions += 2
    demo.show(camille, thanks)

    # Another team asks about design: only Priya knows it and she does not answer. The
    # queue widens to Hugo, then calls the organisers; a restart in the middle loses nothing.
    asker = await _someone_in_another_team(demo, "Les Hérons")
    await demo.slash(
        asker,
        "help ask",
        topic="design",
        description="Notre maquette est illisible sur téléphone",
        where="table",
        details="12",
    )
    demo.say("demo.help.routed", pinged=_names(demo, sb.pinged(_card(sb, 2)).get("users", [])))
    demo.say("demo.help.restart")
    await sb.restart_bot()
    await demo.advance(minutes=10)
    demo.say("demo.help.wider")
    _show_message(demo, nadia, queue.messages[-1])
    await demo.advance(minutes=10)
    demo.say("demo.help.organisers")
    _show_message(demo, nadia, queue.messages[-1])
    claimed = await hugo.click(_card(sb, 2), t("help.button.claim", lang))
    demo.interactions += 1
    demo.show(hugo, claimed)

    await demo.slash(nadia, "admin help stats")
