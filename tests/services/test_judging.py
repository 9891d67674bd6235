"""Judging on synthetic data and on a real database: assignment rules, per-judge
normalisation, the Crowd Bradley-Terry model, rankings against a known ordering,
shortlists, winners and the ceremony's steps.

Thresholds. Rankings are compared with the true order by Kendall's tau; (1 + tau) / 2 is
the share of pairs put in the right order. For 40 projects a random ranking gives
tau = 0 with a standard deviation of about 0.11, so 0.6 is more than five deviations
above chance (80 % of pairs right) while leaving room for judges who are noisy on
purpose: every rubric score carries a Gaussian error of 0.7 point on a 1-5 scale and
is rounded, a third of the judges are harsh and a third lenient; in pairwise mode two
judges out of ten vote at random. The seeds are fixed, so each run is identical.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from bot.clock import utcnow
from bot.config import settings_from_dict
from bot.errors import Conflict, InvalidInput, NotFound
from bot.models.judging import Review
from bot.services import judging as svc
from bot.services import registration as reg
from bot.services import results
from bot.services import submissions as subs
from bot.services import teams as team_service

NOW = utcnow()
N_PROJECTS = 40


def make_settings(**extra):
    data = {"event": {"name": "Test", "guild_id": 1}, "teams": {"min_size": 1, "max_size": 4}}
    data.update(extra)
    return settings_from_dict(data, Path("."))


SETTINGS = make_settings()


# --------------------------------------------------------------------------
# Synthetic sets


def rubric_run(seed: int) -> tuple[float, float]:
    """(tau of the normalised ranking, tau of plain means) for noisy, biased judges."""
    rng = random.Random(seed)
    quality = {p: p / (N_PROJECTS - 1) for p in range(1, N_PROJECTS + 1)}
    judges = []
    for k in range(12):
        centre = (1.8, 4.2, 3.0)[k % 3]  # harsh, lenient, neutral
        speed = 2 if k % 3 == 0 else 1  # harsh judges review twice as many projects
        judges.append((1000 + k, centre, rng.uniform(0.7, 1.1), speed))
    load: dict[int, int] = {}
    seen: dict[int, set[int]] = {judge: set() for judge, *_ in judges}
    rows: list[tuple[int, int, float]] = []
    while min(load.get(p, 0) for p in quality) < 3:
        for judge, centre, spread, speed in judges:
            for _ in range(speed):
                candidates = [p for p in quality if p not in seen[judge]]
                pick = svc.pick_least_reviewed(judge, candidates, load, {})
                if pick is None or load.get(pick, 0) >= 3:
                    continue
                seen[judge].add(pick)
                load[pick] = load.get(pick, 0) + 1
                noisy = centre + spread * (quality[pick] - 0.5) * 4 + rng.gauss(0, 0.7)
                rows.append((judge, pick, float(min(5, max(1, round(noisy))))))
    truth = sorted(quality, key=lambda p: -quality[p])
    normalised = svc.rubric_scores(rows)
    by_norm = sorted(normalised, key=lambda p: -normalised[p][0])
    raw: dict[int, list[float]] = {}
    for _, project, score in rows:
        raw.setdefault(project, []).append(score)
    by_raw = sorted(raw, key=lambda p: -sum(raw[p]) / len(raw[p]))
    assert all(n == 3 for _, n in normalised.values())  # fewest reviews first: even coverage
    return svc.kendall_tau(truth, by_norm), svc.kendall_tau(truth, by_raw)


def pairwise_run(seed: int, judges: int = 10, rounds: int = 40) -> float:
    rng = random.Random(seed)
    strength = {p: -2.5 + 5 * (p - 1) / (N_PROJECTS - 1) for p in range(1, N_PROJECTS + 1)}
    items = {p: svc.ItemState(p) for p in strength}
    state = {
        k: {"alpha": svc.ALPHA_PRIOR, "beta": svc.BETA_PRIOR, "prev": None, "seen": set()}
        for k in range(judges)
    }
    for _ in range(rounds + 1):
        for k, st in state.items():
            previous = items[st["prev"]] if st["prev"] else None
            current = svc.choose_next(
                list(items.values()),
                alpha=st["alpha"],
                beta=st["beta"],
                previous=previous,
                exclude=st["seen"],
                busy=set(),
                rng=rng,
            )
            if current is None:
                continue
            st["seen"].add(current.id)
            current.views += 1
            if previous is not None:
                reliable = k >= 2
                p_current = (
                    1 / (1 + math.exp(-(strength[current.id] - strength[previous.id])))
                    if reliable
                    else 0.5
                )
                winner, loser = (
                    (current, previous) if rng.random() < p_current else (previous, current)
                )
                (
                    st["alpha"],
                    st["beta"],
                    winner.mu,
                    winner.sigma_sq,
                    loser.mu,
                    loser.sigma_sq,
                ) = svc.crowd_bt_update(
                    st["alpha"], st["beta"], winner.mu, winner.sigma_sq, loser.mu, loser.sigma_sq
                )
            st["prev"] = current.id
    truth = sorted(strength, key=lambda p: -strength[p])
    return svc.kendall_tau(truth, sorted(items, key=lambda p: -items[p].mu))


def test_rubric_ranking_matches_the_known_order_and_normalisation_helps():
    runs = [rubric_run(seed) for seed in range(1, 6)]
    normalised = [n for n, _ in runs]
    raw = [r for _, r in runs]
    assert sum(normalised) / len(runs) >= 0.6, runs
    assert min(normalised) >= 0.5, runs
    # Harsh judges who review more would drag plain means down: z-scores undo that.
    assert sum(normalised) > sum(raw), runs


def test_pairwise_crowd_bt_ranking_matches_the_known_order():
    taus = [pairwise_run(seed) for seed in range(1, 6)]
    assert sum(taus) / len(taus) >= 0.6, taus
    assert min(taus) >= 0.5, taus


def test_per_judge_normalisation_makes_harsh_and_lenient_judges_weigh_the_same():
    # Both judges rank A > B > C; one scores 1-2-3, the other 3-4-5.
    harsh = [(1, 10, 3.0), (1, 11, 2.0), (1, 12, 1.0)]
    lenient = [(2, 13, 5.0), (2, 14, 4.0), (2, 15, 3.0)]
    scores = svc.rubric_scores(harsh + lenient)
    assert scores[10][0] == pytest.approx(scores[13][0])
    assert scores[12][0] == pytest.approx(scores[15][0])
    assert scores[11][0] == pytest.approx(0.0)
    # A judge with a single review is measured against everybody's scores.
    alone = svc.rubric_scores([*harsh, (3, 16, 3.0)])
    everyone = [3.0, 2.0, 1.0, 3.0]
    mean = sum(everyone) / 4
    std = math.sqrt(sum((v - mean) ** 2 for v in everyone) / 4)
    assert alone[16][0] == pytest.approx((3.0 - mean) / std)


def test_crowd_bt_math():
    assert svc.digamma(1.0) == pytest.approx(-0.5772156649015329, abs=1e-10)
    assert svc.digamma(0.5) == pytest.approx(-1.9635100260214235, abs=1e-10)
    assert svc.digamma(10.0) == pytest.approx(2.251752589066721, abs=1e-10)
    alpha, _beta, mu_w, s_w, mu_l, s_l = svc.crowd_bt_update(10.0, 1.0, 0.0, 1.0, 0.0, 1.0)
    assert mu_w > 0 > mu_l and s_w < 1 and s_l < 1
    assert alpha > 10.0 - 1e-9  # agreeing with an even prior makes the judge look reliable
    # The most informative comparison is between two close, uncertain projects.
    close = svc.expected_information_gain(10, 1, 0.0, 1.0, 0.1, 1.0)
    settled = svc.expected_information_gain(10, 1, 0.0, 1.0, 5.0, 0.01)
    assert close > settled > 0
    assert svc.kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert svc.kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0


# --------------------------------------------------------------------------
# On the database


async def make_projects(db, settings, count: int, *, first_uid: int = 100) -> list[int]:
    """``count`` teams of one member each (uid first_uid + i), each with a submission."""
    ids = []
    for i in range(count):
        uid = first_uid + i
        async with db.begin() as session:
            await reg.register(
                session,
                settings,
                NOW,
                uid,
                reg.ProfileInput(f"user{uid}", ["developer"], ["en"], "Europe/Paris"),
            )
            await team_service.create_team(session, settings, NOW, uid, f"Team {i:03d}")
            content = subs.Content(
                f"Project {i:03d}",
                f"Pitch {i}",
                f"A description long enough for project {i}.",
                f"https://github.com/team{i}/project",
                "",
            )
            stored = await subs.submit(session, settings, NOW, uid, content, base_version=0)
            ids.append(stored.submission_id)
    return ids


async def score_all(db, settings, review_id: int, judge: int, value: int) -> None:
    async with db.begin() as session:
        for criterion in svc.criteria(settings):
            await svc.set_score(session, settings, review_id, judge, criterion.key, value)
        await svc.finish(session, settings, NOW, review_id, judge)


async def test_assignment_fewest_reviews_first_never_own_team_spread_across_judges(db):
    ids = await make_projects(db, SETTINGS, 6)
    own_judge = 100  # a participant of the first team who also judges
    async with db.begin() as session:
        mine = await svc.next_review(session, SETTINGS, NOW, own_judge)
        assert mine is not None and mine.submission_id != ids[0]
        again = await svc.next_review(session, SETTINGS, NOW, own_judge)
        assert again.id == mine.id  # an unfinished card is resumed, not replaced
    # Judges starting at the same time get different projects (assignments count as load).
    picked = []
    async with db.begin() as session:
        for judge in (900, 901, 902, 903, 904):
            review = await svc.next_review(session, SETTINGS, NOW, judge)
            picked.append(review.submission_id)
    assert len(set([*picked, mine.submission_id])) == 6
    # Every project has one (fresh) assignment: the next judge gets one of them, never twice.
    seen = set()
    for _ in range(6):
        async with db.begin() as session:
            review = await svc.next_review(session, SETTINGS, NOW, 905)
        assert review is not None and review.submission_id not in seen
        seen.add(review.submission_id)
        await score_all(db, SETTINGS, review.id, 905, 3)
    async with db.begin() as session:
        assert await svc.next_review(session, SETTINGS, NOW, 905) is None
    # The own judge never sees their team's project, whatever the load.
    while True:
        async with db.begin() as session:
            review = await svc.next_review(session, SETTINGS, NOW, own_judge)
            if review is None:
                break
            assert review.submission_id != ids[0]
            await svc.skip(session, NOW, review.id, own_judge)


async def test_scoring_rules_and_flags(db):
    await make_projects(db, SETTINGS, 2)
    async with db.begin() as session:
        review = await svc.next_review(session, SETTINGS, NOW, 900)
        review_id = review.id
    with pytest.raises(InvalidInput) as missing:
        async with db.begin() as session:
            await svc.set_score(session, SETTINGS, review_id, 900, "impact", 4)
            await svc.finish(session, SETTINGS, NOW, review_id, 900)
    assert missing.value.key == "judging.missing_scores"
    with pytest.raises(InvalidInput):
        async with db.begin() as session:
            await svc.set_score(session, SETTINGS, review_id, 900, "impact", 6)
    with pytest.raises(NotFound):
        async with db.begin() as session:
            await svc.set_score(session, SETTINGS, review_id, 901, "impact", 3)  # not theirs
    async with db.begin() as session:
        await svc.flag(session, NOW, review_id, 900, "absent")
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.skip(session, NOW, review_id, 900)
    async with db.read() as session:
        row = await session.get(Review, review_id)
        assert row.status == "flagged" and row.flag_reason == "absent"
        cover = await svc.coverage(session, SETTINGS, NOW)
    assert cover.flagged == 1 and cover.projects == 2 and len(cover.unseen) == 2


async def test_rubric_rounds_shortlist_winners_and_ceremony(db):
    settings = make_settings(judging={"rounds": 2, "shortlist_size": 3, "winners_overall": 2})
    ids = await make_projects(db, settings, 5)
    # Two judges with different habits agree on the order: higher index is better.
    for judge, base in ((900, 0), (901, 1)):
        for _ in ids:
            async with db.begin() as session:
                review = await svc.next_review(session, settings, NOW, judge)
                sid = review.submission_id
            await score_all(db, settings, review.id, judge, min(5, 1 + ids.index(sid) // 2 + base))
    async with db.read() as session:
        ranked = await svc.ranking(session, settings)
        plan = await results.plan(session, settings, "shortlist")
    assert [r.submission_id for r in ranked][:2] == [ids[4], ids[3]] or ranked[0].submission_id in (
        ids[4],
        ids[3],
    )
    assert len(plan) == 3 and {e.submission_id for e in plan} <= set(ids[2:])
    async with db.begin() as session:
        await results.save(session, settings, NOW, 1, "shortlist", plan)
    async with db.read() as session:
        assert await svc.current_round(session) == 2
        assert sorted(await svc.scope(session, 2)) == sorted(e.submission_id for e in plan)
        with pytest.raises(Conflict):
            await results.plan(session, settings, "shortlist")  # last round
        with pytest.raises(Conflict):
            await results.plan(session, settings, "winner")  # nothing judged in round 2 yet
    for _ in plan:
        async with db.begin() as session:
            review = await svc.next_review(session, settings, NOW, 902)
            sid = review.submission_id
        await score_all(db, settings, review.id, 902, 1 + ids.index(sid) // 2)
    async with db.begin() as session:
        winners = await results.save(session, settings, NOW, 1, "winner")
    assert [(e.scope, e.place) for e in winners] == [("overall", 1), ("overall", 2)]
    async with db.begin() as session:
        ceremony = await results.start_ceremony(session, NOW, 1, 0, "en")
        ceremony_id = ceremony.id
    async with db.begin() as session:
        first, more = await results.claim_reveal(session, NOW, ceremony_id, 0)
        again, _ = await results.claim_reveal(session, NOW, ceremony_id, 0)  # a second timer run
        assert first is not None and more and again is None
        info = await results.reveal_info(session, first)
        assert info.place == 2  # the biggest news comes last
        last, more = await results.claim_reveal(session, NOW, ceremony_id, 1)
        assert (await results.reveal_info(session, last)).place == 1 and not more
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await results.save(session, settings, NOW, 1, "winner")


async def test_pairwise_on_the_database(db):
    settings = make_settings(judging={"mode": "pairwise"})
    ids = await make_projects(db, settings, 6)
    judge = 100  # also a member of the first team
    async with db.begin() as session:
        turn = await svc.pairwise_turn(session, NOW, judge)
    assert turn.current_id is not None and turn.previous_id is None
    shown = [turn.current_id]
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.pairwise_vote(session, NOW, judge, turn.current_id, True)  # nothing yet
    async with db.begin() as session:
        turn = await svc.pairwise_vote(session, NOW, judge, turn.current_id, None)
    # Higher id is better: the judge always says so.
    while turn.current_id is not None:
        shown.append(turn.current_id)
        async with db.begin() as session:
            turn = await svc.pairwise_vote(
                session, NOW, judge, turn.current_id, turn.current_id > turn.previous_id
            )
    assert ids[0] not in shown and sorted(shown) == sorted(ids[1:])  # every other one, once
    async with db.read() as session:
        ranked = await svc.ranking(session, settings)
        cover = await svc.coverage(session, settings, NOW)
    judged = [r for r in ranked if r.score is not None]
    assert len(judged) == 5 and cover.reviews_done == 4
    best, worst = judged[0].submission_id, judged[-1].submission_id
    assert best > worst
    # Another judge can skip and flag; a stale button (not the current project) is refused.
    async with db.begin() as session:
        turn = await svc.pairwise_turn(session, NOW, 901)
    with pytest.raises(Conflict):
        async with db.begin() as session:
            await svc.pairwise_skip(session, NOW, 901, turn.current_id + 1000, None)
    async with db.begin() as session:
        nxt = await svc.pairwise_skip(session, NOW, 901, turn.current_id, "broken")
    assert nxt.current_id != turn.current_id and nxt.previous_id is None
