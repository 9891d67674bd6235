"""/admin broadcast, and the runner every fan-out of the bot goes through.

The runner (:class:`Runner`) hands a stored broadcast (bot.services.broadcasts) to the
outbox, which sends it at Discord's pace after anything people are waiting for, and
follows its figures for the organiser's progress message; at start-up it finishes every
broadcast a restart interrupted. Reminders and phase announcements (cogs/timeline) use it
too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.errors import InvalidInput
from bot.i18n import catalogue, t
from bot.interactions import OrganiserView, lang_of, organiser_only, report_error, send
from bot.localization import L
from bot.models import Broadcast
from bot.services import broadcasts as service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

PREVIEW_TIMEOUT_S = 600


def build_embed(title: str | None, body: str | None, footer: str | None) -> discord.Embed | None:
    """The preview's embed, as each destination will show it."""
    if not title and not body:
        return None
    embed = discord.Embed(title=title, description=body, colour=service.GOLD)
    if footer:
        embed.set_footer(text=footer)
    return embed


#: How often a running fan-out's figures are read for its progress (seconds).
POLL_S = 0.25

OnProgress = Callable[[service.Report], Awaitable[None]]


class Runner:
    """Runs fan-outs: hands a broadcast's destinations to the outbox (which sends them at
    Discord's pace, after what people wait for) and follows its figures until every
    destination has its outcome; one task per broadcast."""

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self.tasks: dict[int, asyncio.Task[service.Report]] = {}

    def start(
        self, broadcast_id: int, on_progress: OnProgress | None = None
    ) -> asyncio.Task[service.Report]:
        task = self.tasks.get(broadcast_id)
        if task is not None and not task.done():
            return task
        task = asyncio.create_task(
            self._run(broadcast_id, on_progress), name=f"hackbot-broadcast-{broadcast_id}"
        )
        self.tasks[broadcast_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(broadcast_id, None))
        return task

    async def run(self, broadcast_id: int, on_progress: OnProgress | None = None) -> service.Report:
        return await self.start(broadcast_id, on_progress)

    async def _run(self, broadcast_id: int, on_progress: OnProgress | None) -> service.Report:
        db, clock = self.bot.db, self.bot.clock
        async with db.begin() as session:
            queued = await service.queue(session, clock.now(), broadcast_id)
        if queued:
            log.info("broadcast %s: %d destinations handed to the outbox", broadcast_id, queued)
        last: service.Report | None = None
        while True:
            async with db.read() as session:
                current = await service.report(session, broadcast_id)
            if current.finished:
                break
            if on_progress is not None and current != last:
                last = current
                await self._tell(on_progress, current)
            await asyncio.sleep(POLL_S)
        async with db.begin() as session:
            final = await service.finish(session, clock.now(), broadcast_id)
        if on_progress is not None:
            await self._tell(on_progress, final)
        log.info(
            "broadcast %s: %d sent, %d failed of %d",
            broadcast_id,
            final.sent,
            final.failed,
            final.total,
        )
        return final

    @staticmethod
    async def _tell(on_progress: OnProgress, report: service.Report) -> None:
        try:
            await on_progress(report)
        except Exception:
            log.exception("broadcast %s: progress callback failed", report.broadcast_id)

    async def stop(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


def broadcasts_cog(bot: HackBot) -> Broadcasts:
    cog = bot.get_cog("Broadcasts")
    if not isinstance(cog, Broadcasts):
        raise RuntimeError("the Broadcasts cog is not loaded")
    return cog


def runner_of(bot: HackBot) -> Runner:
    return broadcasts_cog(bot).runner


def target_label(key: str, lang: str) -> str:
    label = f"broadcast.target.{key}"
    return t(label, lang) if catalogue().has(label) else key


class Progress:
    """Edits the organiser's message as delivery goes, at most every few seconds."""

    def __init__(self, interaction: discord.Interaction, lang: str, every_s: float) -> None:
        self.interaction = interaction
        self.lang = lang
        self.every_s = every_s
        self.last = time.monotonic()
        self.alive = True
        self.edits = 0

    async def __call__(self, report: service.Report) -> None:
        now = time.monotonic()
        if not report.finished and now - self.last < self.every_s:
            return
        self.last = now
        if not self.alive:
            return
        key = "broadcast.done" if report.finished else "broadcast.progress"
        text = t(key, self.lang, sent=report.sent, failed=report.failed, total=report.total)
        try:
            await self.interaction.edit_original_response(content=text, embed=None, view=None)
            self.edits += 1
        except discord.HTTPException:
            # The interaction token lives 15 minutes; delivery goes on without progress.
            self.alive = False


class BroadcastModal(discord.ui.Modal):
    def __init__(self, cog: Broadcasts, lang: str, target: str, arg: str | None) -> None:
        super().__init__(title=t("broadcast.modal.title", lang), timeout=PREVIEW_TIMEOUT_S)
        self.cog, self.lang, self.target, self.arg = cog, lang, target, arg
        self.headline: discord.ui.TextInput[BroadcastModal] = discord.ui.TextInput(
            label=t("broadcast.modal.headline", lang), max_length=service.TITLE_MAX
        )
        self.text: discord.ui.TextInput[BroadcastModal] = discord.ui.TextInput(
            label=t("broadcast.modal.text", lang),
            style=discord.TextStyle.paragraph,
            max_length=service.BODY_MAX,
        )
        self.add_item(self.headline)
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.preview(
            interaction, self.target, self.arg, self.headline.value, self.text.value
        )

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report_error(interaction, error)


class ConfirmView(OrganiserView):
    def __init__(
        self, cog: Broadcasts, lang: str, target: str, arg: str | None, title: str, body: str
    ) -> None:
        super().__init__(timeout=PREVIEW_TIMEOUT_S)
        self.cog, self.lang, self.target, self.arg = cog, lang, target, arg
        self.title, self.body = title, body
        self.confirm.label = t("broadcast.confirm", lang)
        self.cancel.label = t("broadcast.cancel", lang)

    @discord.ui.button(style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await self.cog.confirmed(
            interaction, self.lang, self.target, self.arg, self.title, self.body
        )

    @discord.ui.button(style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=t("broadcast.cancelled", self.lang), embed=None, view=None
        )


class Broadcasts(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self.runner = Runner(bot)
        self._resumed = False

    async def cog_unload(self) -> None:
        await self.runner.stop()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Finish every fan-out a restart interrupted (deliveries are never repeated)."""
        if self._resumed:
            return
        self._resumed = True
        await self.bot.hackbot_ready.wait()
        async with self.bot.db.read() as session:
            ids = await service.unfinished(session)
        for broadcast_id in ids:
            log.info("resuming broadcast %s after a restart", broadcast_id)
            try:
                result = await self.runner.run(broadcast_id)
            except Exception:
                log.exception("could not resume broadcast %s", broadcast_id)
                continue
            async with self.bot.db.read() as session:
                broadcast = await session.get(Broadcast, broadcast_id)
            if broadcast is not None and broadcast.kind == "manual":
                await self.post_to_organisers(
                    t(
                        "broadcast.resumed_report",
                        self.bot.settings.event.language,
                        id=broadcast_id,
                        title=broadcast.title or "",
                        sent=result.sent,
                        failed=result.failed,
                        total=result.total,
                    )
                )

    async def post_to_organisers(self, text: str) -> None:
        await self.bot.tell_organisers(text)

    # -- targets ----------------------------------------------------------------------

    def context(self, session: Any, arg: str | None) -> service.TargetContext:
        guild = self.bot.event_guild
        settings = self.bot.settings
        announcements = (
            discord.utils.get(guild.text_channels, name=settings.channels.announcements)
            if guild
            else None
        )
        role_ids = {}
        if guild is not None:
            for kind in ("organiser", "mentor", "judge", "participant"):
                role = discord.utils.get(guild.roles, name=getattr(settings.roles, kind))
                if role is not None:
                    role_ids[kind] = role.id
        return service.TargetContext(
            session=session,
            settings=settings,
            now=self.bot.clock.now(),
            arg=arg,
            announcements_id=announcements.id if announcements else None,
            role_ids=role_ids,
        )

    async def destinations(self, target: str, arg: str | None) -> list[service.Destination]:
        async with self.bot.db.read() as session:
            return await service.resolve(target, self.context(session, arg))

    def describe(self, destinations: list[service.Destination], lang: str) -> str:
        guild = self.bot.event_guild
        pings = []
        for mention in {d.mention for d in destinations if d.mention}:
            if mention == "everyone":
                pings.append("@everyone")
            else:
                role = guild.get_role(int(mention.split(":", 1)[1])) if guild else None
                pings.append("@" + role.name if role else mention)
        if len(destinations) == 1:
            where = t("broadcast.where_one", lang, channel=f"<#{destinations[0].channel_id}>")
        else:
            where = t("broadcast.where_many", lang, count=len(destinations))
        who = (
            t("broadcast.pings", lang, roles=", ".join(sorted(pings)))
            if pings
            else t("broadcast.pings_nobody", lang)
        )
        return f"{where}\n{who}"

    # -- the command ------------------------------------------------------------------

    @app_commands.command(
        name=L("cmd.admin.broadcast.name"),
        description=L("cmd.admin.broadcast.description"),
        extras={"audience": "organiser"},
    )
    @app_commands.rename(
        target=L("cmd.admin.broadcast.options.target.name"),
        challenge=L("cmd.admin.broadcast.options.challenge.name"),
    )
    @app_commands.describe(
        target=L("cmd.admin.broadcast.options.target.description"),
        challenge=L("cmd.admin.broadcast.options.challenge.description"),
    )
    @app_commands.guild_only()
    @organiser_only()
    async def broadcast(
        self, interaction: discord.Interaction, target: str, challenge: str | None = None
    ) -> None:
        lang = lang_of(interaction)
        known = service.target_keys()
        if target not in known:
            folded = target.casefold()
            matches = [k for k in known if target_label(k, lang).casefold() == folded]
            if not matches:
                raise InvalidInput("broadcast.unknown_target", target=target[:50])
            target = matches[0]
        arg = challenge if service.get_target(target).needs_arg else None
        # Checked now so a mistake is told before the organiser types the message.
        await self.destinations(target, arg)
        await interaction.response.send_modal(BroadcastModal(self, lang, target, arg))

    @broadcast.autocomplete("target")
    async def target_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        lang = lang_of(interaction)
        folded = current.casefold()
        return [
            app_commands.Choice(name=target_label(key, lang), value=key)
            for key in service.target_keys()
            if folded in target_label(key, lang).casefold() or folded in key
        ][:25]

    @broadcast.autocomplete("challenge")
    async def challenge_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.db.read() as session:
            rows = await service.challenge_choices(session, current)
        return [app_commands.Choice(name=row.name[:100], value=str(row.id)) for row in rows]

    async def preview(
        self,
        interaction: discord.Interaction,
        target: str,
        arg: str | None,
        title: str,
        body: str,
    ) -> None:
        lang = lang_of(interaction)
        title, body = service.check_text(title, body)
        destinations = await self.destinations(target, arg)
        footer = t("broadcast.footer", self.bot.settings.event.language)
        text = t(
            "broadcast.preview",
            lang,
            target=target_label(target, lang),
            details=self.describe(destinations, lang),
        )
        await send(
            interaction,
            text,
            embed=build_embed(title, body, footer),
            view=ConfirmView(self, lang, target, arg, title, body),
        )

    async def confirmed(
        self,
        interaction: discord.Interaction,
        lang: str,
        target: str,
        arg: str | None,
        title: str,
        body: str,
    ) -> None:
        destinations = await self.destinations(target, arg)
        event_lang = self.bot.settings.event.language
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            broadcast = await service.create(
                session,
                kind="manual",
                target=target,
                target_arg=arg,
                destinations=destinations,
                now=now,
                lang=event_lang,
                title=title,
                body=body,
                footer=t("broadcast.footer", event_lang),
                author=interaction.user.id,
            )
            service.audit(session, interaction.user.id, broadcast, len(destinations), now)
            broadcast_id = broadcast.id
        await interaction.response.edit_message(
            content=t("broadcast.progress", lang, sent=0, failed=0, total=len(destinations)),
            embed=None,
            view=None,
        )
        progress = Progress(interaction, lang, self.bot.settings.broadcasts.progress_every_seconds)
        task = self.runner.start(broadcast_id, on_progress=progress)
        task.add_done_callback(
            lambda _t: log.info(
                "broadcast %s: progress edited %d times", broadcast_id, progress.edits
            )
        )


async def setup(bot: HackBot) -> None:
    cog = Broadcasts(bot)
    await bot.add_cog(cog)
    attach_to_admin(bot, cog, "broadcast")
