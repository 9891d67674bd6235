"""Settings: the organiser's TOML file, checked and turned into typed objects.

Each section of the file is a frozen dataclass below (declared with
:func:`section`). The loader is generic: it walks the parsed TOML and the
dataclass fields together, so a later feature adds a setting by adding a
field (``setting(default, min=..., check=...)`` for bounds and checks) and a
section by adding a field to :class:`Settings`, plus a line in
``config.example.toml`` and, for a new check, its message in
``bot/locales/config.toml``. Nothing else has to change.

The loader never stops at the first mistake. It collects every problem --
unknown keys (with the closest valid key), wrong types (``true`` is not a
number), missing required keys, impossible values -- each naming the full
key path (``phases[2].opens``), and raises one :class:`~bot.errors.ConfigError`
holding them all. Problems are rendered through the translation catalogue,
in English or French.

Times: phases are written in the event's local time (or with an explicit
offset) and stored as aware UTC datetimes. A local time that does not exist
(the hour skipped when clocks spring forward) or that happens twice (the hour
repeated in autumn) is refused: the organiser must say which one they mean.

The Discord bot token never goes in this file; it comes from the
``DISCORD_TOKEN`` environment variable.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from functools import cache, lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, TypeVar, dataclass_transform
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import ConfigError
from bot.i18n import t

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_CONFIG_NAME",
    "PHASE_FEATURES",
    "BackupSettings",
    "BroadcastSettings",
    "ChallengeSettings",
    "ChannelSettings",
    "ConfigError",
    "CriterionSettings",
    "DatabaseSettings",
    "EventSettings",
    "FormationSettings",
    "HelpSettings",
    "Invalid",
    "JudgingSettings",
    "LoggingSettings",
    "PhaseSettings",
    "Problem",
    "ProblemSettings",
    "RegistrationSettings",
    "RoleSettings",
    "Settings",
    "SubmissionFieldSettings",
    "SubmissionSettings",
    "TeamSettings",
    "TimelineSettings",
    "check_config",
    "config_keys",
    "default_config_dict",
    "load_settings",
    "section",
    "setting",
    "settings_from_dict",
]

CONFIG_ENV = "HACKBOT_CONFIG"
DATABASE_URL_ENV = "HACKBOT_DATABASE_URL"
TOKEN_ENV = "DISCORD_TOKEN"
DEFAULT_CONFIG_NAME = "hackbot.toml"
DEFAULT_DATABASE_FILE = "hackbot.sqlite3"

#: What a phase can open. While a phase is current, exactly the features it
#: lists are open; outside every phase, nothing is.
PHASE_FEATURES: frozenset[str] = frozenset(
    {
        "registration",
        "new_teams",
        "team_changes",
        "problem_collection",
        "submissions",
        "help_queue",
        "judging",
    }
)

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"

_T = TypeVar("_T")

# Discord stores IDs in 64 bits; the database column is a signed BIGINT.
_MAX_SNOWFLAKE = 2**63 - 1
_SLUG = re.compile(r"[a-z0-9_-]{1,32}")


# --------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Term:
    """A catalogue key used as a parameter, translated with the message."""

    key: str


@dataclass(frozen=True, eq=True)
class Problem:
    """One thing wrong with the configuration.

    ``path`` is the full key path (``teams.max_size``, ``phases[0].start``),
    or ``""`` for the file as a whole; ``key`` is a catalogue key; ``params``
    fill its placeholders (a :class:`Term` is translated too).
    """

    path: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        params = {
            name: t(value.key, lang) if isinstance(value, Term) else value
            for name, value in self.params.items()
        }
        return t(self.key, lang, **params)

    def render(self, lang: str = "en") -> str:
        message = self.message(lang)
        return f"{self.path}: {message}" if self.path else message


class Invalid(Exception):
    """Raised by a field check: the value is impossible. Becomes a Problem."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# --------------------------------------------------------------------------
# Declaring settings


def setting(
    default: Any = dataclasses.MISSING,
    *,
    min: int | None = None,
    max: int | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    check: Callable[..., Any] | None = None,
    default_from: Callable[[_Context], Any] | None = None,
    env: str | None = None,
    validate_items: Callable[[list[dict[str, Any] | None], str, _Context], None] | None = None,
    internal: bool = False,
) -> Any:
    """A dataclass field with what the loader needs to know about it.

    ``min``/``max`` bound numbers, ``min_len``/``max_len`` bound strings (for a
    list, each item). ``check(value, ctx)`` returns the value to keep (it may
    normalise it) or raises :class:`Invalid`. ``default_from(ctx)`` computes a
    default that depends on where the file is. ``env`` names an environment
    variable that, when set, wins over the file. ``validate_items`` checks a
    list of tables as a whole (uniqueness, order). ``internal`` fields are set
    by the loader, never read from the file.
    """
    metadata = {
        "min": min,
        "max": max,
        "min_len": min_len,
        "max_len": max_len,
        "check": check,
        "default_from": default_from,
        "env": env,
        "validate_items": validate_items,
        "internal": internal,
    }
    if default is dataclasses.MISSING:
        return field(metadata=metadata)
    if isinstance(default, list | dict | set):
        raise TypeError("use an immutable default (tuple, frozenset)")
    return field(default=default, metadata=metadata)


@dataclass_transform(frozen_default=True, field_specifiers=(setting, dataclasses.field))
def section(cls: type[_T]) -> type[_T]:
    """Declare a settings section: a frozen dataclass whose fields use :func:`setting`."""
    return dataclass(frozen=True)(cls)


# --------------------------------------------------------------------------
# Field checks


def _check_timezone(value: str, ctx: _Context) -> str:
    if zone_info(value) is None:
        suggestion = _closest(value, _timezone_names())
        if suggestion:
            raise Invalid("config.timezone_unknown_suggest", value=value, suggestion=suggestion)
        raise Invalid("config.timezone_unknown", value=value)
    return value


def _check_guild_id(value: int, ctx: _Context) -> int:
    if not 1 <= value <= _MAX_SNOWFLAKE:
        raise Invalid("config.guild_id")
    return value


def _check_database_url(value: str, ctx: _Context) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in value:
        raise Invalid("config.database_url_invalid")
    scheme = value.split("://", 1)[0].lower()
    if scheme not in (SQLITE_DRIVER, POSTGRES_DRIVER):
        family = scheme.split("+", 1)[0]
        if family in ("postgresql", "postgres"):
            raise Invalid("config.database_scheme_use", scheme=scheme, expected=POSTGRES_DRIVER)
        if family == "sqlite":
            raise Invalid("config.database_scheme_use", scheme=scheme, expected=SQLITE_DRIVER)
        raise Invalid("config.database_scheme", scheme=scheme)
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise Invalid("config.database_url_invalid") from None
    if url.drivername == POSTGRES_DRIVER and not url.host:
        raise Invalid("config.database_host_missing")
    if url.drivername == SQLITE_DRIVER:
        database = url.database or ""
        # A relative SQLite path in the file means "next to the config file",
        # not "wherever the bot happens to be started from".
        if (
            ctx.resolve_relative
            and database
            and database != ":memory:"
            and not database.startswith("file:")
            and not Path(database).is_absolute()
        ):
            return url.set(database=str(ctx.base_dir / database)).render_as_string(
                hide_password=False
            )
    return value


def _check_nonblank(value: str, ctx: _Context) -> str:
    if not value.strip():
        raise Invalid("config.blank")
    return value


def _check_role_name(value: str, ctx: _Context) -> str:
    _check_nonblank(value, ctx)
    if value.strip().lower() in ("@everyone", "@here", "everyone", "here"):
        raise Invalid("config.role_reserved", value=value)
    return value


def _check_text_channel(value: str, ctx: _Context) -> str:
    if _is_text_channel_name(value):
        return value
    suggestion = _channel_suggestion(value)
    if suggestion:
        raise Invalid("config.channel_name_suggest", value=value, suggestion=suggestion)
    raise Invalid("config.channel_name", value=value)


def _is_text_channel_name(value: str) -> bool:
    return (
        1 <= len(value) <= 100
        and value == value.lower()
        and all(ch.isalnum() or ch in "-_" for ch in value)
    )


def _channel_suggestion(value: str) -> str:
    text = re.sub(r"\s+", "-", value.strip().lower())
    text = "".join(ch for ch in text if ch.isalnum() or ch in "-_")
    text = re.sub(r"-{2,}", "-", text).strip("-")[:100]
    return text if _is_text_channel_name(text) else ""


def _check_slug(value: str, ctx: _Context) -> str:
    if not _SLUG.fullmatch(value):
        raise Invalid("config.slug", value=value)
    return value


def _check_feature(value: str, ctx: _Context) -> str:
    if value in PHASE_FEATURES:
        return value
    known = ", ".join(sorted(PHASE_FEATURES))
    suggestion = _closest(value, PHASE_FEATURES)
    if suggestion:
        raise Invalid("config.feature_unknown_suggest", value=value, suggestion=suggestion)
    raise Invalid("config.feature_unknown", value=value, known=known)


def _default_database_url(ctx: _Context) -> str:
    return f"{SQLITE_DRIVER}:///{ctx.base_dir}/{DEFAULT_DATABASE_FILE}"


# --------------------------------------------------------------------------
# Sections


@section
class EventSettings:
    """[event]: what the hackathon is and where it happens."""

    name: str = setting(min_len=1, max_len=100, check=_check_nonblank)
    guild_id: int = setting(check=_check_guild_id)
    timezone: str = setting("UTC", check=_check_timezone)
    language: Literal["en", "fr"] = setting("en")

    @property
    def tz(self) -> ZoneInfo:
        return zone_info(self.timezone) or ZoneInfo(self.timezone)


@section
class DatabaseSettings:
    """[database]: where the bot keeps its state."""

    url: str = setting(
        check=_check_database_url, default_from=_default_database_url, env=DATABASE_URL_ENV
    )
    auto_migrate: bool = setting(True)

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"


@section
class RoleSettings:
    """[roles]: names of the Discord roles the bot creates or adopts."""

    organiser: str = setting("Organiser", min_len=1, max_len=100, check=_check_role_name)
    mentor: str = setting("Mentor", min_len=1, max_len=100, check=_check_role_name)
    judge: str = setting("Judge", min_len=1, max_len=100, check=_check_role_name)
    participant: str = setting("Participant", min_len=1, max_len=100, check=_check_role_name)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        # Each role grants different permissions; two purposes sharing one
        # Discord role would silently merge them. Discord role names are
        # case-sensitive, but "Judge" and "judge" would confuse everybody.
        _require_distinct(values, path, ctx, fold=str.casefold)


@section
class ChannelSettings:
    """[channels]: names of the channels the bot creates or adopts."""

    announcements: str = setting("announcements", check=_check_text_channel)
    help_queue: str = setting("help-queue", check=_check_text_channel)
    organisers: str = setting("organisers", check=_check_text_channel)
    team_category: str = setting("Teams", min_len=1, max_len=100, check=_check_nonblank)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        # The organisers' channel is private and the announcements channel is
        # read-only: one channel cannot be both.
        text = ("announcements", "help_queue", "organisers")
        _require_distinct({k: v for k, v in values.items() if k in text}, path, ctx)


@section
class TeamSettings:
    """[teams]: team size limits and what each team gets."""

    # 25 is the most a Discord select menu can list, and the team panels list members.
    min_size: int = setting(2, min=1, max=25)
    max_size: int = setting(5, min=1, max=25)
    voice_channels: bool = setting(False)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        low, high = values.get("min_size"), values.get("max_size")
        if low is not None and high is not None and high < low:
            ctx.problem(
                _join(path, "max_size"),
                "config.less_than_other",
                other=_join(path, "min_size"),
                other_value=low,
            )


@section
class FormationSettings:
    """[formation]: how teams form and where they live on Discord."""

    # Team names: at most this many characters (Discord channel names allow 100).
    name_max_length: int = setting(32, min=8, max=80)
    # Whether a new team lets anyone join directly (true) or asks its members first (false).
    open_by_default: bool = setting(False)
    # Channels (of Discord's 500 per server) kept free for the organisers; past that,
    # new teams get a private thread in the hub channel instead of their own channel.
    channel_headroom: int = setting(50, min=0, max=450)
    # The channel that holds team threads once channels run short.
    hub_channel: str = setting("team-hub", check=_check_text_channel)
    # Where /lft and /team recruit cards are posted.
    board_channel: str = setting("team-board", check=_check_text_channel)
    # Minutes a member waits between two cards on the board, between two join requests
    # to the same team (or two invitations of the same person by a team), and before
    # creating a team after one you created was left empty (each is a new private channel).
    card_cooldown_minutes: int = setting(30, min=0, max=1440)
    request_cooldown_minutes: int = setting(10, min=0, max=1440)
    create_cooldown_minutes: int = setting(10, min=0, max=1440)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        _require_distinct(
            {k: v for k, v in values.items() if k in ("hub_channel", "board_channel")}, path, ctx
        )


def _check_profile_type(value: str, ctx: _Context) -> str:
    _check_nonblank(value, ctx)
    return value.strip()


def _check_language_code(value: str, ctx: _Context) -> str:
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", value):
        raise Invalid("config.language_code", value=value)
    return value


def _check_select_list(limit: int) -> Callable[[dict[str, Any], str, str, _Context], None]:
    def check(values: dict[str, Any], path: str, name: str, ctx: _Context) -> None:
        items = values.get(name)
        if items is None:
            return
        if not items:
            ctx.problem(_join(path, name), "config.list_empty")
        elif len(items) > limit:
            ctx.problem(_join(path, name), "config.list_too_long", max=limit, count=len(items))
        seen: set[str] = set()
        for item in items:
            if item.casefold() in seen:
                ctx.problem(_join(path, name), "config.list_duplicate", value=item)
            seen.add(item.casefold())

    return check


#: The profile types offered at registration unless the config lists others.
DEFAULT_PROFILE_TYPES: tuple[str, ...] = (
    "developer",
    "design",
    "product",
    "marketing and communication",
    "data",
    "domain expert",
    "other",
)


@section
class RegistrationSettings:
    """[registration]: how people register and what their profile holds."""

    # open: anyone may register; email: the address they type must be in the imported
    # registrant list; code: the personal code from that list (handed out by organisers).
    mode: Literal["open", "email", "code"] = setting("open")
    # Profile types offered (a select menu: 1 to 25). The defaults are translated;
    # other names are shown as written.
    profile_types: tuple[str, ...] = setting(
        DEFAULT_PROFILE_TYPES, min_len=1, max_len=80, check=_check_profile_type
    )
    # Languages participants may say they speak (codes such as "en", "fr", "de"; 1 to 25).
    languages: tuple[str, ...] = setting(
        ("en", "fr", "de", "es", "it", "pt", "nl", "ar"), check=_check_language_code
    )
    # Whether a new registrant is, by default, placed in a team by /admin teams autoform.
    autoform_by_default: bool = setting(True)
    # Whether the participant role comes from Discord's member onboarding (bot/onboarding.py):
    # at set-up the bot adds a question whose answer gives the role, which Discord then
    # gives at once, outside the bot's limit of about 10 role changes per 10 s. Anyone who
    # answers gets the role (channel access), registered or not; commands check the
    # database. Needs a Community server, onboarding enabled by an organiser, and the
    # Manage Server permission.
    onboarding: bool = setting(False)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        _check_select_list(25)(values, path, "profile_types", ctx)
        _check_select_list(25)(values, path, "languages", ctx)


def _check_theme(value: str, ctx: _Context) -> str:
    _check_nonblank(value, ctx)
    if value != value.strip():
        raise Invalid("config.problems.theme_spaces", value=value)
    return value


#: Discord allows 20 tags on a forum channel; each problem theme is one tag.
MAX_PROBLEM_THEMES = 20


@section
class ProblemSettings:
    """[problems]: the problem-statement funnel (issue 5)."""

    # Who may use /problem submit: registered participants, or anyone in the server.
    submitters: Literal["participants", "anyone"] = setting("participants")
    # Themes a statement is filed under; each becomes a tag of the forum (Discord: 20 tags, 20 chars).
    themes: tuple[str, ...] = setting((), min_len=1, max_len=20, check=_check_theme)
    forum: str = setting("problem-statements", check=_check_text_channel)
    # Seconds a member waits between two statements (0: no wait).
    cooldown_seconds: int = setting(120, min=0, max=86_400)
    # At most this many statement posts stay active (the guild shares 1000 active threads
    # among all features); older ones are archived, still listed and readable in the forum.
    max_active_posts: int = setting(300, min=10, max=900)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        themes = values.get("themes")
        if not isinstance(themes, tuple):
            return
        if len(themes) > MAX_PROBLEM_THEMES:
            ctx.problem(
                _join(path, "themes"),
                "config.problems.too_many_themes",
                max=MAX_PROBLEM_THEMES,
                count=len(themes),
            )
        seen: set[str] = set()
        for theme in themes:
            if theme.casefold() in seen:
                ctx.problem(_join(path, "themes"), "config.problems.theme_duplicate", value=theme)
            seen.add(theme.casefold())


@section
class ChallengeSettings:
    """[challenges]: where challenges live on Discord (issue 5)."""

    # Challenge channels go in this category; "<name> 2", "<name> 3"... when one holds 50.
    category: str = setting("Challenges", min_len=1, max_len=90, check=_check_nonblank)
    # When the server runs short of channels, challenges become posts in this forum.
    forum: str = setting("challenges", check=_check_text_channel)
    # Channel slots (of Discord's 500) always left free for other features: with fewer free
    # slots, a new challenge gets a forum post instead of a channel.
    channel_reserve: int = setting(50, min=0, max=450)
    # Give each challenge a role that its Follow button hands out (mentionable by organisers'
    # broadcasts); skipped when the server is within role_reserve of Discord's 250 roles.
    roles: bool = setting(True)
    role_reserve: int = setting(50, min=0, max=240)


@section
class TimelineSettings:
    """[timeline]: deadline reminders, the countdown, the scheduled-events mirror."""

    # Minutes before each deadline at which a reminder is posted (24 h, 1 h, 15 min).
    reminder_offsets_minutes: tuple[int, ...] = setting((1440, 60, 15), min=1, max=20160)
    # A phase end is a deadline when it closes one of these (open now, not open right after).
    deadlines: frozenset[str] = setting(
        frozenset({"registration", "new_teams", "team_changes", "submissions"}),
        check=_check_feature,
    )
    # Which role the reminders and phase announcements ping in the announcements channel.
    reminder_ping: Literal["participant", "everyone", "none"] = setting("participant")
    # Announce what opened and closed at every phase change.
    announce_changes: bool = setting(True)
    # Keep a pinned countdown message in the announcements channel.
    countdown: bool = setting(True)
    # Mirror the phases as Discord scheduled events (at most this many not yet ended).
    scheduled_events: bool = setting(True)
    scheduled_events_max: int = setting(20, min=1, max=100)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        offsets = values.get("reminder_offsets_minutes")
        if offsets is not None and len(set(offsets)) != len(offsets):
            repeated = next(o for o in offsets if offsets.count(o) > 1)
            ctx.problem(
                _join(path, "reminder_offsets_minutes"),
                "config.reminder_offset_repeated",
                value=repeated,
            )


@section
class BroadcastSettings:
    """[broadcasts]: how fast a message to many channels goes out."""

    # Writes per second the bot makes on its own, fan-outs included (the outbox's pace under
    # Discord's global limit of 50 requests per second for the whole bot; interaction
    # answers do not count; the rest is left for other work). 45 keeps a 1,500-space
    # fan-out within 1.2x the 30 s the global limit allows.
    max_per_second: int = setting(45, min=1, max=45)
    # How often the organiser's progress message is edited, in seconds.
    progress_every_seconds: int = setting(2, min=1, max=60)


#: A modal holds at most 5 inputs; the first step (title, pitch, description, repository,
#: demo) fills one, so extra fields get a second modal of their own.
MAX_SUBMISSION_FIELDS = 5
#: Each criterion is one select menu on the judge's card; Discord allows 5 rows and the
#: buttons (submit, skip, flag) take one.
MAX_JUDGING_CRITERIA = 4


@section
class SubmissionSettings:
    """[submissions]: project submissions and the gallery (issue 7)."""

    # The forum where every submitted project gets a post (created if missing).
    gallery_forum: str = setting("gallery", check=_check_text_channel)
    # Seconds after the deadline during which a submission still counts as on time.
    grace_seconds: int = setting(0, min=0, max=3600)
    # After the deadline and its grace: refuse, or accept and flag it late for the organisers.
    late_policy: Literal["refuse", "accept_flagged"] = setting("refuse")
    # Whether the repository link is required, and the demo or video link.
    require_repo: bool = setting(True)
    require_demo: bool = setting(False)
    # Minutes a team gets when an organiser reopens its submission after the deadline.
    reopen_minutes: int = setting(30, min=1, max=10080)
    # At most this many gallery posts stay active (the server shares about 1,000 active
    # threads among all features); the least recently updated are archived, still readable.
    gallery_active_posts: int = setting(300, min=10, max=900)


def _check_field_key(value: str, ctx: _Context) -> str:
    if not re.fullmatch(r"[a-z0-9_]{1,32}", value):
        raise Invalid("config.field_key", value=value)
    return value


@section
class SubmissionFieldSettings:
    """One [[submission_fields]] entry: an extra question of the submission form."""

    key: str = setting(check=_check_field_key)
    # What the form shows (a Discord modal label: at most 45 characters), as written.
    label: str = setting(min_len=1, max_len=45, check=_check_nonblank)
    required: bool = setting(False)
    max_length: int = setting(300, min=1, max=1000)
    # "text" (one line), "paragraph" (several lines) or "url" (checked like the other links).
    kind: Literal["text", "paragraph", "url"] = setting("text")


def _validate_submission_fields(
    items: list[dict[str, Any] | None], path: str, ctx: _Context
) -> None:
    if len(items) > MAX_SUBMISSION_FIELDS:
        ctx.problem(
            path, "config.submissions.too_many_fields", max=MAX_SUBMISSION_FIELDS, count=len(items)
        )
    seen: set[str] = set()
    for index, values in enumerate(items):
        key = (values or {}).get("key")
        if key is None:
            continue
        if key in seen:
            ctx.problem(f"{path}[{index}].key", "config.list_duplicate", value=key)
        seen.add(key)


@section
class JudgingSettings:
    """[judging]: how projects are judged and awarded (issue 7)."""

    # "rubric": judges score each project on the criteria; "pairwise": judges compare the
    # project in front of them with the previous one (Crowd Bradley-Terry, for large events).
    mode: Literal["rubric", "pairwise"] = setting("rubric")
    # Round 1 judges every project; each later round judges the shortlist of the previous one.
    rounds: int = setting(1, min=1, max=3)
    # How many projects a shortlist carries into the next round.
    shortlist_size: int = setting(10, min=2, max=200)
    # Rubric: scores go from 1 to this value.
    scale_max: int = setting(5, min=2, max=10)
    # Rubric: how many judges should review each project (assignment aims for it).
    reviews_per_project: int = setting(3, min=1, max=20)
    # Finalists and winners per challenge, and winners overall.
    finalists_per_challenge: int = setting(3, min=1, max=20)
    winners_per_challenge: int = setting(1, min=0, max=5)
    winners_overall: int = setting(3, min=0, max=10)
    # Seconds between two winners at the ceremony (0: an organiser reveals each with a button).
    ceremony_interval_seconds: int = setting(30, min=0, max=3600)


@section
class CriterionSettings:
    """One [[judging_criteria]] entry: a rubric criterion."""

    key: str = setting(check=_check_field_key)
    # What judges read (a select placeholder: at most 100 characters), as written.
    name: str = setting(min_len=1, max_len=100, check=_check_nonblank)
    weight: float = setting(1.0)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        weight = values.get("weight")
        if weight is not None and not 0 < weight <= 100:
            ctx.problem(_join(path, "weight"), "config.judging.weight")


def _validate_criteria(items: list[dict[str, Any] | None], path: str, ctx: _Context) -> None:
    if len(items) > MAX_JUDGING_CRITERIA:
        ctx.problem(
            path, "config.judging.too_many_criteria", max=MAX_JUDGING_CRITERIA, count=len(items)
        )
    seen: set[str] = set()
    for index, values in enumerate(items):
        key = (values or {}).get("key")
        if key is None:
            continue
        if key in seen:
            ctx.problem(f"{path}[{index}].key", "config.list_duplicate", value=key)
        seen.add(key)


#: Topics offered by /help ask unless the config lists others (challenges are offered too).
DEFAULT_HELP_TOPICS: tuple[str, ...] = (
    "python",
    "javascript",
    "web",
    "mobile",
    "data",
    "machine learning",
    "design",
    "cloud",
    "hardware",
    "pitch",
    "other",
)


def _check_help_topic(value: str, ctx: _Context) -> str:
    _check_nonblank(value, ctx)
    if any(ch in value for ch in "@<>"):
        raise Invalid("config.help.topic_mention", value=value)
    return " ".join(value.split()).lower()


@section
class HelpSettings:
    """[help]: the mentor help queue (issue 6)."""

    # How many tickets one mentor may hold at once.
    max_tickets_per_mentor: int = setting(1, min=1, max=10)
    # Minutes a ticket waits unclaimed before each escalation step: every step but the last
    # pings more mentors on duty (any skill), the last pings the organisers. () for none.
    escalation_minutes: tuple[int, ...] = setting((10, 20), min=1, max=1440)
    # At most this many mentors are pinged by one step (rotating fairly among those who fit).
    pings_per_step: int = setting(10, min=1, max=25)
    # A claimed ticket whose mentor neither resolves it nor presses "Still helping" within
    # this many minutes goes back to the queue.
    idle_claim_minutes: int = setting(45, min=5, max=1440)
    # A ticket waiting unclaimed this long closes, with a message to the team.
    expiry_minutes: int = setting(120, min=10, max=2880)
    # Topics /help ask offers (besides the challenges); mentors' skills are matched against them.
    topics: tuple[str, ...] = setting(
        DEFAULT_HELP_TOPICS, min_len=1, max_len=50, check=_check_help_topic
    )
    # Minutes a team waits between two asks.
    ask_cooldown_minutes: int = setting(5, min=0, max=1440)
    # A team's queue position message is edited at most once per this many seconds.
    status_update_seconds: int = setting(60, min=10, max=3600)

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        _check_select_list(25)(values, path, "topics", ctx)
        steps = values.get("escalation_minutes")
        if steps and any(later <= earlier for earlier, later in pairwise(steps)):
            ctx.problem(_join(path, "escalation_minutes"), "config.help.escalation_order")
        expiry = values.get("expiry_minutes")
        if steps and expiry is not None and steps[-1] >= expiry:
            ctx.problem(
                _join(path, "escalation_minutes"),
                "config.help.escalation_after_expiry",
                expiry=expiry,
            )


@section
class LoggingSettings:
    """[logging]: how much the bot writes to its log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting("INFO")


@section
class BackupSettings:
    """[backup]: automatic copies of the SQLite database while the bot runs."""

    # Take a backup every this many minutes while the bot runs (SQLite only).
    enabled: bool = setting(True)
    interval_minutes: int = setting(60, min=5, max=1440)
    # Where the copies go; a relative path is taken from the config file's folder.
    directory: str = setting("backups", min_len=1, max_len=500, check=_check_nonblank)
    # How many copies to keep (the oldest are deleted).
    keep: int = setting(24, min=1, max=1000)


@section
class PhaseSettings:
    """One [[phases]] entry. ``start``/``end`` are aware UTC datetimes.

    A phase without ``end`` lasts until the next phase starts (the last one,
    until the bot stops). Gaps between phases are allowed: nothing is open.
    """

    key: str = setting(check=_check_slug)
    name: str = setting(min_len=1, max_len=100, check=_check_nonblank)
    start: datetime = setting()
    end: datetime | None = setting(None)
    opens: frozenset[str] = setting(frozenset(), check=_check_feature)

    def is_open(self, feature: str) -> bool:
        return feature in self.opens

    @classmethod
    def validate(cls, values: dict[str, Any], path: str, ctx: _Context) -> None:
        start, end = values.get("start"), values.get("end")
        if start is not None and end is not None and end <= start:
            ctx.problem(_join(path, "end"), "config.end_before_start", start=ctx.local_text(start))
        opens = values.get("opens") or frozenset()
        if "new_teams" in opens and "team_changes" not in opens:
            ctx.problem(_join(path, "opens"), "config.new_teams_without_team_changes")


def _new_teams_follow_team_changes(
    phases: tuple[PhaseSettings, ...],
) -> tuple[PhaseSettings, ...]:
    """A timeline that never mentions ``new_teams`` (written before it existed) lets teams be
    created wherever ``team_changes`` is open, as it always did."""
    if any("new_teams" in phase.opens for phase in phases):
        return phases
    return tuple(
        dataclasses.replace(phase, opens=phase.opens | {"new_teams"})
        if "team_changes" in phase.opens
        else phase
        for phase in phases
    )


def _validate_phases(items: list[dict[str, Any] | None], path: str, ctx: _Context) -> None:
    """Phase keys are unique; phases are in chronological order and do not overlap."""
    seen: dict[str, int] = {}
    previous: tuple[int, dict[str, Any]] | None = None
    for index, values in enumerate(items):
        if values is None:
            continue
        here = f"{path}[{index}]"
        key = values.get("key")
        if key is not None:
            if key in seen:
                ctx.problem(
                    f"{here}.key",
                    "config.duplicate_phase_key",
                    value=key,
                    other=f"{path}[{seen[key]}].key",
                )
            else:
                seen[key] = index
        start = values.get("start")
        if start is None:
            continue
        if previous is not None:
            before_index, before = previous
            there = f"{path}[{before_index}]"
            if start <= before["start"]:
                ctx.problem(
                    f"{here}.start",
                    "config.phase_order",
                    other=f"{there}.start",
                    other_value=ctx.local_text(before["start"]),
                )
            elif before.get("end") is not None and start < before["end"]:
                ctx.problem(
                    f"{here}.start",
                    "config.phase_overlap",
                    other=f"{there}.end",
                    other_value=ctx.local_text(before["end"]),
                )
        previous = (index, values)


@section
class Settings:
    """Everything the bot reads from its configuration file. Times are UTC."""

    event: EventSettings
    database: DatabaseSettings = setting()
    roles: RoleSettings = setting()
    channels: ChannelSettings = setting()
    teams: TeamSettings = setting()
    registration: RegistrationSettings = setting()
    formation: FormationSettings = setting()
    problems: ProblemSettings = setting()
    challenges: ChallengeSettings = setting()
    logging: LoggingSettings = setting()
    backup: BackupSettings = setting()
    timeline: TimelineSettings = setting()
    broadcasts: BroadcastSettings = setting()
    help: HelpSettings = setting()
    submissions: SubmissionSettings = setting()
    judging: JudgingSettings = setting()
    submission_fields: tuple[SubmissionFieldSettings, ...] = setting(
        (), validate_items=_validate_submission_fields
    )
    judging_criteria: tuple[CriterionSettings, ...] = setting((), validate_items=_validate_criteria)
    phases: tuple[PhaseSettings, ...] = setting((), validate_items=_validate_phases)
    config_path: Path | None = setting(None, internal=True)
    base_dir: Path = setting(Path("."), internal=True)

    def phase(self, key: str) -> PhaseSettings:
        for phase in self.phases:
            if phase.key == key:
                return phase
        raise KeyError(key)


# --------------------------------------------------------------------------
# The loader


@dataclass
class _Context:
    base_dir: Path
    env: Mapping[str, str]
    tz: tzinfo = UTC
    resolve_relative: bool = True
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, key: str, **params: Any) -> None:
        self.problems.append(Problem(path, key, params))

    def local_text(self, moment: datetime) -> str:
        """A UTC moment written back in the event's time, as the organiser wrote it."""
        return moment.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M")


class _Missing:
    """Marks a value that could not be converted (its problems are recorded)."""


_INVALID = _Missing()


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _config_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def _has_default(f: dataclasses.Field[Any], tp: Any) -> bool:
    return (
        f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
        or f.metadata.get("default_from") is not None
        or _is_optional_section(tp)
    )


def _is_optional_section(tp: Any) -> bool:
    """A section whose fields all have defaults may be left out of the file."""
    if not dataclasses.is_dataclass(tp):
        return False
    hints = _type_hints(tp)
    return all(_has_default(f, hints[f.name]) for f in _config_fields(tp))


def _is_token_key(key: str) -> bool:
    lowered = key.lower()
    return lowered == "token" or lowered.endswith("_token")


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    candidates = list(candidates)
    by_fold = {c.casefold(): c for c in candidates}
    if word.casefold() in by_fold:
        return by_fold[word.casefold()]
    match = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=0.6)
    return by_fold[match[0]] if match else None


class _Loader:
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    # -- tables -------------------------------------------------------------

    def table(self, cls: type, data: Any, path: str) -> tuple[Any, dict[str, Any] | None]:
        """Convert ``data`` into ``cls``. Returns (instance or _INVALID, valid field values)."""
        if not isinstance(data, dict):
            self.wrong_type(path, data, "config.type.table")
            return _INVALID, None
        hints = _type_hints(cls)
        fields = _config_fields(cls)
        names = [f.name for f in fields]
        for key in data:
            if key not in names:
                self.unknown(path, key, data[key], names)
        values: dict[str, Any] = {}
        ok = True
        for f in fields:
            value = self.field_value(f, hints[f.name], data, path)
            if value is _INVALID:
                ok = False
            else:
                values[f.name] = value
        validate = getattr(cls, "validate", None)
        if validate is not None:
            validate(values, path, self.ctx)
        if not ok:
            return _INVALID, values
        return cls(**values), values

    def field_value(
        self, f: dataclasses.Field[Any], tp: Any, data: dict[str, Any], path: str
    ) -> Any:
        here = _join(path, f.name)
        env_name = f.metadata.get("env")
        if env_name and self.ctx.env.get(env_name):
            # The environment wins over the file; problems name the variable.
            saved = self.ctx.resolve_relative
            self.ctx.resolve_relative = False
            try:
                return self.convert(self.ctx.env[env_name], tp, f.metadata, env_name)
            finally:
                self.ctx.resolve_relative = saved
        if f.name in data:
            return self.convert(data[f.name], tp, f.metadata, here)
        if f.metadata.get("default_from") is not None:
            return f.metadata["default_from"](self.ctx)
        if f.default is not dataclasses.MISSING:
            return f.default
        if f.default_factory is not dataclasses.MISSING:
            return f.default_factory()
        if dataclasses.is_dataclass(tp):
            # An absent table means "all defaults"; if some keys are required,
            # each is reported as missing, which says more than "no [event]".
            return self.table(tp, {}, here)[0]
        self.ctx.problem(here, "config.missing")
        return _INVALID

    def unknown(self, path: str, key: str, value: Any, names: list[str]) -> None:
        here = _join(path, key)
        if _is_token_key(key):
            self.ctx.problem(here, "config.token", env=TOKEN_ENV)
            return
        suggestion = _closest(key, names)
        if suggestion:
            self.ctx.problem(here, "config.unknown_key_suggest", suggestion=_join(path, suggestion))
        else:
            self.ctx.problem(here, "config.unknown_key", known=", ".join(names))
        self.find_tokens(value, here)

    def find_tokens(self, value: Any, path: str) -> None:
        """A token hidden under an unknown table is still a token: say so."""
        if isinstance(value, dict):
            for key, inner in value.items():
                here = _join(path, key)
                if _is_token_key(key):
                    self.ctx.problem(here, "config.token", env=TOKEN_ENV)
                else:
                    self.find_tokens(inner, here)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                self.find_tokens(inner, f"{path}[{index}]")

    # -- values -------------------------------------------------------------

    def convert(self, value: Any, tp: Any, meta: Mapping[str, Any], path: str) -> Any:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            # TOML has no null, so "X | None" only means "may be left out".
            (inner,) = [a for a in args if a is not type(None)]
            return self.convert(value, inner, meta, path)
        if origin is Literal:
            if not isinstance(value, str):
                self.wrong_type(path, value, "config.type.string")
                return _INVALID
            if value not in args:
                self.ctx.problem(path, "config.choice", value=value, choices=_choices(args))
                return _INVALID
            return value
        if origin in (tuple, frozenset, list):
            return self.sequence(value, origin, args[0], meta, path)
        if dataclasses.is_dataclass(tp):
            return self.table(tp, value, path)[0]
        if tp is datetime:
            return self.moment(value, path)
        return self.scalar(value, tp, meta, path)

    def sequence(
        self, value: Any, origin: Any, item_type: Any, meta: Mapping[str, Any], path: str
    ) -> Any:
        is_tables = dataclasses.is_dataclass(item_type)
        if not isinstance(value, list):
            expected = "config.type.list_of_tables" if is_tables else _list_term(item_type)
            self.wrong_type(path, value, expected)
            return _INVALID
        items: list[Any] = []
        partial: list[dict[str, Any] | None] = []
        ok = True
        for index, item in enumerate(value):
            if is_tables:
                converted, values = self.table(item_type, item, f"{path}[{index}]")
                partial.append(values)
            else:
                # Problems with a plain item name the list; the message quotes the item.
                converted = self.convert(item, item_type, meta, path)
            if converted is _INVALID:
                ok = False
            else:
                items.append(converted)
        validate_items = meta.get("validate_items")
        if validate_items is not None:
            validate_items(partial, path, self.ctx)
        if not ok:
            return _INVALID
        return frozenset(items) if origin is frozenset else tuple(items)

    def scalar(self, value: Any, tp: Any, meta: Mapping[str, Any], path: str) -> Any:
        if tp is bool:
            good = type(value) is bool
        elif tp is int:
            good = type(value) is int
        elif tp is float:
            good = type(value) in (int, float)
        elif tp is str:
            good = isinstance(value, str)
        else:  # pragma: no cover - a programming error in a section definition
            raise TypeError(f"{path}: unsupported setting type {tp!r}")
        if not good:
            self.wrong_type(path, value, _TYPE_TERMS[tp])
            return _INVALID
        if tp is float:
            value = float(value)
        if isinstance(value, str):
            if meta.get("min_len") and not value:
                self.ctx.problem(path, "config.blank")
                return _INVALID
            if meta.get("min_len") is not None and len(value) < meta["min_len"]:
                self.ctx.problem(path, "config.too_short", min=meta["min_len"])
                return _INVALID
            if meta.get("max_len") is not None and len(value) > meta["max_len"]:
                self.ctx.problem(path, "config.too_long", max=meta["max_len"], length=len(value))
                return _INVALID
        else:
            if meta.get("min") is not None and value < meta["min"]:
                self.ctx.problem(path, "config.too_small", min=meta["min"])
                return _INVALID
            if meta.get("max") is not None and value > meta["max"]:
                self.ctx.problem(path, "config.too_large", max=meta["max"])
                return _INVALID
        check = meta.get("check")
        if check is not None:
            try:
                value = check(value, self.ctx)
            except Invalid as exc:
                self.ctx.problem(path, exc.key, **exc.params)
                return _INVALID
        return value

    def moment(self, value: Any, path: str) -> Any:
        """A phase time: ISO 8601 text or a TOML date-time, local to the event or with an offset."""
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                self.ctx.problem(path, "config.date_only", value=text)
                return _INVALID
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                self.ctx.problem(path, "config.datetime_invalid", value=value)
                return _INVALID
        elif isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            self.ctx.problem(path, "config.date_only", value=value.isoformat())
            return _INVALID
        else:
            self.wrong_type(path, value, "config.type.datetime")
            return _INVALID
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        return self.local_to_utc(parsed, path)

    def local_to_utc(self, local: datetime, path: str) -> Any:
        tz = self.ctx.tz
        first = local.replace(tzinfo=tz, fold=0)
        second = local.replace(tzinfo=tz, fold=1)
        shown = local.strftime("%Y-%m-%dT%H:%M")
        name = str(tz)
        # A wall time in the spring-forward gap does not survive a round trip.
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
            self.ctx.problem(path, "config.time_nonexistent", value=shown, timezone=name)
            return _INVALID
        if first.utcoffset() != second.utcoffset():
            self.ctx.problem(path, "config.time_ambiguous", value=shown, timezone=name)
            return _INVALID
        return first.astimezone(UTC)

    def wrong_type(self, path: str, value: Any, expected: str) -> None:
        self.ctx.problem(
            path, "config.wrong_type", expected=Term(expected), got=Term(_type_term(value))
        )


_TYPE_TERMS: dict[Any, str] = {
    bool: "config.type.boolean",
    int: "config.type.integer",
    float: "config.type.number",
    str: "config.type.string",
}


def _type_term(value: Any) -> str:
    if type(value) is bool:
        return "config.type.boolean"
    if isinstance(value, int):
        return "config.type.integer"
    if isinstance(value, float):
        return "config.type.number"
    if isinstance(value, str):
        return "config.type.string"
    if isinstance(value, datetime):
        return "config.type.datetime"
    if isinstance(value, date):
        return "config.type.date"
    if isinstance(value, time):
        return "config.type.time"
    if isinstance(value, list):
        return "config.type.list"
    if isinstance(value, dict):
        return "config.type.table"
    return "config.type.other"


def _list_term(item_type: Any) -> str:
    if item_type is str or typing.get_origin(item_type) is Literal:
        return "config.type.list_of_strings"
    return "config.type.list"


def _choices(options: Iterable[Any]) -> str:
    return ", ".join(f'"{option}"' for option in options)


def _require_distinct(
    values: Mapping[str, Any],
    path: str,
    ctx: _Context,
    fold: Callable[[str], str] = lambda s: s,
) -> None:
    seen: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        folded = fold(value)
        if folded in seen:
            ctx.problem(
                _join(path, name),
                "config.duplicate_value",
                value=value,
                other=_join(path, seen[folded]),
            )
        else:
            seen[folded] = name


@lru_cache(maxsize=1024)
def zone_info(name: str) -> ZoneInfo | None:
    """The zone called ``name``, None if there is none. Kept: ``ZoneInfo`` itself keeps only
    the last 8 zones, and reading one from the tz database costs ~100 µs (the time zone
    autocomplete lists 25 at a time)."""
    if not name or name != name.strip():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def _timezone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _peek(data: Any, section: str, key: str) -> Any:
    table = data.get(section) if isinstance(data, dict) else None
    return table.get(key) if isinstance(table, dict) else None


def _peek_timezone(data: Any) -> tzinfo:
    """The event's time zone, if it is valid, so phase times can be read in it.

    An invalid time zone is reported by the walk itself; phases are then read
    as UTC so their other problems are still found.
    """
    name = _peek(data, "event", "timezone")
    if name is None:
        return UTC
    zone = zone_info(name) if isinstance(name, str) else None
    return zone if zone is not None else UTC


def _peek_language(data: Any) -> str:
    language = _peek(data, "event", "language")
    return language if language in ("en", "fr") else "en"


# --------------------------------------------------------------------------
# Public API


def settings_from_dict(
    data: Mapping[str, Any],
    base_dir: Path | str,
    *,
    config_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Check ``data`` (a parsed TOML document) and build :class:`Settings`.

    ``base_dir`` is where relative paths point, including the default SQLite
    file. ``env`` is consulted for overrides (``HACKBOT_DATABASE_URL``); by
    default none, so the result depends only on the arguments.
    Raises :class:`ConfigError` listing every problem.
    """
    base = Path(base_dir).resolve()
    ctx = _Context(base_dir=base, env=env or {}, tz=_peek_timezone(data))
    loader = _Loader(ctx)
    values = {}
    if isinstance(data, dict):
        _, values = loader.table(Settings, data, "")
    else:
        loader.wrong_type("", data, "config.type.table")
    if ctx.problems or values is None:
        raise ConfigError(ctx.problems, lang=_peek_language(data))
    if "phases" in values:
        values["phases"] = _new_teams_follow_team_changes(values["phases"])
    return Settings(**values, config_path=config_path, base_dir=base)


def load_settings(path: str | Path | None, env: Mapping[str, str] = os.environ) -> Settings:
    """Read and check a configuration file.

    ``path`` None means: the ``HACKBOT_CONFIG`` environment variable, else
    ``./hackbot.toml``. Raises :class:`ConfigError` when the file is missing,
    is not valid TOML (with line and column) or holds any problem.
    """
    if path is None:
        explicit = bool(env.get(CONFIG_ENV))
        path = Path(env[CONFIG_ENV]) if explicit else Path(DEFAULT_CONFIG_NAME)
        if not path.exists():
            key = "config.file_missing" if explicit else "config.file_missing_default"
            raise ConfigError([Problem("", key, {"path": str(path.absolute()), "env": CONFIG_ENV})])
    path = Path(path).absolute()
    data = _read_toml(path)
    return settings_from_dict(data, path.parent, config_path=path, env=env)


def check_config(path: str | Path | None, env: Mapping[str, str] = os.environ) -> list[Problem]:
    """Every problem with a configuration file; an empty list means it is usable."""
    try:
        load_settings(path, env)
    except ConfigError as exc:
        return list(exc.problems)
    return []


def default_config_dict() -> dict[str, Any]:
    """The smallest valid configuration: a demo event, every other setting default, no phases."""
    return {"event": {"name": "Demo Hackathon", "guild_id": 1}}


def config_keys() -> list[str]:
    """Every key a configuration file may hold, as paths (``phases[].start``)."""
    out: list[str] = []

    def walk(cls: type, prefix: str) -> None:
        hints = _type_hints(cls)
        for f in _config_fields(cls):
            tp = hints[f.name]
            here = _join(prefix, f.name)
            args = typing.get_args(tp)
            if dataclasses.is_dataclass(tp):
                walk(tp, here)
            elif typing.get_origin(tp) is tuple and args and dataclasses.is_dataclass(args[0]):
                walk(args[0], f"{here}[]")
            else:
                out.append(here)

    walk(Settings, "")
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    shown = str(path)
    if not path.exists():
        raise ConfigError([Problem("", "config.file_missing", {"path": shown, "env": CONFIG_ENV})])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    "", "config.file_unreadable", {"path": shown, "error": exc.strerror or str(exc)}
                )
            ]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [Problem("", "config.file_encoding", {"path": shown, "offset": exc.start})]
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column, detail = _toml_position(str(exc), text)
        raise ConfigError(
            [
                Problem(
                    "",
                    "config.toml_syntax",
                    {"path": shown, "line": line, "column": column, "detail": detail},
                )
            ]
        ) from None


def _toml_position(message: str, text: str) -> tuple[int, int, str]:
    """tomllib (3.11) puts the position in its message: "... (at line 3, column 8)"."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return int(found[1]), int(found[2]), message[: found.start()]
    found = re.search(r"\s*\(at end of document\)$", message)
    detail = message[: found.start()] if found else message
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1, detail
