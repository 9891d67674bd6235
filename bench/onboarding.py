"""``onboarding``: how long until N people hold the participant role when (a) the bot grants
it through ``/register`` (its outbox, at Discord's pace of about 10 member-role changes per
10 s per server), against (b) Discord's own member onboarding gives it (each person answers
the server's onboarding question "I take part", whose answer carries the role, and Discord
applies it itself); and what the bot asks of Discord in each case.

``--way register``: the default configuration. Each person sends ``/register``, fills the
real form and sends it; the bot answers at once and grants the role later, through its
outbox. ``--way onboarding``: ``[registration] onboarding = true`` and the bot invited with
Manage Server: at set-up the bot adds its question to the server's onboarding; an organiser
then enables onboarding (7 default channels, 5 open to everyone's messages, Discord's
minimum). Each person answers the question as they arrive (the sandbox gives the role and
sends GUILD_MEMBER_UPDATE as Discord does: no request of the bot, none of its limits), then
registers with the same ``/register`` form (they still need a profile: every command checks
the database). ``--way both`` runs one then the other, each on a fresh sandbox and database.

**Time is compressed** by ``--compress`` C, as in ``bench register``: arrivals come C times
faster, the sandbox's member-role bucket is C times faster (10 per 10/C s) and so is the
added latency of the role requests; everything else keeps the full ``--latency-ms``. C must
stay under about 40: the bot allows itself 45 requests/s in all (Discord's global 50/s, not
compressed), above which the compressed role pace could not be reached. A run stops
``--max-run`` measured seconds after the last arrival; if roles are still missing then
(28,000 grants at 40 a measured second take 700 s), the time to the last role is projected
from the pace of the run's last 60 s and marked as projected.

Reported per way: people holding the role at the end, the time from the first arrival to
the last role (measured, and real = measured x C), each person's wait from their arrival
to the role (p50, p90, max), the floor Discord's bucket sets, /register answers and how
many announced a wait for the role, and every request the bot made during the run by
route (role grants and 429s included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, cpu_seconds, percentile
from bench.register import UPDATED, WELCOME, _clock, _texts, form_values, ideal_floor

DESCRIPTION = (
    "participant role for N people: granted by the bot (/register) vs Discord's onboarding"
)

WAYS = ("register", "onboarding")
APPLICATION_COMMAND = 2
MODAL_SUBMIT = 5
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5

ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
ROLE_ROUTES = (f"PUT {ROLE_ROUTE}", f"DELETE {ROLE_ROUTE}")
#: How requests are grouped in the report.
KINDS = (
    ("role grants (PUT member role)", lambda m, r: (m, r) == ("PUT", ROLE_ROUTE)),
    ("interaction callbacks", lambda m, r: r.startswith("/interactions/")),
    ("interaction follow-ups and edits", lambda m, r: r.startswith("/webhooks/")),
    ("onboarding (GET/PUT)", lambda m, r: r.endswith("/onboarding")),
    ("member reads", lambda m, r: (m, r) == ("GET", "/guilds/{guild_id}/members/{user_id}")),
    ("other", lambda m, r: True),
)

DEFAULT_PEOPLE = 2000
DEFAULT_PERIOD_S = 600.0
DEFAULT_COMPRESS = 20.0
DEFAULT_MAX_RUN_S = 300.0
BOT_GLOBAL_CAP = 45.0
#: Real seconds a person takes to fill the form (or, with onboarding, between answering the
#: question and sending /register); compressed, never under MIN_THINK_S (discord.py drops a
#: submit that arrives before it has read Discord's answer to the form).
THINK_REAL_S = (20.0, 60.0)
MIN_THINK_S = 0.5

ROLE_COMING = (
    "Your access to the participant channels arrives",
    "Votre accès aux salons des participants arrive",
)
#: What an organiser sets as default channels before enabling onboarding.
DEFAULT_CHANNELS = ("lobby", "introductions", "questions", "random", "showcase", "rules")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--way", choices=[*WAYS, "both"], default="both")
    parser.add_argument(
        "--people", type=int, default=DEFAULT_PEOPLE, help=f"default {DEFAULT_PEOPLE}"
    )
    parser.add_argument(
        "--period",
        type=float,
        default=DEFAULT_PERIOD_S,
        help=f"real seconds over which they arrive, evenly (default {DEFAULT_PERIOD_S:g})",
    )
    parser.add_argument(
        "--compress",
        type=float,
        default=DEFAULT_COMPRESS,
        help="time compression: arrivals, the member-role bucket and its latency C times "
        f"faster (default {DEFAULT_COMPRESS:g}; at most 40)",
    )
    parser.add_argument(
        "--max-run",
        type=float,
        default=DEFAULT_MAX_RUN_S,
        help="measured seconds a way may go on after the last arrival; roles still missing "
        f"then are projected (default {DEFAULT_MAX_RUN_S:g})",
    )
    parser.add_argument(
        "--stop-after",
        type=float,
        help="measured seconds after the first arrival at which arrivals stop (the people due "
        "later never come) and the run ends; the last role is then projected (for runs that "
        "cannot finish in minutes: 28,000 grants take 700 s measured at the fastest)",
    )
    parser.add_argument("--french-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)


# -- one person ------------------------------------------------------------------------------


@dataclass
class Person:
    index: int
    member: Any
    lang: str
    offset_s: float  # arrival, measured seconds after the start
    think_s: float
    arrived_at: float | None = None  # monotonic
    onboarded_at: float | None = None
    submitted_at: float | None = None
    outcome: str = "not started"  # registered / already registered / lost / error
    text: str = ""
    error: str | None = None

    @property
    def user_id(self) -> str:
        return str(self.member.id)

    @property
    def announced_wait(self) -> bool:
        return any(line in self.text for line in ROLE_COMING)


@dataclass
class Run:
    sb: Any
    way: str
    view: Any
    command: dict[str, Any]
    role_id: str
    option_id: str | None
    people: int = 0
    began: float = 0.0
    role_at: dict[str, float] = field(default_factory=dict)  # user id -> first holds the role
    everyone: asyncio.Event = field(default_factory=asyncio.Event)  # all ``people`` hold it


async def _answered(sb: Any, record: Any) -> bool:
    deadline_s = sb.server.interactions.deadline_s
    await record.wait_until(
        lambda: record.response_type is not None or record.missed_deadline, deadline_s + 1.0
    )
    return record.response_type is not None and not record.missed_deadline


async def register(run: Run, person: Person) -> None:
    """The real /register form: open it, fill it (a pause), send it, read the answer."""
    from sandbox.driver import components as comp

    sb = run.sb
    opened = sb.fire(person.member, run.view, APPLICATION_COMMAND, run.command)
    if not await _answered(sb, opened) or opened.modal is None:
        person.outcome, person.error = "lost", "the form did not open within 3 s"
        return
    await asyncio.sleep(person.think_s)
    filled = {
        "custom_id": opened.modal["custom_id"],
        "components": comp.fill_modal(opened.modal, form_values(person, opened.modal)),
    }
    sent = sb.fire(person.member, run.view, MODAL_SUBMIT, filled)
    person.submitted_at = sent.created_mono
    if not await _answered(sb, sent):
        person.outcome, person.error = "lost", "the form's submit was not answered within 3 s"
        return
    if sent.response_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE and not await sent.wait_until(
        lambda: sent.completed or bool(sent.followup_ids), 60.0
    ):
        person.outcome, person.error = "lost", "deferred, then nothing within 60 s"
        return
    person.text = next((text for text in _texts(sb, sent) if text), "")
    if person.text.startswith(WELCOME):
        person.outcome = "registered"
    elif person.text.startswith(UPDATED):
        person.outcome = "already registered"
    else:
        person.outcome, person.error = "error", "unexpected answer: " + person.text[:120]


async def arrive(run: Run, person: Person) -> Person:
    """One person: (with onboarding) answer the question, then /register. Never raises."""
    sb = run.sb
    try:
        await asyncio.sleep(max(0.0, run.began + person.offset_s - time.monotonic()))
        person.arrived_at = time.monotonic()
        if run.way == "onboarding":
            # Joining: Discord asks its questions before the member sees the server.
            assert run.option_id is not None
            sb.server.complete_onboarding(sb.guild, person.user_id, [run.option_id])
            person.onboarded_at = time.monotonic()
            await asyncio.sleep(person.think_s)
        await register(run, person)
    except Exception as error:  # a broken flow is a result, not the end of the run
        person.outcome, person.error = "error", f"{type(error).__name__}: {error}"
    return person


# -- the sandbox's side ------------------------------------------------------------------------


def watch_role(run: Run) -> None:
    """Record when each member first holds the role, however it came (every role change of
    the sandbox, the bot's PUTs and onboarding alike, goes through ``member_update``)."""
    server = run.sb.server
    original = server.member_update

    def member_update(guild: Any, member: dict) -> None:
        if run.role_id in member["roles"]:
            run.role_at.setdefault(member["user"]["id"], time.monotonic())
            if len(run.role_at) >= run.people:
                run.everyone.set()
        original(guild, member)

    server.member_update = member_update


def compress_role_bucket(sb: Any, compress: float, latency_ms: float) -> tuple[int, float]:
    """Discord's member-role bucket (10 per 10 s) and its latency, C times faster."""
    limit, per = sb.rate_limiter.bucket_for("PUT", ROLE_ROUTE)[1]
    for route in ROLE_ROUTES:
        sb.rate_limiter.buckets[route] = (limit, per / compress)
    faults = sb.server.faults
    original = faults.delay

    def delay(rng: Any = None, route: str | None = None) -> float:
        if route in ROLE_ROUTES:
            return latency_ms / compress / 1000.0
        return original(rng, route=route)

    faults.delay = delay
    return limit, per


async def enable_onboarding(sb: Any) -> str:
    """The organiser's part: 7 default channels (Discord's minimum, 5 open to everyone's
    messages), onboarding enabled; returns the id of the bot's "I take part" answer."""
    names = ["general"]
    for name in DEFAULT_CHANNELS:
        await sb.create_channel(name)
        names.append(name)
    onboarding = await sb.set_onboarding(default_channel_ids=names, enabled=True)
    role_id = sb.role(sb.settings.roles.participant)["id"]
    for prompt in onboarding["prompts"]:
        for option in prompt["options"]:
            if role_id in option["role_ids"]:
                return str(option["id"])
    raise RuntimeError("the bot did not add its onboarding question (see its log)")


def classify(requests: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """Requests by kind: {kind: {"requests": n, "429": m}}."""
    out: dict[str, dict[str, int]] = {}
    for method, route, status in requests:
        kind = next(name for name, test in KINDS if test(method, route))
        entry = out.setdefault(kind, {"requests": 0, "429": 0})
        entry["requests"] += 1
        entry["429"] += status == 429
    return out


# -- one way -----------------------------------------------------------------------------------


async def run_way(args: argparse.Namespace, way: str) -> dict[str, Any]:
    from bot.permissions import required_permissions
    from sandbox.driver.member import SandboxMember

    people, compress = args.people, args.compress
    span_s = args.period / compress
    config = {"registration": {"onboarding": way == "onboarding"}}
    permissions = required_permissions(onboarding=way == "onboarding").value
    async with bench_sandbox(args, members=people, config=config, bot_permissions=permissions) as (
        sb,
        startup,
    ):
        setup_began = time.monotonic()
        members = sorted(
            (
                SandboxMember(sb, user_id)
                for user_id, m in sb.guild.members.items()
                if m["user"]["username"].startswith("member")
            ),
            key=lambda m: int(m.name.removeprefix("member")),
        )[:people]
        rng = random.Random(args.seed)
        langs = ["fr" if rng.random() < args.french_share else "en" for _ in members]
        for member, lang in zip(members, langs, strict=True):
            member.locale = "fr" if lang == "fr" else "en-US"
        limit, per = (10, 10.0)
        if sb.rate_limiter is not None:
            limit, per = compress_role_bucket(sb, compress, args.latency_ms)
        per_c = per / compress
        option_id = await enable_onboarding(sb) if way == "onboarding" else None
        role_id = str(sb.role(sb.settings.roles.participant)["id"])
        view, command = members[0].slash_data("register")
        run = Run(sb, way, view, command, role_id, option_id, people)
        watch_role(run)
        low, high = THINK_REAL_S
        persons = [
            Person(
                i,
                member,
                lang,
                span_s * i / people,
                max(MIN_THINK_S, rng.uniform(low, high) / compress),
            )
            for i, (member, lang) in enumerate(zip(members, langs, strict=True))
        ]
        if args.stop_after is not None:
            persons = [p for p in persons if p.offset_s < args.stop_after]
        await sb.settle()
        sb.take_violations()
        setup_s = time.monotonic() - setup_began
        first_request = len(sb.server.requests)
        gc.collect()
        gc.freeze()
        bot_cpu = cpu_seconds(sb.bot_pid)
        sandbox_cpu = cpu_seconds()
        try:
            run.began = time.monotonic()
            done = await asyncio.gather(*(arrive(run, p) for p in persons))
            arrivals_done_s = time.monotonic() - run.began
            wanted = {p.user_id for p in done}
            if args.stop_after is not None:
                wait = max(0.0, run.began + args.stop_after - time.monotonic())
            else:
                wait = args.max_run
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.everyone.wait(), wait)
            with contextlib.suppress(TimeoutError):
                await sb.settle()
            ended_s = time.monotonic() - run.began
            bot_cpu = cpu_seconds(sb.bot_pid) - bot_cpu
            sandbox_cpu = cpu_seconds() - sandbox_cpu
        finally:
            gc.unfreeze()
        requests = sb.server.requests[first_request:]
        memory = sb.bot_memory()
        return {
            "way": way,
            "people": people,
            "span_s": span_s,
            "limit": limit,
            "per": per,
            "per_c": per_c,
            "persons": done,
            "arrived": len(done),
            "role_at": {u: at - run.began for u, at in run.role_at.items() if u in wanted},
            "arrivals_done_s": arrivals_done_s,
            "ended_s": ended_s,
            "requests": requests,
            "by_kind": classify(requests),
            "by_route": Counter(f"{m} {r}" for m, r, _ in requests),
            "rate_limited": Counter(f"{m} {r}" for m, r, s in requests if s == 429),
            "setup_s": setup_s,
            "startup_s": startup.ready_s,
            "bot_cpu": bot_cpu,
            "sandbox_cpu": sandbox_cpu,
            "bot_peak_rss_mb": (memory.get("VmHWM") or 0) / 1024,
            "violations": [str(v) for v in sb.take_violations()],
            "errors": bot_errors(sb),
            "began": run.began,
        }


def summarise(r: dict[str, Any], compress: float) -> dict[str, Any]:
    """The figures of one way, in measured seconds unless named real."""
    persons: list[Person] = r["persons"]
    people = r["people"]
    role_at: dict[str, float] = r["role_at"]
    began = r["began"]
    holders = len(role_at)
    last = max(role_at.values()) if holders else None
    waits = [
        role_at[p.user_id] - (p.arrived_at - began)
        for p in persons
        if p.user_id in role_at and p.arrived_at is not None
    ]
    projected = None
    first_role = min(role_at.values()) if holders else r["ended_s"]
    window = min(60.0, r["ended_s"] - first_role)
    recent = [at for at in role_at.values() if at >= r["ended_s"] - window]
    pace = len(recent) / window if window > 0 else None
    if holders < people and last is not None:
        # The pace of the run's last 60 s, carried on to the last person (people not yet
        # arrived included: they arrive faster than roles are granted).
        projected = r["ended_s"] + (people - holders) / pace if pace else math.inf
    ready = [p.submitted_at - began for p in persons if p.submitted_at is not None]
    floor_s = max(people * r["per_c"] / r["limit"], ideal_floor(ready, r["limit"], r["per_c"]))
    kinds = r["by_kind"]
    grants = kinds.get("role grants (PUT member role)", {"requests": 0, "429": 0})
    return {
        "way": r["way"],
        "people": people,
        "limit": r["limit"],
        "per": r["per"],
        "arrived": r["arrived"],
        "holders": holders,
        "last_role_s": last,
        "last_role_projected_s": projected,
        "recent_pace": pace,
        "last_role_real_s": (projected if projected is not None else last or 0.0) * compress,
        "wait_p50_s": percentile(waits, 50),
        "wait_p90_s": percentile(waits, 90),
        "wait_max_s": max(waits) if waits else None,
        "floor_s": floor_s if r["way"] == "register" else None,
        "registered": sum(1 for p in persons if p.outcome in ("registered", "already registered")),
        "lost": sum(1 for p in persons if p.outcome == "lost"),
        "errors": sum(1 for p in persons if p.outcome == "error"),
        "announced_wait": sum(1 for p in persons if p.announced_wait),
        "role_puts": grants["requests"],
        "role_429s": grants["429"],
        "requests": len(r["requests"]),
        "arrivals_done_s": r["arrivals_done_s"],
        "ended_s": r["ended_s"],
        "bot_cpu_s": r["bot_cpu"],
        "sandbox_cpu_s": r["sandbox_cpu"],
        "bot_peak_rss_mb": r["bot_peak_rss_mb"],
        "setup_s": r["setup_s"],
        "startup_s": r["startup_s"],
        "by_kind": kinds,
        "rate_limited": dict(r["rate_limited"]),
        "violations": r["violations"][:10],
        "bot_error_lines": len(r["errors"]),
        "flow_errors": dict(Counter((p.error or "").split(":")[0] for p in persons if p.error)),
    }


# -- the benchmark ----------------------------------------------------------------------------


async def run(args: argparse.Namespace, report: Report) -> None:
    if args.people < 1 or args.period <= 0 or args.compress <= 0:
        raise SystemExit("--people, --period and --compress must be positive")
    if args.compress > 40 and not args.no_rate_limits:
        raise SystemExit(
            "--compress above 40 makes the member-role pace faster than the bot's own cap of "
            "45 requests/s: the comparison would measure that cap, not Discord's bucket"
        )
    ways = WAYS if args.way == "both" else (args.way,)
    results = [summarise(await run_way(args, way), args.compress) for way in ways]
    _report(report, args, results)


def _both(seconds: float | None, compress: float) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s = {_clock(seconds * compress)}"


def _report(report: Report, args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    c = args.compress
    people = args.people
    first = results[0]
    setting = report.table(
        f"TIME IS COMPRESSED x{c:g}: {people} people arriving evenly over {_clock(args.period)} "
        f"(real) = {args.period / c:.1f} s measured",
        ["figure", "real", "measured"],
    )
    setting.add(
        "arrivals per second", f"{people / args.period:.2f}", f"{people * c / args.period:.1f}"
    )
    limit, per = first["limit"], first["per"]
    setting.add(
        "member-role bucket (per server)",
        f"{limit} per {per:g} s",
        f"{limit} per {per / c:.3g} s",
    )
    setting.add(
        "floor for the bot's grants (people / pace)",
        _clock(people * per / limit),
        f"{people * per / limit / c:.1f} s",
    )

    table = report.table(
        "time until everyone holds the participant role (from the first arrival; "
        "'real' = measured x C)",
        ["figure", *[r["way"] for r in results]],
    )

    def row(label: str, fn: Any) -> None:
        table.add(label, *[fn(r) for r in results])

    row("people who arrived during the run", lambda r: f"{r['arrived']} of {r['people']}")
    row("people holding the role at the end", lambda r: f"{r['holders']} of {r['people']}")
    row(
        "LAST role after (real)",
        lambda r: (
            _clock(r["last_role_real_s"])
            + (" (projected)" if r["last_role_projected_s"] is not None else "")
        ),
    )
    row(
        "last role after (measured)",
        lambda r: (
            f"{r['last_role_projected_s']:.1f} s projected"
            if r["last_role_projected_s"] is not None
            else (f"{r['last_role_s']:.1f} s" if r["last_role_s"] is not None else "-")
        ),
    )
    row(
        "floor Discord's bucket sets (real)",
        lambda r: _clock(r["floor_s"] * c) if r["floor_s"] else "-",
    )
    row(
        "roles granted per measured s, last 60 s of the run",
        lambda r: f"{r['recent_pace']:.1f}" if r["recent_pace"] is not None else "-",
    )
    row("wait arrival -> role, p50 (real)", lambda r: _clock((r["wait_p50_s"] or 0) * c))
    row("wait arrival -> role, p90 (real)", lambda r: _clock((r["wait_p90_s"] or 0) * c))
    row("wait arrival -> role, max (real)", lambda r: _clock((r["wait_max_s"] or 0) * c))
    row("/register answered 'registered'", lambda r: f"{r['registered']} of {r['people']}")
    row("answers announcing a wait for the role", lambda r: r["announced_wait"])
    row("answers lost / errors", lambda r: f"{r['lost']} / {r['errors']}")
    row("role grants the bot sent (PUT member role)", lambda r: r["role_puts"])
    row("429s on role grants", lambda r: r["role_429s"])
    row("all requests of the bot during the run", lambda r: r["requests"])
    row(
        "bot CPU s / sandbox + load CPU s",
        lambda r: f"{r['bot_cpu_s']:.1f} / {r['sandbox_cpu_s']:.1f}",
    )
    row("bot peak RSS (MB)", lambda r: f"{r['bot_peak_rss_mb']:.0f}")
    row(
        "wall time: arrivals done / run ended (measured s)",
        lambda r: f"{r['arrivals_done_s']:.1f} / {r['ended_s']:.1f}",
    )

    kinds = report.table(
        "requests of the bot during the run, by kind (429s in brackets)",
        ["kind", *[r["way"] for r in results]],
    )
    for name, _test in KINDS:
        kinds.add(
            name,
            *[
                f"{r['by_kind'].get(name, {}).get('requests', 0)} "
                f"({r['by_kind'].get(name, {}).get('429', 0)})"
                for r in results
            ],
        )
    report.data.update(
        people=people,
        period_s=args.period,
        compress=c,
        max_run_s=args.max_run,
        ways={r["way"]: r for r in results},
    )
    report.note(
        f"time is compressed x{c:g}: arrivals, the member-role bucket and the role requests' "
        f"latency run {c:g} times faster ('real' = measured x {c:g}); the bot's CPU work is "
        "not compressed, so its answers are slower than they would be"
    )
    for r in results:
        if r["last_role_projected_s"] is not None:
            stopped = (
                f"{args.stop_after:g} s after the first arrival, {r['arrived']} of "
                f"{r['people']} people arrived"
                if args.stop_after is not None
                else f"{args.max_run:g} s after the last arrival"
            )
            report.note(
                f"{r['way']}: {r['people'] - r['holders']} roles still missing when the run "
                f"stopped ({stopped}); the last role is projected from the pace of the run's "
                "last 60 s; the waits are those of the people who arrived"
            )
        report.note(
            f"{r['way']}: set-up {r['setup_s']:.1f} s, bot ready {r['startup_s'] or 0:.1f} s "
            f"after its start; {r['bot_error_lines']} ERROR lines; sandbox refusals "
            f"{len(r['violations'])}; flow errors {r['flow_errors'] or 'none'}"
        )
    report.note(
        f"OpenAPI validation {'on' if args.validate else 'off'}; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}"
    )
