"""The Discord side of the help queue: the queue channel, ticket cards, the team's status
message, pings, access to the team's space, timers and the throttled status refresh.

:class:`HelpDesk` (one per bot, ``desk_of(bot)``) is called after each state change has
been committed by :mod:`bot.services.help_queue`; nothing here decides anything the
database does not already say, so every step can be repeated after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Refused
from bot.i18n import t
from bot.models.help import HelpTicket
from bot.models.outbox import Priority
from bot.models.teams import Team
from bot.outbox import overwrites_body
from bot.scheduler import JOB_TASK_PREFIX
from bot.services import help_queue as svc
from bot.services import outbox
from cogs.help import render, views

if TYPE_CHECKING:
    from bot.app import HackBot
    from bot.models import Timer

log = logging.getLogger(__name__)

#: Status messages edited per refresh pass (front of the queue first); then the next pass.
EDITS_PER_PASS = 25
#: The outbox handlers that record a posted card's and status message's ids.
CARD_POSTED = "help.card_posted"
STATUS_POSTED = "help.status_posted"
REFRESH_GRANULARITY_S = 10


class HelpDesk:
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._refresh_task: asyncio.Task[None] | None = None
        self._dirty = False
        self._channel_lock = asyncio.Lock()
        bot.outbox.on_done(CARD_POSTED, self._card_posted)
        bot.outbox.on_done(STATUS_POSTED, self._status_posted)

    @property
    def lang(self) -> str:
        return self.bot.settings.event.language

    # -- the queue channel ----------------------------------------------------

    async def notice(self, text: str) -> None:
        """A line for the mentors in the queue channel (through the outbox, pinging nobody)."""
        channel = await self.queue_channel()
        if channel is None:
            return
        async with self.bot.db.begin() as session:
            await outbox.enqueue(
                session, self.bot.clock.now(), outbox.message_send(channel.id, content=text)
            )

    async def queue_channel(self) -> discord.TextChannel | None:
        guild = self.bot.event_guild
        if guild is None:
            return None
        settings = self.bot.settings
        name = settings.channels.help_queue
        async with self._channel_lock:
            existing = discord.utils.get(guild.text_channels, name=name)
            if existing is not None:
                return existing
            overwrites: dict[discord.Role | discord.Member, discord.PermissionOverwrite] = {
                guild.default_role: discord.PermissionOverwrite(view_channel=False),
                guild.me: discord.PermissionOverwrite(
                    view_channel=True,
                    send_messages=True,
                    embed_links=True,
                    read_message_history=True,
                ),
            }
            for role_name, can_send in (
                (settings.roles.mentor, False),
                (settings.roles.organiser, True),
            ):
                role = discord.utils.get(guild.roles, name=role_name)
                if role is not None:
                    overwrites[role] = discord.PermissionOverwrite(
                        view_channel=True, read_message_history=True, send_messages=can_send
                    )
            write = outbox.channel_create(
                guild.id,
                name=name,
                type=0,
                topic=t("help.queue_topic", self.lang),
                overwrites=overwrites_body(overwrites),
                reason=t("help.audit_reason", self.lang),
                priority=Priority.URGENT,
                key=f"help-queue:{guild.id}",
            )
            try:
                channel = await self.bot.make_channel(write)
            except Refused as refused:
                log.error("Discord refused to make the help queue #%s: %s", name, refused.why)
                return None
            if not isinstance(channel, discord.TextChannel):
                return None
            log.info("created the help queue channel #%s", channel.name)
            return channel

    def _role(self, name: str) -> discord.Role | None:
        guild = self.bot.event_guild
        return discord.utils.get(guild.roles, name=name) if guild else None

    # -- reading ----------------------------------------------------------------

    async def _load(self, ticket_id: int) -> tuple[HelpTicket, Team] | None:
        async with self.bot.db.read() as session:
            ticket = await session.get(HelpTicket, ticket_id)
            if ticket is None:
                return None
            team = await session.get(Team, ticket.team_id)
            if team is None:
                return None
        return ticket, team

    # -- cards ------------------------------------------------------------------

    def _card(self, ticket: HelpTicket, team: Team) -> tuple[discord.Embed, discord.ui.View | None]:
        embed = render.card(ticket, team.name, team.channel_id, team.voice_channel_id, self.lang)
        return embed, views.card_view(ticket, self.lang)

    async def post_messages(
        self, session: AsyncSession, asked: svc.Asked, queue: discord.TextChannel | None
    ) -> None:
        """In the transaction that stores the ticket: its card in the queue channel (pinging
        exactly the mentors routing chose; urgent, mentors are asked now) and the team's
        status message in its space. Stored with the ticket, they cannot be lost to a
        crash; the outbox posts them, never twice, and records their ids
        (:meth:`_card_posted`, :meth:`_status_posted`)."""
        ticket = asked.ticket
        team = await session.get(Team, ticket.team_id)
        if team is None:
            return
        now = self.bot.clock.now()
        if queue is not None:
            embed, view = self._card(ticket, team)
            content = t("help.card.new", self.lang, number=ticket.id)
            if asked.pinged:
                content += " " + " ".join(f"<@{m}>" for m in asked.pinged)
            write = outbox.message_send(
                queue.id,
                content=content,
                embeds=[embed.to_dict()],
                components=view.to_components() if view is not None else (),
                mentions={"parse": [], "users": [str(m) for m in asked.pinged]},
                priority=Priority.URGENT,
                on_done=CARD_POSTED,
                ref={"ticket_id": ticket.id, "state": _state(ticket)},
                key=f"help:card:{ticket.id}",
            )
            await outbox.enqueue(session, now, write)
        else:
            log.error("ticket %s: no help queue channel, its card cannot be posted", ticket.id)
        if team.channel_id is not None:
            write = outbox.message_send(
                team.channel_id,
                content=render.status_text(ticket, ticket.shown or {}, ticket.lang, now),
                components=views.status_view(ticket, ticket.lang).to_components(),
                on_done=STATUS_POSTED,
                ref={"ticket_id": ticket.id, "state": _state(ticket)},
                key=f"help:status:{ticket.id}",
            )
            await outbox.enqueue(session, now, write)

    async def _card_posted(
        self,
        session: AsyncSession,
        now: datetime,
        write: outbox.Claimed,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        """The card is on Discord: its id is stored; if the ticket moved on meanwhile (a
        mentor claimed it from another card's ping, it was cancelled), the card is edited
        to show it as it is now."""
        ticket = await _posted_for(session, write, result, error, "card")
        if ticket is None:
            return
        if ticket.card_message_id is None:
            ticket.card_channel_id = int(write.payload["channel_id"])
            ticket.card_message_id = int(result["message_id"])
        if _state(ticket) != write.payload["ref"]["state"]:
            await self._edit_card(session, now, ticket)

    async def _edit_card(
        self,
        session: AsyncSession,
        now: datetime,
        ticket: HelpTicket,
        priority: Priority = Priority.NORMAL,
    ) -> None:
        team = await session.get(Team, ticket.team_id)
        if team is None or ticket.card_message_id is None or ticket.card_channel_id is None:
            return
        embed, view = self._card(ticket, team)
        write = outbox.message_edit(
            ticket.card_channel_id,
            ticket.card_message_id,
            content=t("help.card.head." + ticket.status, self.lang, number=ticket.id),
            embeds=[embed.to_dict()],
            components=view.to_components() if view is not None else [],
            priority=priority,
        )
        await outbox.enqueue(session, now, write)

    async def update_card(self, ticket_id: int, priority: Priority = Priority.NORMAL) -> None:
        """Show the ticket as it is now on its card (a card not posted yet is shown as it
        is when it is posted)."""
        async with self.bot.db.begin() as session:
            ticket = await session.get(HelpTicket, ticket_id)
            if ticket is not None:
                await self._edit_card(session, self.bot.clock.now(), ticket, priority)

    async def ping(
        self,
        ticket_id: int,
        key: str,
        users: list[int],
        role: discord.Role | None = None,
        **params: object,
    ) -> None:
        """A message in the queue channel, replying to the card, pinging exactly ``users``
        (and ``role``): editing a message never pings, so every new ping is a new message."""
        loaded = await self._load(ticket_id)
        channel = await self.queue_channel()
        if loaded is None or channel is None:
            return
        ticket, team = loaded
        mentions = " ".join([*(f"<@{u}>" for u in users), *([role.mention] if role else [])])
        text = t(key, self.lang, number=ticket.id, topic=ticket.topic, team=team.name, **params)
        on_card = ticket.card_message_id is not None and ticket.card_channel_id == channel.id
        # Through the outbox, urgent: mentors are being asked for now.
        write = outbox.message_send(
            channel.id,
            content=f"{text} {mentions}".strip(),
            mentions={
                "parse": [],
                "users": [str(u) for u in users],
                "roles": [str(role.id)] if role else [],
                "replied_user": False,
            },
            reply_to=ticket.card_message_id if on_card else None,
            priority=Priority.URGENT,
        )
        async with self.bot.db.begin() as session:
            await outbox.enqueue(session, self.bot.clock.now(), write)

    # -- the team's side ---------------------------------------------------------

    async def _status_posted(
        self,
        session: AsyncSession,
        now: datetime,
        write: outbox.Claimed,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        """The status message is in the team's space: its id is stored; a ticket claimed or
        closed meanwhile is shown as it is now, not as it was queued."""
        ticket = await _posted_for(session, write, result, error, "status message")
        if ticket is None:
            return
        if ticket.status_message_id is None:
            ticket.status_channel_id = int(write.payload["channel_id"])
            ticket.status_message_id = int(result["message_id"])
            ticket.shown_at = now
        if _state(ticket) != write.payload["ref"]["state"] or ticket.status != "open":
            await self._show_status(session, now, ticket, Priority.NORMAL)

    async def _show_status(
        self, session: AsyncSession, now: datetime, ticket: HelpTicket, priority: Priority
    ) -> None:
        position = await svc.position_of(session, ticket) if ticket.status == "open" else None
        estimate = await svc.estimator(session, self.bot.settings, now)
        closed = (await svc.queue_state(session)).closed
        shown = svc.display(ticket, position, estimate, closed)
        await self._edit_status(session, now, ticket, shown, priority)

    async def update_status(self, ticket_id: int) -> None:
        """Show the ticket's current state in its status message now (not throttled: a claim,
        a release or a close is news, unlike a queue position moving)."""
        async with self.bot.db.begin() as session:
            ticket = await session.get(HelpTicket, ticket_id)
            if ticket is None or ticket.status_message_id is None:
                return  # not posted yet: shown as it is when it is (_status_posted)
            await self._show_status(session, self.bot.clock.now(), ticket, Priority.NORMAL)

    async def _edit_status(
        self,
        session: AsyncSession,
        now: datetime,
        ticket: HelpTicket,
        shown: dict[str, Any],
        priority: Priority,
    ) -> None:
        """Edit the status message through the outbox (a newer edit of it, while this one
        waits, takes its place) and record what it shows, in the same transaction."""
        assert ticket.status_channel_id is not None and ticket.status_message_id is not None
        state = shown.get("state")
        view = views.status_view(ticket, ticket.lang) if state == "open" else None
        write = outbox.message_edit(
            ticket.status_channel_id,
            ticket.status_message_id,
            content=render.status_text(ticket, shown, ticket.lang, now),
            components=view.to_components() if view is not None else [],
            priority=priority,
        )
        await outbox.enqueue(session, now, write)
        await svc.mark_shown(session, ticket.id, shown, now)

    async def tell_team(
        self,
        ticket_id: int,
        key: str,
        *,
        ping_asker: bool = False,
        view: discord.ui.View | None = None,
        **params: object,
    ) -> None:
        loaded = await self._load(ticket_id)
        if loaded is None:
            return
        ticket, team = loaded
        text = t(key, ticket.lang, number=ticket.id, topic=ticket.topic, **params)
        if team.channel_id is None:
            # No space: the asker hears it in their direct messages.
            async with self.bot.db.begin() as session:
                await outbox.enqueue(
                    session,
                    self.bot.clock.now(),
                    outbox.dm_send(ticket.asker_discord_id, content=text),
                )
            return
        if ping_asker:
            text = f"<@{ticket.asker_discord_id}> {text}"
        # Through the outbox: the space may be archived (it is brought back), and what a
        # team is told is never lost to a refusal or a restart.
        write = outbox.message_send(
            team.channel_id,
            content=text,
            components=view.to_components() if view is not None else (),
            mentions={"parse": [], "users": [str(ticket.asker_discord_id)] if ping_asker else []},
        )
        async with self.bot.db.begin() as session:
            await outbox.enqueue(session, self.bot.clock.now(), write)

    # -- access to the team's space -----------------------------------------------

    async def grant(self, team_id: int, mentor_id: int) -> None:
        from cogs.teams import spaces

        try:
            await spaces.grant_access(self.bot, team_id, mentor_id)
        except Exception:
            log.exception("could not give mentor %s access to team %s", mentor_id, team_id)

    async def revoke(self, team_id: int, mentor_id: int | None) -> None:
        if mentor_id is None:
            return
        from cogs.teams import spaces

        async with self.bot.db.read() as session:
            if await svc.holds_ticket_of(session, team_id, mentor_id):
                return  # they hold another ticket of the same team
        try:
            await spaces.revoke_access(self.bot, team_id, mentor_id)
        except Exception:
            log.exception("could not take mentor %s's access to team %s", mentor_id, team_id)

    # -- after each change (commands, buttons and timers all come here) ------------

    async def claimed(self, claimed: svc.Claimed) -> None:
        ticket = claimed.ticket
        # The mentor who claimed looks at the card next (Resolve, Release): ahead of the
        # queue channel's other posts, as their access is (asked for first: the access
        # looks at Discord's thread members before it is stored).
        await self.update_card(ticket.id, Priority.URGENT)
        if claimed.space_channel_id is not None:
            await self.grant(ticket.team_id, int(ticket.claimed_by or 0))
        await self.update_status(ticket.id)
        await self.tell_team(
            ticket.id, "help.team.claimed", ping_asker=True, mentor=f"<@{ticket.claimed_by}>"
        )
        self.poke()

    async def requeued(self, back: svc.Requeued) -> None:
        await self.revoke(back.ticket.team_id, back.mentor_id)
        await self.update_card(back.ticket.id)
        await self.update_status(back.ticket.id)
        if back.reason == "idle":
            await self.ping(
                back.ticket.id,
                "help.ping.idle_mentor",
                [back.mentor_id],
                minutes=self.bot.settings.help.idle_claim_minutes,
            )
        if back.pinged:
            await self.ping(back.ticket.id, "help.ping.back", back.pinged)
        await self.tell_team(back.ticket.id, f"help.team.requeued.{back.reason}")
        self.poke()

    async def closed(self, closed: svc.Closed, *, by_team: bool = False) -> None:
        ticket = closed.ticket
        await self.revoke(ticket.team_id, closed.mentor_id)
        await self.update_card(ticket.id)
        await self.update_status(ticket.id)
        if ticket.status == "resolved":
            await self.tell_team(
                ticket.id,
                "help.team.resolved",
                mentor=f"<@{ticket.resolved_by}>",
                view=views.rating_view(ticket.id, ticket.lang),
            )
        elif ticket.status == "expired":
            await self.tell_team(
                ticket.id, "help.team.expired", minutes=self.bot.settings.help.expiry_minutes
            )
        elif by_team and closed.mentor_id is not None:
            await self.ping(ticket.id, "help.ping.cancelled", [closed.mentor_id])
        self.poke()

    # -- timers -------------------------------------------------------------------

    async def on_escalate(self, bot: HackBot, timer: Timer, late: bool) -> None:
        payload = timer.payload
        async with bot.db.begin() as session:
            step = await svc.escalate(
                session,
                bot.settings,
                bot.clock.now(),
                int(payload["ticket"]),
                int(payload["epoch"]),
                int(payload["step"]),
            )
        if step is None:
            return
        if step.kind == "organisers":
            role = self._role(bot.settings.roles.organiser)
            await self.ping(
                step.ticket.id, "help.ping.organisers", [], role, minutes=step.waited_minutes
            )
        elif step.pinged:
            await self.ping(
                step.ticket.id, "help.ping.wider", step.pinged, minutes=step.waited_minutes
            )
        else:
            log.info(
                "ticket %s: escalation step %s found no free mentor", step.ticket.id, step.step
            )

    async def on_expire(self, bot: HackBot, timer: Timer, late: bool) -> None:
        async with bot.db.begin() as session:
            closed = await svc.expire(
                session, bot.clock.now(), int(timer.payload["ticket"]), int(timer.payload["epoch"])
            )
        if closed is not None:
            await self.closed(closed)

    async def on_idle(self, bot: HackBot, timer: Timer, late: bool) -> None:
        async with bot.db.begin() as session:
            back = await svc.idle_check(
                session,
                bot.settings,
                bot.timers,
                bot.clock.now(),
                int(timer.payload["ticket"]),
                int(timer.payload["claims"]),
            )
        if back is not None:
            await self.requeued(back)

    async def on_refresh(self, bot: HackBot, timer: Timer, late: bool) -> None:
        await self.refresh()

    # -- the throttled refresh of positions -------------------------------------

    def poke(self) -> None:
        """The queue moved: refresh status messages soon (one pass at a time)."""
        self._dirty = True
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.create_task(
                self._refresh_loop(), name=f"{JOB_TASK_PREFIX}help-refresh"
            )

    async def _refresh_loop(self) -> None:
        while self._dirty and not self.bot.is_closed():
            self._dirty = False
            try:
                await self.refresh()
            except Exception:
                log.exception("help queue status refresh failed")
                return

    async def refresh(self) -> None:
        """Edit the status messages worth editing; set a timer for those throttled."""
        while True:
            now = self.bot.clock.now()
            async with self.bot.db.read() as session:
                plan = await svc.refresh_plan(session, self.bot.settings, now, EDITS_PER_PASS)
            # Handed to the outbox in one go, bulk: it paces them after what people wait
            # for, and a newer position of a ticket replaces one not yet shown.
            async with self.bot.db.begin() as session:
                for edit in plan.edits:
                    ticket = await session.get(HelpTicket, edit.ticket_id)
                    if ticket is not None and ticket.status_message_id is not None:
                        await self._edit_status(session, now, ticket, edit.display, Priority.BULK)
            if plan.later is not None and plan.later > now:
                await self._refresh_at(plan.later)
            if len(plan.edits) < EDITS_PER_PASS or self.bot.is_closed():
                return

    async def _refresh_at(self, due: datetime) -> None:
        seconds = math.ceil(due.timestamp() / REFRESH_GRANULARITY_S) * REFRESH_GRANULARITY_S
        rounded = datetime.fromtimestamp(seconds, tz=due.tzinfo)
        async with self.bot.db.begin() as session:
            await self.bot.timers.add(
                session, svc.REFRESH, rounded, {}, dedupe_key=f"help:refresh:{seconds}"
            )

    async def queue_closed_notice(self, waiting: list[HelpTicket], message: str | None) -> int:
        """Tell the teams still waiting that the queue closed (through the broadcast engine:
        stored, paced, resumed after a restart). Returns how many spaces are told."""
        from bot.services import broadcasts

        spaces = sorted({t.status_channel_id for t in waiting if t.status_channel_id})
        if not spaces:
            return 0
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            broadcast = await broadcasts.create(
                session,
                kind="help_closed",
                target="help_waiting",
                destinations=[broadcasts.Destination(c) for c in spaces],
                now=now,
                lang=self.lang,
                title=t("help.closed_notice.title", self.lang),
                body=message or t("help.closed_notice.body", self.lang),
                footer=t("help.closed_notice.footer", self.lang),
            )
            broadcast_id = broadcast.id
        try:
            from cogs.broadcasts import runner_of

            runner_of(self.bot).start(broadcast_id)
        except RuntimeError:
            log.warning("broadcasts are not loaded: the queue-closed notice waits for them")
        return len(spaces)


def _users(ids: list[int]) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        users=[discord.Object(id=u) for u in ids] if ids else False,
        replied_user=False,
    )


def desk_of(bot: HackBot) -> HelpDesk:
    desk = getattr(bot, "help_desk", None)
    if desk is None:
        desk = HelpDesk(bot)
        bot.help_desk = desk  # type: ignore[attr-defined]
    return desk


async def _posted_for(
    session: AsyncSession,
    write: outbox.Claimed,
    result: dict[str, Any] | None,
    error: str | None,
    what: str,
) -> HelpTicket | None:
    """The ticket a posted card or status message belongs to (None: refused, or gone)."""
    ticket_id = int(write.payload["ref"]["ticket_id"])
    if error is not None:
        log.warning("the %s of ticket %s could not be posted: %s", what, ticket_id, error)
        return None
    if result is None:
        return None
    return await session.get(HelpTicket, ticket_id)


def _state(ticket: HelpTicket) -> list[Any]:
    """What a ticket's card and status message show that can change before they are posted
    (claimed, released, closed): compared when Discord has them."""
    return [ticket.status, ticket.claimed_by]
