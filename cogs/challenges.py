"""Challenges on Discord: /challenge list|info, /admin challenge add|edit|remove, each
challenge's home (a channel in "Challenges", "Challenges 2"... or a forum post when the
server runs short of channels) with its description and its teams pinned, and a Follow
button that hands out the challenge's role."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.app import Refused
from bot.db import Busy
from bot.errors import HackbotError, NotFound
from bot.i18n import t
from bot.interactions import (
    GuardedView,
    OrganiserView,
    lang_of,
    organiser_only,
    report_error,
    reports_errors,
    send,
)
from bot.localization import L
from bot.models import Challenge
from bot.models.outbox import Priority
from bot.outbox import overwrites_body
from bot.services import challenges as service
from bot.services import outbox
from bot.services import problems as problem_service

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

#: The column of a challenge that holds each of its home's messages.
HOME_MESSAGES = {"description": "pinned_message_id", "teams": "teams_message_id"}

#: Many team changes within this many seconds become one edit of a challenge's listing.
LISTING_DEBOUNCE_S = 1.0
LISTING_MAX_CHARS = 3800


def home_mention(challenge: Challenge) -> str:
    target = challenge.channel_id or challenge.thread_id
    return f"<#{target}>" if target else "—"


def description_embed(challenge: Challenge, lang: str, linked: int = 0) -> discord.Embed:
    embed = discord.Embed(
        title=challenge.name,
        description=(
            challenge.summary + ("\n\n" + challenge.description if challenge.description else "")
        )[:4096],
        colour=discord.Colour.gold(),
    )
    if challenge.sponsor:
        embed.add_field(name=t("challenges.field.sponsor", lang), value=challenge.sponsor[:1024])
    if challenge.mentor_skills:
        embed.add_field(
            name=t("challenges.field.skills", lang),
            value=", ".join(challenge.mentor_skills)[:1024],
        )
    if linked:
        embed.add_field(name=t("challenges.field.statements", lang), value=str(linked), inline=True)
    embed.set_footer(text=t("challenges.footer", lang, slug=challenge.slug))
    return embed


def teams_embed(challenge: Challenge, teams: list[service.TeamLine], lang: str) -> discord.Embed:
    embed = discord.Embed(
        title=t("challenges.teams.title", lang, name=challenge.name),
        colour=discord.Colour.green(),
    )
    if not teams:
        embed.description = t("challenges.teams.none", lang)
        return embed
    lines: list[str] = []
    used = 0
    for index, team in enumerate(teams):
        wanted = (
            t("challenges.teams.looking_for", lang, profiles=", ".join(team.looking_for))
            if team.looking_for
            else t("challenges.teams.complete", lang)
        )
        line = t("challenges.teams.line", lang, name=team.name, members=team.members, wanted=wanted)
        if used + len(line) + 1 > LISTING_MAX_CHARS:
            lines.append(t("challenges.teams.more", lang, count=len(teams) - index))
            break
        lines.append(line)
        used += len(line) + 1
    embed.description = "\n".join(lines)
    embed.set_footer(text=t("challenges.teams.footer", lang, count=len(teams)))
    return embed


class FollowButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"challenge:follow:(?P<id>\d+)"
):
    def __init__(self, challenge_id: int, lang: str = "en") -> None:
        super().__init__(
            discord.ui.Button(
                label=t("challenges.follow.button", lang),
                emoji="🔔",
                style=discord.ButtonStyle.primary,
                custom_id=f"challenge:follow:{challenge_id}",
            )
        )
        self.challenge_id = challenge_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(int(match["id"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        cog: ChallengesCog = interaction.client.get_cog("ChallengesCog")  # type: ignore[assignment]
        await cog.toggle_follow(interaction, self.challenge_id)


def follow_view(challenge_id: int, lang: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FollowButton(challenge_id, lang))
    return view


class ListView(GuardedView):
    """/challenge list: Previous / Next."""

    def __init__(self, cog: ChallengesCog, page: int, pages: int, lang: str) -> None:
        super().__init__(timeout=600)
        self.cog, self.page, self.lang = cog, page, lang
        self.previous.label = t("challenges.list.previous", lang)
        self.next.label = t("challenges.list.next", lang)
        self.previous.disabled = page <= 0
        self.next.disabled = page >= pages - 1

    @discord.ui.button(label="<", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        embed, view = await self.cog.list_page(self.page - 1, self.lang)
        await interaction.response.edit_message(embed=embed, view=view)

    @discord.ui.button(label=">", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        embed, view = await self.cog.list_page(self.page + 1, self.lang)
        await interaction.response.edit_message(embed=embed, view=view)


class ChallengeModal(discord.ui.Modal):
    """Name, summary, long description, sponsor, mentor skills (add and edit)."""

    def __init__(
        self,
        cog: ChallengesCog,
        lang: str,
        *,
        challenge_id: int | None = None,
        problem_ids: list[int] | None = None,
        defaults: dict[str, str] | None = None,
        on_done: Any = None,
    ) -> None:
        key = "challenges.modal.edit_title" if challenge_id else "challenges.modal.add_title"
        super().__init__(title=t(key, lang)[:45], timeout=900)
        self.cog, self.lang = cog, lang
        self.challenge_id, self.problem_ids, self.on_done = challenge_id, problem_ids or [], on_done
        d = defaults or {}
        self.name = discord.ui.TextInput(
            label=t("challenges.modal.name", lang)[:45],
            max_length=service.NAME_MAX,
            default=d.get("name"),
        )
        self.summary = discord.ui.TextInput(
            label=t("challenges.modal.summary", lang)[:45],
            style=discord.TextStyle.paragraph,
            max_length=service.SUMMARY_MAX,
            default=d.get("summary"),
        )
        self.description = discord.ui.TextInput(
            label=t("challenges.modal.description", lang)[:45],
            style=discord.TextStyle.paragraph,
            max_length=service.DESCRIPTION_MAX,
            required=False,
            default=d.get("description"),
        )
        self.sponsor = discord.ui.TextInput(
            label=t("challenges.modal.sponsor", lang)[:45],
            max_length=service.SPONSOR_MAX,
            required=False,
            default=d.get("sponsor"),
        )
        self.skills = discord.ui.TextInput(
            label=t("challenges.modal.skills", lang)[:45],
            max_length=400,
            required=False,
            default=d.get("skills"),
            placeholder=t("challenges.modal.skills_hint", lang)[:100],
        )
        for item in (self.name, self.summary, self.description, self.sponsor, self.skills):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.cog.save_from_modal(interaction, self)

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:
        await report_error(interaction, error)


class ConfirmRemove(OrganiserView):
    def __init__(self, cog: ChallengesCog, challenge_id: int, lang: str) -> None:
        super().__init__(timeout=300)
        self.cog, self.challenge_id = cog, challenge_id
        self.confirm.label = t("challenges.remove.confirm", lang)

    @discord.ui.button(label="Remove", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.cog.remove_confirmed(interaction, self.challenge_id)


class ChallengesCog(commands.Cog):
    challenge = app_commands.Group(
        name=L("cmd.challenge.name"),
        description=L("cmd.challenge.description"),
        guild_only=True,
        extras={"audience": "everyone"},
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot
        self._home_lock = asyncio.Lock()
        self._pending: set[int] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._listing_lock = asyncio.Lock()

    @property
    def lang(self) -> str:
        return self.bot.settings.event.language

    # -- autocomplete --------------------------------------------------------------

    async def challenge_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        async with self.bot.db.read() as session:
            found = await service.search(session, current, limit=25)
        return [app_commands.Choice(name=c.name[:100], value=str(c.id)) for c in found]

    # -- /challenge list, info -------------------------------------------------------

    async def list_page(
        self, number: int, lang: str
    ) -> tuple[discord.Embed, discord.ui.View | None]:
        async with self.bot.db.read() as session:
            items, number, pages = await service.page(session, number)
            counts = await service.team_counts(session, [c.id for c in items])
        embed = discord.Embed(title=t("challenges.list.title", lang), colour=discord.Colour.gold())
        if not items:
            embed.description = t("challenges.list.empty", lang)
            return embed, None
        for c in items:
            value = t(
                "challenges.list.entry",
                lang,
                summary=c.summary[:300],
                home=home_mention(c),
                teams=counts[c.id],
            )
            embed.add_field(name=c.name, value=value[:1024], inline=False)
        embed.set_footer(text=t("challenges.list.footer", lang, page=number + 1, pages=pages))
        view = ListView(self, number, pages, lang) if pages > 1 else None
        return embed, view

    @challenge.command(
        name=L("cmd.challenge.list.name"), description=L("cmd.challenge.list.description")
    )
    async def list_(self, interaction: discord.Interaction) -> None:
        embed, view = await self.list_page(0, lang_of(interaction))
        kwargs: dict[str, Any] = {"embed": embed}
        if view is not None:
            kwargs["view"] = view
        await send(interaction, **kwargs)

    @challenge.command(
        name=L("cmd.challenge.info.name"), description=L("cmd.challenge.info.description")
    )
    @app_commands.rename(challenge=L("cmd.challenge.info.options.challenge.name"))
    @app_commands.describe(challenge=L("cmd.challenge.info.options.challenge.description"))
    async def info(self, interaction: discord.Interaction, challenge: str) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            found = await service.find(session, challenge)
            linked = await problem_service.linked_to(session, found.id)
            teams = await service.teams_for(session, found.id)
        embed = description_embed(found, lang, len(linked))
        embed.add_field(
            name=t("challenges.field.home", lang), value=home_mention(found), inline=True
        )
        if linked:
            lines = [f"• {s.title[:80]} (👍 {s.support_count})" for s in linked[:5]]
            embed.add_field(
                name=t("challenges.field.top_statements", lang),
                value="\n".join(lines)[:1024],
                inline=False,
            )
        team_lines = teams_embed(found, teams, lang).description or ""
        embed.add_field(
            name=t("challenges.field.teams", lang, count=len(teams)),
            value=team_lines[:1024],
            inline=False,
        )
        await send(interaction, embed=embed, view=follow_view(found.id, lang))

    info.autocomplete("challenge")(challenge_autocomplete)

    # -- follow ------------------------------------------------------------------------

    async def toggle_follow(self, interaction: discord.Interaction, challenge_id: int) -> None:
        """Follow or unfollow: stored with the role (or thread membership) it calls for, in
        one transaction; the answer does not wait for Discord, the outbox gives the role."""
        lang = lang_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = interaction.user
        guild = interaction.guild
        async with self.bot.db.begin() as session:
            following = await service.toggle_follow(session, challenge_id, interaction.user.id)
            challenge = await service.get(session, challenge_id)
            name = challenge.name
            write = self._follow_write(
                guild, member, challenge.role_id, challenge.thread_id, following
            )
            if write is not None:
                await outbox.enqueue(session, self.bot.clock.now(), write)
        key = "challenges.follow.on" if following else "challenges.follow.off"
        await send(interaction, t(key, lang, name=name))

    def _follow_write(
        self,
        guild: discord.Guild | None,
        member: discord.User | discord.Member,
        role_id: int | None,
        thread_id: int | None,
        following: bool,
    ) -> outbox.Write | None:
        if not isinstance(member, discord.Member) or guild is None:
            return None
        if role_id and guild.get_role(role_id) is not None:
            make = outbox.role_add if following else outbox.role_remove
            return make(
                guild.id, member.id, role_id, reason=t("challenges.audit_reason", self.lang)
            )
        if thread_id:
            make_thread = outbox.thread_add if following else outbox.thread_remove
            return make_thread(thread_id, member.id)
        return None

    # -- homes ---------------------------------------------------------------------------

    def _category_base(self) -> str:
        return self.bot.settings.challenges.category

    def _challenge_categories(self, channels: list[Any]) -> dict[str, Any]:
        base = self._category_base()
        pattern = re.compile(rf"^{re.escape(base)}( \d+)?$")
        return {
            c.name: c
            for c in channels
            if isinstance(c, discord.CategoryChannel) and pattern.match(c.name)
        }

    async def ensure_home(self, challenge_id: int) -> str:
        """Create what is missing of the challenge's home: its role, its channel (or forum
        post), its pinned description and teams message. Each part goes through the outbox,
        one after the other (the next needs the one before), and is recorded as Discord makes
        it: a home cut by a crash or a refusal is finished by the next call (repair), nothing
        made twice. Returns "channel", "post", "existing", "none" (no room at all) or
        "refused" (Discord refused a part: /admin repair finishes it)."""
        guild = self.bot.event_guild
        if guild is None:
            return "none"
        async with self._home_lock:
            async with self.bot.db.read() as session:
                challenge = await service.get(session, challenge_id)
            if challenge.pinned_message_id and challenge.teams_message_id:
                await self.refresh_description(challenge_id)
                return "existing"
            try:
                kind = await self._make_home(guild, challenge)
            except Refused as refused:
                log.error("challenge %s: Discord refused its home: %s", challenge.slug, refused.why)
                return "refused"
        if kind != "none":
            await self.refresh_listing(challenge_id)
        return kind

    async def _make_home(self, guild: discord.Guild, challenge: Challenge) -> str:
        settings = self.bot.settings.challenges
        reason = t("challenges.audit_reason", self.lang)
        ref = functools.partial(service.home_ref, challenge.id)
        # A home made again (drift repair) keeps the challenge's role when it still exists.
        if not guild.get_role(challenge.role_id or 0) and settings.roles:
            if service.role_fits(len(guild.roles), settings.role_reserve):
                role = outbox.role_create(
                    guild.id,
                    name=challenge.name,
                    reason=reason,
                    priority=Priority.URGENT,
                    on_done=service.HOME_MADE,
                    ref=ref("role"),
                    key=f"challenge-role:{challenge.id}",
                )
                try:
                    await self.bot.make(role)
                except Refused as refused:  # Follow then adds to the home itself
                    log.warning("challenge %s gets no role: %s", challenge.slug, refused.why)
            else:
                log.warning(
                    "role budget tight: challenge %s gets no role (Follow adds to its home)",
                    challenge.slug,
                )
        home = challenge.channel_id or challenge.thread_id
        kind = "channel" if challenge.channel_id else "post"
        if not home:
            kind = await self._make_place(guild, challenge, reason)
            if kind == "none":
                return kind
        async with self.bot.db.read() as session:
            challenge = await service.get(session, challenge.id)
            linked = len(await problem_service.linked_to(session, challenge.id))
        home = challenge.channel_id or challenge.thread_id
        if home is None:  # the bot is stopping
            return "none"
        for part, embed, view in (
            ("description", description_embed(challenge, self.lang, linked), True),
            ("teams", teams_embed(challenge, [], self.lang), False),
        ):
            message_id = getattr(challenge, HOME_MESSAGES[part])
            if message_id is None:
                made = await self.bot.make(
                    outbox.message_send(
                        home,
                        embeds=[embed.to_dict()],
                        components=(
                            follow_view(challenge.id, self.lang).to_components() if view else ()
                        ),
                        priority=Priority.URGENT,
                        on_done=service.HOME_MADE,
                        ref=ref(part),
                        key=f"challenge-{part}:{challenge.id}",
                    )
                )
                if made is None:
                    return "none"
                message_id = int(made["message_id"])
            write = outbox.message_pin(home, message_id, reason=reason, priority=Priority.URGENT)
            async with self.bot.db.begin() as session:
                await outbox.enqueue(session, self.bot.clock.now(), write)
        return kind

    async def _make_place(self, guild: discord.Guild, challenge: Challenge, reason: str) -> str:
        """The challenge's channel, in a challenges category with room, or its post in the
        challenges forum when the server runs short of channels ("none": no room at all)."""
        settings = self.bot.settings.challenges
        channels = await guild.fetch_channels()
        categories = self._challenge_categories(channels)
        forum = discord.utils.get(
            [c for c in channels if isinstance(c, discord.ForumChannel)], name=settings.forum
        )
        plan = service.plan_home(
            channel_count=len(channels),
            categories={
                name: len([c for c in channels if getattr(c, "category_id", None) == cat.id])
                for name, cat in categories.items()
            },
            base_category=self._category_base(),
            forum_exists=forum is not None,
            reserve=settings.channel_reserve,
        )
        if plan.kind == "none":
            log.error(
                "no room for challenge %s: the server has 500 channels and no forum",
                challenge.slug,
            )
            return "none"
        made: dict[str, Any] | None
        if plan.kind == "channel":
            category = categories.get(plan.category or "")
            if category is None:
                name = plan.category or self._category_base()
                category = await self.bot.make_channel(
                    outbox.channel_create(
                        guild.id,
                        name=name,
                        type=discord.ChannelType.category.value,
                        overwrites=overwrites_body(self._public_overwrites(guild, posts=True)),
                        reason=reason,
                        priority=Priority.URGENT,
                        key=f"challenge-category:{name}",
                    )
                )
                if category is None:
                    return "none"
            made = await self.bot.make(
                outbox.channel_create(
                    guild.id,
                    name=challenge.slug,
                    type=discord.ChannelType.text.value,
                    parent_id=category.id,
                    topic=challenge.summary[:1024],
                    reason=reason,
                    priority=Priority.URGENT,
                    on_done=service.HOME_MADE,
                    ref=service.home_ref(challenge.id, "channel"),
                    key=f"challenge-home:{challenge.id}",
                )
            )
            return "none" if made is None else "channel"
        log.info(
            "channel budget tight (%d channels, reserve %d): challenge %s becomes a post in #%s",
            len(channels),
            settings.channel_reserve,
            challenge.slug,
            settings.forum,
        )
        if forum is None:
            forum = await self.bot.make_channel(
                outbox.channel_create(
                    guild.id,
                    name=settings.forum,
                    type=discord.ChannelType.forum.value,
                    topic=t("challenges.forum_topic", self.lang),
                    overwrites=overwrites_body(self._public_overwrites(guild, posts=False)),
                    reason=reason,
                    priority=Priority.URGENT,
                    key="challenge-forum",
                )
            )
            if forum is None:
                return "none"
        async with self.bot.db.read() as session:
            linked = len(await problem_service.linked_to(session, challenge.id))
        made = await self.bot.make(
            outbox.forum_post(
                forum.id,
                guild_id=guild.id,
                name=challenge.name,
                embeds=[description_embed(challenge, self.lang, linked).to_dict()],
                components=follow_view(challenge.id, self.lang).to_components(),
                auto_archive=10080,
                reason=reason,
                priority=Priority.URGENT,
                on_done=service.HOME_MADE,
                ref=service.home_ref(challenge.id, "post"),
                key=f"challenge-home:{challenge.id}",
            )
        )
        return "none" if made is None else "post"

    def _public_overwrites(self, guild: discord.Guild, *, posts: bool) -> dict:
        me = guild.me
        return {
            guild.default_role: discord.PermissionOverwrite(
                view_channel=True, send_messages=posts, send_messages_in_threads=True
            ),
            me: discord.PermissionOverwrite(
                view_channel=True,
                send_messages=True,
                send_messages_in_threads=True,
                create_public_threads=True,
                manage_threads=True,
                embed_links=True,
                read_message_history=True,
                pin_messages=True,
            ),
        }

    async def refresh_description(self, challenge_id: int) -> None:
        """Show the challenge as it is now in its pinned description (through the outbox: a
        newer edit, while this one waits, takes its place). A forum post follows a new name
        (Discord allows about 2 renames per 10 minutes: an organiser's edit, rare)."""
        async with self.bot.db.begin() as session:
            challenge = await service.get(session, challenge_id)
            linked = len(await problem_service.linked_to(session, challenge_id))
            home = challenge.channel_id or challenge.thread_id
            if not home or not challenge.pinned_message_id:
                return
            write = outbox.message_edit(
                home,
                challenge.pinned_message_id,
                embeds=[description_embed(challenge, self.lang, linked).to_dict()],
                components=follow_view(challenge.id, self.lang).to_components(),
            )
            await outbox.enqueue(session, self.bot.clock.now(), write)
        if challenge.thread_id is None:
            return
        guild = self.bot.event_guild
        post = guild.get_thread(challenge.thread_id) if guild is not None else None
        if post is None or post.name != challenge.name[:100]:
            rename = outbox.channel_edit(
                challenge.thread_id,
                name=challenge.name,
                reason=t("challenges.audit_reason", self.lang),
            )
            async with self.bot.db.begin() as session:
                await outbox.enqueue(session, self.bot.clock.now(), rename)

    async def refresh_listing(self, challenge_id: int) -> bool:
        """Show the challenge's teams in its teams message if what it shows changed (through
        the outbox, bulk: a burst of team changes is one edit, as last written). Returns
        whether an edit was stored."""
        async with self._listing_lock, self.bot.db.begin() as session:
            try:
                challenge = await service.get(session, challenge_id)
            except NotFound:
                return False
            teams = await service.teams_for(session, challenge_id)
            digest = service.listing_digest(teams)
            home = challenge.channel_id or challenge.thread_id
            if not home or not challenge.teams_message_id:
                return False
            if (challenge.listing or {}).get("digest") == digest:
                return False
            write = outbox.message_edit(
                home,
                challenge.teams_message_id,
                embeds=[teams_embed(challenge, teams, self.lang).to_dict()],
                priority=Priority.BULK,
            )
            await outbox.enqueue(session, self.bot.clock.now(), write)
            await service.set_home(
                session,
                challenge_id,
                listing={"digest": digest, "team_ids": [team.id for team in teams]},
            )
            return True

    @commands.Cog.listener("on_hackbot_team_changed")
    async def on_team_changed(self, team_id: int) -> None:
        try:
            async with self.bot.db.read() as session:
                ids = await service.challenges_to_refresh(session, team_id)
        except Busy:
            # A burst: the listing catches up at the next change of any team of the challenge.
            log.warning("teams listing after a change of team %s left for later: busy", team_id)
            return
        self._pending.update(ids)
        if ids and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.create_task(
                self._flush_listings(), name="challenge-listings"
            )

    async def _flush_listings(self) -> None:
        await asyncio.sleep(LISTING_DEBOUNCE_S)
        while self._pending:
            challenge_id = self._pending.pop()
            try:
                await self.refresh_listing(challenge_id)
            except Exception:
                log.exception("refreshing the teams of challenge %s failed", challenge_id)

    # -- admin actions (called by ChallengeAdmin and the problem review) ------------------

    async def save_from_modal(
        self, interaction: discord.Interaction, modal: ChallengeModal
    ) -> None:
        lang = modal.lang
        await interaction.response.defer(ephemeral=True, thinking=True)
        skills = service.parse_skills(modal.skills.value)
        now = self.bot.clock.now()
        async with self.bot.db.begin() as session:
            if modal.challenge_id is None:
                challenge = await service.create(
                    session,
                    name=modal.name.value,
                    summary=modal.summary.value,
                    description=modal.description.value,
                    sponsor=modal.sponsor.value,
                    mentor_skills=skills,
                    problem_ids=modal.problem_ids,
                    actor_id=interaction.user.id,
                    now=now,
                )
            else:
                challenge = await service.update(
                    session,
                    modal.challenge_id,
                    name=modal.name.value,
                    summary=modal.summary.value,
                    description=modal.description.value,
                    sponsor=modal.sponsor.value,
                    mentor_skills=skills,
                    actor_id=interaction.user.id,
                    now=now,
                )
            challenge_id, name = challenge.id, challenge.name
        # An edit also makes the home a challenge lacks (no room, or refused, before).
        kind = await self.ensure_home(challenge_id)
        if modal.challenge_id is not None and kind in ("channel", "post"):
            kind = "existing"
        async with self.bot.db.read() as session:
            challenge = await service.get(session, challenge_id)
        key = {
            "channel": "challenges.added.channel",
            "post": "challenges.added.post",
            "none": "challenges.added.no_room",
            "refused": "challenges.added.refused",
        }.get(kind, "challenges.edited")
        text = t(key, lang, name=name, home=home_mention(challenge))
        if modal.on_done is not None:
            await modal.on_done(interaction, challenge_id, text)
        else:
            await interaction.followup.send(text, ephemeral=True)

    async def remove_confirmed(self, interaction: discord.Interaction, challenge_id: int) -> None:
        lang = lang_of(interaction)
        await interaction.response.defer()
        async with self.bot.db.begin() as session:
            challenge = await service.remove(
                session, challenge_id, interaction.user.id, self.bot.clock.now()
            )
            name, role_id = challenge.name, challenge.role_id
            home = challenge.channel_id or challenge.thread_id
        await interaction.edit_original_response(
            content=t("challenges.removed", lang, name=name), view=None
        )
        guild = self.bot.event_guild
        if guild is None:
            return
        reason = t("challenges.audit_reason", self.lang)
        # The home's last word, then closed to new messages: through the outbox (a post
        # is archived and locked after it, in that order; a channel becomes read-only).
        channel = guild.get_channel_or_thread(home) if home else None
        notice = t("challenges.closed_notice", self.lang)
        writes: list[outbox.Write] = []
        if isinstance(channel, discord.Thread):
            writes.append(outbox.thread_close(channel.id, content=notice, reason=reason))
        elif isinstance(channel, discord.TextChannel):
            writes.append(outbox.message_send(channel.id, content=notice))
            writes.append(
                outbox.overwrite_set(
                    channel.id,
                    guild.default_role.id,
                    allow=discord.Permissions(view_channel=True).value,
                    deny=discord.Permissions(send_messages=True).value,
                    member=False,
                    reason=reason,
                )
            )
        if role_id and guild.get_role(role_id) is not None:
            writes.append(outbox.role_delete(guild.id, role_id, reason=reason))
        if writes:
            async with self.bot.db.begin() as session:
                await outbox.enqueue_many(session, self.bot.clock.now(), writes)


class ChallengeAdmin(commands.Cog):
    """/admin challenge add|edit|remove."""

    challenge = app_commands.Group(
        name=L("cmd.admin.challenge.name"), description=L("cmd.admin.challenge.description")
    )

    def __init__(self, bot: HackBot, main: ChallengesCog) -> None:
        self.bot, self.main = bot, main

    @challenge.command(
        name=L("cmd.admin.challenge.add.name"), description=L("cmd.admin.challenge.add.description")
    )
    @app_commands.rename(
        name=L("cmd.admin.challenge.add.options.name.name"),
        summary=L("cmd.admin.challenge.add.options.summary.name"),
        sponsor=L("cmd.admin.challenge.add.options.sponsor.name"),
        mentor_skills=L("cmd.admin.challenge.add.options.mentor_skills.name"),
        problems=L("cmd.admin.challenge.add.options.problems.name"),
    )
    @app_commands.describe(
        name=L("cmd.admin.challenge.add.options.name.description"),
        summary=L("cmd.admin.challenge.add.options.summary.description"),
        sponsor=L("cmd.admin.challenge.add.options.sponsor.description"),
        mentor_skills=L("cmd.admin.challenge.add.options.mentor_skills.description"),
        problems=L("cmd.admin.challenge.add.options.problems.description"),
    )
    @organiser_only()
    async def add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        summary: app_commands.Range[str, 1, 300],
        sponsor: app_commands.Range[str, 1, 100] | None = None,
        mentor_skills: app_commands.Range[str, 1, 400] | None = None,
        problems: app_commands.Range[str, 1, 400] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        problem_ids = service.parse_problem_ids(problems)
        service.parse_skills(mentor_skills)
        async with self.bot.db.read() as session:
            await service.check_name_free(session, name)
            for pid in problem_ids:
                await problem_service.get(session, pid)
        modal = ChallengeModal(
            self.main,
            lang,
            problem_ids=problem_ids,
            defaults={
                "name": name,
                "summary": summary,
                "sponsor": sponsor or "",
                "skills": mentor_skills or "",
            },
        )
        await interaction.response.send_modal(modal)

    @challenge.command(
        name=L("cmd.admin.challenge.edit.name"),
        description=L("cmd.admin.challenge.edit.description"),
    )
    @app_commands.rename(challenge=L("cmd.admin.challenge.edit.options.challenge.name"))
    @app_commands.describe(challenge=L("cmd.admin.challenge.edit.options.challenge.description"))
    @organiser_only()
    async def edit(self, interaction: discord.Interaction, challenge: str) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            found = await service.find(session, challenge)
        modal = ChallengeModal(
            self.main,
            lang,
            challenge_id=found.id,
            defaults={
                "name": found.name,
                "summary": found.summary,
                "description": found.description,
                "sponsor": found.sponsor or "",
                "skills": ", ".join(found.mentor_skills or []),
            },
        )
        await interaction.response.send_modal(modal)

    @challenge.command(
        name=L("cmd.admin.challenge.remove.name"),
        description=L("cmd.admin.challenge.remove.description"),
    )
    @app_commands.rename(challenge=L("cmd.admin.challenge.remove.options.challenge.name"))
    @app_commands.describe(challenge=L("cmd.admin.challenge.remove.options.challenge.description"))
    @organiser_only()
    async def remove(self, interaction: discord.Interaction, challenge: str) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            found = await service.find(session, challenge)
            teams = await service.teams_for(session, found.id)
        if teams:
            raise HackbotError("challenges.has_teams", name=found.name, count=len(teams))
        await send(
            interaction,
            t("challenges.remove.ask", lang, name=found.name),
            view=ConfirmRemove(self.main, found.id, lang),
        )

    edit.autocomplete("challenge")(ChallengesCog.challenge_autocomplete)
    remove.autocomplete("challenge")(ChallengesCog.challenge_autocomplete)


async def setup(bot: HackBot) -> None:
    main = ChallengesCog(bot)
    admin = ChallengeAdmin(bot, main)
    await bot.add_cog(admin)
    attach_to_admin(bot, admin, "challenge")
    await bot.add_cog(main)
    bot.add_dynamic_items(FollowButton)
