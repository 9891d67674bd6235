"""Project submissions: one per team, versioned, checked, on time to the second.

Rules (nothing here talks to Discord):

* only a member of a team submits for it (:func:`require_team`), while submissions are
  open, or within ``[submissions] grace_seconds`` after the deadline, or later when an
  organiser reopened that team's submission (:func:`reopen`);
* after the deadline and its grace a submission is refused with the exact time it
  missed by, or accepted and flagged ``late`` (``late_policy``);
* the deadline is the moment the timeline last closed submissions (the end of the phase
  that opens them), compared with the bot's clock inside the write transaction that
  stores the submission, so "on time" means committed on time;
* one submission per team (unique ``team_id``); ``/submit`` again edits it; every
  confirmed version is kept (``submission_versions``); a version based on an older one
  than the stored one is refused (two teammates editing at once lose nothing silently);
* fields are checked (:func:`check_content`): required, lengths, links http(s) only with
  a real host name (no ``localhost``, no bare IP address, no ``javascript:``);
* the same repository used by another team is flagged ``duplicate_repo`` on both and
  reported to the organisers (:attr:`Stored.duplicates`).

An event without any phase has submissions open (a small event may skip the timeline).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings, SubmissionFieldSettings
from bot.errors import Conflict, HackbotError, InvalidInput, NotAllowed, NotFound, PhaseClosed
from bot.models import AuditEntry, Member
from bot.models.challenges import Challenge
from bot.models.submissions import Submission, SubmissionVersion
from bot.models.teams import Team, TeamMember
from bot.services import broadcasts as broadcast_service
from bot.services import event as event_service
from bot.services import teams as team_service
from bot.services import timeline as timeline_service

log = logging.getLogger(__name__)

CAPABILITY = "submissions"
TITLE_MAX = 100  # a forum post's name
PITCH_MAX = 200
DESCRIPTION_MAX = 4000  # a modal input's maximum (an embed description holds 4096)
URL_MAX = 500
TITLE_MIN = 3
DESCRIPTION_MIN = 20
CORE_FIELDS = ("title", "pitch", "description", "repo_url", "demo_url")

# Host names that never reach a judge's browser.
_RESERVED_SUFFIXES = (".localhost", ".local", ".internal", ".test", ".example", ".invalid", ".lan")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_VIDEO_HOSTS = ("youtube.com", "youtu.be", "vimeo.com", "loom.com", "dailymotion.com")


# --------------------------------------------------------------------------
# Errors and results


class LateSubmission(HackbotError):
    """Refused: the deadline (and its grace) passed ``missed_by`` ago."""

    key = "submissions.late_refused"


class StaleVersion(Conflict):
    key = "submissions.stale_version"


@dataclass(frozen=True)
class Content:
    title: str
    pitch: str
    description: str
    repo_url: str
    demo_url: str
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "pitch": self.pitch,
            "description": self.description,
            "repo_url": self.repo_url,
            "demo_url": self.demo_url,
            "extra": dict(self.extra),
        }

    @classmethod
    def of(cls, submission: Submission) -> Content:
        return cls(
            submission.title,
            submission.pitch,
            submission.description,
            submission.repo_url,
            submission.demo_url,
            dict(submission.extra or {}),
        )


@dataclass(frozen=True)
class Timing:
    """Where ``now`` stands against the submission deadline."""

    deadline: datetime | None  # when submissions last closed (None: open, or never closed)
    grace_until: datetime | None
    late_seconds: int  # past the deadline and its grace (0: on time)
    reopened: bool = False

    @property
    def late(self) -> bool:
        return self.late_seconds > 0


@dataclass
class Stored:
    submission_id: int
    team_id: int
    team_name: str
    version: int
    created: bool
    at: datetime
    late_seconds: int
    duplicates: list[str] = field(default_factory=list)  # other teams with the same repository


# --------------------------------------------------------------------------
# Checking what a team typed


def _clean_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _clean_text(text: str | None) -> str:
    lines = [line.rstrip() for line in (text or "").strip().splitlines()]
    return "\n".join(lines)


def check_url(value: str, what: str, *, required: bool) -> str:
    """A link judges can open: http(s), a real public host name, no credentials."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput("submissions.invalid.required", field=what)
        return ""
    if len(text) > URL_MAX:
        raise InvalidInput("submissions.invalid.too_long", field=what, max=URL_MAX)
    if any(ch.isspace() for ch in text) or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidInput("submissions.invalid.url_spaces", field=what)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidInput("submissions.invalid.url", field=what, value=text[:100]) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput("submissions.invalid.url_scheme", field=what, value=text[:100])
    if parts.username or parts.password:
        raise InvalidInput("submissions.invalid.url_credentials", field=what)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidInput("submissions.invalid.url", field=what, value=text[:100])
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidInput("submissions.invalid.url_ip", field=what, host=host)
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidInput("submissions.invalid.url_host", field=what, host=host[:100]) from None
    labels = ascii_host.split(".")
    if (
        len(labels) < 2
        or ascii_host == "localhost"
        or ascii_host.endswith(_RESERVED_SUFFIXES)
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput("submissions.invalid.url_host", field=what, host=host[:100])
    del port  # parsed only to refuse malformed ports
    return text


def repo_key(url: str) -> str | None:
    """The repository a link points at, for spotting two teams with the same one."""
    if not url:
        return None
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host.startswith("www."):
        host = host[4:]
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if host in ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org"):
        # owner/name is the repository; /tree/main and the like point into it.
        path = "/".join(path.split("/")[:3])
        path = path.lower()
    return f"{host}{path}"


def is_video(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return any(host == h or host.endswith("." + h) for h in _VIDEO_HOSTS)


def _text(value: str | None, what: str, *, required: bool, low: int, high: int, line: bool) -> str:
    text = _clean_line(value) if line else _clean_text(value)
    if not text:
        if required:
            raise InvalidInput("submissions.invalid.required", field=what)
        return ""
    if len(text) < low:
        raise InvalidInput("submissions.invalid.too_short", field=what, min=low)
    if len(text) > high:
        raise InvalidInput("submissions.invalid.too_long", field=what, max=high)
    return text


def check_content(settings: Settings, values: dict[str, Any], *, partial: bool = False) -> Content:
    """Check and tidy a submission; raises :class:`InvalidInput` naming the field.

    ``values`` holds the core fields by name and the extra fields under ``"extra"``.
    Field names in messages are catalogue keys (``submissions.field.<name>``) or, for
    the event's extra fields, their label as the organisers wrote it.
    """
    cfg = settings.submissions
    title = _text(
        values.get("title"),
        "title",
        required=True,
        low=TITLE_MIN,
        high=TITLE_MAX,
        line=True,
    )
    pitch = _text(values.get("pitch"), "pitch", required=True, low=1, high=PITCH_MAX, line=True)
    description = _text(
        values.get("description"),
        "description",
        required=True,
        low=DESCRIPTION_MIN,
        high=DESCRIPTION_MAX,
        line=False,
    )
    repo = check_url(values.get("repo_url") or "", "repo_url", required=cfg.require_repo)
    demo = check_url(values.get("demo_url") or "", "demo_url", required=cfg.require_demo)
    extra = check_extra(settings.submission_fields, values.get("extra") or {}, partial=partial)
    return Content(title, pitch, description, repo, demo, extra)


def check_extra(
    fields: tuple[SubmissionFieldSettings, ...], values: dict[str, Any], *, partial: bool = False
) -> dict[str, str]:
    """The extra fields' answers; ``partial`` lets required ones be missing (the second form
    step is not done yet: :func:`missing_extra` lists them)."""
    out: dict[str, str] = {}
    for spec in fields:
        raw = values.get(spec.key)
        required = spec.required and not partial
        if spec.kind == "url":
            value = check_url(raw or "", spec.label, required=required)
        else:
            value = _text(
                raw,
                spec.label,
                required=required,
                low=1,
                high=spec.max_length,
                line=spec.kind == "text",
            )
        if value:
            out[spec.key] = value
    return out


def missing_extra(settings: Settings, extra: dict[str, Any]) -> list[str]:
    """Labels of required extra fields not answered yet (the second form step)."""
    return [
        spec.label
        for spec in settings.submission_fields
        if spec.required and not extra.get(spec.key)
    ]


# --------------------------------------------------------------------------
# Who and when


async def require_team(session: AsyncSession, discord_id: int) -> Team:
    """The team this person may submit for: their own (members only)."""
    team = await team_service.team_of(session, discord_id)
    if team is None or team.archived_at is not None:
        raise NotAllowed("submissions.no_team")
    return team


async def deadline(session: AsyncSession, now: datetime) -> datetime | None:
    """When the timeline last closed submissions (the end of the phase that opens them)."""
    phases = await event_service.timeline(session)
    return timeline_service.window(phases, CAPABILITY, now).closed_at


async def timing(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    submission: Submission | None = None,
    team_id: int | None = None,
) -> Timing:
    """Whether a submission made at ``now`` is on time, late (by how much), or not allowed yet.

    Raises :class:`PhaseClosed` when submissions have not opened yet or organisers closed
    them by hand (no deadline to be late against).
    """
    if submission is not None and submission.reopened_until and now <= submission.reopened_until:
        return Timing(None, None, 0, reopened=True)
    # One read of the timeline and the overrides (this runs on every /submit step).
    phases = await event_service.timeline(session)
    forced = await event_service.get_overrides(session)
    current, _ = event_service.locate(phases, now)
    opens = event_service.apply_overrides(event_service.scheduled_opens(phases, current), forced)
    if CAPABILITY in opens:
        return Timing(None, None, 0)
    if submission is None and team_id is not None:
        if await _reopened_without_submission(session, team_id, now):
            return Timing(None, None, 0, reopened=True)
    closed_at = timeline_service.window(phases, CAPABILITY, now).closed_at
    if forced.get(CAPABILITY) == "closed" or closed_at is None:
        await timeline_service.require_open(session, CAPABILITY, now)  # raises, with when
        raise PhaseClosed(f"timeline.closed.{CAPABILITY}.now")  # pragma: no cover
    grace_until = closed_at + timedelta(seconds=settings.submissions.grace_seconds)
    if now <= grace_until:
        return Timing(closed_at, grace_until, 0)
    # Whole seconds missed; anything under one second still counts as one, never "0 s late".
    seconds = int((now - grace_until).total_seconds())
    return Timing(closed_at, grace_until, max(1, seconds))


def format_delay(seconds: int, lang: str) -> str:
    """1 h 02 min 05 s, in words short enough for a reply."""
    from bot.i18n import t

    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return t("submissions.delay.hms", lang, h=hours, m=f"{minutes:02d}", s=f"{secs:02d}")
    if minutes:
        return t("submissions.delay.ms", lang, m=minutes, s=f"{secs:02d}")
    return t("submissions.delay.s", lang, s=secs)


async def check_may_submit(
    session: AsyncSession, settings: Settings, now: datetime, discord_id: int
) -> tuple[Team, Submission | None, Timing]:
    """Before showing the form: the team, its current submission, and the timing.

    A late submission under ``late_policy = "refuse"`` is refused here already.
    """
    team = await require_team(session, discord_id)
    current = await get_for_team(session, team.id)
    when = await timing(session, settings, now, current, team.id)
    if when.late and settings.submissions.late_policy == "refuse":
        raise LateSubmission(missed_by=when.late_seconds, deadline=_ts(when.deadline))
    return team, current, when


def _ts(moment: datetime | None) -> str:
    return f"<t:{int(moment.timestamp())}:F>" if moment else "—"


# --------------------------------------------------------------------------
# Reading


async def get_for_team(session: AsyncSession, team_id: int) -> Submission | None:
    return await session.scalar(select(Submission).where(Submission.team_id == team_id))


async def get(session: AsyncSession, submission_id: int) -> Submission:
    row = await session.get(Submission, submission_id)
    if row is None:
        raise NotFound("submissions.unknown")
    return row


async def versions(session: AsyncSession, submission_id: int) -> list[SubmissionVersion]:
    return list(
        (
            await session.scalars(
                select(SubmissionVersion)
                .where(SubmissionVersion.submission_id == submission_id)
                .order_by(SubmissionVersion.version)
            )
        ).all()
    )


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Submission)) or 0)


@dataclass(frozen=True)
class Card:
    """Everything a gallery post, a receipt or a judge's card shows."""

    submission_id: int
    team_id: int
    team_name: str
    challenge_id: int | None
    challenge_name: str | None
    member_names: list[str]
    content: Content
    version: int
    submitted_at: datetime
    last_edit_at: datetime
    late_seconds: int | None
    flags: list[str]
    gallery_thread_id: int | None
    space_channel_id: int | None


async def card(session: AsyncSession, submission_id: int) -> Card:
    row = await get(session, submission_id)
    team = await session.get(Team, row.team_id)
    assert team is not None
    challenge = await session.get(Challenge, team.challenge_id) if team.challenge_id else None
    names = [m.display_name for m, _ in await team_service.team_members(session, team.id)]
    return Card(
        submission_id=row.id,
        team_id=team.id,
        team_name=team.name,
        challenge_id=challenge.id if challenge else None,
        challenge_name=challenge.name if challenge else None,
        member_names=names,
        content=Content.of(row),
        version=row.version,
        submitted_at=row.submitted_at,
        last_edit_at=row.last_edit_at,
        late_seconds=row.late_seconds,
        flags=list(row.flags or []),
        gallery_thread_id=row.gallery_thread_id,
        space_channel_id=team.channel_id if team.archived_at is None else None,
    )


# --------------------------------------------------------------------------
# Writing


async def submit(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    discord_id: int,
    content: Content,
    *,
    base_version: int,
) -> Stored:
    """Store a new submission or a new version of the team's one.

    ``base_version`` is the version the member saw when the form opened (0 for none):
    if a teammate confirmed another version meanwhile, :class:`StaleVersion` is raised
    and nothing changes. Lateness is decided here, against ``now`` (the moment of the
    write, under the database's write lock).
    """
    missing = missing_extra(settings, content.extra)
    if missing:
        raise InvalidInput("submissions.invalid.required", field=missing[0])
    team = await require_team(session, discord_id)
    current = await get_for_team(session, team.id)
    when = await timing(session, settings, now, current, team.id)
    if when.late and settings.submissions.late_policy == "refuse":
        raise LateSubmission(missed_by=when.late_seconds, deadline=_ts(when.deadline))
    stored_version = current.version if current else 0
    if stored_version != base_version:
        editor = None
        if current is not None and current.last_editor_discord_id:
            editor = f"<@{current.last_editor_discord_id}>"
        raise StaleVersion(version=stored_version, who=editor or "—")
    late = when.late_seconds or None
    key = repo_key(content.repo_url)
    created = current is None
    if current is None:
        current = Submission(
            team_id=team.id,
            version=1,
            submitted_at=now,
            flags=[],
            extra={},
            gallery_version=0,
            receipt_version=0,
            created_at=now,
        )
        session.add(current)
    else:
        current.version += 1
    current.title = content.title
    current.pitch = content.pitch
    current.description = content.description
    current.repo_url = content.repo_url
    current.demo_url = content.demo_url
    current.extra = dict(content.extra)
    current.repo_key = key
    current.last_edit_at = now
    current.updated_at = now
    current.last_editor_discord_id = discord_id
    current.late_seconds = late
    flags = [f for f in (current.flags or []) if f not in ("late",)]
    if late:
        flags.append("late")
    await session.flush()
    duplicates: list[str] = []
    if key:
        others = (
            await session.execute(
                select(Submission, Team.name)
                .join(Team, Team.id == Submission.team_id)
                .where(Submission.repo_key == key, Submission.id != current.id)
            )
        ).all()
        for other, name in others:
            duplicates.append(name)
            if "duplicate_repo" not in (other.flags or []):
                other.flags = [*(other.flags or []), "duplicate_repo"]
    if duplicates and "duplicate_repo" not in flags:
        flags.append("duplicate_repo")
    elif not duplicates:
        flags = [f for f in flags if f != "duplicate_repo"]
    current.flags = flags
    session.add(
        SubmissionVersion(
            submission_id=current.id,
            version=current.version,
            content=content.as_dict(),
            by_discord_id=discord_id,
            at=now,
            late_seconds=late,
        )
    )
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=discord_id,
            action="submission.create" if created else "submission.edit",
            subject=f"team:{team.id}",
            detail={
                "submission": current.id,
                "version": current.version,
                "late_seconds": late,
                "duplicates": duplicates,
            },
        )
    )
    await session.flush()
    return Stored(
        submission_id=current.id,
        team_id=team.id,
        team_name=team.name,
        version=current.version,
        created=created,
        at=now,
        late_seconds=late or 0,
        duplicates=duplicates,
    )


async def reopen(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    actor: int,
    team_id: int,
    minutes: int | None = None,
) -> tuple[Team, datetime]:
    """Let one team submit or edit for ``minutes`` whatever the timeline says."""
    team = await team_service.get_team(session, team_id)
    span = minutes or settings.submissions.reopen_minutes
    if not 1 <= span <= 10080:
        raise InvalidInput("submissions.reopen.bad_minutes")
    until = now + timedelta(minutes=span)
    current = await get_for_team(session, team.id)
    if current is None:
        # No row to hold it yet (a submission needs its content): kept in the KV store.
        reopened = dict(await event_service.get_state(session, REOPEN_KEY) or {})
        reopened[str(team.id)] = until.isoformat()
        await event_service.set_state(session, REOPEN_KEY, reopened)
    else:
        current.reopened_until = until
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="submission.reopen",
            subject=f"team:{team.id}",
            detail={"until": until.isoformat(), "minutes": span},
        )
    )
    return team, until


#: Teams without a submission yet that an organiser reopened: {team_id: until (ISO)}.
REOPEN_KEY = "submissions.reopened"


async def _reopened_without_submission(session: AsyncSession, team_id: int, now: datetime) -> bool:
    reopened = await event_service.get_state(session, REOPEN_KEY) or {}
    until = reopened.get(str(team_id))
    return bool(until) and now <= datetime.fromisoformat(until)


async def mark_published(
    session: AsyncSession, submission_id: int, version: int, thread_id: int | None
) -> None:
    values: dict[str, Any] = {"gallery_version": version}
    if thread_id is not None:
        values["gallery_thread_id"] = thread_id
    await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.gallery_version < version)
        .values(**values)
    )


async def forget_post(session: AsyncSession, submission_id: int, thread_id: int) -> None:
    """The gallery post ``thread_id`` is gone (deleted by hand): the next publication makes a
    new one."""
    await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.gallery_thread_id == thread_id)
        .values(gallery_thread_id=None, gallery_version=0)
    )


async def mark_receipt(session: AsyncSession, submission_id: int, version: int) -> None:
    await session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.receipt_version < version)
        .values(receipt_version=version)
    )


async def gallery_threads_by_age(session: AsyncSession, thread_ids: list[int]) -> list[int]:
    """Of these gallery posts, the ones a submission uses, least recently updated first (the
    ones to archive first when the server runs short of active threads)."""
    if not thread_ids:
        return []
    rows = await session.scalars(
        select(Submission.gallery_thread_id)
        .where(Submission.gallery_thread_id.in_(thread_ids))
        .order_by(Submission.last_edit_at, Submission.id)
    )
    return [int(thread_id) for thread_id in rows.all()]


async def behind(session: AsyncSession) -> list[int]:
    """Submissions whose gallery post or receipt has not caught up (after a restart)."""
    rows = await session.scalars(
        select(Submission.id)
        .where(
            (Submission.gallery_version < Submission.version)
            | (Submission.receipt_version < Submission.version)
        )
        .order_by(Submission.last_edit_at)
    )
    return list(rows.all())


# --------------------------------------------------------------------------
# Organisers' overview and the reminder target


@dataclass(frozen=True)
class Overview:
    teams: int
    submitted: int
    late: int
    duplicates: int


async def overview(session: AsyncSession) -> Overview:
    teams = int(
        await session.scalar(
            select(func.count()).select_from(Team).where(Team.archived_at.is_(None))
        )
        or 0
    )
    rows = (await session.scalars(select(Submission.flags))).all()
    return Overview(
        teams=teams,
        submitted=len(rows),
        late=sum(1 for flags in rows if "late" in (flags or [])),
        duplicates=sum(1 for flags in rows if "duplicate_repo" in (flags or [])),
    )


async def teams_without_submission(session: AsyncSession) -> list[tuple[int, int | None]]:
    """(team id, space channel id) of active teams with members and no submission."""
    members = select(TeamMember.team_id).distinct()
    rows = await session.execute(
        select(Team.id, Team.channel_id)
        .outerjoin(Submission, Submission.team_id == Team.id)
        .where(Team.archived_at.is_(None), Submission.id.is_(None), Team.id.in_(members))
        .order_by(Team.id)
    )
    return [(team_id, channel_id) for team_id, channel_id in rows.all()]


async def _no_submission_target(
    ctx: broadcast_service.TargetContext,
) -> list[broadcast_service.Destination]:
    rows = await teams_without_submission(ctx.session)
    spaces = [broadcast_service.Destination(channel) for _, channel in rows if channel]
    if not spaces:
        raise InvalidInput("submissions.everyone_submitted")
    return spaces


broadcast_service.register_target("teams_without_submission", _no_submission_target)


async def member_names(session: AsyncSession, discord_ids: list[int]) -> dict[int, str]:
    rows = await session.execute(
        select(Member.discord_id, Member.display_name).where(Member.discord_id.in_(discord_ids))
    )
    return dict(rows.all())
