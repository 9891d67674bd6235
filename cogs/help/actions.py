"""/help ask|cancel|status, /mentor duty on|off|queue|skills, /admin help stats|close|open,
and what the buttons of the help queue do."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import HackbotError, NotAllowed
from bot.i18n import t
from bot.interactions import is_organiser, lang_of, organiser_only, send
from bot.localization import L
from bot.services import help_queue as svc
from bot.services import outbox
from bot.services import teams as team_service
from cogs.help import render, views
from cogs.help.desk import desk_of

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

MEET_CHOICES = [
    app_commands.Choice(name=L(f"cmd.help.ask.options.where.choices.{kind}"), value=kind)
    for kind in ("space", "voice", "table")
]


def bot_of(interaction: discord.Interaction) -> HackBot:
    return interaction.client  # type: ignore[return-value]


def is_mentor(interaction: discord.Interaction) -> bool:
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    wanted = bot_of(interaction).settings.roles.mentor
    return is_organiser(interaction) or any(role.name == wanted for role in member.roles)


def require_mentor(interaction: discord.Interaction) -> None:
    if not is_mentor(interaction):
        raise NotAllowed("help.mentor_only", role=bot_of(interaction).settings.roles.mentor)


async def topic_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = bot_of(interaction)
    async with bot.db.read() as session:
        found = await svc.topic_choices(session, bot.settings, current)
    return [app_commands.Choice(name=label[:100], value=value[:100]) for label, value in found]


# --------------------------------------------------------------------------
# Buttons


async def card_action(interaction: discord.Interaction, action: str, ticket_id: int) -> None:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    require_mentor(interaction)
    desk = desk_of(bot)
    await interaction.response.defer(ephemeral=True, thinking=True)
    user = interaction.user.id
    now = bot.clock.now()
    if action == "claim":
        async with bot.db.begin() as session:
            claimed = await svc.claim(session, bot.settings, bot.timers, now, ticket_id, user)
        await desk.claimed(claimed)
        space = f"<#{claimed.space_channel_id}>" if claimed.space_channel_id else "—"
        await send(
            interaction,
            t("help.claimed", lang, number=ticket_id, team=claimed.team_name, space=space),
        )
    elif action == "release":
        async with bot.db.begin() as session:
            back = await svc.release(
                session,
                bot.settings,
                bot.timers,
                now,
                ticket_id,
                user,
                organiser=is_organiser(interaction),
            )
        await desk.requeued(back)
        await send(interaction, t("help.released", lang, number=ticket_id))
    elif action == "resolve":
        async with bot.db.begin() as session:
            closed = await svc.resolve(
                session, now, ticket_id, user, organiser=is_organiser(interaction)
            )
        await desk.closed(closed)
        await send(interaction, t("help.resolved", lang, number=ticket_id, team=closed.team_name))
    else:
        async with bot.db.begin() as session:
            ticket = await svc.still_helping(
                session, bot.settings, bot.timers, now, ticket_id, user
            )
        await desk.update_card(ticket.id)
        await send(
            interaction,
            t("help.kept", lang, number=ticket_id, minutes=bot.settings.help.idle_claim_minutes),
        )


async def cancel_flow(interaction: discord.Interaction, ticket_id: int | None) -> None:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.db.begin() as session:
        if ticket_id is not None:
            ticket = await svc.get_ticket(session, ticket_id)
            team_ids = await team_service.member_discord_ids(session, ticket.team_id)
            if interaction.user.id not in team_ids:
                raise NotAllowed("help.cancel.not_team")
        closed = await svc.cancel(session, bot.clock.now(), interaction.user.id)
        if ticket_id is not None and closed.ticket.id != ticket_id:
            raise NotAllowed("help.cancel.not_team")
    await send(interaction, t("help.cancelled", lang, number=closed.ticket.id))
    await desk_of(bot).closed(closed, by_team=True)


async def rate_flow(interaction: discord.Interaction, ticket_id: int, score: int) -> None:
    """The comment form must be the click's first answer, so the rules are checked on a read
    (no wait behind writers at a busy minute), the form opens, and only then is the score
    stored. A teammate who rated in between wins; this click then stores nothing."""
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    clicked_at = bot.clock.now()
    async with bot.db.read() as session:
        await svc.check_rate(session, ticket_id, interaction.user.id, score)
    await interaction.response.send_modal(views.CommentModal(ticket_id, score, lang))
    try:
        async with bot.db.begin() as session:
            await svc.rate(session, clicked_at, ticket_id, interaction.user.id, score)
    except HackbotError as exc:
        log.info("rating %s★ of ticket %s not stored: %s", score, ticket_id, exc.key)
        return
    message = interaction.message
    if message is not None:  # the rating card shows the stars, without its buttons
        thanks = t(
            "help.rate.thanks_public",
            bot.settings.event.language,
            who=f"<@{interaction.user.id}>",
            stars="★" * score + "☆" * (5 - score),
            number=ticket_id,
        )
        card = outbox.message_edit(message.channel.id, message.id, content=thanks, components=[])
        async with bot.db.begin() as session:
            await outbox.enqueue(session, bot.clock.now(), card)


async def comment_flow(interaction: discord.Interaction, ticket_id: int, text: str) -> None:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.db.begin() as session:
        await svc.add_comment(session, bot.clock.now(), ticket_id, interaction.user.id, text)
    await send(interaction, t("help.rate.thanks", lang))


# --------------------------------------------------------------------------
# Commands


class Help(commands.Cog):
    help = app_commands.Group(
        name=L("cmd.help.name"),
        description=L("cmd.help.description"),
        guild_only=True,
        extras={"audience": "team_member"},
    )
    mentor = app_commands.Group(
        name=L("cmd.mentor.name"),
        description=L("cmd.mentor.description"),
        guild_only=True,
        extras={"audience": "mentor"},
    )
    duty = app_commands.Group(
        name=L("cmd.mentor.duty.name"),
        description=L("cmd.mentor.duty.description"),
        parent=mentor,
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    # -- teams --------------------------------------------------------------------

    @help.command(name=L("cmd.help.ask.name"), description=L("cmd.help.ask.description"))
    @app_commands.rename(
        topic=L("cmd.help.ask.options.topic.name"),
        description=L("cmd.help.ask.options.description.name"),
        where=L("cmd.help.ask.options.where.name"),
        details=L("cmd.help.ask.options.details.name"),
    )
    @app_commands.describe(
        topic=L("cmd.help.ask.options.topic.description"),
        description=L("cmd.help.ask.options.description.description"),
        where=L("cmd.help.ask.options.where.description"),
        details=L("cmd.help.ask.options.details.description"),
    )
    @app_commands.choices(where=MEET_CHOICES)
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def ask(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 100],
        description: app_commands.Range[str, 5, svc.DESCRIPTION_MAX],
        where: str = "space",
        details: app_commands.Range[str, 1, svc.DETAIL_MAX] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        desk = desk_of(self.bot)
        queue = await desk.queue_channel()
        async with self.bot.db.begin() as session:
            asked = await svc.ask(
                session,
                self.bot.settings,
                self.bot.timers,
                self.bot.clock.now(),
                interaction.user.id,
                topic=topic,
                description=description,
                meet=where,
                detail=details,
                lang=lang,
            )
            # The card and the status message, stored with the ticket (the outbox posts them).
            await desk.post_messages(session, asked, queue)
        text = t(
            "help.asked",
            lang,
            number=asked.ticket.id,
            topic=asked.ticket.topic,
            position=asked.position,
            eta=render.eta_text(asked.eta, asked.on_duty > 0, lang),
        )
        if asked.space_channel_id:
            text += "\n" + t("help.asked_space", lang, space=f"<#{asked.space_channel_id}>")
        # The ticket is committed with its card: the outbox posts it, urgent, at the pace
        # the queue channel allows (about 5 messages per 5 s).
        await send(interaction, text)
        desk.poke()

    @help.command(name=L("cmd.help.cancel.name"), description=L("cmd.help.cancel.description"))
    async def cancel(self, interaction: discord.Interaction) -> None:
        await cancel_flow(interaction, None)

    @help.command(name=L("cmd.help.status.name"), description=L("cmd.help.status.description"))
    async def status(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            ticket, position, estimate = await svc.status_of(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id
            )
        if position is not None:
            text = t(
                "help.status_reply.waiting",
                lang,
                number=ticket.id,
                topic=ticket.topic,
                position=position,
                eta=render.eta_text(estimate.eta(position), estimate.on_duty > 0, lang),
                on_duty=estimate.on_duty,
            )
        else:
            text = t(
                "help.status_reply.claimed",
                lang,
                number=ticket.id,
                topic=ticket.topic,
                mentor=f"<@{ticket.claimed_by}>",
                when=render.ts(ticket.claimed_at),
            )
        await send(interaction, text)

    # -- mentors ------------------------------------------------------------------

    async def _duty(self, interaction: discord.Interaction, on: bool) -> None:
        require_mentor(interaction)
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            mentor = await svc.set_duty(session, now, interaction.user.id, on)
            waiting = len(await svc.waiting(session))
        if on:
            skills = ", ".join(mentor.skills) if mentor.skills else t("help.mentor.no_skills", lang)
            text = t("help.mentor.on", lang, skills=skills, waiting=waiting)
        else:
            text = t("help.mentor.off", lang)
        await send(interaction, text)
        desk_of(self.bot).poke()  # estimates depend on who is on duty

    @duty.command(
        name=L("cmd.mentor.duty.on.name"), description=L("cmd.mentor.duty.on.description")
    )
    async def duty_on(self, interaction: discord.Interaction) -> None:
        await self._duty(interaction, True)

    @duty.command(
        name=L("cmd.mentor.duty.off.name"), description=L("cmd.mentor.duty.off.description")
    )
    async def duty_off(self, interaction: discord.Interaction) -> None:
        await self._duty(interaction, False)

    @mentor.command(
        name=L("cmd.mentor.skills.name"), description=L("cmd.mentor.skills.description")
    )
    @app_commands.rename(skills=L("cmd.mentor.skills.options.skills.name"))
    @app_commands.describe(skills=L("cmd.mentor.skills.options.skills.description"))
    async def skills(
        self, interaction: discord.Interaction, skills: app_commands.Range[str, 1, 1000]
    ) -> None:
        require_mentor(interaction)
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            mentor = await svc.set_skills(
                session, self.bot.clock.now(), interaction.user.id, skills
            )
        shown = ", ".join(mentor.skills) if mentor.skills else t("help.mentor.no_skills", lang)
        known = ", ".join(self.bot.settings.help.topics)
        await send(interaction, t("help.mentor.skills_set", lang, skills=shown, topics=known))

    @mentor.command(name=L("cmd.mentor.queue.name"), description=L("cmd.mentor.queue.description"))
    async def queue(self, interaction: discord.Interaction) -> None:
        require_mentor(interaction)
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        async with self.bot.db.read() as session:
            entries, total, mentor = await svc.mentor_queue(session, now, interaction.user.id)
            held = await svc.held_by(session, interaction.user.id)
        embed = discord.Embed(
            title=t("help.queue.title", lang, count=total), colour=discord.Colour.orange()
        )
        lines = []
        for entry in entries:
            ticket = entry.ticket
            link = ""
            if ticket.card_channel_id and ticket.card_message_id:
                link = (
                    f" — https://discord.com/channels/{self.bot.guild_id}/"
                    f"{ticket.card_channel_id}/{ticket.card_message_id}"
                )
            lines.append(
                t(
                    "help.queue.line",
                    lang,
                    mark="★" if entry.matches else "•",
                    number=ticket.id,
                    topic=ticket.topic,
                    team=entry.team_name,
                    waited=render.ts(ticket.created_at),
                )
                + link
            )
        embed.description = render.fit(lines, 4000) if lines else t("help.queue.empty", lang)
        duty = mentor is not None and mentor.on_duty
        footer = [t("help.queue.on_duty" if duty else "help.queue.off_duty", lang)]
        if held:
            footer.append(
                t("help.queue.holding", lang, tickets=", ".join(f"#{x.id}" for x in held))
            )
        if total > len(entries):
            footer.append(t("help.queue.more", lang, count=total - len(entries)))
        footer.append(t("help.queue.legend", lang))
        embed.set_footer(text=" · ".join(footer))
        await send(interaction, embed=embed)


class AdminHelp(commands.Cog):
    help = app_commands.Group(
        name=L("cmd.admin.help.name"), description=L("cmd.admin.help.description")
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    @help.command(
        name=L("cmd.admin.help.stats.name"), description=L("cmd.admin.help.stats.description")
    )
    @organiser_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        tz = self.bot.settings.event.tz
        async with self.bot.db.read() as session:
            figures = await svc.stats(session, self.bot.clock.now(), tz)
        await send(interaction, embed=render.stats_embed(figures, lang, tz))

    @help.command(
        name=L("cmd.admin.help.close.name"), description=L("cmd.admin.help.close.description")
    )
    @app_commands.rename(message=L("cmd.admin.help.close.options.message.name"))
    @app_commands.describe(message=L("cmd.admin.help.close.options.message.description"))
    @organiser_only()
    async def close(
        self,
        interaction: discord.Interaction,
        message: app_commands.Range[str, 1, svc.DESCRIPTION_MAX] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            waiting = await svc.set_closed(
                session, self.bot.clock.now(), interaction.user.id, True, message
            )
            text = (await svc.queue_state(session)).message
        desk = desk_of(self.bot)
        told = await desk.queue_closed_notice(waiting, text)
        await desk.notice(
            t(
                "help.admin.closed_notice",
                self.bot.settings.event.language,
                who=f"<@{interaction.user.id}>",
            )
        )
        desk.poke()
        await send(interaction, t("help.admin.closed", lang, waiting=len(waiting), told=told))

    @help.command(
        name=L("cmd.admin.help.open.name"), description=L("cmd.admin.help.open.description")
    )
    @organiser_only()
    async def open(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            await svc.set_closed(session, self.bot.clock.now(), interaction.user.id, False)
        desk = desk_of(self.bot)
        await desk.notice(
            t(
                "help.admin.opened_notice",
                self.bot.settings.event.language,
                who=f"<@{interaction.user.id}>",
            )
        )
        desk.poke()
        await send(interaction, t("help.admin.opened", lang))
