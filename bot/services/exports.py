"""CSV exports for organisers: participants, teams, submissions, scores, help tickets.

Each export is a UTF-8 CSV with a header row (with a byte-order mark, so spreadsheet
software reads accents right). The submissions file starts with the columns of a
Devpost project export ("Project Title", "Submission Url", "About The Project",
"\"Try it out\" Links", "Video Demo Link", "Opt-In Prizes" ...) so it can be imported
where those are expected; hackbot's own columns follow, the last being the project's
awards (shortlists, finalists, winners; those an organiser placed by hand say so).

Nothing private leaves: registrants' e-mail addresses and codes are only stored as
digests and are never exported. Cells that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``) are prefixed with an apostrophe.

Help tickets are exported when the help-queue feature's tables exist
(``bot.models.help``, imported lazily): every column of its ticket table, as stored.
"""

from __future__ import annotations

import csv
import importlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.models import Member
from bot.models.challenges import Challenge
from bot.models.submissions import Submission
from bot.models.teams import Profile, Team, TeamMember
from bot.services import judging
from bot.services import submissions as submission_service

KINDS = ("participants", "teams", "submissions", "scores", "tickets")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Export:
    name: str  # participants, teams, ...
    filename: str
    rows: int  # data rows, header not counted
    data: bytes


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(header: list[str], rows: Iterable[list[Any]]) -> tuple[bytes, int]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([_cell(v) for v in row])
        count += 1
    return buffer.getvalue().encode("utf-8-sig"), count


def gallery_url(guild_id: int, thread_id: int | None) -> str:
    return f"https://discord.com/channels/{guild_id}/{thread_id}" if thread_id else ""


async def _teams(session: AsyncSession) -> dict[int, Team]:
    return {team.id: team for team in (await session.scalars(select(Team))).all()}


async def _challenges(session: AsyncSession) -> dict[int, str]:
    return dict((await session.execute(select(Challenge.id, Challenge.name))).all())


async def _members_by_team(session: AsyncSession) -> dict[int, list[Member]]:
    rows = await session.execute(
        select(TeamMember.team_id, Member)
        .join(Member, Member.id == TeamMember.member_id)
        .order_by(TeamMember.joined_at, TeamMember.id)
    )
    out: dict[int, list[Member]] = {}
    for team_id, member in rows.all():
        out.setdefault(team_id, []).append(member)
    return out


async def participants(session: AsyncSession, settings: Settings) -> Export:
    teams = await _teams(session)
    rows = await session.execute(
        select(Member, Profile, TeamMember.team_id)
        .join(Profile, Profile.member_id == Member.id)
        .outerjoin(TeamMember, TeamMember.member_id == Member.id)
        .order_by(Profile.registered_at, Member.id)
    )
    header = [
        "Discord ID",
        "Display Name",
        "Profile Types",
        "Skills",
        "Languages",
        "Time Zone",
        "Team",
        "Registered At",
    ]
    data, count = to_csv(
        header,
        (
            [
                str(member.discord_id),
                profile.display_name,
                profile.profile_types,
                profile.skills,
                profile.languages,
                profile.timezone,
                teams[team_id].name if team_id in teams else "",
                profile.registered_at,
            ]
            for member, profile, team_id in rows.all()
        ),
    )
    return Export("participants", "participants.csv", count, data)


async def teams_export(session: AsyncSession, settings: Settings) -> Export:
    challenges = await _challenges(session)
    members = await _members_by_team(session)
    submitted = set((await session.scalars(select(Submission.team_id))).all())
    header = [
        "Team ID",
        "Team Name",
        "Challenge",
        "Size",
        "Members",
        "Member Discord IDs",
        "Captain Discord ID",
        "Open",
        "Submitted",
        "Created At",
        "Archived At",
    ]
    rows = []
    for team in (await session.scalars(select(Team).order_by(Team.id))).all():
        people = members.get(team.id, [])
        captain = next((m.discord_id for m in people if m.id == team.captain_member_id), None)
        rows.append(
            [
                team.id,
                team.name,
                challenges.get(team.challenge_id or 0, ""),
                len(people),
                [m.display_name for m in people],
                [str(m.discord_id) for m in people],
                str(captain) if captain else "",
                team.open,
                team.id in submitted,
                team.created_at,
                team.archived_at,
            ]
        )
    data, count = to_csv(header, rows)
    return Export("teams", "teams.csv", count, data)


DEVPOST_COLUMNS = [
    "Project Title",
    "Submission Url",
    "Project Status",
    "Judging Status",
    "Highest Step Completed",
    "Project Created At",
    "About The Project",
    '"Try it out" Links',
    "Video Demo Link",
    "Opt-In Prizes",
    "Built With",
    "Submitter Screen Name",
    "Additional Team Member Count",
    "Team Member Names",
]


async def submissions_export(session: AsyncSession, settings: Settings) -> Export:
    teams = await _teams(session)
    challenges = await _challenges(session)
    members = await _members_by_team(session)
    names = dict((await session.execute(select(Member.discord_id, Member.display_name))).all())
    extra = list(settings.submission_fields)
    header = [
        *DEVPOST_COLUMNS,
        "Team",
        "Challenge",
        "Tagline",
        "Repository URL",
        "Demo URL",
        *(field.label for field in extra),
        "Version",
        "Submitted At",
        "Last Updated At",
        "Late By Seconds",
        "Flags",
        "Awards",
    ]
    awards = await _awards_by_submission(session, challenges)
    rows = []
    for sub in (await session.scalars(select(Submission).order_by(Submission.id))).all():
        team = teams.get(sub.team_id)
        people = members.get(sub.team_id, [])
        links = [link for link in (sub.repo_url, sub.demo_url) if link]
        rows.append(
            [
                sub.title,
                gallery_url(settings.event.guild_id, sub.gallery_thread_id),
                "Submitted (Late)" if sub.late_seconds else "Submitted",
                "Flagged" if sub.flags else "Eligible",
                "Submit",
                sub.submitted_at,
                f"{sub.pitch}\n\n{sub.description}",
                links,
                sub.demo_url if submission_service.is_video(sub.demo_url) else "",
                challenges.get(team.challenge_id or 0, "") if team else "",
                (sub.extra or {}).get("built_with", ""),
                names.get(sub.last_editor_discord_id or 0, ""),
                max(0, len(people) - 1),
                [m.display_name for m in people],
                team.name if team else "",
                challenges.get(team.challenge_id or 0, "") if team else "",
                sub.pitch,
                sub.repo_url,
                sub.demo_url,
                *((sub.extra or {}).get(field.key, "") for field in extra),
                sub.version,
                sub.submitted_at,
                sub.last_edit_at,
                sub.late_seconds,
                sub.flags,
                "; ".join(awards.get(sub.id, [])),
            ]
        )
    data, count = to_csv(header, rows)
    return Export("submissions", "submissions.csv", count, data)


async def _awards_by_submission(
    session: AsyncSession, challenges: dict[int, str]
) -> dict[int, list[str]]:
    """Each project's awards in words, winners first and overall before challenges:
    "Winner, Overall, place 1 (set by hand); Finalist, Clean Air, place 2"..."""
    from bot.models.judging import Award

    found: dict[int, list[str]] = {}
    rank = {"winner": 0, "finalist": 1, "shortlist": 2}
    rows = (await session.scalars(select(Award))).all()
    for award in sorted(
        rows, key=lambda a: (rank.get(a.kind, 3), a.scope != "overall", a.scope, a.round, a.place)
    ):
        where = "Overall"
        if award.scope.startswith("challenge:"):
            where = challenges.get(int(award.scope.split(":", 1)[1]), award.scope)
        text = f"{award.kind.capitalize()}, {where}, place {award.place}"
        if award.kind == "shortlist":
            text = f"Shortlist, round {award.round}, place {award.place}"
        if award.manual:
            text += " (set by hand)"
        found.setdefault(award.submission_id, []).append(text)
    return found


async def scores_export(session: AsyncSession, settings: Settings) -> Export:
    """One row per project per round judged so far, with its rank."""
    challenges = await _challenges(session)
    header = [
        "Round",
        "Rank",
        "Mode",
        "Team",
        "Project Title",
        "Challenge",
        "Score",
        "Reviews Or Comparisons",
        "Flags",
    ]
    rows = []
    last = await judging.current_round(session)
    for round_no in range(1, last + 1):
        for rank, row in enumerate(await judging.ranking(session, settings, round_no), start=1):
            rows.append(
                [
                    round_no,
                    rank if row.score is not None else "",
                    settings.judging.mode,
                    row.team_name,
                    row.title,
                    challenges.get(row.challenge_id or 0, ""),
                    "" if row.score is None else round(row.score, 4),
                    row.reviews,
                    row.flags,
                ]
            )
    data, count = to_csv(header, rows)
    return Export("scores", "scores.csv", count, data)


def ticket_model() -> Any | None:
    """The help queue's ticket table, when that feature is installed."""
    try:
        module = importlib.import_module("bot.models.help")
    except ImportError:
        return None
    return getattr(module, "HelpTicket", None)


async def tickets_export(session: AsyncSession, settings: Settings) -> Export | None:
    model = ticket_model()
    if model is None:
        return None
    teams = await _teams(session)
    columns = [column.name for column in model.__table__.columns]
    header = [*columns, "team_name"] if "team_id" in columns else columns
    rows = []
    for ticket in (await session.scalars(select(model).order_by(model.id))).all():
        values = [getattr(ticket, name) for name in columns]
        values = [str(v) if isinstance(v, int) and v > 2**53 else v for v in values]
        if "team_id" in columns:
            team = teams.get(getattr(ticket, "team_id", 0) or 0)
            values.append(team.name if team else "")
        rows.append(values)
    data, count = to_csv(header, rows)
    return Export("tickets", "tickets.csv", count, data)


async def build(
    session: AsyncSession, settings: Settings, kinds: Iterable[str] = KINDS
) -> list[Export]:
    """The requested exports (tickets skipped when the help queue is not installed)."""
    makers = {
        "participants": participants,
        "teams": teams_export,
        "submissions": submissions_export,
        "scores": scores_export,
        "tickets": tickets_export,
    }
    out: list[Export] = []
    for kind in kinds:
        made = await makers[kind](session, settings)
        if made is not None:
            out.append(made)
    return out


async def collect(settings: Settings) -> list[Export]:
    """Every export, read from the configured database (for ``hackbot export``)."""
    from bot.db import Database
    from bot.migrations import ensure_schema

    db = Database(settings.database.url)
    try:
        await ensure_schema(db, auto_upgrade=False)
        async with db.read() as session:
            return await build(session, settings)
    finally:
        await db.dispose()


def write_files(made: list[Export], out_dir: Any) -> list[tuple[Any, int]]:
    """Write exports into ``out_dir`` (created if missing); (path, rows) for each."""
    from pathlib import Path

    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for export in made:
        path = directory / export.filename
        path.write_bytes(export.data)
        written.append((path, export.rows))
    return written
