"""``latency``: members send a mix of interactions at a fixed rate; how fast does the bot answer?

Reported, per action and overall, from the moment the sandbox dispatches the
INTERACTION_CREATE to the moment the bot's first response reaches it (before the
added API latency of that callback): p50, p90, p99, max; the 3-second deadlines
missed; then the throughput ceiling: the rate is raised step by step until p99
passes 1 s (bounded by --max-rate and --ramp-budget).

The mix is :data:`MIX`: one row per kind of interaction with its weight. A row is used
when the bot registered its command; commands that nobody listed and that need no
option are added with weight 1 (and their autocompletes), so that a new feature's
simple commands are measured even before it adds its rows.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import (
    Report,
    bench_sandbox,
    bot_errors,
    cpu_seconds,
    insert_members,
    mb,
    no_collector_pauses,
    summary_ms,
)

DESCRIPTION = "interaction latency at a fixed rate, and the throughput ceiling"

LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Action:
    """One kind of interaction members send.

    ``command``: the registered command path ("about", "team join"). ``kind``: "slash",
    or "autocomplete" of ``option``. ``options(load, member)`` gives the option values
    of one call (None: the command takes none); ``typed(load, member)`` what the member
    has typed so far, for an autocomplete (default: one or two random letters).
    """

    label: str
    command: str
    weight: float
    kind: str = "slash"
    option: str | None = None
    options: Callable[[Load, Any], dict[str, Any]] | None = None
    typed: Callable[[Load, Any], str] | None = None
    # Who sends it: a group of :func:`populate` ("unregistered", "registered" (in a team
    # or not), "free" (registered, no team), "team" (in a team)); None: any member.
    who: str | None = None


def _team_name(load: Load, member: Any) -> dict[str, Any]:
    return {"team": load.rng.choice(load.extra["team_names"])}


def _challenge(load: Load, member: Any) -> dict[str, Any]:
    return {"challenge": str(load.rng.choice(load.extra["challenge_ids"]))}


def _help(load: Load, member: Any) -> dict[str, Any]:
    return {
        "topic": load.rng.choice(["python", "react", "design", "data", "pitch"]),
        "description": "Our build fails when we deploy, could someone look?",
    }


def _name_prefix(load: Load, member: Any) -> str:
    """What someone typing a team or challenge name has typed so far."""
    return load.rng.choice(["", "t", "te", "team 1", "c", "challenge 2"])


# The realistic mix at a busy moment of team formation: the weights are how often members
# send each (per 100 or so). Modals (/register, /submit) are measured until the form
# opens: the form's submit cannot be fired at rate from outside.
MIX: list[Action] = [
    Action("about", "about", weight=6),
    Action("schedule", "schedule", weight=4),
    Action("register (form opens)", "register", weight=8, who="unregistered"),
    Action("profile", "profile", weight=4, who="registered"),
    Action("team list", "team list", weight=6, who="registered"),
    Action("team info", "team info", weight=4, options=_team_name, who="registered"),
    Action(
        "team info [team]",
        "team info",
        8,
        "autocomplete",
        "team",
        typed=_name_prefix,
        who="registered",
    ),
    Action("team join", "team join", weight=6, options=_team_name, who="free"),
    Action(
        "team join [team]", "team join", 10, "autocomplete", "team", typed=_name_prefix, who="free"
    ),
    Action("challenge list", "challenge list", weight=4),
    Action("challenge info", "challenge info", weight=4, options=_challenge),
    Action(
        "challenge info [challenge]",
        "challenge info",
        6,
        "autocomplete",
        "challenge",
        typed=_name_prefix,
    ),
    Action("help ask", "help ask", weight=3, options=_help, who="team"),
    Action("help status", "help status", weight=2, who="team"),
    Action("submit (form opens)", "submit", weight=3, who="team"),
]

#: Commands found registered but left out of the mix (they change who is where in ways
#: that would drain the groups above, or are for other audiences).
NOT_IN_MIX = {
    "team leave",
    "help cancel",
    "judge next",
    "mentor duty on",
    "mentor duty off",
    "mentor queue",
    "team recruit",
    "lft",
    "problem submit",
}


@dataclass
class Load:
    """State shared by the actions of one run (features may keep what they need here)."""

    sb: Any
    members: list[Any]
    rng: random.Random
    extra: dict[str, Any]


# -- the event's state ------------------------------------------------------------------------


async def populate(
    sb: Any,
    members: list[Any],
    rng: random.Random,
    *,
    challenges: int,
    registered_share: float,
    in_team_share: float,
) -> dict[str, Any]:
    """The state members act on, written to the bot's database in bulk (and team spaces in
    the sandbox, as in the ``fanout`` benchmark): ``challenges`` challenges with a channel
    each, ``registered_share`` of the members registered (a profile), ``in_team_share`` of
    those in teams of four (half of the teams open to direct joins), every team with its
    space. Returns the groups the mix draws from, the team names and challenge ids."""
    from sqlalchemy import insert

    from bench.autoform import make_people
    from bench.fanout import make_spaces
    from bot.clock import utcnow
    from bot.db import Database
    from bot.models import Challenge, Profile, Team, TeamMember
    from sandbox.server import state as st

    now = utcnow()
    shuffled = list(members)
    rng.shuffle(shuffled)
    registered = shuffled[: round(len(shuffled) * registered_share)]
    unregistered = shuffled[len(registered) :]
    in_team = registered[: round(len(registered) * in_team_share) // 4 * 4]
    free = registered[len(in_team) :]
    team_count = len(in_team) // 4
    spaces, _ = make_spaces(sb, team_count)
    challenge_channels = [
        sb.server.create_channel(sb.guild, {"name": f"challenge-{i + 1}", "type": st.GUILD_TEXT})
        for i in range(challenges)
    ]
    await sb.settle()
    db = Database(sb.settings.database.url)
    try:
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
                                "summary": "A problem worth a weekend",
                                "description": "",
                                "mentor_skills": [],
                                "position": i,
                                "channel_id": int(channel["id"]),
                                "listing": {},
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i, channel in enumerate(challenge_channels)
                        ],
                    )
                ).all()
            )
            people = make_people(len(registered), challenge_ids, 0.65, rng.randrange(1 << 30))
            member_ids = await insert_members(session, registered, now)
            await session.execute(
                insert(Profile),
                [
                    {
                        "member_id": member_id,
                        "display_name": m.name,
                        "registered_at": now,
                        "autoform": True,
                        "created_at": now,
                        "updated_at": now,
                        **person,
                    }
                    for member_id, m, person in zip(member_ids, registered, people, strict=True)
                ],
            )
            team_ids = list(
                (
                    await session.scalars(
                        insert(Team).returning(Team.id, sort_by_parameter_order=True),
                        [
                            {
                                "name": f"Team {i + 1}",
                                "name_folded": f"team {i + 1}",
                                "slug": f"team-{i + 1}",
                                "description": "",
                                "challenge_id": rng.choice(challenge_ids),
                                "captain_member_id": member_ids[4 * i],
                                "open": i % 2 == 0,
                                "looking_for": [],
                                "space_kind": spaces[i][0],
                                "channel_id": spaces[i][1],
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i in range(team_count)
                        ],
                    )
                ).all()
            )
            if team_ids:
                await session.execute(
                    insert(TeamMember),
                    [
                        {"team_id": team_ids[i // 4], "member_id": member_ids[i], "joined_at": now}
                        for i in range(len(in_team))
                    ],
                )
    finally:
        await db.dispose()
    # The members of each team may see its channel, as the space manager would have set.
    allow = str(0x400 | 0x800 | 0x10000)  # view, send, read history
    for i, (_, channel_id) in enumerate(spaces):
        channel = sb.guild.channels[str(channel_id)]
        for m in in_team[4 * i : 4 * i + 4]:
            channel["permission_overwrites"].append(
                {"id": str(m.id), "type": 1, "allow": allow, "deny": "0"}
            )
    participant = next(
        (r for r in sb.guild.roles.values() if r["name"] == sb.settings.roles.participant), None
    )
    if participant is not None:
        for m in registered:
            sb.guild.members[str(m.id)].setdefault("roles", []).append(participant["id"])
    return {
        "groups": {
            "unregistered": unregistered,
            "registered": registered,
            "free": free,
            "team": in_team,
        },
        "team_names": [f"Team {i + 1}" for i in range(team_count)],
        "challenge_ids": challenge_ids,
    }


# -- choosing the actions ---------------------------------------------------------------------


def _leaf_paths(command: dict) -> list[tuple[str, list[dict]]]:
    """(path, options) for every runnable leaf of a registered chat-input command."""
    options = command.get("options") or []
    subs = [o for o in options if o.get("type") in (1, 2)]
    if not subs:
        return [(command["name"], options)]
    leaves: list[tuple[str, list[dict]]] = []
    for sub in subs:
        if sub["type"] == 1:
            leaves.append((f"{command['name']} {sub['name']}", sub.get("options") or []))
        else:
            for leaf in sub.get("options") or []:
                leaves.append(
                    (f"{command['name']} {sub['name']} {leaf['name']}", leaf.get("options") or [])
                )
    return leaves


def available_actions(sb: Any) -> tuple[list[Action], list[str]]:
    """The rows of MIX whose command is registered, plus discovered ones; and what was left out."""
    registered: dict[str, list[dict]] = {}
    for command in sb.commands:
        if command.get("type", 1) != 1 or command.get("default_member_permissions") is not None:
            continue  # organiser-only commands are not member load
        for path, options in _leaf_paths(command):
            registered[path] = options
    actions = [a for a in MIX if a.command in registered]
    skipped = [f"{a.label} (/{a.command} not registered)" for a in MIX if a not in actions]
    listed = {(a.command, a.kind, a.option) for a in MIX}
    for path, options in sorted(registered.items()):
        if path in NOT_IN_MIX:
            continue
        if (path, "slash", None) not in listed and not any(o.get("required") for o in options):
            actions.append(Action(path, path, weight=1.0))
        for option in options:
            if option.get("autocomplete") and (path, "autocomplete", option["name"]) not in listed:
                actions.append(
                    Action(f"{path} [{option['name']}]", path, 1.0, "autocomplete", option["name"])
                )
    return actions, skipped


class Sender:
    """Builds and sends one interaction of an action for a member, without waiting."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self._cache: dict[str, tuple[Any, dict]] = {}

    def build(self, action: Action, member: Any) -> tuple[Any, int, dict]:
        from sandbox.server.interactions import (
            APPLICATION_COMMAND,
            APPLICATION_COMMAND_AUTOCOMPLETE,
        )

        if action.kind == "autocomplete":
            typed = (action.typed or _random_prefix)(self.load, member)
            view, data = member.autocomplete_data(action.command, action.option, typed)
            return view, APPLICATION_COMMAND_AUTOCOMPLETE, data
        if action.options is None:
            cached = self._cache.get(action.label)
            if cached is None:
                cached = member.slash_data(action.command)
                self._cache[action.label] = cached
            view, data = cached
            return view, APPLICATION_COMMAND, data
        view, data = member.slash_data(action.command, **action.options(self.load, member))
        return view, APPLICATION_COMMAND, data

    def send(self, action: Action, member: Any) -> Any:
        view, kind, data = self.build(action, member)
        return self.load.sb.fire(member, view, kind, data)


def _random_prefix(load: Load, member: Any) -> str:
    return "".join(load.rng.choice(LETTERS) for _ in range(load.rng.randint(1, 2)))


# -- one run at a fixed rate ------------------------------------------------------------------


@dataclass
class Sent:
    action: str
    record: Any


async def send_at_rate(
    sender: Sender, actions: list[Action], rate: float, seconds: float
) -> tuple[list[Sent], float]:
    """Send ``rate`` interactions per second for ``seconds``; returns them and the rate achieved."""
    load = sender.load
    weights = [a.weight for a in actions]
    loop = asyncio.get_running_loop()
    interval = 1.0 / rate
    count = max(1, round(rate * seconds))
    sent: list[Sent] = []
    began = loop.time()
    for index in range(count):
        delay = began + index * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif index % 20 == 0:
            await asyncio.sleep(0)  # behind schedule: still let the server work
        action = load.rng.choices(actions, weights)[0]
        group = load.extra.get("groups", {}).get(action.who) if action.who else None
        member = load.rng.choice(group) if group else load.members[index % len(load.members)]
        sent.append(Sent(action.label, sender.send(action, member)))
    elapsed = max(loop.time() - began, interval)
    return sent, len(sent) / elapsed if count > 1 else rate


async def drain(sb: Any, sent: list[Sent], max_wait: float) -> None:
    """Wait until every interaction got its first answer or missed its deadline."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        if all(s.record.response_type is not None or s.record.missed_deadline for s in sent):
            return
        await asyncio.sleep(0.05)


def measure(sb: Any, sent: list[Sent], window_s: float = 10.0) -> dict[str, Any]:
    """Latencies (dispatch → first response arriving at the sandbox) per action, overall,
    and per ``window_s`` window of the run (warm-up and hiccups show there)."""
    arrivals = sb.server.callback_arrivals
    by_action: dict[str, list[float]] = {}
    by_window: dict[int, list[float]] = {}
    overall: list[float] = []
    missed = 0
    unanswered = 0
    first = sent[0].record.created_mono if sent else 0.0
    for item in sent:
        record = item.record
        if record.missed_deadline:
            missed += 1
        arrived = arrivals.get(record.id)
        if arrived is None:
            unanswered += 1
            continue
        latency = arrived - record.created_mono
        overall.append(latency)
        by_action.setdefault(item.action, []).append(latency)
        by_window.setdefault(int((record.created_mono - first) // window_s), []).append(latency)
    return {
        "sent": len(sent),
        "answered": len(overall),
        "missed_deadlines": missed + unanswered,
        "late_answers": missed,
        "never_answered": unanswered,
        "overall_ms": summary_ms(overall),
        "by_action_ms": {name: summary_ms(values) for name, values in sorted(by_action.items())},
        "window_s": window_s,
        "by_window_ms": [
            summary_ms(by_window.get(i, [])) for i in range(max(by_window, default=-1) + 1)
        ],
    }


async def run_rate(
    sender: Sender, actions: list[Action], rate: float, seconds: float
) -> dict[str, Any]:
    sb = sender.load.sb
    cpu_before = (cpu_seconds(), cpu_seconds(sb.bot_pid), time.monotonic())
    sent, achieved = await send_at_rate(sender, actions, rate, seconds)
    await drain(sb, sent, max_wait=sb.server.interactions.deadline_s + 2)
    elapsed = time.monotonic() - cpu_before[2]
    result = measure(sb, sent)
    result.update(
        rate=rate,
        achieved_rate=achieved,
        seconds=seconds,
        # CPU used during the run, in % of one core: the sandbox + load generator (this
        # process) and the bot process (2 cores in all on the reference machine).
        sandbox_cpu_pct=100 * (cpu_seconds() - cpu_before[0]) / elapsed,
        bot_cpu_pct=100 * (cpu_seconds(sb.bot_pid) - cpu_before[1]) / elapsed,
    )
    return result


# -- the benchmark -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=200.0, help="interactions/s (default 200)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long (default 60)")
    parser.add_argument(
        "--members",
        type=int,
        default=1000,
        help="members in the guild who send them (default 1000)",
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        default=1000.0,
        help="ramp (ceiling search) stops at this rate (default 1000; 0: no ramp)",
    )
    parser.add_argument(
        "--step-seconds", type=float, default=10.0, help="length of each ramp step (default 10)"
    )
    parser.add_argument(
        "--ramp-factor", type=float, default=1.5, help="rate multiplier per step (default 1.5)"
    )
    parser.add_argument(
        "--ramp-budget",
        type=float,
        default=150.0,
        help="stop the ramp after this many seconds in all (default 150)",
    )
    parser.add_argument(
        "--challenges", type=int, default=42, help="challenges in the event (default 42)"
    )
    parser.add_argument(
        "--registered-share",
        type=float,
        default=0.7,
        help="share of the members already registered (default 0.7)",
    )
    parser.add_argument(
        "--in-team-share",
        type=float,
        default=0.5,
        help="share of the registered already in a team of four (default 0.5)",
    )
    parser.add_argument(
        "--only",
        metavar="LABELS",
        help="send only these rows of the mix, comma-separated labels as printed (e.g. "
        "'schedule' to measure what every interaction costs before any database work)",
    )
    parser.add_argument("--seed", type=int, default=1)


async def run(args: argparse.Namespace, report: Report) -> None:
    async with bench_sandbox(args, members=args.members) as (sb, startup):
        from sandbox.driver.member import SandboxMember

        members = [
            SandboxMember(sb, m["user"]["id"])
            for m in sb.guild.members.values()
            if m["user"]["username"].startswith("member")
        ]
        for index, member in enumerate(members):
            member.locale = "fr" if index % 2 else "en-US"  # half read French
        rng = random.Random(args.seed)
        extra = await populate(
            sb,
            members,
            rng,
            challenges=args.challenges,
            registered_share=args.registered_share,
            in_team_share=args.in_team_share,
        )
        load = Load(sb, members, rng, extra)
        actions, skipped = available_actions(sb)
        if args.only:
            wanted = {label.strip() for label in args.only.split(",") if label.strip()}
            unknown = wanted - {a.label for a in actions}
            if unknown:
                raise SystemExit(f"--only: not in the mix: {', '.join(sorted(unknown))}")
            skipped += [f"{a.label} (--only)" for a in actions if a.label not in wanted]
            actions = [a for a in actions if a.label in wanted]
        for action in list(actions):
            if action.who and not extra["groups"][action.who]:
                actions.remove(action)
                skipped.append(f"{action.label} (nobody is {action.who!r} at this size)")
            elif action.options is _team_name and not extra["team_names"]:
                actions.remove(action)
                skipped.append(f"{action.label} (no team at this size)")
        if not actions:
            raise SystemExit("the bot registered no command members can run without options")
        sender = Sender(load)
        sb.take_violations()

        with no_collector_pauses():
            fixed = await run_rate(sender, actions, args.rate, args.seconds)
        _report_fixed(report, fixed, actions, skipped)

        ramp: list[dict[str, Any]] = []
        if args.max_rate and args.max_rate > 0:
            with no_collector_pauses():
                ramp = await _ramp(sb, sender, actions, args)
            _report_ramp(report, ramp, args)

        memory = sb.bot_memory()
        errors = bot_errors(sb)
        violations = sb.take_violations()
        report.data.update(
            fixed=fixed,
            ramp=ramp,
            actions=[{"label": a.label, "command": a.command, "weight": a.weight} for a in actions],
            skipped=skipped,
            startup_s=startup.ready_s,
            bot_rss_mb=mb(memory.get("VmRSS")),
            bot_peak_rss_mb=mb(memory.get("VmHWM")),
            bot_error_lines=len(errors),
            violations=[str(v) for v in violations],
            rest_stats=dict(sb.server.stats),
        )
        report.note(
            f"bot process: peak RSS {_fmt_mb(memory.get('VmHWM'))}, {len(errors)} ERROR lines in "
            f"its log; sandbox refusals: {len(violations)}; OpenAPI validation "
            f"{'on' if args.validate else 'off'}; {args.latency_ms:g} ms added to every REST answer; "
            f"database {'PostgreSQL' if args.database else 'SQLite'}"
        )
        for line in errors[:5]:
            report.note(f"bot error: {line}")


async def _ramp(
    sb: Any, sender: Sender, actions: list[Action], args: argparse.Namespace
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    rate = args.rate * args.ramp_factor
    began = time.monotonic()
    while (
        rate <= args.max_rate and time.monotonic() - began + args.step_seconds <= args.ramp_budget
    ):
        step = await run_rate(sender, actions, rate, args.step_seconds)
        steps.append(step)
        p99 = step["overall_ms"]["p99"]
        if p99 is None or p99 > 1000 or step["achieved_rate"] < 0.9 * rate:
            break
        rate *= args.ramp_factor
        await asyncio.sleep(0.5)
    return steps


def _report_fixed(
    report: Report, fixed: dict[str, Any], actions: list[Action], skipped: list[str]
) -> None:
    table = report.table(
        f"latency at {fixed['rate']:g}/s for {fixed['seconds']:g} s "
        f"(achieved {fixed['achieved_rate']:.1f}/s), dispatch → first response, ms",
        ["action", "weight", "answered", "p50", "p90", "p99", "max"],
    )
    weights = {a.label: a.weight for a in actions}
    for name, stats in fixed["by_action_ms"].items():
        table.add(
            name,
            weights.get(name),
            stats["count"],
            stats["p50"],
            stats["p90"],
            stats["p99"],
            stats["max"],
        )
    o = fixed["overall_ms"]
    table.add("all", None, o["count"], o["p50"], o["p90"], o["p99"], o["max"])
    windows = report.table(
        f"the same run, {fixed['window_s']:g}-second windows, ms",
        ["from s", "answered", "p50", "p90", "p99", "max"],
    )
    for index, stats in enumerate(fixed["by_window_ms"]):
        windows.add(
            index * fixed["window_s"],
            stats["count"],
            stats["p50"],
            stats["p90"],
            stats["p99"],
            stats["max"],
        )
    report.note(
        f"CPU during the run (% of one core): bot process {fixed['bot_cpu_pct']:.0f}%, "
        f"sandbox + load generator {fixed['sandbox_cpu_pct']:.0f}%"
    )
    report.note(
        f"missed 3-second deadlines: {fixed['missed_deadlines']} of {fixed['sent']} "
        f"({fixed['late_answers']} answered late, {fixed['never_answered']} never answered)"
    )
    for line in skipped:
        report.note(f"not in the mix: {line}")


def _report_ramp(report: Report, ramp: list[dict[str, Any]], args: argparse.Namespace) -> None:
    table = report.table(
        f"throughput ceiling: rate raised x{args.ramp_factor:g} every {args.step_seconds:g} s "
        "until p99 passes 1 s",
        [
            "rate/s",
            "achieved/s",
            "answered",
            "p50",
            "p90",
            "p99",
            "max",
            "missed",
            "bot CPU%",
            "sandbox CPU%",
        ],
    )
    for step in ramp:
        o = step["overall_ms"]
        table.add(
            step["rate"],
            step["achieved_rate"],
            o["count"],
            o["p50"],
            o["p90"],
            o["p99"],
            o["max"],
            step["missed_deadlines"],
            step["bot_cpu_pct"],
            step["sandbox_cpu_pct"],
        )
    passed = next((s for s in ramp if (s["overall_ms"]["p99"] or 0) > 1000), None)
    good = [s for s in ramp if s is not passed and (s["overall_ms"]["p99"] or 0) <= 1000]
    if passed is not None:
        ceiling = f"p99 passed 1 s at {passed['rate']:.0f}/s"
        if good:
            ceiling += f"; highest rate below: {good[-1]['rate']:.0f}/s"
    elif ramp and ramp[-1]["achieved_rate"] < 0.9 * ramp[-1]["rate"]:
        ceiling = (
            f"the load generator could only send {ramp[-1]['achieved_rate']:.0f}/s of "
            f"{ramp[-1]['rate']:.0f}/s asked; p99 stayed under 1 s up to there"
        )
    else:
        top = ramp[-1]["rate"] if ramp else args.rate
        ceiling = f"p99 stayed under 1 s up to {top:.0f}/s (the ramp's limit)"
    report.note(f"ceiling: {ceiling}")
    report.data["ceiling"] = {
        "passed_1s_at": passed["rate"] if passed else None,
        "highest_below_1s": good[-1]["rate"] if good else None,
        "text": ceiling,
    }


def _fmt_mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MB"
