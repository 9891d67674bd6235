"""The foundation's scenes: the bot arrives, a newcomer asks where things stand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.i18n import t

if TYPE_CHECKING:
    from bot.demo import Demo


def yes_no(value: bool, lang: str) -> str:
    return t("demo.yes" if value else "demo.no", lang)


def number(value: float, lang: str) -> str:
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


async def scene_setup(demo: Demo) -> None:
    sb, lang = demo.sb, demo.lang
    roles, channels = sb.settings.roles, sb.settings.channels
    demo.heading("demo.scene.setup")
    demo.say("demo.setup.ready", seconds=number(sb.startup_s or 0, lang), commands=len(sb.commands))
    made_roles = [
        name
        for name in (roles.organiser, roles.mentor, roles.judge, roles.participant)
        if sb.has_role(name)
    ]
    made_channels = [
        "#" + name for name in (channels.announcements, channels.organisers) if sb.has_channel(name)
    ]
    demo.say("demo.setup.created", roles=", ".join(made_roles), channels=", ".join(made_channels))
    org, camille = demo.people["nadia"], demo.people["camille"]
    demo.say(
        "demo.setup.access",
        announcements="#" + channels.announcements,
        organisers="#" + channels.organisers,
        camille=camille.display_name,
        can_send=yes_no(sb.can_send(camille, channels.announcements), lang),
        can_view=yes_no(sb.can_view(camille, channels.organisers), lang),
        org=org.display_name,
        org_view=yes_no(sb.can_view(org, channels.organisers), lang),
    )


async def scene_about(demo: Demo) -> None:
    demo.heading("demo.scene.about")
    await demo.slash(demo.people["camille"], "about")
    await demo.advance(hours=3)
    await demo.slash(demo.people["sam"], "about")
