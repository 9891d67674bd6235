"""``register``: a registration rush through the real ``/register`` form; does everyone get
an answer at once, and their participant role as fast as Discord allows?

Each person goes through the real flow, as a member would: ``/register`` (the form opens),
a pause while they fill it, the form sent. The bot answers at once ("Welcome ... You are
registered.", with when their access arrives) and grants the participant role later,
through its outbox, at the pace Discord allows: 10 role changes per 10 s per server (the
sandbox's ``PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}`` bucket), one a
second. A rush of registrations therefore waits for its roles much longer than it took to
arrive, and this benchmark checks that the bot goes at that pace, tells people the truth
about the wait, and loses or repeats nothing.

Arrival patterns: ``--pattern steady``, N people (default 28,000) arriving evenly over a
period (default 2 hours); ``--pattern burst``, 5,000 in 10 minutes, at moments drawn at
random in the window (so they clump).

**Time is compressed** by ``--compress`` C: the arrivals come C times faster and the
sandbox's member-role bucket is C times faster too (10 per 10/C s), so the ratio of the
arrival rate to Discord's pace is the real one. The added API latency of the role
requests is divided by C as well (that bucket's round trip keeps its real proportion to
its window); every other answer keeps the full ``--latency-ms``. What compression does
not scale: the bot's CPU work per registration (C times more registrations per second
than in reality: the response times are pessimistic), and Discord's global limit of 50
requests/s with the bot's own cap of 45/s (a compressed role pace above about 40/s cannot
be reached, whatever the bot does). Every time is printed both as measured (compressed)
and as its real equivalent (× C).

``--kill-at F``: SIGKILL the bot process when a fraction F of the roles has been granted,
start it again, and check that every registrant gets the role exactly once (role PUTs per
user counted at the sandbox; a PUT for someone who already has it is a duplicate) and
nobody gets two welcome answers. People whose form was cut by the crash send it again
once the bot is back, as a person would.

Reported: the time to the first response of the form's submit (the bot's deferral) and to
the "registered" answer in place, p50/p90/p99/max; answers lost (never answered, or
deferred and never filled in); 3-second windows missed; the time until the last role is
granted against the floor Discord's limit sets (registrants ÷ (limit / window)); the ETA
the bot announced against when roles really arrived (the last registrant and a sample);
the bot process's CPU and peak RSS; 429s and invalid requests seen by the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, cpu_seconds, mb, summary_ms

DESCRIPTION = "a registration rush through /register, roles at Discord's pace (time compressed)"

APPLICATION_COMMAND = 2
MODAL_SUBMIT = 5
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5

ROLE_ROUTE = "PUT /guilds/{guild_id}/members/{user_id}/roles/{role_id}"
ROLE_ROUTES = (ROLE_ROUTE, "DELETE /guilds/{guild_id}/members/{user_id}/roles/{role_id}")
ANSWER_ROUTES = (
    "POST /webhooks/{webhook_id}/{webhook_token}",
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
)

#: pattern -> (people, real seconds over which they arrive)
PATTERNS = {"steady": (28_000, 7200.0), "burst": (5_000, 600.0)}
DEFAULT_COMPRESS = 40.0
#: How long a person takes to fill the form, in real seconds (compressed like the rest, but
#: never under MIN_THINK_S: discord.py registers the form only once Discord has taken its
#: answer, and a submit faster than that would be dropped; no person is that quick).
THINK_REAL_S = (20.0, 60.0)
MIN_THINK_S = 0.5
#: The bot's own cap on its requests per second (bot/outbox.py GLOBAL_RATE), not compressed.
BOT_GLOBAL_CAP = 45.0

#: The form's labels and the choices made, by the member's language.
LABELS = {
    "en": ("Name shown to others", "What you do", "Languages you speak", "Your time zone"),
    "fr": ("Nom affiché", "Ce que vous faites", "Langues parlées", "Votre fuseau horaire"),
}
CHOICES = {"en": ("Developer", "English"), "fr": ("Développement", "Anglais")}
WELCOME = ("Welcome to ", "Bienvenue à ")
UPDATED = ("Your profile is up to date.", "Votre profil est à jour.")
ETA_LINE = re.compile(
    r"(?:Your access to the participant channels arrives|"
    r"Votre accès aux salons des participants arrive) (?P<eta>.+?) ?: "
)


def parse_eta(text: str) -> tuple[float, float] | None:
    """The range of seconds an ETA phrase (bot.outbox.eta_text) stands for."""
    if text in ("in a few seconds", "dans quelques secondes"):
        return 0.0, 45.0
    match = re.fullmatch(r"(?:in about|dans environ) (\d+) min", text)
    if match:
        minutes = int(match.group(1))
        return max(45.0, (minutes - 0.5) * 60), (minutes + 0.5) * 60
    match = re.fullmatch(r"(?:in about|dans environ) (\d+) h (\d\d)", text)
    if match:
        minutes = int(match.group(1)) * 60 + int(match.group(2))
        return (minutes - 0.5) * 60, (minutes + 0.5) * 60
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pattern",
        choices=sorted(PATTERNS),
        default="steady",
        help="steady: people arrive evenly (default 28,000 over 2 h); burst: 5,000 in 10 min, "
        "at random moments",
    )
    parser.add_argument("--people", type=int, help="people who register (default: the pattern's)")
    parser.add_argument(
        "--period",
        type=float,
        help="real seconds over which they arrive (default: the pattern's, 7200 or 600)",
    )
    parser.add_argument(
        "--compress",
        type=float,
        default=DEFAULT_COMPRESS,
        help="time compression: arrivals and the member-role bucket both C times faster "
        f"(default {DEFAULT_COMPRESS:g}: 2 h pass in 3 min; above about 40 the bot's own cap of 45 requests/s, not compressed, would hold the roles back)",
    )
    parser.add_argument(
        "--role-latency-ms",
        type=float,
        help="added latency of the role requests (default: --latency-ms / C, compressed too)",
    )
    parser.add_argument(
        "--kill-at",
        type=float,
        metavar="FRACTION",
        help="SIGKILL the bot when this fraction of the roles is granted, then restart it",
    )
    parser.add_argument(
        "--french-share",
        type=float,
        default=0.5,
        help="share of the people whose Discord is in French (default 0.5)",
    )
    parser.add_argument(
        "--answer-wait",
        type=float,
        default=60.0,
        help="seconds a deferred answer may take before it counts as lost (default 60)",
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        help="measured seconds to wait for the roles after the last arrival (default: "
        "3 x the floor + 60)",
    )
    parser.add_argument("--seed", type=int, default=1)


# -- one person ----------------------------------------------------------------------------


@dataclass
class Flow:
    """One person's way through /register, as the sandbox saw it."""

    index: int
    member: Any
    lang: str
    offset_s: float  # when they send /register, measured seconds after the start
    think_s: float
    attempts: int = 0
    form_s: float | None = None  # /register -> the form's arrival
    first_s: float | None = None  # submit -> the first response (the deferral)
    final_s: float | None = None  # submit -> the answer in place
    submitted_at: float | None = None  # monotonic, the (last) submit
    first_submit_at: float | None = None  # monotonic, the first submit
    answered_at: float | None = None  # monotonic, the answer in place
    text: str = ""
    outcome: str = "not started"  # registered / already registered / lost / error
    eta: str | None = None
    welcomes: int = 0  # welcome answers read, over every attempt
    missed: list[str] = field(default_factory=list)  # steps past 3 s (or never answered)
    cut_by_crash: bool = False  # an attempt was cut by the crash (they tried again)
    crash_missed: list[str] = field(default_factory=list)  # steps the crash left unanswered
    lost_to_crash: bool = False  # still no answer, the last attempt cut by the crash too
    error: str | None = None

    @property
    def user_id(self) -> str:
        return str(self.member.id)

    @property
    def registered(self) -> bool:
        return self.outcome in ("registered", "already registered")


@dataclass
class Rush:
    """What the run shares: the sandbox, the hooks' observations, the crash's state."""

    sb: Any
    args: argparse.Namespace
    view: Any
    command: dict[str, Any]
    role_id: str
    began: float = 0.0  # monotonic, the first arrival's moment
    puts: Counter[str] = field(default_factory=Counter)  # user id -> role PUTs carried out
    granted_at: dict[str, float] = field(default_factory=dict)  # user id -> first PUT
    answer_at: dict[str, float] = field(default_factory=dict)  # webhook token -> answer in place
    kill_threshold: int | None = None
    kill_due: asyncio.Event = field(default_factory=asyncio.Event)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    killed_at: float | None = None
    back_at: float | None = None
    restart_s: float | None = None
    granted_at_kill: int | None = None

    def observe(self, route: str, call: Any, _result: Any) -> None:
        """The sandbox's after_handled hook: role grants and answers, when Discord did them."""
        if route == ROLE_ROUTE:
            if call.params.get("role_id") != self.role_id:
                return
            user = call.params["user_id"]
            self.puts[user] += 1
            if user not in self.granted_at:
                self.granted_at[user] = time.monotonic()
                if self.kill_threshold is not None and len(self.granted_at) >= self.kill_threshold:
                    self.kill_threshold = None
                    self.kill_due.set()
        elif route in ANSWER_ROUTES:
            self.answer_at.setdefault(call.params["webhook_token"], time.monotonic())


async def _first_answer(sb: Any, record: Any) -> float | None:
    """Seconds from the dispatch to the bot's first response (None: none within 3 s)."""
    deadline_s = sb.server.interactions.deadline_s
    await record.wait_until(
        lambda: record.response_type is not None or record.missed_deadline, deadline_s + 1.0
    )
    if record.response_type is None or record.missed_deadline:
        return None
    arrived = sb.server.callback_arrivals.get(record.id)
    return (arrived or record.responded_mono) - record.created_mono


def _texts(sb: Any, record: Any) -> list[str]:
    """What the member reads in answer to ``record``: the response, then its follow-ups."""
    messages = sb.server.messages
    ids = [record.original_id, *record.followup_ids]
    return [str((messages.get(i or "") or {}).get("content") or "") for i in ids if i]


def form_values(flow: Any, modal: dict[str, Any]) -> dict[str, Any]:
    """The registration form filled in for ``flow`` (anything with ``lang`` and ``index``:
    a :class:`Flow` here, a person of ``bench onboarding``)."""
    from sandbox.driver import components as comp

    name, types, languages, zone = LABELS[flow.lang]
    kind, language = CHOICES[flow.lang]
    zone_select = next(inner for label, _top, inner in comp.modal_fields(modal) if label == zone)
    return {
        name: f"Person {flow.index:05d}",
        types: [kind],
        languages: [language],
        zone: [zone_select["options"][0]["value"]],
    }


async def attempt(rush: Rush, flow: Flow) -> bool:
    """One go at /register: the form, a pause, the form sent, the answer. True: answered."""
    from sandbox.driver import components as comp

    sb = rush.sb
    flow.attempts += 1
    opened = sb.fire(flow.member, rush.view, APPLICATION_COMMAND, rush.command)
    waited = await _first_answer(sb, opened)
    if waited is None:
        flow.missed.append("form")
        flow.error = "the form did not open within 3 s"
        return False
    flow.form_s = waited
    if opened.modal is None:
        flow.error = "no form: " + " | ".join(_texts(sb, opened))[:120]
        return False
    await asyncio.sleep(flow.think_s)
    filled = {
        "custom_id": opened.modal["custom_id"],
        "components": comp.fill_modal(opened.modal, form_values(flow, opened.modal)),
    }
    sent = sb.fire(flow.member, rush.view, MODAL_SUBMIT, filled)
    flow.submitted_at = sent.created_mono
    if flow.first_submit_at is None:
        flow.first_submit_at = sent.created_mono
    waited = await _first_answer(sb, sent)
    if waited is None:
        flow.missed.append("submit")
        flow.error = "the form's submit was not answered within 3 s"
        return False
    flow.first_s = waited
    if sent.response_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
        filled_in = await sent.wait_until(
            lambda: sent.completed or bool(sent.followup_ids), rush.args.answer_wait
        )
        if not filled_in:
            flow.error = f"deferred, then nothing within {rush.args.answer_wait:g} s"
            return False
    flow.answered_at = rush.answer_at.get(sent.token) or time.monotonic()
    flow.final_s = flow.answered_at - sent.created_mono
    texts = _texts(sb, sent)
    flow.welcomes += sum(1 for text in texts if text.startswith(WELCOME))
    flow.text = next((text for text in texts if text), "")
    if flow.text.startswith(WELCOME):
        flow.outcome = "registered"
    elif flow.text.startswith(UPDATED):
        flow.outcome = "already registered"
    else:
        flow.outcome = "error"
        flow.error = "unexpected answer: " + flow.text[:120]
        return True
    match = ETA_LINE.search(flow.text)
    flow.eta = match.group("eta") if match else None
    flow.error = None
    return True


async def person(rush: Rush, flow: Flow) -> Flow:
    """A person registers; if a crash cut their attempt, they try again once the bot is back
    (as a person would after "The application did not respond"). Never raises."""
    try:
        await asyncio.sleep(max(0.0, rush.began + flow.offset_s - time.monotonic()))
        while True:
            started = time.monotonic()
            down = not rush.up.is_set()  # they arrive while the bot is down: no answer
            if await attempt(rush, flow):
                break
            crashed = down or (rush.killed_at is not None and rush.killed_at >= started - 1.0)
            if not crashed or flow.attempts >= 3:
                flow.outcome = "lost"
                flow.lost_to_crash = crashed
                break
            flow.cut_by_crash = True
            flow.crash_missed += flow.missed
            flow.missed = []
            await rush.up.wait()
            await asyncio.sleep(random.Random(flow.index).uniform(0.5, 2.0))
    except Exception as error:  # a broken flow is a result, not the end of the run
        flow.outcome = "error"
        flow.error = f"{type(error).__name__}: {error}"
    return flow


def schedule(args: argparse.Namespace, count: int, span_s: float) -> list[tuple[float, float]]:
    """(arrival offset, pause before the submit) in measured seconds, per person."""
    rng = random.Random(args.seed)
    if args.pattern == "burst":
        offsets = sorted(rng.uniform(0.0, span_s) for _ in range(count))
    else:
        offsets = [span_s * i / count for i in range(count)]
    low, high = THINK_REAL_S
    return [(o, max(MIN_THINK_S, rng.uniform(low, high) / args.compress)) for o in offsets]


# -- the bot process: CPU and memory across a restart -----------------------------------------


class BotUsage:
    """CPU seconds and peak RSS of the bot process(es), kept across a kill."""

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.cpu_done = 0.0  # processes that ended
        self.peak_kb = 0
        self.start_cpu = cpu_seconds(sb.bot_pid)

    def sample(self) -> tuple[float, int]:
        cpu = cpu_seconds(self.sb.bot_pid)
        memory = self.sb.bot_memory()
        self.peak_kb = max(self.peak_kb, memory.get("VmHWM") or 0)
        return cpu, memory.get("VmRSS") or 0

    def before_kill(self) -> None:
        cpu, _ = self.sample()
        self.cpu_done += cpu - self.start_cpu
        self.start_cpu = 0.0

    def after_restart(self) -> None:
        self.start_cpu = 0.0  # the new process's CPU counts from its start (its own start-up)

    def total_cpu(self) -> float:
        cpu, _ = self.sample()
        return self.cpu_done + cpu - self.start_cpu


async def crash_and_restart(rush: Rush, usage: BotUsage) -> None:
    """SIGKILL the bot as soon as the threshold of roles is reached; start a new one."""
    sb = rush.sb
    await rush.kill_due.wait()
    usage.before_kill()
    rush.granted_at_kill = len(rush.granted_at)
    rush.up.clear()
    rush.killed_at = time.monotonic()
    await sb.kill_bot()
    # The rush goes on while it starts: don't wait for the server to be quiet after "ready".
    settle = sb.settle

    async def no_settle(**_kwargs: Any) -> None:
        return None

    sb.settle = no_settle
    try:
        process = await sb.start_bot()
    finally:
        sb.settle = settle
    usage.after_restart()
    rush.back_at = time.monotonic()
    if process.ready_at is not None and process.started_at is not None:
        rush.restart_s = process.ready_at - process.started_at
    rush.up.set()


# -- waiting for the roles -------------------------------------------------------------------


async def outbox_waiting(db: Any) -> dict[str, int]:
    """The bot's outbox rows by status (what is still to do: pending, sending)."""
    from sqlalchemy import func, select

    from bot.models.outbox import OutboxWrite

    async with db.read() as session:
        rows = await session.execute(
            select(OutboxWrite.status, func.count()).group_by(OutboxWrite.status)
        )
        return {status: count for status, count in rows}


async def registered_ids(db: Any) -> set[str]:
    """Discord ids of everyone with a profile in the bot's database."""
    from sqlalchemy import select

    from bot.models import Member
    from bot.models.teams import Profile

    async with db.read() as session:
        rows = await session.scalars(
            select(Member.discord_id).join(Profile, Profile.member_id == Member.id)
        )
        return {str(i) for i in rows}


async def wait_for_roles(rush: Rush, flows: list[Flow], db: Any, until: float) -> bool:
    """Until every registrant has the role and the outbox has nothing left (True), or ``until``."""
    while time.monotonic() < until:
        if rush.up.is_set():
            wanted = {f.user_id for f in flows if f.registered}
            if wanted <= rush.granted_at.keys():
                waiting = await outbox_waiting(db)
                if not waiting.get("pending") and not waiting.get("sending"):
                    return True
        await asyncio.sleep(0.25)
    return False


# -- the benchmark ---------------------------------------------------------------------------


def _compressed_latency(sb: Any, role_latency_ms: float) -> None:
    """The role requests' added latency, compressed with their bucket (the rest keeps its own)."""
    faults = sb.server.faults
    original = faults.delay

    def delay(rng: Any = None, route: str | None = None) -> float:
        if route in ROLE_ROUTES:
            return role_latency_ms / 1000.0
        return original(rng, route=route)

    faults.delay = delay


async def run(args: argparse.Namespace, report: Report) -> None:
    from bot.db import Database
    from sandbox.driver.member import SandboxMember

    people_default, period_default = PATTERNS[args.pattern]
    people = args.people if args.people is not None else people_default
    period = args.period if args.period is not None else period_default
    compress = args.compress
    if people < 1 or period <= 0 or compress <= 0:
        raise SystemExit("--people, --period and --compress must be positive")
    if args.kill_at is not None and not 0 < args.kill_at < 1:
        raise SystemExit("--kill-at is a fraction between 0 and 1")
    span_s = period / compress  # measured seconds over which people arrive
    role_latency_ms = (
        args.role_latency_ms if args.role_latency_ms is not None else args.latency_ms / compress
    )

    async with bench_sandbox(args, members=people) as (sb, startup):
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
        role = sb.role(sb.settings.roles.participant)
        # Discord's member-role bucket, compressed (10 per 10 s becomes 10 per 10/C s).
        from sandbox.rules.ratelimit import DEFAULT_BUCKETS

        limit, per = DEFAULT_BUCKETS[ROLE_ROUTE]
        if sb.rate_limiter is not None:
            limit, per = sb.rate_limiter.bucket_for("PUT", ROLE_ROUTE.split(" ", 1)[1])[1]
        per_c = per / compress
        if sb.rate_limiter is not None:
            for route in ROLE_ROUTES:
                sb.rate_limiter.buckets[route] = (limit, per_c)
        _compressed_latency(sb, role_latency_ms)
        view, command = members[0].slash_data("register")
        rush = Rush(sb, args, view, command, str(role["id"]))
        sb.server.after_handled.append(rush.observe)
        flows = [
            Flow(i, member, lang, offset, think)
            for i, (member, lang, (offset, think)) in enumerate(
                zip(members, langs, schedule(args, people, span_s), strict=True)
            )
        ]
        pace_c = limit / per_c  # grants per measured second
        floor_hint = people / pace_c if not args.no_rate_limits else span_s
        catch_up = args.catch_up if args.catch_up is not None else 3 * floor_hint + 60
        if args.kill_at is not None:
            rush.kill_threshold = max(1, math.ceil(args.kill_at * people))
        db = Database(sb.settings.database.url)
        setup_s = time.monotonic() - setup_began
        try:
            await sb.settle()
            sb.take_violations()
            limited_before = dict(sb.rate_limiter.stats["limited_by_route"])
            limited_total_before = sb.server.stats["rate_limited"]
            invalid_before = sb.invalid_requests.total
            # The set-up's objects (tens of thousands of members) are left out of the
            # collector's work from now on: its pauses are not the bot's latency.
            gc.collect()
            gc.freeze()
            usage = BotUsage(sb)
            sandbox_cpu = cpu_seconds()
            load_before = os.getloadavg()
            rush.up.set()
            crash = asyncio.create_task(crash_and_restart(rush, usage))
            rush.began = time.monotonic()
            tasks = [asyncio.create_task(person(rush, flow)) for flow in flows]
            done_flows = await asyncio.gather(*tasks)
            arrivals_done_s = time.monotonic() - rush.began
            arrivals_cpu = usage.total_cpu()
            caught_up = await wait_for_roles(
                rush, done_flows, db, time.monotonic() + max(0.0, catch_up)
            )
            ended_s = time.monotonic() - rush.began
            if not crash.done():
                crash.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await crash
            else:
                crash.result()
            await asyncio.sleep(0.5)  # a duplicate just after the last grant would still count
            load_after = os.getloadavg()
            bot_cpu = usage.total_cpu()
            sandbox_cpu = cpu_seconds() - sandbox_cpu
            profiles = await registered_ids(db)
            outbox_rows = await outbox_waiting(db)
        finally:
            gc.unfreeze()
            await db.dispose()
        holders = {
            user_id
            for user_id, m in sb.guild.members.items()
            if rush.role_id in (m.get("roles") or [])
        }
        limited_after = sb.rate_limiter.stats["limited_by_route"]
        limited = {
            route: count - limited_before.get(route, 0)
            for route, count in limited_after.items()
            if count - limited_before.get(route, 0)
        }
        invalid = sb.invalid_requests
        result = {
            "flows": done_flows,
            "rush": rush,
            "people": people,
            "period": period,
            "span_s": span_s,
            "compress": compress,
            "limit": limit,
            "per": per,
            "per_c": per_c,
            "role_latency_ms": role_latency_ms,
            "arrivals_done_s": arrivals_done_s,
            "caught_up": caught_up,
            "ended_s": ended_s,
            "bot_cpu": bot_cpu,
            "arrivals_cpu": arrivals_cpu,
            "load": (load_before, load_after),
            "sandbox_cpu": sandbox_cpu,
            "peak_rss_kb": usage.peak_kb,
            "profiles": profiles,
            "holders": holders,
            "outbox": outbox_rows,
            "limited": limited,
            "limited_total": sb.server.stats["rate_limited"] - limited_total_before,
            "invalid_total": invalid.total - invalid_before,
            "invalid_peak": invalid.peak,
            "violations": sb.take_violations(),
            "errors": bot_errors(sb),
            "missed_records": len(sb.missed_deadlines),
            "setup_s": setup_s,
            "startup_s": startup.ready_s,
        }
    _report(report, args, result)


# -- the report ------------------------------------------------------------------------------


def _clock(seconds: float | None) -> str:
    """A duration as "7 h 47 min", "12 min 05 s" or "38 s"."""
    if seconds is None:
        return "-"
    if math.isinf(seconds):
        return "never"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _both(seconds: float | None, compress: float) -> str:
    """Measured seconds and their real equivalent."""
    if seconds is None:
        return "-"
    return f"{seconds:.1f} s (real: {_clock(seconds * compress)})"


def _announced(bounds: tuple[float, float] | None, compress: float) -> str:
    """An ETA's range as a duration: "under 45 s", "about 12 min 00 s"."""
    if bounds is None:
        return "-"
    low, high = bounds
    if low <= 0:
        return f"under {_clock(high * compress)}"
    return f"about {_clock((low + high) / 2 * compress)}"


def ideal_floor(ready: list[float], limit: int, per: float) -> float:
    """When the last grant could happen at the earliest: each write ready at its time (the
    answer), granted through a bucket of ``limit`` per ``per`` s opened by its first request
    (Discord's and the sandbox's windows), nothing else in the way."""
    last = 0.0
    window_open = -math.inf
    count = 0
    for at in sorted(ready):
        at = max(at, last)
        if at >= window_open + per:
            window_open, count = at, 0
        if count >= limit:
            at = window_open + per
            window_open, count = at, 0
        count += 1
        last = at
    return last


def _report(report: Report, args: argparse.Namespace, r: dict[str, Any]) -> None:
    flows: list[Flow] = r["flows"]
    rush: Rush = r["rush"]
    compress: float = r["compress"]
    people: int = r["people"]
    limit, per, per_c = r["limit"], r["per"], r["per_c"]
    real_pace = limit / per
    began = rush.began

    registered = [f for f in flows if f.registered]
    lost = [f for f in flows if not f.registered]
    lost_running = [f for f in lost if not f.lost_to_crash]
    missed_running = [f for f in flows if f.missed]
    two_welcomes = [f for f in flows if f.welcomes > 1]
    # Everyone with a profile must get the role, once (a profile stored whose answer the
    # crash cut counts too).
    registrants = r["profiles"] | {f.user_id for f in registered}
    without_role = sorted(registrants - r["holders"])
    duplicates = {u: n for u, n in rush.puts.items() if n > 1}
    extra_puts = sum(n - 1 for n in duplicates.values())
    strangers = sorted(set(rush.puts) - registrants)
    grants = [rush.granted_at[u] - began for u in registrants if u in rush.granted_at]
    last_grant_s = max(grants) if grants else None
    first_grant_s = min(grants) if grants else None
    # The earliest each role could go: when its form was first sent.
    ready = [f.first_submit_at - began for f in registered if f.first_submit_at is not None]
    floor_s = (
        max(len(registrants) * per_c / limit, ideal_floor(ready, limit, per_c))
        if not args.no_rate_limits and registrants
        else None
    )
    ratio = last_grant_s / floor_s if last_grant_s is not None and floor_s else None
    downtime = (
        rush.back_at - rush.killed_at
        if rush.back_at is not None and rush.killed_at is not None
        else None
    )
    ratio_net = (
        (last_grant_s - downtime) / floor_s if ratio is not None and downtime is not None else None
    )

    # -- the compression --
    title_rate = people / r["period"]
    compression = report.table(
        f"TIME IS COMPRESSED x{compress:g}: {people} people arriving {args.pattern} over "
        f"{_clock(r['period'])} (real) = {r['span_s']:.1f} s measured",
        ["figure", "real", "measured (compressed)"],
    )
    compression.add("arrival period", _clock(r["period"]), f"{r['span_s']:.1f} s")
    compression.add("arrivals per second", f"{title_rate:.2f}", f"{title_rate * compress:.1f}")
    compression.add(
        "member-role bucket (per server)",
        f"{limit} per {per:g} s ({real_pace:.2f}/s)",
        f"{limit} per {per_c:.3g} s ({limit / per_c:.1f}/s)",
    )
    compression.add(
        "added latency: role requests / everything else (ms)",
        f"{args.latency_ms:g} / {args.latency_ms:g}",
        f"{r['role_latency_ms']:.3g} / {args.latency_ms:g}",
    )
    compression.add(
        "floor for the roles (registrants / pace)",
        _clock(floor_s * compress) if floor_s else "-",
        f"{floor_s:.1f} s" if floor_s else "-",
    )

    # -- response times --
    steps = {
        "/register: the form opens": summary_ms(f.form_s for f in flows if f.form_s is not None),
        "form sent: first response (deferral)": summary_ms(
            f.first_s for f in flows if f.first_s is not None
        ),
        "form sent: 'registered' answer in place": summary_ms(
            f.final_s for f in registered if f.final_s is not None
        ),
    }
    table = report.table(
        f"response times, measured ({args.latency_ms:g} ms API latency; first response: dispatch "
        "-> the bot's answer reaching the sandbox; answer in place: after its own latency), ms",
        ["step", "count", "p50", "p90", "p99", "max"],
    )
    for step, s in steps.items():
        table.add(step, s["count"], s["p50"], s["p90"], s["p99"], s["max"])

    # -- the ETAs --
    eta_rows = []
    by_answer = sorted(
        (f for f in registered if f.answered_at is not None), key=lambda f: f.answered_at or 0.0
    )
    for f in by_answer:
        granted = rush.granted_at.get(f.user_id)
        bounds = parse_eta(f.eta) if f.eta else None
        actual = granted - f.answered_at if granted is not None and f.answered_at else None
        eta_rows.append((f, bounds, actual))
    judged = [(b, a) for _f, b, a in eta_rows if b is not None and a is not None]
    within = sum(1 for (low, high), a in judged if a <= high * 1.1 + 5)
    eta_table = report.table(
        "what the bot announced ('your access arrives ...') against when the role came, "
        "measured (real equivalent x C)",
        ["registrant", "announced", "= measured", "= real", "role came after", "= real"],
    )
    if eta_rows:
        picks = sorted({0, len(eta_rows) // 10, len(eta_rows) // 2, (9 * len(eta_rows)) // 10})
        picks = [p for p in picks if p < len(eta_rows) - 1] + [len(eta_rows) - 1]
        for p in picks:
            f, bounds, actual = eta_rows[p]
            label = "last" if p == len(eta_rows) - 1 else f"#{p + 1} of {len(eta_rows)}"
            eta_table.add(
                label,
                f.eta or "(no ETA line)",
                _announced(bounds, 1.0),
                _announced(bounds, compress),
                f"{actual:.1f} s" if actual is not None else "never",
                _clock(actual * compress) if actual is not None else "-",
            )
    last_row = eta_rows[-1] if eta_rows else None

    # -- the figures --
    figures = report.table("did everyone get an answer and the role, once?", ["figure", "value"])
    figures.add("people who sent /register", people)
    figures.add(
        "told 'registered' (of them on a second try after the crash)",
        f"{len(registered)} ({sum(1 for f in registered if f.attempts > 1)})",
    )
    figures.add("profiles stored", len(r["profiles"]))
    figures.add("answers lost while the bot ran (target 0)", len(lost_running))
    figures.add(
        "answers cut by the crash (the person tried again)", sum(1 for f in flows if f.cut_by_crash)
    )
    figures.add("3-second windows missed while the bot ran (target 0)", len(missed_running))
    figures.add("interactions past 3 s at the sandbox, all (incl. the crash)", r["missed_records"])
    figures.add("people with two welcome answers (target 0)", len(two_welcomes))
    figures.add(
        "registrants with the role at the end (target: all)",
        f"{len(registrants) - len(without_role)} of {len(registrants)}",
    )
    figures.add("role PUTs for someone who already had it (target 0)", extra_puts)
    figures.add("role PUTs for someone not registered", len(strangers))
    arrivals_end = r["arrivals_done_s"]
    during = sorted(g for g in grants if g <= arrivals_end)
    after = sorted(g for g in grants if g > arrivals_end)
    pace_during = len(during) / arrivals_end if arrivals_end > 0 else None
    pace_after = (
        len(after) / (after[-1] - arrivals_end)
        if len(after) > 1 and after[-1] > arrivals_end
        else None
    )
    figures.add(
        "roles granted per measured s: while people arrive / after (the bucket allows)",
        f"{pace_during or 0:.2f} / {pace_after or 0:.2f} ({limit / per_c:.2f})",
    )
    figures.add("first role granted after", _both(first_grant_s, compress))
    figures.add("LAST role granted after (from the first arrival)", _both(last_grant_s, compress))
    figures.add("floor Discord's limit sets", _both(floor_s, compress))
    figures.add("last role / floor (target <= 1.1)", f"{ratio:.2f}" if ratio else "-")
    if downtime is not None:
        figures.add("... without the bot's downtime", f"{ratio_net:.2f}" if ratio_net else "-")
        figures.add(
            "bot killed at (roles granted then)",
            f"{rush.killed_at - began:.1f} s ({rush.granted_at_kill})",
        )
        figures.add(
            "bot back after (of which its own start-up)",
            f"{downtime:.1f} s ({rush.restart_s:.1f} s)" if rush.restart_s else f"{downtime:.1f} s",
        )
    if last_row is not None:
        f, bounds, actual = last_row
        figures.add(
            "last registrant: announced",
            f"{f.eta} = {_announced(bounds, 1.0)} measured = {_announced(bounds, compress)} real",
        )
        figures.add("last registrant: role came after", _both(actual, compress))
    figures.add(
        "roles within the announced time (+10 %, +5 s)",
        f"{within} of {len(judged)}" if judged else "-",
    )
    figures.add(
        "wall time: arrivals done / roles done (s)",
        f"{r['arrivals_done_s']:.1f} / {r['ended_s']:.1f}",
    )
    figures.add(
        "bot CPU s (% of one core) / sandbox + load CPU s",
        f"{r['bot_cpu']:.1f} ({100 * r['bot_cpu'] / max(r['ended_s'], 0.001):.0f} %) / "
        f"{r['sandbox_cpu']:.1f}",
    )
    figures.add(
        "bot CPU while people arrive and get answers (% of one core)",
        f"{r['arrivals_cpu']:.1f} s ({100 * r['arrivals_cpu'] / max(r['arrivals_done_s'], 0.001):.0f} %)",
    )
    figures.add("bot peak RSS (MB)", mb(r["peak_rss_kb"]))
    figures.add("429s sent by the sandbox", r["limited_total"])
    figures.add(
        "invalid requests (401/403/429) / peak in 10 min",
        f"{r['invalid_total']} / {r['invalid_peak']}",
    )
    figures.add("outbox at the end", ", ".join(f"{k} {v}" for k, v in sorted(r["outbox"].items())))

    flow_errors = Counter((f.error or "").split(":")[0] for f in flows if f.error)
    report.data.update(
        pattern=args.pattern,
        people=people,
        period_s=r["period"],
        compress=compress,
        span_s=r["span_s"],
        bucket={"limit": limit, "per_s": per, "per_s_compressed": per_c},
        role_latency_ms=r["role_latency_ms"],
        steps_ms=steps,
        registered=len(registered),
        registered_on_retry=sum(1 for f in registered if f.attempts > 1),
        profiles=len(r["profiles"]),
        lost=len(lost_running),
        lost_detail=[(f.index, f.error) for f in lost_running[:20]],
        cut_by_crash=sum(1 for f in flows if f.cut_by_crash),
        missed_deadlines=len(missed_running),
        missed_records=r["missed_records"],
        two_welcomes=len(two_welcomes),
        registrants=len(registrants),
        without_role=len(without_role),
        duplicate_puts=extra_puts,
        duplicated_users=len(duplicates),
        puts_for_strangers=len(strangers),
        first_grant_s=first_grant_s,
        grant_pace={"while_arriving": pace_during, "after": pace_after, "bucket": limit / per_c},
        last_grant_s=last_grant_s,
        floor_s=floor_s,
        ratio=ratio,
        ratio_without_downtime=ratio_net,
        killed_at_s=rush.killed_at - began if rush.killed_at is not None else None,
        granted_at_kill=rush.granted_at_kill,
        downtime_s=downtime,
        restart_s=rush.restart_s,
        last_eta=last_row[0].eta if last_row else None,
        last_eta_bounds_s=last_row[1] if last_row else None,
        last_role_after_s=last_row[2] if last_row else None,
        eta_within=within,
        eta_judged=len(judged),
        arrivals_done_s=r["arrivals_done_s"],
        ended_s=r["ended_s"],
        caught_up=r["caught_up"],
        cpu_s={"bot": r["bot_cpu"], "bot_arrivals": r["arrivals_cpu"], "sandbox": r["sandbox_cpu"]},
        bot_peak_rss_mb=mb(r["peak_rss_kb"]),
        rate_limited=r["limited_total"],
        rate_limited_by_route=r["limited"],
        invalid_requests=r["invalid_total"],
        invalid_peak=r["invalid_peak"],
        outbox=r["outbox"],
        flow_errors=dict(flow_errors),
        bot_error_lines=len(r["errors"]),
        violations=[str(v) for v in r["violations"]],
        setup_s=r["setup_s"],
        startup_s=r["startup_s"],
        load_average={"start": r["load"][0], "end": r["load"][1]},
    )
    targets = {
        "no answer lost": not lost_running,
        "no 3-second window missed": not missed_running,
        "every registrant has the role": not without_role,
        "no duplicate grant": not extra_puts,
        "no second welcome": not two_welcomes,
        "last role <= 1.1 x floor": ratio is not None and (ratio_net or ratio) <= 1.1,
    }
    report.note(
        "targets: " + "; ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in targets.items())
    )
    report.note(
        f"time is compressed x{compress:g}: arrivals and the member-role bucket run {compress:g} "
        f"times faster, so 'real' = measured x {compress:g}; the bot's CPU work is not "
        f"compressed ({title_rate * compress:.1f} registrations/s here against "
        f"{title_rate:.2f}/s in reality), so the response times are pessimistic"
    )
    if not args.no_rate_limits and limit / per_c > BOT_GLOBAL_CAP * 0.9:
        report.note(
            f"the compressed role pace ({limit / per_c:.0f}/s) is above what the bot allows "
            f"itself in all ({BOT_GLOBAL_CAP:g} requests/s, for Discord's global 50/s, which is "
            "not compressed): the floor cannot be reached at this compression"
        )
    report.note(
        f"OpenAPI validation {'on' if args.validate else 'off'}; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}; set-up {r['setup_s']:.1f} s; bot "
        f"ready {r['startup_s'] or 0:.1f} s after its start; {len(r['errors'])} ERROR lines; "
        f"{len(r['violations'])} sandbox refusals; roles caught up: "
        f"{'yes' if r['caught_up'] else 'NO (timed out)'}"
    )
    (before_1, before_5, _), (after_1, after_5, _) = r["load"]
    report.note(
        f"machine load average (1 / 5 min) at the start {before_1:.1f} / {before_5:.1f}, at the "
        f"end {after_1:.1f} / {after_5:.1f} (2 cores; above ~1 something else was running)"
    )
    if r["limited"]:
        report.note(
            "429s by route: " + ", ".join(f"{k} {v}" for k, v in sorted(r["limited"].items()))
        )
    for line in r["errors"][:5]:
        report.note(f"bot error: {line}")
    for key, count in sorted(flow_errors.items()):
        report.note(f"{count} flows ended with: {key}")
