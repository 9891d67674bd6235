"""The timeline on Discord (cogs/timeline/sync.py): the countdown pinned in the announcements
channel, and the scheduled events mirroring the phases. Both are put back by the timeline's
own refresh, once the database no longer points at what was deleted or edited by hand."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

import discord

from bot.services import event as event_service
from bot.services import outbox
from bot.services import repair as service
from bot.services.repair import Fix
from cogs.repair.registry import reason
from cogs.timeline import render, sync

if TYPE_CHECKING:
    from bot.app import HackBot
    from cogs.timeline import Timeline

log = logging.getLogger(__name__)

COMPLETED, CANCELED = 3, 4
#: How long the repair waits for the scheduled events it has the outbox make again, to
#: report them made (seconds).
EVENT_WAIT_S = 30.0


def _timeline(bot: HackBot) -> Timeline | None:
    return bot.get_cog("Timeline")  # type: ignore[return-value]


async def _countdown_state(bot: HackBot) -> dict:
    async with bot.db.read() as session:
        return await event_service.get_state(session, sync.COUNTDOWN_KEY) or {}


async def check_countdown(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """The countdown the timeline posted is still there and pinned."""
    cog = _timeline(bot)
    channel = sync.announcements_channel(bot)
    if not bot.settings.timeline.countdown or cog is None or channel is None:
        return []
    state = await _countdown_state(bot)
    if not state.get("message_id"):
        return []  # never posted yet: the timeline posts it, nothing to restore
    message_id = state["message_id"] if state.get("channel_id") == channel.id else None
    if message_id:
        try:
            message = await channel.fetch_message(message_id)
        except discord.NotFound:
            message = None
        if message is not None:
            if message.pinned:
                return []
            pin = outbox.message_pin(channel.id, message.id, reason=reason(bot))
            async with bot.db.begin() as session:
                await outbox.enqueue(session, bot.clock.now(), pin)
            return [Fix("countdown_pinned", {"channel": channel.mention})]
    await cog.refresh()  # posts and pins it again (under the timeline's own lock)
    after = await _countdown_state(bot)
    if after.get("channel_id") == channel.id and after.get("message_id") != message_id:
        return [Fix("countdown_posted", {"channel": channel.mention})]
    return []


def _moved(event: discord.ScheduledEvent, starts_at: datetime) -> bool:
    return abs((event.start_time - starts_at).total_seconds()) >= 1


def _same_text(shown: str | None, wanted: str) -> bool:
    """Equal but for spacing (so a server-side trim is never taken for an edit)."""
    return " ".join((shown or "").split()) == " ".join(wanted.split())


async def check_events(bot: HackBot, guild: discord.Guild) -> list[Fix]:
    """Each phase's scheduled event exists and shows the phase (name, description, start)."""
    cog = _timeline(bot)
    if not bot.settings.timeline.scheduled_events or cog is None:
        return []
    lang = bot.settings.event.language
    async with bot.db.read() as session:
        mirrors = await service.live_mirrors(session)
        phases = {phase.key: phase for phase in await event_service.timeline(session)}
    if not mirrors:
        return []
    events = {event.id: event for event in await guild.fetch_scheduled_events(with_counts=False)}
    gone, edited = [], []
    for mirror in mirrors:
        phase = phases.get(mirror.phase_key)
        if phase is None:
            continue
        event = events.get(mirror.event_id)
        if event is None or event.status.value == CANCELED:
            gone.append((mirror, phase))
        elif event.status.value == COMPLETED:
            continue  # ended by hand: the timeline ends it anyway when the phase ends
        elif (
            event.name != phase.name[:100]
            or not _same_text(event.description, render.event_description(phase, lang))
            or (mirror.status == "scheduled" and _moved(event, phase.starts_at))
        ):
            edited.append((mirror, phase))
    if not gone and not edited:
        return []
    async with bot.db.begin() as session:
        for mirror, _ in gone:
            await service.forget_mirror(session, mirror.phase_id)
        for mirror, _ in edited:
            await service.mark_mirror_stale(session, mirror.phase_id)
    await cog.refresh()  # creates or edits them (under the timeline's own lock)
    # The outbox makes them: the report says what Discord shows (a few seconds' wait).
    async with bot.db.read() as session:
        making = [
            write_id
            for mirror, _ in gone
            for write_id in await outbox.unfinished(session, sync.event_key(mirror.phase_id))
        ]
    await bot.outbox.wait(making, within=EVENT_WAIT_S)
    async with bot.db.read() as session:
        after = await service.mirror_ids(session)
    fixes = []
    for mirror, phase in gone:
        if mirror.phase_id in after:
            fixes.append(Fix("event_recreated", {"phase": phase.name}))
    for mirror, phase in edited:
        if after.get(mirror.phase_id, (0, ""))[1]:
            fixes.append(Fix("event_restored", {"phase": phase.name}))
    return fixes
