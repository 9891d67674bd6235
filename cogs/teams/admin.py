"""/admin team ... (organiser overrides) and /admin teams autoform|report."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands
from sqlalchemy import select

from bot.errors import Conflict, NotFound
from bot.i18n import t
from bot.interactions import lang_of, organiser_only, reports_errors, send
from bot.localization import L
from bot.models.teams import AutoformRun
from bot.outbox import eta_text
from bot.services import event as event_service
from bot.services import matching
from bot.services import teams as team_service
from cogs.teams import spaces
from cogs.teams.team_commands import after_change, challenge_autocomplete, team_autocomplete

if TYPE_CHECKING:
    import re

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.app import HackBot

log = logging.getLogger(__name__)

#: Seconds between two edits of the progress message (Discord rate-limits edits).
PROGRESS_EVERY_S = 2.0
#: When the server holds all the active threads Discord allows and none is idle yet, the
#: next space is tried again after this many seconds.
ROOM_WAIT_S = 30.0
#: An interaction token lives 15 minutes; stop editing a little before.
TOKEN_LIFETIME = timedelta(minutes=14)


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def figures_text(figures: matching.Figures, lang: str, min_size: int, max_size: int) -> str:
    return t(
        "autoform.figures",
        lang,
        participants=figures.participants,
        placed=figures.placed,
        new_teams=figures.new_teams,
        filled=figures.filled_teams,
        smallest=figures.min_size,
        largest=figures.max_size,
        min=min_size,
        max=max_size,
        below=figures.below_min,
        mixed=percent(figures.mixed_share),
        wishes=t(
            "autoform.wishes" if figures.wishes else "autoform.no_wishes",
            lang,
            share=percent(figures.wish_share),
            count=figures.wishes,
        ),
        language=percent(figures.shared_language_share),
        spread=f"{figures.median_offset_spread_h:g}",
        unplaced=figures.unplaced,
    )


class AutoformButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"autoform:(?P<action>go|cancel):(?P<run_id>\d+)",
):
    def __init__(self, action: str, run_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t(f"autoform.button.{action}", lang),
                style=discord.ButtonStyle.success
                if action == "go"
                else discord.ButtonStyle.secondary,
                custom_id=f"autoform:{action}:{run_id}",
            )
        )
        self.action = action
        self.run_id = run_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> AutoformButton:
        return cls(match["action"], int(match["run_id"]))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        from bot.interactions import is_organiser

        if not is_organiser(interaction):
            await send(interaction, t("error.organiser_only", lang_of(interaction)))
            return False
        return True

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        cog: AdminTeams = interaction.client.get_cog("AdminTeams")  # type: ignore[assignment,attr-defined]
        if self.action == "go":
            await cog.confirm(interaction, self.run_id)
        else:
            await cog.cancel(interaction, self.run_id)


class AdminTeams(commands.Cog):
    team = app_commands.Group(
        name=L("cmd.admin.team.name"), description=L("cmd.admin.team.description")
    )
    teams = app_commands.Group(
        name=L("cmd.admin.teams.name"), description=L("cmd.admin.teams.description")
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._jobs: dict[int, asyncio.Task[None]] = {}

    def _changed(self, change: team_service.Change) -> None:
        """Answer first: the team's space follows in the background."""
        after_change(self.bot, change)

    # -- overrides ------------------------------------------------------------------

    @team.command(
        name=L("cmd.admin.team.add.name"), description=L("cmd.admin.team.add.description")
    )
    @app_commands.rename(
        member=L("cmd.admin.team.add.options.member.name"),
        team=L("cmd.admin.team.add.options.team.name"),
    )
    @app_commands.describe(
        member=L("cmd.admin.team.add.options.member.description"),
        team=L("cmd.admin.team.add.options.team.description"),
    )
    @app_commands.autocomplete(team=team_autocomplete)
    @organiser_only()
    async def add(
        self, interaction: discord.Interaction, member: discord.Member, team: str
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.admin_add(
                session,
                self.bot.settings,
                self.bot.clock.now(),
                interaction.user.id,
                team,
                member.id,
            )
        self._changed(change)
        await send(
            interaction, t("admin_teams.added", lang, user=member.mention, team=change.team_name)
        )

    @team.command(
        name=L("cmd.admin.team.remove.name"), description=L("cmd.admin.team.remove.description")
    )
    @app_commands.rename(member=L("cmd.admin.team.remove.options.member.name"))
    @app_commands.describe(member=L("cmd.admin.team.remove.options.member.description"))
    @organiser_only()
    async def remove(self, interaction: discord.Interaction, member: discord.Member) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.admin_remove(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, member.id
            )
        self._changed(change)
        key = "admin_teams.removed_archived" if change.archived else "admin_teams.removed"
        await send(interaction, t(key, lang, user=member.mention, team=change.team_name))

    @team.command(
        name=L("cmd.admin.team.rename.name"), description=L("cmd.admin.team.rename.description")
    )
    @app_commands.rename(
        team=L("cmd.admin.team.rename.options.team.name"),
        name=L("cmd.admin.team.rename.options.name.name"),
    )
    @app_commands.describe(
        team=L("cmd.admin.team.rename.options.team.description"),
        name=L("cmd.admin.team.rename.options.name.description"),
    )
    @app_commands.autocomplete(team=team_autocomplete)
    @organiser_only()
    async def rename(
        self, interaction: discord.Interaction, team: str, name: app_commands.Range[str, 1, 100]
    ) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change, old = await team_service.admin_rename(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, team, name
            )
        await send(interaction, t("teams.renamed", lang, old=old, team=change.team_name))
        await spaces.team_changed(self.bot, change.team_id)  # the space follows the new name

    @team.command(
        name=L("cmd.admin.team.captain.name"), description=L("cmd.admin.team.captain.description")
    )
    @app_commands.rename(member=L("cmd.admin.team.captain.options.member.name"))
    @app_commands.describe(member=L("cmd.admin.team.captain.options.member.description"))
    @organiser_only()
    async def captain(self, interaction: discord.Interaction, member: discord.Member) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.admin_captain(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, member.id
            )
        await send(
            interaction, t("teams.captain_set", lang, user=member.mention, team=change.team_name)
        )
        self.bot.dispatch("hackbot_team_changed", change.team_id)

    @team.command(
        name=L("cmd.admin.team.archive.name"), description=L("cmd.admin.team.archive.description")
    )
    @app_commands.rename(team=L("cmd.admin.team.archive.options.team.name"))
    @app_commands.describe(team=L("cmd.admin.team.archive.options.team.description"))
    @app_commands.autocomplete(team=team_autocomplete)
    @organiser_only()
    async def archive(self, interaction: discord.Interaction, team: str) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await team_service.admin_archive(
                session, self.bot.settings, self.bot.clock.now(), interaction.user.id, team
            )
        self._changed(change)
        await send(interaction, t("admin_teams.archived", lang, team=change.team_name))

    # -- report ---------------------------------------------------------------------

    @teams.command(
        name=L("cmd.admin.teams.report.name"), description=L("cmd.admin.teams.report.description")
    )
    @organiser_only()
    async def report(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        await send(interaction, await self.report_text(lang))

    async def report_text(self, lang: str) -> str:
        async with self.bot.db.read() as session:
            found = await team_service.formation_report(session, self.bot.settings)
        lines = [
            t(
                "admin_teams.report",
                lang,
                teams=found.teams,
                without=found.without_team,
                opted=found.without_team_opted_in,
                below=len(found.below_min),
                min=self.bot.settings.teams.min_size,
            )
        ]
        for _id, name, size in found.below_min[:20]:
            lines.append(t("admin_teams.report_line", lang, team=name, size=size))
        if len(found.below_min) > 20:
            lines.append(t("admin_teams.report_more", lang, count=len(found.below_min) - 20))
        return "\n".join(lines)[:2000]

    @commands.Cog.listener("on_hackbot_phase_transition")
    async def formation_closed(
        self, opened: frozenset[str], closed: frozenset[str], at: datetime
    ) -> None:
        """When team changes close, tell the organisers which teams are below the minimum."""
        if "team_changes" not in closed:
            return
        key = f"formation_report:{int(at.timestamp())}"
        async with self.bot.db.begin() as session:  # claimed before sending: said once
            if await event_service.get_state(session, key):
                return
            await event_service.set_state(session, key, True)
        lang = self.bot.settings.event.language
        text = t("admin_teams.formation_closed", lang) + "\n" + await self.report_text(lang)
        await self.bot.tell_organisers(text)

    # -- autoform -------------------------------------------------------------------

    @teams.command(
        name=L("cmd.admin.teams.autoform.name"),
        description=L("cmd.admin.teams.autoform.description"),
    )
    @app_commands.rename(challenge=L("cmd.admin.teams.autoform.options.challenge.name"))
    @app_commands.describe(challenge=L("cmd.admin.teams.autoform.options.challenge.description"))
    @app_commands.autocomplete(challenge=challenge_autocomplete)
    @organiser_only()
    async def autoform(
        self, interaction: discord.Interaction, challenge: str | None = None
    ) -> None:
        lang = lang_of(interaction)
        settings = self.bot.settings
        await interaction.response.defer(ephemeral=True, thinking=True)
        now = self.bot.clock.now()

        async def read_inputs(session: AsyncSession) -> tuple[Any, Any]:
            found = await team_service.find_challenge(session, challenge)
            inputs = await team_service.autoform_inputs(
                session, settings, now, found.id if found else None
            )
            return found, inputs

        # 28,000 people take about a second to read: apart from the loop, which keeps
        # answering everyone else meanwhile (the plan is made in a thread too).
        found, (candidates, open_teams, eligible) = await self.bot.db.read_apart(read_inputs)
        if not candidates:
            await send(interaction, t("autoform.nobody", lang))
            return
        started = time.perf_counter()
        plan = await asyncio.to_thread(
            matching.form_teams,
            candidates,
            open_teams,
            min_size=settings.teams.min_size,
            max_size=settings.teams.max_size,
            challenge_id=found.id if found else None,
            eligible_challenges=eligible,
        )
        elapsed = time.perf_counter() - started
        log.info(
            "autoform plan: %d candidates, %d new teams, %d filled, in %.2f s",
            len(candidates),
            len(plan.new_teams),
            len(plan.joins),
            elapsed,
        )
        async with self.bot.db.begin() as session:
            for stale in (
                await session.scalars(select(AutoformRun).where(AutoformRun.status == "preview"))
            ).all():
                stale.status = "stale"
            run = AutoformRun(
                status="preview",
                challenge_id=found.id if found else None,
                requested_by_discord_id=interaction.user.id,
                lang=lang,
                plan=plan.as_dict(),
                figures=plan.figures.as_dict(),
                created_at=now,
            )
            session.add(run)
            await session.flush()
            run_id = run.id
        scope = (
            t("autoform.scope_challenge", lang, challenge=found.name)
            if found
            else t("autoform.scope_all", lang)
        )
        text = "\n".join(
            [
                t("autoform.preview", lang, scope=scope),
                figures_text(plan.figures, lang, settings.teams.min_size, settings.teams.max_size),
                t("autoform.confirm_hint", lang),
            ]
        )
        view = discord.ui.View(timeout=None)
        view.add_item(AutoformButton("go", run_id, lang))
        view.add_item(AutoformButton("cancel", run_id, lang))
        await send(interaction, text, view=view)

    async def cancel(self, interaction: discord.Interaction, run_id: int) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer()
        async with self.bot.db.begin() as session:
            run = await session.get(AutoformRun, run_id)
            if run is None or run.status != "preview":
                raise Conflict("autoform.not_pending")
            run.status = "cancelled"
        await interaction.edit_original_response(content=t("autoform.cancelled", lang), view=None)

    async def confirm(self, interaction: discord.Interaction, run_id: int) -> None:
        lang = lang_of(interaction)
        await interaction.response.edit_message(content=t("autoform.applying", lang), view=None)
        now = self.bot.clock.now()
        settings, actor = self.bot.settings, interaction.user.id

        async def apply(session: AsyncSession) -> team_service.Applied:
            run = await session.get(AutoformRun, run_id)
            if run is None:
                raise NotFound("autoform.not_pending")
            if run.status != "preview":
                raise Conflict("autoform.not_pending")
            applied = await team_service.apply_plan(
                session,
                settings,
                now,
                matching.Plan.from_dict(run.plan),
                run_id=run.id,
                team_name=t("autoform.team_name", settings.event.language),
                actor=actor,
            )
            run.status = "spaces"
            run.team_ids = applied.team_ids
            run.done_spaces = 0
            run.figures = {**run.figures, "skipped": applied.skipped}
            return applied

        # Thousands of teams and members are seconds of Python: written apart from the loop,
        # which goes on answering everyone (other writes wait their turn, as always).
        applied = await self.bot.db.write_apart(apply)
        log.info(
            "autoform run %s: %d teams created, %d filled, %d placed, %d skipped",
            run_id,
            applied.created,
            applied.filled,
            applied.placed,
            applied.skipped,
        )
        self.start_job(run_id, interaction)

    def start_job(self, run_id: int, interaction: discord.Interaction | None) -> None:
        if run_id in self._jobs and not self._jobs[run_id].done():
            return
        self._jobs[run_id] = asyncio.create_task(
            self._spaces_job(run_id, interaction), name=f"autoform-{run_id}"
        )

    async def _spaces_job(self, run_id: int, interaction: discord.Interaction | None) -> None:
        """Create the spaces of an applied run, editing the organiser's message as it goes."""
        started_at = self.bot.clock.now()
        last_edit = 0.0
        async with self.bot.db.read() as session:
            run = await session.get(AutoformRun, run_id)
            if run is None or run.status != "spaces":
                return
            team_ids = list(run.team_ids)
            done = run.done_spaces
            lang = run.lang
        total = len(team_ids)

        async def progress(text: str, final: bool = False) -> None:
            nonlocal last_edit
            if interaction is None:
                return
            if self.bot.clock.now() - started_at > TOKEN_LIFETIME:
                return
            if not final and time.monotonic() - last_edit < PROGRESS_EVERY_S:
                return
            last_edit = time.monotonic()
            try:
                await interaction.edit_original_response(content=text)
            except discord.HTTPException:
                log.info("autoform run %s: progress message no longer editable", run_id)

        began, first = time.monotonic(), done
        try:
            for index in range(done, total):
                while not await spaces.team_changed(self.bot, team_ids[index]):
                    # The server holds as many active threads as Discord allows and none is
                    # idle yet: the next space waits (in order) until one may be archived.
                    wait = eta_text(ROOM_WAIT_S, lang)
                    await progress(
                        t("autoform.waiting_room", lang, done=index, total=total, eta=wait)
                    )
                    await asyncio.sleep(ROOM_WAIT_S)
                async with self.bot.db.begin() as session:
                    run = await session.get(AutoformRun, run_id)
                    if run is not None:
                        run.done_spaces = index + 1
                # Spaces go in the order the teams were formed, at Discord's pace: the pace
                # so far says how long the rest takes.
                pace = (index + 1 - first) / max(time.monotonic() - began, 0.001)
                eta = eta_text((total - index - 1) / pace, lang)
                await progress(t("autoform.progress", lang, done=index + 1, total=total, eta=eta))
            async with self.bot.db.begin() as session:
                run = await session.get(AutoformRun, run_id)
                if run is not None:
                    run.status = "done"
                    run.finished_at = self.bot.clock.now()
            summary = t("autoform.done", lang, total=total)
            await progress(summary, final=True)
            await self._tell_organisers(
                t("autoform.done_organisers", self.bot.settings.event.language, total=total)
                + "\n"
                + await self.report_text(self.bot.settings.event.language)
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("autoform run %s stopped; it resumes at the next start", run_id)

    async def _tell_organisers(self, text: str) -> None:
        await self.bot.tell_organisers(text)

    async def resume(self) -> None:
        """At start-up: finish creating the spaces of runs a restart interrupted."""
        await self.bot.hackbot_ready.wait()
        async with self.bot.db.read() as session:
            ids = list(
                (
                    await session.scalars(
                        select(AutoformRun.id).where(AutoformRun.status == "spaces")
                    )
                ).all()
            )
        for run_id in ids:
            log.info("autoform run %s: resuming space creation", run_id)
            self.start_job(run_id, None)

    async def cog_load(self) -> None:
        self._resume_task = asyncio.create_task(self.resume(), name="autoform-resume")

    async def cog_unload(self) -> None:
        self._resume_task.cancel()
        for job in self._jobs.values():
            job.cancel()
