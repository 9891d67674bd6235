"""Buttons that keep working after a restart (discord.ui.DynamicItem):

* ``help:(claim|release|resolve|keep):<ticket>`` — on a ticket's card in the queue channel;
* ``help:cancel:<ticket>`` — on the team's status message;
* ``help:rate:<ticket>:<1-5>`` — on the "how was it?" message after resolution.

The rating is stored by the click itself; the comment form that follows is optional.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.i18n import t
from bot.interactions import report_error, reports_errors
from bot.models.help import HelpTicket

CARD_ACTIONS = ("claim", "release", "resolve", "keep")


class CardButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"help:(?P<action>claim|release|resolve|keep):(?P<ticket>\d+)",
):
    STYLES = {
        "claim": discord.ButtonStyle.success,
        "release": discord.ButtonStyle.secondary,
        "resolve": discord.ButtonStyle.primary,
        "keep": discord.ButtonStyle.secondary,
    }

    def __init__(self, action: str, ticket_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t(f"help.button.{action}", lang),
                style=self.STYLES[action],
                custom_id=f"help:{action}:{ticket_id}",
            )
        )
        self.action = action
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> CardButton:
        return cls(match["action"], int(match["ticket"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.help import actions

        await actions.card_action(interaction, self.action, self.ticket_id)


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"help:cancel:(?P<ticket>\d+)"
):
    def __init__(self, ticket_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t("help.button.cancel", lang),
                style=discord.ButtonStyle.secondary,
                custom_id=f"help:cancel:{ticket_id}",
            )
        )
        self.ticket_id = ticket_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> CancelButton:
        return cls(int(match["ticket"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.help import actions

        await actions.cancel_flow(interaction, self.ticket_id)


class RateButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"help:rate:(?P<ticket>\d+):(?P<score>[1-5])",
):
    def __init__(self, ticket_id: int, score: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{score} ★",
                style=discord.ButtonStyle.secondary,
                custom_id=f"help:rate:{ticket_id}:{score}",
            )
        )
        self.ticket_id = ticket_id
        self.score = score

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> RateButton:
        return cls(int(match["ticket"]), int(match["score"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        from cogs.help import actions

        await actions.rate_flow(interaction, self.ticket_id, self.score)


class CommentModal(discord.ui.Modal):
    def __init__(self, ticket_id: int, score: int, lang: str) -> None:
        super().__init__(
            title=t("help.rate.modal_title", lang, score=score)[:45],
            custom_id=f"help:comment:{ticket_id}",
        )
        self.ticket_id = ticket_id
        self.comment: discord.ui.TextInput[CommentModal] = discord.ui.TextInput(
            label=t("help.rate.comment_label", lang)[:45],
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=500,
            placeholder=t("help.rate.comment_placeholder", lang)[:100],
        )
        self.add_item(self.comment)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        from cogs.help import actions

        await actions.comment_flow(interaction, self.ticket_id, self.comment.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report_error(interaction, error)


def card_view(ticket: HelpTicket, lang: str) -> discord.ui.View | None:
    buttons: tuple[str, ...] = ()
    if ticket.status == "open":
        buttons = ("claim",)
    elif ticket.status == "claimed":
        buttons = ("resolve", "keep", "release")
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for action in buttons:
        view.add_item(CardButton(action, ticket.id, lang))
    return view


def status_view(ticket: HelpTicket, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(ticket.id, lang))
    return view


def rating_view(ticket_id: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for score in range(1, 6):
        view.add_item(RateButton(ticket_id, score))
    return view


def dynamic_items() -> list[type[Any]]:
    return [CardButton, CancelButton, RateButton]
