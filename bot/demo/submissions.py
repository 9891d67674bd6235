"""Submissions, judging and the winners' announcement in the demo: a last hour to
submit, a project submitted with its preview, receipt and gallery post, judges scoring
with menus, the organiser's view of the judging, winners, a ceremony revealing them one
by one, and the CSV export."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.services import teams as team_service

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import Reply, SandboxMember

PROJECTS = {
    "Les Hérons": (
        "MédecinClic",
        "Un médecin à portée de clic pour les villages",
        "Une borne de téléconsultation pour les mairies rurales, avec prise de rendez-vous "
        "et rappel par SMS.",
        "https://github.com/les-herons/medecinclic",
    ),
}
OTHER_PITCHES = [
    ("BusFacile", "Les horaires de bus du canton dans une seule carte"),
    ("Potager Partagé", "Les jardins partagés de la ville, leurs parcelles et leurs outils"),
    ("Repair Café", "Trouver où faire réparer un objet plutôt que le jeter"),
]


def _form_values(reply: Reply, values: list[str]) -> dict[str, str]:
    labels = [row["components"][0]["label"] for row in reply.modal["components"]]
    return dict(zip(labels, values, strict=False))


async def _submit_off_stage(demo: Demo, member: SandboxMember, values: list[str]) -> None:
    opened = await member.slash("submit")
    preview = await member.submit_modal(opened, _form_values(opened, values))
    await preview.click(preview.buttons[0])
    demo.interactions += 3


async def _score_card(demo: Demo, judge: SandboxMember, card: Reply, score: int) -> Reply:
    for row in card.components:
        item = row["components"][0]
        if item.get("type") == 3:  # one menu per criterion
            option = item["options"][min(score, len(item["options"])) - 1]
            card = await card.select(item["custom_id"], [option["value"]])
            demo.interactions += 1
    saved = await card.click(card.buttons[0])
    demo.interactions += 1
    return saved


async def scene_submissions(demo: Demo) -> None:
    sb = demo.sb
    nadia, camille = demo.people["nadia"], demo.people["camille"]
    demo.heading("demo.scene.submissions")
    demo.say("demo.submissions.reopen", who=nadia.display_name)
    await demo.slash(nadia, "admin phase override", what="submissions", state="open")

    title, pitch, description, repo = PROJECTS["Les Hérons"]
    opened = await demo.slash(camille, "submit")
    labels = [row["components"][0]["label"] for row in opened.modal["components"]]
    demo.say("demo.submissions.form", who=camille.display_name, fields=", ".join(labels))
    preview = await camille.submit_modal(
        opened, _form_values(opened, [title, pitch, description, "javascript:alert(1)", ""])
    )
    demo.interactions += 1
    demo.say("demo.submissions.bad_link", who=camille.display_name)
    demo.show(camille, preview)
    fixed = await preview.click(preview.buttons[0])
    preview = await camille.submit_modal(
        fixed, _form_values(fixed, [title, pitch, description, repo, ""])
    )
    demo.interactions += 2
    demo.show(camille, preview)
    done = await preview.click(preview.buttons[0])
    demo.interactions += 1
    await sb.settle()
    demo.show(camille, done)

    space = sb.channel("les-herons")
    demo.say("demo.submissions.receipt", channel="#" + space.name)
    render = demo.renderer(camille)
    receipt = space.messages[-1]
    for line in render.text(receipt["content"]).splitlines():
        demo.out("│ " + line)
    gallery = sb.channel(sb.settings.submissions.gallery_forum)
    demo.say("demo.submissions.gallery", channel="#" + gallery.name, count=len(gallery.threads))

    # The other teams submit too (off stage), each from one of its members.
    async with sb.bot.db.read() as session:
        teams = [team for team in await _active_teams(session) if team.name != "Les Hérons"]
        members = {
            team.id: await team_service.member_discord_ids(session, team.id) for team in teams
        }
    people = {int(m.id): m for m in demo.people.values()}
    submitted = 1
    for (name, tagline), team in zip(OTHER_PITCHES, teams, strict=False):
        author = next((people[i] for i in members[team.id] if i in people), None)
        if author is None:
            continue
        slug = name.lower().replace(" ", "-").replace("é", "e")
        await _submit_off_stage(
            demo,
            author,
            [
                name,
                tagline,
                f"{tagline}. Projet né pendant le hackathon.",
                f"https://github.com/{slug}/app",
                "",
            ],
        )
        submitted += 1
    await sb.settle()
    demo.say("demo.submissions.others", count=submitted, posts=len(gallery.threads))
    await demo.slash(nadia, "admin phase override", what="submissions", state="auto")

    demo.heading("demo.scene.judging")
    judges = []
    for name in ("Alice", "Bruno"):
        member = await sb.add_member(name, roles=[sb.settings.roles.judge], locale="fr")
        demo.people[name.lower()] = member
        judges.append(member)
    alice = judges[0]
    card = await demo.slash(alice, "judge next")
    demo.say("demo.judging.card", who=alice.display_name)
    for index, judge in enumerate(judges):
        card = card if index == 0 else await judge.slash("judge next")
        rounds = 0
        while card.buttons and rounds < 10:
            # Both prefer MédecinClic; Bruno is the harsher of the two.
            best = bool(card.embed and card.embed.get("title") == "MédecinClic")
            card = await _score_card(demo, judge, card, (5 if best else 3) - index)
            rounds += 1
        if index == 0:
            demo.show(alice, card)
    demo.say("demo.judging.done", judges=", ".join(j.display_name for j in judges))
    await demo.slash(nadia, "admin judging status")

    demo.heading("demo.scene.ceremony")
    preview = await demo.slash(nadia, "admin judging winners")
    saved = await preview.click(preview.buttons[0])
    demo.interactions += 1
    demo.show(nadia, saved)
    news = sb.channel(sb.settings.channels.announcements)
    seen = {m["id"] for m in news.messages}
    ceremony = await demo.slash(nadia, "admin judging ceremony", interval=20)
    started = await ceremony.click(ceremony.buttons[0])
    demo.interactions += 1
    demo.show(nadia, started)
    for _ in range(6):
        await sb.settle()
        render = demo.renderer(nadia)
        fresh = [m for m in news.messages if m["id"] not in seen]
        for message in fresh:
            seen.add(message["id"])
            demo.say("demo.ceremony.posted", channel="#" + news.name)
            for line in render.text(message.get("content") or "").splitlines():
                demo.out("│ " + line)
            for embed in message.get("embeds") or []:
                for line in render.embed(embed):
                    demo.out(line)
        if not fresh and _over(news):
            break
        await demo.advance(seconds=20)

    export = await demo.slash(nadia, "admin export")
    demo.say(
        "demo.ceremony.export",
        files=", ".join(a["filename"] for a in export.message["attachments"]),
    )


def _over(news) -> bool:  # type: ignore[no-untyped-def]
    reveals = [m for m in news.messages if (m.get("content") or "").startswith("🏆")]
    if not reveals:
        return False
    head = reveals[-1]["content"].split("·")[0]
    parts = [p for p in head.split() if p.isdigit()]
    return len(parts) >= 2 and parts[0] == parts[1]


async def _active_teams(session):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.models.teams import Team

    return list(
        (
            await session.scalars(select(Team).where(Team.archived_at.is_(None)).order_by(Team.id))
        ).all()
    )
