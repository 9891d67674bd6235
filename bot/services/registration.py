"""Registration and profiles, and the optional registrant list.

* :func:`register` creates (or, for someone already registered, updates) a
  participant's profile after checking it (:func:`check_profile`) and, when the
  config asks, matching them against the imported registrant list (``email``:
  the address they type; ``code``: their personal code). One registrant row
  serves one participant.
* :func:`import_registrants` reads a CSV (``email``, ``name``, ``code`` columns,
  any order, comma or semicolon separated) and reports each row it could not use
  and why. E-mail addresses and codes are stored as SHA-256 digests of their
  normalised form: the bot can recognise them, never show them.
* :func:`skill_counts` feeds the skills autocomplete with what others use.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, zone_info
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound
from bot.models import AuditEntry, Member
from bot.models.challenges import Challenge
from bot.models.teams import Profile, Registrant
from bot.services import names
from bot.services.teams import REGISTRATION, cooldown_error, require_open

MAX_SKILLS = 15
MAX_SKILL_LENGTH = 30
MAX_WISHES = 3
DISPLAY_NAME_MAX = 32
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_OFFSET = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)

#: Time zones offered in the registration select (the event's own zone is added first).
COMMON_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Helsinki",
    "Europe/Moscow",
    "Africa/Casablanca",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "America/Montreal",
    "Indian/Reunion",
)


# --------------------------------------------------------------------------
# Secrets


def normalise_email(value: str) -> str:
    return value.strip().casefold()


def normalise_code(value: str) -> str:
    return re.sub(r"[\s-]+", "", value).upper()


def digest(kind: str, value: str) -> str:
    """SHA-256 of the normalised e-mail address or code (what is stored and compared)."""
    normal = normalise_email(value) if kind == "email" else normalise_code(value)
    return hashlib.sha256(f"{kind}:{normal}".encode()).hexdigest()


# --------------------------------------------------------------------------
# Time zones


def zone_offset(zone: str, now: datetime) -> int | None:
    """Minutes east of UTC for an IANA zone or a ``UTC+05:30`` offset at ``now``; None if unknown."""
    value = zone.strip()
    found = _OFFSET.fullmatch(value)
    if found:
        hours, minutes = int(found[2]), int(found[3] or 0)
        if hours > 14 or minutes >= 60:
            return None
        sign = -1 if found[1] == "-" else 1
        return sign * (hours * 60 + minutes)
    if value.upper() in ("UTC", "GMT"):
        return 0
    zone_found = zone_info(value)
    if zone_found is None:
        return None
    offset = now.astimezone(zone_found).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else None


def canonical_zone(zone: str, now: datetime) -> str:
    """The stored form: the IANA name, or ``UTC+05:30``. Raises InvalidInput when unknown."""
    value = zone.strip()
    offset = zone_offset(value, now)
    if offset is None:
        raise InvalidInput("registration.bad_timezone", value=value[:60])
    if _OFFSET.fullmatch(value) or value.upper() in ("UTC", "GMT"):
        return format_offset(offset)
    return value


def format_offset(minutes: int) -> str:
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(zone: str, now: datetime) -> str:
    offset = zone_offset(zone, now)
    if offset is None or zone.startswith("UTC"):
        return zone
    return f"{zone.replace('_', ' ')} ({format_offset(offset)})"


def zone_choices(event_zone: str, now: datetime) -> list[tuple[str, str]]:
    """(value, label) for the time-zone select: the event's zone first, at most 25."""
    zones = [event_zone, *(z for z in COMMON_ZONES if z != event_zone)][:25]
    return [(z, zone_label(z, now)) for z in zones]


# --------------------------------------------------------------------------
# Profiles


@dataclass
class ProfileInput:
    display_name: str
    profile_types: list[str]
    languages: list[str]
    timezone: str
    skills: list[str] = field(default_factory=list)


def parse_skills(text: str | list[str] | None) -> list[str]:
    """Free tags from "Python, UX research; data viz": trimmed, lowercase, no duplicates."""
    if not text:
        return []
    parts = text if isinstance(text, list) else re.split(r"[,;\n]", text)
    tags: list[str] = []
    for part in parts:
        tag = " ".join(str(part).split()).lower()
        if not tag:
            continue
        if names.invisible_characters(tag):
            raise InvalidInput("registration.skill_invisible", skill=tag[:MAX_SKILL_LENGTH])
        if "@" in tag or "<" in tag or ">" in tag:
            raise InvalidInput("registration.skill_mention", skill=tag[:MAX_SKILL_LENGTH])
        if len(tag) > MAX_SKILL_LENGTH:
            raise InvalidInput("registration.skill_too_long", skill=tag, max=MAX_SKILL_LENGTH)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_SKILLS:
        raise InvalidInput("registration.too_many_skills", max=MAX_SKILLS, count=len(tags))
    return tags


def check_profile(settings: Settings, data: ProfileInput, now: datetime) -> ProfileInput:
    """A checked, normalised copy of what the participant entered (or InvalidInput)."""
    display = names.clean_name(
        data.display_name, min_length=1, max_length=DISPLAY_NAME_MAX, what="display"
    )
    types = [t for t in settings.registration.profile_types if t in data.profile_types]
    if not types:
        raise InvalidInput("registration.no_profile_type")
    languages = [lang for lang in settings.registration.languages if lang in data.languages]
    if not languages:
        raise InvalidInput("registration.no_language")
    zone = canonical_zone(data.timezone or "UTC", now)
    return ProfileInput(display, types, languages, zone, parse_skills(data.skills))


async def profile_of(session: AsyncSession, discord_id: int) -> Profile | None:
    return await session.scalar(
        select(Profile)
        .join(Member, Member.id == Profile.member_id)
        .where(Member.discord_id == discord_id)
    )


async def ensure_member(
    session: AsyncSession, discord_id: int, display_name: str, locale: str | None = None
) -> Member:
    member = await session.scalar(select(Member).where(Member.discord_id == discord_id))
    if member is None:
        member = Member(discord_id=discord_id, display_name=display_name[:100], locale=locale)
        session.add(member)
        await session.flush()
    return member


@dataclass
class Registered:
    profile: Profile
    new: bool


async def register(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    discord_id: int,
    data: ProfileInput,
    *,
    identity: str | None = None,
    locale: str | None = None,
) -> Registered:
    """Register a participant (or update the profile of someone already registered)."""
    checked = check_profile(settings, data, now)
    existing = await profile_of(session, discord_id)
    if existing is None:
        await require_open(session, settings, now, REGISTRATION)
    member = await ensure_member(session, discord_id, checked.display_name, locale)
    member.display_name = checked.display_name
    registrant = None
    if existing is None and settings.registration.mode != "open":
        registrant = await _match_registrant(session, settings.registration.mode, identity)
    if existing is None:
        profile = Profile(
            member_id=member.id,
            display_name=checked.display_name,
            profile_types=checked.profile_types,
            languages=checked.languages,
            timezone=checked.timezone,
            skills=checked.skills,
            wishes=[],
            autoform=settings.registration.autoform_by_default,
            registrant_id=registrant.id if registrant else None,
            registered_at=now,
        )
        session.add(profile)
        session.add(
            AuditEntry(
                actor_discord_id=discord_id, action="register", subject=f"member:{member.id}"
            )
        )
        await session.flush()
        return Registered(profile, True)
    existing.display_name = checked.display_name
    existing.profile_types = checked.profile_types
    existing.languages = checked.languages
    existing.timezone = checked.timezone
    if data.skills or existing.skills:
        existing.skills = checked.skills
    existing.updated_at = now
    return Registered(existing, False)


async def _match_registrant(session: AsyncSession, mode: str, identity: str | None) -> Registrant:
    value = (identity or "").strip()
    if not value:
        raise InvalidInput(f"registration.identity_missing.{mode}")
    if mode == "email" and not _EMAIL.fullmatch(value):
        raise InvalidInput("registration.identity_bad_email")
    column = Registrant.email_hash if mode == "email" else Registrant.code_hash
    registrant = await session.scalar(select(Registrant).where(column == digest(mode, value)))
    if registrant is None:
        raise NotFound(f"registration.identity_unknown.{mode}")
    taken = await session.scalar(select(Profile).where(Profile.registrant_id == registrant.id))
    if taken is not None:
        raise Conflict(f"registration.identity_used.{mode}")
    return registrant


async def require_profile(session: AsyncSession, discord_id: int) -> Profile:
    profile = await profile_of(session, discord_id)
    if profile is None:
        raise NotAllowed("teams.not_registered")
    return profile


async def set_skills(session: AsyncSession, now: datetime, discord_id: int, text: str) -> Profile:
    profile = await require_profile(session, discord_id)
    profile.skills = parse_skills(text)
    profile.updated_at = now
    return profile


async def set_timezone(session: AsyncSession, now: datetime, discord_id: int, zone: str) -> Profile:
    profile = await require_profile(session, discord_id)
    profile.timezone = canonical_zone(zone, now)
    profile.updated_at = now
    return profile


async def set_wishes(
    session: AsyncSession, now: datetime, discord_id: int, challenge_ids: list[int]
) -> Profile:
    profile = await require_profile(session, discord_id)
    wanted = []
    for cid in challenge_ids[:MAX_WISHES]:
        challenge = await session.get(Challenge, cid)
        if challenge is not None and challenge.archived_at is None and cid not in wanted:
            wanted.append(cid)
    profile.wishes = wanted
    profile.updated_at = now
    return profile


async def set_autoform(
    session: AsyncSession, now: datetime, discord_id: int, value: bool
) -> Profile:
    profile = await require_profile(session, discord_id)
    profile.autoform = value
    profile.updated_at = now
    return profile


async def mark_card_posted(
    session: AsyncSession, settings: Settings, now: datetime, discord_id: int
) -> Profile:
    """Check the cooldown between two /lft cards and book this one."""
    profile = await require_profile(session, discord_id)
    wait = timedelta(minutes=settings.formation.card_cooldown_minutes)
    if wait and profile.card_posted_at is not None and now - profile.card_posted_at < wait:
        raise cooldown_error(profile.card_posted_at + wait - now)
    profile.card_posted_at = now
    return profile


async def skill_counts(session: AsyncSession) -> Counter[str]:
    """How many participants list each skill (for autocomplete)."""
    counts: Counter[str] = Counter()
    for skills in (await session.scalars(select(Profile.skills))).all():
        counts.update(set(skills or []))
    return counts


def suggest_skills(counts: Counter[str], typed: str, limit: int = 25) -> list[str]:
    """Complete the last tag of a comma-separated list with the commonest matching skills.

    ``"python, ux"`` → ``["python, ux research", "python, ux design", ...]``.
    """
    head, _, last = (typed or "").rpartition(",")
    prefix = (head + ", ") if head.strip() else ""
    already = {t.strip().lower() for t in head.split(",") if t.strip()}
    needle = last.strip().lower()
    ranked = sorted(
        (
            (not skill.startswith(needle), -count, skill)
            for skill, count in counts.items()
            if needle in skill and skill not in already
        )
    )
    out = []
    # Keep the last slot for what was typed, as typed, when no one uses it yet.
    keep_typed = bool(needle) and needle not in counts and needle not in already
    room = limit - keep_typed
    for _not_prefix, _count, skill in ranked:
        if len(out) >= room:
            break
        text = prefix + skill
        if len(text) <= 100:
            out.append(text)
    if keep_typed and len(prefix + needle) <= 100:
        out.append(prefix + needle)
    return out


# --------------------------------------------------------------------------
# Registrant list


@dataclass
class ImportReport:
    added: int = 0
    already: int = 0
    rows: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (row number, catalogue key)


_HEADERS = {
    "email": {"email", "e-mail", "mail", "courriel", "adresse e-mail", "email address"},
    "name": {"name", "nom", "full name", "nom complet", "participant"},
    "code": {"code", "personal code", "code personnel", "token"},
}


async def import_registrants(
    session: AsyncSession, mode: str, data: bytes, *, actor: int | None
) -> ImportReport:
    """Add the usable rows of a CSV file to the registrant list (idempotent)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("registration.import_encoding") from None
    lines = text.splitlines()
    if not lines:
        raise InvalidInput("registration.import_empty")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().casefold() for h in next(reader, [])]
    columns = {}
    for kind, spellings in _HEADERS.items():
        for index, title in enumerate(header):
            if title in spellings:
                columns[kind] = index
                break
    needed = "email" if mode != "code" else "code"
    if needed not in columns:
        raise InvalidInput(f"registration.import_no_column.{needed}")
    report = ImportReport()
    seen: set[str] = set()
    existing_email = set((await session.scalars(select(Registrant.email_hash))).all())
    existing_code = set((await session.scalars(select(Registrant.code_hash))).all())
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1

        def cell(kind: str, row: list[str] = row) -> str:
            index = columns.get(kind)
            return row[index].strip() if index is not None and index < len(row) else ""

        email, name, code = cell("email"), cell("name"), cell("code")
        if mode != "code" and not email:
            report.problems.append((number, "registration.import_row.no_email"))
            continue
        if mode == "code" and not code:
            report.problems.append((number, "registration.import_row.no_code"))
            continue
        if email and not _EMAIL.fullmatch(email):
            report.problems.append((number, "registration.import_row.bad_email"))
            continue
        if code and len(normalise_code(code)) < 4:
            report.problems.append((number, "registration.import_row.short_code"))
            continue
        email_hash = digest("email", email) if email else None
        code_hash = digest("code", code) if code else None
        key = code_hash if mode == "code" else email_hash
        assert key is not None
        if key in seen:
            report.problems.append((number, "registration.import_row.duplicate"))
            continue
        seen.add(key)
        if (email_hash and email_hash in existing_email) or (
            code_hash and code_hash in existing_code
        ):
            report.already += 1
            continue
        if len(name) > 100 or names.invisible_characters(name):
            name = ""
        session.add(
            Registrant(
                email_hash=email_hash, code_hash=code_hash, name=name or None, source_row=number
            )
        )
        report.added += 1
    if report.rows == 0:
        raise InvalidInput("registration.import_empty")
    session.add(
        AuditEntry(
            actor_discord_id=actor,
            action="registrants.import",
            subject=None,
            detail={"added": report.added, "problems": len(report.problems)},
        )
    )
    return report


def problem_summary(report: ImportReport, limit: int = 15) -> list[tuple[int, str]]:
    """The first ``limit`` problems (row, key), for a short report."""
    return report.problems[:limit]


__all__ = [
    "HackbotError",
    "ImportReport",
    "ProfileInput",
    "Registered",
    "check_profile",
    "import_registrants",
    "register",
]
