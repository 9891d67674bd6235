"""``hackbot demo``: the real bot against the local sandbox, with simulated people.

It starts the local Discord, runs the unmodified bot against it, plays an event
compressed into a few minutes and prints what each person sees, then a summary
with the figures. Each feature adds its scene (a module in ``bot/demo/``) to
:func:`scenes`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from bot.clock import utcnow
from bot.i18n import t
from bot.transcript import Renderer

if TYPE_CHECKING:
    from sandbox import Reply, Sandbox, SandboxMember


def demo_config(now) -> dict[str, Any]:
    """A 48-hour civic hackathon in Paris; registration opened an hour ago."""

    def at(hours: float) -> str:
        return (now + timedelta(hours=hours)).isoformat(timespec="seconds")

    return {
        "event": {"name": "Hack'n'Town 2026", "timezone": "Europe/Paris", "language": "fr"},
        "roles": {
            "organiser": "Orga",
            "mentor": "Mentor",
            "judge": "Jury",
            "participant": "Participant",
        },
        "channels": {"announcements": "annonces", "organisers": "orga", "help_queue": "aide"},
        "phases": [
            {
                "key": "registration",
                "name": "Inscriptions",
                "start": at(-1),
                "end": at(2),
                "opens": ["registration"],
            },
            {
                "key": "teams",
                "name": "Formation des équipes",
                "start": at(2),
                "end": at(4),
                "opens": ["new_teams", "team_changes"],
            },
            {
                "key": "hacking",
                "name": "Hacking",
                "start": at(4),
                "end": at(44),
                "opens": ["team_changes", "help_queue", "submissions"],
            },
            {
                "key": "judging",
                "name": "Jury",
                "start": at(44),
                "end": at(47),
                "opens": ["judging"],
            },
            {"key": "ceremony", "name": "Remise des prix", "start": at(47), "end": at(48)},
        ],
    }


@dataclass
class Demo:
    sb: Sandbox
    lang: str
    out: Callable[[str], None] = print
    interactions: int = 0
    scene_number: int = 0
    people: dict[str, SandboxMember] = field(default_factory=dict)

    def say(self, key: str, **params: Any) -> None:
        self.out(t(key, self.lang, **params))

    def heading(self, key: str, *, numbered: bool = True, **params: Any) -> None:
        """A scene's title; scenes are numbered in the order they play."""
        title = t(key, self.lang, **params)
        if numbered:
            self.scene_number += 1
            title = f"{self.scene_number}. {title}"
        self.out("")
        self.out(title)
        self.out("─" * len(title))

    def renderer(self, member: SandboxMember) -> Renderer:
        names = {m.id: m.display_name for m in self.people.values()}
        names.update({int(c.id): c.name for c in [*self.sb.channels, *self.sb.threads]})
        reader = "fr" if (member.locale or "").startswith("fr") else "en"
        return Renderer(reader, self.sb.settings.event.tz, self.sb.clock.now(), names)

    async def slash(self, member: SandboxMember, path: str, **options: Any) -> Reply:
        from bot.commands_meta import localized_path

        reader = "fr" if (member.locale or "").startswith("fr") else "en"
        self.say("demo.types", who=member.display_name, command="/" + localized_path(path, reader))
        reply = await member.slash(path, **options)
        self.interactions += 1
        self.show(member, reply)
        return reply

    def show(self, member: SandboxMember, reply: Reply) -> None:
        render = self.renderer(member)
        if reply.ephemeral:
            self.say("demo.only_they_see", who=member.display_name)
        if reply.text:
            for line in render.text(reply.text).splitlines():
                self.out("│ " + line)
        for embed in reply.embeds:
            for line in render.embed(embed):
                self.out(line)
        if reply.buttons:
            self.out("│ " + "  ".join(f"[{label}]" for label in reply.buttons))

    async def advance(self, **delta: float) -> None:
        await self.sb.advance(**delta)
        from bot.transcript import duration

        self.say("demo.time_passes", amount=duration(timedelta(**delta).total_seconds(), self.lang))

    async def advance_to(self, moment: datetime, told: timedelta) -> None:
        """Move the clock to ``moment`` exactly, narrated as ``told`` later: the real seconds
        the demo has taken so far (the clock runs between jumps) do not shift the story."""
        from bot.transcript import duration

        jump = max(0.0, (moment - self.sb.clock.now()).total_seconds())
        await self.sb.advance(seconds=jump)
        self.say("demo.time_passes", amount=duration(told.total_seconds(), self.lang))


Scene = Callable[[Demo], Awaitable[None]]


def scenes() -> list[Scene]:
    """The story, in order. A feature adds its module in ``bot/demo/`` and one line here."""
    from bot.demo import challenges, foundation, help, rush, submissions, teams, timeline

    return [
        foundation.scene_setup,
        teams.scene_register,
        rush.scene_rush,
        foundation.scene_about,
        timeline.scene_timeline,
        challenges.scene_funnel,
        teams.scene_teams,
        help.scene_help,
        submissions.scene_submissions,
    ]


async def run_demo(
    lang: str = "en", out: Callable[[str], None] = print, verbose: bool = False
) -> int:
    from bot.demo.rush import rate_limits
    from sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="hackbot-demo-") as tmp:
        out(t("demo.starting", lang))
        async with Sandbox.start(
            config=demo_config(utcnow()), tmp_path=Path(tmp), rate_limits=rate_limits()
        ) as sb:
            demo = Demo(sb, lang, out)
            demo.people["nadia"] = await sb.add_member(
                "Nadia", roles=[sb.settings.roles.organiser], locale="fr"
            )
            demo.people["camille"] = await sb.add_member("Camille", locale="fr")
            demo.people["sam"] = await sb.add_member("Sam", locale="en-GB")
            demo.heading("demo.cast.title", numbered=False)
            demo.say("demo.cast.nadia")
            demo.say("demo.cast.camille")
            demo.say("demo.cast.sam")
            for scene in scenes():
                await scene(demo)
            trips = sb.server.interactions.round_trips
            stats = sb.rate_limiter.stats
            demo.heading("demo.summary.title", numbered=False)
            demo.say(
                "demo.summary.figures",
                interactions=demo.interactions,
                median=f"{median(trips) * 1000:.0f}" if trips else "-",
                worst=f"{max(trips) * 1000:.0f}" if trips else "-",
                missed=len(sb.missed_deadlines),
                requests=stats.get("requests", 0),
                limited=stats.get("rate_limited", 0),
                refused=len(sb.violations),
            )
            failed = bool(sb.missed_deadlines or sb.unexpected_violations())
        out(t("demo.failed" if failed else "demo.ok", lang))
        return 1 if failed else 0
