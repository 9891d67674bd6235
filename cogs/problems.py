"""The problem-statement funnel on Discord: /problem submit (theme, then a modal) posts each
statement in a forum with a Support button; /admin problem review walks the queue with
buttons and duplicate suggestions; /admin problem stats gives the figures.

Active threads are shared by the whole server (Discord: about 1000), so statement posts
are archived when reviewed and the number left active is bounded (oldest first).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import threads
from bot.admin import attach_to_admin
from bot.app import Refused
from bot.errors import HackbotError, InvalidInput, NotAllowed
from bot.i18n import t
from bot.interactions import (
    GuardedView,
    OrganiserView,
    is_organiser,
    lang_of,
    organiser_only,
    report_error,
    reports_errors,
    send,
)
from bot.localization import L
from bot.models.outbox import Priority
from bot.models.problems import ProblemStatement, ProblemStatus
from bot.outbox import eta_text
from bot.services import challenges as challenge_service
from bot.services import outbox
from bot.services import problems as service
from bot.services import registration as reg_service
from bot.services.similarity import SimilarityIndex

if TYPE_CHECKING:
    from bot.app import HackBot
    from cogs.challenges import ChallengesCog

log = logging.getLogger(__name__)

#: How long a statement's author waits for its post's link (seconds); past it, the answer
#: says when the post will be there.
POST_WAIT_S = 4.0
#: How long a rejection waits for its direct message before the post is closed (the
#: message falls back to a reply in the post when the author takes no direct messages).
AUTHOR_WAIT_S = 4.0

SUGGESTIONS = 5
SUGGESTION_MIN_SCORE = 0.2

STATUS_EMOJI = {
    "pending": "🕒",
    "accepted": "✅",
    "rejected": "⛔",
    "duplicate": "🔁",
    "merged": "🧩",
}


def post_url(guild_id: int, thread_id: int | None) -> str:
    return f"<#{thread_id}>" if thread_id else "—"


def statement_embed(statement: ProblemStatement, lang: str) -> discord.Embed:
    embed = discord.Embed(
        title=statement.title[:256],
        description=statement.description[:4096],
        colour=discord.Colour.blue(),
    )
    embed.add_field(
        name=t("problems.field.affected", lang),
        value=statement.affected[:1024] or "—",
        inline=False,
    )
    if statement.link:
        embed.add_field(
            name=t("problems.field.link", lang), value=statement.link[:1024], inline=False
        )
    embed.add_field(
        name=t("problems.field.author", lang),
        value=f"<@{statement.author_discord_id}>",
        inline=True,
    )
    if statement.theme:
        embed.add_field(name=t("problems.field.theme", lang), value=statement.theme, inline=True)
    status = t(f"problems.status.{statement.status}", lang)
    embed.set_footer(
        text=t(
            "problems.footer",
            lang,
            id=statement.id,
            status=f"{STATUS_EMOJI[statement.status]} {status}",
        )
    )
    return embed


class SupportButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"problem:support:(?P<id>\d+)"
):
    def __init__(self, problem_id: int, count: int = 0, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t("problems.support.button", lang, count=count),
                emoji="👍",
                style=discord.ButtonStyle.secondary,
                custom_id=f"problem:support:{problem_id}",
            )
        )
        self.problem_id = problem_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(int(match["id"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        cog: ProblemsCog = interaction.client.get_cog("ProblemsCog")  # type: ignore[assignment]
        await cog.support(interaction, self.problem_id)


def support_view(problem_id: int, count: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(SupportButton(problem_id, count, lang))
    return view


class SubmitModal(discord.ui.Modal):
    def __init__(
        self, cog: ProblemsCog, lang: str, theme: str | None, values: dict[str, str] | None = None
    ) -> None:
        super().__init__(title=t("problems.modal.title", lang)[:45], timeout=1800)
        self.cog, self.lang, self.theme = cog, lang, theme
        v = values or {}
        self.title_input = discord.ui.TextInput(
            label=t("problems.modal.name", lang)[:45],
            max_length=service.TITLE_MAX,
            default=v.get("title"),
        )
        self.description = discord.ui.TextInput(
            label=t("problems.modal.description", lang)[:45],
            style=discord.TextStyle.paragraph,
            max_length=service.DESCRIPTION_MAX,
            min_length=20,
            default=v.get("description"),
        )
        self.affected = discord.ui.TextInput(
            label=t("problems.modal.affected", lang)[:45],
            style=discord.TextStyle.paragraph,
            max_length=service.AFFECTED_MAX,
            default=v.get("affected"),
        )
        self.link = discord.ui.TextInput(
            label=t("problems.modal.link", lang)[:45],
            max_length=service.LINK_MAX,
            required=False,
            placeholder="https://",
            default=v.get("link"),
        )
        for item in (self.title_input, self.description, self.affected, self.link):
            self.add_item(item)

    def values(self) -> dict[str, str]:
        return {
            "title": self.title_input.value,
            "description": self.description.value,
            "affected": self.affected.value,
            "link": self.link.value,
        }

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.submit_from_modal(interaction, self)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


class FixView(GuardedView):
    """After a refused link or field: reopen the modal with what was typed."""

    def __init__(
        self, cog: ProblemsCog, lang: str, theme: str | None, values: dict[str, str]
    ) -> None:
        super().__init__(timeout=900)
        self.cog, self.lang, self.theme, self.saved = cog, lang, theme, values
        self.fix.label = t("problems.fix_button", lang)

    @discord.ui.button(label="Edit", style=discord.ButtonStyle.primary)
    async def fix(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(
            SubmitModal(self.cog, self.lang, self.theme, self.saved)
        )


class ThemeView(GuardedView):
    def __init__(self, cog: ProblemsCog, lang: str) -> None:
        super().__init__(timeout=900)
        self.cog, self.lang = cog, lang
        select = discord.ui.Select(
            placeholder=t("problems.theme_placeholder", lang)[:150],
            options=[
                discord.SelectOption(label=theme, value=theme)
                for theme in cog.bot.settings.problems.themes
            ],
        )
        select.callback = self.chosen  # type: ignore[method-assign]
        self.select = select
        self.add_item(select)

    async def chosen(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(
            SubmitModal(self.cog, self.lang, self.select.values[0])
        )


class RejectModal(discord.ui.Modal):
    def __init__(self, review: ReviewView) -> None:
        super().__init__(title=t("problems.review.reject_title", review.lang)[:45], timeout=900)
        self.review = review
        self.reason = discord.ui.TextInput(
            label=t("problems.review.reason", review.lang)[:45],
            style=discord.TextStyle.paragraph,
            max_length=service.REASON_MAX,
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.review.cog.decide(interaction, self.review, "reject", reason=self.reason.value)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


class ReviewView(OrganiserView):
    """One statement under review: Accept, Reject…, Skip, New challenge…, Stop; duplicate and
    challenge selects."""

    def __init__(
        self,
        cog: ProblemsCog,
        lang: str,
        statement_id: int,
        theme: str | None,
        duplicates: list[tuple[ProblemStatement, float]],
        challenges: list[Any],
    ) -> None:
        super().__init__(timeout=900)
        self.cog, self.lang, self.statement_id, self.theme = cog, lang, statement_id, theme
        buttons = [
            ("accept", discord.ButtonStyle.success),
            ("reject", discord.ButtonStyle.danger),
            ("skip", discord.ButtonStyle.secondary),
            ("promote", discord.ButtonStyle.primary),
            ("stop", discord.ButtonStyle.secondary),
        ]
        for action, style in buttons:
            button = discord.ui.Button(
                label=t(f"problems.review.{action}", lang), style=style, row=0
            )
            button.callback = self._button(action)  # type: ignore[method-assign]
            self.add_item(button)
        # A statement already marked as a duplicate of this one cannot be its original (it
        # would be a duplicate of itself): listed among the suggestions, not offered here.
        duplicates = [(s, score) for s, score in duplicates if s.duplicate_of_id != statement_id]
        if duplicates:
            dup = discord.ui.Select(
                placeholder=t("problems.review.duplicate_placeholder", lang)[:150],
                row=1,
                options=[
                    discord.SelectOption(
                        label=f"#{s.id} · {s.title}"[:100],
                        value=str(s.id),
                        description=t(f"problems.status.{s.status}", lang)
                        + f" · {round(score * 100)} %",
                    )
                    for s, score in duplicates
                ],
            )
            dup.callback = self._duplicate  # type: ignore[method-assign]
            self.dup = dup
            self.add_item(dup)
        if challenges:
            merge = discord.ui.Select(
                placeholder=t("problems.review.merge_placeholder", lang)[:150],
                row=2,
                options=[
                    discord.SelectOption(label=c.name[:100], value=str(c.id))
                    for c in challenges[:25]
                ],
            )
            merge.callback = self._merge  # type: ignore[method-assign]
            self.merge = merge
            self.add_item(merge)

    def _button(self, action: str):
        async def callback(interaction: discord.Interaction) -> None:
            if action == "reject":
                await interaction.response.send_modal(RejectModal(self))
            elif action == "promote":
                await self.cog.promote(interaction, self)
            else:
                await self.cog.decide(interaction, self, action)

        return callback

    async def _duplicate(self, interaction: discord.Interaction) -> None:
        await self.cog.decide(interaction, self, "duplicate", target=int(self.dup.values[0]))

    async def _merge(self, interaction: discord.Interaction) -> None:
        await self.cog.decide(interaction, self, "merge", target=int(self.merge.values[0]))


class ProblemsCog(commands.Cog):
    problem = app_commands.Group(
        name=L("cmd.problem.name"),
        description=L("cmd.problem.description"),
        guild_only=True,
        extras={"audience": "participant"},
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._index: SimilarityIndex | None = None
        self._index_lock = asyncio.Lock()
        self._forum_lock = asyncio.Lock()

    @property
    def lang(self) -> str:
        return self.bot.settings.event.language

    # -- the duplicate index ---------------------------------------------------------

    async def index(self) -> SimilarityIndex:
        async with self._index_lock:
            if self._index is None:
                async with self.bot.db.read() as session:
                    rows = await service.corpus(session)
                index = SimilarityIndex()
                index.add_many(rows)
                self._index = index
                log.info("duplicate index built over %d statements", len(rows))
            return self._index

    async def suggestions(
        self, statement: ProblemStatement
    ) -> list[tuple[ProblemStatement, float]]:
        index = await self.index()
        matches = index.similar_to(statement.id, limit=SUGGESTIONS, min_score=SUGGESTION_MIN_SCORE)
        if statement.id not in index:
            matches = index.similar_to_text(
                statement.title,
                f"{statement.description}\n{statement.affected}",
                limit=SUGGESTIONS,
                min_score=SUGGESTION_MIN_SCORE,
                exclude=[statement.id],
            )
        async with self.bot.db.read() as session:
            rows = await service.titles(session, [m.doc_id for m in matches])
        return [
            (rows[m.doc_id], m.score)
            for m in matches
            if m.doc_id in rows and rows[m.doc_id].status != "rejected"
        ]

    # -- submitting -----------------------------------------------------------------

    async def _may_submit(self, interaction: discord.Interaction) -> None:
        """Participants only (unless ``submitters = "anyone"``): a registered member. The
        participant role is enough while the bot alone gives it; a registrant whose role is
        still on its way (the outbox grants it at Discord's pace) is found in the database.
        With ``[registration] onboarding`` Discord gives the role to whoever answers its
        question, so only the database counts."""
        settings = self.bot.settings
        if settings.problems.submitters == "anyone" or is_organiser(interaction):
            return
        member = interaction.user
        wanted = settings.roles.participant
        if not settings.registration.onboarding and (
            isinstance(member, discord.Member) and any(r.name == wanted for r in member.roles)
        ):
            return
        async with self.bot.db.read() as session:
            if await reg_service.profile_of(session, member.id) is not None:
                return
        raise NotAllowed("problems.participants_only")

    @problem.command(
        name=L("cmd.problem.submit.name"), description=L("cmd.problem.submit.description")
    )
    async def submit(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        await self._may_submit(interaction)
        now = self.bot.clock.now()
        async with self.bot.db.read() as session:
            await service.require_collection_open(session, self.bot.settings, now)
            await service.check_cooldown(session, interaction.user.id, now, self.bot.settings)
        if self.bot.settings.problems.themes:
            await send(interaction, t("problems.pick_theme", lang), view=ThemeView(self, lang))
        else:
            await interaction.response.send_modal(SubmitModal(self, lang, None))

    async def submit_from_modal(self, interaction: discord.Interaction, modal: SubmitModal) -> None:
        lang = modal.lang
        await self._may_submit(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        values = modal.values()
        guild = self.bot.event_guild
        forum = await self.forum(guild) if guild is not None else None
        if guild is not None:
            await self.make_room(guild)  # room for the post, before it is stored
        post_id: int | None = None
        try:
            async with self.bot.db.begin() as session:
                statement = await service.submit(
                    session,
                    self.bot.settings,
                    author_id=interaction.user.id,
                    author_name=getattr(interaction.user, "display_name", str(interaction.user)),
                    title=values["title"],
                    description=values["description"],
                    affected=values["affected"],
                    link=values["link"],
                    theme=modal.theme,
                    lang=lang,
                    now=self.bot.clock.now(),
                )
                problem_id = statement.id
                if forum is not None:
                    # The post, stored with the statement: the outbox makes it.
                    stored = await outbox.enqueue(
                        session, self.bot.clock.now(), self.post_write(forum, statement)
                    )
                    post_id = stored.queued.id if stored.queued is not None else None
        except InvalidInput as error:
            await send(
                interaction,
                t(error.key, lang, **error.params),
                view=FixView(self, lang, modal.theme, values),
            )
            return
        async with self.bot.db.read() as session:
            statement = await service.get(session, problem_id)
        similar = await self.suggestions(statement)
        (await self.index()).add(
            statement.id, statement.title, f"{statement.description}\n{statement.affected}"
        )
        thread_id, eta = await self.posted(problem_id, post_id)
        if thread_id is not None:
            text = t("problems.submitted", lang, id=problem_id, post=post_url(0, thread_id))
        elif eta is not None:
            text = t("problems.submitted_on_its_way", lang, id=problem_id, eta=eta_text(eta, lang))
        else:
            text = t("problems.submitted_no_post", lang, id=problem_id)
        if similar:
            lines = "\n".join(
                f"• {post_url(0, s.thread_id)} {s.title[:80]}" for s, _ in similar[:3]
            )
            text += "\n\n" + t("problems.similar_hint", lang, lines=lines)
        await interaction.followup.send(text, ephemeral=True)

    # -- the forum and its posts ---------------------------------------------------------

    async def forum(self, guild: discord.Guild) -> discord.ForumChannel | None:
        """The problem statements forum, made (with the themes as tags) when missing. None
        when Discord refused it or the bot is stopping: the statement is kept (the
        organisers review it) without a post."""
        try:
            return await self._forum(guild)
        except Refused as refused:
            log.error("Discord refused the problem statements forum: %s", refused.why)
            return None

    async def _forum(self, guild: discord.Guild) -> discord.ForumChannel | None:
        settings = self.bot.settings.problems
        async with self._forum_lock:
            forum = discord.utils.get(guild.forums, name=settings.forum)
            reason = t("problems.audit_reason", self.lang)
            if forum is None:
                # Members discuss and support posts; only the bot opens them (/problem submit).
                forum = await threads.make_forum(
                    self.bot,
                    guild,
                    name=settings.forum,
                    topic=t("problems.forum_topic", self.lang),
                    tags=list(settings.themes),
                    reason=reason,
                    key="problems-forum",
                )
                if forum is None:  # the bot is stopping
                    return None
                log.info("created the problem statements forum #%s", forum.name)
            else:
                missing = [
                    th
                    for th in settings.themes
                    if discord.utils.get(forum.available_tags, name=th) is None
                ]
                if missing and len(forum.available_tags) + len(missing) <= threads.MAX_FORUM_TAGS:
                    forum = await self.bot.add_forum_tags(forum, missing, reason=reason)
            return forum

    async def make_room(self, guild: discord.Guild, limit: int | None = None) -> int:
        """Archive statement posts so that one more fits: ours stay within max_active_posts and
        the server keeps THREAD_HEADROOM active threads free (:func:`bot.threads.post_limit`),
        or stays under ``limit`` when another feature asks for room. Returns how many were
        archived."""
        active = {thread.id for thread in guild.threads if not thread.archived}
        async with self.bot.db.read() as session:
            posts = [p for p in await service.active_posts(session) if p[1] in active]
        cap = self.bot.settings.problems.max_active_posts
        if limit is None:
            limit = threads.post_limit(guild)
        over_server = len(active) + 1 - limit
        keep = min(cap - 1, len(posts) - max(0, over_server))
        victims = service.posts_to_archive(posts, max(0, keep))
        archived = [
            thread_id for _, thread_id, _ in victims if guild.get_thread(thread_id) is not None
        ]
        reason = t("problems.audit_reason", self.lang)
        if await threads.archive(self.bot, archived, reason=reason) < len(archived):
            # Which ones Discord refused is told by the gateway: only those archived count.
            archived = [
                thread_id
                for thread_id in archived
                if (thread := guild.get_thread(thread_id)) is None or thread.archived
            ]
        if archived:
            async with self.bot.db.begin() as session:
                await service.mark_posts_archived(session, archived)
            log.info(
                "archived %d statement posts to stay within the active thread budget", len(archived)
            )
        return len(archived)

    def post_write(self, forum: discord.ForumChannel, statement: ProblemStatement) -> outbox.Write:
        """The statement's forum post, as an outbox write (its handler records the post)."""
        tags = [tag for tag in forum.available_tags if tag.name == statement.theme][:1]
        return outbox.forum_post(
            forum.id,
            guild_id=forum.guild.id,
            name=statement.title,
            embeds=[statement_embed(statement, self.lang).to_dict()],
            components=support_view(
                statement.id, statement.support_count, self.lang
            ).to_components(),
            applied_tags=[tag.id for tag in tags],
            reason=t("problems.audit_reason", self.lang),
            priority=Priority.URGENT,  # its author waits for the link
            on_done=service.STATEMENT_POSTED,
            ref={"statement_id": statement.id},
            key=f"statement:{statement.id}",
        )

    async def posted(
        self, problem_id: int, write_id: int | None
    ) -> tuple[int | None, float | None]:
        """Wait up to POST_WAIT_S for the statement's post: (its id, None) once made; (None,
        seconds until it is) while Discord is slow; (None, None) if it was refused (the
        statement stays in the review queue all the same)."""
        if write_id is not None:
            await self.bot.outbox.wait([write_id], within=POST_WAIT_S)
        async with self.bot.db.read() as session:
            thread_id = (await service.get(session, problem_id)).thread_id
        if thread_id is not None or write_id is None or not self.bot.outbox.pending(write_id):
            return thread_id, None
        return None, self.bot.outbox.estimate_of(write_id)

    async def support(self, interaction: discord.Interaction, problem_id: int) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:  # refusals answer at once, not as a follow-up
            statement = await service.get(session, problem_id)
            if statement.author_discord_id == interaction.user.id:
                raise HackbotError("problems.support_own")
        await interaction.response.defer()
        async with self.bot.db.begin() as session:
            supported, count = await service.toggle_support(
                session, problem_id, interaction.user.id
            )
        await interaction.edit_original_response(view=support_view(problem_id, count, self.lang))
        key = "problems.support.on" if supported else "problems.support.off"
        await interaction.followup.send(t(key, lang, count=count), ephemeral=True)

    async def _thread(self, thread_id: int | None) -> discord.Thread | None:
        guild = self.bot.event_guild
        if guild is None or not thread_id:
            return None
        thread = guild.get_thread(thread_id)
        if thread is None:
            try:
                fetched = await guild.fetch_channel(thread_id)
            except discord.HTTPException:
                return None
            thread = fetched if isinstance(fetched, discord.Thread) else None
        return thread

    async def settle_post(self, statement_id: int, note: str | None, close: bool) -> None:
        """After a decision: a note in the post, its card updated, archived and locked if
        closed (one outbox write, carried out in that order)."""
        async with self.bot.db.read() as session:
            statement = await service.get(session, statement_id)
        thread = await self._thread(statement.thread_id)
        if thread is None:
            return
        if not note and not close and thread.archived:
            return  # an archived post is not brought back only to update its card
        view = (
            discord.ui.View()
            if close
            else support_view(statement.id, statement.support_count, self.lang)
        )
        write = outbox.post_settle(
            thread.id,
            embeds=[statement_embed(statement, self.lang).to_dict()],
            components=view.to_components(),
            note=note,
            close=close,
            reason=t("problems.audit_reason", self.lang),
        )
        async with self.bot.db.begin() as session:
            await outbox.enqueue(session, self.bot.clock.now(), write)
            if close:
                await service.mark_posts_archived(session, [thread.id])

    async def tell_author(self, statement: ProblemStatement) -> str:
        """Send the rejection reason by DM; if DMs are closed, reply in the post. Returns "dm",
        "post", "none" (neither could be sent) or "pending" (still on its way: Discord's pace)."""
        lang = statement.lang if statement.lang in ("en", "fr") else self.lang
        text = t("problems.rejected_dm", lang, title=statement.title, reason=statement.reason or "")
        write = outbox.dm_send(
            statement.author_discord_id, content=text, fallback_channel_id=statement.thread_id
        )
        # Waited for (briefly) before the post is locked: the fallback reply goes in it.
        delivery = await self.bot.outbox.deliver(write, within=AUTHOR_WAIT_S)
        if delivery.status == "refused":
            return "none"
        if delivery.status == "pending":
            return "pending"
        return "post" if (delivery.result or {}).get("via") == "channel" else "dm"

    # -- review ---------------------------------------------------------------------------

    async def review_screen(
        self,
        interaction: discord.Interaction,
        lang: str,
        theme: str | None,
        after_id: int = 0,
        notice: str = "",
    ) -> tuple[str, discord.Embed | None, discord.ui.View | None]:
        async with self.bot.db.begin() as session:
            statement = await service.claim_next(
                session, interaction.user.id, self.bot.clock.now(), theme=theme, after_id=after_id
            )
            if statement is None and after_id:
                statement = await service.claim_next(
                    session, interaction.user.id, self.bot.clock.now(), theme=theme
                )
            left = await service.queue_size(session, theme)
            challenges = await challenge_service.all_active(session)
        if statement is None:
            return (notice + "\n" + t("problems.review.done", lang)).strip(), None, None
        duplicates = await self.suggestions(statement)
        embed = statement_embed(statement, lang)
        embed.add_field(
            name=t("problems.field.support", lang), value=str(statement.support_count), inline=True
        )
        embed.add_field(
            name=t("problems.field.post", lang), value=post_url(0, statement.thread_id), inline=True
        )
        if duplicates:
            embed.add_field(
                name=t("problems.review.suggestions", lang),
                value="\n".join(
                    f"{round(score * 100)} % · #{s.id} {post_url(0, s.thread_id)} {s.title[:60]} ({t(f'problems.status.{s.status}', lang)})"
                    for s, score in duplicates
                )[:1024],
                inline=False,
            )
        ranked = self._rank_challenges(statement, challenges)
        header = t("problems.review.header", lang, left=left)
        content = (notice + "\n" + header).strip()
        return content, embed, ReviewView(self, lang, statement.id, theme, duplicates, ranked)

    def _rank_challenges(self, statement: ProblemStatement, challenges: list[Any]) -> list[Any]:
        if len(challenges) <= 1:
            return challenges
        index = SimilarityIndex()
        for c in challenges:
            index.add(c.id, c.name, f"{c.summary}\n{c.description}")
        scores = {
            m.doc_id: m.score
            for m in index.similar_to_text(
                statement.title, statement.description, limit=25, min_score=0.0
            )
        }
        return sorted(challenges, key=lambda c: (-scores.get(c.id, 0.0), c.position))

    async def decide(
        self,
        interaction: discord.Interaction,
        view: ReviewView,
        action: str,
        *,
        target: int | None = None,
        reason: str = "",
    ) -> None:
        lang = view.lang
        now = self.bot.clock.now()
        curator = interaction.user.id
        notice, post_note, close = "", None, False
        original_id: int | None = None
        rejected: ProblemStatement | None = None
        await interaction.response.defer()
        if action == "stop":
            async with self.bot.db.begin() as session:
                await service.release_claims(session, curator)
            await interaction.edit_original_response(
                content=t("problems.review.stopped", lang), embed=None, view=None
            )
            return
        async with self.bot.db.begin() as session:
            statement = await service.get(session, view.statement_id)
            if action != "skip" and statement.status != ProblemStatus.PENDING.value:
                # A screen left open (an earlier /admin problem review, a second click on
                # the same card): the statement was decided since, by this organiser or
                # another. The first decision stands; the organiser sees it and moves on.
                notice = self.already_decided(statement, lang)
                action = "skip"
            if action == "accept":
                await service.accept(session, statement.id, curator, now)
                notice = t("problems.review.accepted", lang, id=statement.id)
            elif action == "reject":
                rejected = await service.reject(session, statement.id, curator, reason, now)
                notice = t("problems.review.rejected", lang, id=statement.id)
                close = True
            elif action == "duplicate" and target is not None:
                dup, original = await service.mark_duplicate(
                    session, statement.id, target, curator, now
                )
                notice = t("problems.review.duplicated", lang, id=dup.id, original=original.id)
                post_note = t(
                    "problems.post.duplicate",
                    self.lang,
                    post=post_url(0, original.thread_id),
                    id=original.id,
                )
                close, original_id = True, original.id
            elif action == "merge" and target is not None:
                merged = await service.merge_into_challenge(
                    session, statement.id, target, curator, now
                )
                challenge = await challenge_service.get(session, target)
                notice = t("problems.review.merged", lang, id=merged.id, name=challenge.name)
                post_note = t(
                    "problems.post.merged",
                    self.lang,
                    name=challenge.name,
                    home=f"<#{challenge.channel_id or challenge.thread_id}>"
                    if (challenge.channel_id or challenge.thread_id)
                    else challenge.name,
                )
                close = True
        content, embed, next_view = await self.review_screen(
            interaction, lang, view.theme, after_id=view.statement_id, notice=notice
        )
        await interaction.edit_original_response(content=content, embed=embed, view=next_view)
        # Discord side effects after the curator has their next statement.
        if action == "reject" and rejected is not None:
            if self._index is not None:
                self._index.remove(rejected.id)
            how = await self.tell_author(rejected)
            if how == "none":
                await interaction.followup.send(
                    t("problems.review.author_unreachable", lang), ephemeral=True
                )
            await self.settle_post(rejected.id, None, close=True)
        elif action in ("accept", "duplicate", "merge"):
            await self.settle_post(view.statement_id, post_note, close)
            if original_id is not None:
                await self.settle_post(original_id, None, close=False)
            if action == "merge" and target is not None:
                main: ChallengesCog | None = self.bot.get_cog("ChallengesCog")  # type: ignore[assignment]
                if main is not None:
                    await main.refresh_description(target)

    def already_decided(self, statement: ProblemStatement, lang: str) -> str:
        """The notice for a decision on a statement decided since the screen was shown: who
        decided it (by display name, never a mention) and how."""
        guild = self.bot.event_guild
        member = (
            guild.get_member(statement.reviewed_by)
            if guild is not None and statement.reviewed_by
            else None
        )
        return t(
            "problems.review.already_decided",
            lang,
            id=statement.id,
            status=t(f"problems.status.{statement.status}", lang),
            reviewer=member.display_name if member else t("problems.review.someone", lang),
        )

    async def promote(self, interaction: discord.Interaction, view: ReviewView) -> None:
        """New challenge from the statement under review: the challenge modal, prefilled."""
        from cogs.challenges import ChallengeModal

        main: ChallengesCog | None = self.bot.get_cog("ChallengesCog")  # type: ignore[assignment]
        if main is None:
            raise HackbotError("challenges.unavailable")
        async with self.bot.db.read() as session:
            statement = await service.get(session, view.statement_id)

        async def done(inner: discord.Interaction, challenge_id: int, text: str) -> None:
            await inner.followup.send(text, ephemeral=True)
            await self.settle_post(view.statement_id, None, close=True)

        modal = ChallengeModal(
            main,
            view.lang,
            problem_ids=[statement.id],
            defaults={
                "name": statement.title[:100],
                "summary": statement.description[:300],
                "description": f"{statement.description}\n\n{statement.affected}"[:4000],
            },
            on_done=done,
        )
        await interaction.response.send_modal(modal)


class ProblemAdmin(commands.Cog):
    """/admin problem review|stats."""

    problem = app_commands.Group(
        name=L("cmd.admin.problem.name"), description=L("cmd.admin.problem.description")
    )

    def __init__(self, bot: HackBot, main: ProblemsCog) -> None:
        self.bot, self.main = bot, main

    async def theme_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        folded = current.casefold()
        return [
            app_commands.Choice(name=theme, value=theme)
            for theme in self.bot.settings.problems.themes
            if folded in theme.casefold()
        ][:25]

    @problem.command(
        name=L("cmd.admin.problem.review.name"),
        description=L("cmd.admin.problem.review.description"),
    )
    @app_commands.rename(theme=L("cmd.admin.problem.review.options.theme.name"))
    @app_commands.describe(theme=L("cmd.admin.problem.review.options.theme.description"))
    @organiser_only()
    async def review(self, interaction: discord.Interaction, theme: str | None = None) -> None:
        lang = lang_of(interaction)
        if theme and theme not in self.bot.settings.problems.themes:
            raise InvalidInput(
                "problems.theme_unknown", themes=", ".join(self.bot.settings.problems.themes)
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        content, embed, view = await self.main.review_screen(interaction, lang, theme)
        kwargs: dict[str, Any] = {"content": content}
        if embed is not None:
            kwargs["embed"] = embed
        if view is not None:
            kwargs["view"] = view
        await interaction.followup.send(ephemeral=True, **kwargs)

    review.autocomplete("theme")(theme_autocomplete)

    @problem.command(
        name=L("cmd.admin.problem.stats.name"), description=L("cmd.admin.problem.stats.description")
    )
    @organiser_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            figures = await service.stats(session)
        embed = discord.Embed(
            title=t("problems.stats.title", lang), colour=discord.Colour.blurple()
        )
        embed.description = t(
            "problems.stats.summary",
            lang,
            total=figures.total,
            pending=figures.count(ProblemStatus.PENDING),
            accepted=figures.count(ProblemStatus.ACCEPTED),
            merged=figures.count(ProblemStatus.MERGED),
            rejected=figures.count(ProblemStatus.REJECTED),
            duplicates=figures.count(ProblemStatus.DUPLICATE),
            supporters=figures.supporters,
            challenges=figures.challenges,
        )
        for theme, counts in sorted(
            figures.by_theme.items(), key=lambda item: -sum(item[1].values())
        )[:24]:
            embed.add_field(
                name=theme or t("problems.stats.no_theme", lang),
                value=t(
                    "problems.stats.theme_line",
                    lang,
                    total=sum(counts.values()),
                    accepted=counts.get("accepted", 0),
                    merged=counts.get("merged", 0),
                    rejected=counts.get("rejected", 0),
                    duplicates=counts.get("duplicate", 0),
                    pending=counts.get("pending", 0),
                ),
                inline=True,
            )
        await send(interaction, embed=embed)


async def setup(bot: HackBot) -> None:
    main = ProblemsCog(bot)
    admin = ProblemAdmin(bot, main)
    await bot.add_cog(admin)
    attach_to_admin(bot, admin, "problem")
    await bot.add_cog(main)
    bot.add_dynamic_items(SupportButton)
    # Team spaces that need a thread can have statement posts archived (still readable).
    threads.register_room_maker(bot, "problem statements", main.make_room)
