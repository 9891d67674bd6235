"""/submit (a form, a preview, Confirm), the gallery forum, receipts in team spaces, and
/admin submission reopen|status.

Flow: ``/submit`` opens a modal (prefilled with the team's current submission when there
is one); the answer is checked and shown as a preview with Confirm, Edit and, when the
event asks extra questions, a second form ("More details", at most five more fields: a
modal holds five inputs and the first one is full). Confirm stores the version (the
deadline is judged at that moment); only then does the member read "submitted".

After the commit, the gallery job (``hackbot-job:gallery``, a few workers) stores the
write that makes or updates the project's forum post in the gallery, and the receipt for the
team's space, in the outbox, which sends them at Discord's pace (a new post's receipt follows
the post, with its link; a receipt is stored with the version it confirms and sent once, the
space brought back if it was archived).
Gallery posts are forum threads: before one is made, the least recently updated posts are
archived (still readable) so the gallery stays within ``gallery_active_posts`` and the
server keeps headroom under its ~1,000 active threads (:mod:`bot.threads`, which also
lets a team that needs a thread for its space have gallery posts archived); with no room
left, the post waits (the receipt goes without its link) and is tried again later. What is
done is recorded per version (``gallery_version``/``receipt_version``) by the post's done
handler, so after a restart the job finishes what is missing and never posts twice: a post
whose making a crash cut is looked for by the outbox and recorded, not posted again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import threads
from bot.admin import attach_to_admin
from bot.app import Refused
from bot.commands_meta import localized_path
from bot.db import Busy
from bot.errors import HackbotError, InvalidInput
from bot.i18n import t
from bot.interactions import GuardedView, lang_of, organiser_only, report_error, send
from bot.localization import L
from bot.models.challenges import Challenge
from bot.models.outbox import Priority
from bot.models.teams import Team
from bot.scheduler import JOB_TASK_PREFIX
from bot.services import outbox
from bot.services import submissions as service
from bot.services import teams as team_service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

FORM_TIMEOUT_S = 1800
PREVIEW_TIMEOUT_S = 840  # an interaction token lives 15 minutes
TAG_NAME_MAX = 20
#: Workers of the gallery job: receipts and database writes overlap, posts take turns.
PUBLISH_WORKERS = 4
#: When gallery posts must be archived, up to this many more go at once (at most a fifteenth
#: of gallery_active_posts).
ARCHIVE_BATCH = 20
#: Pauses before trying a gallery post or receipt again (then: at the next start).
RETRY_DELAYS_S = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0)
#: The outbox's done handler of a gallery post (made or updated).
GALLERY_PUBLISHED = "submissions.gallery_published"
#: session.info key: submissions to publish again once a transaction is committed.
BEHIND_KEY = "gallery_behind"


def post_key(submission_id: int) -> str:
    """Names the making of a submission's gallery post in the outbox (never asked twice)."""
    return f"gallery:{submission_id}"


def ts(moment, style: str = "F") -> str:
    return discord.utils.format_dt(moment, style)


def error_text(error: HackbotError, lang: str) -> str:
    """A domain error as the member reads it (lateness in words, not seconds)."""
    params = dict(error.params)
    if isinstance(error, service.StaleVersion):
        params["command"] = "/" + localized_path("submit", lang)
    if isinstance(error, service.LateSubmission):
        params["missed_by"] = service.format_delay(int(params["missed_by"]), lang)
    if (
        "field" in params
        and isinstance(params["field"], str)
        and params["field"] in (service.CORE_FIELDS)
    ):
        params["field"] = t(f"submissions.field.{params['field']}", lang)
    return t(error.key, lang, **params)


def content_embed(
    content: service.Content,
    lang: str,
    settings: Any,
    *,
    team: str | None = None,
    challenge: str | None = None,
    members: list[str] | None = None,
    colour: discord.Colour | None = None,
) -> discord.Embed:
    embed = discord.Embed(
        title=content.title[:256],
        description=f"*{content.pitch}*\n\n{content.description}"[:4096],
        colour=colour or discord.Colour.green(),
    )
    if team:
        embed.add_field(name=t("submissions.card.team", lang), value=team[:1024], inline=True)
    if challenge:
        embed.add_field(
            name=t("submissions.card.challenge", lang), value=challenge[:1024], inline=True
        )
    if members:
        embed.add_field(
            name=t("submissions.card.members", lang),
            value=", ".join(members)[:1024],
            inline=False,
        )
    if content.repo_url:
        embed.add_field(
            name=t("submissions.field.repo_url", lang), value=content.repo_url, inline=False
        )
    if content.demo_url:
        embed.add_field(
            name=t("submissions.field.demo_url", lang), value=content.demo_url, inline=False
        )
    for spec in settings.submission_fields:
        value = content.extra.get(spec.key)
        if value and len(embed.fields) < 25:
            embed.add_field(name=spec.label, value=value[:1024], inline=False)
    return embed


# --------------------------------------------------------------------------
# The form


class CoreModal(discord.ui.Modal):
    def __init__(self, flow: SubmitFlow) -> None:
        lang = flow.lang
        key = "submissions.modal.edit_title" if flow.base_version else "submissions.modal.title"
        super().__init__(title=t(key, lang)[:45], timeout=FORM_TIMEOUT_S)
        self.flow = flow
        v = flow.values
        settings = flow.cog.bot.settings.submissions
        self.title_input: discord.ui.TextInput[CoreModal] = discord.ui.TextInput(
            label=t("submissions.field.title", lang)[:45],
            min_length=service.TITLE_MIN,
            max_length=service.TITLE_MAX,
            default=v.get("title") or None,
        )
        self.pitch: discord.ui.TextInput[CoreModal] = discord.ui.TextInput(
            label=t("submissions.field.pitch", lang)[:45],
            max_length=service.PITCH_MAX,
            placeholder=t("submissions.modal.pitch_hint", lang)[:100],
            default=v.get("pitch") or None,
        )
        self.description: discord.ui.TextInput[CoreModal] = discord.ui.TextInput(
            label=t("submissions.field.description", lang)[:45],
            style=discord.TextStyle.paragraph,
            min_length=service.DESCRIPTION_MIN,
            max_length=service.DESCRIPTION_MAX,
            default=v.get("description") or None,
        )
        self.repo: discord.ui.TextInput[CoreModal] = discord.ui.TextInput(
            label=t("submissions.field.repo_url", lang)[:45],
            max_length=service.URL_MAX,
            required=settings.require_repo,
            placeholder="https://",
            default=v.get("repo_url") or None,
        )
        self.demo: discord.ui.TextInput[CoreModal] = discord.ui.TextInput(
            label=t("submissions.field.demo_url", lang)[:45],
            max_length=service.URL_MAX,
            required=settings.require_demo,
            placeholder="https://",
            default=v.get("demo_url") or None,
        )
        for item in (self.title_input, self.pitch, self.description, self.repo, self.demo):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.flow.values.update(
            title=self.title_input.value,
            pitch=self.pitch.value,
            description=self.description.value,
            repo_url=self.repo.value,
            demo_url=self.demo.value,
        )
        await self.flow.show_preview(interaction)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


class ExtraModal(discord.ui.Modal):
    def __init__(self, flow: SubmitFlow) -> None:
        super().__init__(
            title=t("submissions.modal.extra_title", flow.lang)[:45], timeout=FORM_TIMEOUT_S
        )
        self.flow = flow
        self.inputs: dict[str, discord.ui.TextInput[ExtraModal]] = {}
        extra = flow.values.get("extra") or {}
        for spec in flow.cog.bot.settings.submission_fields:
            item: discord.ui.TextInput[ExtraModal] = discord.ui.TextInput(
                label=spec.label[:45],
                style=discord.TextStyle.paragraph
                if spec.kind == "paragraph"
                else discord.TextStyle.short,
                max_length=service.URL_MAX if spec.kind == "url" else spec.max_length,
                required=spec.required,
                placeholder="https://" if spec.kind == "url" else None,
                default=extra.get(spec.key) or None,
            )
            self.inputs[spec.key] = item
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.flow.values["extra"] = {key: item.value for key, item in self.inputs.items()}
        self.flow.extra_done = True
        await self.flow.show_preview(interaction)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


class SubmitFlow:
    """One member's way through the form: what they typed, what they started from."""

    def __init__(
        self, cog: Submissions, lang: str, base_version: int, values: dict[str, Any]
    ) -> None:
        self.cog = cog
        self.lang = lang
        self.base_version = base_version
        self.values = values
        self.extra_done = base_version > 0 or not cog.bot.settings.submission_fields

    async def show_preview(self, interaction: discord.Interaction) -> None:
        settings = self.cog.bot.settings
        lang = self.lang
        try:
            content = service.check_content(settings, self.values, partial=True)
        except InvalidInput as error:
            view = PreviewView(self, None)
            text = t("submissions.fix_prompt", lang, problem=error_text(error, lang))
            await self._answer(interaction, text, None, view)
            return
        missing = service.missing_extra(settings, content.extra)
        notes = [t("submissions.preview.intro", lang)]
        if self.base_version:
            notes.append(t("submissions.preview.replaces", lang, version=self.base_version))
        if missing or not self.extra_done:
            notes.append(
                t("submissions.preview.extra_needed", lang, fields=", ".join(missing) or "—")
            )
        when: service.Timing | None = None
        try:
            async with self.cog.bot.db.read() as session:
                _team, _current, when = await service.check_may_submit(
                    session, settings, self.cog.bot.clock.now(), interaction.user.id
                )
        except Busy:
            # The preview only informs (Confirm checks everything again): under a rush,
            # show what was typed rather than lose it to a "try again".
            log.warning(
                "preview for %s shown without its timing: database busy", interaction.user.id
            )
        except HackbotError as error:
            await self._answer(interaction, error_text(error, lang), None, None)
            return
        if when is not None and when.late:
            notes.append(
                t(
                    "submissions.preview.late",
                    lang,
                    missed_by=service.format_delay(when.late_seconds, lang),
                )
            )
        elif when is not None and when.grace_until is not None:
            notes.append(t("submissions.preview.grace", lang, until=ts(when.grace_until, "T")))
        embed = content_embed(content, lang, settings, colour=discord.Colour.light_grey())
        ready = not missing and self.extra_done
        view = PreviewView(self, content if ready else None)
        await self._answer(interaction, "\n".join(notes), embed, view)

    async def _answer(
        self,
        interaction: discord.Interaction,
        text: str,
        embed: discord.Embed | None,
        view: discord.ui.View | None,
    ) -> None:
        if (
            interaction.message is not None
            and interaction.type == discord.InteractionType.modal_submit
        ):
            # The modal came from a button of the preview: update that message in place.
            await interaction.response.edit_message(content=text, embed=embed, view=view)
        else:
            extra: dict[str, Any] = {}
            if embed is not None:
                extra["embed"] = embed
            if view is not None:
                extra["view"] = view
            await send(interaction, text, **extra)


class PreviewView(GuardedView):
    def __init__(self, flow: SubmitFlow, content: service.Content | None) -> None:
        super().__init__(timeout=PREVIEW_TIMEOUT_S)
        self.flow, self.content = flow, content
        lang = flow.lang
        if content is not None:
            confirm = discord.ui.Button(
                label=t("submissions.button.confirm", lang), style=discord.ButtonStyle.success
            )
            confirm.callback = self.confirm  # type: ignore[method-assign]
            self.add_item(confirm)
        edit = discord.ui.Button(
            label=t("submissions.button.edit", lang), style=discord.ButtonStyle.primary
        )
        edit.callback = self.edit  # type: ignore[method-assign]
        self.add_item(edit)
        if flow.cog.bot.settings.submission_fields:
            extra = discord.ui.Button(
                label=t("submissions.button.extra", lang), style=discord.ButtonStyle.primary
            )
            extra.callback = self.extra  # type: ignore[method-assign]
            self.add_item(extra)
        cancel = discord.ui.Button(
            label=t("submissions.button.cancel", lang), style=discord.ButtonStyle.secondary
        )
        cancel.callback = self.cancel  # type: ignore[method-assign]
        self.add_item(cancel)

    async def confirm(self, interaction: discord.Interaction) -> None:
        assert self.content is not None
        self.stop()
        await self.flow.cog.confirm(interaction, self.flow, self.content)

    async def edit(self, interaction: discord.Interaction) -> None:
        self.stop()
        await interaction.response.send_modal(CoreModal(self.flow))

    async def extra(self, interaction: discord.Interaction) -> None:
        self.stop()
        await interaction.response.send_modal(ExtraModal(self.flow))

    async def cancel(self, interaction: discord.Interaction) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=t("submissions.cancelled", self.flow.lang), embed=None, view=None
        )


# --------------------------------------------------------------------------
# The gallery and receipts (one background job)


class Publisher:
    """Brings gallery posts and receipts up to date with stored versions.

    A few workers (``hackbot-job:gallery``) share the queue, so receipts and database
    writes overlap while posts are made one at a time (making room among the server's
    active threads first). A submission is never in two workers' hands: pushed again
    meanwhile, it is done again after. What could not be done (Discord or the database
    refusing for a while) is tried again later, with growing pauses.
    """

    def __init__(self, cog: Submissions) -> None:
        self.cog = cog
        self.bot = cog.bot
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.workers: list[asyncio.Task[None]] = []
        self.retries: dict[int, asyncio.Task[None]] = {}
        self.attempts: dict[int, int] = {}  # submission id -> failed attempts in a row
        self.working: set[int] = set()
        self.again: set[int] = set()
        # Creating the forum or its tags, and making room for a post, one worker at a time;
        # posts the outbox is making (room held for them: their write ids) count until done.
        self._forum_lock = asyncio.Lock()
        self._post_lock = asyncio.Lock()
        self._posting: set[int] = set()
        self.bot.outbox.on_done(GALLERY_PUBLISHED, self.published)
        self.bot.db.on_commit(self._on_commit)

    def push(self, kind: str, payload: Any) -> None:
        self.queue.put_nowait((kind, payload))
        self.workers = [task for task in self.workers if not task.done()]
        if len(self.workers) < min(PUBLISH_WORKERS, self.queue.qsize() + len(self.working)):
            self.workers.append(asyncio.create_task(self._run(), name=f"{JOB_TASK_PREFIX}gallery"))

    async def _run(self) -> None:
        while not self.queue.empty():
            kind, payload = self.queue.get_nowait()
            if kind == "notice":
                try:
                    await self.notice(*payload)
                except Exception:
                    log.exception("organisers' notice %s failed", payload[0])
                continue
            submission_id = int(payload)
            if submission_id in self.working:
                self.again.add(submission_id)
                continue
            self.working.add(submission_id)
            try:
                done = await self.publish(submission_id)
            except Exception:
                log.exception("gallery job for submission %s failed", submission_id)
                done = False
            finally:
                self.working.discard(submission_id)
            if done:
                self.attempts.pop(submission_id, None)
            else:
                self.retry_later(submission_id)
            if submission_id in self.again:
                self.again.discard(submission_id)
                self.queue.put_nowait(("submission", submission_id))

    def retry_later(self, submission_id: int) -> None:
        attempt = self.attempts.get(submission_id, 0)
        if attempt >= len(RETRY_DELAYS_S):
            log.error(
                "gave up on the gallery post or receipt of submission %s after %d attempts "
                "(tried again at the next start, or by /admin repair)",
                submission_id,
                attempt + 1,
            )
            self.attempts.pop(submission_id, None)
            return
        self.attempts[submission_id] = attempt + 1
        if submission_id in self.retries and not self.retries[submission_id].done():
            return

        async def later() -> None:
            await asyncio.sleep(RETRY_DELAYS_S[attempt])
            self.retries.pop(submission_id, None)
            self.push("submission", submission_id)

        # Not a hackbot-job: nothing to wait for while it only sleeps.
        self.retries[submission_id] = asyncio.create_task(
            later(), name=f"gallery-retry-{submission_id}"
        )

    async def stop(self) -> None:
        for task in [*self.workers, *self.retries.values()]:
            if not task.done():
                task.cancel()

    @property
    def lang(self) -> str:
        return self.bot.settings.event.language

    async def forum(self, guild: discord.Guild) -> discord.ForumChannel:
        name = self.bot.settings.submissions.gallery_forum
        found = discord.utils.get(guild.forums, name=name)
        if found is not None:
            return found
        async with self._forum_lock:  # the first workers must not make two forums
            found = discord.utils.get(guild.forums, name=name)
            if found is not None:
                return found
            return await self._create_forum(guild, name)

    async def _create_forum(self, guild: discord.Guild, name: str) -> discord.ForumChannel:
        async with self.bot.db.read() as session:
            tags = await self.tag_names(session)
        forum = await threads.make_forum(
            self.bot,
            guild,
            name=name,
            topic=t("submissions.gallery.topic", self.lang),
            tags=tags,
            reason=t("submissions.audit_reason", self.lang),
            key="gallery-forum",
        )
        if forum is None:  # the bot is stopping
            raise Refused("the gallery forum did not appear")
        log.info("created the gallery forum #%s with %d tags", forum.name, len(tags))
        return forum

    async def tag_names(self, session) -> list[str]:  # type: ignore[no-untyped-def]
        """One tag per challenge, the ones with most teams first; past 19, an "other" tag."""
        from sqlalchemy import select

        rows = (
            await session.execute(
                select(Challenge.name, Team.id)
                .outerjoin(Team, Team.challenge_id == Challenge.id)
                .where(Challenge.archived_at.is_(None))
            )
        ).all()
        sizes: Counter[str] = Counter()
        for name, team_id in rows:
            sizes[name[:TAG_NAME_MAX]] += 1 if team_id else 0
        names = sorted(sizes, key=lambda n: (-sizes[n], n))
        if len(names) > threads.MAX_FORUM_TAGS:
            names = [*names[: threads.MAX_FORUM_TAGS - 1], self.other_tag]
        return names

    @property
    def other_tag(self) -> str:
        return t("submissions.gallery.other_tag", self.lang)[:TAG_NAME_MAX]

    async def tags_for(
        self, forum: discord.ForumChannel, challenge: str | None
    ) -> tuple[discord.ForumChannel, list[discord.ForumTag]]:
        if not challenge:
            return forum, []
        name = challenge[:TAG_NAME_MAX]
        tag = discord.utils.get(forum.available_tags, name=name)
        if tag is not None:
            return forum, [tag]
        async with self._forum_lock:  # two workers adding tags would drop each other's
            current = forum.guild.get_channel(forum.id)
            if isinstance(current, discord.ForumChannel):
                forum = current
            return await self._add_tag(forum, name)

    async def _add_tag(
        self, forum: discord.ForumChannel, name: str
    ) -> tuple[discord.ForumChannel, list[discord.ForumTag]]:
        """The challenge's tag, added if there is room (one place kept for "other"), else the
        "other" tag, added if needed."""
        reason = t("submissions.audit_reason", self.lang)
        if len(forum.available_tags) < threads.MAX_FORUM_TAGS - 1:
            forum = await self.bot.add_forum_tags(forum, [name], reason=reason)
        tag = discord.utils.get(forum.available_tags, name=name)
        if tag is None:
            if len(forum.available_tags) < threads.MAX_FORUM_TAGS:
                forum = await self.bot.add_forum_tags(forum, [self.other_tag], reason=reason)
            tag = discord.utils.get(forum.available_tags, name=self.other_tag)
        return forum, [tag] if tag else []

    async def publish(self, submission_id: int) -> bool:
        """Store what brings the gallery post and the receipt up to date (the outbox sends
        it). True when nothing is left for this job (False: no room for a new post yet; try
        again later).

        An existing post is updated (brought back if archived) and the receipt follows at
        once. A new post is made through the outbox, and its done handler
        (:meth:`published`) records it and sends the receipt with its link; a post already on
        its way (asked for before a restart, or by an earlier version) is not asked for
        again: its handler catches up with the versions confirmed meanwhile. With no room for
        a new post, the receipt goes now, without the link, and the post later."""
        guild = self.bot.event_guild
        if guild is None:
            return False
        async with self.bot.db.read() as session:
            sub = await service.get(session, submission_id)
            card = await service.card(session, submission_id)
            gallery_behind = sub.gallery_version < sub.version
            receipt_behind = sub.receipt_version < sub.version
            on_its_way = await outbox.unfinished(session, post_key(submission_id))
        done = True
        receipt_now = receipt_behind
        write: outbox.Write | None = None
        if gallery_behind and not on_its_way:
            # A new post, or one archived that the update brings back, needs an active
            # thread: room is made first (or the post waits and the receipt goes without it).
            post = guild.get_thread(card.gallery_thread_id) if card.gallery_thread_id else None
            # (discord.py's cache keeps active threads only: a post not in it is archived.)
            reopen = card.gallery_thread_id is not None and (post is None or post.archived)
            if (card.gallery_thread_id is None or reopen) and not await self.room_for_post(guild):
                done = False
            else:
                write = await self.post_write(guild, card, reopen=reopen)
                if card.gallery_thread_id is None:
                    receipt_now = False  # the post's handler sends it, with the link
        elif on_its_way:
            receipt_now = False
        if write is None and not receipt_now:
            return done
        async with self.bot.db.begin() as session:
            if write is not None:
                stored = await outbox.enqueue(session, self.bot.clock.now(), write)
                if (write.kind == "forum.post" or write.payload.get("reopen")) and stored.queued:
                    self._posting.add(stored.queued.id)
            if receipt_now:
                await self.send_receipt(session, card)
        return done

    async def send_receipt(self, session: Any, card: service.Card) -> None:
        """Store the receipt of ``card``'s version (sent once: recorded with the version)."""
        await service.mark_receipt(session, card.submission_id, card.version)
        receipt = self.receipt(card)
        if receipt is not None:
            await outbox.enqueue(session, self.bot.clock.now(), receipt)

    async def post_write(
        self, guild: discord.Guild, card: service.Card, *, reopen: bool = False
    ) -> outbox.Write:
        """The write that makes (or updates, bringing it back when ``reopen``) the gallery
        post of ``card``."""
        lang = self.lang
        forum = await self.forum(guild)
        embed = content_embed(
            card.content,
            lang,
            self.bot.settings,
            team=card.team_name,
            challenge=card.challenge_name,
            members=card.member_names,
        )
        embed.set_footer(text=t("submissions.gallery.footer", lang, version=card.version))
        forum, tags = await self.tags_for(forum, card.challenge_name)
        ref = {"submission_id": card.submission_id, "version": card.version}
        reason = t("submissions.audit_reason", lang)
        if card.gallery_thread_id:
            return outbox.post_settle(
                card.gallery_thread_id,
                embeds=[embed.to_dict()],
                name=card.content.title,
                applied_tags=[tag.id for tag in tags],
                reopen=reopen,
                reason=reason,
                priority=Priority.BULK,
                on_done=GALLERY_PUBLISHED,
                ref=ref,
            )
        return outbox.forum_post(
            forum.id,
            guild_id=guild.id,
            name=card.content.title,
            embeds=[embed.to_dict()],
            applied_tags=[tag.id for tag in tags],
            reason=reason,
            priority=Priority.BULK,
            on_done=GALLERY_PUBLISHED,
            ref=ref,
            key=post_key(card.submission_id),
        )

    async def published(
        self,
        session: Any,
        now: Any,
        write: outbox.Claimed,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        """The outbox's done handler of a gallery post or its update: record the version
        shown, send the receipt (with the post's link) if it has not gone yet, and catch up
        with a version confirmed while the post was being made."""
        self._posting.discard(write.id)
        ref = write.payload["ref"]
        submission_id, version = int(ref["submission_id"]), int(ref["version"])
        if error is not None and write.kind == "post.settle" and error.startswith("404"):
            # The post was deleted by hand: a new one is made.
            log.warning(
                "the gallery post of submission %s is gone: posting it again", submission_id
            )
            await service.forget_post(session, submission_id, int(write.payload["thread_id"]))
            session.info.setdefault(BEHIND_KEY, []).append(submission_id)
            return
        if error is not None:
            log.error("the gallery post of submission %s was refused: %s", submission_id, error)
        else:
            thread_id = int(
                result["channel_id"]
                if result and "channel_id" in result
                else write.payload["thread_id"]
            )
            await service.mark_published(session, submission_id, version, thread_id)
        card = await service.card(session, submission_id)
        if (await service.get(session, submission_id)).receipt_version < card.version:
            await self.send_receipt(session, card)
        if error is None and card.version > version:
            session.info.setdefault(BEHIND_KEY, []).append(submission_id)

    def _on_commit(self, info: dict[str, Any]) -> None:
        """Submissions whose post's handler saw a newer version: published again once the
        handler's transaction is committed."""
        for submission_id in info.pop(BEHIND_KEY, []):
            self.push("submission", submission_id)

    # -- the server's active threads ------------------------------------------------------

    async def make_room(self, guild: discord.Guild, limit: int | None = None) -> int:
        """Archive the gallery's least recently updated posts (archived, a post stays
        listed and readable in the forum) so that one more thread fits: the gallery keeps
        at most ``[submissions] gallery_active_posts`` active, and the server keeps
        THREAD_HEADROOM of its active threads free (:func:`bot.threads.post_limit`), or stays
        under ``limit`` when another feature asks for room. Returns how many were archived.

        When it archives, it archives a few more (ARCHIVE_BATCH, at most a fifteenth of
        the cap; through the outbox, ahead of bulk work), so a rush of new posts does not pay one archive
        each. Also registered as a room maker of
        :mod:`bot.threads`: a team that needs a thread for its space gets one before a
        project post stays active."""
        name = self.bot.settings.submissions.gallery_forum
        forum = discord.utils.get(guild.forums, name=name)
        if forum is None:
            return 0
        active = [thread for thread in guild.threads if not thread.archived]
        ours = {thread.id: thread for thread in active if thread.parent_id == forum.id}
        coming = len(self._posting) + 1  # posts being made now, and the one asked for
        if limit is None:
            limit = threads.post_limit(guild)
        over_server = len(active) + coming - limit
        cap = self.bot.settings.submissions.gallery_active_posts
        over_gallery = len(ours) + coming - cap
        excess = max(over_server, over_gallery)
        if excess <= 0 or not ours:
            return 0
        async with self.bot.db.read() as session:
            oldest = await service.gallery_threads_by_age(session, list(ours))
        victims = oldest[: excess + min(ARCHIVE_BATCH, cap // 15)]
        reason = t("submissions.audit_reason", self.lang)
        archived = await threads.archive(self.bot, victims, reason=reason)
        if archived:
            log.info("archived %d gallery posts to stay within the active threads", archived)
        return archived

    async def room_for_post(self, guild: discord.Guild) -> bool:
        """Whether one more gallery post fits (after archiving old ones, the gallery's own
        first, then other features' posts), counting the posts the outbox is still making.
        When there is none, nothing is posted: Discord's limit is never hit, and the post is
        tried again later."""
        async with self._post_lock:
            self._posting = {i for i in self._posting if self.bot.outbox.pending(i)}
            await self.make_room(guild)
            limit = threads.post_limit(guild) - len(self._posting)
            fits = await threads.make_room(self.bot, guild, limit=limit)
        if not fits:
            log.error(
                "no room for a gallery post: %d of the server's %d active threads are in use "
                "and nothing is left to archive",
                threads.active_threads(guild),
                threads.GUILD_ACTIVE_THREADS,
            )
        return fits

    def receipt(self, card: service.Card) -> outbox.Write | None:
        """The receipt in the team's space, as an outbox write (None: no space yet)."""
        if card.space_channel_id is None:
            return None
        embed = content_embed(
            card.content, self.lang, self.bot.settings, challenge=card.challenge_name
        )
        return outbox.message_send(
            card.space_channel_id,
            content=self.receipt_text(card),
            embeds=[embed.to_dict()],
            priority=Priority.NORMAL,
        )

    def receipt_text(self, card: service.Card) -> str:
        lang = self.lang
        text = t(
            "submissions.receipt",
            lang,
            version=card.version,
            at=ts(card.last_edit_at),
            post=f"<#{card.gallery_thread_id}>" if card.gallery_thread_id else "—",
        )
        if card.late_seconds:
            text += "\n" + t(
                "submissions.receipt_late",
                lang,
                missed_by=service.format_delay(card.late_seconds, lang),
            )
        return text

    async def notice(self, key: str, params: dict[str, Any]) -> None:
        guild = self.bot.event_guild
        if guild is None:
            return
        channel = discord.utils.get(guild.text_channels, name=self.bot.settings.channels.organisers)
        if channel is None:
            return
        write = outbox.message_send(channel.id, content=t(key, self.lang, **params))
        async with self.bot.db.begin() as session:
            await outbox.enqueue(session, self.bot.clock.now(), write)


# --------------------------------------------------------------------------
# Commands


class Submissions(commands.Cog):
    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self.publisher = Publisher(self)

    async def cog_unload(self) -> None:
        await self.publisher.stop()

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.bot.hackbot_ready.wait()
        async with self.bot.db.read() as session:
            pending = await service.behind(session)
        if pending:
            log.info("%d submissions have a gallery post or receipt to catch up", len(pending))
        for submission_id in pending:
            self.publisher.push("submission", submission_id)

    @app_commands.command(
        name=L("cmd.submit.name"),
        description=L("cmd.submit.description"),
        extras={"audience": "team_member"},
    )
    @app_commands.guild_only()
    async def submit(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            try:
                _team, current, _when = await service.check_may_submit(
                    session, self.bot.settings, self.bot.clock.now(), interaction.user.id
                )
            except HackbotError as error:
                await send(interaction, error_text(error, lang))
                return
            values: dict[str, Any] = {}
            if current is not None:
                values = service.Content.of(current).as_dict()
            base = current.version if current else 0
        await interaction.response.send_modal(CoreModal(SubmitFlow(self, lang, base, values)))

    async def confirm(
        self, interaction: discord.Interaction, flow: SubmitFlow, content: service.Content
    ) -> None:
        lang = flow.lang
        # The moment the team pressed Confirm decides whether it was on time: the time Discord
        # stamped on the click (its id), or the bot's clock if that is earlier, so neither a
        # backlog of events nor a queue of writers at the deadline makes a team late.
        # Acknowledge at once so that queue never makes Discord drop the answer either.
        now = min(self.bot.clock.now(), interaction.created_at)
        await interaction.response.defer()
        try:
            async with self.bot.db.begin() as session:
                stored = await service.submit(
                    session,
                    self.bot.settings,
                    now,
                    interaction.user.id,
                    content,
                    base_version=flow.base_version,
                )
        except HackbotError as error:
            await interaction.edit_original_response(
                content=error_text(error, lang), embed=None, view=None
            )
            return
        key = "submissions.done_first" if stored.created else "submissions.done_edit"
        text = t(
            key,
            lang,
            version=stored.version,
            at=ts(stored.at),
            team=stored.team_name,
            command=self.bot.command_ids.mention("submit", lang),
        )
        if stored.late_seconds:
            text += "\n" + t(
                "submissions.done_late",
                lang,
                missed_by=service.format_delay(stored.late_seconds, lang),
            )
        await interaction.edit_original_response(
            content=text,
            embed=content_embed(content, lang, self.bot.settings),
            view=None,
        )
        self.publisher.push("submission", stored.submission_id)
        if stored.duplicates:
            self.publisher.push(
                "notice",
                (
                    "submissions.notice.duplicate",
                    {
                        "team": stored.team_name,
                        "others": ", ".join(stored.duplicates),
                        "url": content.repo_url,
                    },
                ),
            )
        if stored.late_seconds:
            self.publisher.push(
                "notice",
                (
                    "submissions.notice.late",
                    {
                        "team": stored.team_name,
                        "missed_by": service.format_delay(stored.late_seconds, self.publisher.lang),
                    },
                ),
            )


class AdminSubmissions(commands.Cog):
    submission = app_commands.Group(
        name=L("cmd.admin.submission.name"),
        description=L("cmd.admin.submission.description"),
        extras={"audience": "organiser"},
    )

    def __init__(self, bot: HackBot, main: Submissions) -> None:
        self.bot = bot
        self.main = main

    @submission.command(
        name=L("cmd.admin.submission.reopen.name"),
        description=L("cmd.admin.submission.reopen.description"),
    )
    @app_commands.rename(
        team=L("cmd.admin.submission.reopen.options.team.name"),
        minutes=L("cmd.admin.submission.reopen.options.minutes.name"),
    )
    @app_commands.describe(
        team=L("cmd.admin.submission.reopen.options.team.description"),
        minutes=L("cmd.admin.submission.reopen.options.minutes.description"),
    )
    @organiser_only()
    async def reopen(
        self,
        interaction: discord.Interaction,
        team: str,
        minutes: app_commands.Range[int, 1, 10080] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.begin() as session:
            found = await team_service.find_team(session, team)
            row, until = await service.reopen(
                session,
                self.bot.settings,
                self.bot.clock.now(),
                interaction.user.id,
                found.id,
                minutes,
            )
            name, channel_id = row.name, row.channel_id
        await send(interaction, t("submissions.reopen.done", lang, team=name, until=ts(until)))
        if channel_id:
            note = t(
                "submissions.reopen.team_note",
                self.main.publisher.lang,
                until=ts(until),
                command=self.bot.command_ids.mention("submit", self.main.publisher.lang),
            )
            async with self.bot.db.begin() as session:
                await outbox.enqueue(
                    session, self.bot.clock.now(), outbox.message_send(channel_id, content=note)
                )

    @reopen.autocomplete("team")
    async def team_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.db.read() as session:
            rows = await team_service.search(session, current)
        return [app_commands.Choice(name=name[:100], value=str(tid)) for tid, name, _ in rows]

    @submission.command(
        name=L("cmd.admin.submission.status.name"),
        description=L("cmd.admin.submission.status.description"),
    )
    @organiser_only()
    async def status(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        from sqlalchemy import select

        from bot.models.submissions import Submission

        async with self.bot.db.read() as session:
            figures = await service.overview(session)
            flagged = (
                await session.execute(
                    select(Team.name, Submission.title, Submission.flags, Submission.late_seconds)
                    .join(Team, Team.id == Submission.team_id)
                    .order_by(Submission.id)
                )
            ).all()
            deadline = await service.deadline(session, self.bot.clock.now())
        embed = discord.Embed(
            title=t("submissions.status.title", lang), colour=discord.Colour.blurple()
        )
        embed.description = t(
            "submissions.status.figures",
            lang,
            submitted=figures.submitted,
            teams=figures.teams,
            late=figures.late,
            duplicates=figures.duplicates,
        )
        if deadline is not None:
            embed.description += "\n" + t("submissions.status.deadline", lang, at=ts(deadline))
        lines = []
        for team_name, title, flags, late in flagged:
            if not flags:
                continue
            words = [t(f"submissions.flag.{f}", lang) for f in flags]
            if late:
                words[words.index(t("submissions.flag.late", lang))] += (
                    f" ({service.format_delay(late, lang)})"
                )
            lines.append(f"• **{team_name}** — {title[:60]}: {', '.join(words)}")
        if lines:
            from cogs.about import fit

            embed.add_field(
                name=t("submissions.status.flagged", lang), value=fit(lines), inline=False
            )
        await send(interaction, embed=embed)


async def setup(bot: HackBot) -> None:
    main = Submissions(bot)
    admin = AdminSubmissions(bot, main)
    await bot.add_cog(admin)
    attach_to_admin(bot, admin, "submission")
    await bot.add_cog(main)
    # A team that needs a thread for its space has older gallery posts archived first.
    threads.register_room_maker(bot, "gallery", main.publisher.make_room)
