"""/judge next (rubric cards with a menu per criterion, or pairwise comparisons), and the
organisers' /admin judging status|shortlist|finalists|winners|ceremony.

Every button and menu of a judge's card is a DynamicItem whose custom id names the
review (or the project in front of the judge): a card keeps working after a restart,
and each choice is stored at once, so nothing a judge entered is lost.

The ceremony reveals the winners one by one: each reveal is a stored timer
(``judging.ceremony``) that takes its step in the database and posts through the
broadcast engine with a dedupe key, then stores the next timer; with an interval of 0
an organiser reveals each winner with a button. Restarting in the middle neither
repeats nor skips a winner.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import attach_to_admin
from bot.errors import HackbotError, NotAllowed
from bot.i18n import catalogue, t
from bot.interactions import (
    OrganiserView,
    is_organiser,
    lang_of,
    organiser_only,
    reports_errors,
    send,
)
from bot.localization import L
from bot.models import Timer
from bot.services import broadcasts as broadcast_service
from bot.services import judging as service
from bot.services import results
from bot.services import submissions as submission_service
from cogs.about import fit
from cogs.broadcasts import runner_of
from cogs.submissions import content_embed

if TYPE_CHECKING:
    from bot.app import HackBot

log = logging.getLogger(__name__)

CEREMONY_TIMER = "judging.ceremony"
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}


def criterion_name(criterion: Any, lang: str) -> str:
    if criterion.name:
        return criterion.name
    key = f"judging.criterion.{criterion.key}"
    return t(key, lang) if catalogue().has(key) else criterion.key


def is_judge(bot: HackBot, interaction: discord.Interaction) -> bool:
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    return any(role.name == bot.settings.roles.judge for role in member.roles)


def cog_of(interaction: discord.Interaction) -> Judging:
    cog = interaction.client.get_cog("Judging")  # type: ignore[attr-defined]
    assert isinstance(cog, Judging)
    return cog


# --------------------------------------------------------------------------
# Restart-proof card items


class ScoreSelect(
    discord.ui.DynamicItem[discord.ui.Select],
    template=r"judge:score:(?P<review>\d+):(?P<index>\d+)",
):
    def __init__(self, review_id: int, index: int, select: discord.ui.Select | None = None) -> None:
        super().__init__(
            select
            or discord.ui.Select(
                custom_id=f"judge:score:{review_id}:{index}",
                options=[discord.SelectOption(label="1", value="1")],
            )
        )
        self.review_id, self.index = review_id, index

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(int(match["review"]), int(match["index"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        values = (interaction.data or {}).get("values") or []  # type: ignore[union-attr]
        await cog_of(interaction).score(interaction, self.review_id, self.index, int(values[0]))


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"judge:(?P<action>done|skip|broken|absent):(?P<review>\d+)",
):
    def __init__(
        self, action: str, review_id: int, button: discord.ui.Button | None = None
    ) -> None:
        super().__init__(
            button or discord.ui.Button(label=action, custom_id=f"judge:{action}:{review_id}")
        )
        self.action, self.review_id = action, review_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(match["action"], int(match["review"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await cog_of(interaction).review_action(interaction, self.action, self.review_id)


class PairButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"pair:(?P<action>current|previous|next|skip|broken|absent):(?P<current>\d+)",
):
    def __init__(self, action: str, current: int, button: discord.ui.Button | None = None) -> None:
        super().__init__(
            button or discord.ui.Button(label=action, custom_id=f"pair:{action}:{current}")
        )
        self.action, self.current = action, current

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(match["action"], int(match["current"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        await cog_of(interaction).pair_action(interaction, self.action, self.current)


class RevealButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"ceremony:next:(?P<ceremony>\d+)"
):
    def __init__(self, ceremony_id: int, label: str = "Next") -> None:
        super().__init__(
            discord.ui.Button(
                label=label,
                style=discord.ButtonStyle.success,
                custom_id=f"ceremony:next:{ceremony_id}",
            )
        )
        self.ceremony_id = ceremony_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str], /):  # type: ignore[override]
        return cls(int(match["ceremony"]))

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        if not is_organiser(interaction):
            raise NotAllowed("error.organiser_only")
        await cog_of(interaction).reveal_by_hand(interaction, self.ceremony_id)


def _button(label: str, style: discord.ButtonStyle, custom_id: str) -> discord.ui.Button:
    return discord.ui.Button(label=label, style=style, custom_id=custom_id)


class ConfirmView(OrganiserView):
    def __init__(self, lang: str, on_confirm: Any) -> None:
        super().__init__(timeout=600)
        self.on_confirm = on_confirm
        self.confirm.label = t("judging.button.confirm", lang)
        self.cancel.label = t("judging.button.cancel", lang)
        self.lang = lang

    @discord.ui.button(style=discord.ButtonStyle.success)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await self.on_confirm(interaction)

    @discord.ui.button(style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=t("judging.nothing_done", self.lang), embed=None, view=None
        )


# --------------------------------------------------------------------------
# The cog


class Judging(commands.Cog):
    judge = app_commands.Group(
        name=L("cmd.judge.name"),
        description=L("cmd.judge.description"),
        guild_only=True,
        extras={"audience": "judge"},
    )

    def __init__(self, bot: HackBot) -> None:
        self.bot = bot

    # -- /judge next ----------------------------------------------------------------------

    @judge.command(name=L("cmd.judge.next.name"), description=L("cmd.judge.next.description"))
    async def next(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        service.require_judge(is_judge(self.bot, interaction))
        async with self.bot.db.read() as session:
            from bot.services import timeline

            await timeline.require_open(session, "judging", self.bot.clock.now())
        text, embeds, view = await self.card(interaction.user.id, lang)
        await send(interaction, text, embeds=embeds, view=view)

    async def card(
        self, judge_id: int, lang: str, note: str | None = None
    ) -> tuple[str, list[discord.Embed], discord.ui.View | None]:
        if self.bot.settings.judging.mode == "pairwise":
            async with self.bot.db.begin() as session:
                turn = await service.pairwise_turn(session, self.bot.clock.now(), judge_id)
            return await self.pair_card(turn, lang, note)
        async with self.bot.db.begin() as session:
            review = await service.next_review(
                session, self.bot.settings, self.bot.clock.now(), judge_id
            )
            review_id = review.id if review else None
        if review_id is None:
            return self._with_note(t("judging.all_done", lang), note), [], None
        return await self.review_card(review_id, lang, note)

    @staticmethod
    def _with_note(text: str, note: str | None) -> str:
        return f"{note}\n{text}" if note else text

    async def _project_embed(
        self, submission_id: int, lang: str, colour: discord.Colour
    ) -> discord.Embed:
        async with self.bot.db.read() as session:
            info = await submission_service.card(session, submission_id)
        return content_embed(
            info.content,
            lang,
            self.bot.settings,
            team=info.team_name,
            challenge=info.challenge_name,
            colour=colour,
        )

    async def review_card(
        self, review_id: int, lang: str, note: str | None = None
    ) -> tuple[str, list[discord.Embed], discord.ui.View]:
        from bot.models.judging import Review

        async with self.bot.db.read() as session:
            review = await session.get(Review, review_id)
            assert review is not None
            scores = dict(review.scores or {})
            submission_id, round_no = review.submission_id, review.round
        embed = await self._project_embed(submission_id, lang, discord.Colour.blurple())
        crit = service.criteria(self.bot.settings)
        top = self.bot.settings.judging.scale_max
        view = discord.ui.View(timeout=None)
        for index, criterion in enumerate(crit):
            name = criterion_name(criterion, lang)
            chosen = scores.get(criterion.key)
            select = discord.ui.Select(
                custom_id=f"judge:score:{review_id}:{index}",
                placeholder=t("judging.card.placeholder", lang, criterion=name)[:150],
                options=[
                    discord.SelectOption(
                        label=f"{name[:80]}: {value}/{top}",
                        value=str(value),
                        default=chosen == value,
                    )
                    for value in range(1, top + 1)
                ],
                row=index,
            )
            view.add_item(ScoreSelect(review_id, index, select))
        row = len(crit)
        for action, style in (
            ("done", discord.ButtonStyle.success),
            ("skip", discord.ButtonStyle.secondary),
            ("broken", discord.ButtonStyle.danger),
            ("absent", discord.ButtonStyle.danger),
        ):
            button = _button(
                t(f"judging.button.{action}", lang), style, f"judge:{action}:{review_id}"
            )
            button.row = row
            view.add_item(ReviewButton(action, review_id, button))
        scored = sum(1 for c in crit if c.key in scores)
        text = t(
            "judging.card.rubric", lang, round=round_no, scored=scored, total=len(crit), top=top
        )
        return self._with_note(text, note), [embed], view

    async def pair_card(
        self, turn: service.PairwiseTurn, lang: str, note: str | None
    ) -> tuple[str, list[discord.Embed], discord.ui.View | None]:
        if turn.current_id is None:
            return self._with_note(t("judging.all_done", lang), note), [], None
        current = await self._project_embed(turn.current_id, lang, discord.Colour.blurple())
        view = discord.ui.View(timeout=None)
        embeds = [current]
        if turn.previous_id is None:
            text = t("judging.card.pair_first", lang, round=turn.round)
            actions = [("next", discord.ButtonStyle.primary)]
        else:
            previous = await self._project_embed(
                turn.previous_id, lang, discord.Colour.light_grey()
            )
            previous.set_author(name=t("judging.card.previous", lang))
            current.set_author(name=t("judging.card.current", lang))
            embeds = [current, previous]
            text = t("judging.card.pair", lang, round=turn.round)
            actions = [
                ("current", discord.ButtonStyle.success),
                ("previous", discord.ButtonStyle.success),
            ]
        actions += [
            ("skip", discord.ButtonStyle.secondary),
            ("broken", discord.ButtonStyle.danger),
            ("absent", discord.ButtonStyle.danger),
        ]
        for action, style in actions:
            button = _button(
                t(f"judging.button.pair_{action}", lang), style, f"pair:{action}:{turn.current_id}"
            )
            view.add_item(PairButton(action, turn.current_id, button))
        return self._with_note(text, note), embeds, view

    async def score(
        self, interaction: discord.Interaction, review_id: int, index: int, value: int
    ) -> None:
        # Every press checks the role, not only /judge next: it may have been taken away since.
        service.require_judge(is_judge(self.bot, interaction))
        lang = lang_of(interaction)
        crit = service.criteria(self.bot.settings)
        if not 0 <= index < len(crit):
            raise HackbotError("judging.unknown_criterion")
        async with self.bot.db.begin() as session:
            await service.set_score(
                session, self.bot.settings, review_id, interaction.user.id, crit[index].key, value
            )
        text, embeds, view = await self.review_card(review_id, lang)
        await interaction.response.edit_message(content=text, embeds=embeds, view=view)

    async def review_action(
        self, interaction: discord.Interaction, action: str, review_id: int
    ) -> None:
        service.require_judge(is_judge(self.bot, interaction))
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        judge_id = interaction.user.id
        async with self.bot.db.begin() as session:
            if action == "done":
                await service.finish(session, self.bot.settings, now, review_id, judge_id)
            elif action == "skip":
                await service.skip(session, now, review_id, judge_id)
            else:
                await service.flag(session, now, review_id, judge_id, action)
        note = t(f"judging.noted.{action}", lang)
        text, embeds, view = await self.card(judge_id, lang, note)
        await interaction.response.edit_message(content=text, embeds=embeds, view=view)

    async def pair_action(
        self, interaction: discord.Interaction, action: str, current: int
    ) -> None:
        service.require_judge(is_judge(self.bot, interaction))
        lang = lang_of(interaction)
        now = self.bot.clock.now()
        judge_id = interaction.user.id
        async with self.bot.db.begin() as session:
            if action in ("current", "previous", "next"):
                verdict = None if action == "next" else action == "current"
                turn = await service.pairwise_vote(session, now, judge_id, current, verdict)
            else:
                reason = None if action == "skip" else action
                turn = await service.pairwise_skip(session, now, judge_id, current, reason)
        note = t(f"judging.noted.pair_{action}", lang)
        text, embeds, view = await self.pair_card(turn, lang, note)
        await interaction.response.edit_message(content=text, embeds=embeds, view=view)

    # -- ceremony -------------------------------------------------------------------------

    async def on_ceremony_timer(self, bot: HackBot, timer: Timer, late: bool) -> None:
        await bot.hackbot_ready.wait()
        await self.reveal(int(timer.payload["ceremony"]), int(timer.payload["step"]))

    def announcements_id(self) -> int | None:
        guild = self.bot.event_guild
        if guild is None:
            return None
        channel = discord.utils.get(
            guild.text_channels, name=self.bot.settings.channels.announcements
        )
        return channel.id if channel else None

    async def reveal(self, ceremony_id: int, step: int) -> bool:
        """Reveal one winner (idempotent per step); schedules the next one. True if revealed."""
        now = self.bot.clock.now()
        channel_id = self.announcements_id()
        if channel_id is None:
            log.warning("no announcements channel: ceremony %s waits", ceremony_id)
            return False
        async with self.bot.db.begin() as session:
            award_id, more = await results.claim_reveal(session, now, ceremony_id, step)
            if award_id is None:
                return False
            ceremony = await results.get_ceremony(session, ceremony_id)
            info = await results.reveal_info(session, award_id)
            lang = ceremony.lang
            content, title, body = self.reveal_text(info, lang, step + 1, len(ceremony.order))
            broadcast = await broadcast_service.create(
                session,
                kind="ceremony",
                target="announcements",
                destinations=[broadcast_service.Destination(channel_id)],
                now=now,
                lang=lang,
                content=content,
                title=title,
                body=body,
                dedupe_key=f"ceremony:{ceremony_id}:{step}",
            )
            broadcast_id = broadcast.id
            if more and ceremony.interval_seconds > 0:
                from datetime import timedelta

                await self.bot.timers.add(
                    session,
                    CEREMONY_TIMER,
                    now + timedelta(seconds=ceremony.interval_seconds),
                    {"ceremony": ceremony_id, "step": step + 1},
                    dedupe_key=f"ceremony:{ceremony_id}:{step + 1}",
                )
        await runner_of(self.bot).run(broadcast_id)
        return True

    def reveal_text(
        self, info: results.Reveal, lang: str, number: int, total: int
    ) -> tuple[str, str, str]:
        key = "judging.ceremony.place_first" if info.place == 1 else "judging.ceremony.place"
        place = t(key, lang, medal=MEDALS.get(info.place, "🏅"), place=info.place)
        if info.challenge_name:
            where = t("judging.ceremony.challenge", lang, challenge=info.challenge_name)
        else:
            where = t("judging.ceremony.overall", lang)
        content = t(
            "judging.ceremony.content", lang, number=number, total=total, where=where, place=place
        )
        body = t(
            "judging.ceremony.body",
            lang,
            team=info.team_name,
            members=", ".join(info.member_names) or "—",
            pitch=info.pitch,
        )
        if info.gallery_thread_id:
            body += "\n" + t("judging.ceremony.post", lang, post=f"<#{info.gallery_thread_id}>")
        return content, info.title[:256], body

    async def reveal_by_hand(self, interaction: discord.Interaction, ceremony_id: int) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            ceremony = await results.get_ceremony(session, ceremony_id)
            step, total, status = ceremony.revealed, len(ceremony.order), ceremony.status
        if status != "running":
            await interaction.response.edit_message(
                content=t("judging.ceremony.over", lang), view=None
            )
            return
        await interaction.response.defer()
        await self.reveal(ceremony_id, step)
        left = total - step - 1
        view = None
        if left > 0:
            view = discord.ui.View(timeout=None)
            view.add_item(RevealButton(ceremony_id, t("judging.button.reveal", lang)))
        await interaction.edit_original_response(
            content=t("judging.ceremony.revealed", lang, number=step + 1, total=total), view=view
        )


class AdminJudging(commands.Cog):
    judging = app_commands.Group(
        name=L("cmd.admin.judging.name"),
        description=L("cmd.admin.judging.description"),
        extras={"audience": "organiser"},
    )

    def __init__(self, bot: HackBot, main: Judging) -> None:
        self.bot = bot
        self.main = main

    @judging.command(
        name=L("cmd.admin.judging.status.name"),
        description=L("cmd.admin.judging.status.description"),
    )
    @organiser_only()
    async def status(self, interaction: discord.Interaction) -> None:
        lang = lang_of(interaction)
        from sqlalchemy import select

        from bot.models.challenges import Challenge

        async with self.bot.db.read() as session:
            cover = await service.coverage(session, self.bot.settings, self.bot.clock.now())
            ranked = await service.ranking(session, self.bot.settings)
            names = dict((await session.execute(select(Challenge.id, Challenge.name))).all())
        titles = {r.submission_id: f"{r.title[:50]} ({r.team_name[:30]})" for r in ranked}
        embed = discord.Embed(
            title=t("judging.status.title", lang, round=cover.round),
            colour=discord.Colour.blurple(),
        )
        embed.description = t(
            f"judging.status.summary_{cover.mode}",
            lang,
            projects=cover.projects,
            done=cover.reviews_done,
            judges=cover.judges_total,
            active=cover.judges_recent,
            flagged=cover.flagged,
        )
        histogram = [
            t(
                "judging.status.bucket_max" if n == cover.target else "judging.status.bucket",
                lang,
                reviews=n,
                projects=count,
            )
            for n, count in cover.histogram.items()
        ]
        embed.add_field(
            name=t("judging.status.coverage", lang, target=cover.target),
            value=fit(histogram) or "—",
            inline=False,
        )
        if cover.unseen:
            lines = [f"• {titles.get(sid, sid)}" for sid in cover.unseen[:10]]
            if len(cover.unseen) > 10:
                lines.append(t("judging.status.more", lang, count=len(cover.unseen) - 10))
            embed.add_field(
                name=t("judging.status.unseen", lang, count=len(cover.unseen)),
                value=fit(lines),
                inline=False,
            )
        judged = [r for r in ranked if r.score is not None]
        groups: dict[int | None, list[service.Ranked]] = {}
        for row in judged:
            groups.setdefault(row.challenge_id, []).append(row)
        overall = [
            f"{i}. {titles[r.submission_id]} — {r.score:+.2f} ({r.reviews})"
            for i, r in enumerate(judged[:5], start=1)
        ]
        embed.add_field(
            name=t("judging.status.overall", lang),
            value=fit(overall) or t("judging.status.nothing_yet", lang),
            inline=False,
        )
        for challenge_id, rows in list(groups.items())[:18]:
            if challenge_id is None:
                continue
            lines = [
                f"{i}. {titles[r.submission_id]} — {r.score:+.2f}"
                for i, r in enumerate(rows[:3], start=1)
            ]
            embed.add_field(name=names.get(challenge_id, "?")[:256], value=fit(lines), inline=False)
        await send(interaction, embed=embed)

    async def _plan_and_confirm(self, interaction: discord.Interaction, kind: str) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            entries = await results.plan(session, self.bot.settings, kind)
            names = await self._scope_names(session)
            by_hand = await results.manual_winners(session) if kind == "winner" else 0
        embed = self.entries_embed(kind, entries, names, lang)
        intro = t(f"judging.preview.{kind}", lang)
        if by_hand:
            intro += "\n" + t(
                "judging.preview.replaces_manual",
                lang,
                count=by_hand,
                command=self.bot.command_ids.mention("admin judging winner-set", lang),
            )

        async def confirmed(inner: discord.Interaction) -> None:
            async with self.bot.db.begin() as session:
                saved = await results.save(
                    session, self.bot.settings, self.bot.clock.now(), inner.user.id, kind, entries
                )
                round_no = await service.current_round(session)
            command = self.bot.command_ids.mention("admin judging ceremony", lang)
            await inner.response.edit_message(
                content=t(
                    f"judging.saved.{kind}", lang, count=len(saved), round=round_no, command=command
                ),
                embed=embed,
                view=None,
            )

        await send(interaction, intro, embed=embed, view=ConfirmView(lang, confirmed))

    async def _scope_names(self, session) -> dict[str, str]:  # type: ignore[no-untyped-def]
        from sqlalchemy import select

        from bot.models.challenges import Challenge

        rows = (await session.execute(select(Challenge.id, Challenge.name))).all()
        return {results.challenge_scope(cid): name for cid, name in rows}

    def entries_embed(
        self, kind: str, entries: list[results.Entry], names: dict[str, str], lang: str
    ) -> discord.Embed:
        embed = discord.Embed(title=t(f"judging.list.{kind}", lang), colour=discord.Colour.gold())
        by_scope: dict[str, list[results.Entry]] = {}
        for entry in entries:
            by_scope.setdefault(entry.scope, []).append(entry)
        for scope, rows in list(by_scope.items())[:25]:
            title = (
                t("judging.ceremony.overall", lang)
                if scope == results.OVERALL
                else names.get(scope, scope)
            )
            by_hand = t("judging.list.by_hand", lang)
            lines = [
                f"{MEDALS.get(e.place, f'{e.place}.') if kind == 'winner' else f'{e.place}.'} "
                f"**{e.title[:60]}** ({e.team_name[:40]})" + (f" — *{by_hand}*" if e.manual else "")
                for e in rows
            ]
            embed.add_field(name=title[:256], value=fit(lines), inline=False)
        return embed

    @judging.command(
        name=L("cmd.admin.judging.shortlist.name"),
        description=L("cmd.admin.judging.shortlist.description"),
    )
    @organiser_only()
    async def shortlist(self, interaction: discord.Interaction) -> None:
        await self._plan_and_confirm(interaction, "shortlist")

    @judging.command(
        name=L("cmd.admin.judging.finalists.name"),
        description=L("cmd.admin.judging.finalists.description"),
    )
    @organiser_only()
    async def finalists(self, interaction: discord.Interaction) -> None:
        await self._plan_and_confirm(interaction, "finalist")

    @judging.command(
        name=L("cmd.admin.judging.winners.name"),
        description=L("cmd.admin.judging.winners.description"),
    )
    @organiser_only()
    async def winners(self, interaction: discord.Interaction) -> None:
        await self._plan_and_confirm(interaction, "winner")

    # -- winners by hand ------------------------------------------------------------

    @judging.command(
        name=L("cmd.admin.judging.winner-set.name"),
        description=L("cmd.admin.judging.winner-set.description"),
    )
    @app_commands.rename(
        challenge=L("cmd.admin.judging.winner-set.options.challenge.name"),
        place=L("cmd.admin.judging.winner-set.options.place.name"),
        team=L("cmd.admin.judging.winner-set.options.team.name"),
    )
    @app_commands.describe(
        challenge=L("cmd.admin.judging.winner-set.options.challenge.description"),
        place=L("cmd.admin.judging.winner-set.options.place.description"),
        team=L("cmd.admin.judging.winner-set.options.team.description"),
    )
    @organiser_only()
    async def winner_set(
        self,
        interaction: discord.Interaction,
        challenge: str,
        place: app_commands.Range[int, 1, results.MAX_PLACE],
        team: str,
    ) -> None:
        from bot.services import teams as team_service

        lang = lang_of(interaction)
        async with self.bot.db.read() as session:  # a bad team or challenge: refused at once
            found = await team_service.find_team(session, team)
            await results.scope_of(session, challenge)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await results.set_winner(
                session, self.bot.clock.now(), interaction.user.id, challenge, place, found.id
            )
        where, place_text = self._where(change, lang)
        if change.unchanged:
            text = t(
                "judging.winner.unchanged",
                lang,
                team=change.team_name,
                where=where,
                place=place_text,
            )
        else:
            text = t(
                "judging.winner.set",
                lang,
                team=change.team_name,
                title=change.title,
                where=where,
                place=place_text,
            )
            if change.replaced:
                text += "\n" + t("judging.winner.replaced", lang, team=change.replaced)
            if change.moved_from:
                text += "\n" + t("judging.winner.moved", lang, place=change.moved_from)
        await self._winners_reply(interaction, text, lang)

    @judging.command(
        name=L("cmd.admin.judging.winner-remove.name"),
        description=L("cmd.admin.judging.winner-remove.description"),
    )
    @app_commands.rename(
        challenge=L("cmd.admin.judging.winner-remove.options.challenge.name"),
        place=L("cmd.admin.judging.winner-remove.options.place.name"),
    )
    @app_commands.describe(
        challenge=L("cmd.admin.judging.winner-remove.options.challenge.description"),
        place=L("cmd.admin.judging.winner-remove.options.place.description"),
    )
    @organiser_only()
    async def winner_remove(
        self,
        interaction: discord.Interaction,
        challenge: str,
        place: app_commands.Range[int, 1, results.MAX_PLACE],
    ) -> None:
        lang = lang_of(interaction)
        async with self.bot.db.read() as session:
            await results.scope_of(session, challenge)
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.bot.db.begin() as session:
            change = await results.remove_winner(
                session, self.bot.clock.now(), interaction.user.id, challenge, place
            )
        where, place_text = self._where(change, lang)
        text = t(
            "judging.winner.removed",
            lang,
            where=where,
            place=place_text,
            team=change.team_name,
            title=change.title,
        )
        await self._winners_reply(interaction, text, lang)

    @staticmethod
    def _where(change: results.WinnerChange, lang: str) -> tuple[str, str]:
        if change.challenge_name:
            where = t("judging.ceremony.challenge", lang, challenge=change.challenge_name)
        else:
            where = t("judging.ceremony.overall", lang)
        key = "judging.ceremony.place_first" if change.place == 1 else "judging.ceremony.place"
        return where, t(key, lang, medal=MEDALS.get(change.place, "🏅"), place=change.place)

    async def _winners_reply(self, interaction: discord.Interaction, text: str, lang: str) -> None:
        """The change, then every winner as saved now (the ones placed by hand marked)."""
        from sqlalchemy import select

        from bot.models.judging import Ceremony

        async with self.bot.db.read() as session:
            entries = await results.current_winners(session)
            names = await self._scope_names(session)
            over = await session.scalar(
                select(Ceremony.id).where(Ceremony.status == "done").limit(1)
            )
        if over is not None:
            text += "\n" + t("judging.winner.after_ceremony", lang)
        if not entries:
            await send(interaction, text + "\n" + t("judging.winner.none_left", lang))
            return
        await send(interaction, text, embed=self.entries_embed("winner", entries, names, lang))

    @winner_set.autocomplete("challenge")
    @winner_remove.autocomplete("challenge")
    async def challenge_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        from bot.services import challenges as challenge_service

        lang = lang_of(interaction)
        overall = t("judging.ceremony.overall", lang)
        async with self.bot.db.read() as session:
            found = await challenge_service.search(session, current, limit=24)
        choices = [app_commands.Choice(name=overall[:100], value=results.OVERALL)]
        if current and current.lower() not in overall.lower() and found:
            choices = []
        choices += [
            app_commands.Choice(name=c.name[:100], value=results.challenge_scope(c.id))
            for c in found
        ]
        return choices[:25]

    @winner_set.autocomplete("team")
    async def team_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        scope = results.parse_scope(getattr(interaction.namespace, "challenge", "") or "")
        challenge_id = None
        if scope and scope != results.OVERALL:
            challenge_id = int(scope.split(":", 1)[1])
        async with self.bot.db.read() as session:
            rows = await results.projects_for(session, current, challenge_id)
        return [
            app_commands.Choice(name=f"{name} — {title}"[:100], value=str(team_id))
            for team_id, name, title in rows
        ]

    @judging.command(
        name=L("cmd.admin.judging.ceremony.name"),
        description=L("cmd.admin.judging.ceremony.description"),
    )
    @app_commands.rename(interval=L("cmd.admin.judging.ceremony.options.interval.name"))
    @app_commands.describe(interval=L("cmd.admin.judging.ceremony.options.interval.description"))
    @organiser_only()
    async def ceremony(
        self,
        interaction: discord.Interaction,
        interval: app_commands.Range[int, 0, 3600] | None = None,
    ) -> None:
        lang = lang_of(interaction)
        seconds = (
            self.bot.settings.judging.ceremony_interval_seconds if interval is None else interval
        )
        async with self.bot.db.read() as session:
            order = await results.ceremony_order(session)
        channel_id = self.main.announcements_id()
        if channel_id is None:
            raise HackbotError("judging.ceremony.no_channel")
        event_lang = self.bot.settings.event.language

        async def confirmed(inner: discord.Interaction) -> None:
            now = self.bot.clock.now()
            async with self.bot.db.begin() as session:
                ceremony = await results.start_ceremony(
                    session, now, inner.user.id, seconds, event_lang
                )
                ceremony_id = ceremony.id
                if seconds > 0:
                    await self.bot.timers.add(
                        session,
                        CEREMONY_TIMER,
                        now,
                        {"ceremony": ceremony_id, "step": 0},
                        dedupe_key=f"ceremony:{ceremony_id}:0",
                    )
            if seconds > 0:
                await inner.response.edit_message(
                    content=t("judging.ceremony.started", lang, count=len(order), seconds=seconds),
                    view=None,
                )
                return
            view = discord.ui.View(timeout=None)
            view.add_item(RevealButton(ceremony_id, t("judging.button.reveal", lang)))
            await inner.response.edit_message(
                content=t("judging.ceremony.by_hand", lang, count=len(order)), view=view
            )

        key = "judging.ceremony.preview" if seconds else "judging.ceremony.preview_by_hand"
        await send(
            interaction,
            t(key, lang, count=len(order), seconds=seconds, channel=f"<#{channel_id}>"),
            view=ConfirmView(lang, confirmed),
        )


async def setup(bot: HackBot) -> None:
    main = Judging(bot)
    admin = AdminJudging(bot, main)
    await bot.add_cog(admin)
    attach_to_admin(bot, admin, "judging")
    await bot.add_cog(main)
    bot.timers.register(CEREMONY_TIMER, main.on_ceremony_timer)
    bot.add_dynamic_items(ScoreSelect, ReviewButton, PairButton, RevealButton)
