"""``event``: the whole #WirVsVirus-sized event in one run, phase by phase, against the sandbox
with the real bot in its own process.

Phases (each timed and accounted for on its own):

1. **setup**: a guild of participants + mentors + judges + organisers; the bot starts and
   chunks every member; mentors, judges and organisers get their roles (as people with the
   right would give them in the Discord client).
2. **registration**: ``--register-real`` participants go through the real ``/register``
   form (open it, fill it, the welcome); the rest are written to the database in bulk
   (members and profiles, as the form would have stored them) and get the participant role
   in the sandbox (the bot hears each as GUILD_MEMBER_UPDATE). Why not all of them for real:
   Discord lets a bot add about one role per second per server (10 per 10 s), and every
   registration gives one, so 28,000 take about 8 hours.
3. **statements**: ``--statements-real`` problem statements through ``/problem submit``
   (theme, form, the forum post), at ``--statement-rate`` per second; the rest in the
   database.
4. **review**: the organisers create the challenges with ``/admin challenge add`` (its form;
   each merges a few statements through its ``problems`` option), then go through
   ``/admin problem review`` (one theme each, in parallel): merge, duplicate, reject (with
   its form) and accept, ``--review-real`` decisions in all; the remaining statements are
   decided through the service (merged into a challenge or rejected).
5. **teams**: the candidates' challenge wishes are set in the database; ``--team-create``
   captains run ``/team create`` (each space is a channel, created at Discord's pace of 5
   per 10 s); an organiser runs ``/admin teams autoform`` and presses Confirm; the bench
   waits for its space job (``--spaces-wait``) and reports team spaces asked vs created.
6. **mentors**: ``--on-duty`` mentors set their skills and go on duty (``/mentor ...``).
7. **help**: ``--help-asks`` teams with a space ask for help over ``--help-seconds``; free
   mentors on duty claim each card and resolve it a few seconds later.
8. **submissions**: the clock is moved to ``--burst-seconds`` before the deadline and
   ``--submissions`` teams submit through the real ``/submit`` form and Confirm, their
   starts spread over the window (the flows of ``bench.submit``); then the gallery posts
   and receipts catch up (``--catch-up``).
9. **judging**: the clock passes the deadline; ``--judges`` judges score
   ``--judge-cards`` projects each with ``/judge next`` (every criterion, Save scores), an
   organiser reads ``/admin judging status``.

Per phase: wall time, interactions sent, errors (apologies and unexpected replies, flows
broken), 3-second deadlines missed, 429s the sandbox sent, Discord limit refusals and other
refusals (violations), lost writes (what the bot acknowledged compared with the database at
the end), the bot's RSS. At the end: the database size and what was asked against what
exists (teams, spaces, submissions exactly once...).

Every figure is a flag; ``--scale`` multiplies the defaults (``--scale 0.01`` for a smoke run);
a figure given as a flag is used as given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, cpu_seconds, mb, summary_ms

DESCRIPTION = "the whole #WirVsVirus-sized event, phase by phase (registration to judging)"

MESSAGE_COMPONENT = 3
DEFERRED_UPDATE_MESSAGE = 6
SELECT_TYPES = {3, 5, 6, 7, 8}


@dataclass(frozen=True)
class Figure:
    name: str
    default: int
    help: str


#: The event's figures: each a flag (``--participants``...), all multiplied by ``--scale``.
FIGURES: list[Figure] = [
    Figure("participants", 28_000, "members who register"),
    Figure(
        "register_real",
        120,
        "of them, through the real /register form, one per second (Discord's pace for the "
        "role it gives); the rest through the database",
    ),
    Figure("statements", 1_990, "problem statements submitted"),
    Figure(
        "statements_real", 400, "of them through the real /problem submit; the rest in the database"
    ),
    Figure("challenges", 42, "challenges the statements are filtered to"),
    Figure(
        "review_real",
        120,
        "review decisions through /admin problem review; the rest through the service",
    ),
    Figure("teams", 1_500, "teams formed"),
    Figure("team_create", 75, "of them created with /team create; the rest by autoform"),
    Figure("mentors", 2_900, "members with the mentor role"),
    Figure("on_duty", 580, "mentors who set their skills and go on duty"),
    Figure("help_asks", 150, "teams asking for help (claimed and resolved by mentors)"),
    Figure("submissions", 1_500, "teams submitting in the burst"),
    Figure("judges", 30, "judges scoring projects"),
]

THEMES = ["Health", "Education", "Environment", "Local life"]
TOPICS = ["python", "javascript", "web", "data", "design", "cloud", "pitch"]
SUBJECTS = {
    "Health": ["hospital beds", "elderly care", "test capacity", "protective masks", "nurses"],
    "Education": ["remote classes", "school meals", "homework help", "teacher tools", "exams"],
    "Environment": ["urban heat", "food waste", "river pollution", "bike lanes", "recycling"],
    "Local life": ["neighbour help", "local shops", "shared shopping", "volunteers", "transport"],
}
PROBLEMS = [
    "nobody knows who needs it",
    "information is scattered",
    "volunteers cannot find each other",
    "the data is out of date",
    "people wait for hours",
    "it is too expensive for families",
]
LIMIT_CODES = {30003, 30005, 30007, 30010, 30013, 30016, 160006}


# -- options ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    figures = parser.add_argument_group("figures (the defaults are multiplied by --scale)")
    for figure in FIGURES:
        figures.add_argument(
            "--" + figure.name.replace("_", "-"),
            type=int,
            metavar="N",
            help=f"{figure.help} (default {figure.default:,})",
        )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiplies every default figure above (e.g. 0.01 for a smoke run); a figure given "
        "as a flag is used as given",
    )
    parser.add_argument(
        "--burst-seconds",
        type=float,
        default=600.0,
        help="the submissions arrive in the last BURST seconds before the deadline (default 600)",
    )
    parser.add_argument(
        "--register-rate", type=float, default=1.0, help="real registrations per second (1)"
    )
    parser.add_argument(
        "--statement-rate", type=float, default=4.0, help="real statements per second (4)"
    )
    parser.add_argument(
        "--team-create-rate",
        type=float,
        default=0.5,
        help="/team create per second (0.5: Discord's pace for channels)",
    )
    parser.add_argument(
        "--help-seconds", type=float, default=150.0, help="the help asks are spread over (150)"
    )
    parser.add_argument(
        "--spaces-wait",
        type=float,
        default=3600.0,
        help="wait at most this long for autoform's team spaces before going on (3600 s)",
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        default=900.0,
        help="wait at most this long for gallery posts and receipts after the burst (900 s)",
    )
    parser.add_argument("--organisers", type=int, default=4, help="organisers (4, not scaled)")
    parser.add_argument(
        "--judge-cards", type=int, default=3, help="projects each judge scores (3, not scaled)"
    )
    parser.add_argument("--max-size", type=int, default=5, help="[teams] max_size (default 5)")
    parser.add_argument(
        "--headroom",
        type=int,
        help="[formation] channel_headroom (default: the bot's own; a large one makes threads)",
    )
    parser.add_argument("--seed", type=int, default=1)


def resolve_figures(args: argparse.Namespace) -> dict[str, int]:
    """Every figure: the flag as given, else its default times --scale (at least 1), made
    consistent (a share never larger than the whole)."""
    out: dict[str, int] = {}
    for figure in FIGURES:
        given = getattr(args, figure.name, None)
        out[figure.name] = (
            given if given is not None else max(1, round(figure.default * args.scale))
        )
    out["register_real"] = min(out["register_real"], out["participants"])
    out["statements_real"] = min(out["statements_real"], out["statements"])
    out["team_create"] = min(out["team_create"], out["teams"])
    out["on_duty"] = min(out["on_duty"], out["mentors"])
    out["submissions"] = min(out["submissions"], out["teams"])
    out["help_asks"] = min(out["help_asks"], out["teams"])
    return out


# -- accounting -------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one phase did and what went wrong in it."""

    name: str
    wall_s: float = 0.0
    interactions: int = 0
    answered_ms: dict[str, Any] = field(default_factory=dict)
    missed: int = 0
    apologies: int = 0
    unexpected: int = 0
    broken: int = 0  # flows that could not go on for another reason (no form, no card...)
    samples: list[str] = field(default_factory=list)
    rate_limited: int = 0
    limited_by_route: dict[str, int] = field(default_factory=dict)
    limit_refusals: list[str] = field(default_factory=list)
    other_refusals: list[str] = field(default_factory=list)
    missed_by: dict[str, int] = field(default_factory=dict)
    bot_error_lines: int = 0
    bot_error_samples: list[str] = field(default_factory=list)
    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    bot_cpu_s: float = 0.0
    lost: int | None = None
    lost_detail: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.apologies + self.unexpected + self.broken

    def sample(self, text: str) -> None:
        if len(self.samples) < 15:
            self.samples.append(text[:300])

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["errors"] = self.errors
        return data


class Tracker:
    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.phases: list[Phase] = []

    @contextlib.asynccontextmanager
    async def phase(self, name: str) -> AsyncIterator[Phase]:
        sb = self.sb
        phase = Phase(name)
        first = len(sb.server.interactions.records)
        limited_before = _limiter_stats(sb)
        routes_before = Counter(limited_before["limited_by_route"])
        errors_before = len(bot_errors(sb))
        cpu_before = cpu_seconds(sb.bot_pid)
        sb.take_violations()
        began = time.monotonic()
        try:
            yield phase
        finally:
            records = list(sb.server.interactions.records.values())[first:]
            await _drain(sb, records)
            phase.wall_s = time.monotonic() - began
            phase.interactions = len(records)
            arrivals = sb.server.callback_arrivals
            answered = []
            missed_by: Counter[str] = Counter()
            for record in records:
                if record.missed_deadline or record.response_type is None:
                    phase.missed += 1
                    missed_by[_record_label(record)] += 1
                elif record.id in arrivals:
                    answered.append(arrivals[record.id] - record.created_mono)
            phase.answered_ms = summary_ms(answered)
            phase.missed_by = dict(missed_by)
            stats = _limiter_stats(sb)
            phase.rate_limited = stats["rate_limited"] - limited_before["rate_limited"]
            routes = Counter(stats["limited_by_route"])
            routes.subtract(routes_before)
            phase.limited_by_route = {k: v for k, v in routes.items() if v > 0}
            for violation in sb.take_violations():
                target = (
                    phase.limit_refusals
                    if violation.code in LIMIT_CODES
                    or (violation.code == 50035 and "category" in str(violation).lower())
                    else phase.other_refusals
                )
                target.append(str(violation)[:400])
            errors = bot_errors(sb)[errors_before:]
            phase.bot_error_lines = len(errors)
            phase.bot_error_samples = [line[:300] for line in errors[:5]]
            memory = sb.bot_memory()
            phase.rss_mb = mb(memory.get("VmRSS"))
            phase.peak_rss_mb = mb(memory.get("VmHWM"))
            phase.bot_cpu_s = cpu_seconds(sb.bot_pid) - cpu_before
            self.phases.append(phase)
            print(
                f"[event] {name}: {phase.wall_s:.1f} s, {phase.interactions} interactions, "
                f"{phase.errors} errors, {phase.missed} missed, {phase.rate_limited} 429s, "
                f"{len(phase.limit_refusals) + len(phase.other_refusals)} refusals, "
                f"RSS {phase.rss_mb or 0:.0f} MB",
                flush=True,
            )


def _record_label(record: Any) -> str:
    """What an interaction was: the command's path, or the component / form (custom id)."""
    data = record.payload.get("data") or {}
    if record.type in (2, 4):  # a command or its autocomplete
        path = [data.get("name", "")]
        options = data.get("options") or []
        while options and options[0].get("type") in (1, 2):
            path.append(options[0]["name"])
            options = options[0].get("options") or []
        return ("autocomplete " if record.type == 4 else "/") + " ".join(path)
    custom = str(data.get("custom_id") or "")
    kind = "form" if record.type == 5 else "component"
    return f"{kind} {re.sub(r'[0-9]{3,}', 'N', custom)[:60]}"


def _limiter_stats(sb: Any) -> dict[str, Any]:
    limiter = sb.rate_limiter
    if limiter is None:  # --no-rate-limits
        return {"rate_limited": 0, "limited_by_route": {}}
    return dict(limiter.stats)


async def _drain(sb: Any, records: list[Any], max_wait: float | None = None) -> None:
    """Wait until every interaction got its first answer or missed its deadline."""
    limit = time.monotonic() + (max_wait or sb.server.interactions.deadline_s + 1.0)
    while time.monotonic() < limit:
        if all(r.response_type is not None or r.missed_deadline for r in records):
            return
        await asyncio.sleep(0.05)


APOLOGIES = ("Something went wrong", "very busy right now")
#: Seconds people take: reading an answer before the next click, filling a form.
PAUSES = {"read": (0.3, 1.0), "type": (1.0, 2.0)}
_HUMAN = random.Random(7)


async def act(
    phase: Phase,
    label: str,
    make: Callable[[], Awaitable[Any]],
    expect: str | re.Pattern[str] | None,
    *,
    after: str | None = None,
) -> Any | None:
    """Run one interaction (``make()`` returns the driver's Reply) and judge the answer.

    ``expect``: text the answer must contain (a pattern searched in it), or None for a form
    (the answer must be a modal). Returns the Reply when it is the expected one."""
    from sandbox.driver.reply import InteractionFailed

    if after is not None:
        # People read an answer before they click, and type before they send a form (a click
        # the instant an answer arrives could overtake the bot storing its buttons).
        low, high = PAUSES[after]
        await asyncio.sleep(_HUMAN.uniform(low, high))
    try:
        reply = await make()
    except InteractionFailed:
        return None  # counted with the missed deadlines
    except AssertionError as error:
        phase.broken += 1
        phase.sample(f"{label}: the deferred answer never came ({error})")
        return None
    except Exception as error:
        phase.broken += 1
        phase.sample(f"{label}: {type(error).__name__}: {error}")
        return None
    if reply.record.response_type == DEFERRED_UPDATE_MESSAGE:
        sb = reply._sb
        await reply.record.wait_until(
            lambda: reply.record.completed or bool(reply.record.followup_ids), sb.deferred_max_s
        )
    followed = "\n".join(follow.all_text for follow in reply.followups)
    # A deferred update whose message was not edited answered in its follow-ups only (a
    # refusal): the message still shows the previous screen, whose text must not count.
    unedited = reply.record.response_type == DEFERRED_UPDATE_MESSAGE and not reply.record.completed
    if expect is None:
        if reply.modal is not None:
            return reply
        text = reply.all_text
    else:
        text = followed if unedited else reply.all_text + ("\n" + followed if followed else "")
        found = expect.search(text) if isinstance(expect, re.Pattern) else expect in text
        if found:
            return reply
    if any(a in text for a in APOLOGIES):
        phase.apologies += 1
    else:
        phase.unexpected += 1
    # The follow-ups first: after a deferred update they hold the bot's answer (a refusal),
    # while the message itself still shows the previous screen.
    shown = (
        f"follow-ups {followed[:160]!r}; message {reply.all_text[:120]!r}"
        if followed
        else repr(text[:240])
    )
    phase.sample(f"{label}: {shown}")
    return None


async def paced(
    count: int, rate: float, run: Callable[[int], Awaitable[Any]], *, spread_s: float | None = None
) -> list[Any]:
    """Start ``run(i)`` for i in range(count) at ``rate`` per second (or spread evenly over
    ``spread_s``), each without waiting for the others; returns their results in order."""
    loop = asyncio.get_running_loop()
    if spread_s is not None:
        interval = spread_s / count if count else 0.0
    else:
        interval = 1.0 / rate if rate > 0 else 0.0
    began = loop.time()
    tasks: list[asyncio.Task[Any]] = []
    for index in range(count):
        delay = began + index * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(run(index)))
    return list(await asyncio.gather(*tasks))


async def jump(sb: Any, seconds: float) -> None:
    """Move the sandbox's (and the bot's) clock forward without waiting for the server to
    be quiet (background jobs keep it busy for minutes)."""
    version = await sb.server.advance_clock(timedelta(seconds=seconds))
    await sb.server.control.wait_acked(version, sb.advance_tasks_max_s)


def grant_role(sb: Any, members: list[Any], role_name: str) -> None:
    """Give a role to members as someone in the Discord client would (GUILD_MEMBER_UPDATE)."""
    server, guild = sb.server, sb.guild
    role_id = server.resolve_role(guild, role_name)["id"]
    for member in members:
        current = guild.members[str(member.id)].get("roles") or []
        if role_id not in current:
            server.set_member_roles(guild, str(member.id), [*current, role_id])


async def grant_role_gently(sb: Any, members: list[Any], role_name: str) -> None:
    for start in range(0, len(members), 500):
        grant_role(sb, members[start : start + 500], role_name)
        await asyncio.sleep(0.05)


# -- the configuration -------------------------------------------------------------------------


def event_config(deadline: datetime, max_size: int, headroom: int | None) -> dict[str, Any]:
    """One long phase with everything open until the submission deadline, then judging."""
    start = deadline - timedelta(hours=9)
    return {
        **({"formation": {"channel_headroom": headroom}} if headroom is not None else {}),
        "teams": {"min_size": 2, "max_size": max_size},
        "problems": {"themes": THEMES},
        "help": {"topics": TOPICS},
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": start.isoformat(timespec="seconds"),
                "end": deadline.isoformat(timespec="seconds"),
                "opens": [
                    "registration",
                    "new_teams",
                    "team_changes",
                    "problem_collection",
                    "help_queue",
                    "submissions",
                ],
            },
            {
                "key": "judging",
                "name": "Judging",
                "start": deadline.isoformat(timespec="seconds"),
                "end": (deadline + timedelta(hours=4)).isoformat(timespec="seconds"),
                "opens": ["judging"],
            },
        ],
        "timeline": {"reminder_offsets_minutes": [1440]},
    }


# -- the people --------------------------------------------------------------------------------


@dataclass
class People:
    participants: list[Any]
    captains: list[Any]  # /team create (registered in bulk, not for autoform)
    autoform_bulk: list[Any]  # registered in bulk, agree to autoform
    real: list[Any]  # register through /register (autoform by default)
    crowd: list[Any]  # registered in bulk, not in a team (most of the 28,000)
    mentors: list[Any]
    judges: list[Any]
    organisers: list[Any]


def split_people(sb: Any, fig: dict[str, int], args: argparse.Namespace) -> People:
    from sandbox.driver.member import SandboxMember

    everyone = [
        SandboxMember(sb, user_id)
        for user_id, member in sb.guild.members.items()
        if member["user"]["username"].startswith("member")
    ]
    p, m, j = fig["participants"], fig["mentors"], fig["judges"]
    participants = everyone[:p]
    mentors = everyone[p : p + m]
    judges = everyone[p + m : p + m + j]
    organisers = everyone[p + m + j : p + m + j + args.organisers]
    tc = fig["team_create"]
    # Autoform fills the created teams up to max_size; the teams it forms average about
    # max_size - 0.3 people (it balances sizes: 1,237 people made 263 teams of 2 to 5).
    wanted = tc * (args.max_size - 1) + round((fig["teams"] - tc) * (args.max_size - 0.3))
    candidates = max(0, min(wanted, p - tc))
    real_n = min(fig["register_real"], candidates)
    captains = participants[:tc]
    autoform_bulk = participants[tc : tc + candidates - real_n]
    real = participants[tc + candidates - real_n : tc + candidates]
    crowd = participants[tc + candidates :]
    return People(participants, captains, autoform_bulk, real, crowd, mentors, judges, organisers)


# -- 2. registration -------------------------------------------------------------------------


async def bulk_register(
    db: Any, members: list[Any], autoform: set[str], now: datetime, seed: int
) -> None:
    """Members and profiles as /register stores them, in chunks (the bot writes meanwhile)."""
    from sqlalchemy import insert

    from bench.autoform import make_people
    from bot.models import Member, Profile

    people = make_people(len(members), [], 0.0, seed)
    for start in range(0, len(members), 2_000):
        chunk = members[start : start + 2_000]
        async with db.begin() as session:
            ids = list(
                (
                    await session.scalars(
                        insert(Member).returning(Member.id, sort_by_parameter_order=True),
                        [
                            {
                                "discord_id": int(m.id),
                                "display_name": m.name,
                                "locale": "en",
                                "created_at": now,
                                "updated_at": now,
                            }
                            for m in chunk
                        ],
                    )
                ).all()
            )
            await session.execute(
                insert(Profile),
                [
                    {
                        "member_id": member_id,
                        "display_name": m.name.title(),
                        "registered_at": now,
                        "autoform": str(m.id) in autoform,
                        "created_at": now,
                        "updated_at": now,
                        **person,
                    }
                    for member_id, m, person in zip(
                        ids, chunk, people[start : start + 2_000], strict=True
                    )
                ],
            )
        await asyncio.sleep(0)


async def registration(sb: Any, db: Any, tracker: Tracker, people: People, args: Any) -> dict:
    bulk = people.captains + people.autoform_bulk + people.crowd
    autoform = {str(m.id) for m in people.autoform_bulk}
    async with tracker.phase("registration") as phase:
        began = time.monotonic()
        await bulk_register(db, bulk, autoform, sb.clock.now(), args.seed)
        await grant_role_gently(sb, bulk, sb.settings.roles.participant)
        bulk_s = time.monotonic() - began
        acknowledged: list[str] = []

        async def one(index: int) -> None:
            member = people.real[index]
            form = await act(phase, "register (form)", lambda: member.slash("register"), None)
            if form is None:
                return
            values = {
                "Name shown to others": f"Real {index}",
                "What you do": ["Developer", "Data"] if index % 3 else ["Design"],
                "Languages you speak": ["English", "German"] if index % 2 else ["English"],
                "Your time zone": [_first_option(form.modal, 3)],
            }
            done = await act(
                phase,
                "register (submit)",
                lambda: form.submit(values),
                "You are registered",
                after="type",
            )
            if done is not None:
                acknowledged.append(str(member.id))

        real_began = time.monotonic()
        await paced(len(people.real), args.register_rate, one)
        phase.facts.update(
            bulk=len(bulk),
            bulk_s=bulk_s,
            real=len(people.real),
            real_s=time.monotonic() - real_began,
            acknowledged=len(acknowledged),
        )
    return {"acknowledged": acknowledged, "bulk": len(bulk)}


def _first_option(modal: dict, field_index: int) -> str:
    from sandbox.driver import components as comp

    fields = comp.modal_fields(modal)
    _label, _top, inner = fields[field_index]
    options = inner.get("options") or []
    chosen = next((o for o in options if o.get("default")), options[0] if options else None)
    return chosen["value"] if chosen else "UTC"


# -- 3. statements ------------------------------------------------------------------------


def statement_text(rng: random.Random, index: int) -> dict[str, str]:
    theme = THEMES[index % len(THEMES)]
    subject = rng.choice(SUBJECTS[theme])
    problem = rng.choice(PROBLEMS)
    return {
        "theme": theme,
        "title": f"{subject.capitalize()}: {problem} ({index})"[:100],
        "description": f"In our town {subject} is a problem because {problem}. "
        f"We would like a tool that helps with {subject}. Statement {index}.",
        "affected": rng.choice(["Families", "Older people", "Students", "Shops", "Everyone"]),
        "link": "" if index % 3 else f"https://example.org/report/{index}",
    }


async def statements(
    sb: Any, db: Any, tracker: Tracker, people: People, fig: dict[str, int], args: Any
) -> dict:
    from sqlalchemy import insert

    from bot.models.problems import ProblemStatement

    rng = random.Random(args.seed + 3)
    texts = [statement_text(rng, i) for i in range(fig["statements"])]
    real_n = fig["statements_real"]
    authors = (people.crowd + people.autoform_bulk + people.captains)[: fig["statements"]]
    async with tracker.phase("statements") as phase:
        acknowledged: dict[int, str] = {}

        async def one(index: int) -> None:
            member, text = authors[index], texts[index]
            picker = await act(
                phase, "problem submit", lambda: member.slash("problem submit"), "Which theme"
            )
            if picker is None:
                return
            form = await act(
                phase,
                "problem theme",
                lambda: picker.select(None, [text["theme"]]),
                None,
                after="read",
            )
            if form is None:
                return
            labels = [label for label, _t, _i in _modal_fields(form.modal)]
            values = dict(
                zip(
                    labels,
                    [text["title"], text["description"], text["affected"], text["link"]],
                    strict=False,
                )
            )
            done = await act(
                phase,
                "problem form",
                lambda: form.submit(values),
                re.compile(r"problem statement #(\d+) is posted"),
                after="type",
            )
            if done is not None:
                found = re.search(r"problem statement #(\d+)", done.all_text)
                if found:
                    acknowledged[int(found[1])] = text["title"]

        real_began = time.monotonic()
        await paced(real_n, args.statement_rate, one)
        real_s = time.monotonic() - real_began
        began = time.monotonic()
        now = sb.clock.now()
        bulk = [
            {
                "author_discord_id": int(authors[i].id),
                "author_name": authors[i].name,
                "title": texts[i]["title"],
                "description": texts[i]["description"],
                "affected": texts[i]["affected"],
                "link": texts[i]["link"] or None,
                "theme": texts[i]["theme"],
                "lang": "en",
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(real_n, fig["statements"])
        ]
        if bulk:
            async with db.begin() as session:
                await session.execute(insert(ProblemStatement), bulk)
        phase.facts.update(
            real=real_n,
            real_s=real_s,
            acknowledged=len(acknowledged),
            bulk=len(bulk),
            bulk_s=time.monotonic() - began,
        )
    return {"acknowledged": acknowledged}


def _modal_fields(modal: dict) -> list[tuple[str, dict, dict]]:
    from sandbox.driver import components as comp

    return comp.modal_fields(modal)


# -- 4. review ------------------------------------------------------------------------------


async def review(
    sb: Any, db: Any, tracker: Tracker, people: People, fig: dict[str, int], args: Any
) -> dict:
    from sqlalchemy import select

    from bot.models.problems import ProblemStatement
    from bot.services import problems as problem_service

    rng = random.Random(args.seed + 4)
    organisers = people.organisers
    async with tracker.phase("review") as phase:
        # The challenges, each taking in a few statements (the newest pending ones).
        async with db.read() as session:
            pending = list(
                (
                    await session.scalars(
                        select(ProblemStatement.id)
                        .where(ProblemStatement.status == "pending")
                        .order_by(ProblemStatement.id.desc())
                    )
                ).all()
            )
        per = max(0, min(5, len(pending) // max(1, fig["challenges"]) // 2))
        created: list[str] = []
        challenge_began = time.monotonic()

        async def add(organiser: Any, k: int) -> None:
            name = f"Challenge {k + 1:02d}"
            linked = pending[k * per : (k + 1) * per]
            options: dict[str, Any] = {
                "name": name,
                "summary": f"{THEMES[k % len(THEMES)]}: {SUBJECTS[THEMES[k % len(THEMES)]][k % 5]}",
                "mentor_skills": ", ".join(TOPICS[k % len(TOPICS) : k % len(TOPICS) + 2]),
            }
            if linked:
                options["problems"] = ", ".join(str(i) for i in linked)
            form = await act(
                phase,
                "challenge add",
                lambda: organiser.slash("admin challenge add", **options),
                None,
            )
            if form is None:
                return
            label = _description_label(form.modal)
            done = await act(
                phase,
                "challenge form",
                lambda: form.submit({label: f"What {name} is about, in a few lines."}),
                f"Challenge **{name}** created",
                after="type",
            )
            if done is not None:
                created.append(name)

        async def organiser_adds(o: int) -> None:
            for k in range(o, fig["challenges"], len(organisers)):
                await add(organisers[o], k)

        await asyncio.gather(*(organiser_adds(o) for o in range(len(organisers))))
        challenges_s = time.monotonic() - challenge_began

        # The review screen: each organiser one theme, in parallel.
        decisions: dict[int, str] = {}
        already: list[int | None] = []
        raced = 0
        panel_began = time.monotonic()

        async def panel(o: int, count: int) -> None:
            nonlocal raced
            organiser = organisers[o]
            theme = THEMES[o % len(THEMES)]
            screen = await act(
                phase,
                "problem review",
                lambda: organiser.slash("admin problem review", theme=theme),
                re.compile(r"waiting for review|Nothing left to review"),
            )
            if screen is None:
                return
            message_id = screen.message["id"]
            made, attempts = 0, 0
            while made < count and attempts < 3 * count:
                attempts += 1
                message = sb.server.messages.get(message_id)
                if message is None or not message.get("components"):
                    return  # nothing left in this theme
                problem_id = _statement_id(message)
                selects = {s.get("placeholder"): s for s in _selects(message)}
                roll = rng.random()
                action = "accept"
                if roll < 0.45 and "Merge into the challenge…" in selects:
                    action = "merge"
                elif roll < 0.65 and "Duplicate of…" in selects:
                    action = "duplicate"
                elif roll < 0.85:
                    action = "reject"
                if action in ("merge", "duplicate"):
                    placeholder = (
                        "Merge into the challenge…" if action == "merge" else "Duplicate of…"
                    )
                    value = selects[placeholder]["options"][0]["value"]
                    expect = (
                        "merged into the challenge"
                        if action == "merge"
                        # Or refused: the original was rejected (by another organiser) since
                        # the screen showed it; the organiser reads that and decides again.
                        # (Not just "duplicate of": a refusal says "cannot be a duplicate
                        # of itself".)
                        else re.compile(
                            r"marked as a duplicate of|was not kept: choose another original"
                        )
                    )
                    done = await act(
                        phase,
                        f"review {action}",
                        lambda m=message, p=placeholder, v=value: organiser.select(m, p, [v]),
                        expect,
                        after="read",
                    )
                elif action == "reject":
                    form = await act(
                        phase,
                        "review reject",
                        lambda m=message: organiser.click(m, "Reject…"),
                        None,
                        after="read",
                    )
                    if form is None:
                        return
                    label = _modal_fields(form.modal)[0][0]
                    done = await act(
                        phase,
                        "review reject (reason)",
                        lambda f=form, lab=label: f.submit({lab: "Out of scope for this event"}),
                        "rejected",
                        after="type",
                    )
                else:
                    done = await act(
                        phase,
                        "review accept",
                        lambda m=message: organiser.click(m, "Accept"),
                        "accepted",
                        after="read",
                    )
                if done is None:
                    return
                if "choose another original" in done.all_text + "".join(
                    f.all_text for f in done.followups
                ):
                    raced += 1
                    continue
                made += 1
                if "was already decided" in done.text:
                    already.append(problem_id)  # decided since the screen showed it
                    continue
                notice = re.search(
                    r"#(\d+) (accepted|rejected|marked as a duplicate|merged)", done.text
                )
                if notice is not None:
                    problem_id = int(notice[1])
                if problem_id is not None:
                    decisions[problem_id] = action
            message = sb.server.messages.get(message_id)
            if message is not None and any(b.get("label") == "Stop" for b in _buttons(message)):
                await act(
                    phase,
                    "review stop",
                    lambda: organiser.click(message, "Stop"),
                    "Review paused",
                    after="read",
                )

        share = [
            fig["review_real"] // len(organisers)
            + (1 if o < fig["review_real"] % len(organisers) else 0)
            for o in range(len(organisers))
        ]
        await asyncio.gather(*(panel(o, share[o]) for o in range(len(organisers))))
        panel_s = time.monotonic() - panel_began

        # The rest through the service: merged into a challenge or rejected.
        service_began = time.monotonic()
        async with db.read() as session:
            from bot.models.challenges import Challenge

            challenge_ids = list((await session.scalars(select(Challenge.id))).all())
            rest = list(
                (
                    await session.scalars(
                        select(ProblemStatement.id).where(ProblemStatement.status == "pending")
                    )
                ).all()
            )
        curator = int(organisers[0].id)
        for start in range(0, len(rest), 200):
            async with db.begin() as session:
                now = sb.clock.now()
                for problem_id in rest[start : start + 200]:
                    if challenge_ids and rng.random() < 0.6:
                        await problem_service.merge_into_challenge(
                            session, problem_id, rng.choice(challenge_ids), curator, now
                        )
                    else:
                        await problem_service.reject(
                            session, problem_id, curator, "Out of scope for this event", now
                        )
            await asyncio.sleep(0)
        phase.facts.update(
            challenges_asked=fig["challenges"],
            challenges_acknowledged=len(created),
            challenges_s=challenges_s,
            statements_linked_by_add=per * len(created),
            panel_decisions=len(decisions),
            panel_by_action=dict(Counter(decisions.values())),
            panel_already_decided=len(already),
            panel_duplicate_of_rejected=raced,
            panel_s=panel_s,
            service_decisions=len(rest),
            service_s=time.monotonic() - service_began,
        )
    return {"challenges": created, "decisions": decisions}


def _description_label(modal: dict) -> str:
    """The challenge form's long description (the name and summary come pre-filled)."""
    labels = [label for label, _top, _inner in _modal_fields(modal)]
    return next((lab for lab in labels if "description" in lab.lower()), labels[-1])


def _walk(components: list[dict]) -> list[dict]:
    out: list[dict] = []
    for item in components or []:
        out.append(item)
        out.extend(_walk(item.get("components") or []))
        if isinstance(item.get("component"), dict):
            out.extend(_walk([item["component"]]))
    return out


def _selects(message: dict) -> list[dict]:
    return [c for c in _walk(message.get("components") or []) if c.get("type") in SELECT_TYPES]


def _buttons(message: dict) -> list[dict]:
    return [c for c in _walk(message.get("components") or []) if c.get("type") == 2]


def _statement_id(message: dict) -> int | None:
    for embed in message.get("embeds") or []:
        footer = (embed.get("footer") or {}).get("text") or ""
        found = re.search(r"#(\d+)", footer) or re.search(r"#(\d+)", embed.get("title") or "")
        if found:
            return int(found[1])
    return None


# -- 5. teams ---------------------------------------------------------------------------------


async def teams(
    sb: Any, db: Any, tracker: Tracker, people: People, fig: dict[str, int], args: Any
) -> dict:
    from sqlalchemy import bindparam, select, update

    from bench.autoform import make_people
    from bot.models import Member
    from bot.models.challenges import Challenge
    from bot.models.teams import AutoformRun, Profile

    async with tracker.phase("teams") as phase:
        # Wishes, as the profile's wishes menu would store them once challenges exist.
        async with db.read() as session:
            challenge_rows = (await session.execute(select(Challenge.id, Challenge.name))).all()
            candidates = list(
                (
                    await session.scalars(
                        select(Profile.member_id).where(Profile.autoform.is_(True))
                    )
                ).all()
            )
        challenge_ids = [cid for cid, _ in challenge_rows]
        wishes = make_people(len(candidates), challenge_ids, 0.65, args.seed + 5)
        if candidates and challenge_ids:
            table = Profile.__table__
            async with db.begin() as session:
                await session.execute(
                    update(table)
                    .where(table.c.member_id == bindparam("b_member"))
                    .values(wishes=bindparam("b_wishes")),
                    [
                        {"b_member": member_id, "b_wishes": person["wishes"]}
                        for member_id, person in zip(candidates, wishes, strict=True)
                    ],
                )

        created: list[str] = []
        names = [name for _, name in challenge_rows]

        async def create(index: int) -> None:
            captain = people.captains[index]
            name = f"Crew {index + 1:04d}"
            options: dict[str, Any] = {"name": name, "description": "We build things that help"}
            if names and index % 2 == 0:
                options["challenge"] = names[index % len(names)]
            done = await act(
                phase,
                "team create",
                lambda: captain.slash("team create", **options),
                f"Team **{name}** created",
            )
            if done is not None:
                created.append(name)

        create_began = time.monotonic()
        await paced(len(people.captains), args.team_create_rate, create)
        create_s = time.monotonic() - create_began

        organiser = people.organisers[0]
        autoform_began = time.monotonic()
        preview = await act(
            phase,
            "autoform",
            lambda: organiser.slash("admin teams autoform"),
            re.compile(r"preview|Nobody to place"),
        )
        plan: dict[str, Any] = {}
        run_id = None
        if preview is not None and "Confirm" in preview.buttons:
            confirmed = await act(
                phase,
                "autoform confirm",
                lambda: preview.click("Confirm"),
                "Forming the teams",
                after="read",
            )
            if confirmed is not None:
                async with db.read() as session:
                    run = await session.scalar(
                        select(AutoformRun).order_by(AutoformRun.id.desc()).limit(1)
                    )
                    if run is not None:
                        run_id, plan = run.id, dict(run.figures or {})
        confirm_s = time.monotonic() - autoform_began
        progress: list[tuple[float, int]] = []
        finished = False
        if run_id is not None:
            began = time.monotonic()
            last = -1
            while time.monotonic() - began < args.spaces_wait:
                async with db.read() as session:
                    run = await session.get(AutoformRun, run_id)
                    status, done_spaces = run.status, run.done_spaces or 0
                if done_spaces != last:
                    progress.append((time.monotonic() - began, done_spaces))
                    last = done_spaces
                    if len(progress) % 50 == 1:
                        print(
                            f"[event] autoform spaces: {done_spaces}/{len(run.team_ids or [])} "
                            f"after {time.monotonic() - began:.0f} s",
                            flush=True,
                        )
                if status == "done":
                    finished = True
                    break
                await asyncio.sleep(1.0)
        spaces_s = time.monotonic() - autoform_began - confirm_s
        async with db.read() as session:
            captains_of = dict(
                (
                    await session.execute(
                        select(Member.discord_id, Member.id).where(
                            Member.discord_id.in_([int(m.id) for m in people.captains])
                        )
                    )
                ).all()
            )
        phase.facts.update(
            team_create_asked=len(people.captains),
            team_create_acknowledged=len(created),
            team_create_s=create_s,
            autoform_plan=plan,
            autoform_confirm_s=confirm_s,
            spaces_job_finished=finished,
            spaces_job_s=spaces_s,
            spaces_progress=[{"at_s": at, "done": n} for at, n in progress[-200:]],
            candidates=len(candidates),
        )
    return {"created": created, "run_id": run_id, "captains_of": captains_of}


# -- 6. mentors --------------------------------------------------------------------------------


async def mentors(sb: Any, tracker: Tracker, people: People, fig: dict[str, int]) -> dict:
    on_duty: list[Any] = []
    async with tracker.phase("mentors") as phase:

        async def one(index: int) -> None:
            mentor = people.mentors[index]
            skills = ", ".join(TOPICS[index % len(TOPICS) : index % len(TOPICS) + 2] or TOPICS[:1])
            done = await act(
                phase,
                "mentor skills",
                lambda: mentor.slash("mentor skills", skills=skills),
                "Your skills",
            )
            if done is None:
                return
            done = await act(
                phase,
                "mentor duty on",
                lambda: mentor.slash("mentor duty on"),
                "You are on duty",
                after="read",
            )
            if done is not None:
                on_duty.append(mentor)

        await paced(fig["on_duty"], 10.0, one)
        phase.facts.update(asked=fig["on_duty"], on_duty=len(on_duty))
    return {"on_duty": on_duty}


# -- 7. help ----------------------------------------------------------------------------------


async def team_rows(db: Any) -> list[tuple[int, str, int | None, str | None]]:
    """(team id, name, space channel id, captain's Discord id) of every active team."""
    from sqlalchemy import select

    from bot.models import Member
    from bot.models.teams import Team

    async with db.read() as session:
        rows = (
            await session.execute(
                select(Team.id, Team.name, Team.channel_id, Member.discord_id)
                .join(Member, Member.id == Team.captain_member_id, isouter=True)
                .where(Team.archived_at.is_(None))
                .order_by(Team.id)
            )
        ).all()
    return [
        (tid, name, channel, str(discord) if discord else None)
        for tid, name, channel, discord in rows
    ]


async def help_desk(
    sb: Any, db: Any, tracker: Tracker, fig: dict[str, int], on_duty: list[Any], args: Any
) -> dict:
    from sandbox.driver.member import SandboxMember

    rng = random.Random(args.seed + 7)
    rows = [r for r in await team_rows(db) if r[2] is not None and r[3] is not None]
    rng.shuffle(rows)
    askers = rows[: fig["help_asks"]]
    asked: dict[int, str] = {}
    claimed: dict[int, str] = {}
    resolved: list[int] = []
    free: asyncio.Queue[Any] = asyncio.Queue()
    for mentor in on_duty:
        free.put_nowait(mentor)
    queue_name = sb.settings.channels.help_queue
    async with tracker.phase("help") as phase:

        async def find_card(number: int, max_wait: float) -> dict | None:
            limit = time.monotonic() + max_wait
            footer = f"Ticket {number}"
            while time.monotonic() < limit:
                if sb.has_channel(queue_name):
                    for message in reversed(sb.channel(queue_name).messages):
                        for embed in message.get("embeds") or []:
                            if (embed.get("footer") or {}).get("text") == footer:
                                return message
                await asyncio.sleep(0.25)
            return None

        async def one(index: int) -> None:
            _team_id, team_name, _channel, captain = askers[index]
            member = SandboxMember(sb, captain)
            topic = rng.choice(TOPICS)
            reply = await act(
                phase,
                "help ask",
                lambda: member.slash(
                    "help ask", topic=topic, description=f"Our {topic} part fails ({index})"
                ),
                re.compile(r"Request \*\*#(\d+)\*\*"),
            )
            if reply is None:
                return
            number = int(re.search(r"Request \*\*#(\d+)\*\*", reply.all_text)[1])
            asked[number] = team_name
            card = await find_card(number, 300.0)
            if card is None:
                phase.broken += 1
                phase.sample(f"help card: ticket {number} never showed in #{queue_name}")
                return
            mentor = await free.get()
            try:
                took = await act(
                    phase,
                    "help claim",
                    lambda: mentor.click(card, "Claim"),
                    f"You took #{number}",
                    after="read",
                )
                if took is None:
                    return
                claimed[number] = str(mentor.id)
                await asyncio.sleep(rng.uniform(2.0, 8.0))
                card_now = sb.server.messages.get(card["id"]) or card
                done = await act(
                    phase,
                    "help resolve",
                    lambda: mentor.click(card_now, "Resolve"),
                    f"#{number} resolved",
                )
                if done is not None:
                    resolved.append(number)
            finally:
                free.put_nowait(mentor)

        if askers and on_duty:
            await paced(len(askers), 0.0, one, spread_s=args.help_seconds)
        phase.facts.update(
            teams_with_space=len(rows),
            asks=len(askers),
            acknowledged=len(asked),
            claimed=len(claimed),
            resolved=len(resolved),
        )
    return {"asked": asked, "resolved": resolved}


# -- 8. submissions ---------------------------------------------------------------------------


async def submissions(
    sb: Any,
    db: Any,
    tracker: Tracker,
    fig: dict[str, int],
    deadline: datetime,
    args: Any,
) -> dict:
    from bench.submit import rush
    from sandbox.driver.member import SandboxMember

    rows = [r for r in await team_rows(db) if r[3] is not None][: fig["submissions"]]
    members = [SandboxMember(sb, captain) for _tid, _name, _channel, captain in rows]
    lead = 2.0
    await jump(sb, (deadline - sb.clock.now()).total_seconds() - args.burst_seconds - lead)
    await asyncio.sleep(lead)
    async with tracker.phase("submissions") as phase:
        began = time.monotonic()
        flows = await rush(
            sb,
            members,
            window_s=args.burst_seconds,
            # Nobody starts in the last seconds: a flow takes 2 to 4 s of typing and reading.
            tail_s=min(args.burst_seconds / 2, max(5.0, args.burst_seconds * 0.02)),
            seed=args.seed,
        )
        burst_s = time.monotonic() - began
        caught_up, behind = await catch_up(db, args.catch_up)
        for flow in flows:
            if flow.submitted:
                continue
            if flow.error and "no answer within" in flow.error:
                continue  # a missed deadline, counted as such
            if any(a in flow.text for a in APOLOGIES):
                phase.apologies += 1
            elif flow.error:
                phase.broken += 1
            else:
                phase.unexpected += 1
            phase.sample(f"submit {flow.index}: {flow.error or flow.text[:200]!r}")
        phase.facts.update(
            teams=len(members),
            burst_s=burst_s,
            told_submitted=sum(1 for f in flows if f.submitted),
            clicked_before_deadline=sum(
                1 for f in flows if f.clicked_at is not None and f.clicked_at <= deadline
            ),
            confirm_done_ms=summary_ms([f.done_s for f in flows if f.done_s and f.submitted]),
            caught_up_s=caught_up,
            behind_at_end=behind,
            gallery=gallery_counts(sb),
        )
    return {"flows": flows, "spaces": {i: r[2] for i, r in enumerate(rows) if r[2]}}


async def catch_up(db: Any, max_wait: float, stall_s: float = 120.0) -> tuple[float | None, int]:
    """Seconds until every submission has its gallery post and receipt (None: not within
    ``max_wait``, or no progress for ``stall_s``), and how many were still behind."""
    from bot.services import submissions as service

    began = time.monotonic()
    best, best_at = None, began
    behind = 0
    while time.monotonic() - began < max_wait:
        async with db.read() as session:
            behind = len(await service.behind(session))
        if not behind:
            return time.monotonic() - began, 0
        if best is None or behind < best:
            best, best_at = behind, time.monotonic()
        elif time.monotonic() - best_at > stall_s:
            break  # stuck (no room for more posts, say): the report says how many
        await asyncio.sleep(0.5)
    return None, behind


def gallery_counts(sb: Any) -> dict[str, int]:
    """Posts in the gallery forum: all of them, and those still active."""
    name = sb.settings.submissions.gallery_forum
    if not sb.has_channel(name):
        return {"posts": 0, "active": 0}
    forum_id = str(sb.channel(name).id)
    posts = [t for t in sb.guild.threads() if t.get("parent_id") == forum_id]
    active = {t["id"] for t in sb.guild.active_threads()}
    return {"posts": len(posts), "active": sum(1 for t in posts if t["id"] in active)}


# -- 9. judging -------------------------------------------------------------------------------


async def judging(sb: Any, tracker: Tracker, people: People, deadline: datetime, args: Any) -> dict:
    rng = random.Random(args.seed + 9)
    await jump(sb, max(0.0, (deadline - sb.clock.now()).total_seconds()) + 5.0)
    await asyncio.sleep(1.0)
    saved: list[str] = []
    async with tracker.phase("judging") as phase:

        async def judge(index: int) -> None:
            member = people.judges[index]
            card = await act(
                phase,
                "judge next",
                lambda: member.slash("judge next"),
                re.compile(r"Round \d+: score|Nothing left for you"),
            )
            for _ in range(args.judge_cards):
                if card is None or not _selects(card.message or {}):
                    return
                for position in range(len(_selects(card.message))):
                    select = _selects(card.message)[position]
                    value = rng.choice(select["options"])["value"]
                    card = await act(
                        phase,
                        "judge score",
                        lambda c=card, s=select, v=value: c.select(s["custom_id"], [v]),
                        "Round",
                        after="read",
                    )
                    if card is None:
                        return
                card = await act(
                    phase,
                    "judge save",
                    lambda c=card: c.click("Save scores"),
                    "Scores saved",
                    after="read",
                )
                if card is not None:
                    saved.append(str(member.id))

        await asyncio.gather(*(judge(i) for i in range(len(people.judges))))
        await act(
            phase,
            "judging status",
            lambda: people.organisers[0].slash("admin judging status"),
            "Judging, round",
        )
        phase.facts.update(judges=len(people.judges), scores_saved=len(saved))
    return {"saved": saved}


# -- the end: what the database holds -------------------------------------------------------


async def verify(
    sb: Any, db: Any, people: People, fig: dict[str, int], done: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Per phase: what the bot acknowledged and is not in the database ("lost")."""
    from sqlalchemy import func, select

    from bot.models import Member
    from bot.models.challenges import Challenge
    from bot.models.help import HelpMentor, HelpTicket
    from bot.models.judging import Review
    from bot.models.problems import ProblemStatement
    from bot.models.submissions import Submission
    from bot.models.teams import Profile, Team, TeamMember

    out: dict[str, dict[str, Any]] = {}
    async with db.read() as session:

        async def count(query: Any) -> int:
            return int(await session.scalar(query) or 0)

        registered = set(
            str(d)
            for d in (
                await session.scalars(
                    select(Member.discord_id).join(Profile, Profile.member_id == Member.id)
                )
            ).all()
        )
        real_ack = done["registration"]["acknowledged"]
        out["registration"] = {
            "profiles": len(registered),
            "expected": done["registration"]["bulk"] + len(real_ack),
            "lost": sum(1 for d in real_ack if d not in registered),
        }

        titles = dict(
            (await session.execute(select(ProblemStatement.id, ProblemStatement.title))).all()
        )
        acked = done["statements"]["acknowledged"]
        out["statements"] = {
            "stored": len(titles),
            "expected": fig["statements"],
            "lost": sum(1 for pid, title in acked.items() if titles.get(pid) != title),
            "pending_at_end": await count(
                select(func.count()).where(ProblemStatement.status == "pending")
            ),
        }

        challenge_names = set((await session.scalars(select(Challenge.name))).all())
        statuses = dict(
            (await session.execute(select(ProblemStatement.id, ProblemStatement.status))).all()
        )
        expected_status = {
            "accept": "accepted",
            "reject": "rejected",
            "duplicate": "duplicate",
            "merge": "merged",
        }
        decisions = done["review"]["decisions"]
        # A panel decision whose statement ended with another status: its id, the action
        # the panel acknowledged, the status found.
        mismatched = {
            pid: [action, statuses.get(pid)]
            for pid, action in decisions.items()
            if statuses.get(pid) != expected_status[action]
        }
        out["review"] = {
            "challenges": len(challenge_names),
            "lost": sum(1 for n in done["review"]["challenges"] if n not in challenge_names)
            + len(mismatched),
            "mismatched": mismatched,
            "by_status": dict(Counter(statuses.values())),
        }

        team_names = set(
            (await session.scalars(select(Team.name).where(Team.archived_at.is_(None)))).all()
        )
        teams_total = len(team_names)
        members_in_teams = await count(select(func.count()).select_from(TeamMember))
        with_space = (
            await session.execute(
                select(Team.space_kind, func.count())
                .where(Team.archived_at.is_(None))
                .group_by(Team.space_kind)
            )
        ).all()
        out["teams"] = {
            "teams": teams_total,
            "members_in_teams": members_in_teams,
            "spaces": {str(kind): n for kind, n in with_space},
            "lost": sum(1 for n in done["teams"]["created"] if n not in team_names),
        }

        on_duty = set(
            str(d)
            for d in (
                await session.scalars(
                    select(HelpMentor.discord_id).where(HelpMentor.on_duty.is_(True))
                )
            ).all()
        )
        acked_duty = [str(m.id) for m in done["mentors"]["on_duty"]]
        out["mentors"] = {
            "on_duty": len(on_duty),
            "lost": sum(1 for d in acked_duty if d not in on_duty),
        }

        tickets = dict((await session.execute(select(HelpTicket.id, HelpTicket.status))).all())
        out["help"] = {
            "tickets": len(tickets),
            "lost": sum(1 for n in done["help"]["asked"] if n not in tickets)
            + sum(1 for n in done["help"]["resolved"] if tickets.get(n) != "resolved"),
        }

        by_title = Counter((await session.scalars(select(Submission.title))).all())
        flows = done["submissions"]["flows"]
        from bench.submit import project

        lost_submissions = [
            f.index for f in flows if f.submitted and by_title.get(project(f.index)["title"]) != 1
        ]
        out["submissions"] = {
            "stored": sum(by_title.values()),
            "told_submitted": sum(1 for f in flows if f.submitted),
            "duplicates": sum(1 for n in by_title.values() if n > 1),
            "lost": len(lost_submissions),
        }

        scored = await count(select(func.count()).where(Review.status == "scored"))
        out["judging"] = {
            "scored_reviews": scored,
            "saved_acknowledged": len(done["judging"]["saved"]),
            "lost": max(0, len(done["judging"]["saved"]) - scored),
        }
    return out


async def database_size(sb: Any, url: str) -> float | None:
    """Megabytes the database takes at the end (SQLite file and its WAL; PostgreSQL's own)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = Path(parsed.database or "")
        total = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        return total / 1024 / 1024
    if parsed.drivername.startswith("postgresql"):
        from sqlalchemy import text

        from bot.db import Database

        db = Database(url)
        try:
            async with db.read() as session:
                size = await session.scalar(text("SELECT pg_database_size(current_database())"))
        finally:
            await db.dispose()
        return int(size or 0) / 1024 / 1024
    return None


def discord_counts(sb: Any) -> dict[str, Any]:
    from sandbox.server import state as st

    channels = sb.guild.guild_channels()
    threads = sb.guild.active_threads()
    base = sb.settings.channels.team_category
    categories = [c for c in channels if c["type"] == st.GUILD_CATEGORY]
    return {
        "channels": len(channels),
        "categories": len(categories),
        "team_categories": sum(1 for c in categories if c["name"].startswith(base)),
        "roles": len(sb.guild.roles),
        "active_threads": len(threads),
        "members": len(sb.guild.members),
    }


# -- the benchmark ---------------------------------------------------------------------------


async def run(args: argparse.Namespace, report: Report) -> None:
    from bot.clock import utcnow
    from bot.db import Database

    fig = resolve_figures(args)
    load_start = os.getloadavg()
    total = fig["participants"] + fig["mentors"] + fig["judges"] + args.organisers
    deadline = (utcnow() + timedelta(hours=8)).replace(microsecond=0)
    began = time.monotonic()
    print(f"[event] figures: {fig}", flush=True)
    async with bench_sandbox(
        args, members=total, config=event_config(deadline, args.max_size, args.headroom)
    ) as (
        sb,
        startup,
    ):
        sb.settle_after_interaction = False
        sb.deferred_max_s = 900.0
        tracker = Tracker(sb)
        url = sb.settings.database.url
        db = Database(url)
        done: dict[str, Any] = {}
        try:
            people = split_people(sb, fig, args)
            async with tracker.phase("setup") as phase:
                await grant_role_gently(sb, people.organisers, sb.settings.roles.organiser)
                await grant_role_gently(sb, people.mentors, sb.settings.roles.mentor)
                await grant_role_gently(sb, people.judges, sb.settings.roles.judge)
                phase.facts.update(
                    members=len(sb.guild.members),
                    ready_s=startup.ready_s,
                    identify_s=startup.identify_s,
                    chunk_request_s=startup.chunk_request_s,
                )
            done["registration"] = await registration(sb, db, tracker, people, args)
            done["statements"] = await statements(sb, db, tracker, people, fig, args)
            done["review"] = await review(sb, db, tracker, people, fig, args)
            done["teams"] = await teams(sb, db, tracker, people, fig, args)
            after_teams = discord_counts(sb)
            done["mentors"] = await mentors(sb, tracker, people, fig)
            done["help"] = await help_desk(sb, db, tracker, fig, done["mentors"]["on_duty"], args)
            done["submissions"] = await submissions(sb, db, tracker, fig, deadline, args)
            done["judging"] = await judging(sb, tracker, people, deadline, args)
            checks = await verify(sb, db, people, fig, done)
            at_end = discord_counts(sb)
        finally:
            await db.dispose()
        size_mb = await database_size(sb, url)
        memory = sb.bot_memory()
        errors = bot_errors(sb)
        no_room = [line for line in errors if "no room for" in line]
    load_end = os.getloadavg()
    _report(
        report,
        args,
        fig=fig,
        tracker=tracker,
        checks=checks,
        after_teams=after_teams,
        at_end=at_end,
        size_mb=size_mb,
        memory=memory,
        errors=errors,
        no_room=no_room,
        load=(load_start, load_end),
        wall_s=time.monotonic() - began,
        done=done,
    )


def _cell_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _report(report: Report, args: argparse.Namespace, **r: Any) -> None:
    fig: dict[str, int] = r["fig"]
    tracker: Tracker = r["tracker"]
    checks: dict[str, dict[str, Any]] = r["checks"]
    for phase in tracker.phases:
        if phase.name in checks:
            phase.lost = checks[phase.name]["lost"]
            phase.lost_detail = checks[phase.name]
    table = report.table(
        f"the event, phase by phase ({'PostgreSQL' if args.database else 'SQLite'}, "
        f"{args.latency_ms:g} ms API latency, scale {args.scale:g})",
        [
            "phase",
            "wall s",
            "interactions",
            "errors",
            "missed 3 s",
            "429s",
            "limit refusals",
            "other refusals",
            "lost writes",
            "RSS MB",
            "peak RSS MB",
        ],
    )
    for p in tracker.phases:
        table.add(
            p.name,
            p.wall_s,
            p.interactions,
            p.errors,
            p.missed,
            p.rate_limited,
            len(p.limit_refusals),
            len(p.other_refusals),
            p.lost,
            p.rss_mb,
            p.peak_rss_mb,
        )
    latency = report.table(
        "first answers (dispatch → the bot's first response reaching the sandbox), ms",
        ["phase", "answered", "p50", "p90", "p99", "max", "bot CPU s"],
    )
    for p in tracker.phases:
        s = p.answered_ms
        if s.get("count"):
            latency.add(p.name, s["count"], s["p50"], s["p90"], s["p99"], s["max"], p.bot_cpu_s)
    by_name = {p.name: p for p in tracker.phases}
    teams_facts = by_name["teams"].facts
    plan = teams_facts.get("autoform_plan") or {}
    spaces = checks["teams"]["spaces"]
    asked = report.table("asked and done", ["figure", "asked", "done"])
    asked.add(
        "participants registered (of them through /register)",
        f"{fig['participants']} ({by_name['registration'].facts.get('real')})",
        f"{checks['registration']['profiles']} ({len(r['done']['registration']['acknowledged'])})",
    )
    asked.add(
        "problem statements (real /problem submit)",
        f"{fig['statements']} ({fig['statements_real']})",
        f"{checks['statements']['stored']} ({by_name['statements'].facts.get('acknowledged')})",
    )
    asked.add("challenges", fig["challenges"], checks["review"]["challenges"])
    asked.add(
        "review decisions on the panel / by the service",
        f"{fig['review_real']} / rest",
        f"{by_name['review'].facts.get('panel_decisions')} / "
        f"{by_name['review'].facts.get('service_decisions')}",
    )
    asked.add(
        "review clicks answered 'already decided' / 'original not kept' (races)",
        "-",
        f"{by_name['review'].facts.get('panel_already_decided', 0)} / "
        f"{by_name['review'].facts.get('panel_duplicate_of_rejected', 0)}",
    )
    asked.add(
        "teams (/team create + autoform new)",
        f"{fig['teams']} ({fig['team_create']} + {plan.get('new_teams', '?')})",
        checks["teams"]["teams"],
    )
    asked.add("people in teams", "-", checks["teams"]["members_in_teams"])
    asked.add(
        "team spaces (channels / threads / none)",
        checks["teams"]["teams"],
        f"{spaces.get('channel', 0)} / {spaces.get('thread', 0)} / {spaces.get('None', 0)}",
    )
    asked.add(
        "autoform space job finished (s)",
        "yes" if teams_facts.get("spaces_job_finished") else "NO",
        teams_facts.get("spaces_job_s"),
    )
    asked.add("mentors on duty", fig["on_duty"], by_name["mentors"].facts.get("on_duty"))
    h = by_name["help"].facts
    asked.add(
        "help asks / claimed / resolved",
        fig["help_asks"],
        f"{h.get('acknowledged')} / {h.get('claimed')} / {h.get('resolved')}",
    )
    s = by_name["submissions"].facts
    asked.add(
        f"submissions in {args.burst_seconds:g} s (told 'submitted' / stored, once each)",
        s.get("teams"),
        f"{checks['submissions']['told_submitted']} / {checks['submissions']['stored']}"
        f" ({checks['submissions']['duplicates']} twice)",
    )
    gallery = s.get("gallery") or {}
    asked.add(
        "gallery posts (active at the end)",
        s.get("told_submitted"),
        f"{gallery.get('posts')} ({gallery.get('active')})",
    )
    asked.add(
        "gallery and receipts caught up after (s) / still behind",
        "-",
        f"{_cell_s(s.get('caught_up_s'))} / {s.get('behind_at_end')}",
    )
    asked.add(
        "scores saved (judges × cards)",
        fig["judges"] * args.judge_cards,
        checks["judging"]["scored_reviews"],
    )
    at_end = r["at_end"]
    asked.add(
        "channels / active threads / roles at the end (Discord: 500 / 1,000 / 250)",
        "-",
        f"{at_end['channels']} / {at_end['active_threads']} / {at_end['roles']}",
    )
    asked.add("database size at the end (MB)", "-", r["size_mb"])
    asked.add("bot peak RSS (MB; target < 300)", "-", mb(r["memory"].get("VmHWM")))

    load_start, load_end = r["load"]
    total_errors = sum(p.errors for p in tracker.phases)
    total_missed = sum(p.missed for p in tracker.phases)
    total_lost = sum(p.lost or 0 for p in tracker.phases)
    limit = [v for p in tracker.phases for v in p.limit_refusals]
    peak = mb(r["memory"].get("VmHWM")) or 0
    report.note(
        f"targets: zero errors {'met' if not total_errors else 'NOT met'} ({total_errors}); "
        f"zero lost writes {'met' if not total_lost else 'NOT met'} ({total_lost}); "
        f"peak RSS < 300 MB {'met' if peak < 300 else 'NOT met'} ({peak:.0f} MB); "
        f"no Discord limit error {'met' if not limit and not r['no_room'] else 'NOT met'} "
        f"({len(limit)} refusals, {len(r['no_room'])} 'no room' lines in the bot's log); "
        f"missed 3-second deadlines: {total_missed}"
    )
    report.note(
        f"whole run {r['wall_s'] / 60:.1f} min; load average "
        f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end "
        f"(machine shared with other work; {os.cpu_count()} cores)"
    )
    report.note(
        f"through the database instead of Discord: {by_name['registration'].facts.get('bulk')} "
        f"registrations (Discord gives about one role per second), "
        f"{by_name['statements'].facts.get('bulk')} statements, "
        f"{by_name['review'].facts.get('service_decisions')} review decisions, the candidates' "
        "challenge wishes; everything else through real interactions"
    )
    for p in tracker.phases:
        if p.missed_by:
            missed = ", ".join(f"{name} {n}" for name, n in sorted(p.missed_by.items()))
            report.note(f"{p.name}: 3-second deadlines missed by {missed}")
        for sample in p.samples[:5]:
            report.note(f"{p.name} error: {sample}")
        for refusal in p.limit_refusals[:5]:
            report.note(f"{p.name} LIMIT refusal: {refusal}")
        for refusal in p.other_refusals[:3]:
            report.note(f"{p.name} refusal: {refusal}")
        for line in p.bot_error_samples[:3]:
            report.note(f"{p.name} bot log: {line}")
    setup = by_name["setup"].facts
    report.note(
        f"setup: the bot was ready {_cell_s(setup.get('ready_s'))} s after its process started, "
        f"with {setup.get('members')} members to chunk"
    )
    if r["no_room"]:
        kinds = Counter(
            "team space" if "its space" in line else "gallery post" for line in r["no_room"]
        )
        report.note(
            "no room left (the bot logged it instead of hitting Discord's limit): "
            + ", ".join(f"{n} × {kind}" for kind, n in kinds.items())
            + f"; first: {r['no_room'][0][:300]}"
        )
    report.data.update(
        figures=fig,
        phases=[p.as_dict() for p in tracker.phases],
        checks=checks,
        discord_after_teams=r["after_teams"],
        discord_at_end=at_end,
        database_mb=r["size_mb"],
        bot_peak_rss_mb=peak,
        bot_error_lines=len(r["errors"]),
        no_room_lines=len(r["no_room"]),
        load_average={"start": list(load_start), "end": list(load_end)},
        wall_s=r["wall_s"],
        targets={
            "errors": total_errors,
            "lost_writes": total_lost,
            "peak_rss_mb": peak,
            "limit_refusals": len(limit),
            "missed_deadlines": total_missed,
        },
    )
