"""``[registration] onboarding = true``: the participant role comes from Discord's own
member onboarding.

Discord lets a bot change about 10 member roles per 10 s per server, so granting the
participant role to 28,000 registrants takes 7 h 47 min. The server's onboarding (the
questions Discord asks a member who joins, and later in *Channels & Roles*) can give a
role from an answer: Discord gives it at once, itself, outside the bot's limits.

At set-up the bot adds one question to the onboarding, in the event's language, whose
answer gives the participant role; the organisers' own questions, default channels and
settings are kept as they are (their ids too). Enabling onboarding stays the organisers'
decision (Server Settings -> Onboarding): Discord wants at least 7 default channels, 5 of
them open to everyone's messages, which the bot does not choose for them.

What it changes and what it does not:

* The role is channel access only. Anyone who answers the question gets it, before and
  without the bot's registration (no profile, no match against an imported registrant
  list). Every command checks the database for registration, never the role.
* ``/register`` still grants the role (through the outbox) to a registrant who does not
  hold it, e.g. someone who joined before onboarding was enabled or skipped the question,
  and then says how to get it at once from *Channels & Roles*. A member who answered the
  question registers without any role request of the bot.
* It needs a Community server and the Manage Server permission (``hackbot invite-url
  --onboarding``), besides Manage Roles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.app import Refused
from bot.i18n import t
from bot.models.outbox import Priority
from bot.services import outbox

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

#: How long the bot trusts what it last read of the server's onboarding, in seconds.
LIVE_CACHE_S = 300.0

# Discord's lengths for a prompt (OpenAPI description: UpdateOnboardingPromptRequest,
# OnboardingPromptOptionRequest).
PROMPT_TITLE_MAX = 100
OPTION_TITLE_MAX = 50
OPTION_DESCRIPTION_MAX = 100


def option_title(lang: str) -> str:
    return t("setup.onboarding.option", lang)[:OPTION_TITLE_MAX]


def participant_prompt(bot: HackBot, role_id: int) -> dict[str, Any]:
    """The question added to the onboarding: one answer, which gives the participant role.
    Not required (mentors, judges and visitors skip it). A new prompt's id is a snowflake of
    now, as the Discord client makes them (the field is required); Discord gives the option
    its id."""
    settings = bot.settings
    lang = settings.event.language
    now = bot.clock.now()
    return {
        "id": str(discord.utils.time_snowflake(now)),
        "type": discord.OnboardingPromptType.multiple_choice.value,
        "title": t("setup.onboarding.title", lang, event=settings.event.name)[:PROMPT_TITLE_MAX],
        "options": [
            {
                "id": None,
                "title": option_title(lang),
                "description": t("setup.onboarding.option_description", lang)[
                    :OPTION_DESCRIPTION_MAX
                ],
                "role_ids": [str(role_id)],
                "channel_ids": [],
            }
        ],
        "single_select": False,
        "required": False,
        "in_onboarding": True,
    }


def _writable(prompt: dict[str, Any]) -> dict[str, Any]:
    """A prompt as GET returns it, in the shape PUT takes (the emoji as its three fields,
    the ids kept, so that the organisers' questions and their answers stay as they are)."""
    options = []
    for option in prompt.get("options") or []:
        emoji = option.get("emoji") or {}
        options.append(
            {
                "id": option.get("id"),
                "title": option["title"],
                "description": option.get("description") or None,
                "emoji_id": emoji.get("id"),
                "emoji_name": emoji.get("name"),
                "emoji_animated": bool(emoji.get("animated") or False),
                "role_ids": list(option.get("role_ids") or []),
                "channel_ids": list(option.get("channel_ids") or []),
            }
        )
    return {
        "id": prompt["id"],
        "type": prompt.get("type", 0),
        "title": prompt["title"],
        "options": options,
        "single_select": bool(prompt.get("single_select")),
        "required": bool(prompt.get("required")),
        "in_onboarding": bool(prompt.get("in_onboarding", True)),
    }


def gives_role(onboarding: dict[str, Any], role_id: int) -> bool:
    return any(
        str(role_id) in {str(r) for r in option.get("role_ids") or []}
        for prompt in onboarding.get("prompts") or []
        for option in prompt.get("options") or []
    )


async def ensure_prompt(bot: HackBot, guild: discord.Guild, role: discord.Role) -> list[str]:
    """Add the participant question to the server's onboarding unless an answer already
    gives the role; a line per thing done. Refusals are logged, never raised: the bot works
    without it (``/register`` grants the role)."""
    lang = bot.settings.event.language
    try:
        current = await bot.http.get_guild_onboarding(guild.id)
    except discord.HTTPException as error:
        log.warning("onboarding: could not read the server's onboarding (%s)", error)
        return []
    done: list[str] = []
    if not gives_role(current, role.id):
        prompts = [_writable(p) for p in current.get("prompts") or []]
        write = outbox.onboarding_edit(
            guild.id,
            prompts=[*prompts, participant_prompt(bot, role.id)],
            reason=t("setup.audit_reason", lang),
            priority=Priority.URGENT,
        )
        try:
            made = await bot.make(write)
        except Refused as refused:
            if refused.why.startswith("403"):
                log.warning(
                    "onboarding: Discord refused to add the participant question: the bot "
                    "needs the Manage Server permission (invite it with `hackbot invite-url "
                    "--onboarding`) and its role above %s; /register grants the role meanwhile",
                    role.name,
                )
            else:
                # 350000/350001: not a Community server, or onboarding enabled below
                # Discord's requirements (7 default channels, 5 open to everyone's messages).
                log.warning(
                    "onboarding: Discord refused to add the participant question (%s): it "
                    "needs a Community server; /register grants the role meanwhile",
                    refused.why,
                )
            return []
        if made is None:  # the bot is stopping
            return []
        current = made
        done.append("onboarding question for the participant role")
    if not current.get("enabled"):
        log.warning(
            "onboarding: the participant question is ready but onboarding is not enabled: an "
            "organiser enables it in Server Settings > Onboarding (Discord wants 7 default "
            "channels, 5 of them open to everyone's messages); until then /register grants "
            "the role"
        )
    return done


class OnboardingLive:
    """Whether the server's onboarding is enabled and gives the participant role (read from
    Discord at most every :data:`LIVE_CACHE_S` seconds)."""

    def __init__(self) -> None:
        self._read: tuple[float, bool] | None = None
        # A rush of registrations reads it once, not once per person.
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool | None:
        if self._read is not None and time.monotonic() - self._read[0] < LIVE_CACHE_S:
            return self._read[1]
        return None

    async def __call__(self, bot: HackBot, guild: discord.Guild, role: discord.Role) -> bool:
        known = self._fresh()
        if known is not None:
            return known
        async with self._lock:
            known = self._fresh()
            if known is not None:
                return known
            try:
                current = await bot.http.get_guild_onboarding(guild.id)
            except discord.HTTPException:
                live = False
            else:
                live = bool(current.get("enabled")) and gives_role(current, role.id)
            self._read = (time.monotonic(), live)
            return live
