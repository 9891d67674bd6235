"""/register, /profile and /admin import-registrants.

/register opens a form (a modal with select menus: profile types, languages, time
zone; text for the display name and skills, plus the e-mail address or personal code
when registration needs a match with the imported list). Submitting it creates the
profile and grants the participant role; the answer then offers the challenge wishes
(a select) and the automatic team matching switch. With ``[registration] onboarding``
(bot/onboarding.py) Discord's onboarding gives the role to whoever answers its question:
a registrant who holds it costs no role request, one who does not is granted it as usual
and told how to get it at once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select

from bot.errors import HackbotError, InvalidInput
from bot.i18n import t
from bot.interactions import GuardedView, lang_of, organiser_only, report_error, send
from bot.localization import L
from bot.models.challenges import Challenge
from bot.models.outbox import Priority
from bot.models.teams import Profile
from bot.onboarding import OnboardingLive, option_title
from bot.outbox import eta_text
from bot.services import outbox
from bot.services import registration as reg_service
from bot.services import teams as team_service
from cogs.teams.cards import language_label, profile_embed, profile_type_label

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)


@functools.cache
def _zones() -> tuple[str, ...]:
    """The IANA zones, sorted: read from disk once (each read walks the tz database)."""
    from zoneinfo import available_timezones

    return tuple(sorted(available_timezones()))


MAX_IMPORT_BYTES = 5 * 1024 * 1024
SKILL_CACHE_S = 60.0


class RegisterModal(discord.ui.Modal):
    def __init__(
        self,
        bot: HackBot,
        lang: str,
        *,
        profile: Profile | None,
        display_name: str,
        skills: str,
        ask_identity: bool,
    ) -> None:
        title = t("registration.modal_title" if profile is None else "profile.modal_title", lang)
        super().__init__(title=title[:45], timeout=900)
        self.bot = bot
        self.lang = lang
        settings = bot.settings
        now = bot.clock.now()
        mode = settings.registration.mode
        self.identity: discord.ui.TextInput | None = None
        if ask_identity and mode != "open":
            self.identity = discord.ui.TextInput(max_length=200, required=True)
            self.add_item(
                discord.ui.Label(
                    text=t(f"registration.identity_label.{mode}", lang)[:45],
                    description=t(f"registration.identity_hint.{mode}", lang)[:100],
                    component=self.identity,
                )
            )
        self.display = discord.ui.TextInput(
            default=(profile.display_name if profile else display_name)[:32],
            min_length=1,
            max_length=reg_service.DISPLAY_NAME_MAX,
        )
        self.add_item(
            discord.ui.Label(text=t("registration.field.name", lang)[:45], component=self.display)
        )
        chosen_types = set(profile.profile_types) if profile else set()
        types = settings.registration.profile_types
        self.types = discord.ui.Select(
            min_values=1,
            max_values=len(types),
            options=[
                discord.SelectOption(
                    label=profile_type_label(p, lang)[:100], value=p, default=p in chosen_types
                )
                for p in types
            ],
        )
        self.add_item(
            discord.ui.Label(
                text=t("registration.field.types", lang)[:45],
                description=t("registration.field.types_hint", lang)[:100],
                component=self.types,
            )
        )
        chosen_langs = set(profile.languages) if profile else set()
        languages = settings.registration.languages
        self.languages = discord.ui.Select(
            min_values=1,
            max_values=len(languages),
            options=[
                discord.SelectOption(
                    label=language_label(code, lang)[:100], value=code, default=code in chosen_langs
                )
                for code in languages
            ],
        )
        self.add_item(
            discord.ui.Label(
                text=t("registration.field.languages", lang)[:45], component=self.languages
            )
        )
        zone_now = profile.timezone if profile else settings.event.timezone
        zones = reg_service.zone_choices(settings.event.timezone, now)
        if zone_now not in [z for z, _ in zones]:
            zones = [(zone_now, reg_service.zone_label(zone_now, now)), *zones][:25]
        self.zone = discord.ui.Select(
            min_values=1,
            max_values=1,
            options=[
                discord.SelectOption(label=label[:100], value=value, default=value == zone_now)
                for value, label in zones
            ],
        )
        self.add_item(
            discord.ui.Label(
                text=t("registration.field.timezone", lang)[:45],
                description=t("registration.field.timezone_hint", lang)[:100],
                component=self.zone,
            )
        )
        self.skills: discord.ui.TextInput | None = None
        self.skills_default = skills
        if len(self.children) < 5:
            self.skills = discord.ui.TextInput(
                default=(skills or (", ".join(profile.skills) if profile else ""))[:400] or None,
                required=False,
                max_length=400,
                placeholder=t("registration.field.skills_placeholder", lang)[:100],
            )
            self.add_item(
                discord.ui.Label(
                    text=t("registration.field.skills", lang)[:45],
                    description=t("registration.field.skills_hint", lang)[:100],
                    component=self.skills,
                )
            )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot = self.bot
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        skills = self.skills.value if self.skills is not None else self.skills_default
        data = reg_service.ProfileInput(
            display_name=self.display.value,
            profile_types=list(self.types.values),
            languages=list(self.languages.values),
            timezone=self.zone.values[0] if self.zone.values else "UTC",
            skills=reg_service.parse_skills(skills),
        )
        grant = participant_role_write(bot, interaction)
        async with bot.db.begin() as session:
            result = await reg_service.register(
                session,
                bot.settings,
                bot.clock.now(),
                interaction.user.id,
                data,
                identity=self.identity.value if self.identity is not None else None,
                locale=lang,
            )
            queued = (
                await outbox.enqueue(session, bot.clock.now(), grant) if grant is not None else None
            )
        # Answer now; the role follows at the pace Discord allows (10 role changes per 10 s
        # per server: a rush of registrations waits minutes or hours for its roles).
        key = "registration.welcome" if result.new else "profile.updated"
        text = t(key, lang, event=bot.settings.event.name)
        if queued is not None and queued.queued is not None:
            eta = eta_text(bot.outbox.estimate(queued.queued), lang)
            text += "\n" + t("registration.role_coming", lang, eta=eta)
            if await self.onboarding_live(interaction):
                # Onboarding gives it at once: say where (the grant stays as the fallback).
                text += "\n" + t("registration.onboarding_hint", lang, option=option_title(lang))
        embed, view = await own_profile(bot, interaction.user.id, lang)
        await send(interaction, text, embed=embed, view=view)

    async def onboarding_live(self, interaction: discord.Interaction) -> bool:
        """With ``[registration] onboarding``: whether the server's onboarding is enabled and
        gives the participant role (read from Discord at most every few minutes)."""
        bot = self.bot
        guild = interaction.guild
        if not bot.settings.registration.onboarding or guild is None:
            return False
        role = discord.utils.get(guild.roles, name=bot.settings.roles.participant)
        cog = bot.get_cog("Registration")
        if role is None or not isinstance(cog, Registration):
            return False
        return await cog.onboarding(bot, guild, role)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


def participant_role_write(bot: HackBot, interaction: discord.Interaction) -> outbox.Write | None:
    """The participant role for the member registering, as an outbox write (None if they
    have it already or the server has no such role: repair puts it back and grants it)."""
    member = interaction.user
    guild = interaction.guild
    if not isinstance(member, discord.Member) or guild is None:
        return None
    role = discord.utils.get(guild.roles, name=bot.settings.roles.participant)
    if role is None or role in member.roles:
        return None
    return outbox.role_add(
        guild.id,
        member.id,
        role.id,
        reason=t("registration.audit_reason", bot.settings.event.language),
        priority=Priority.BULK,
        batch="register",
    )


async def own_profile(
    bot: HackBot, discord_id: int, lang: str
) -> tuple[discord.Embed, discord.ui.View]:
    async with bot.db.read() as session:
        profile = await reg_service.require_profile(session, discord_id)
        team = await team_service.team_of(session, discord_id)
        challenges = (
            await session.scalars(
                select(Challenge)
                .where(Challenge.archived_at.is_(None))
                .order_by(Challenge.position, Challenge.name_folded)
                .limit(25)
            )
        ).all()
        names = {c.id: c.name for c in challenges}
    wishes = [names[w] for w in profile.wishes or [] if w in names]
    embed = profile_embed(
        profile,
        lang,
        discord_id=discord_id,
        challenge_names=wishes,
        team_name=team.name if team else None,
        own=True,
    )
    return embed, ProfileView(bot, lang, profile, list(challenges))


class ProfileView(GuardedView):
    """Under your own profile: edit it, pick challenge wishes, switch automatic matching."""

    def __init__(
        self, bot: HackBot, lang: str, profile: Profile, challenges: list[Challenge]
    ) -> None:
        super().__init__(timeout=900)
        self.bot = bot
        self.lang = lang
        self.profile = profile
        self.edit.label = t("profile.button.edit", lang)
        self.toggle.label = t(
            "profile.button.autoform_off" if profile.autoform else "profile.button.autoform_on",
            lang,
        )
        if challenges:
            wishes = set(profile.wishes or [])
            select = discord.ui.Select(
                placeholder=t("profile.wishes_placeholder", lang)[:150],
                min_values=0,
                max_values=min(reg_service.MAX_WISHES, len(challenges)),
                options=[
                    discord.SelectOption(
                        label=c.name[:100], value=str(c.id), default=c.id in wishes
                    )
                    for c in challenges
                ],
                row=1,
            )
            select.callback = self.wishes_chosen  # type: ignore[method-assign]
            self.wishes = select
            self.add_item(select)

    async def wishes_chosen(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        async with self.bot.db.begin() as session:
            await reg_service.set_wishes(
                session,
                self.bot.clock.now(),
                interaction.user.id,
                [int(v) for v in self.wishes.values],
            )
        embed, view = await own_profile(self.bot, interaction.user.id, self.lang)
        await interaction.edit_original_response(
            content=t("profile.wishes_saved", self.lang), embed=embed, view=view
        )

    @discord.ui.button(label="edit", style=discord.ButtonStyle.primary, row=0)
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        async with self.bot.db.read() as session:
            profile = await reg_service.require_profile(session, interaction.user.id)
        await interaction.response.send_modal(
            RegisterModal(
                self.bot,
                self.lang,
                profile=profile,
                display_name=profile.display_name,
                skills="",
                ask_identity=False,
            )
        )

    @discord.ui.button(label="autoform", style=discord.ButtonStyle.secondary, row=0)
    async def toggle(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.defer()
        async with self.bot.db.begin() as session:
            profile = await reg_service.require_profile(session, interaction.user.id)
            await reg_service.set_autoform(
                session, self.bot.clock.now(), interaction.user.id, not profile.autoform
            )
            on = profile.autoform
        embed, view = await own_profile(self.bot, interaction.user.id, self.lang)
        await interaction.edit_original_response(
            content=t(
                "profile.autoform_saved.on" if on else "profile.autoform_saved.off", self.lang
            ),
            embed=embed,
            view=view,
        )


class Registration(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._skills: tuple[float, Counter[str]] | None = None
        self.onboarding = OnboardingLive()

    async def skill_counts(self) -> Counter[str]:
        if self._skills is None or time.monotonic() - self._skills[0] > SKILL_CACHE_S:
            async with self.bot.db.read() as session:
                self._skills = (time.monotonic(), await reg_service.skill_counts(session))
        return self._skills[1]

    async def skills_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        counts = await self.skill_counts()
        return [
            app_commands.Choice(name=text, value=text)
            for text in reg_service.suggest_skills(counts, current)
        ]

    async def timezone_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        now = self.bot.clock.now()
        typed = current.strip()
        out: list[tuple[str, str]] = []
        if (
            typed
            and reg_service.zone_offset(typed, now) is not None
            and typed.upper().startswith(("UTC", "GMT", "+", "-"))
        ):
            value = reg_service.canonical_zone(typed, now)
            out.append((value, value))
        needle = typed.lower().replace(" ", "_")
        for zone in _zones():
            if needle in zone.lower():
                out.append((zone, reg_service.zone_label(zone, now)))
            if len(out) >= 25:
                break
        return [app_commands.Choice(name=label[:100], value=value) for value, label in out]

    @app_commands.command(
        name=L("cmd.register.name"),
        description=L("cmd.register.description"),
        extras={"audience": "everyone"},
    )
    @app_commands.guild_only()
    @app_commands.rename(skills=L("cmd.register.options.skills.name"))
    @app_commands.describe(skills=L("cmd.register.options.skills.description"))
    async def register(
        self,
        interaction: discord.Interaction,
        skills: app_commands.Range[str, 1, 400] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        bot = self.bot
        async with bot.db.read() as session:
            profile = await reg_service.profile_of(session, interaction.user.id)
            if profile is None:
                await team_service.require_open(
                    session, bot.settings, bot.clock.now(), team_service.REGISTRATION
                )
        if skills:
            reg_service.parse_skills(skills)  # refuse bad tags before the form opens
        await interaction.response.send_modal(
            RegisterModal(
                bot,
                lang,
                profile=profile,
                display_name=interaction.user.display_name,
                skills=skills or "",
                ask_identity=profile is None,
            )
        )

    @register.autocomplete("skills")
    async def _register_skills(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.skills_autocomplete(interaction, current)

    @app_commands.command(
        name=L("cmd.profile.name"),
        description=L("cmd.profile.description"),
        extras={"audience": "participant"},
    )
    @app_commands.guild_only()
    @app_commands.rename(
        member=L("cmd.profile.options.member.name"),
        skills=L("cmd.profile.options.skills.name"),
        timezone=L("cmd.profile.options.timezone.name"),
    )
    @app_commands.describe(
        member=L("cmd.profile.options.member.description"),
        skills=L("cmd.profile.options.skills.description"),
        timezone=L("cmd.profile.options.timezone.description"),
    )
    async def profile(
        self,
        interaction: discord.Interaction,
        member: discord.Member | None = None,
        skills: app_commands.Range[str, 1, 400] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        bot = self.bot
        if member is not None and member.id != interaction.user.id:
            if skills or timezone:
                raise InvalidInput("profile.edit_others")
            async with bot.db.read() as session:
                other = await reg_service.profile_of(session, member.id)
                if other is None:
                    raise HackbotError("profile.not_registered_other", user=member.mention)
                team = await team_service.team_of(session, member.id)
                challenges = [
                    c.name
                    for c in [await session.get(Challenge, w) for w in other.wishes or []]
                    if c is not None and c.archived_at is None
                ]
            embed = profile_embed(
                other,
                lang,
                discord_id=member.id,
                challenge_names=challenges,
                team_name=team.name if team else None,
                own=False,
            )
            await send(interaction, embed=embed)
            return
        note = ""
        if skills or timezone:
            await interaction.response.defer(ephemeral=True, thinking=True)
            async with bot.db.begin() as session:
                if skills:
                    await reg_service.set_skills(
                        session, bot.clock.now(), interaction.user.id, skills
                    )
                if timezone:
                    await reg_service.set_timezone(
                        session, bot.clock.now(), interaction.user.id, timezone
                    )
            self._skills = None
            note = t("profile.updated", lang, event=bot.settings.event.name)
        embed, view = await own_profile(bot, interaction.user.id, lang)
        await send(interaction, note or None, embed=embed, view=view)

    @profile.autocomplete("skills")
    async def _profile_skills(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.skills_autocomplete(interaction, current)

    @profile.autocomplete("timezone")
    async def _profile_timezone(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await self.timezone_autocomplete(interaction, current)

    @app_commands.command(
        name=L("cmd.admin.import-registrants.name"),
        description=L("cmd.admin.import-registrants.description"),
    )
    @app_commands.rename(file=L("cmd.admin.import-registrants.options.file.name"))
    @app_commands.describe(file=L("cmd.admin.import-registrants.options.file.description"))
    @organiser_only()
    async def import_registrants(
        self, interaction: discord.Interaction, file: discord.Attachment
    ) -> None:
        lang = lang_of(interaction)
        bot = self.bot
        await interaction.response.defer(ephemeral=True, thinking=True)
        if file.size > MAX_IMPORT_BYTES:
            raise InvalidInput("registration.import_too_big", max=MAX_IMPORT_BYTES // (1024 * 1024))
        data = await file.read()
        mode = bot.settings.registration.mode
        async with bot.db.begin() as session:
            report = await reg_service.import_registrants(
                session, mode, data, actor=interaction.user.id
            )
        lines = [
            t(
                "registration.import_report",
                lang,
                rows=report.rows,
                added=report.added,
                already=report.already,
                problems=len(report.problems),
            )
        ]
        if mode == "open":
            lines.append(t("registration.import_mode_open", lang))
        for row, key in reg_service.problem_summary(report):
            lines.append(t("registration.import_problem", lang, row=row, reason=t(key, lang)))
        if len(report.problems) > 15:
            lines.append(t("registration.import_more", lang, count=len(report.problems) - 15))
        await send(interaction, "\n".join(lines)[:2000])


async def setup(bot: HackBot) -> None:
    from bot.admin import attach_to_admin

    cog = Registration(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "import-registrants")
