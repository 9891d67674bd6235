"""The timeline scene: the event moves on by itself, reminders come once, an organiser
extends the deadline and broadcasts, and everything shows in #announcements."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.demo import Demo
    from sandbox import SandboxMember


class Feed:
    """Prints what appeared in the announcements channel since the last look."""

    def __init__(self, demo: Demo, reader: SandboxMember) -> None:
        self.demo = demo
        self.reader = reader
        self.channel = demo.sb.channel(demo.sb.settings.channels.announcements)
        self.seen = {m["id"] for m in self.channel.messages}

    def show(self) -> int:
        demo = self.demo
        render = demo.renderer(self.reader)
        render.names.update({int(role["id"]): role["name"] for role in demo.sb.roles})
        fresh = [m for m in self.channel.messages if m["id"] not in self.seen]
        for message in fresh:
            self.seen.add(message["id"])
            demo.say("demo.timeline.posted", channel="#" + self.channel.name)
            for line in render.text(message.get("content") or "").splitlines():
                demo.out("│ " + line)
            for embed in message.get("embeds") or []:
                for line in render.embed(embed):
                    demo.out(line)
        if not fresh:
            demo.say("demo.timeline.nothing_posted", channel="#" + self.channel.name)
        return len(fresh)


async def scene_timeline(demo: Demo) -> None:
    sb = demo.sb
    camille, nadia = demo.people["camille"], demo.people["nadia"]
    demo.heading("demo.scene.timeline")
    await demo.slash(camille, "schedule")

    channel = sb.channel(sb.settings.channels.announcements)
    if channel.pins:
        demo.say("demo.timeline.countdown", channel="#" + channel.name)
        render = demo.renderer(camille)
        for embed in channel.pins[0].get("embeds") or []:
            for line in render.embed(embed):
                demo.out(line)
    demo.say("demo.timeline.events", count=len(sb.scheduled_events))

    feed = Feed(demo, camille)
    await demo.advance(hours=1)  # Hacking starts
    feed.show()
    await demo.advance(hours=16)  # 24 hours before the submission deadline
    feed.show()

    demo.say("demo.timeline.extend_intro", who=nadia.display_name)
    await demo.slash(nadia, "admin phase extend", minutes=30)
    feed.show()

    await demo.advance(hours=23, minutes=30)  # 1 hour before the new deadline
    feed.show()
    # 15 minutes before, to the second: the reminder reads "in 15 minutes" however long the
    # demo took so far.
    hacking = next(p for p in sb.settings.phases if p.key == "hacking")
    assert hacking.end is not None
    extended = hacking.end + timedelta(minutes=30)
    await demo.advance_to(extended - timedelta(minutes=15, seconds=-1), told=timedelta(minutes=45))
    feed.show()
    await demo.advance(minutes=15)  # the deadline: hacking ends, judging starts
    feed.show()

    demo.heading("demo.scene.broadcast")
    demo.say("demo.timeline.broadcast_intro", who=nadia.display_name)
    opened = await nadia.slash("admin broadcast", to="participants")
    demo.interactions += 1
    preview = await nadia.submit_modal(
        opened,
        {
            "Titre": "Les démos commencent dans la grande salle",
            "Message": "Chaque équipe a 3 minutes. Ordre de passage épinglé dans vos salons.",
        },
    )
    demo.interactions += 1
    demo.show(nadia, preview)
    done = await preview.click("Envoyer")
    demo.interactions += 1
    # The fan-out runs in the background (its progress edits the organiser's message):
    # let it finish before showing the final report.
    from cogs.broadcasts import runner_of

    fanouts = list(runner_of(sb.bot).tasks.values())
    await asyncio.gather(*fanouts, return_exceptions=True)
    await sb.settle()
    demo.show(nadia, done)
    feed.show()
