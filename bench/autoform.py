"""``autoform``: N registered participants without a team; how long does automatic formation take,
and how good are the teams?

A fresh database is filled through the models with bulk inserts: ``--challenges``
challenges and ``--participants`` members with a profile each, in a realistic mix
(profile types skewed towards developers, mostly English/German/French speakers, time
zones concentrated around Europe with a tail elsewhere, two thirds with one to three
challenge wishes, a popular head of challenges and a long tail). Then, exactly as
``/admin teams autoform`` and its Confirm button do (without Discord):

* **inputs**: ``bot.services.teams.autoform_inputs`` in a read transaction (who to place,
  teams with room, open challenges);
* **match**: ``bot.services.matching.form_teams`` (the pure algorithm);
* **plan** = inputs + match: what the organiser waits for before the preview (target < 2 s);
* **apply**: ``bot.services.teams.apply_plan`` in one write transaction (the confirmed write).

With ``--memory``, an extra plan and write (on a second, identical population) are traced
with :mod:`tracemalloc`: the most memory Python allocated for each above what was held
before it, the share of the bot's peak RSS that autoform is responsible for.

The quality figures are the plan's own (:class:`bot.services.matching.Figures`).
No bot process and no sandbox: this measures the database and the algorithm.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Report, fresh_database

DESCRIPTION = "automatic team formation for N participants without a team (plan and write)"

# IANA zones and how often participants are in them (a European event with a global tail).
ZONES: list[tuple[str, float]] = [
    ("Europe/Berlin", 40),
    ("Europe/Paris", 12),
    ("Europe/Vienna", 6),
    ("Europe/Zurich", 4),
    ("Europe/London", 6),
    ("Europe/Lisbon", 2),
    ("Europe/Helsinki", 2),
    ("Europe/Istanbul", 1),
    ("America/New_York", 5),
    ("America/Chicago", 2),
    ("America/Los_Angeles", 2),
    ("America/Sao_Paulo", 2),
    ("Africa/Lagos", 2),
    ("Africa/Casablanca", 1),
    ("Asia/Kolkata", 4),
    ("Asia/Singapore", 1),
    ("Asia/Tokyo", 1),
    ("Australia/Sydney", 1),
    ("UTC", 3),
    ("UTC+05:30", 1),
]
# Primary profile type and its weight (a second type is added for a quarter of people).
TYPES: list[tuple[str, float]] = [
    ("developer", 40),
    ("design", 12),
    ("product", 10),
    ("marketing and communication", 8),
    ("data", 14),
    ("domain expert", 10),
    ("other", 6),
]
# Language sets people speak, with weights.
LANGUAGE_SETS: list[tuple[tuple[str, ...], float]] = [
    (("de", "en"), 45),
    (("en",), 20),
    (("en", "fr"), 12),
    (("fr",), 5),
    (("de",), 6),
    (("en", "es"), 5),
    (("en", "it"), 3),
    (("en", "pt"), 2),
    (("en", "nl"), 2),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--participants",
        type=int,
        default=28_000,
        help="registered participants without a team (default 28000)",
    )
    parser.add_argument("--challenges", type=int, default=42, help="open challenges (default 42)")
    parser.add_argument(
        "--wish-share",
        type=float,
        default=0.65,
        help="share of participants who wished for challenges (default 0.65)",
    )
    parser.add_argument("--min-size", type=int, default=2, help="[teams] min_size (default 2)")
    parser.add_argument("--max-size", type=int, default=5, help="[teams] max_size (default 5)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="plans computed (the best and the median are reported; default 3)",
    )
    parser.add_argument(
        "--no-apply", action="store_true", help="compute the plan only, do not write it"
    )
    parser.add_argument(
        "--apply-on-loop",
        action="store_true",
        help="write on this event loop, as the bot did before Database.write_apart (to compare "
        "the loop's longest wait)",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also report the most memory Python allocates for one plan and for its write "
        "(tracemalloc, in an extra pass after the timed ones: it slows what it traces)",
    )
    parser.add_argument("--seed", type=int, default=1)


def _pick(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


def make_people(
    count: int, challenge_ids: list[int], wish_share: float, seed: int
) -> list[dict[str, Any]]:
    """Profile values for ``count`` people (deterministic for a seed)."""
    rng = random.Random(seed)
    # Challenge popularity: Zipf-like, a few are very popular, most get a handful of wishes.
    popularity = [1.0 / (rank + 1) ** 0.8 for rank in range(len(challenge_ids))]
    people = []
    for _ in range(count):
        primary = _pick(rng, TYPES)
        types = [primary]
        if rng.random() < 0.25:
            second = _pick(rng, TYPES)
            if second != primary:
                types.append(second)
        wishes: list[int] = []
        if challenge_ids and rng.random() < wish_share:
            want = min(len(challenge_ids), rng.choice((1, 1, 2, 2, 3)))
            while len(wishes) < want:
                pick = rng.choices(challenge_ids, popularity)[0]
                if pick not in wishes:
                    wishes.append(pick)
        people.append(
            {
                "profile_types": types,
                "languages": list(_pick(rng, LANGUAGE_SETS)),
                "timezone": _pick(rng, ZONES),
                "wishes": wishes,
                "skills": rng.sample(["python", "react", "figma", "sql", "ml", "pitching"], 2),
            }
        )
    return people


async def populate(db: Any, args: argparse.Namespace, now: Any) -> dict[str, float]:
    """Challenges, members and profiles through the models, in bulk; returns timings."""
    from sqlalchemy import insert

    from bot.models import Challenge, Member, Profile

    began = time.perf_counter()
    async with db.begin() as session:
        challenge_ids = list(
            (
                await session.scalars(
                    insert(Challenge).returning(Challenge.id, sort_by_parameter_order=True),
                    [
                        {
                            "slug": f"challenge-{i + 1}",
                            "name": f"Challenge {i + 1}",
                            "name_folded": f"challenge {i + 1}",
                            "summary": "",
                            "description": "",
                            "mentor_skills": [],
                            "position": i,
                            "listing": {},
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(args.challenges)
                    ],
                )
            ).all()
        )
    people = make_people(args.participants, challenge_ids, args.wish_share, args.seed)
    batch = 5_000
    for start in range(0, len(people), batch):
        chunk = people[start : start + batch]
        async with db.begin() as session:
            member_ids = list(
                (
                    await session.scalars(
                        insert(Member).returning(Member.id, sort_by_parameter_order=True),
                        [
                            {
                                "discord_id": 10**17 + start + i,
                                "display_name": f"participant {start + i}",
                                "locale": "fr" if "fr" in p["languages"] else "en",
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i, p in enumerate(chunk)
                        ],
                    )
                ).all()
            )
            await session.execute(
                insert(Profile),
                [
                    {
                        "member_id": member_id,
                        "display_name": f"participant {start + i}",
                        "profile_types": p["profile_types"],
                        "skills": p["skills"],
                        "languages": p["languages"],
                        "timezone": p["timezone"],
                        "wishes": p["wishes"],
                        "autoform": True,
                        "registered_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i, (member_id, p) in enumerate(zip(member_ids, chunk, strict=True))
                ],
            )
    return {"populate_s": time.perf_counter() - began}


async def plan_once(db: Any, settings: Any, now: Any) -> tuple[Any, dict[str, float], int]:
    """One plan as /admin teams autoform computes it; returns (plan, timings, candidates)."""
    from bot.services import matching
    from bot.services import teams as team_service

    began = time.perf_counter()
    async with db.read() as session:
        candidates, open_teams, eligible = await team_service.autoform_inputs(
            session, settings, now, None
        )
    read = time.perf_counter()
    plan = matching.form_teams(
        candidates,
        open_teams,
        min_size=settings.teams.min_size,
        max_size=settings.teams.max_size,
        challenge_id=None,
        eligible_challenges=eligible,
    )
    done = time.perf_counter()
    return (
        plan,
        {"inputs_s": read - began, "match_s": done - read, "plan_s": done - began},
        len(candidates),
    )


async def apply(
    db: Any, settings: Any, now: Any, plan: Any, *, on_loop: bool = False
) -> tuple[Any, float, float]:
    """The confirmed write, as the Confirm button does it (plan stored, then applied with
    ``Database.write_apart``, or on this loop with ``on_loop``). Returns what was applied,
    the seconds it took and the longest the event loop waited meanwhile (a 5-ms ticker, as
    the bot's other interactions would), in milliseconds."""
    from bot.models.teams import AutoformRun
    from bot.services import matching
    from bot.services import teams as team_service

    async with db.begin() as session:
        run = AutoformRun(status="preview", plan=plan.as_dict(), figures=plan.figures.as_dict())
        session.add(run)
        await session.flush()
        run_id = run.id

    async def work(session: Any) -> Any:
        run = await session.get(AutoformRun, run_id)
        applied = await team_service.apply_plan(
            session,
            settings,
            now,
            matching.Plan.from_dict(run.plan),
            run_id=run_id,
            team_name="Team {number}",
            actor=None,
        )
        run.status = "spaces"
        run.team_ids = applied.team_ids
        return applied

    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now_ = time.perf_counter()
            longest = max(longest, now_ - last - 0.005)
            last = now_

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    began = time.perf_counter()
    try:
        if on_loop:
            async with db.begin() as session:
                applied = await work(session)
        else:
            applied = await db.write_apart(work)
        took = time.perf_counter() - began
        await asyncio.sleep(0.02)
    finally:
        ticking.cancel()
    return applied, took, longest * 1000


async def traced(args: argparse.Namespace, settings: Any, now: Any, path: Path) -> dict[str, float]:
    """Peak Python allocations (MB) of one plan and of its write, each above what was held
    before it, on a fresh SQLite population like the timed one's."""
    import tracemalloc

    from bot.db import Database
    from bot.migrations import ensure_schema

    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await ensure_schema(db)
        await populate(db, args, now)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            plan, _, _ = await plan_once(db, settings, now)
            plan_peak = tracemalloc.get_traced_memory()[1] - base
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            await apply(db, settings, now, plan)
            apply_peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    finally:
        await db.dispose()
    return {"plan_peak_mb": plan_peak / 1e6, "apply_peak_mb": apply_peak / 1e6}


async def run(args: argparse.Namespace, report: Report) -> None:
    from sqlalchemy import func, select

    from bot.clock import utcnow
    from bot.config import settings_from_dict
    from bot.db import Database
    from bot.migrations import ensure_schema
    from bot.models import TeamMember

    now = utcnow()
    async with fresh_database(args.database, keep=args.keep_database) as url:
        with tempfile.TemporaryDirectory(prefix="hackbot-bench-") as tmp:
            url = url or f"sqlite+aiosqlite:///{Path(tmp) / 'hackbot.db'}"
            settings = settings_from_dict(
                {
                    "event": {"name": "Bench Hack", "guild_id": 1},
                    "database": {"url": url},
                    "teams": {"min_size": args.min_size, "max_size": args.max_size},
                },
                tmp,
            )
            db = Database(url)
            try:
                await ensure_schema(db)
                timings = await populate(db, args, now)
                runs = []
                plan = None
                candidates = 0
                for _ in range(max(1, args.repeat)):
                    plan, times, candidates = await plan_once(db, settings, now)
                    runs.append(times)
                applied = None
                if not args.no_apply and plan is not None:
                    applied, timings["apply_s"], timings["apply_loop_wait_ms"] = await apply(
                        db, settings, now, plan, on_loop=args.apply_on_loop
                    )
                    async with db.read() as session:
                        timings["placed_in_db"] = int(
                            await session.scalar(select(func.count()).select_from(TeamMember)) or 0
                        )
            finally:
                await db.dispose()
            if args.memory:
                timings.update(await traced(args, settings, now, Path(tmp) / "traced.db"))
    _report(report, args, runs, timings, plan, applied, candidates)


def _report(
    report: Report,
    args: argparse.Namespace,
    runs: list[dict[str, float]],
    timings: dict[str, float],
    plan: Any,
    applied: Any,
    candidates: int,
) -> None:
    ordered = sorted(runs, key=lambda r: r["plan_s"])
    best, median = ordered[0], ordered[len(ordered) // 2]
    table = report.table(
        f"autoform for {args.participants} participants, {args.challenges} challenges "
        f"(teams of {args.min_size}-{args.max_size}), seconds",
        ["step", "best s", "median s"],
    )
    table.add("inputs (autoform_inputs, read)", best["inputs_s"], median["inputs_s"])
    table.add("match (form_teams)", best["match_s"], median["match_s"])
    table.add("plan = inputs + match (target < 2 s)", best["plan_s"], median["plan_s"])
    if applied is not None:
        where = "on the loop" if args.apply_on_loop else "apart from the loop"
        table.add(f"apply (apply_plan, one write transaction, {where})", timings["apply_s"], None)
        table.add(
            "  the event loop's longest wait meanwhile, s",
            timings["apply_loop_wait_ms"] / 1000,
            None,
        )
    table.add("(set-up: bulk insert of members and profiles)", timings["populate_s"], None)
    if "plan_peak_mb" in timings:
        memory = report.table("most memory Python allocates (tracemalloc, MB)", ["step", "MB"])
        memory.add("one plan (inputs + match)", timings["plan_peak_mb"])
        memory.add("its write (apply_plan)", timings["apply_peak_mb"])
    figures = plan.figures
    quality = report.table("plan quality", ["figure", "value"])
    quality.add("candidates", candidates)
    quality.add("placed", figures.placed)
    quality.add("unplaced", figures.unplaced)
    quality.add("new teams", figures.new_teams)
    quality.add("team sizes (min-max)", f"{figures.min_size}-{figures.max_size}")
    quality.add("teams below min_size", figures.below_min)
    quality.add("teams with >= 2 profile types", f"{100 * figures.mixed_share:.1f}%")
    quality.add(
        "wishes honoured",
        f"{100 * figures.wish_share:.1f}% ({figures.wishes_honoured} of {figures.wishes})",
    )
    quality.add("teams sharing a language", f"{100 * figures.shared_language_share:.1f}%")
    quality.add("time-zone spread, median h", figures.median_offset_spread_h)
    quality.add("time-zone spread, max h", figures.max_offset_spread_h)
    if applied is not None:
        quality.add("written: teams created", applied.created)
        quality.add("written: people placed", applied.placed)
        quality.add("written: skipped", applied.skipped)
    report.data.update(
        plan_runs=runs,
        best_plan_s=best["plan_s"],
        median_plan_s=median["plan_s"],
        timings=timings,
        candidates=candidates,
        figures=figures.as_dict(),
        applied=None
        if applied is None
        else {
            "created": applied.created,
            "filled": applied.filled,
            "placed": applied.placed,
            "skipped": applied.skipped,
        },
    )
    verdict = "met" if median["plan_s"] < 2.0 else "NOT met"
    report.note(
        f"target plan < 2 s: {verdict} (median {median['plan_s']:.2f} s of {len(runs)}); "
        f"database {'PostgreSQL' if args.database else 'SQLite'}"
    )
