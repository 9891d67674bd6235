"""``submit``: N teams submit their projects in the last minutes before the deadline; does
every one of them get in, on time, and how fast does the bot answer?

Set-up (not timed): the bot process starts on a fresh database; ``--teams`` teams of one
member each are written to it with bulk inserts (with ``--challenges`` challenges, so the
gallery gets its tags), and each team gets a text channel as its space, made **directly
in the sandbox's server state** as :func:`bench.fanout.make_spaces` does, while the
server's channel budget lasts (teams past it have no space, so no receipt: their spaces
would be private threads, and a thousand of those fill the server's active threads). The
submission deadline is set ``--window`` seconds after the start.

Timed: each team's member goes through the real flow, exactly as a person would:
``/submit`` (the form opens), the form sent (the preview), **Confirm** (acknowledged at
once, then the final text). The teams start at moments spread uniformly over the
window minus ``--tail`` seconds (the last starts still confirm before the deadline when
the bot keeps up), each flow without waiting for the others. Then ``--late`` more
teams, whose preview was shown before the deadline, press Confirm just after it: they
must be refused.

Gallery posts and receipts follow in the background (a few workers): every post is a
new thread in one forum, so they cannot go faster than that channel's thread-creation
limit (the sandbox's 5 per second: the "floor" reported).

Reported: response time per step (from the sandbox's dispatch to the bot's first
answer arriving, before the added API latency) p50/p90/p99/max, Confirm's final text
(click → "submitted"), 3-second deadlines missed, lost submissions (a team that pressed
Confirm before the deadline and has no stored submission, or was told anything but
"submitted"), late ones accepted, duplicates (more than one submission or version for a
team), the wall time of the rush, and when the gallery posts and receipts (a background
job at Discord's pace) caught up.

The in-process test ``tests/cogs/test_submissions.py`` runs the same flows (300 teams in
one minute) with the bot sharing the test's process; here the bot has its own.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench.harness import (
    Report,
    bench_sandbox,
    bot_errors,
    cpu_seconds,
    insert_members,
    mb,
    summary_ms,
)

DESCRIPTION = "N teams submitting their projects in the last minutes before the deadline"

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
MODAL_SUBMIT = 5
DEFERRED_UPDATE_MESSAGE = 6

#: The form's labels in English (the members' locale here).
LABELS = {
    "title": "Project name",
    "pitch": "Pitch (one sentence)",
    "description": "Description",
    "repo_url": "Code repository (link)",
    "demo_url": "Demo or video (link)",
}
STEPS = ("form opens", "preview", "confirm (ack)")
DONE_PREFIX = "✅ Submitted for **"


def project(index: int) -> dict[str, str]:
    """What team ``index`` types into the form (its own title and repository)."""
    return {
        "title": f"Project {index:04d}",
        "pitch": "Counts owls at night with a camera and a small model",
        "description": "A camera and a model that count owls, for the bird society. " * 3,
        "repo_url": f"https://github.com/team{index}/project",
        "demo_url": f"https://youtu.be/demo{index}",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teams", type=int, default=300, help="teams that submit on time (default 300)"
    )
    parser.add_argument(
        "--window",
        type=float,
        default=60.0,
        help="seconds from the first team to the deadline (default 60: 300 teams in one minute)",
    )
    parser.add_argument(
        "--tail",
        type=float,
        default=5.0,
        help="no team starts in the last TAIL seconds before the deadline (default 5)",
    )
    parser.add_argument(
        "--late",
        type=int,
        default=5,
        help="teams that press Confirm just after the deadline (default 5; they must be refused)",
    )
    parser.add_argument(
        "--challenges", type=int, default=8, help="challenges the teams are spread over (default 8)"
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        default=900.0,
        help="how long to wait for the gallery and receipts after the rush (default 900 s)",
    )
    parser.add_argument("--seed", type=int, default=1)


# -- one member's /submit, without waiting for the others ---------------------------------


@dataclass
class Flow:
    """One team's way through /submit, as the sandbox saw it."""

    index: int
    member_id: str
    started: float = 0.0  # time.monotonic() when /submit was sent
    steps_s: dict[str, float] = field(default_factory=dict)  # step -> first answer
    done_s: float | None = None  # Confirm click -> its final text
    clicked_at: datetime | None = None  # the sandbox clock when Confirm was pressed
    text: str = ""  # the last thing the member read
    missed: list[str] = field(default_factory=list)  # steps answered after 3 s (or never)
    error: str | None = None

    @property
    def submitted(self) -> bool:
        return self.text.startswith(DONE_PREFIX)


async def _answer(sb: Any, flow: Flow, step: str, record: Any) -> bool:
    """Wait for the first answer to ``record``; note its response time or the miss."""
    deadline_s = sb.server.interactions.deadline_s
    await record.wait_until(
        lambda: record.response_type is not None or record.missed_deadline, deadline_s + 1.0
    )
    arrived = sb.server.callback_arrivals.get(record.id)
    if record.response_type is None or record.missed_deadline:
        flow.missed.append(step)
        flow.error = f"{step}: no answer within {deadline_s:g} s"
        return False
    flow.steps_s[step] = (arrived or record.responded_mono) - record.created_mono
    return True


async def submit_flow(
    sb: Any,
    member: Any,
    index: int,
    values: dict[str, str],
    *,
    labels: dict[str, str] = LABELS,
    before_confirm: Any = None,
    think: bool = True,
) -> Flow:
    """``/submit``, the form, Confirm; never raises (what went wrong is in the result).

    Between the steps the member takes a moment, as a person does (:func:`pauses`): the
    bot stores a form or a preview's buttons once Discord has taken its answer, and a
    click fired the instant the answer reached the sandbox could overtake that (no person
    is that quick). ``think=False`` leaves the pauses out. ``before_confirm``: an
    awaitable factory run between the preview and the click (a team that waits for the
    deadline to pass)."""
    from sandbox.driver import components as comp

    typing_s, reading_s = pauses(index) if think else (0.0, 0.0)
    flow = Flow(index, str(member.id), started=time.monotonic())
    try:
        view, data = member.slash_data("submit")
        opened = sb.fire(member, view, APPLICATION_COMMAND, data)
        if not await _answer(sb, flow, STEPS[0], opened):
            return flow
        if opened.modal is None:
            flow.text = _text(sb, opened)
            flow.error = f"the form did not open: {flow.text[:120]}"
            return flow
        await asyncio.sleep(typing_s)
        form = {labels[key]: value for key, value in values.items()}
        filled = {
            "custom_id": opened.modal["custom_id"],
            "components": comp.fill_modal(opened.modal, form),
        }
        sent = sb.fire(member, view, MODAL_SUBMIT, filled)
        if not await _answer(sb, flow, STEPS[1], sent):
            return flow
        preview = sb.server.messages.get(sent.original_id or "")
        confirm = [
            b for b in comp.buttons((preview or {}).get("components") or []) if b.get("label")
        ]
        confirm = [b for b in confirm if b["label"] == "Confirm"]
        if preview is None or not confirm:
            flow.text = _text(sb, sent)
            flow.error = f"no Confirm in the preview: {flow.text[:120]}"
            return flow
        await asyncio.sleep(reading_s)
        if before_confirm is not None:
            await before_confirm()
        channel = sb.channel(preview["channel_id"])
        click = sb.fire(
            member,
            channel,
            MESSAGE_COMPONENT,
            {"custom_id": confirm[0]["custom_id"], "component_type": comp.BUTTON},
            message=preview,
        )
        flow.clicked_at = click.created_at
        if not await _answer(sb, flow, STEPS[2], click):
            return flow
        if click.response_type == DEFERRED_UPDATE_MESSAGE:
            filled_in = await click.wait_until(
                lambda: click.completed or bool(click.followup_ids), sb.deferred_max_s
            )
            if not filled_in:
                flow.error = f"Confirm was acknowledged but not answered in {sb.deferred_max_s} s"
        flow.done_s = time.monotonic() - click.created_mono
        flow.text = _text(sb, click)
    except Exception as error:  # a broken flow is a result, not the end of the run
        flow.error = f"{type(error).__name__}: {error}"
    return flow


def pauses(index: int) -> tuple[float, float]:
    """How long team ``index``'s member takes to fill the form (pasting what was prepared:
    1 to 2 s) and to read the preview (0.3 to 1 s): short, so the flows overlap a lot."""
    rng = random.Random(index)
    return rng.uniform(1.0, 2.0), rng.uniform(0.3, 1.0)


def _text(sb: Any, record: Any) -> str:
    message = sb.server.messages.get(record.original_id or "") or {}
    return str(message.get("content") or "")


async def rush(
    sb: Any,
    members: list[Any],
    *,
    window_s: float,
    tail_s: float,
    seed: int = 1,
    first_index: int = 0,
) -> list[Flow]:
    """Every member submits once, the starts spread uniformly over ``window_s - tail_s``
    seconds from now (shuffled, so the order of the teams is not the order of the starts)."""
    rng = random.Random(seed)
    span = max(0.0, window_s - tail_s)
    count = len(members)
    offsets = [span * i / max(1, count - 1) for i in range(count)] if count > 1 else [0.0]
    order = list(range(count))
    rng.shuffle(order)
    loop = asyncio.get_running_loop()
    began = loop.time()
    tasks: list[asyncio.Task[Flow]] = []
    for position, member_index in enumerate(order):
        delay = began + offsets[position] - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        index = first_index + member_index
        tasks.append(
            asyncio.create_task(submit_flow(sb, members[member_index], index, project(index)))
        )
    return list(await asyncio.gather(*tasks))


async def late_flows(
    sb: Any, members: list[Any], deadline: datetime, first_index: int
) -> list[Flow]:
    """Teams with their preview on screen before the deadline that press Confirm after it."""

    async def wait_for_deadline() -> None:
        # A quarter of a second after it, on the event's clock.
        await asyncio.sleep(sb.clock.until(deadline) + 0.25)

    flows = await asyncio.gather(
        *(
            submit_flow(
                sb,
                member,
                first_index + i,
                project(first_index + i),
                before_confirm=wait_for_deadline,
            )
            for i, member in enumerate(members)
        )
    )
    return list(flows)


# -- set-up ------------------------------------------------------------------------------------


def channel_capacity(sb: Any) -> int:
    """How many teams get a text channel before the bot would switch to private threads."""
    from bot.services import team_spaces
    from sandbox.server import state as st

    settings = sb.settings
    layout = team_spaces.GuildLayout(
        channels=len(sb.guild.guild_channels()),
        base_name=settings.channels.team_category,
        headroom=settings.formation.channel_headroom,
        voice=settings.teams.voice_channels,
        hub_exists=any(
            c["name"] == settings.formation.hub_channel and c["type"] == st.GUILD_TEXT
            for c in sb.guild.guild_channels()
        ),
    )
    count = 0
    while True:
        placement = team_spaces.place(layout)
        if placement.kind == "thread":
            return count
        if placement.new_category is not None:
            placement.new_category.id = -(count + 1)
        layout.apply(placement)
        count += 1


async def write_teams(
    db: Any, members: list[Any], spaces: list[int], challenges: int, now: datetime
) -> list[int]:
    """One team per member (``Team 0000``...), in the bot's database with bulk inserts; the
    first ``len(spaces)`` teams get those channels as their space. Returns the team ids."""
    from sqlalchemy import insert

    from bot.models import Challenge, Team, TeamMember

    async with db.begin() as session:
        challenge_ids: list[int] = []
        if challenges:
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
                            for i in range(challenges)
                        ],
                    )
                ).all()
            )
        member_ids = await insert_members(session, members, now)
        team_ids = list(
            (
                await session.scalars(
                    insert(Team).returning(Team.id, sort_by_parameter_order=True),
                    [
                        {
                            "name": f"Team {i:04d}",
                            "name_folded": f"team {i:04d}",
                            "slug": f"team-{i:04d}",
                            "description": "",
                            "challenge_id": challenge_ids[i % len(challenge_ids)]
                            if challenge_ids
                            else None,
                            "captain_member_id": member_ids[i],
                            "open": False,
                            "looking_for": [],
                            "space_kind": "channel" if i < len(spaces) else None,
                            "channel_id": spaces[i] if i < len(spaces) else None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(len(members))
                    ],
                )
            ).all()
        )
        await session.execute(
            insert(TeamMember),
            [
                {"team_id": team_id, "member_id": member_id, "joined_at": now}
                for team_id, member_id in zip(team_ids, member_ids, strict=True)
            ],
        )
    return team_ids


async def make_teams(sb: Any, db: Any, members: list[Any], challenges: int) -> dict[int, int]:
    """Spaces (channels while the budget lasts) and teams for ``members``; returns
    ``{team index: space channel id}``."""
    from bench.fanout import make_spaces

    count = min(len(members), channel_capacity(sb))
    spaces, _ = make_spaces(sb, count)
    channel_ids = [channel_id for kind, channel_id in spaces if kind == "channel"]
    await write_teams(db, members, channel_ids, challenges, sb.clock.now())
    return dict(enumerate(channel_ids))


# -- what was stored and shown --------------------------------------------------------------------


@dataclass
class Outcome:
    """What the database and the server hold once everything caught up."""

    by_title: dict[str, tuple[int, int, int | None, int]]  # title -> (count, version, late, id)
    versions: dict[int, int]  # submission id -> versions stored
    gallery_posts: dict[str, int]  # thread name -> count
    receipts: dict[int, int]  # space channel id -> receipts in it
    behind: int  # submissions whose post or receipt has not caught up


async def outcome(sb: Any, db: Any, spaces: dict[int, int]) -> Outcome:
    from sqlalchemy import func, select

    from bot.models.submissions import Submission, SubmissionVersion
    from bot.services import submissions as service

    async with db.read() as session:
        rows = (
            await session.execute(
                select(Submission.title, Submission.version, Submission.late_seconds, Submission.id)
            )
        ).all()
        versions = dict(
            (
                await session.execute(
                    select(SubmissionVersion.submission_id, func.count()).group_by(
                        SubmissionVersion.submission_id
                    )
                )
            ).all()
        )
        behind = len(await service.behind(session))
    by_title: dict[str, tuple[int, int, int | None, int]] = {}
    for title, version, late, sid in rows:
        count = by_title.get(title, (0, 0, None, 0))[0] + 1
        by_title[title] = (count, version, late, sid)
    gallery_posts: dict[str, int] = {}
    if sb.has_channel(sb.settings.submissions.gallery_forum):
        forum = sb.channel(sb.settings.submissions.gallery_forum)
        for thread_id in forum.threads:
            name = sb.channel(thread_id).name
            gallery_posts[name] = gallery_posts.get(name, 0) + 1
    receipts = {
        channel_id: sum(
            1 for m in sb.channel(channel_id).messages if (m.get("content") or "").startswith("📬")
        )
        for channel_id in spaces.values()
    }
    return Outcome(by_title, versions, gallery_posts, receipts, behind)


async def wait_caught_up(db: Any, max_wait: float) -> float | None:
    """Seconds until no submission's gallery post or receipt is behind (None: not in time)."""
    from bot.services import submissions as service

    began = time.monotonic()
    while time.monotonic() - began < max_wait:
        async with db.read() as session:
            if not await service.behind(session):
                return time.monotonic() - began
        await asyncio.sleep(0.25)
    return None


@dataclass
class Verdict:
    """The rush judged against the deadline."""

    on_time: int  # Confirm pressed before the deadline
    submitted: int  # ... and told "submitted"
    lost: list[int]  # pressed before the deadline, not stored once with one version
    refused_late: int  # pressed after the deadline and refused
    late_accepted: list[int]  # pressed after the deadline and stored as on time
    duplicates: list[int]  # more than one submission or version for a team
    missed_deadlines: int
    no_receipt: list[int]  # stored, with a space, and no (single) receipt there
    no_post: list[int]  # stored and no (single) gallery post


def judge(flows: list[Flow], deadline: datetime, out: Outcome, spaces: dict[int, int]) -> Verdict:
    on_time = [f for f in flows if f.clicked_at is not None and f.clicked_at <= deadline]
    after = [f for f in flows if f.clicked_at is not None and f.clicked_at > deadline]
    lost, duplicates, no_receipt, no_post = [], [], [], []
    for f in flows:
        title = project(f.index)["title"]
        count, version, _late, sid = out.by_title.get(title, (0, 0, None, 0))
        if count > 1 or version > 1 or out.versions.get(sid, 0) > 1:
            duplicates.append(f.index)
        if count and out.gallery_posts.get(title, 0) != 1:
            no_post.append(f.index)
        if count and f.index in spaces and out.receipts.get(spaces[f.index], 0) != 1:
            no_receipt.append(f.index)
    for f in on_time:
        count, _version, late, _sid = out.by_title.get(project(f.index)["title"], (0, 0, None, 0))
        if count != 1 or late or not f.submitted:
            lost.append(f.index)
    # Never reaching Confirm before the deadline because the bot was slow loses it too.
    lost.extend(f.index for f in flows if f.clicked_at is None)
    late_accepted = [
        f.index
        for f in after
        if (c := out.by_title.get(project(f.index)["title"])) is not None and not c[2]
    ]
    refused = [f for f in after if f.text.startswith("Too late") and f.index not in late_accepted]
    return Verdict(
        on_time=len(on_time),
        submitted=sum(1 for f in on_time if f.submitted),
        lost=sorted(set(lost)),
        refused_late=len(refused),
        late_accepted=late_accepted,
        duplicates=duplicates,
        missed_deadlines=sum(1 for f in flows if f.missed),
        no_receipt=no_receipt,
        no_post=no_post,
    )


# -- the benchmark ------------------------------------------------------------------------------


def config(deadline: datetime) -> dict[str, Any]:
    """Submissions open until ``deadline`` (no reminder falls in the run)."""
    return {
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": (deadline - timedelta(hours=6)).isoformat(timespec="seconds"),
                "end": deadline.isoformat(timespec="seconds"),
                "opens": ["registration", "team_changes", "submissions"],
            }
        ],
        "timeline": {"reminder_offsets_minutes": [1440]},
    }


async def run(args: argparse.Namespace, report: Report) -> None:
    from bot.clock import utcnow
    from bot.db import Database

    members_total = args.teams + args.late
    # The deadline is set far enough ahead for the set-up; the clock is then moved so that
    # exactly ``window`` seconds are left when the first team starts.
    provisional = (utcnow() + timedelta(minutes=10)).replace(microsecond=0)
    async with bench_sandbox(args, members=members_total, config=config(provisional)) as (
        sb,
        startup,
    ):
        began = time.monotonic()
        members = [m for m in _members(sb) if m.name.startswith("member")][:members_total]
        db = Database(sb.settings.database.url)
        try:
            spaces = await make_teams(sb, db, members, args.challenges)
            await sb.settle()
            setup_s = time.monotonic() - began
            await sb.advance(seconds=(provisional - sb.clock.now()).total_seconds() - args.window)
            deadline = provisional
            sb.take_violations()
            cpu_before = (cpu_seconds(), cpu_seconds(sb.bot_pid))
            started = time.monotonic()
            on_time, late = members[: args.teams], members[args.teams :]
            late_task = asyncio.create_task(late_flows(sb, late, deadline, args.teams))
            flows = await rush(sb, on_time, window_s=args.window, tail_s=args.tail, seed=args.seed)
            rush_s = time.monotonic() - started
            flows += await late_task
            all_done_s = time.monotonic() - started
            cpu_used = (cpu_seconds() - cpu_before[0], cpu_seconds(sb.bot_pid) - cpu_before[1])
            caught_up = await wait_caught_up(db, args.catch_up)
            caught_up_s = time.monotonic() - started if caught_up is not None else None
            await sb.settle()
            out = await outcome(sb, db, spaces)
        finally:
            await db.dispose()
        memory = sb.bot_memory()
        errors = bot_errors(sb)
        violations = sb.take_violations()
        gallery_active = _active_gallery_posts(sb)
        limit, per = sb.rate_limiter.bucket_for("POST", "/channels/{channel_id}/threads")[1]
        gallery_floor_s = args.teams * per / limit if not args.no_rate_limits else None
    verdict = judge(flows, deadline, out, spaces)
    _report(
        report,
        args,
        flows=flows,
        verdict=verdict,
        out=out,
        spaces=len(spaces),
        setup_s=setup_s,
        rush_s=rush_s,
        all_done_s=all_done_s,
        caught_up_s=caught_up_s,
        cpu_used=cpu_used,
        memory=memory,
        errors=errors,
        violations=violations,
        startup_s=startup.ready_s,
        gallery_active=gallery_active,
        gallery_floor_s=gallery_floor_s,
    )


def _members(sb: Any) -> list[Any]:
    from sandbox.driver.member import SandboxMember

    return [
        SandboxMember(sb, user_id)
        for user_id, member in sb.guild.members.items()
        if not member["user"].get("bot")
    ]


def _active_gallery_posts(sb: Any) -> int:
    name = sb.settings.submissions.gallery_forum
    if not sb.has_channel(name):
        return 0
    forum = sb.channel(name)
    return sum(1 for t in sb.guild.active_threads() if t.get("parent_id") == str(forum.id))


def _report(report: Report, args: argparse.Namespace, **r: Any) -> None:
    flows: list[Flow] = r["flows"]
    verdict: Verdict = r["verdict"]
    steps = {
        step: summary_ms([f.steps_s[step] for f in flows if step in f.steps_s]) for step in STEPS
    }
    done = summary_ms([f.done_s for f in flows if f.done_s is not None and f.submitted])
    overall = summary_ms([v for f in flows for v in f.steps_s.values()])
    rate = args.teams / max(0.001, args.window - args.tail)
    table = report.table(
        f"{args.teams} teams submitting in {args.window:g} s ({rate:.1f} flows/s, 3 interactions "
        f"each) + {args.late} late, {args.latency_ms:g} ms API latency, ms",
        ["step", "count", "p50", "p90", "p99", "max"],
    )
    for step, s in [*steps.items(), ("every answer", overall), ("confirm → 'submitted'", done)]:
        table.add(step, s["count"], s["p50"], s["p90"], s["p99"], s["max"])
    figures = report.table("did everyone get in?", ["figure", "value"])
    figures.add("Confirm pressed before the deadline", verdict.on_time)
    figures.add(
        "... told 'submitted' and stored once, on time", verdict.on_time - len(verdict.lost)
    )
    figures.add("lost submissions", len(verdict.lost))
    figures.add("late Confirm refused", f"{verdict.refused_late} of {args.late}")
    figures.add("late accepted as on time", len(verdict.late_accepted))
    figures.add("teams with two submissions or versions", len(verdict.duplicates))
    figures.add("3-second deadlines missed", verdict.missed_deadlines)
    figures.add(
        "gallery posts (one per submission)",
        sum(1 for n in r["out"].gallery_posts.values() if n == 1),
    )
    figures.add("gallery posts left active", r["gallery_active"])
    figures.add("stored without a single gallery post", len(verdict.no_post))
    figures.add(
        "teams with a space / without a single receipt",
        f"{r['spaces']} / {len(verdict.no_receipt)}",
    )
    figures.add("wall time of the rush (s)", r["rush_s"])
    figures.add("gallery and receipts caught up after (s)", r["caught_up_s"])
    figures.add("floor: the posts at the forum's thread-creation limit (s)", r["gallery_floor_s"])
    figures.add("CPU s: sandbox + load / bot", f"{r['cpu_used'][0]:.1f} / {r['cpu_used'][1]:.1f}")
    figures.add("bot peak RSS (MB)", mb(r["memory"].get("VmHWM")))
    errors_by_step: dict[str, int] = {}
    for f in flows:
        if f.error:
            key = f.error.split(":")[0]
            errors_by_step[key] = errors_by_step.get(key, 0) + 1
    report.data.update(
        teams=args.teams,
        late=args.late,
        window_s=args.window,
        tail_s=args.tail,
        steps_ms=steps,
        every_answer_ms=overall,
        confirm_done_ms=done,
        on_time=verdict.on_time,
        lost=verdict.lost,
        refused_late=verdict.refused_late,
        late_accepted=verdict.late_accepted,
        duplicates=verdict.duplicates,
        missed_deadlines=verdict.missed_deadlines,
        gallery_posts=sum(1 for n in r["out"].gallery_posts.values() if n == 1),
        gallery_active=r["gallery_active"],
        no_post=verdict.no_post,
        spaces=r["spaces"],
        no_receipt=verdict.no_receipt,
        behind=r["out"].behind,
        rush_s=r["rush_s"],
        all_done_s=r["all_done_s"],
        caught_up_s=r["caught_up_s"],
        gallery_floor_s=r["gallery_floor_s"],
        setup_s=r["setup_s"],
        startup_s=r["startup_s"],
        cpu_s={"sandbox": r["cpu_used"][0], "bot": r["cpu_used"][1]},
        bot_peak_rss_mb=mb(r["memory"].get("VmHWM")),
        flow_errors=errors_by_step,
        bot_error_lines=len(r["errors"]),
        violations=[str(v) for v in r["violations"]],
    )
    ok = (
        not verdict.lost
        and not verdict.late_accepted
        and not verdict.duplicates
        and not verdict.missed_deadlines
    )
    report.note(
        f"nothing lost, nothing late accepted, no deadline missed: {'yes' if ok else 'NO'}; "
        f"set-up {r['setup_s']:.1f} s; {len(r['errors'])} ERROR lines; "
        f"{len(r['violations'])} sandbox refusals; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}"
    )
    for line in r["errors"][:5]:
        report.note(f"bot error: {line}")
    for key, count in sorted(errors_by_step.items()):
        report.note(f"{count} flows ended with: {key}")
