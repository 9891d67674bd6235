"""Registration and teams in the demo: people register, a team forms through a join
request, and the organiser places everyone left with automatic matching."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.demo.foundation import yes_no
from bot.i18n import t

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import Reply, SandboxMember

# Extra participants (name, locale, profile type value) who register off-stage.
CROWD = [
    ("Léa", "fr", "design"),
    ("Omar", "fr", "developer"),
    ("Inès", "fr", "domain expert"),
    ("Tom", "en-GB", "developer"),
    ("Yuki", "en-GB", "data"),
]


def _labels(reply: Reply) -> list[str]:
    return [c.get("label") for c in reply.modal["components"]]


def form_values(
    demo: Demo,
    member: SandboxMember,
    form: Reply,
    *,
    types: list[str],
    languages: list[str],
    skills: str,
) -> dict[str, object]:
    """The registration form's answers, by label, as this member reads it (their language)."""
    from cogs.teams.cards import language_label, profile_type_label

    lang = "fr" if member.locale.startswith("fr") else "en"
    return dict(
        zip(
            _labels(form),
            [
                member.display_name,
                [profile_type_label(x, lang) for x in types],
                [language_label(x, lang) for x in languages],
                [demo.sb.settings.event.timezone],
                skills,
            ],
            strict=True,
        )
    )


async def _fill_registration(
    demo: Demo,
    member: SandboxMember,
    *,
    types: list[str],
    languages: list[str],
    skills: str,
    show: bool,
) -> Reply:
    """Open /register and fill the form as this member reads it (their language)."""
    form = await (demo.slash(member, "register") if show else member.slash("register"))
    if show:
        demo.say("demo.teams.form", who=member.display_name, fields=", ".join(_labels(form)))
    done = await form.submit(
        form_values(demo, member, form, types=types, languages=languages, skills=skills)
    )
    demo.interactions += 1
    if show:
        demo.show(member, done)
    return done


async def scene_register(demo: Demo) -> None:
    sb = demo.sb
    camille, sam = demo.people["camille"], demo.people["sam"]
    demo.heading("demo.scene.register")
    await _fill_registration(
        demo,
        camille,
        types=["domain expert", "product"],
        languages=["fr"],
        skills="santé publique, animation d'ateliers",
        show=True,
    )
    demo.say(
        "demo.teams.role",
        who=camille.display_name,
        role=sb.settings.roles.participant,
        has=yes_no(camille.has_role(sb.settings.roles.participant), demo.lang),
    )
    await _fill_registration(
        demo, sam, types=["developer"], languages=["en", "fr"], skills="python, react", show=False
    )
    for name, locale, kind in CROWD:
        member = await sb.add_member(name, locale=locale)
        demo.people[name.lower()] = member
        await _fill_registration(
            demo,
            member,
            types=[kind],
            languages=["fr"] if locale == "fr" else ["en", "fr"],
            skills="",
            show=False,
        )
    demo.say(
        "demo.teams.crowd",
        sam=sam.display_name,
        count=len(CROWD),
        names=", ".join(n for n, _, _ in CROWD),
    )


async def scene_teams(demo: Demo) -> None:
    sb = demo.sb
    nadia, camille, sam = demo.people["nadia"], demo.people["camille"], demo.people["sam"]
    lea = demo.people["léa"]
    demo.heading("demo.scene.teams")
    demo.say("demo.teams.open", who=nadia.display_name)
    await demo.slash(nadia, "admin phase override", what="new_teams", state="open")
    await demo.slash(nadia, "admin phase override", what="team_changes", state="open")

    await demo.slash(
        camille,
        "team create",
        name="Les Hérons",
        description="Un médecin à portée de clic pour les villages",
    )
    space = sb.channel("les-herons")
    demo.say(
        "demo.teams.space",
        channel="#" + space.name,
        category=sb.channel(space.parent).name if space.parent else "-",
        camille=camille.display_name,
        can_send=yes_no(sb.can_send(camille, space), demo.lang),
        lea=lea.display_name,
        can_view=yes_no(sb.can_view(lea, space), demo.lang),
    )

    await demo.slash(sam, "team join", team="Les Hérons")
    card = space.messages[-1]
    demo.say("demo.teams.request_card", who=camille.display_name, channel="#" + space.name)
    for line in demo.renderer(camille).text(card["content"]).splitlines():
        demo.out("│ " + line)
    answer = await camille.click(card, t("teams.button.accept", sb.settings.event.language))
    demo.interactions += 1
    demo.show(camille, answer)
    demo.say(
        "demo.teams.sam_in",
        who=sam.display_name,
        channel="#" + space.name,
        can_send=yes_no(sb.can_send(sam, space), demo.lang),
    )

    await demo.slash(lea, "lft")
    board = sb.channel(sb.settings.formation.board_channel)
    demo.say("demo.teams.board", channel="#" + board.name, buttons=", ".join(_buttons(board)))

    preview = await demo.slash(nadia, "admin teams autoform")
    demo.say("demo.teams.confirm", who=nadia.display_name)
    await preview.click(t("autoform.button.go", "fr"))
    demo.interactions += 1
    for _ in range(600):  # the spaces are created in the background at Discord's pace
        if preview.message["content"].startswith(("Terminé", "Done")):
            break
        await asyncio.sleep(0.1)
    demo.show(nadia, preview)
    for member in (lea, demo.people["omar"], demo.people["tom"]):
        info = await member.slash("team info")
        demo.interactions += 1
        demo.say("demo.teams.placed", who=member.display_name, team=info.embed["title"])


def _buttons(board) -> list[str]:  # type: ignore[no-untyped-def]
    message = board.messages[-1]
    return [
        b.get("label", "")
        for row in message.get("components") or []
        for b in row.get("components") or []
    ]
