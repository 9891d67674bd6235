"""Render what Discord would show a person as plain terminal text.

Used by ``hackbot demo``: Discord timestamps become dates and "in 2 hours"
in the reader's language and time zone, command mentions become the command
name the reader's client shows, embeds become boxes.
"""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.commands_meta import localized_path
from bot.i18n import t

TIMESTAMP = re.compile(r"<t:(-?\d+)(?::([tTdDfFR]))?>")
COMMAND = re.compile(r"</([^:>]+):\d+>")
USER = re.compile(r"<@!?(\d+)>")
ROLE = re.compile(r"<@&(\d+)>")
CHANNEL = re.compile(r"<#(\d+)>")

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
}
DAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
}


def duration(seconds: float, lang: str) -> str:
    """ "2 hours", "45 minutes", "1 jour": rounded to the largest sensible unit."""
    minutes = round(seconds / 60)
    hours = round(seconds / 3600)
    days = round(seconds / 86400)
    if seconds < 45:
        unit, count = "second", max(1, round(seconds))
    elif minutes < 45:
        unit, count = "minute", minutes
    elif hours < 22:
        unit, count = "hour", max(1, hours)
    else:
        unit, count = "day", max(1, days)
    return t(f"transcript.unit.{unit}" + ("s" if count > 1 else ""), lang, count=count)


def relative(moment: datetime, now: datetime, lang: str) -> str:
    seconds = (moment - now).total_seconds()
    amount = duration(abs(seconds), lang)
    return t("transcript.ago" if seconds < 0 else "transcript.in", lang, amount=amount)


def absolute(moment: datetime, style: str, tz: ZoneInfo, lang: str) -> str:
    local = moment.astimezone(tz)
    clock = f"{local:%H:%M}"
    day = "1er" if lang == "fr" and local.day == 1 else str(local.day)
    date = f"{day} {MONTHS[lang][local.month - 1]} {local.year}"
    if style == "t":
        return clock
    if style == "d":
        return f"{local:%d/%m/%Y}"
    if style == "D":
        return date
    if style == "F":
        return f"{DAYS[lang][local.weekday()]} {date} {clock}"
    return f"{date} {clock}"  # f (the default)


class Renderer:
    def __init__(
        self, lang: str, tz: ZoneInfo, now: datetime, names: dict[int, str] | None = None
    ) -> None:
        self.lang = lang
        self.tz = tz
        self.now = now
        self.names = names or {}

    def text(self, value: str) -> str:
        value = TIMESTAMP.sub(self._timestamp, value)
        value = COMMAND.sub(lambda m: "/" + localized_path(m.group(1), self.lang), value)
        value = USER.sub(lambda m: "@" + self.names.get(int(m.group(1)), m.group(1)), value)
        value = ROLE.sub(lambda m: "@" + self.names.get(int(m.group(1)), "role"), value)
        value = CHANNEL.sub(lambda m: "#" + self.names.get(int(m.group(1)), m.group(1)), value)
        return value.replace("**", "")

    def _timestamp(self, match: re.Match[str]) -> str:
        moment = datetime.fromtimestamp(int(match.group(1)), UTC)
        style = match.group(2) or "f"
        if style == "R":
            return relative(moment, self.now, self.lang)
        return absolute(moment, style, self.tz, self.lang)

    def embed(self, embed: dict, width: int = 76) -> list[str]:
        lines: list[str] = []
        if embed.get("title"):
            lines.append(self.text(embed["title"]).upper())
        if embed.get("description"):
            lines += self._wrap(embed["description"], width)
        for field in embed.get("fields", []):
            lines.append("")
            lines.append(self.text(field["name"]).upper())
            lines += self._wrap(field["value"], width, indent="  ")
        if embed.get("footer", {}).get("text"):
            lines.append("")
            lines += self._wrap(embed["footer"]["text"], width, indent="  ")
        return ["│ " + line if line else "│" for line in lines]

    def _wrap(self, value: str, width: int, indent: str = "") -> list[str]:
        out: list[str] = []
        for paragraph in self.text(value).splitlines():
            out += textwrap.wrap(
                paragraph, width, initial_indent=indent, subsequent_indent=indent + "  "
            ) or [""]
        return out
