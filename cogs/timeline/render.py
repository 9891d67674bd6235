"""What the timeline looks like on Discord: /schedule, the countdown, announcements, reminders.

Times are Discord timestamps (``<t:unix:F>``, ``<t:unix:R>``): each reader sees
them in their own time zone and the relative ones count down by themselves.
"""

from __future__ import annotations

from datetime import datetime

import discord

from bot.i18n import t
from bot.services import timeline
from bot.services.event import CAPABILITIES, Overview, PhaseView

FIELDS_MAX = 25


def ts(moment: datetime, style: str) -> str:
    return discord.utils.format_dt(moment, style)  # type: ignore[arg-type]


def capability_list(opens: frozenset[str] | set[str], lang: str) -> str:
    return ", ".join(t(f"capability.{cap}", lang) for cap in CAPABILITIES if cap in opens)


def schedule_embed(overview: Overview, now: datetime, lang: str) -> discord.Embed:
    embed = discord.Embed(
        title=t("timeline.schedule.title", lang, event=overview.event_name),
        colour=discord.Colour.blurple(),
    )
    phases = overview.phases
    if not phases:
        embed.description = t("about.no_timeline", lang)
        return embed
    shown = phases[:FIELDS_MAX]
    for index, phase in enumerate(shown):
        end = timeline.effective_end(phases, index)
        if overview.current is not None and phase.key == overview.current.key:
            marker, state = "▶️", "timeline.schedule.now"
        elif end is not None and end <= now:
            marker, state = "✅", "timeline.schedule.past"
        else:
            marker, state = "🔜", "timeline.schedule.upcoming"
        name = t(state, lang, phase=phase.name, marker=marker)
        if end is not None:
            when = t(
                "timeline.schedule.span",
                lang,
                start=ts(phase.starts_at, "F"),
                end=ts(end, "F"),
            )
        else:
            when = t("timeline.schedule.from", lang, start=ts(phase.starts_at, "F"))
        if state == "timeline.schedule.now" and end is not None:
            when += "\n" + t("timeline.schedule.ends", lang, relative=ts(end, "R"))
        elif state == "timeline.schedule.upcoming":
            when += "\n" + t("timeline.schedule.starts", lang, relative=ts(phase.starts_at, "R"))
        opens = (
            t("timeline.schedule.opens", lang, what=capability_list(phase.opens, lang))
            if phase.opens
            else t("timeline.schedule.opens_nothing", lang)
        )
        embed.add_field(name=name[:256], value=f"{when}\n{opens}"[:1024], inline=False)
    if len(phases) > FIELDS_MAX:
        embed.description = t("timeline.schedule.more", lang, count=len(phases) - FIELDS_MAX)
    if overview.open_now:
        footer = t(
            "timeline.schedule.open_now", lang, what=capability_list(overview.open_now, lang)
        )
    else:
        footer = t("about.nothing_open", lang)
    embed.set_footer(text=footer + " " + t("timeline.schedule.footer", lang))
    return embed


def countdown_embed(overview: Overview, lang: str) -> discord.Embed:
    embed = discord.Embed(
        title=t("timeline.countdown.title", lang, event=overview.event_name),
        colour=discord.Colour.orange(),
    )
    phases = overview.phases
    current, upcoming = overview.current, overview.next
    if not phases:
        embed.description = t("about.no_timeline", lang)
    elif current is not None:
        end = timeline.effective_end(phases, phases.index(current))
        if end is not None:
            embed.description = t(
                "timeline.countdown.current",
                lang,
                phase=current.name,
                relative=ts(end, "R"),
                when=ts(end, "F"),
            )
        else:
            embed.description = t("timeline.countdown.current_open", lang, phase=current.name)
    elif upcoming is not None:
        embed.description = t(
            "timeline.countdown.next",
            lang,
            phase=upcoming.name,
            relative=ts(upcoming.starts_at, "R"),
            when=ts(upcoming.starts_at, "F"),
        )
    else:
        embed.description = t("about.finished", lang)
    if phases and (current is not None or upcoming is not None):
        embed.add_field(
            name=t("about.open_now", lang),
            value=capability_list(overview.open_now, lang) or t("about.nothing_open", lang),
            inline=False,
        )
    if current is not None and upcoming is not None:
        embed.add_field(
            name=t("timeline.countdown.then", lang),
            value=f"**{upcoming.name}** — {ts(upcoming.starts_at, 'F')}",
            inline=False,
        )
    embed.set_footer(text=t("timeline.countdown.footer", lang))
    return embed


def transition_text(
    change: timeline.Transition, upcoming: PhaseView | None, end: datetime | None, lang: str
) -> str:
    lines = []
    if change.after is not None and change.phase_changed:
        if end is not None:
            lines.append(
                t(
                    "timeline.announce.started_until",
                    lang,
                    phase=change.after.name,
                    when=ts(end, "F"),
                )
            )
        else:
            lines.append(t("timeline.announce.started", lang, phase=change.after.name))
    elif change.before is not None and change.after is None:
        lines.append(t("timeline.announce.ended", lang, phase=change.before.name))
        if upcoming is not None:
            lines.append(
                t(
                    "timeline.announce.next",
                    lang,
                    phase=upcoming.name,
                    relative=ts(upcoming.starts_at, "R"),
                )
            )
        else:
            lines.append(t("about.finished", lang))
    if change.opened:
        lines.append(t("timeline.announce.opened", lang, what=capability_list(change.opened, lang)))
    if change.closed:
        lines.append(t("timeline.announce.closed", lang, what=capability_list(change.closed, lang)))
    return "\n".join(lines)


def reminder_text(deadline: timeline.Deadline, lang: str) -> str:
    return t(
        "timeline.reminder.text",
        lang,
        what=capability_list(deadline.closes, lang),
        relative=ts(deadline.at, "R"),
        when=ts(deadline.at, "F"),
    )


def team_reminder_text(deadline: timeline.Deadline, lang: str) -> str:
    return t(
        "timeline.reminder.no_submission",
        lang,
        relative=ts(deadline.at, "R"),
        when=ts(deadline.at, "F"),
    )


def extension_text(extension: timeline.Extension, lang: str) -> str:
    return t(
        "timeline.announce.extended",
        lang,
        phase=extension.phase.name,
        minutes=extension.minutes,
        when=ts(extension.new_end, "F"),
        relative=ts(extension.new_end, "R"),
    )


def event_description(phase: PhaseView, lang: str) -> str:
    if phase.opens:
        return t("timeline.event.opens", lang, what=capability_list(phase.opens, lang))[:1000]
    return t("timeline.event.opens_nothing", lang)
