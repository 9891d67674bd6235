"""Buttons that must keep working after a restart (discord.ui.DynamicItem).

* ``team:req:(accept|decline):<request id>`` — on a join request (in the team's space)
  or an invitation (in the invitee's DMs);
* ``team:ask:<team id>`` / ``team:talk:<team id>`` — on a team's recruiting card;
* ``lft:invite:<discord id>`` / ``lft:talk:<discord id>`` — on a looking-for-team card.

"Talk" opens a private thread on the board between the person who pressed the button
and the card's owner (the team's captain for a team card): a conversation, without
anyone having to accept direct messages from strangers.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.i18n import t
from bot.interactions import lang_of, reports_errors, send
from bot.models import Member
from bot.models.outbox import Priority
from bot.outbox import eta_text
from bot.services import outbox
from bot.services import teams as team_service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


class RequestAnswer(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"team:req:(?P<answer>accept|decline):(?P<request_id>\d+)",
):
    def __init__(self, answer: str, request_id: int, lang: str = "en") -> None:
        accept = answer == "accept"
        super().__init__(
            discord.ui.Button(
                label=t("teams.button.accept" if accept else "teams.button.decline", lang),
                style=discord.ButtonStyle.success if accept else discord.ButtonStyle.secondary,
                custom_id=f"team:req:{answer}:{request_id}",
            )
        )
        self.answer = answer
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> RequestAnswer:
        return cls(match["answer"], int(match["request_id"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.teams.team_commands import answer_request

        await answer_request(interaction, self.request_id, self.answer == "accept")


def request_view(request_id: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(RequestAnswer("accept", request_id, lang))
    view.add_item(RequestAnswer("decline", request_id, lang))
    return view


class TeamCardButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"team:(?P<action>ask|talk):(?P<team_id>\d+)",
):
    def __init__(self, action: str, team_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t(f"teams.button.{action}", lang),
                style=discord.ButtonStyle.primary
                if action == "ask"
                else discord.ButtonStyle.secondary,
                custom_id=f"team:{action}:{team_id}",
            )
        )
        self.action = action
        self.team_id = team_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> TeamCardButton:
        return cls(match["action"], int(match["team_id"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.teams import team_commands

        if self.action == "ask":
            await team_commands.join_flow(interaction, str(self.team_id))
        else:
            await talk_to_team(interaction, self.team_id)


def team_card_view(team_id: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(TeamCardButton("ask", team_id, lang))
    view.add_item(TeamCardButton("talk", team_id, lang))
    return view


class LftButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lft:(?P<action>invite|talk):(?P<user_id>\d+)",
):
    def __init__(self, action: str, user_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t(f"lft.button.{action}", lang),
                style=discord.ButtonStyle.primary
                if action == "invite"
                else discord.ButtonStyle.secondary,
                custom_id=f"lft:{action}:{user_id}",
            )
        )
        self.action = action
        self.user_id = user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> LftButton:
        return cls(match["action"], int(match["user_id"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.teams import team_commands

        if self.action == "invite":
            await team_commands.invite_flow(interaction, self.user_id)
        else:
            await talk(interaction, [self.user_id], topic_name=None)


def lft_view(user_id: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(LftButton("invite", user_id, lang))
    view.add_item(LftButton("talk", user_id, lang))
    return view


async def talk_to_team(interaction: discord.Interaction, team_id: int) -> None:
    bot: HackBot = interaction.client  # type: ignore[assignment]
    async with bot.db.read() as session:
        team = await team_service.get_team(session, team_id)
        captain = (
            await session.get(Member, team.captain_member_id) if team.captain_member_id else None
        )
        name = team.name
    if captain is None:
        raise team_service.NotFound("teams.unknown")
    await talk(interaction, [captain.discord_id], topic_name=name)


#: How long the person who pressed "Talk" waits for the conversation's link (seconds); past
#: it, the answer says when it will be there.
TALK_WAIT_S = 4.0


async def talk(
    interaction: discord.Interaction, others: list[int], *, topic_name: str | None
) -> None:
    """Open a private thread on the board between the presser and ``others``.

    Only registered participants may: the thread adds and pings the card's owner, so
    anyone else on the server could otherwise reach participants who closed their DMs."""
    bot: HackBot = interaction.client  # type: ignore[assignment]
    lang = lang_of(interaction)
    async with bot.db.read() as session:
        await team_service.participant(session, interaction.user.id)
    if interaction.user.id in others:
        await send(interaction, t("lft.talk_self", lang))
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    channel = interaction.channel
    if not isinstance(channel, discord.TextChannel):
        from cogs.teams.team_commands import board_channel

        channel = await board_channel(bot)
    names = [interaction.user.display_name]
    guild = channel.guild
    for other in others:
        member = guild.get_member(other)
        names.append(member.display_name if member else str(other))
    title = t("lft.thread_name", bot.settings.event.language, names=" ↔ ".join(names))
    if topic_name:
        title = t(
            "lft.thread_name_team",
            bot.settings.event.language,
            name=interaction.user.display_name,
            team=topic_name,
        )
    mentions = [interaction.user.id, *others]
    intro = t(
        "lft.thread_intro",
        bot.settings.event.language,
        people=", ".join(f"<@{m}>" for m in mentions),
    )
    # The thread through the outbox (its people and its first message follow it there);
    # the presser waits a few seconds for its link, no more.
    write = outbox.thread_create(
        channel.id,
        guild_id=guild.id,
        name=title,
        auto_archive=1440,
        priority=Priority.URGENT,
        on_done=team_service.TALK_OPENED,
        ref={"people": mentions, "intro": intro},
    )
    delivery = await bot.outbox.deliver(write, within=TALK_WAIT_S)
    if delivery.status == "pending":
        text = t("lft.talk_on_its_way", lang, eta=eta_text(delivery.eta_s, lang))
    elif delivery.status == "refused" or not delivery.result:
        text = t("lft.talk_refused", lang)
    else:
        text = t("lft.talk_opened", lang, thread=f"<#{delivery.result['channel_id']}>")
    await send(interaction, text)


def dynamic_items() -> list[type[Any]]:
    return [RequestAnswer, TeamCardButton, LftButton]
