"""What the help queue shows: ticket cards, the team's status message, figures."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import t
from bot.models.help import HelpTicket
from bot.services import help_queue as svc

FIELD_LIMIT = 1024
COLOURS = {
    "open": discord.Colour.orange(),
    "claimed": discord.Colour.blue(),
    "resolved": discord.Colour.green(),
    "cancelled": discord.Colour.light_grey(),
    "expired": discord.Colour.dark_grey(),
}


def ts(moment: Any, style: str = "R") -> str:
    return f"<t:{int(moment.timestamp())}:{style}>"


def fit(lines: list[str], limit: int = FIELD_LIMIT) -> str:
    """Whole lines while they fit in an embed field, then an ellipsis line."""
    kept: list[str] = []
    size = 0
    for line in lines:
        line = line if len(line) < limit else line[: limit - 2] + "…"
        if size + len(line) + 1 > limit - 2:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) or "—"


def minutes(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    return t(
        "help.minutes",
        lang,
        n=f"{value:.0f}" if value >= 10 else f"{value:.1f}".rstrip("0").rstrip("."),
    )


def meet_text(ticket: HelpTicket, space_id: int | None, voice_id: int | None, lang: str) -> str:
    if ticket.meet == "table":
        return t("help.meet.table", lang, detail=ticket.meet_detail or "?")
    if ticket.meet == "voice":
        where = f"<#{voice_id}>" if voice_id else t("help.meet.voice_any", lang)
        extra = f" — {ticket.meet_detail}" if ticket.meet_detail else ""
        return t("help.meet.voice", lang, where=where) + extra
    where = f"<#{space_id}>" if space_id else "—"
    extra = f" — {ticket.meet_detail}" if ticket.meet_detail else ""
    return t("help.meet.space", lang, where=where) + extra


def eta_text(eta: int | None, on_duty: bool, lang: str) -> str:
    if not on_duty or eta is None:
        return t("help.eta.nobody", lang)
    return t("help.eta.minutes", lang, n=eta)


def card(
    ticket: HelpTicket,
    team_name: str,
    space_id: int | None,
    voice_id: int | None,
    lang: str,
) -> discord.Embed:
    """The ticket's card in the queue channel (mentors' language: the event's)."""
    embed = discord.Embed(
        title=t("help.card.title", lang, number=ticket.id, topic=ticket.topic, team=team_name)[
            :256
        ],
        description=ticket.description,
        colour=COLOURS.get(ticket.status, discord.Colour.default()),
    )
    embed.add_field(
        name=t("help.card.meet", lang),
        value=meet_text(ticket, space_id, voice_id, lang),
        inline=False,
    )
    embed.add_field(
        name=t("help.card.asked", lang),
        value=t(
            "help.card.asked_value",
            lang,
            who=f"<@{ticket.asker_discord_id}>",
            when=ts(ticket.created_at),
        ),
        inline=False,
    )
    embed.add_field(name=t("help.card.state", lang), value=card_state(ticket, lang), inline=False)
    embed.set_footer(text=t("help.card.footer", lang, number=ticket.id))
    return embed


def card_state(ticket: HelpTicket, lang: str) -> str:
    if ticket.status == "open":
        if ticket.epoch:
            return t("help.state.back_in_queue", lang, when=ts(ticket.queued_at))
        return t("help.state.waiting", lang)
    if ticket.status == "claimed":
        return t(
            "help.state.claimed", lang, mentor=f"<@{ticket.claimed_by}>", when=ts(ticket.claimed_at)
        )
    if ticket.status == "resolved":
        took = (
            (ticket.closed_at - ticket.claimed_at).total_seconds() / 60
            if ticket.claimed_at
            else None
        )
        return t(
            "help.state.resolved", lang, mentor=f"<@{ticket.resolved_by}>", took=minutes(took, lang)
        )
    if ticket.status == "expired":
        return t("help.state.expired", lang, when=ts(ticket.closed_at))
    return t("help.state.cancelled", lang, when=ts(ticket.closed_at))


def status_text(ticket: HelpTicket, shown: dict[str, Any], lang: str, now: Any) -> str:
    """The team's status message in its space (edited as the queue moves)."""
    head = t("help.status.head", lang, number=ticket.id, topic=ticket.topic)
    state = shown.get("state", ticket.status)
    if state == "open":
        body = t(
            "help.status.waiting",
            lang,
            position=shown.get("position") or "?",
            eta=eta_text(shown.get("eta"), bool(shown.get("duty")), lang),
            updated=ts(now),
        )
        if shown.get("closed"):
            body += "\n" + t("help.status.queue_closed", lang)
        return f"{head}\n{body}"
    if state == "claimed":
        return f"{head}\n" + t(
            "help.status.claimed",
            lang,
            mentor=f"<@{ticket.claimed_by}>",
            when=ts(ticket.claimed_at),
        )
    if state == "resolved":
        return f"{head}\n" + t("help.status.resolved", lang, mentor=f"<@{ticket.resolved_by}>")
    if state == "expired":
        return f"{head}\n" + t("help.status.expired", lang)
    return f"{head}\n" + t("help.status.cancelled", lang)


def stats_embed(stats: svc.Stats, lang: str, tz: Any) -> discord.Embed:
    c = stats.counts
    embed = discord.Embed(title=t("help.stats.title", lang), colour=discord.Colour.blurple())
    embed.description = t(
        "help.stats.now",
        lang,
        open=c["open"],
        claimed=c["claimed"],
        resolved=c["resolved"],
        cancelled=c["cancelled"],
        expired=c["expired"],
        on_duty=stats.on_duty,
    )
    if stats.closed:
        embed.description += "\n" + t("help.stats.closed", lang)
    embed.add_field(
        name=t("help.stats.wait", lang),
        value=t(
            "help.stats.median_p90",
            lang,
            median=minutes(stats.median_wait, lang),
            p90=minutes(stats.p90_wait, lang),
        ),
        inline=True,
    )
    embed.add_field(
        name=t("help.stats.resolve", lang),
        value=t(
            "help.stats.median_p90",
            lang,
            median=minutes(stats.median_resolve, lang),
            p90=minutes(stats.p90_resolve, lang),
        ),
        inline=True,
    )
    embed.add_field(
        name=t("help.stats.by_skill", lang),
        value=fit(
            [
                t(
                    "help.stats.skill_line",
                    lang,
                    topic=s.topic,
                    asked=s.asked,
                    resolved=s.resolved,
                    wait=minutes(s.median_wait, lang),
                )
                for s in stats.by_skill
            ]
        ),
        inline=False,
    )
    embed.add_field(
        name=t("help.stats.by_hour", lang),
        value=fit(
            [
                t(
                    "help.stats.hour_line",
                    lang,
                    hour=h.hour.strftime("%d/%m %H:00"),
                    asked=h.asked,
                    wait=minutes(h.median_wait, lang),
                )
                for h in stats.by_hour
            ]
        ),
        inline=False,
    )
    embed.add_field(
        name=t("help.stats.leaderboard", lang),
        value=fit(
            [
                t(
                    "help.stats.mentor_line",
                    lang,
                    rank=rank,
                    mentor=f"<@{m.discord_id}>",
                    resolved=m.resolved,
                    smoothed=f"{m.smoothed:.2f}",
                    ratings=m.ratings,
                )
                for rank, m in enumerate(stats.leaderboard[:10], start=1)
            ]
        ),
        inline=False,
    )
    expired = t("help.stats.expired_count", lang, count=stats.expired_unanswered)
    if stats.expired_examples:
        expired += "\n" + ", ".join(f"#{x.id} ({x.topic})" for x in stats.expired_examples)
    embed.add_field(name=t("help.stats.expired", lang), value=fit([expired]), inline=False)
    rating = (
        t("help.stats.rating", lang, mean=f"{stats.mean_rating:.2f}", count=stats.ratings)
        if stats.mean_rating is not None
        else t("help.stats.no_rating", lang)
    )
    embed.set_footer(text=rating)
    return embed
