"""/team ... and /lft: what participants type to form teams."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import Refused
from bot.errors import HackbotError
from bot.i18n import t
from bot.interactions import GuardedView, lang_of, send
from bot.localization import L
from bot.models import Member
from bot.models.outbox import Priority
from bot.outbox import eta_text, overwrites_body
from bot.services import outbox
from bot.services import registration as reg_service
from bot.services import teams as team_service
from cogs.teams import cards, spaces, views

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.app import HackBot

log = logging.getLogger(__name__)


def bot_of(interaction: discord.Interaction) -> HackBot:
    return interaction.client  # type: ignore[return-value]


async def board_channel(bot: HackBot) -> discord.TextChannel:
    """The public board for /lft and /team recruit cards (created when first needed)."""
    guild = bot.event_guild
    assert guild is not None
    name = bot.settings.formation.board_channel
    existing = discord.utils.get(guild.text_channels, name=name)
    if existing is not None:
        return existing
    overwrites = {
        guild.default_role: discord.PermissionOverwrite(
            view_channel=True, send_messages=False, create_public_threads=False
        ),
        guild.me: spaces.bot_overwrite(),
    }
    write = outbox.channel_create(
        guild.id,
        name=name,
        type=0,
        topic=t("lft.board_topic", bot.settings.event.language),
        overwrites=overwrites_body(overwrites),
        reason=t("teams.space.audit_reason", bot.settings.event.language),
        priority=Priority.URGENT,
        key=f"board:{guild.id}",
    )
    channel = await bot.make_channel(write)
    if not isinstance(channel, discord.TextChannel):
        raise Refused(f"#{name} is not a text channel")
    return channel


def card_removals(bot: HackBot, stale: list[team_service.BoardCard]) -> list[outbox.Write]:
    """The writes that take cards off the board (the bot's own messages: no extra
    permission; one already gone counts as taken off)."""
    reason = t("teams.card_removed_reason", bot.settings.event.language)
    return [outbox.message_delete(c.channel_id, c.message_id, reason=reason) for c in stale]


#: The outbox handlers that record a board card once Discord has it.
PROFILE_CARD = "board.profile_card"
TEAM_CARD = "board.team_card"
#: How long a /lft or recruit answer waits for its card, to give its link (seconds);
#: past it, the answer says when the card will be there.
CARD_WAIT_S = 4.0


def register_card_handlers(bot: HackBot) -> None:
    async def profile_card(session, now, write, result, error) -> None:  # type: ignore[no-untyped-def]
        """A /lft card is on the board: it replaces the person's previous card, unless they
        found a team meanwhile (then it is taken down at once)."""
        if error is not None or result is None:
            log.warning("a /lft card could not be posted: %s", error)
            return
        discord_id = int(write.payload["ref"]["discord_id"])
        card = team_service.BoardCard(int(write.payload["channel_id"]), int(result["message_id"]))
        if await team_service.team_of(session, discord_id) is not None:
            stale = [card]
        else:
            old = await team_service.replace_profile_card(
                session, discord_id, card.channel_id, card.message_id
            )
            stale = [old] if old else []
        await outbox.enqueue_many(session, now, card_removals(bot, stale))

    async def team_card(session, now, write, result, error) -> None:  # type: ignore[no-untyped-def]
        """A recruit card is on the board: it replaces the team's previous one, and is taken
        down at once if the team filled up (or was archived) meanwhile."""
        if error is not None or result is None:
            log.warning("a recruit card could not be posted: %s", error)
            return
        team_id = int(write.payload["ref"]["team_id"])
        old = await team_service.replace_team_card(
            session, team_id, int(write.payload["channel_id"]), int(result["message_id"])
        )
        stale = [old] if old else []
        stale += await team_service.stale_cards(session, bot.settings, team_id)
        await outbox.enqueue_many(session, now, card_removals(bot, stale))

    bot.outbox.on_done(PROFILE_CARD, profile_card)
    bot.outbox.on_done(TEAM_CARD, team_card)


async def post_card(
    bot: HackBot,
    write: outbox.Write,
    owner: tuple[str, int],
    posted_key: str,
    posting_key: str,
    lang: str,
) -> str:
    """Store the card's post (the outbox sends it, never twice) and the answer to give:
    with the card's link if Discord has it within :data:`CARD_WAIT_S`, otherwise when it
    will be there."""
    async with bot.db.begin() as session:
        (stored,) = await outbox.enqueue_many(session, bot.clock.now(), [write])
    queued = stored.queued
    if queued is not None and await bot.outbox.wait([queued.id], within=CARD_WAIT_S):
        async with bot.db.read() as session:
            card = await team_service.board_card_of(session, *owner)
        if card is not None:
            link = (
                f"https://discord.com/channels/{bot.guild_id}/{card.channel_id}/{card.message_id}"
            )
            return t(posted_key, lang, link=link)
    eta = eta_text(bot.outbox.estimate(queued) if queued is not None else 0.0, lang)
    return t(posting_key, lang, eta=eta)


async def team_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    async with bot.db.read() as session:
        found = await team_service.search(session, current)
    return [
        app_commands.Choice(
            name=t(
                "teams.autocomplete", lang, name=name, size=size, max=bot.settings.teams.max_size
            )[:100],
            value=str(team_id),
        )
        for team_id, name, size in found
    ]


async def challenge_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = bot_of(interaction)
    async with bot.db.read() as session:
        found = await team_service.challenge_choices(session, current)
    return [app_commands.Choice(name=c.name[:100], value=str(c.id)) for c in found]


#: How long past the time it was told a new team's answer says its space "is being made"
#: before it says Discord is slow (the link replaces either once the space exists).
SPACE_SLOW_S = 10.0
#: From this wait on, the answer says how long the space will take ("in about 3 min").
ETA_SAID_FROM_S = 45.0
#: Background work started after an answer (kept referenced until it ends).
_BACKGROUND: set[asyncio.Task[None]] = set()


def after_change(bot: HackBot, change: team_service.Change) -> None:
    """The team changed and the member has their answer: its space follows in the background
    (created, access given or taken, renamed: Discord's pace, not the member's wait)."""
    _spawn(spaces.team_changed(bot, change.team_id), f"hackbot-job:team:{change.team_id}")


def _spawn(work: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.create_task(work, name=name)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def answer_with_space(
    interaction: discord.Interaction,
    bot: HackBot,
    change: team_service.Change,
    text: str,
    lang: str,
    *,
    new_team: bool = False,
) -> None:
    """Answer at once; the team's space follows in the background. A team whose space does
    not exist yet (always so for a ``new_team``) reads that it is being made, and the answer
    gains its link once Discord has made it (or says why it is late)."""
    space_id = None if new_team else await _space_id(bot, change.team_id)
    if space_id is not None:
        await send(interaction, text + t("teams.space_line", lang, space=f"<#{space_id}>"))
        after_change(bot, change)
        return
    # Spaces are made one at a time at Discord's pace: at a rush, say how long it takes.
    eta = spaces.manager(bot).creation_eta()
    if eta < ETA_SAID_FROM_S:
        await send(interaction, text + t("teams.space_coming", lang))
    else:
        await send(interaction, text + t("teams.space_coming_eta", lang, eta=eta_text(eta, lang)))
    # Past the time it was told (and a margin), the answer says Discord is slow.
    slow_after = SPACE_SLOW_S + eta * 1.25

    async def show(line: str) -> None:
        try:
            await interaction.edit_original_response(content=text + line)
        except discord.HTTPException:
            log.info("team %s: the answer could not show the new space", change.team_id)

    async def then() -> None:
        making = asyncio.ensure_future(spaces.team_changed(bot, change.team_id))
        done, _ = await asyncio.wait({making}, timeout=slow_after)
        said_late = not done
        if said_late:  # Discord is slow or refusing: say so, and keep waiting
            await show(t("teams.space_pending", lang))
        await making
        made = await _space_id(bot, change.team_id)
        if made is not None:
            await show(t("teams.space_line", lang, space=f"<#{made}>"))
        elif not said_late:
            await show(t("teams.space_pending", lang))

    _spawn(then(), f"hackbot-job:team:{change.team_id}")


async def _dm(session: AsyncSession, bot: HackBot, user_id: int, content: str) -> None:
    """A direct message, stored in the change's transaction (the outbox sends it)."""
    await outbox.enqueue(session, bot.clock.now(), outbox.dm_send(user_id, content=content))


async def _space_id(bot: HackBot, team_id: int) -> int | None:
    async with bot.db.read() as session:
        return (await team_service.space_of(session, team_id)).channel_id


async def _space_text(bot: HackBot, team_id: int, lang: str) -> str:
    space_id = await _space_id(bot, team_id)
    if space_id is None:  # being made, refused for now, or the server is full
        return t("teams.space_coming", lang)
    return t("teams.space_line", lang, space=f"<#{space_id}>")


async def join_flow(interaction: discord.Interaction, team_text: str) -> None:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.db.begin() as session:
        change = await team_service.join_team(
            session, bot.settings, bot.clock.now(), interaction.user.id, team_text
        )
    if change.outcome == "joined":
        await answer_with_space(
            interaction, bot, change, t("teams.joined", lang, team=change.team_name), lang
        )
        return
    await post_request(bot, change, interaction.user)
    await send(interaction, t("teams.request_sent", lang, team=change.team_name))


async def post_request(
    bot: HackBot, change: team_service.Change, requester: discord.abc.User
) -> None:
    """Put a join request, with Accept/Decline buttons, in the team's space (through the
    outbox: the requester has their answer at once; the card's place is recorded when
    Discord has it)."""
    assert change.request_id is not None
    lang = bot.settings.event.language
    async with bot.db.begin() as session:
        space = await team_service.space_of(session, change.team_id)
        if space.channel_id is None:
            return  # no space yet: the request stays recorded, without a card
        profile = await reg_service.profile_of(session, requester.id)
        types = ", ".join(
            cards.profile_type_label(p, lang) for p in (profile.profile_types if profile else [])
        )
        skills = ", ".join(profile.skills) if profile else ""
        card = outbox.message_send(
            space.channel_id,
            content=t(
                "teams.request_card",
                lang,
                user=requester.mention,
                team=change.team_name,
                types=types or "—",
                skills=skills or "—",
            ),
            components=views.request_view(change.request_id, lang).to_components(),
            on_done=team_service.REQUEST_POSTED,
            ref={"request_id": change.request_id},
        )
        await outbox.enqueue(session, bot.clock.now(), card)


async def invite_flow(interaction: discord.Interaction, invitee_id: int) -> None:
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.db.begin() as session:
        change = await team_service.invite(
            session, bot.settings, bot.clock.now(), interaction.user.id, invitee_id
        )
        invitee = await team_service.member_row(session, invitee_id)
        invitee_lang = (invitee.locale if invitee else None) or bot.settings.event.language
    assert change.request_id is not None
    invitation = outbox.dm_send(
        invitee_id,
        content=t(
            "teams.invite_dm",
            invitee_lang,
            user=interaction.user.display_name,
            team=change.team_name,
            event=bot.settings.event.name,
        ),
        components=views.request_view(change.request_id, invitee_lang).to_components(),
        priority=Priority.URGENT,  # the inviter is reading the answer
    )
    delivery = await bot.outbox.deliver(invitation, within=CARD_WAIT_S)
    user = f"<@{invitee_id}>"
    if delivery.status == "pending":
        eta = eta_text(delivery.eta_s, lang)
        text = t("teams.invite_on_its_way", lang, user=user, team=change.team_name, eta=eta)
    else:
        key = "teams.invited" if delivery.status == "done" else "teams.invited_no_dm"
        text = t(key, lang, user=user, team=change.team_name)
    await send(interaction, text)


async def answer_request(interaction: discord.Interaction, request_id: int, accept: bool) -> None:
    """Accept/Decline on a join request (in the team's space) or an invitation (in DMs).

    The space is updated before anyone is told; the card then says what happened and
    loses its buttons, and the person who asked (or invited) hears about it.
    """
    bot = bot_of(interaction)
    lang = lang_of(interaction)
    await interaction.response.defer(ephemeral=True, thinking=True)
    async with bot.db.begin() as session:
        change, subject_id = await team_service.answer_request(
            session, bot.settings, bot.clock.now(), request_id, interaction.user.id, accept
        )
        request = await session.get(team_service.TeamRequest, request_id)
        kind = request.kind if request else "request"
        subject = await session.get(Member, request.member_id) if request else None
        subject_lang = (subject.locale if subject else None) or bot.settings.event.language
    outcome = "accepted" if accept else "declined"
    if accept:
        after_change(bot, change)
    card_lang = bot.settings.event.language if kind == "request" else lang
    text = t(
        f"teams.{kind}_done.{outcome}",
        card_lang,
        user=f"<@{subject_id}>",
        by=interaction.user.display_name,
        team=change.team_name,
    )
    if interaction.message is not None:  # the card shows the answer, without its buttons
        card = outbox.message_edit(
            interaction.message.channel.id, interaction.message.id, content=text, components=[]
        )
        async with bot.db.begin() as session:
            await outbox.enqueue(session, bot.clock.now(), card)
    if kind == "request":
        space = await _space_text(bot, change.team_id, subject_lang) if accept else ""
        async with bot.db.begin() as session:
            await _dm(
                session,
                bot,
                subject_id,
                t(f"teams.request_answer.{outcome}", subject_lang, team=change.team_name) + space,
            )
        await send(interaction, text)
    else:
        space = await _space_text(bot, change.team_id, lang) if accept else ""
        await send(interaction, text + space)


class Teams(commands.Cog):
    team = app_commands.Group(
        name=L("cmd.team.name"),
        description=L("cmd.team.description"),
        guild_only=True,
        extras={"audience": "participant"},
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    # -- create / join / invite ------------------------------------------------------

    @team.command(name=L("cmd.team.create.name"), description=L("cmd.team.create.description"))
    @app_commands.rename(
        name=L("cmd.team.create.options.name.name"),
        challenge=L("cmd.team.create.options.challenge.name"),
        description=L("cmd.team.create.options.description.name"),
    )
    @app_commands.describe(
        name=L("cmd.team.create.options.name.description"),
        challenge=L("cmd.team.create.options.challenge.description"),
        description=L("cmd.team.create.options.description.description"),
    )
    @app_commands.autocomplete(challenge=challenge_autocomplete)
    async def create(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        challenge: str | None = None,
        description: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.create_team(
                session,
                self.bot.settings,
                self.bot.clock.now(),
                interaction.user.id,
                name,
                challenge=challenge,
                description=description,
            )
        await answer_with_space(
            interaction,
            self.bot,
            change,
            t("teams.created", lang, team=change.team_name),
            lang,
            new_team=True,
        )

    @team.command(name=L("cmd.team.join.name"), description=L("cmd.team.join.description"))
    @app_commands.rename(team=L("cmd.team.join.options.team.name"))
    @app_commands.describe(team=L("cmd.team.join.options.team.description"))
    @app_commands.autocomplete(team=team_autocomplete)
    async def join(self, interaction: discord.Interaction, team: str) -> None:
        await join_flow(interaction, team)

    @team.command(name=L("cmd.team.invite.name"), description=L("cmd.team.invite.description"))
    @app_commands.rename(member=L("cmd.team.invite.options.member.name"))
    @app_commands.describe(member=L("cmd.team.invite.options.member.description"))
    async def invite(self, interaction: discord.Interaction, member: discord.Member) -> None:
        if member.bot:
            raise HackbotError("teams.invite_bot")
        await invite_flow(interaction, member.id)

    # -- leave / kick / captain / rename ------------------------------------------------

    @team.command(name=L("cmd.team.leave.name"), description=L("cmd.team.leave.description"))
    async def leave(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.leave_team(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id
            )
        after_change(self.bot, change)
        if change.archived:
            text = t("teams.left_archived", lang, team=change.team_name)
        elif change.new_captain:
            text = t(
                "teams.left_new_captain",
                lang,
                team=change.team_name,
                captain=f"<@{change.new_captain}>",
            )
        else:
            text = t("teams.left", lang, team=change.team_name)
        await send(interaction, text)
        if change.new_captain:
            await self._tell_space(
                change.team_id, "teams.space.new_captain", user=f"<@{change.new_captain}>"
            )

    async def _tell_space(self, team_id: int, key: str, **params: str) -> None:
        """A line in the team's space, through the outbox (the space may be archived, or
        not made yet: then there is nowhere to say it)."""
        async with self.bot.db.begin() as session:
            space = await team_service.space_of(session, team_id)
            if space.channel_id is not None:
                text = t(key, self.bot.settings.event.language, **params)
                write = outbox.message_send(space.channel_id, content=text)
                await outbox.enqueue(session, self.bot.clock.now(), write)

    @team.command(name=L("cmd.team.kick.name"), description=L("cmd.team.kick.description"))
    @app_commands.rename(member=L("cmd.team.kick.options.member.name"))
    @app_commands.describe(member=L("cmd.team.kick.options.member.description"))
    async def kick(self, interaction: discord.Interaction, member: discord.Member) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.kick(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, member.id
            )
            kicked = await team_service.member_row(session, member.id)
            kicked_lang = (kicked.locale if kicked else None) or self.bot.settings.event.language
            text = t("teams.kicked_dm", kicked_lang, team=change.team_name)
            await _dm(session, self.bot, member.id, text)
        after_change(self.bot, change)
        await send(interaction, t("teams.kicked", lang, user=member.mention, team=change.team_name))

    @team.command(name=L("cmd.team.captain.name"), description=L("cmd.team.captain.description"))
    @app_commands.rename(member=L("cmd.team.captain.options.member.name"))
    @app_commands.describe(member=L("cmd.team.captain.options.member.description"))
    async def captain(self, interaction: discord.Interaction, member: discord.Member) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.set_captain(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, member.id
            )
        await send(
            interaction, t("teams.captain_set", lang, user=member.mention, team=change.team_name)
        )
        await self._tell_space(change.team_id, "teams.space.new_captain", user=member.mention)
        self.bot.dispatch("hackbot_team_changed", change.team_id)

    @team.command(name=L("cmd.team.rename.name"), description=L("cmd.team.rename.description"))
    @app_commands.rename(name=L("cmd.team.rename.options.name.name"))
    @app_commands.describe(name=L("cmd.team.rename.options.name.description"))
    async def rename(
        self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 100]
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change, old = await team_service.rename(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, name
            )
        await send(interaction, t("teams.renamed", lang, old=old, team=change.team_name))
        await self._tell_space(
            change.team_id, "teams.space.renamed", old=old, team=change.team_name
        )
        await spaces.team_changed(self.bot, change.team_id)  # the space follows the new name

    # -- info / list ---------------------------------------------------------------------

    @team.command(name=L("cmd.team.info.name"), description=L("cmd.team.info.description"))
    @app_commands.rename(team=L("cmd.team.info.options.team.name"))
    @app_commands.describe(team=L("cmd.team.info.options.team.description"))
    @app_commands.autocomplete(team=team_autocomplete)
    async def info(self, interaction: discord.Interaction, team: str | None = None) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            if team:
                row = await team_service.find_team(session, team)
            else:
                row = await team_service.team_of(session, interaction.user.id)
                if row is None:
                    raise HackbotError("teams.not_in_team_info")
            data = await team_service.view(session, row)
        await send(interaction, embed=cards.team_embed(self.bot, data, lang))

    @team.command(name=L("cmd.team.list.name"), description=L("cmd.team.list.description"))
    @app_commands.rename(
        challenge=L("cmd.team.list.options.challenge.name"),
        page=L("cmd.team.list.options.page.name"),
    )
    @app_commands.describe(
        challenge=L("cmd.team.list.options.challenge.description"),
        page=L("cmd.team.list.options.page.description"),
    )
    @app_commands.autocomplete(challenge=challenge_autocomplete)
    async def list_(
        self,
        interaction: discord.Interaction,
        challenge: str | None = None,
        page: app_commands.Range[int, 1, 10000] = 1,
    ) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            found = await team_service.find_challenge(session, challenge)
        pager = TeamPager(
            self.bot, lang, found.id if found else None, found.name if found else None
        )
        embed = await pager.render(page)
        await send(
            interaction, embed=embed, view=pager if pager.pages > 1 else discord.utils.MISSING
        )

    # -- challenge / joining / recruit ------------------------------------------------------

    @team.command(
        name=L("cmd.team.challenge.name"), description=L("cmd.team.challenge.description")
    )
    @app_commands.rename(challenge=L("cmd.team.challenge.options.challenge.name"))
    @app_commands.describe(challenge=L("cmd.team.challenge.options.challenge.description"))
    @app_commands.autocomplete(challenge=challenge_autocomplete)
    async def challenge(
        self, interaction: discord.Interaction, challenge: str | None = None
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.set_challenge(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, challenge
            )
            data = await team_service.view(
                session, await team_service.get_team(session, change.team_id)
            )
        if data.challenge_name:
            text = t("teams.challenge_set", lang, team=data.name, challenge=data.challenge_name)
        else:
            text = t("teams.challenge_cleared", lang, team=data.name)
        await send(interaction, text)
        self.bot.dispatch("hackbot_team_changed", change.team_id)

    @team.command(name=L("cmd.team.joining.name"), description=L("cmd.team.joining.description"))
    @app_commands.rename(mode=L("cmd.team.joining.options.mode.name"))
    @app_commands.describe(mode=L("cmd.team.joining.options.mode.description"))
    @app_commands.choices(
        mode=[
            app_commands.Choice(name=L("teams.joining.choice.open"), value="open"),
            app_commands.Choice(name=L("teams.joining.choice.request"), value="request"),
        ]
    )
    async def joining(self, interaction: discord.Interaction, mode: str) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.set_open(
                session,
                self.bot.settings,
                self.bot.clock.now(),
                interaction.user.id,
                mode == "open",
            )
        await send(interaction, t(f"teams.joining.set.{mode}", lang, team=change.team_name))
        self.bot.dispatch("hackbot_team_changed", change.team_id)

    @team.command(name=L("cmd.team.recruit.name"), description=L("cmd.team.recruit.description"))
    async def recruit(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            await team_service.participant(session, interaction.user.id)
            team = await team_service.team_of(session, interaction.user.id)
            if team is None:
                raise HackbotError("teams.not_in_team")
            current = list(team.looking_for or [])
        view = RecruitView(self.bot, lang, current)
        await send(interaction, t("teams.recruit_prompt", lang), view=view)

    # -- looking for a team --------------------------------------------------------------

    @app_commands.command(
        name=L("cmd.lft.name"),
        description=L("cmd.lft.description"),
        extras={"audience": "participant"},
    )
    @app_commands.guild_only()
    async def lft(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        board_lang = self.bot.settings.event.language
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            if await team_service.team_of(session, interaction.user.id) is not None:
                raise HackbotError("lft.already_in_team")
            profile = await reg_service.mark_card_posted(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id
            )
            wishes = await _challenge_names(session, list(profile.wishes or []))
        embed = cards.profile_embed(
            profile,
            board_lang,
            discord_id=interaction.user.id,
            challenge_names=wishes,
            team_name=None,
            own=False,
        )
        embed.title = t("lft.card_title", board_lang, name=profile.display_name)
        board = await board_channel(self.bot)
        # One card per person: the previous one is taken down once this one is up.
        write = outbox.message_send(
            board.id,
            embeds=[embed.to_dict()],
            components=views.lft_view(interaction.user.id, board_lang).to_components(),
            on_done=PROFILE_CARD,
            ref={"discord_id": interaction.user.id},
            key=f"board:profile:{interaction.user.id}",
        )
        owner = ("profile", interaction.user.id)
        text = await post_card(self.bot, write, owner, "lft.posted", "lft.posting", lang)
        await send(interaction, text)


async def _challenge_names(session, ids: list[int]) -> list[str]:  # type: ignore[no-untyped-def]
    from bot.models.challenges import Challenge

    out = []
    for cid in ids:
        challenge = await session.get(Challenge, cid)
        if challenge is not None:
            out.append(challenge.name)
    return out


class TeamPager(GuardedView):
    def __init__(
        self, bot: HackBot, lang: str, challenge_id: int | None, challenge_name: str | None
    ):
        super().__init__(timeout=600)
        self.bot = bot
        self.lang = lang
        self.challenge_id = challenge_id
        self.challenge_name = challenge_name
        self.page = 1
        self.pages = 1
        self.previous.label = t("teams.list.previous", lang)
        self.next.label = t("teams.list.next", lang)

    async def render(self, page: int) -> discord.Embed:
        async with self.bot.db.read() as session:
            rows, self.pages = await team_service.list_page(
                session, challenge_id=self.challenge_id, page=page
            )
        self.page = min(max(1, page), self.pages)
        lang = self.lang
        title = (
            t("teams.list.title_challenge", lang, challenge=self.challenge_name)
            if self.challenge_name
            else t("teams.list.title", lang)
        )
        embed = discord.Embed(title=title, colour=cards.CARD_COLOUR)
        lines = []
        max_size = self.bot.settings.teams.max_size
        for team, size in rows:
            state = t("teams.list.open" if team.open else "teams.list.closed", lang)
            lines.append(
                t("teams.list.line", lang, team=team.name, size=size, max=max_size, state=state)
            )
        embed.description = "\n".join(lines) or t("teams.list.empty", lang)
        embed.set_footer(text=t("teams.list.page", lang, page=self.page, pages=self.pages))
        self.previous.disabled = self.page <= 1
        self.next.disabled = self.page >= self.pages
        return embed

    @discord.ui.button(label="<", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        embed = await self.render(self.page - 1)
        await interaction.response.edit_message(embed=embed, view=self)

    @discord.ui.button(label=">", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        embed = await self.render(self.page + 1)
        await interaction.response.edit_message(embed=embed, view=self)


class RecruitView(GuardedView):
    """Pick the profile types the team misses, then post its card on the board."""

    def __init__(self, bot: HackBot, lang: str, current: list[str]) -> None:
        super().__init__(timeout=600)
        self.bot = bot
        self.lang = lang
        types = bot.settings.registration.profile_types
        select = discord.ui.Select(
            placeholder=t("teams.recruit_placeholder", lang),
            min_values=1,
            max_values=len(types),
            options=[
                discord.SelectOption(
                    label=cards.profile_type_label(p, lang)[:100], value=p, default=p in current
                )
                for p in types
            ],
        )
        select.callback = self.chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    async def chosen(self, interaction: discord.Interaction) -> None:
        bot = self.bot
        board_lang = bot.settings.event.language
        await interaction.response.defer()
        async with bot.db.begin() as session:
            team, _size = await team_service.set_looking_for(
                session,
                bot.settings,
                bot.clock.now(),
                interaction.user.id,
                list(self.select.values),
            )
            data = await team_service.view(session, team)
        embed = cards.team_embed(bot, data, board_lang)
        embed.title = t("teams.recruit_card_title", board_lang, team=data.name)
        board = await board_channel(bot)
        # One card per team: the previous one is taken down once this one is up.
        write = outbox.message_send(
            board.id,
            embeds=[embed.to_dict()],
            components=views.team_card_view(data.id, board_lang).to_components(),
            on_done=TEAM_CARD,
            ref={"team_id": data.id},
            key=f"board:team:{data.id}",
        )
        text = await post_card(
            bot,
            write,
            ("team", data.id),
            "teams.recruit_posted",
            "teams.recruit_posting",
            self.lang,
        )
        await interaction.edit_original_response(content=text, view=None)
        bot.dispatch("hackbot_team_changed", data.id)
