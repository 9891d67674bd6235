"""Judging: who looks at what next, scores, comparisons, and the ranking they make.

Two modes (``[judging] mode``):

* **rubric** — ``/judge next`` hands a judge one project (:func:`next_review`): the one
  with the fewest reviews (finished ones, plus assignments younger than
  :data:`ASSIGNMENT_TTL`), never their own team's, never one they already saw; ties are
  broken by a hash of (judge, project), so judges starting together fan out over
  different projects. Scores (1..``scale_max`` per criterion) are combined with the
  criteria weights, then **normalised per judge** (z-scores: each judge's own mean and
  spread), so a harsh and a lenient judge weigh the same (:func:`rubric_scores`).
* **pairwise** — the Crowd Bradley–Terry model of Gavel (Chen et al., "Pairwise ranking
  aggregation in a crowdsourced setting", WSDM 2013): every project has a quality
  estimate (mean ``mu``, variance ``sigma_sq``), every judge a reliability
  (``alpha``/``beta``); each vote "current beats previous" updates them
  (:func:`crowd_bt_update`), and the next project shown to a judge is the one with the
  largest expected information gain against the one they just saw
  (:func:`choose_next`), with Gavel's exploration rules (unseen projects first, projects
  other judges are looking at avoided, a random pick a quarter of the time).

Rounds: round 1 judges every submission; each later round judges the shortlist of the
previous one (bot.services.results makes the shortlist and moves the round on).

Pure Python (``math`` only); one assignment costs one pass over the projects of the
round, a few milliseconds for 1,500 projects.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import CriterionSettings, Settings
from bot.errors import Conflict, InvalidInput, NotAllowed, NotFound
from bot.models import AuditEntry
from bot.models.judging import Award, Comparison, PairwiseItem, PairwiseJudge, Review
from bot.models.submissions import Submission
from bot.models.teams import Team
from bot.services import event as event_service
from bot.services import teams as team_service

ROUND_KEY = "judging.round"
#: An assignment nobody finished after this long no longer counts as a review in progress.
ASSIGNMENT_TTL = timedelta(minutes=20)
FLAG_REASONS = ("broken", "absent")

#: Used when the config lists no [[judging_criteria]]; names come from the catalogue
#: (``judging.criterion.<key>``).
DEFAULT_CRITERIA: tuple[CriterionSettings, ...] = (
    CriterionSettings(key="impact", name="", weight=0.3),
    CriterionSettings(key="execution", name="", weight=0.3),
    CriterionSettings(key="originality", name="", weight=0.2),
    CriterionSettings(key="presentation", name="", weight=0.2),
)


def criteria(settings: Settings) -> tuple[CriterionSettings, ...]:
    return settings.judging_criteria or DEFAULT_CRITERIA


# --------------------------------------------------------------------------
# Rounds and scope


async def current_round(session: AsyncSession) -> int:
    value = await event_service.get_state(session, ROUND_KEY)
    return int(value) if isinstance(value, int) and value >= 1 else 1


async def set_round(session: AsyncSession, value: int) -> None:
    await event_service.set_state(session, ROUND_KEY, value)


async def scope(session: AsyncSession, round_no: int) -> list[int]:
    """Submission ids judged in a round: all of them in round 1, then the shortlist."""
    if round_no <= 1:
        rows = await session.scalars(select(Submission.id).order_by(Submission.id))
    else:
        rows = await session.scalars(
            select(Award.submission_id)
            .where(Award.kind == "shortlist", Award.round == round_no - 1)
            .order_by(Award.submission_id)
        )
    return list(rows.all())


async def own_submission(session: AsyncSession, judge_id: int) -> int | None:
    """The submission of the judge's own team (a judge who is also a participant)."""
    team = await team_service.team_of(session, judge_id)
    if team is None:
        return None
    return await session.scalar(select(Submission.id).where(Submission.team_id == team.id))


def spread(judge_id: int, submission_id: int) -> int:
    """A stable pseudo-random tie-break, different for every judge."""
    digest = hashlib.blake2b(f"{judge_id}:{submission_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# --------------------------------------------------------------------------
# Rubric: assignment and scoring


async def active_review(session: AsyncSession, judge_id: int, round_no: int) -> Review | None:
    return await session.scalar(
        select(Review)
        .where(
            Review.judge_discord_id == judge_id,
            Review.round == round_no,
            Review.status == "assigned",
        )
        .order_by(Review.id)
        .limit(1)
    )


def pick_least_reviewed(
    judge_id: int,
    candidates: Iterable[int],
    load: dict[int, int],
    flags: dict[int, int],
) -> int | None:
    """Fewest reviews first, then fewest flags, then a per-judge spread."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for sid in candidates:
        key = (load.get(sid, 0), flags.get(sid, 0), spread(judge_id, sid))
        if best is None or key < best:
            best, chosen = key, sid
    return chosen


async def next_review(
    session: AsyncSession, settings: Settings, now: datetime, judge_id: int
) -> Review | None:
    """The project this judge scores next (resumes an unfinished one); None when none is left."""
    round_no = await current_round(session)
    existing = await active_review(session, judge_id, round_no)
    if existing is not None:
        return existing
    ids = await scope(session, round_no)
    own = await own_submission(session, judge_id)
    seen = set(
        (
            await session.scalars(
                select(Review.submission_id).where(
                    Review.judge_discord_id == judge_id, Review.round == round_no
                )
            )
        ).all()
    )
    rows = (
        await session.execute(
            select(Review.submission_id, Review.status, Review.assigned_at).where(
                Review.round == round_no
            )
        )
    ).all()
    load: Counter[int] = Counter()
    flags: Counter[int] = Counter()
    fresh = now - ASSIGNMENT_TTL
    for sid, status, assigned_at in rows:
        if status == "scored" or (status == "assigned" and assigned_at >= fresh):
            load[sid] += 1
        elif status == "flagged":
            flags[sid] += 1
    candidates = [sid for sid in ids if sid != own and sid not in seen]
    chosen = pick_least_reviewed(judge_id, candidates, load, flags)
    if chosen is None:
        return None
    review = Review(
        round=round_no,
        submission_id=chosen,
        judge_discord_id=judge_id,
        status="assigned",
        scores={},
        assigned_at=now,
    )
    session.add(review)
    await session.flush()
    return review


async def _own_review(session: AsyncSession, review_id: int, judge_id: int) -> Review:
    review = await session.get(Review, review_id)
    if review is None or review.judge_discord_id != judge_id:
        raise NotFound("judging.unknown_review")
    if review.status != "assigned":
        raise Conflict("judging.review_closed")
    return review


async def set_score(
    session: AsyncSession,
    settings: Settings,
    review_id: int,
    judge_id: int,
    criterion: str,
    value: int,
) -> Review:
    review = await _own_review(session, review_id, judge_id)
    if criterion not in {c.key for c in criteria(settings)}:
        raise InvalidInput("judging.unknown_criterion")
    if not 1 <= value <= settings.judging.scale_max:
        raise InvalidInput("judging.bad_score", max=settings.judging.scale_max)
    review.scores = {**(review.scores or {}), criterion: int(value)}
    return review


async def finish(
    session: AsyncSession, settings: Settings, now: datetime, review_id: int, judge_id: int
) -> Review:
    review = await _own_review(session, review_id, judge_id)
    missing = [c for c in criteria(settings) if c.key not in (review.scores or {})]
    if missing:
        raise InvalidInput("judging.missing_scores", count=len(missing))
    review.status = "scored"
    review.done_at = now
    return review


async def skip(session: AsyncSession, now: datetime, review_id: int, judge_id: int) -> Review:
    review = await _own_review(session, review_id, judge_id)
    review.status = "skipped"
    review.done_at = now
    return review


async def flag(
    session: AsyncSession, now: datetime, review_id: int, judge_id: int, reason: str
) -> Review:
    if reason not in FLAG_REASONS:
        raise InvalidInput("judging.bad_flag")
    review = await _own_review(session, review_id, judge_id)
    review.status = "flagged"
    review.flag_reason = reason
    review.done_at = now
    session.add(
        AuditEntry(
            at=now,
            actor_discord_id=judge_id,
            action="judging.flag",
            subject=f"submission:{review.submission_id}",
            detail={"reason": reason, "round": review.round},
        )
    )
    return review


def weighted(scores: dict[str, Any], crit: Sequence[CriterionSettings]) -> float:
    total = sum(c.weight for c in crit)
    return sum(c.weight * float(scores[c.key]) for c in crit) / total


def rubric_scores(
    reviews: Iterable[tuple[int, int, float]],
) -> dict[int, tuple[float, int]]:
    """Per project (mean z-score, number of reviews) from (judge, project, weighted score).

    Each score becomes a z-score against its own judge's scores, so a judge who gives
    everything 2 to 3 and one who gives 4 to 5 count the same. A judge with fewer than two
    reviews, or who gave every project the same score, has no spread of their own: their
    scores are measured against everybody's.
    """
    rows = list(reviews)
    if not rows:
        return {}
    by_judge: dict[int, list[float]] = defaultdict(list)
    for judge, _, value in rows:
        by_judge[judge].append(value)
    everyone = [value for _, _, value in rows]
    g_mean = sum(everyone) / len(everyone)
    g_std = _std(everyone, g_mean)
    stats: dict[int, tuple[float, float]] = {}
    for judge, values in by_judge.items():
        mean = sum(values) / len(values)
        std = _std(values, mean)
        stats[judge] = (mean, std) if len(values) >= 2 and std > 1e-9 else (g_mean, g_std)
    sums: dict[int, float] = defaultdict(float)
    counts: Counter[int] = Counter()
    for judge, project, value in rows:
        mean, std = stats[judge]
        sums[project] += (value - mean) / std if std > 1e-9 else 0.0
        counts[project] += 1
    return {p: (sums[p] / counts[p], counts[p]) for p in sums}


def _std(values: Sequence[float], mean: float) -> float:
    if len(values) < 2:
        return 0.0
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


# --------------------------------------------------------------------------
# Crowd Bradley-Terry (the model of Gavel), pure Python

GAMMA = 0.1  # weight of what a vote teaches about the judge
KAPPA = 0.0001  # variance never shrinks below this fraction
MU_PRIOR = 0.0
SIGMA_SQ_PRIOR = 1.0
ALPHA_PRIOR = 10.0  # a judge is assumed right about 10 times out of 11 at first
BETA_PRIOR = 1.0
EPSILON = 0.25  # how often the next project is picked at random (exploration)
MIN_VIEWS = 2  # projects seen fewer times than this are shown first


def digamma(x: float) -> float:
    """ψ(x) for x > 0: recurrence up to 6, then the asymptotic series (error < 1e-12)."""
    result = 0.0
    while x < 6.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    return (
        result
        + math.log(x)
        - 0.5 * inv
        - inv2
        * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 / 132))))
    )


def betaln(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def divergence_gaussian(mu_1: float, s1: float, mu_2: float, s2: float) -> float:
    ratio = s1 / s2
    return (mu_1 - mu_2) ** 2 / (2 * s2) + (ratio - 1 - math.log(ratio)) / 2


def divergence_beta(a1: float, b1: float, a2: float, b2: float) -> float:
    return (
        betaln(a2, b2)
        - betaln(a1, b1)
        + (a1 - a2) * digamma(a1)
        + (b1 - b2) * digamma(b1)
        + (a2 - a1 + b2 - b1) * digamma(a1 + b1)
    )


def _updated_annotator(
    alpha: float, beta: float, mu_w: float, s_w: float, mu_l: float, s_l: float
) -> tuple[float, float, float]:
    ew, el = math.exp(mu_w), math.exp(mu_l)
    c_1 = ew / (ew + el) + 0.5 * (s_w + s_l) * (ew * el * (el - ew)) / ((ew + el) ** 3)
    c_2 = 1 - c_1
    c = (c_1 * alpha + c_2 * beta) / (alpha + beta)
    expt = (c_1 * (alpha + 1) * alpha + c_2 * alpha * beta) / (
        c * (alpha + beta + 1) * (alpha + beta)
    )
    expt_sq = (c_1 * (alpha + 2) * (alpha + 1) * alpha + c_2 * (alpha + 1) * alpha * beta) / (
        c * (alpha + beta + 2) * (alpha + beta + 1) * (alpha + beta)
    )
    variance = expt_sq - expt**2
    new_alpha = ((expt - expt_sq) * expt) / variance
    new_beta = (expt - expt_sq) * (1 - expt) / variance
    return new_alpha, new_beta, c


def _updated_mus(
    alpha: float, beta: float, mu_w: float, s_w: float, mu_l: float, s_l: float
) -> tuple[float, float]:
    ew, el = math.exp(mu_w), math.exp(mu_l)
    mult = (alpha * ew) / (alpha * ew + beta * el) - ew / (ew + el)
    return mu_w + s_w * mult, mu_l - s_l * mult


def _updated_sigma_sqs(
    alpha: float, beta: float, mu_w: float, s_w: float, mu_l: float, s_l: float
) -> tuple[float, float]:
    ew, el = math.exp(mu_w), math.exp(mu_l)
    mult = (alpha * ew * beta * el) / ((alpha * ew + beta * el) ** 2) - (ew * el) / ((ew + el) ** 2)
    return s_w * max(1 + s_w * mult, KAPPA), s_l * max(1 + s_l * mult, KAPPA)


def crowd_bt_update(
    alpha: float, beta: float, mu_w: float, s_w: float, mu_l: float, s_l: float
) -> tuple[float, float, float, float, float, float]:
    """After "winner beats loser" from a judge: (alpha, beta, mu_w, s_w, mu_l, s_l)."""
    new_alpha, new_beta, _ = _updated_annotator(alpha, beta, mu_w, s_w, mu_l, s_l)
    new_mu_w, new_mu_l = _updated_mus(alpha, beta, mu_w, s_w, mu_l, s_l)
    new_s_w, new_s_l = _updated_sigma_sqs(alpha, beta, mu_w, s_w, mu_l, s_l)
    return new_alpha, new_beta, new_mu_w, new_s_w, new_mu_l, new_s_l


def expected_information_gain(
    alpha: float, beta: float, mu_a: float, s_a: float, mu_b: float, s_b: float
) -> float:
    """What a judge comparing a and b is expected to teach the model (Gavel's criterion)."""
    a1, b1, c = _updated_annotator(alpha, beta, mu_a, s_a, mu_b, s_b)
    mu_a_1, mu_b_1 = _updated_mus(alpha, beta, mu_a, s_a, mu_b, s_b)
    s_a_1, s_b_1 = _updated_sigma_sqs(alpha, beta, mu_a, s_a, mu_b, s_b)
    a2, b2, _ = _updated_annotator(alpha, beta, mu_b, s_b, mu_a, s_a)
    mu_b_2, mu_a_2 = _updated_mus(alpha, beta, mu_b, s_b, mu_a, s_a)
    s_b_2, s_a_2 = _updated_sigma_sqs(alpha, beta, mu_b, s_b, mu_a, s_a)
    return c * (
        divergence_gaussian(mu_a_1, s_a_1, mu_a, s_a)
        + divergence_gaussian(mu_b_1, s_b_1, mu_b, s_b)
        + GAMMA * divergence_beta(a1, b1, alpha, beta)
    ) + (1 - c) * (
        divergence_gaussian(mu_a_2, s_a_2, mu_a, s_a)
        + divergence_gaussian(mu_b_2, s_b_2, mu_b, s_b)
        + GAMMA * divergence_beta(a2, b2, alpha, beta)
    )


@dataclass
class ItemState:
    id: int
    mu: float = MU_PRIOR
    sigma_sq: float = SIGMA_SQ_PRIOR
    views: int = 0


def choose_next(
    items: Sequence[ItemState],
    *,
    alpha: float,
    beta: float,
    previous: ItemState | None,
    exclude: set[int],
    busy: set[int],
    rng: random.Random,
) -> ItemState | None:
    """Gavel's choice: among projects not seen, not being looked at by another judge and
    seen fewer than MIN_VIEWS times (each filter dropped when it leaves nothing), a random
    one EPSILON of the time, else the one with the most expected information."""
    available = [item for item in items if item.id not in exclude]
    if not available:
        return None
    nonbusy = [item for item in available if item.id not in busy]
    preferred = nonbusy or available
    less_seen = [item for item in preferred if item.views < MIN_VIEWS]
    pool = less_seen or preferred
    pool = sorted(pool, key=lambda item: item.id)
    rng.shuffle(pool)  # ties in the argmax go to a random one
    if previous is None or rng.random() < EPSILON:
        return pool[0]
    return max(
        pool,
        key=lambda item: expected_information_gain(
            alpha, beta, previous.mu, previous.sigma_sq, item.mu, item.sigma_sq
        ),
    )


# --------------------------------------------------------------------------
# Pairwise on the database


async def _items(session: AsyncSession, round_no: int) -> dict[int, PairwiseItem]:
    ids = await scope(session, round_no)
    rows = {
        row.submission_id: row
        for row in (
            await session.scalars(select(PairwiseItem).where(PairwiseItem.round == round_no))
        ).all()
    }
    for sid in ids:
        if sid not in rows:
            row = PairwiseItem(
                round=round_no, submission_id=sid, mu=MU_PRIOR, sigma_sq=SIGMA_SQ_PRIOR, views=0
            )
            session.add(row)
            rows[sid] = row
    await session.flush()
    wanted = set(ids)
    return {sid: row for sid, row in rows.items() if sid in wanted}


async def _judge_state(session: AsyncSession, round_no: int, judge_id: int) -> PairwiseJudge:
    state = await session.scalar(
        select(PairwiseJudge).where(
            PairwiseJudge.round == round_no, PairwiseJudge.judge_discord_id == judge_id
        )
    )
    if state is None:
        state = PairwiseJudge(
            round=round_no,
            judge_discord_id=judge_id,
            alpha=ALPHA_PRIOR,
            beta=BETA_PRIOR,
            seen=[],
        )
        session.add(state)
        await session.flush()
    return state


@dataclass(frozen=True)
class PairwiseTurn:
    round: int
    current_id: int | None  # the project in front of the judge (None: nothing left)
    previous_id: int | None  # the one to compare it with (None: first of the session)


async def _advance(
    session: AsyncSession, state: PairwiseJudge, now: datetime, items: dict[int, PairwiseItem]
) -> None:
    """Put the next project in front of the judge."""
    own = await own_submission(session, state.judge_discord_id)
    busy_rows = await session.execute(
        select(PairwiseJudge.current_id).where(
            PairwiseJudge.round == state.round,
            PairwiseJudge.judge_discord_id != state.judge_discord_id,
            PairwiseJudge.current_id.is_not(None),
            PairwiseJudge.updated_at >= now - ASSIGNMENT_TTL,
        )
    )
    busy = {row[0] for row in busy_rows.all()}
    exclude = set(state.seen or [])
    if own is not None:
        exclude.add(own)
    flagged = (
        await session.scalars(
            select(Review.submission_id).where(
                Review.round == state.round,
                Review.judge_discord_id == state.judge_discord_id,
            )
        )
    ).all()
    exclude.update(flagged)
    states = [ItemState(sid, row.mu, row.sigma_sq, row.views) for sid, row in items.items()]
    previous = None
    if state.previous_id in items:
        row = items[state.previous_id]
        previous = ItemState(row.submission_id, row.mu, row.sigma_sq, row.views)
    rng = random.Random(f"{state.judge_discord_id}:{state.round}:{len(state.seen or [])}")
    chosen = choose_next(
        states,
        alpha=state.alpha,
        beta=state.beta,
        previous=previous,
        exclude=exclude,
        busy=busy,
        rng=rng,
    )
    state.current_id = chosen.id if chosen else None
    state.updated_at = now
    if chosen is not None:
        state.seen = [*(state.seen or []), chosen.id]
        items[chosen.id].views += 1


async def pairwise_turn(session: AsyncSession, now: datetime, judge_id: int) -> PairwiseTurn:
    """What the judge looks at now (gives them a first project if they have none)."""
    round_no = await current_round(session)
    state = await _judge_state(session, round_no, judge_id)
    if state.current_id is None:
        items = await _items(session, round_no)
        await _advance(session, state, now, items)
    return PairwiseTurn(round_no, state.current_id, state.previous_id)


async def _require_turn(
    session: AsyncSession, judge_id: int, expected_current: int
) -> tuple[PairwiseJudge, dict[int, PairwiseItem]]:
    round_no = await current_round(session)
    state = await _judge_state(session, round_no, judge_id)
    if state.current_id != expected_current:
        raise Conflict("judging.review_closed")
    return state, await _items(session, round_no)


async def pairwise_vote(
    session: AsyncSession,
    now: datetime,
    judge_id: int,
    current_id: int,
    current_better: bool | None,
) -> PairwiseTurn:
    """Record the judge's verdict on (current vs previous) and move on.

    ``current_better`` None is "done looking" at the first project of a session (nothing
    to compare with yet)."""
    state, items = await _require_turn(session, judge_id, current_id)
    previous = state.previous_id
    if current_better is not None:
        if previous is None or previous not in items:
            raise Conflict("judging.nothing_to_compare")
        winner, loser = (current_id, previous) if current_better else (previous, current_id)
        w, lo = items[winner], items[loser]
        alpha, beta, w.mu, w.sigma_sq, lo.mu, lo.sigma_sq = crowd_bt_update(
            state.alpha, state.beta, w.mu, w.sigma_sq, lo.mu, lo.sigma_sq
        )
        state.alpha, state.beta = alpha, beta
        session.add(
            Comparison(
                round=state.round,
                judge_discord_id=judge_id,
                winner_id=winner,
                loser_id=loser,
                at=now,
            )
        )
    state.previous_id = current_id
    await _advance(session, state, now, items)
    return PairwiseTurn(state.round, state.current_id, state.previous_id)


async def pairwise_skip(
    session: AsyncSession, now: datetime, judge_id: int, current_id: int, reason: str | None
) -> PairwiseTurn:
    """Skip (or flag as broken/absent) the project in front of the judge; the previous one
    stays the point of comparison."""
    if reason is not None and reason not in FLAG_REASONS:
        raise InvalidInput("judging.bad_flag")
    state, items = await _require_turn(session, judge_id, current_id)
    session.add(
        Review(
            round=state.round,
            submission_id=current_id,
            judge_discord_id=judge_id,
            status="flagged" if reason else "skipped",
            scores={},
            flag_reason=reason,
            assigned_at=now,
            done_at=now,
        )
    )
    if reason:
        session.add(
            AuditEntry(
                at=now,
                actor_discord_id=judge_id,
                action="judging.flag",
                subject=f"submission:{current_id}",
                detail={"reason": reason, "round": state.round},
            )
        )
    await session.flush()
    await _advance(session, state, now, items)
    return PairwiseTurn(state.round, state.current_id, state.previous_id)


# --------------------------------------------------------------------------
# Rankings and coverage


@dataclass(frozen=True)
class Ranked:
    submission_id: int
    team_id: int
    team_name: str
    title: str
    challenge_id: int | None
    score: float | None  # None: nobody judged it yet
    reviews: int
    flags: int


async def _projects(
    session: AsyncSession, ids: list[int]
) -> dict[int, tuple[int, str, str, int | None]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Submission.id, Team.id, Team.name, Submission.title, Team.challenge_id)
        .join(Team, Team.id == Submission.team_id)
        .where(Submission.id.in_(ids))
    )
    return {sid: (tid, name, title, ch) for sid, tid, name, title, ch in rows.all()}


async def ranking(
    session: AsyncSession, settings: Settings, round_no: int | None = None
) -> list[Ranked]:
    """Every project of a round, best first (unjudged ones last)."""
    round_no = round_no or await current_round(session)
    ids = await scope(session, round_no)
    info = await _projects(session, ids)
    flag_counts: Counter[int] = Counter(
        sid
        for (sid,) in (
            await session.execute(
                select(Review.submission_id).where(
                    Review.round == round_no, Review.status == "flagged"
                )
            )
        ).all()
    )
    scores: dict[int, tuple[float, int]] = {}
    if settings.judging.mode == "rubric":
        crit = criteria(settings)
        rows = (
            await session.execute(
                select(Review.judge_discord_id, Review.submission_id, Review.scores).where(
                    Review.round == round_no, Review.status == "scored"
                )
            )
        ).all()
        usable = [
            (judge, sid, weighted(sc, crit))
            for judge, sid, sc in rows
            if all(c.key in (sc or {}) for c in crit)
        ]
        scores = rubric_scores(usable)
    else:
        items = (
            await session.scalars(select(PairwiseItem).where(PairwiseItem.round == round_no))
        ).all()
        compared: Counter[int] = Counter()
        for winner, loser in (
            await session.execute(
                select(Comparison.winner_id, Comparison.loser_id).where(
                    Comparison.round == round_no
                )
            )
        ).all():
            compared[winner] += 1
            compared[loser] += 1
        scores = {
            row.submission_id: (row.mu, compared[row.submission_id])
            for row in items
            if compared[row.submission_id]
        }
    out = []
    for sid in ids:
        if sid not in info:
            continue
        tid, name, title, challenge = info[sid]
        score, n = scores.get(sid, (None, 0))
        out.append(Ranked(sid, tid, name, title, challenge, score, n, flag_counts[sid]))
    out.sort(
        key=lambda r: (
            r.score is None,
            -(r.score if r.score is not None else 0.0),
            -r.reviews,
            r.submission_id,
        )
    )
    return out


@dataclass(frozen=True)
class Coverage:
    round: int
    mode: str
    projects: int
    histogram: dict[int, int]  # reviews (capped at the target) -> projects
    target: int
    unseen: list[int]  # submission ids nobody has judged yet in this round
    judges_total: int
    judges_recent: int  # did something in the last 15 minutes
    reviews_done: int
    flagged: int


async def coverage(session: AsyncSession, settings: Settings, now: datetime) -> Coverage:
    round_no = await current_round(session)
    ids = await scope(session, round_no)
    recent = now - timedelta(minutes=15)
    judged: Counter[int] = Counter()
    judges: set[int] = set()
    active: set[int] = set()
    flagged = 0
    done = 0
    for sid, judge, status, at in (
        await session.execute(
            select(
                Review.submission_id,
                Review.judge_discord_id,
                Review.status,
                func.coalesce(Review.done_at, Review.assigned_at),
            ).where(Review.round == round_no)
        )
    ).all():
        judges.add(judge)
        if at >= recent:
            active.add(judge)
        if status == "scored":
            judged[sid] += 1
            done += 1
        elif status == "flagged":
            flagged += 1
    for winner, loser, judge, at in (
        await session.execute(
            select(
                Comparison.winner_id,
                Comparison.loser_id,
                Comparison.judge_discord_id,
                Comparison.at,
            ).where(Comparison.round == round_no)
        )
    ).all():
        judged[winner] += 1
        judged[loser] += 1
        judges.add(judge)
        done += 1
        if at >= recent:
            active.add(judge)
    if settings.judging.mode == "pairwise":
        for judge, updated in (
            await session.execute(
                select(PairwiseJudge.judge_discord_id, PairwiseJudge.updated_at).where(
                    PairwiseJudge.round == round_no
                )
            )
        ).all():
            judges.add(judge)
            if updated >= recent:
                active.add(judge)
    target = settings.judging.reviews_per_project
    histogram: Counter[int] = Counter(min(judged[sid], target) for sid in ids)
    return Coverage(
        round=round_no,
        mode=settings.judging.mode,
        projects=len(ids),
        histogram=dict(sorted(histogram.items())),
        target=target,
        unseen=[sid for sid in ids if not judged[sid]],
        judges_total=len(judges),
        judges_recent=len(active),
        reviews_done=done,
        flagged=flagged,
    )


def require_judge(is_judge: bool) -> None:
    if not is_judge:
        raise NotAllowed("judging.judges_only")


def kendall_tau(order_a: Sequence[int], order_b: Sequence[int]) -> float:
    """Kendall's tau between two orderings of the same items (1: same, -1: reversed)."""
    pos_b = {item: i for i, item in enumerate(order_b)}
    items = [item for item in order_a if item in pos_b]
    n = len(items)
    if n < 2:
        return 1.0
    concordant = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            if pos_b[items[i]] < pos_b[items[j]]:
                concordant += 1
            else:
                discordant += 1
    return (concordant - discordant) / (n * (n - 1) / 2)
