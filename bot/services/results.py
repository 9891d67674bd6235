"""Results: the shortlist that moves judging to the next round, finalists, winners per
challenge and overall, and the ceremony that reveals the winners one by one.

Each list is first **planned** from the current ranking (:func:`plan`, nothing stored, so
organisers see it before confirming) and then **saved** (:func:`save`), replacing an
earlier list of the same kind, except once a ceremony has started revealing it.

* shortlist: the best ``shortlist_size`` projects of the round, always including the
  best project of each challenge (when the size allows); saving it opens the next round;
* finalists: the best ``finalists_per_challenge`` projects of each challenge;
* winners: places 1..``winners_per_challenge`` of each challenge and 1..``winners_overall``
  over all projects.

Projects flagged broken or absent by a majority of the judges who saw them are left out.

Organisers can also place winners by hand (:func:`set_winner`, :func:`remove_winner`): a
team's project at a place of a challenge or overall, replacing whoever held it (or moving
the project from its other place there). Those awards are marked ``manual``; they are
audited, revealed by the ceremony like the others, and exported. Saving the computed
winners again replaces them (the preview says how many). While a ceremony is running the
winners do not change (its order is fixed); once it is over they may, for the exports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.errors import Conflict, InvalidInput, NotFound
from bot.models import AuditEntry
from bot.models.challenges import Challenge
from bot.models.judging import Award, Ceremony
from bot.models.submissions import Submission
from bot.models.teams import Team
from bot.services import judging

KINDS = ("shortlist", "finalist", "winner")
OVERALL = "overall"
#: The places an organiser can give by hand, per challenge or overall.
MAX_PLACE = 10


def challenge_scope(challenge_id: int) -> str:
    return f"challenge:{challenge_id}"


@dataclass(frozen=True)
class Entry:
    kind: str
    scope: str
    place: int
    submission_id: int
    team_name: str
    title: str
    score: float | None
    manual: bool = False


def _eligible(rows: list[judging.Ranked]) -> list[judging.Ranked]:
    """Judged projects not flagged broken/absent by most of those who saw them."""
    return [r for r in rows if r.score is not None and r.flags <= r.reviews]


def _entry(kind: str, scope: str, place: int, row: judging.Ranked) -> Entry:
    return Entry(kind, scope, place, row.submission_id, row.team_name, row.title, row.score)


async def plan(session: AsyncSession, settings: Settings, kind: str) -> list[Entry]:
    if kind not in KINDS:
        raise InvalidInput("results.unknown_kind")
    cfg = settings.judging
    round_no = await judging.current_round(session)
    if kind == "shortlist" and round_no >= cfg.rounds:
        raise Conflict("results.last_round", rounds=cfg.rounds)
    rows = _eligible(await judging.ranking(session, settings, round_no))
    if not rows:
        raise Conflict("results.nothing_judged")
    by_challenge: dict[int, list[judging.Ranked]] = defaultdict(list)
    for row in rows:
        if row.challenge_id is not None:
            by_challenge[row.challenge_id].append(row)
    entries: list[Entry] = []
    if kind == "shortlist":
        size = cfg.shortlist_size
        chosen: list[judging.Ranked] = []
        if len(by_challenge) <= size:
            chosen = [group[0] for group in by_challenge.values()]
        for row in rows:
            if len(chosen) >= size:
                break
            if row not in chosen:
                chosen.append(row)
        order = {row.submission_id: i for i, row in enumerate(rows)}
        chosen.sort(key=lambda r: order[r.submission_id])
        entries = [_entry(kind, OVERALL, i + 1, row) for i, row in enumerate(chosen)]
    elif kind == "finalist":
        for challenge_id, group in sorted(by_challenge.items()):
            scope = challenge_scope(challenge_id)
            for i, row in enumerate(group[: cfg.finalists_per_challenge]):
                entries.append(_entry(kind, scope, i + 1, row))
    else:
        for challenge_id, group in sorted(by_challenge.items()):
            scope = challenge_scope(challenge_id)
            for i, row in enumerate(group[: cfg.winners_per_challenge]):
                entries.append(_entry(kind, scope, i + 1, row))
        for i, row in enumerate(rows[: cfg.winners_overall]):
            entries.append(_entry(kind, OVERALL, i + 1, row))
    if not entries:
        raise Conflict("results.nothing_judged")
    return entries


async def _ceremony_started(session: AsyncSession) -> bool:
    return (
        await session.scalar(select(Ceremony.id).where(Ceremony.status != "cancelled").limit(1))
    ) is not None


async def save(
    session: AsyncSession,
    settings: Settings,
    now: datetime,
    actor: int | None,
    kind: str,
    expected: list[Entry] | None = None,
) -> list[Entry]:
    """Store a list (planned again now: if it changed since the preview, nothing is saved)."""
    entries = await plan(session, settings, kind)
    if expected is not None and [(e.scope, e.submission_id) for e in entries] != [
        (e.scope, e.submission_id) for e in expected
    ]:
        raise Conflict("results.changed_since_preview")
    if kind == "winner" and await _ceremony_started(session):
        raise Conflict("results.ceremony_started")
    round_no = await judging.current_round(session)
    query = delete(Award).where(Award.kind == kind)
    if kind == "shortlist":
        query = query.where(Award.round == round_no)
    await session.execute(query)
    for entry in entries:
        session.add(
            Award(
                kind=kind,
                scope=entry.scope,
                round=round_no,
                place=entry.place,
                submission_id=entry.submission_id,
                score=entry.score,
                decided_at=now,
                decided_by_discord_id=actor,
            )
        )
    if kind == "shortlist":
        await judging.set_round(session, round_no + 1)
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action=f"results.{kind}",
            subject=f"round:{round_no}",
            detail={"projects": [e.submission_id for e in entries]},
        )
    )
    await session.flush()
    return entries


@dataclass(frozen=True)
class Reveal:
    """One winner as the ceremony announces it."""

    award_id: int
    scope: str
    place: int
    challenge_name: str | None
    team_name: str
    title: str
    pitch: str
    gallery_thread_id: int | None
    member_names: list[str]


async def reveal_info(session: AsyncSession, award_id: int) -> Reveal:
    from bot.services import teams as team_service

    award = await session.get(Award, award_id)
    if award is None:
        raise NotFound("results.unknown_award")
    submission = await session.get(Submission, award.submission_id)
    assert submission is not None
    team = await session.get(Team, submission.team_id)
    assert team is not None
    challenge_name = None
    if award.scope.startswith("challenge:"):
        challenge = await session.get(Challenge, int(award.scope.split(":", 1)[1]))
        challenge_name = challenge.name if challenge else None
    names = [m.display_name for m, _ in await team_service.team_members(session, team.id)]
    return Reveal(
        award.id,
        award.scope,
        award.place,
        challenge_name,
        team.name,
        submission.title,
        submission.pitch,
        submission.gallery_thread_id,
        names,
    )


async def winners(session: AsyncSession) -> list[Award]:
    return list(
        (
            await session.scalars(select(Award).where(Award.kind == "winner").order_by(Award.id))
        ).all()
    )


async def ceremony_order(session: AsyncSession) -> list[int]:
    """Challenge winners first (challenges in their listed order, lower places first), then
    the overall places from the last to the first: the biggest news comes last."""
    awards = await winners(session)
    if not awards:
        raise Conflict("results.no_winners")
    positions = {
        cid: (pos, cid)
        for cid, pos in (await session.execute(select(Challenge.id, Challenge.position))).all()
    }

    def key(award: Award) -> tuple[int, tuple[int, int], int]:
        if award.scope == OVERALL:
            return (1, (0, 0), -award.place)
        cid = int(award.scope.split(":", 1)[1])
        return (0, positions.get(cid, (1 << 30, cid)), -award.place)

    return [award.id for award in sorted(awards, key=key)]


async def start_ceremony(
    session: AsyncSession, now: datetime, actor: int | None, interval: int, lang: str
) -> Ceremony:
    running = await session.scalar(select(Ceremony).where(Ceremony.status == "running"))
    if running is not None:
        raise Conflict("results.ceremony_running")
    order = await ceremony_order(session)
    ceremony = Ceremony(
        status="running",
        interval_seconds=interval,
        order=order,
        revealed=0,
        lang=lang,
        started_by_discord_id=actor,
        started_at=now,
    )
    session.add(ceremony)
    await session.flush()
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="results.ceremony",
            subject=f"ceremony:{ceremony.id}",
            detail={"winners": len(order), "interval": interval},
        )
    )
    return ceremony


async def claim_reveal(
    session: AsyncSession, now: datetime, ceremony_id: int, step: int
) -> tuple[int | None, bool]:
    """Take step ``step`` (0-based) of a ceremony: (award id to reveal or None, more after).

    Idempotent: a step already taken (a timer run twice, two clicks) returns None."""
    ceremony = await session.get(Ceremony, ceremony_id)
    if ceremony is None or ceremony.status != "running" or ceremony.revealed != step:
        return None, False
    order = list(ceremony.order or [])
    if step >= len(order):
        ceremony.status = "done"
        ceremony.finished_at = now
        return None, False
    ceremony.revealed = step + 1
    more = step + 1 < len(order)
    if not more:
        ceremony.status = "done"
        ceremony.finished_at = now
    return order[step], more


async def get_ceremony(session: AsyncSession, ceremony_id: int) -> Ceremony:
    row = await session.get(Ceremony, ceremony_id)
    if row is None:
        raise NotFound("results.unknown_ceremony")
    return row


async def awards_of(session: AsyncSession, kind: str) -> list[Award]:
    return list(
        (
            await session.scalars(
                select(Award).where(Award.kind == kind).order_by(Award.scope, Award.place)
            )
        ).all()
    )


# --------------------------------------------------------------------------
# Winners placed by hand


def parse_scope(value: str) -> str | None:
    """``overall`` or ``challenge:<id>`` from what autocomplete sends (None: not one of them)."""
    text = (value or "").strip().lower()
    if text == OVERALL:
        return OVERALL
    if text.startswith("challenge:") and text.split(":", 1)[1].isdigit():
        return text
    return None


async def scope_of(session: AsyncSession, value: str) -> tuple[str, str | None]:
    """(scope, challenge name) from ``overall``, ``challenge:<id>``, a challenge's id, slug
    or name; raises NotFound (the challenge's own message) for anything else."""
    from bot.services import challenges as challenge_service

    scope = parse_scope(value)
    if scope == OVERALL:
        return OVERALL, None
    text = scope.split(":", 1)[1] if scope else value
    challenge = await challenge_service.find(session, text)
    return challenge_scope(challenge.id), challenge.name


async def current_winners(session: AsyncSession) -> list[Entry]:
    """The saved winners (computed or placed by hand), by scope then place."""
    rows = (
        await session.execute(
            select(Award, Team.name, Submission.title)
            .join(Submission, Submission.id == Award.submission_id)
            .join(Team, Team.id == Submission.team_id)
            .where(Award.kind == "winner")
            .order_by(Award.scope != OVERALL, Award.scope, Award.place)
        )
    ).all()
    return [
        Entry("winner", a.scope, a.place, a.submission_id, team, title, a.score, a.manual)
        for a, team, title in rows
    ]


async def manual_winners(session: AsyncSession) -> int:
    """How many saved winners an organiser placed by hand."""
    rows = await session.scalars(
        select(Award.id).where(Award.kind == "winner", Award.manual.is_(True))
    )
    return len(rows.all())


async def _no_running_ceremony(session: AsyncSession) -> None:
    if await session.scalar(select(Ceremony.id).where(Ceremony.status == "running").limit(1)):
        raise Conflict("results.winner.ceremony_running")


@dataclass(frozen=True)
class WinnerChange:
    """What :func:`set_winner` or :func:`remove_winner` did."""

    scope: str
    challenge_name: str | None
    place: int
    team_name: str
    title: str
    replaced: str | None = None  # the team that held that place before
    moved_from: int | None = None  # the project's earlier place in that scope
    unchanged: bool = False


async def set_winner(
    session: AsyncSession,
    now: datetime,
    actor: int | None,
    scope_text: str,
    place: int,
    team_id: int,
) -> WinnerChange:
    """Put ``team_id``'s project at ``place`` of a challenge (or overall), by hand.

    Whoever held that place loses it; a project already placed elsewhere in the same scope
    moves. A challenge's place goes to a team of that challenge only."""
    from bot.services import submissions as submission_service
    from bot.services import teams as team_service

    await _no_running_ceremony(session)
    if not 1 <= place <= MAX_PLACE:
        raise InvalidInput("results.winner.bad_place", max=MAX_PLACE)
    scope, challenge_name = await scope_of(session, scope_text)
    team = await team_service.get_team(session, team_id)
    submission = await submission_service.get_for_team(session, team.id)
    if submission is None:
        raise InvalidInput("results.winner.no_submission", team=team.name)
    if scope != OVERALL and scope != challenge_scope(team.challenge_id or 0):
        raise InvalidInput(
            "results.winner.not_in_challenge", team=team.name, challenge=challenge_name or ""
        )
    awards = list(
        (
            await session.scalars(select(Award).where(Award.kind == "winner", Award.scope == scope))
        ).all()
    )
    holder = next((a for a in awards if a.place == place), None)
    mine = next((a for a in awards if a.submission_id == submission.id), None)
    if holder is not None and holder is mine:
        return WinnerChange(
            scope, challenge_name, place, team.name, submission.title, unchanged=True
        )
    replaced = None
    if holder is not None:
        replaced = await _team_name_of(session, holder.submission_id)
        await session.delete(holder)
        await session.flush()
    moved_from = mine.place if mine is not None else None
    round_no = await judging.current_round(session)
    if mine is None:
        mine = Award(kind="winner", scope=scope, submission_id=submission.id)
        session.add(mine)
    mine.round = round_no
    mine.place = place
    mine.score = None
    mine.manual = True
    mine.decided_at = now
    mine.decided_by_discord_id = actor
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="results.winner.set",
            subject=scope,
            detail={
                "place": place,
                "submission": submission.id,
                "team": team.name,
                "replaced": replaced,
                "moved_from": moved_from,
            },
        )
    )
    await session.flush()
    return WinnerChange(
        scope,
        challenge_name,
        place,
        team.name,
        submission.title,
        replaced=replaced,
        moved_from=moved_from,
    )


async def remove_winner(
    session: AsyncSession, now: datetime, actor: int | None, scope_text: str, place: int
) -> WinnerChange:
    """Leave ``place`` of a challenge (or overall) empty; the other places stay as they are."""
    await _no_running_ceremony(session)
    if not 1 <= place <= MAX_PLACE:
        raise InvalidInput("results.winner.bad_place", max=MAX_PLACE)
    scope, challenge_name = await scope_of(session, scope_text)
    award = await session.scalar(
        select(Award).where(Award.kind == "winner", Award.scope == scope, Award.place == place)
    )
    if award is None:
        raise NotFound("results.winner.nobody_there", place=place)
    submission = await session.get(Submission, award.submission_id)
    assert submission is not None
    team_name = await _team_name_of(session, award.submission_id) or "—"
    await session.delete(award)
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=actor,
            action="results.winner.remove",
            subject=scope,
            detail={
                "place": place,
                "submission": award.submission_id,
                "team": team_name,
                "was_manual": award.manual,
            },
        )
    )
    await session.flush()
    return WinnerChange(scope, challenge_name, place, team_name, submission.title)


async def _team_name_of(session: AsyncSession, submission_id: int) -> str | None:
    return await session.scalar(
        select(Team.name)
        .join(Submission, Submission.team_id == Team.id)
        .where(Submission.id == submission_id)
    )


async def projects_for(
    session: AsyncSession, typed: str, challenge_id: int | None = None, limit: int = 25
) -> list[tuple[int, str, str]]:
    """(team id, team name, project title) of active teams with a submission whose team name
    or project title contains what was typed (for autocomplete), optionally of one challenge."""
    from bot.services import names

    folded = names.fold(typed or "")
    query = (
        select(Team.id, Team.name, Submission.title)
        .join(Submission, Submission.team_id == Team.id)
        .where(Team.archived_at.is_(None))
    )
    if challenge_id is not None:
        query = query.where(Team.challenge_id == challenge_id)
    rows = (await session.execute(query.order_by(Team.name_folded))).all()
    found = [
        (tid, name, title)
        for tid, name, title in rows
        if not folded or folded in names.fold(name) or folded in names.fold(title)
    ]
    return found[:limit]
