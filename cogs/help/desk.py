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
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import discord
from sqlalchemy import select

from bot.i18n import t
from bot.models.help import LIVE_STATUSES, HelpTicket
from bot.models.outbox import Priority
from bot.models.teams import Team
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
#: After a crash, how far back (before a ticket was asked) its card or status message is
#: looked for, and how many messages of the channel are read to find it.
FIND_SLACK = timedelta(minutes=5)
FIND_LIMIT = 200
#: Pauses before posting a ticket's card or status message again after Discord refused it
#: (5xx, 429 after discord.py's own tries), then: at the next start.
RETRY_DELAYS_S = (2.0, 10.0, 30.0, 60.0, 120.0)
#: Real-time pause between two status edits: they share Discord's 50 requests/s with
#: everything else, and a full queue must not crowd out commands.
EDIT_PAUSE_S = 0.1
REFRESH_GRANULARITY_S = 10


class HelpDesk:
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._refresh_task: asyncio.Task[None] | None = None
        self._dirty = False
        self._channel_lock = asyncio.Lock()
        self._retries: dict[int, asyncio.Task[None]] = {}  # ticket id -> a later attempt

    @property
    def lang(self) -> str:
        return self.bot.settings.event.language

    # -- the queue channel ----------------------------------------------------

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
            channel = await guild.create_text_channel(
                name,
                overwrites=overwrites,
                topic=t("help.queue_topic", self.lang),
                reason=t("help.audit_reason", self.lang),
            )
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

    async def post_card(self, ticket_id: int, pinged: list[int]) -> None:
        """Post the ticket's card, pinging exactly the mentors routing chose."""
        loaded = await self._load(ticket_id)
        channel = await self.queue_channel()
        if loaded is None or channel is None:
            return
        ticket, team = loaded
        embed, view = self._card(ticket, team)
        content = t("help.card.new", self.lang, number=ticket.id)
        if pinged:
            content += " " + " ".join(f"<@{m}>" for m in pinged)
        message = await channel.send(
            content,
            embed=embed,
            view=view,
            allowed_mentions=_users(pinged),
        )
        async with self.bot.db.begin() as session:
            row = await session.get(HelpTicket, ticket_id)
            moved = row is not None and _moved_on(ticket, row)
            if row is not None:
                row.card_channel_id, row.card_message_id = channel.id, message.id
        if moved:
            # A mentor pressed Claim before the card's id was stored (under load writes queue
            # for seconds): that claim found no card to edit, so the card shows it now.
            await self.update_card(ticket_id)

    async def update_card(self, ticket_id: int) -> None:
        loaded = await self._load(ticket_id)
        if loaded is None:
            return
        ticket, team = loaded
        if ticket.card_message_id is None or ticket.card_channel_id is None:
            return
        embed, view = self._card(ticket, team)
        message = self.bot.get_partial_messageable(ticket.card_channel_id).get_partial_message(
            ticket.card_message_id
        )
        try:
            await message.edit(
                content=t("help.card.head." + ticket.status, self.lang, number=ticket.id),
                embed=embed,
                view=view,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("could not update the card of ticket %s: %s", ticket_id, exc)

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

    async def post_status(self, ticket_id: int) -> int | None:
        """The team's status message in its space (edited as the queue moves)."""
        loaded = await self._load(ticket_id)
        if loaded is None:
            return None
        ticket, team = loaded
        if team.channel_id is None:
            return None
        channel = self.bot.get_partial_messageable(team.channel_id, guild_id=self.bot.guild_id)
        now = self.bot.clock.now()
        try:
            message = await channel.send(
                render.status_text(ticket, ticket.shown or {}, ticket.lang, now),
                view=views.status_view(ticket, ticket.lang),
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("could not post the status of ticket %s: %s", ticket_id, exc)
            return None
        async with self.bot.db.begin() as session:
            row = await session.get(HelpTicket, ticket_id)
            moved = row is not None and _moved_on(ticket, row)
            if row is not None:
                row.status_channel_id, row.status_message_id = team.channel_id, message.id
                row.shown_at = now
        if moved or ticket.status != "open":
            # As for the card (post_card); and a ticket claimed or closed before its status
            # message was first posted is shown as it is now, not as it was queued.
            await self.update_status(ticket_id)
        return message.id

    async def update_status(self, ticket_id: int) -> None:
        """Show the ticket's current state in its status message now (not throttled: a claim,
        a release or a close is news, unlike a queue position moving)."""
        async with self.bot.db.read() as session:
            ticket = await session.get(HelpTicket, ticket_id)
            if ticket is None or ticket.status_message_id is None:
                return
            position = await svc.position_of(session, ticket) if ticket.status == "open" else None
            estimate = await svc.estimator(session, self.bot.settings, self.bot.clock.now())
            closed = (await svc.queue_state(session)).closed
        shown = svc.display(ticket, position, estimate, closed)
        await self._edit_status(ticket, shown)

    async def _edit_status(self, ticket: HelpTicket, shown: dict) -> None:
        now = self.bot.clock.now()
        assert ticket.status_channel_id is not None and ticket.status_message_id is not None
        message = self.bot.get_partial_messageable(
            ticket.status_channel_id, guild_id=self.bot.guild_id
        ).get_partial_message(ticket.status_message_id)
        state = shown.get("state")
        try:
            await message.edit(
                content=render.status_text(ticket, shown, ticket.lang, now),
                view=views.status_view(ticket, ticket.lang) if state == "open" else None,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            log.warning("could not edit the status of ticket %s: %s", ticket.id, exc)
            return
        async with self.bot.db.begin() as session:
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
            try:
                user = self.bot.get_user(ticket.asker_discord_id) or await self.bot.fetch_user(
                    ticket.asker_discord_id
                )
                await user.send(text, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException:
                log.info("ticket %s: could not reach the asker", ticket_id)
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

    async def asked(self, asked: svc.Asked) -> None:
        ticket_id = asked.ticket.id
        missing = False
        try:
            await self.post_card(ticket_id, asked.pinged)
        except discord.HTTPException as exc:
            # The ticket is stored and queued; its card follows when Discord takes it.
            log.warning(
                "could not post the card of ticket %s (tried again soon): %s", ticket_id, exc
            )
            missing = True
        if await self.post_status(ticket_id) is None and asked.space_channel_id is not None:
            missing = True
        if missing:
            self.retry_later(ticket_id)
        self.poke()

    async def claimed(self, claimed: svc.Claimed) -> None:
        ticket = claimed.ticket
        if claimed.space_channel_id is not None:
            await self.grant(ticket.team_id, int(ticket.claimed_by or 0))
        await self.update_card(ticket.id)
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

    # -- after a crash ---------------------------------------------------------------

    async def catch_up(self, before: datetime) -> int:
        """Live tickets asked before ``before`` (this process's start) whose card or status
        message a crash left unrecorded: the bot may have died after Discord posted it and
        before it wrote the message id down, so the message is looked for first (by the
        ticket's buttons) and posted only when Discord does not have it. Returns how many
        tickets are complete again (the others are tried again later)."""
        async with self.bot.db.read() as session:
            ids = (
                await session.scalars(
                    select(HelpTicket.id)
                    .where(
                        HelpTicket.status.in_(LIVE_STATUSES),
                        HelpTicket.created_at < before,
                        HelpTicket.card_message_id.is_(None)
                        | HelpTicket.status_message_id.is_(None),
                    )
                    .order_by(HelpTicket.id)
                )
            ).all()
        done = 0
        for ticket_id in ids:
            if await self.complete(ticket_id):
                done += 1
            else:
                self.retry_later(ticket_id)
        if ids:
            log.info("help tickets caught up after a restart: %d of %d complete", done, len(ids))
        return done

    async def _catch_up_ticket(self, ticket: HelpTicket, space_id: int | None) -> int:
        """Find or post what the ticket lacks (card, status message); how many were put right.
        Discord refusing for now is logged, and :meth:`complete` says what is still missing."""
        fixed = 0
        try:
            if ticket.card_message_id is None:
                fixed += await self._catch_up_card(ticket)
            if ticket.status_message_id is None and space_id:
                fixed += await self._catch_up_status(ticket, space_id)
        except discord.HTTPException as exc:
            log.warning("could not catch up the messages of ticket %s: %s", ticket.id, exc)
        return fixed

    async def complete(self, ticket_id: int) -> bool:
        """Whether a live ticket has its card and (when its team has a space) its status
        message; what is missing is found or posted first."""
        loaded = await self._load(ticket_id)
        if loaded is None or loaded[0].status not in LIVE_STATUSES:
            return True
        ticket, team = loaded
        if ticket.card_message_id is not None and (
            ticket.status_message_id is not None or not team.channel_id
        ):
            return True
        await self._catch_up_ticket(ticket, team.channel_id)
        loaded = await self._load(ticket_id)
        if loaded is None:
            return True
        ticket, team = loaded
        return ticket.card_message_id is not None and (
            ticket.status_message_id is not None or not team.channel_id
        )

    def retry_later(self, ticket_id: int, attempt: int = 0) -> None:
        """Post a ticket's missing card or status message after a pause, with growing pauses
        while Discord keeps refusing (then: at the next start)."""
        if attempt >= len(RETRY_DELAYS_S):
            log.error(
                "gave up on the messages of ticket %s (tried again at the next start)", ticket_id
            )
            return
        pending = self._retries.get(ticket_id)
        if pending is not None and not pending.done():
            return

        async def later() -> None:
            await asyncio.sleep(RETRY_DELAYS_S[attempt])
            task = asyncio.current_task()
            if task is not None:  # from here on it is work the bot is doing
                task.set_name(f"{JOB_TASK_PREFIX}help-retry-{ticket_id}")
            self._retries.pop(ticket_id, None)
            try:
                done = await self.complete(ticket_id)
            except Exception:
                log.exception("could not complete the messages of ticket %s", ticket_id)
                done = False
            if not done:
                self.retry_later(ticket_id, attempt + 1)

        # Not a hackbot-job while it only sleeps: nothing to wait for.
        self._retries[ticket_id] = asyncio.create_task(later(), name=f"help-retry-{ticket_id}")

    async def _catch_up_card(self, ticket: HelpTicket) -> int:
        channel = await self.queue_channel()
        if channel is None:
            return 0
        found = await _find_own(self.bot, channel, ticket, rf"help:[a-z]+:{ticket.id}")
        if found is None:
            await self.post_card(ticket.id, list(ticket.pinged or []))
            return 1
        async with self.bot.db.begin() as session:
            row = await session.get(HelpTicket, ticket.id)
            if row is not None and row.card_message_id is None:
                row.card_channel_id, row.card_message_id = channel.id, found
        await self.update_card(ticket.id)
        return 1

    async def _catch_up_status(self, ticket: HelpTicket, space_id: int) -> int:
        channel = self.bot.get_partial_messageable(space_id, guild_id=self.bot.guild_id)
        found = await _find_own(self.bot, channel, ticket, rf"help:cancel:{ticket.id}")
        if found is None:
            if await self.post_status(ticket.id) is None:
                return 0
        else:
            async with self.bot.db.begin() as session:
                row = await session.get(HelpTicket, ticket.id)
                if row is not None and row.status_message_id is None:
                    row.status_channel_id, row.status_message_id = space_id, found
        await self.update_status(ticket.id)
        return 1

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
                tickets = {
                    e.ticket_id: await session.get(HelpTicket, e.ticket_id) for e in plan.edits
                }
            for edit in plan.edits:
                ticket = tickets[edit.ticket_id]
                if ticket is not None:
                    await self._edit_status(ticket, edit.display)
                    await asyncio.sleep(EDIT_PAUSE_S)
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


async def _find_own(
    bot: HackBot, channel: discord.abc.Messageable, ticket: HelpTicket, custom_id: str
) -> int | None:
    """The id of the bot's message in ``channel`` (posted after the ticket was asked) with a
    button whose custom id matches ``custom_id`` (a regular expression), if there is one."""
    pattern = re.compile(custom_id)
    me = bot.user.id if bot.user else None
    after = discord.Object(id=discord.utils.time_snowflake(ticket.created_at - FIND_SLACK))
    async for message in channel.history(limit=FIND_LIMIT, after=after):
        if message.author.id != me:
            continue
        for row in message.components:
            for child in getattr(row, "children", []):
                if pattern.fullmatch(getattr(child, "custom_id", None) or ""):
                    return message.id
    return None


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


def _moved_on(posted: HelpTicket, now: HelpTicket) -> bool:
    """Whether the ticket changed (claimed, released, closed) between the moment its message
    was rendered and the moment the message's id is stored."""
    return (posted.status, posted.claimed_by) != (now.status, now.claimed_by)
