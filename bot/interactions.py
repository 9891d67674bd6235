"""Helpers shared by every cog: replying in the user's language, the
organiser check, and turning errors into translated ephemeral replies."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands

from bot.errors import HackbotError, NotAllowed
from bot.i18n import t
from bot.localization import interaction_lang

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
UNKNOWN_INTERACTION = 10062


def lang_of(interaction: discord.Interaction) -> str:
    bot: HackBot = interaction.client  # type: ignore[assignment]
    return interaction_lang(interaction, bot.settings.event.language)


async def send(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    ephemeral: bool = True,
    **kwargs: Any,
) -> None:
    """Answer an interaction whether or not it was already responded to.

    Mentions are off unless the caller passes ``allowed_mentions``; ``view=None`` means
    no view (discord.py wants the argument left out).
    """
    kwargs.setdefault("allowed_mentions", NO_MENTIONS)
    if "view" in kwargs and kwargs["view"] is None:
        del kwargs["view"]
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=ephemeral, **kwargs)
    else:
        await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)


class NotOrganiser(app_commands.CheckFailure):
    """Raised by :func:`organiser_only` for members without the organiser role."""


def is_organiser(interaction: discord.Interaction) -> bool:
    bot: HackBot = interaction.client  # type: ignore[assignment]
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    if member.guild_permissions.administrator:
        return True
    wanted = bot.settings.roles.organiser
    return any(role.name == wanted for role in member.roles)


def organiser_only():
    """An app-command check enforced by the bot itself (not only Discord's default permissions)."""

    def predicate(interaction: discord.Interaction) -> bool:
        if not is_organiser(interaction):
            raise NotOrganiser()
        return True

    return app_commands.check(predicate)


def new_error_id() -> str:
    return secrets.token_hex(4)


#: How much of a value an error message quotes back (a pasted 4,000-character name
#: would push the message past Discord's 2,000-character limit and lose it).
QUOTE_LIMIT = 100


def clip(value: Any, limit: int = QUOTE_LIMIT) -> Any:
    """``value`` cut to ``limit`` characters with an ellipsis, if it is a long string."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The single place where an exception becomes something a user reads."""
    lang = lang_of(interaction)
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    elif isinstance(error, app_commands.TransformerError) and error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION:
        # Too late: Discord already told the member the app did not respond. Answering
        # again would fail the same way and double the load when the bot is overloaded.
        age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        log.warning("interaction %s expired before the answer (%.1f s old)", interaction.id, age)
        return
    if isinstance(error, HackbotError):
        message = t(error.key, lang, **{k: clip(v) for k, v in error.params.items()})
    elif isinstance(error, NotOrganiser):
        message = t("error.organiser_only", lang)
    elif isinstance(error, app_commands.NoPrivateMessage):
        message = t("error.guild_only", lang)
    elif isinstance(error, app_commands.CommandOnCooldown):
        message = t("error.cooldown", lang, seconds=max(1, round(error.retry_after)))
    elif isinstance(error, app_commands.CheckFailure):
        message = t(NotAllowed.key, lang)
    else:
        error_id = new_error_id()
        log.error(
            "unexpected error %s in interaction %s (user %s, command %s)",
            error_id,
            interaction.id,
            interaction.user.id if interaction.user else None,
            interaction.command.qualified_name if interaction.command else interaction.data,
            exc_info=(type(error), error, error.__traceback__),
        )
        message = t("error.unexpected", lang, error_id=error_id)
    try:
        await send(interaction, message, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not deliver an error reply for interaction %s", interaction.id)


_Item = TypeVar("_Item")


def reports_errors(
    callback: Callable[[_Item, discord.Interaction], Awaitable[None]],
) -> Callable[[_Item, discord.Interaction], Awaitable[None]]:
    """For a ``DynamicItem``'s callback: discord.py builds the view around a dynamic item
    itself (a plain View, not a GuardedView), so an error would only be logged there. Like a
    command's, it is answered with its translated message (or the apology and an error id)."""

    @functools.wraps(callback)
    async def reported(item: _Item, interaction: discord.Interaction) -> None:
        try:
            await callback(item, interaction)
        except Exception as error:
            await report_error(interaction, error)

    return reported


#: An autocomplete still waiting after this long is dropped unanswered: Discord's 3 seconds
#: will be gone before the choices arrive, and under a burst the work would only delay others.
AUTOCOMPLETE_GIVE_UP_SECONDS = 2.5


class _LateAutocomplete(logging.Filter):
    """discord.py logs an autocomplete answered too late (10062 Unknown interaction) as an
    error with its traceback; at a busy minute formatting hundreds of tracebacks costs the
    bot time it lacks. Such a record becomes one warning line; other errors stay as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not str(record.msg).startswith("Ignoring exception in autocomplete"):
            return True
        if isinstance(error, discord.NotFound) and error.code == UNKNOWN_INTERACTION:
            why = "answered too late: Discord had given up"
        elif isinstance(error, HackbotError) and error.key == "performance.busy":
            why = "the database was busy: no suggestions this time"
        else:
            return True
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = f"{record.msg} ({why})"
        return True


logging.getLogger("discord.app_commands.tree").addFilter(_LateAutocomplete())


class HackTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.type is discord.InteractionType.autocomplete:
            waited = (discord.utils.utcnow() - interaction.created_at).total_seconds()
            if waited > AUTOCOMPLETE_GIVE_UP_SECONDS:
                log.info("autocomplete dropped: it waited %.1f s before its turn", waited)
                return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await report_error(interaction, error)


class GuardedView(discord.ui.View):
    """A view whose callbacks report errors like commands do."""

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await report_error(interaction, error)


class OrganiserView(GuardedView):
    """A view on the reply to an organiser command: every press checks the organiser role
    again (it may have been taken away since the reply was shown), as the command did."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if is_organiser(interaction):
            return True
        await send(interaction, t("error.organiser_only", lang_of(interaction)))
        return False


class ConfirmView(OrganiserView):
    """Confirm / Cancel for an organiser action shown as a preview.

    ``on_confirm(interaction)`` runs the action; Cancel replaces the preview with
    ``cancelled_key``'s text. Labels and texts are catalogue keys, in ``lang``.
    """

    def __init__(
        self,
        lang: str,
        on_confirm: Callable[[discord.Interaction], Awaitable[None]],
        *,
        confirm_key: str,
        cancel_key: str,
        cancelled_key: str,
        timeout: float = 300,
    ) -> None:
        super().__init__(timeout=timeout)
        self.lang, self.on_confirm, self.cancelled_key = lang, on_confirm, cancelled_key
        self.confirm.label = t(confirm_key, lang)
        self.cancel.label = t(cancel_key, lang)

    @discord.ui.button(style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await self.on_confirm(interaction)

    @discord.ui.button(style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=t(self.cancelled_key, self.lang), embed=None, view=None
        )
