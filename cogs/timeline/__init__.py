"""/schedule, /admin phase ..., and what follows the timeline by itself.

* ``/schedule``: the whole timeline (Discord timestamps, the current phase marked).
* ``/admin phase add|edit|remove|advance|extend|override``: organisers move the
  event; every change is validated, audited, and followed by the timers,
  the pinned countdown and the scheduled events.
* Timers (``timeline.transition`` at every phase boundary, ``timeline.reminder``
  before every deadline) post through the broadcast engine (cogs/broadcasts),
  which records each delivery so nothing is announced twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select

from bot.admin import attach_to_admin
from bot.i18n import t
from bot.interactions import ConfirmView, lang_of, organiser_only, send
from bot.localization import L
from bot.models import PhaseMirror, Timer
from bot.services import broadcasts as broadcast_service
from bot.services import event as event_service
from bot.services import timeline
from bot.services.event import CAPABILITIES
from cogs.broadcasts import broadcasts_cog, runner_of
from cogs.timeline import render, sync

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

#: The target a feature registers (bot.services.broadcasts.register_target) so that
#: teams without a submission get a note in their own space before the submission deadline.
NO_SUBMISSION_TARGET = "teams_without_submission"

CAPABILITY_CHOICES = [
    app_commands.Choice(name=L(f"capability.{cap}"), value=cap) for cap in CAPABILITIES
]
STATE_CHOICES = [
    app_commands.Choice(name=L(f"cmd.admin.phase.override.options.state.choices.{s}"), value=s)
    for s in timeline.OVERRIDE_STATES
]


def ping_for(bot: HackBot) -> str | None:
    """What reminders and phase announcements ping in the announcements channel."""
    wanted = bot.settings.timeline.reminder_ping
    if wanted == "everyone":
        return "everyone"
    if wanted == "participant" and bot.event_guild is not None:
        role = discord.utils.get(bot.event_guild.roles, name=bot.settings.roles.participant)
        return f"role:{role.id}" if role else None
    return None


def confirm_view(lang: str, confirm_key: str, on_confirm) -> ConfirmView:
    return ConfirmView(
        lang,
        on_confirm,
        confirm_key=confirm_key,
        cancel_key="broadcast.cancel",
        cancelled_key="timeline.nothing_done",
    )


class Timeline(commands.Cog):
    phase = app_commands.Group(
        name=L("cmd.admin.phase.name"),
        description=L("cmd.admin.phase.description"),
        extras={"audience": "organiser"},
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._sync_lock = asyncio.Lock()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        # Runs as a discord.py event task (after every full reconnect too: it is idempotent),
        # once the guild's roles and channels exist.
        await self.bot.hackbot_ready.wait()
        # Timers left pending across downtime are kept (they fire late, once); the
        # rest is brought in line with the timeline as it is now in the database.
        await self.replan()
        await self.refresh()

    async def refresh(self) -> None:
        """Bring the countdown and the scheduled events in line with the timeline."""
        async with self._sync_lock:
            try:
                await sync.refresh_countdown(self.bot)
                await sync.sync_events(self.bot)
            except Exception:
                log.exception("could not sync the countdown or the scheduled events")

    # -- timers -------------------------------------------------------------------------

    async def on_transition(self, bot: HackBot, timer: Timer, late: bool) -> None:
        await bot.hackbot_ready.wait()
        now = bot.clock.now()
        async with bot.db.read() as session:
            phases = await event_service.timeline(session)
            overrides = await timeline.overrides(session)
        decision, at = timeline.transition_decision(phases, timer.payload, now)
        if decision != "send":
            log.info("phase change at %s not announced: %s", at.isoformat(), decision)
        else:
            change = timeline.transition_at(phases, at, overrides)
            # Other features react to what opened or closed (e.g. the end of team formation).
            bot.dispatch(
                "hackbot_phase_transition", frozenset(change.opened), frozenset(change.closed), at
            )
        if decision == "send" and bot.settings.timeline.announce_changes:
            _, upcoming = event_service.locate(phases, at)
            end = (
                timeline.effective_end(phases, phases.index(change.after))
                if change.after is not None
                else None
            )
            lang = bot.settings.event.language
            text = render.transition_text(change, upcoming, end, lang)
            if text:
                await self.announce(
                    "phase_change",
                    f"transition:{int(at.timestamp())}",
                    text,
                    late=late,
                    ping=change.phase_changed and change.after is not None,
                )
        await self.refresh()

    async def on_reminder(self, bot: HackBot, timer: Timer, late: bool) -> None:
        await bot.hackbot_ready.wait()
        now = bot.clock.now()
        async with bot.db.read() as session:
            phases = await event_service.timeline(session)
        decision, deadline = timeline.reminder_decision(phases, bot.settings, timer.payload, now)
        offset = int(timer.payload["offset"])
        if decision != "send" or deadline is None:
            log.info("reminder %s min before %s skipped: %s", offset, timer.payload["at"], decision)
            return
        if late:
            log.info("reminder %s min before %s sent late", offset, timer.payload["at"])
        lang = bot.settings.event.language
        key = f"reminder:{int(deadline.at.timestamp())}:{offset}"
        await self.announce("reminder", key, render.reminder_text(deadline, lang), late=late)
        if (
            "submissions" in deadline.closes
            and NO_SUBMISSION_TARGET in broadcast_service.target_keys()
        ):
            await self.fan_out(
                "reminder",
                NO_SUBMISSION_TARGET,
                f"{key}:{NO_SUBMISSION_TARGET}",
                render.team_reminder_text(deadline, lang),
                late=late,
            )

    async def announce(
        self, kind: str, dedupe_key: str | None, text: str, *, late: bool = False, ping: bool = True
    ) -> None:
        channel = sync.announcements_channel(self.bot)
        if channel is None:
            log.warning("no announcements channel: %s not posted", kind)
            return
        destination = broadcast_service.Destination(
            channel.id, ping_for(self.bot) if ping else None
        )
        await self._deliver(kind, "announcements", None, [destination], dedupe_key, text, late)

    async def fan_out(
        self, kind: str, target: str, dedupe_key: str, text: str, *, late: bool = False
    ) -> None:
        async with self.bot.db.read() as session:
            context = broadcasts_cog(self.bot).context(session, None)
            try:
                destinations = await broadcast_service.resolve(target, context)
            except Exception as exc:  # an empty target is not an error for a reminder
                log.info("no destination for %s (%s): %s", target, dedupe_key, exc)
                return
        await self._deliver(kind, target, None, destinations, dedupe_key, text, late)

    async def _deliver(
        self,
        kind: str,
        target: str,
        arg: str | None,
        destinations: list[broadcast_service.Destination],
        dedupe_key: str | None,
        text: str,
        late: bool,
    ) -> None:
        async with self.bot.db.begin() as session:
            broadcast = await broadcast_service.create(
                session,
                kind=kind,
                target=target,
                target_arg=arg,
                destinations=destinations,
                now=self.bot.clock.now(),
                lang=self.bot.settings.event.language,
                content=text,
                dedupe_key=dedupe_key,
                late=late,
            )
            broadcast_id = broadcast.id
        await runner_of(self.bot).run(broadcast_id)

    # -- after an edit -------------------------------------------------------------------

    async def replan(self) -> None:
        async with self.bot.db.begin() as session:
            await timeline.plan_timers(
                session, self.bot.timers, self.bot.settings, self.bot.clock.now()
            )

    # -- /schedule -------------------------------------------------------------------------

    @app_commands.command(
        name=L("cmd.schedule.name"),
        description=L("cmd.schedule.description"),
        extras={"audience": "everyone"},
    )
    @app_commands.guild_only()
    async def schedule(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        async with self.bot.db.read() as session:
            overview = await event_service.overview(session, self.bot.settings, now)
        await send(interaction, embed=render.schedule_embed(overview, now, lang), ephemeral=True)

    # -- /admin phase ... -----------------------------------------------------------------

    async def phase_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.db.read() as session:
            phases = await event_service.timeline(session)
        folded = current.casefold()
        return [
            app_commands.Choice(name=f"{p.name} ({p.key})"[:100], value=p.key)
            for p in phases
            if folded in p.key or folded in p.name.casefold()
        ][:25]

    async def opens_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        parts = [p.strip() for p in current.split(",")]
        done, typed = parts[:-1], parts[-1].casefold()
        chosen = {p for p in done if p}
        head = ", ".join(chosen)
        choices = []
        for cap in CAPABILITIES:
            if cap in chosen or (typed and typed not in cap):
                continue
            value = f"{head}, {cap}" if head else cap
            choices.append(app_commands.Choice(name=value[:100], value=value[:100]))
        if not choices and current:
            choices.append(app_commands.Choice(name=current[:100], value=current[:100]))
        return choices[:25]

    def _parse_time(self, text: str | None) -> datetime | None:
        if text is None:
            return None
        return timeline.parse_moment(text, self.bot.settings.event.tz, self.bot.clock.now())

    def _done(self, lang: str, key: str, **params: Any) -> str:
        return t(key, lang, **params)

    @phase.command(
        name=L("cmd.admin.phase.add.name"), description=L("cmd.admin.phase.add.description")
    )
    @app_commands.rename(
        key=L("cmd.admin.phase.add.options.key.name"),
        name=L("cmd.admin.phase.add.options.name.name"),
        start=L("cmd.admin.phase.add.options.start.name"),
        end=L("cmd.admin.phase.add.options.end.name"),
        opens=L("cmd.admin.phase.add.options.opens.name"),
    )
    @app_commands.describe(
        key=L("cmd.admin.phase.add.options.key.description"),
        name=L("cmd.admin.phase.add.options.name.description"),
        start=L("cmd.admin.phase.add.options.start.description"),
        end=L("cmd.admin.phase.add.options.end.description"),
        opens=L("cmd.admin.phase.add.options.opens.description"),
    )
    @app_commands.guild_only()
    @organiser_only()
    async def add(
        self,
        interaction: discord.Interaction,
        key: app_commands.Range[str, 1, 32],
        name: app_commands.Range[str, 1, 100],
        start: str,
        end: str | None = None,
        opens: str | None = None,
    ) -> None:
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        starts_at = self._parse_time(start)
        assert starts_at is not None
        ends_at = self._parse_time(end) if end and end.strip() != "-" else None
        capabilities = timeline.parse_opens(opens or "")
        async with self.bot.db.begin() as session:
            row = await timeline.add_phase(
                session,
                key=key,
                name=name,
                starts_at=starts_at,
                ends_at=ends_at,
                opens=capabilities,
                actor=interaction.user.id,
                now=now,
            )
            await timeline.plan_timers(session, self.bot.timers, self.bot.settings, now)
            phase_name = row.name
        await send(
            interaction,
            t("timeline.added", lang, phase=phase_name, start=render.ts(starts_at, "F")),
        )
        await self.refresh()

    add.autocomplete("opens")(opens_autocomplete)

    @phase.command(
        name=L("cmd.admin.phase.edit.name"), description=L("cmd.admin.phase.edit.description")
    )
    @app_commands.rename(
        phase=L("cmd.admin.phase.edit.options.phase.name"),
        name=L("cmd.admin.phase.edit.options.name.name"),
        start=L("cmd.admin.phase.edit.options.start.name"),
        end=L("cmd.admin.phase.edit.options.end.name"),
        opens=L("cmd.admin.phase.edit.options.opens.name"),
    )
    @app_commands.describe(
        phase=L("cmd.admin.phase.edit.options.phase.description"),
        name=L("cmd.admin.phase.edit.options.name.description"),
        start=L("cmd.admin.phase.edit.options.start.description"),
        end=L("cmd.admin.phase.edit.options.end.description"),
        opens=L("cmd.admin.phase.edit.options.opens.description"),
    )
    @app_commands.guild_only()
    @organiser_only()
    async def edit(
        self,
        interaction: discord.Interaction,
        phase: str,
        name: app_commands.Range[str, 1, 100] | None = None,
        start: str | None = None,
        end: str | None = None,
        opens: str | None = None,
    ) -> None:
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        kwargs: dict[str, Any] = {}
        if name is not None:
            kwargs["name"] = name
        if start is not None:
            kwargs["starts_at"] = self._parse_time(start)
        if end is not None:
            kwargs["ends_at"] = None if end.strip() == "-" else self._parse_time(end)
        if opens is not None:
            kwargs["opens"] = timeline.parse_opens(opens)
        async with self.bot.db.begin() as session:
            _before, row = await timeline.edit_phase(
                session, phase, actor=interaction.user.id, now=now, **kwargs
            )
            await timeline.plan_timers(session, self.bot.timers, self.bot.settings, now)
            phase_name = row.name
        await send(interaction, t("timeline.edited", lang, phase=phase_name))
        await self.refresh()

    edit.autocomplete("phase")(phase_autocomplete)
    edit.autocomplete("opens")(opens_autocomplete)

    @phase.command(
        name=L("cmd.admin.phase.remove.name"), description=L("cmd.admin.phase.remove.description")
    )
    @app_commands.rename(phase=L("cmd.admin.phase.remove.options.phase.name"))
    @app_commands.describe(phase=L("cmd.admin.phase.remove.options.phase.description"))
    @app_commands.guild_only()
    @organiser_only()
    async def remove(self, interaction: discord.Interaction, phase: str) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            row = await timeline.get_phase(session, phase)
            name = row.name
        await send(
            interaction,
            t("timeline.remove.ask", lang, phase=name),
            view=confirm_view(
                lang,
                "timeline.remove.confirm",
                lambda i: self.do_remove(i, lang, phase),
            ),
        )

    remove.autocomplete("phase")(phase_autocomplete)

    async def do_remove(self, interaction: discord.Interaction, lang: str, key: str) -> None:
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            row = await timeline.get_phase(session, key)
            mirror = await session.scalar(select(PhaseMirror).where(PhaseMirror.phase_id == row.id))
            event_id = mirror.event_id if mirror is not None and mirror.status != "ended" else None
            before = await timeline.remove_phase(session, key, actor=interaction.user.id, now=now)
            await timeline.plan_timers(session, self.bot.timers, self.bot.settings, now)
        await interaction.response.edit_message(
            content=t("timeline.removed", lang, phase=before["name"]), view=None
        )
        if event_id is not None:
            await sync.delete_event(self.bot, event_id)
        await self.refresh()

    @phase.command(
        name=L("cmd.admin.phase.advance.name"), description=L("cmd.admin.phase.advance.description")
    )
    @app_commands.guild_only()
    @organiser_only()
    async def advance(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            plan = await timeline.advance_plan(session, self.bot.clock.now())
        lines = [t("timeline.advance.ask", lang, phase=plan.next.name)]
        if plan.current is not None:
            lines.append(t("timeline.advance.ends", lang, phase=plan.current.name))
        if plan.opens:
            lines.append(
                t("timeline.announce.opened", lang, what=render.capability_list(plan.opens, lang))
            )
        if plan.closes:
            lines.append(
                t("timeline.announce.closed", lang, what=render.capability_list(plan.closes, lang))
            )
        if not plan.opens and not plan.closes:
            lines.append(t("timeline.advance.same", lang))
        expected = plan.next.key
        view = confirm_view(
            lang, "timeline.advance.confirm", lambda i: self.do_advance(i, lang, expected)
        )
        await send(interaction, "\n".join(lines), view=view)

    async def do_advance(self, interaction: discord.Interaction, lang: str, expected: str) -> None:
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            plan = await timeline.advance(
                session, expected_next=expected, actor=interaction.user.id, now=now
            )
            await timeline.plan_timers(session, self.bot.timers, self.bot.settings, now)
        await interaction.response.edit_message(
            content=t("timeline.advanced", lang, phase=plan.next.name), view=None
        )

    @phase.command(
        name=L("cmd.admin.phase.extend.name"), description=L("cmd.admin.phase.extend.description")
    )
    @app_commands.rename(minutes=L("cmd.admin.phase.extend.options.minutes.name"))
    @app_commands.describe(minutes=L("cmd.admin.phase.extend.options.minutes.description"))
    @app_commands.guild_only()
    @organiser_only()
    async def extend(
        self, interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 10080]
    ) -> None:
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            extension = await timeline.extend(session, minutes, actor=interaction.user.id, now=now)
            await timeline.plan_timers(session, self.bot.timers, self.bot.settings, now)
        await send(
            interaction,
            t(
                "timeline.extended",
                lang,
                phase=extension.phase.name,
                minutes=minutes,
                when=render.ts(extension.new_end, "F"),
            ),
        )
        await self.announce(
            "extension", None, render.extension_text(extension, self.bot.settings.event.language)
        )
        await self.refresh()

    @phase.command(
        name=L("cmd.admin.phase.override.name"),
        description=L("cmd.admin.phase.override.description"),
    )
    @app_commands.rename(
        capability=L("cmd.admin.phase.override.options.capability.name"),
        state=L("cmd.admin.phase.override.options.state.name"),
    )
    @app_commands.describe(
        capability=L("cmd.admin.phase.override.options.capability.description"),
        state=L("cmd.admin.phase.override.options.state.description"),
    )
    @app_commands.choices(capability=CAPABILITY_CHOICES, state=STATE_CHOICES)
    @app_commands.guild_only()
    @organiser_only()
    async def override(self, interaction: discord.Interaction, capability: str, state: str) -> None:
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            await timeline.set_override(
                session, capability, state, actor=interaction.user.id, now=now
            )
        await send(
            interaction,
            t(
                f"timeline.override.{state}",
                lang,
                what=t(f"capability.{capability}", lang),
            ),
        )
        await self.refresh()


async def setup(bot: HackBot) -> None:
    cog = Timeline(bot)
    bot.timers.register(timeline.TRANSITION, cog.on_transition)
    bot.timers.register(timeline.REMINDER, cog.on_reminder)
    sync.register_handlers(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "phase")
