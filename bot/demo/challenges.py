"""The funnel's scene: problems are collected, curated, and become a challenge with its channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.demo.foundation import yes_no

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import Reply, SandboxMember


def _fields(reply: Reply) -> list[str]:
    return [row["components"][0]["label"] for row in reply.modal["components"]]


async def _describe(demo: Demo, member: SandboxMember, title: str, problem: str, who: str) -> Reply:
    form = await demo.slash(member, "problem submit")
    labels = _fields(form)
    demo.say("demo.challenges.fills_form", who=member.display_name, title=title)
    done = await form.submit(dict(zip(labels, [title, problem, who, ""], strict=True)))
    demo.interactions += 1
    demo.show(member, done)
    return done


async def scene_funnel(demo: Demo) -> None:
    sb = demo.sb
    nadia, camille, sam = demo.people["nadia"], demo.people["camille"], demo.people["sam"]
    demo.heading("demo.scene.funnel")
    participant = sb.settings.roles.participant
    for member in (camille, sam):  # registered (the registration scene gives them the role)
        if not member.has_role(participant):
            await member.add_role(participant)
    demo.say("demo.challenges.open", who=nadia.display_name)
    await demo.slash(nadia, "admin phase override", what="problem_collection", state="open")

    await _describe(
        demo,
        camille,
        "Les aînés isolés n'accèdent plus aux soins",
        "Dans les villages, les personnes âgées isolées n'ont plus de médecin à proximité "
        "et renoncent à se soigner.",
        "Les personnes âgées en zone rurale",
    )
    await _describe(
        demo,
        sam,
        "Soins des personnes âgées isolées",
        "Isolated elderly people in villages cannot reach a doctor: les personnes âgées "
        "renoncent aux soins.",
        "Elderly people",
    )
    forum = sb.channel(sb.settings.problems.forum)
    posts = [t for t in sb.threads if t.parent is not None and t.parent.id == forum.id]
    demo.say("demo.challenges.forum", forum="#" + forum.name, count=len(posts))
    first = posts[0].messages[0]
    support = await sam.click(first, custom_id=first["components"][0]["components"][0]["custom_id"])
    demo.interactions += 1
    demo.say("demo.challenges.supports", who=sam.display_name)
    demo.show(sam, support.followups[0] if support.followups else support)

    demo.say("demo.challenges.review", who=nadia.display_name)
    review = await demo.slash(nadia, "admin problem review")
    review = await review.click(review.buttons[0])  # Accept
    demo.interactions += 1
    demo.say("demo.challenges.accepts", who=nadia.display_name)
    demo.show(nadia, review)
    duplicate = next(c for c in review.message["components"] if c["components"][0]["type"] == 3)
    review = await review.select(
        duplicate["components"][0]["placeholder"],
        [duplicate["components"][0]["options"][0]["value"]],
    )
    demo.interactions += 1
    demo.say("demo.challenges.duplicate", who=nadia.display_name)
    demo.show(nadia, review)

    demo.say("demo.challenges.promote", who=nadia.display_name)
    form = await demo.slash(
        nadia,
        "admin challenge add",
        name="Santé des aînés isolés",
        summary="Rapprocher les soins des personnes âgées des villages",
        sponsor="Agence régionale de santé",
        mentor_skills="santé publique, télémédecine, design de service",
        problems="1",
    )
    labels = _fields(form)
    created = await form.submit(
        {labels[2]: "Relier les aînés isolés aux soignants : transport, téléconsultation, voisins."}
    )
    demo.interactions += 1
    demo.show(nadia, created)
    home = sb.channel("sante-des-aines-isoles")
    demo.say(
        "demo.challenges.home",
        channel="#" + home.name,
        category=home.parent.name if home.parent else "-",
        pins=len(home.pins),
        role=yes_no(sb.has_role("Santé des aînés isolés"), demo.lang),
    )
    await demo.slash(nadia, "admin problem stats")
    listing = sorted(home.pins, key=lambda m: int(m["id"]))[-1]
    for line in demo.renderer(sam).embed(listing["embeds"][0]):
        demo.out(line)
    info = await demo.slash(sam, "challenge info", challenge="Santé des aînés isolés")
    followed = await info.click(info.buttons[0])
    demo.interactions += 1
    demo.show(sam, followed)
    await demo.slash(nadia, "admin phase override", what="problem_collection", state="auto")
