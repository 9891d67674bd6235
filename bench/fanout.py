"""``fanout``: an organiser broadcasts to every team's space; how close to the rate limit's
floor, at what CPU cost to the bot, and does an urgent write still get through?

Set-up (not timed): the bot process starts on a fresh database and makes its own
channels (the help queue comes a moment after "ready": the set-up waits for it); N teams
are written to it with bulk inserts, and their spaces are made **directly in the
sandbox's server state**, as :class:`cogs.teams.spaces.SpaceManager` would have made them: the same
placement rule (:func:`bot.services.team_spaces.place`: a text channel per team in
"Teams", "Teams 2"... until the channel budget minus ``[formation] channel_headroom``
is used, then a private thread in the hub channel), the same staff overwrites
(@everyone hidden, the bot and the Organiser role allowed), the thread owned by the
bot. Driving the bot's own space manager is not an option at this size: channel
creation is limited to 5 per 10 s per guild, so 400 channels alone would take over
13 minutes. Team members are not added (a broadcast does not look at them), except
for the one team of ``--urgent`` below.

Discord allows 500 channels (categories included) and 1,000 active threads per server;
teams that fit in neither get no space and are reported (the bot's space manager would
hit the same wall).

Timed: the organiser runs ``/admin broadcast`` to "teams", fills the modal, presses
Confirm; the wall time runs from the Confirm click to the final "Done" edit of the
organiser's message. Reported against the floor the global limit sets (destinations /
``--global-limit``), with the 429s the sandbox sent (``rate_limiter.stats``) and
whether every space got exactly one broadcast message (messages whose embed or text
carries the broadcast's title; the ``--urgent`` team's space also holds help messages).

CPU and memory: the **bot process's** CPU time (user + system, from ``/proc/<pid>/stat``,
10 ms ticks) from the Confirm click to the "Done" edit, in total and per delivered
message; the bot's CPU while idle is measured over ``--idle-seconds`` just before (the
gateway heartbeat, timers, the outbox worker's polling) and the broadcast's figure is
also given net of that idle rate. The bot's peak RSS (``VmHWM``) is read at the end.

``--urgent [channel|thread]``: the bot must carry an urgent write while the broadcast
runs. Set-up, not timed: one participant (a server member with the Participant role, a
``members`` row and a ``profiles`` row, as ``/register`` leaves them) is written to the
database as the captain and only member of one team (the last team with a space of
that kind; default: the last team with a space, a private thread when there are
threads), and given access to the team's space in the sandbox as the space manager would
have (a member overwrite on a channel, a thread membership on a thread). A mentor (the
Mentor role) sets skills with ``/mentor skills`` and goes on duty with ``/mentor duty
on``; the participant asks with ``/help ask`` (topic "python"), all through the real
commands. Timed: ``--urgent-after`` seconds after Confirm the mentor clicks "Claim" on
the ticket's card in the help queue; the bot must then give the mentor access to the
team's space (a permission overwrite on a channel, a thread member add on a thread,
both urgent outbox writes since the outbox exists). Reported: from the Claim click to
the moment the sandbox lets the mentor see the space, next to the broadcast's duration.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, cpu_seconds, mb

MESSAGE_COMPONENT = 3

DESCRIPTION = "a broadcast to N team spaces under the global rate limit"

TITLE = "Demo time"
BODY = "Demos start at 14:00 in the main stage. Be ready five minutes early."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teams", type=int, default=1500, help="teams with a space (default 1500)")
    parser.add_argument(
        "--global-limit",
        type=int,
        default=50,
        help="the sandbox's global requests/s limit (default 50, Discord's)",
    )
    parser.add_argument(
        "--max-per-second",
        type=int,
        help="[broadcasts] max_per_second for the bot (default: the bot's own default)",
    )
    parser.add_argument(
        "--headroom",
        type=int,
        help="[formation] channel_headroom (default: the bot's own; a large one makes threads)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=600.0,
        help="give up waiting for the final report after this many seconds (default 600)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=2.0,
        help="measure the bot's CPU at rest this long before Confirm (default 2)",
    )
    parser.add_argument(
        "--urgent",
        nargs="?",
        const="auto",
        choices=["auto", "channel", "thread"],
        help="while the broadcast runs, a mentor claims a team's help ticket: time until the"
        " mentor sees the team's space (a channel or thread space; default: the last team's)",
    )
    parser.add_argument(
        "--urgent-after",
        type=float,
        default=5.0,
        help="with --urgent: seconds after Confirm the mentor clicks Claim (default 5)",
    )


def _staff_overwrites(sb: Any, view_only: bool = False) -> list[dict]:
    """What SpaceManager._staff_overwrites gives a team channel (ids as strings)."""
    import discord

    from cogs.teams.spaces import bot_overwrite

    guild = sb.guild
    organiser = next(
        (r for r in guild.roles.values() if r["name"] == sb.settings.roles.organiser), None
    )
    hidden = discord.PermissionOverwrite(view_channel=False).pair()
    bot = bot_overwrite().pair()
    result = [
        {"id": guild.id, "type": 0, "allow": "0", "deny": str(hidden[1].value)},
        {
            "id": str(sb.bot_user_id),
            "type": 1,
            "allow": str(bot[0].value),
            "deny": str(bot[1].value),
        },
    ]
    if organiser is not None:
        staff = discord.PermissionOverwrite(
            view_channel=True, send_messages=True, read_message_history=True
        ).pair()
        result.append(
            {
                "id": organiser["id"],
                "type": 0,
                "allow": str(staff[0].value),
                "deny": str(staff[1].value),
            }
        )
    return result


def _hub_overwrites(sb: Any) -> list[dict]:
    import discord

    overwrites = _staff_overwrites(sb)
    by_name = {r["name"]: r for r in sb.guild.roles.values()}
    settings = sb.settings
    organiser = by_name.get(settings.roles.organiser)
    if organiser is not None:
        allow, deny = discord.PermissionOverwrite(
            view_channel=True, send_messages=True, manage_threads=True
        ).pair()
        overwrites = [o for o in overwrites if o["id"] != organiser["id"]]
        overwrites.append(
            {"id": organiser["id"], "type": 0, "allow": str(allow.value), "deny": str(deny.value)}
        )
    for name in (settings.roles.participant, settings.roles.mentor):
        role = by_name.get(name)
        if role is not None:
            allow, deny = discord.PermissionOverwrite(
                view_channel=True,
                send_messages=False,
                send_messages_in_threads=True,
                read_message_history=True,
            ).pair()
            overwrites.append(
                {"id": role["id"], "type": 0, "allow": str(allow.value), "deny": str(deny.value)}
            )
    return overwrites


def make_spaces(sb: Any, count: int) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """Channels then private threads for ``count`` teams, in the server state; returns
    ``[(kind, channel_id)]`` (one per team that got a space) and counts."""
    from bot.services import team_spaces
    from sandbox.rules.limits import ACTIVE_THREADS_MAX
    from sandbox.server import state as st

    server, guild, settings = sb.server, sb.guild, sb.settings
    base = settings.channels.team_category
    categories: dict[int, dict] = {}
    layout_categories = []
    for channel in guild.guild_channels():
        if channel["type"] == st.GUILD_CATEGORY:
            index = team_spaces.category_index(channel["name"], base)
            if index is not None:
                children = sum(
                    1 for c in guild.guild_channels() if c.get("parent_id") == channel["id"]
                )
                layout_categories.append(
                    team_spaces.TeamCategory(int(channel["id"]), channel["name"], index, children)
                )
                categories[int(channel["id"])] = channel
    hub = next(
        (
            c
            for c in guild.guild_channels()
            if c["name"] == settings.formation.hub_channel and c["type"] == st.GUILD_TEXT
        ),
        None,
    )
    layout = team_spaces.GuildLayout(
        channels=len(guild.guild_channels()),
        categories=sorted(layout_categories, key=lambda c: c.index),
        base_name=base,
        headroom=settings.formation.channel_headroom,
        voice=settings.teams.voice_channels,
        hub_exists=hub is not None,
    )
    spaces: list[tuple[str, int]] = []
    counts = {"channels": 0, "categories": 0, "threads": 0, "no_space": 0}
    for index in range(count):
        slug = f"team-{index + 1}"
        placement = team_spaces.place(layout)
        if placement.kind == "thread":
            if hub is None:
                hub = server.create_channel(
                    guild,
                    {
                        "name": settings.formation.hub_channel,
                        "type": st.GUILD_TEXT,
                        "permission_overwrites": _hub_overwrites(sb),
                    },
                )
            if len(guild.active_threads()) >= ACTIVE_THREADS_MAX:
                counts["no_space"] += 1
                continue
            thread = server.create_thread(
                guild,
                hub,
                name=slug,
                owner_id=str(sb.bot_user_id),
                thread_type=st.PRIVATE_THREAD,
                auto_archive_duration=10080,
                invitable=False,
            )
            layout.apply(placement)
            spaces.append(("thread", int(thread["id"])))
            counts["threads"] += 1
            continue
        if placement.new_category is not None:
            category = server.create_channel(
                guild,
                {
                    "name": placement.new_category.name,
                    "type": st.GUILD_CATEGORY,
                    "permission_overwrites": _staff_overwrites(sb),
                },
            )
            placement.new_category.id = int(category["id"])
            categories[int(category["id"])] = category
            counts["categories"] += 1
            parent_id = category["id"]
        else:
            parent_id = str(placement.category_id)
        channel = server.create_channel(
            guild,
            {
                "name": slug,
                "type": st.GUILD_TEXT,
                "parent_id": parent_id,
                "permission_overwrites": _staff_overwrites(sb),
                "topic": f"Team {index + 1}",
            },
        )
        layout.apply(placement)
        spaces.append(("channel", int(channel["id"])))
        counts["channels"] += 1
    return spaces, counts


async def write_teams(url: str, count: int, spaces: list[tuple[str, int]]) -> None:
    """``count`` teams in the bot's database; the first ``len(spaces)`` have a space."""
    from sqlalchemy import insert

    from bot.clock import utcnow
    from bot.db import Database
    from bot.models import Team

    now = utcnow()
    db = Database(url)
    try:
        rows = []
        for index in range(count):
            kind, channel_id = spaces[index] if index < len(spaces) else (None, None)
            rows.append(
                {
                    "name": f"Team {index + 1}",
                    "name_folded": f"team {index + 1}",
                    "slug": f"team-{index + 1}",
                    "description": "",
                    "open": False,
                    "looking_for": [],
                    "space_kind": kind,
                    "channel_id": channel_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        async with db.begin() as session:
            await session.execute(insert(Team), rows)
    finally:
        await db.dispose()


# -- the urgent write: a mentor claims a ticket while the broadcast runs ----------------------


@dataclass
class Urgent:
    """What ``--urgent`` set up, and what the timed phase saw."""

    team: str
    kind: str
    channel_id: int
    asker: Any
    mentor: Any
    card: dict
    record: Any = None
    fired_s: float | None = None  # after Confirm
    answered_s: float | None = None  # after the Claim click
    visible_s: float | None = None  # after the Claim click


def _urgent_index(spaces: list[tuple[str, int]], kind: str) -> int:
    wanted = [i for i, (k, _) in enumerate(spaces) if kind == "auto" or k == kind]
    if not wanted:
        raise SystemExit(f"--urgent {kind}: no team has a space of that kind at this size")
    return wanted[-1]


async def _write_member_of_team(url: str, member: Any, slug: str) -> None:
    """``member`` registered (a members and a profiles row) and the captain and only member
    of the team ``slug``, as /register then /team create leave them."""
    from sqlalchemy import insert, select, update

    from bot.clock import utcnow
    from bot.db import Database
    from bot.models import Member, Profile, Team, TeamMember

    now = utcnow()
    db = Database(url)
    try:
        async with db.begin() as session:
            member_id = await session.scalar(
                insert(Member)
                .values(
                    discord_id=member.id,
                    display_name=member.name,
                    locale=None,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Member.id)
            )
            await session.execute(
                insert(Profile).values(
                    member_id=member_id,
                    display_name=member.name.title(),
                    profile_types=["Developer"],
                    skills=["Python"],
                    languages=["English"],
                    timezone="UTC",
                    wishes=[],
                    autoform=True,
                    registered_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            team_id = await session.scalar(select(Team.id).where(Team.slug == slug))
            await session.execute(
                update(Team).where(Team.id == team_id).values(captain_member_id=member_id)
            )
            await session.execute(
                insert(TeamMember).values(team_id=team_id, member_id=member_id, joined_at=now)
            )
    finally:
        await db.dispose()


async def prepare_urgent(sb: Any, spaces: list[tuple[str, int]], kind: str) -> Urgent:
    """A team with one member who asked for help, and a mentor on duty (see the docstring)."""
    from cogs.teams.spaces import member_overwrite

    index = _urgent_index(spaces, kind)
    space_kind, channel_id = spaces[index]
    slug = f"team-{index + 1}"
    roles = sb.settings.roles
    asker = await sb.add_member("asker", roles=[roles.participant])
    mentor = await sb.add_member("mentor", roles=[roles.mentor])
    await _write_member_of_team(sb.settings.database.url, asker, slug)
    space = sb.guild.channels[str(channel_id)]
    if space_kind == "thread":
        sb.server.add_thread_member(sb.guild, space, str(asker.id))
    else:
        allow, deny = member_overwrite().pair()
        sb.server.set_overwrite(sb.guild, space, str(asker.id), 1, allow.value, deny.value)
    await sb.settle()
    if not sb.can_view(asker, channel_id) or sb.can_view(mentor, channel_id):
        raise SystemExit("--urgent: the asker should see the team's space and the mentor not")
    await mentor.slash("mentor skills", skills="Python")
    duty = await mentor.slash("mentor duty on")
    if "on duty" not in duty.text:
        raise SystemExit(f"/mentor duty on: {duty.text}")
    asked = await asker.slash(
        "help ask", topic="python", description="Our API answers 500 to every request"
    )
    if "in the queue" not in asked.text:
        raise SystemExit(f"/help ask: {asked.text}")
    await sb.settle()
    queue = sb.channel(sb.settings.channels.help_queue)
    card = next(
        (
            m
            for m in queue.messages
            if m.get("embeds")
            and any(
                b.get("label") == "Claim"
                for row in m.get("components") or []
                for b in row.get("components", [])
            )
        ),
        None,
    )
    if card is None:
        raise SystemExit("--urgent: the ticket's card is not in the help queue")
    return Urgent(f"Team {index + 1}", space_kind, channel_id, asker, mentor, card)


def claim(sb: Any, urgent: Urgent) -> Any:
    """The mentor clicks "Claim" on the card (fired: the answer is read as it comes)."""
    button = next(
        b
        for row in urgent.card["components"]
        for b in row.get("components", [])
        if b.get("label") == "Claim"
    )
    return sb.fire(
        urgent.mentor,
        sb.channel(urgent.card["channel_id"]),
        MESSAGE_COMPONENT,
        {"custom_id": button["custom_id"], "component_type": 2},
        message=urgent.card,
    )


def _is_broadcast(message: dict) -> bool:
    if TITLE in (message.get("content") or ""):
        return True
    return any(e.get("title") == TITLE for e in message.get("embeds") or [])


# -- the run ----------------------------------------------------------------------------------


async def bot_channels_made(sb: Any, max_wait: float = 30.0) -> None:
    """Wait until the bot has made the channels it makes just after start-up (the help
    queue comes a moment after "ready"): spaces made before it would take its slot, and
    the bot would then make it in the middle of the run."""
    name = sb.settings.channels.help_queue
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline:
        if any(c.get("name") == name for c in sb.guild.guild_channels()):
            break
        await asyncio.sleep(0.05)
    await sb.settle()


async def run(args: argparse.Namespace, report: Report) -> None:
    config: dict[str, Any] = {}
    if args.max_per_second:
        config["broadcasts"] = {"max_per_second": args.max_per_second}
    if args.headroom is not None:
        config["formation"] = {"channel_headroom": args.headroom}
    urgent: Urgent | None = None
    async with bench_sandbox(args, config=config) as (sb, startup):
        if args.global_limit != sb.rate_limiter.global_per_second and not args.no_rate_limits:
            sb.rate_limiter.global_per_second = args.global_limit
        began = time.monotonic()
        await bot_channels_made(sb)
        spaces, counts = make_spaces(sb, args.teams)
        await write_teams(sb.settings.database.url, args.teams, spaces)
        organiser = await sb.add_member("org", roles=[sb.settings.roles.organiser])
        await sb.settle()
        if args.urgent:
            urgent = await prepare_urgent(sb, spaces, args.urgent)
        setup_s = time.monotonic() - began

        opened = await organiser.slash("admin broadcast", to="teams")
        if opened.modal is None:
            raise SystemExit(f"/admin broadcast did not open its form: {opened.text}")
        labels = [c["components"][0]["label"] for c in opened.modal["components"]]
        preview = await organiser.submit_modal(
            opened, dict(zip(labels, (TITLE, BODY), strict=True))
        )
        message = preview.message
        assert message is not None, "the preview message is gone"
        button = next(
            b
            for row in message["components"]
            for b in row.get("components", [])
            if b.get("label") and b["label"] != "Cancel"
        )
        await sb.settle()
        # The bot at rest, just before: what it spends anyway (heartbeats, timers, polling).
        pid = sb.bot_pid
        idle_cpu = cpu_seconds(pid)
        await asyncio.sleep(args.idle_seconds)
        idle_rate = (cpu_seconds(pid) - idle_cpu) / args.idle_seconds if args.idle_seconds else 0.0
        sb.take_violations()
        before = dict(sb.rate_limiter.stats)
        # The click is fired without waiting (the driver's click() waits for the whole
        # fan-out to settle); the organiser's message is then read as it is edited.
        cpu_start = cpu_seconds(pid)
        started = time.monotonic()
        record = sb.fire(
            organiser,
            sb.channel(message["channel_id"]),
            MESSAGE_COMPONENT,
            {"custom_id": button["custom_id"], "component_type": 2},
            message=message,
        )
        first_answer_s = None
        edits: list[tuple[float, str]] = []
        deadline = started + args.max_wait
        last = None
        wall = cpu_used = None
        fired_at = 0.0
        space_id = str(urgent.channel_id) if urgent else ""
        mentor_id = str(urgent.mentor.id) if urgent else ""
        while time.monotonic() < deadline:
            now = time.monotonic()
            if first_answer_s is None and record.response_type is not None:
                first_answer_s = now - started
            if wall is None:
                text = (sb.server.messages.get(message["id"]) or {}).get("content") or ""
                if text != last:
                    edits.append((now - started, text))
                    last = text
                if text.startswith("Done"):
                    wall = now - started
                    cpu_used = cpu_seconds(pid) - cpu_start
            if urgent is not None:
                if urgent.record is None and now - started >= args.urgent_after:
                    urgent.record = claim(sb, urgent)
                    urgent.fired_s = now - started
                    fired_at = now
                elif urgent.record is not None:
                    if urgent.answered_s is None and urgent.record.response_type is not None:
                        urgent.answered_s = now - fired_at
                    if urgent.visible_s is None and sb.server.can_view(mentor_id, space_id):
                        urgent.visible_s = now - fired_at
            if wall is not None and (urgent is None or urgent.visible_s is not None):
                break
            await asyncio.sleep(0.01)
        if wall is None:
            wall = time.monotonic() - started
            cpu_used = cpu_seconds(pid) - cpu_start
        await sb.settle()
        stats = sb.rate_limiter.stats
        delivered = [
            sum(1 for m in sb.channel(channel_id).messages if _is_broadcast(m))
            for _, channel_id in spaces
        ]
        memory = sb.bot_memory()
        errors = bot_errors(sb)
        violations = sb.take_violations()

    destinations = len(spaces)
    delivered_count = sum(1 for n in delivered if n >= 1)
    floor = destinations / args.global_limit if args.global_limit else 0.0
    limited = stats["rate_limited"] - before["rate_limited"]
    global_limited = stats["global_rate_limited"] - before["global_rate_limited"]
    finished = bool(edits) and edits[-1][1].startswith("Done")
    net_cpu = max(0.0, cpu_used - idle_rate * wall)
    per_write_ms = 1000 * cpu_used / delivered_count if delivered_count else None
    net_per_write_ms = 1000 * net_cpu / delivered_count if delivered_count else None
    table = report.table(
        f"broadcast to {destinations} team spaces under {args.global_limit} requests/s "
        f"and {args.latency_ms:g} ms latency",
        ["figure", "value"],
    )
    table.add("teams / with a space", f"{args.teams} / {destinations}")
    table.add(
        "spaces: channels / threads / categories",
        f"{counts['channels']} / {counts['threads']} / {counts['categories']}",
    )
    table.add("wall time, Confirm → final report (s)", wall if finished else None)
    table.add("floor, destinations / limit (s)", floor)
    table.add("wall / floor (target ≤ 1.2)", wall / floor if finished and floor else None)
    table.add("first answer to Confirm (s)", first_answer_s)
    table.add("429s (global)", f"{limited} ({global_limited})")
    table.add("requests during the fan-out", stats["requests"] - before["requests"])
    table.add("spaces with exactly one message", sum(1 for n in delivered if n == 1))
    table.add("progress edits seen", max(0, len(edits) - 1))
    table.add("bot CPU, Confirm → final report (s)", cpu_used)
    table.add("bot CPU per delivered message (ms)", per_write_ms)
    table.add("bot CPU at rest (ms/s)", 1000 * idle_rate)
    table.add("bot CPU per delivered message, net of rest (ms)", net_per_write_ms)
    table.add("bot peak RSS (MB)", mb(memory.get("VmHWM")))
    urgent_data = None
    if urgent is not None:
        during = urgent.fired_s is not None and urgent.fired_s < wall
        table.add(
            f"urgent: mentor's Claim on {urgent.team} ({urgent.kind}), s after Confirm",
            urgent.fired_s,
        )
        table.add("urgent: Claim answered (s after the click)", urgent.answered_s)
        table.add("urgent: mentor sees the team space (s after the click)", urgent.visible_s)
        table.add("urgent: claimed while the broadcast ran", "yes" if during else "NO")
        urgent_data = {
            "team": urgent.team,
            "kind": urgent.kind,
            "fired_s": urgent.fired_s,
            "answered_s": urgent.answered_s,
            "visible_s": urgent.visible_s,
            "during_broadcast": during,
        }
    report.data.update(
        teams=args.teams,
        destinations=destinations,
        spaces=counts,
        wall_s=wall if finished else None,
        finished=finished,
        floor_s=floor,
        ratio=wall / floor if finished and floor else None,
        first_answer_s=first_answer_s,
        rate_limited=limited,
        global_rate_limited=global_limited,
        limited_by_route=stats["limited_by_route"],
        requests=stats["requests"] - before["requests"],
        exactly_once=sum(1 for n in delivered if n == 1),
        delivered=delivered_count,
        final_text=edits[-1][1] if edits else None,
        progress=[{"at_s": at, "text": text} for at, text in edits],
        setup_s=setup_s,
        startup_s=startup.ready_s,
        bot_cpu_s=cpu_used,
        bot_cpu_ms_per_message=per_write_ms,
        bot_idle_cpu_ms_per_s=1000 * idle_rate,
        bot_net_cpu_ms_per_message=net_per_write_ms,
        bot_peak_rss_mb=mb(memory.get("VmHWM")),
        bot_rss_mb=mb(memory.get("VmRSS")),
        urgent=urgent_data,
        bot_error_lines=len(errors),
        violations=[str(v) for v in violations],
    )
    if counts["no_space"]:
        report.note(
            f"{counts['no_space']} teams got no space: the server's 500 channels (minus "
            f"{sb.settings.formation.channel_headroom} headroom) and 1,000 active threads are used up"
        )
    if not finished:
        report.note(f"the final report did not come within {args.max_wait:g} s")
    if urgent is not None and urgent.visible_s is None:
        report.note(f"the mentor could not see the team space within {args.max_wait:g} s")
    ratio = wall / floor if finished and floor else None
    verdict = "met" if ratio is not None and ratio <= 1.2 and limited <= 5 else "NOT met"
    report.note(
        f"target (≤ 1.2 × floor, a handful of 429s at most): {verdict}; set-up {setup_s:.1f} s; "
        f"bot peak RSS {mb(memory.get('VmHWM')) or 0:.0f} MB; {len(errors)} ERROR lines; "
        f"{len(violations)} sandbox refusals; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}"
    )
    for line in errors[:5]:
        report.note(f"bot error: {line}")
