"""Keeping Discord in step with the timeline: the pinned countdown and the scheduled events.

Both are idempotent and cheap: the countdown message is edited only when what
it shows changes (its Discord timestamps count down by themselves) and is
re-created if someone deleted it; each phase's scheduled event is created
once (its id is stored), edited only when the phase changed, started when the
phase starts and ended when it ends. At most ``[timeline]
scheduled_events_max`` events that have not ended exist at a time (Discord
allows 100 per server), the nearest phases first.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy import select

from bot.i18n import t
from bot.models import Phase, PhaseMirror
from bot.services import event as event_service
from bot.services import outbox, timeline
from cogs.timeline import render

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.app import HackBot

log = logging.getLogger(__name__)

COUNTDOWN_KEY = "timeline.countdown"
# An open-ended last phase still needs an end on Discord (external events require one).
OPEN_END = timedelta(hours=2)
# Discord refuses a start in the past: a phase already running (or starting within this margin,
# the outbox sending the creation a moment later) is created just ahead, then started.
START_MARGIN = timedelta(minutes=1)
MAX_SCHEDULED_EVENTS = 30038

SCHEDULED, ACTIVE, COMPLETED = 1, 2, 3


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def announcements_channel(bot: HackBot) -> discord.TextChannel | None:
    guild = bot.event_guild
    if guild is None:
        return None
    return discord.utils.get(guild.text_channels, name=bot.settings.channels.announcements)


#: The outbox's done handler that records the countdown once Discord posted it.
COUNTDOWN_POSTED = "timeline.countdown_posted"
#: How long a refresh waits for a new countdown to be posted (it is background work: the
#: wait keeps a second refresh from posting another one meanwhile).
POST_WAIT_S = 60.0


async def refresh_countdown(bot: HackBot) -> str:
    """Create, re-create or edit the pinned countdown, through the outbox. Returns what it
    did (for logs and tests): off, no-channel, unchanged, edited, created, posting (a post
    still on its way), error."""
    if not bot.settings.timeline.countdown:
        return "off"
    channel = announcements_channel(bot)
    if channel is None:
        log.warning("no #%s channel for the countdown", bot.settings.channels.announcements)
        return "no-channel"
    lang = bot.settings.event.language
    async with bot.db.read() as session:
        overview = await event_service.overview(session, bot.settings, bot.clock.now())
        state = await event_service.get_state(session, COUNTDOWN_KEY) or {}
    embed = render.countdown_embed(overview, lang)
    wanted = digest(embed.to_dict())
    same_channel = state.get("channel_id") == channel.id
    if same_channel and state.get("posting") and bot.outbox.pending(state["posting"]):
        return "posting"
    message_id = state.get("message_id") if same_channel else None
    if message_id:
        if state.get("digest") == wanted:
            try:
                await channel.fetch_message(message_id)  # still there?
                return "unchanged"
            except discord.NotFound:
                log.info("the countdown message was deleted: posting it again")
            except discord.HTTPException:
                log.warning("could not look for the countdown message", exc_info=True)
                return "error"
        else:
            # Edited once, as last written, however often the timeline changes meanwhile.
            edit = outbox.message_edit(channel.id, message_id, embeds=[embed.to_dict()])
            async with bot.db.begin() as session:
                await outbox.enqueue(session, bot.clock.now(), edit)
                await _save_countdown(session, channel.id, message_id, wanted)
            return "edited"
    post = outbox.message_send(
        channel.id, embeds=[embed.to_dict()], on_done=COUNTDOWN_POSTED, ref={"digest": wanted}
    )
    async with bot.db.begin() as session:
        (stored,) = await outbox.enqueue_many(session, bot.clock.now(), [post])
        assert stored.queued is not None
        await event_service.set_state(
            session, COUNTDOWN_KEY, {"channel_id": channel.id, "posting": stored.queued.id}
        )
    await bot.outbox.wait([stored.queued.id], within=POST_WAIT_S)
    return "posting" if bot.outbox.pending(stored.queued.id) else "created"


def register_handlers(bot: HackBot) -> None:
    async def posted(session, now, write, result, error) -> None:  # type: ignore[no-untyped-def]
        """The countdown is posted: remember it, and pin it (30003, 250 pins already, leaves
        it unpinned: it still counts down)."""
        channel_id = int(write.payload["channel_id"])
        if error is not None or result is None:
            log.warning("could not post the countdown in <#%s>: %s", channel_id, error)
            await event_service.set_state(session, COUNTDOWN_KEY, {"channel_id": channel_id})
            return
        message_id = int(result["message_id"])
        await _save_countdown(session, channel_id, message_id, write.payload["ref"]["digest"])
        reason = t("timeline.audit_reason", bot.settings.event.language)
        await outbox.enqueue(
            session, now, outbox.message_pin(channel_id, message_id, reason=reason)
        )

    bot.outbox.on_done(COUNTDOWN_POSTED, posted)


async def _save_countdown(
    session: AsyncSession, channel_id: int, message_id: int, wanted: str
) -> None:
    await event_service.set_state(
        session,
        COUNTDOWN_KEY,
        {"channel_id": channel_id, "message_id": message_id, "digest": wanted},
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def sync_events(bot: HackBot) -> dict[str, int]:
    """Mirror the phases as scheduled events: the writes are stored (the outbox sends them)
    with what the mirrors will show. Returns counts of what it asked for."""
    done = {"created": 0, "edited": 0, "started": 0, "ended": 0, "deleted": 0}
    if not bot.settings.timeline.scheduled_events or bot.event_guild is None:
        return done
    guild_id = bot.guild_id
    lang = bot.settings.event.language
    now = bot.clock.now()
    location = t("timeline.event.location", lang, channel="#" + bot.settings.channels.announcements)
    async with bot.db.begin() as session:
        phases = await event_service.timeline(session)
        ids = {row.key: row.id for row in await timeline.phase_rows(session)}
        mirrors = {m.phase_id: m for m in (await session.scalars(select(PhaseMirror))).all()}
        live = []
        for index, phase in enumerate(phases):
            end = timeline.effective_end(phases, index) or phase.starts_at + OPEN_END
            live.append((phase, end))
        not_ended = [(p, e) for p, e in live if e > now]
        mirrored = {p.key for p, _ in not_ended[: bot.settings.timeline.scheduled_events_max]}
        writes: list[outbox.Write] = []
        for phase, end in live:
            phase_id = ids[phase.key]
            mirror = mirrors.get(phase_id)
            status = (
                "ended" if end <= now else ("active" if phase.starts_at <= now else "scheduled")
            )
            if mirror is not None and (status == "ended" or phase.key not in mirrored):
                if mirror.status == "ended":
                    continue
                if mirror.status == "active":
                    writes.append(
                        outbox.event_edit(
                            guild_id,
                            mirror.event_id,
                            fields={"status": COMPLETED},
                            on_done=EVENT_EDITED,
                            ref={"phase_id": phase_id},
                        )
                    )
                    done["ended"] += 1
                else:
                    writes.append(outbox.event_delete(guild_id, mirror.event_id))
                    done["deleted"] += 1
                mirror.status = "ended"
                continue
            if phase.key not in mirrored or status == "ended":
                continue
            fields: dict[str, Any] = {
                "name": phase.name[:100],
                "description": render.event_description(phase, lang),
                "scheduled_end_time": _iso(end),
                "entity_metadata": {"location": location[:100]},
            }
            if status == "scheduled":
                fields["scheduled_start_time"] = _iso(phase.starts_at)
            state = digest([fields, status])
            if mirror is None or mirror.status == "ended":
                key = event_key(phase_id)
                if await outbox.unfinished(session, key):
                    continue  # asked for already; its handler records it
                # Discord refuses a start in the past, and the outbox sends this a moment
                # later: a phase starting within the margin is created a little ahead.
                start = max(phase.starts_at, now + START_MARGIN)
                create = {
                    **fields,
                    "scheduled_start_time": _iso(start),
                    "scheduled_end_time": _iso(max(end, start + START_MARGIN)),
                    "entity_type": 3,
                    "privacy_level": 2,
                }
                writes.append(
                    outbox.event_create(
                        guild_id,
                        fields=create,
                        start=status == "active",
                        on_done=EVENT_CREATED,
                        ref={"phase_id": phase_id, "state": state},
                        key=key,
                    )
                )
                done["created"] += 1
                done["started"] += status == "active"
                continue
            if mirror.state == state and mirror.status == status:
                continue
            payload = dict(fields)
            if status == "active" and mirror.status == "scheduled":
                payload["status"] = ACTIVE
                done["started"] += 1
            writes.append(
                outbox.event_edit(
                    guild_id,
                    mirror.event_id,
                    fields=payload,
                    on_done=EVENT_EDITED,
                    ref={"phase_id": phase_id},
                )
            )
            done["edited"] += 1
            mirror.state, mirror.status = state, status
        await outbox.enqueue_many(session, now, writes)
    return done


def event_key(phase_id: int) -> str:
    """Names the creation of a phase's scheduled event in the outbox (never asked twice)."""
    return f"phase-event:{phase_id}"


#: The outbox's handlers that record what became of a phase's scheduled event.
EVENT_CREATED = "timeline.event_created"
EVENT_EDITED = "timeline.event_edited"


@outbox.on_done(EVENT_CREATED)
async def _event_created(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    ref = write.payload["ref"]
    if error is not None or result is None:
        if error is not None and str(MAX_SCHEDULED_EVENTS) in error:
            log.warning("the server has 100 scheduled events: phase %s not mirrored", ref)
        else:
            log.warning("could not mirror phase %s: %s", ref, error)
        return
    phase_id = int(ref["phase_id"])
    status = "active" if int(result.get("status") or SCHEDULED) == ACTIVE else "scheduled"
    mirror = await session.scalar(select(PhaseMirror).where(PhaseMirror.phase_id == phase_id))
    if mirror is None:
        # (A phase removed meanwhile takes its mirror with it: nothing to record then.)
        if await session.get(Phase, phase_id) is None:
            return
        session.add(
            PhaseMirror(
                phase_id=phase_id,
                event_id=int(result["event_id"]),
                state=ref["state"],
                status=status,
            )
        )
    else:
        mirror.event_id, mirror.state, mirror.status = (
            int(result["event_id"]),
            ref["state"],
            status,
        )


@outbox.on_done(EVENT_EDITED)
async def _event_edited(
    session: AsyncSession,
    now: datetime,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    if error is None:
        return
    mirror = await session.scalar(
        select(PhaseMirror).where(PhaseMirror.event_id == int(write.payload["event_id"]))
    )
    if mirror is None:
        return
    if error.startswith("404"):
        # Someone deleted it by hand: forget it, the next sync creates it again.
        await session.delete(mirror)
    else:
        log.warning("could not update the event of phase %s: %s", mirror.phase_id, error)
        mirror.state = ""  # the next sync sends it again


async def delete_event(bot: HackBot, event_id: int) -> None:
    async with bot.db.begin() as session:
        await outbox.enqueue(session, bot.clock.now(), outbox.event_delete(bot.guild_id, event_id))
