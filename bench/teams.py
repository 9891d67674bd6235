"""``teams``: N participants each run ``/team create``; the bot's CPU per interaction and the
time until every new team can use its space.

Set-up (not timed): the bot process starts on a fresh database; N members join the
server, get the Participant role (a GUILD_MEMBER_UPDATE the bot hears) and are written to
the database as ``/register`` leaves them (a ``members`` and a ``profiles`` row, in bulk:
the registration form is another benchmark's subject). The bot's CPU at rest is then
measured over ``--idle-seconds`` (heartbeats, timers, the outbox worker's polling).

Timed: the N participants send ``/team create name:"Crew <i>"`` through the real
command, ``--rate`` per second, from the first click until every creator can see their
team's space in the sandbox (made by the bot's own space manager, under Discord's limits:
a new channel is limited to 5 per 10 s per server, so channel spaces for many teams take
a while; ``--headroom`` large makes private threads instead). Reported: how fast the
answers came, when the last space was visible, how many answers gained their space's
link, and the **bot process's** CPU time (user + system from ``/proc/<pid>/stat``) over
the whole timed phase, per interaction, in total and net of the rate at rest.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.fanout import bot_channels_made
from bench.harness import (
    Report,
    bench_sandbox,
    bot_errors,
    cpu_seconds,
    insert_members,
    mb,
    summary_ms,
)

APPLICATION_COMMAND = 2

DESCRIPTION = "N participants create a team each: bot CPU per interaction, time until spaces"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teams", type=int, default=40, help="teams created (default 40)")
    parser.add_argument(
        "--rate", type=float, default=10.0, help="/team create sent per second (default 10)"
    )
    parser.add_argument(
        "--headroom",
        type=int,
        help="[formation] channel_headroom (default: the bot's own; a large one makes threads)",
    )
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=10.0,
        help="measure the bot's CPU at rest this long before the first click (default 10)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=600.0,
        help="give up waiting for the spaces after this many seconds (default 600)",
    )


async def register(sb: Any, members: list[Any]) -> None:
    """``members`` registered: the Participant role, a members row and a profiles row each."""
    from sqlalchemy import insert

    from bot.clock import utcnow
    from bot.db import Database
    from bot.models import Profile

    role = next(r for r in sb.guild.roles.values() if r["name"] == sb.settings.roles.participant)
    for m in members:
        sb.server.set_member_roles(sb.guild, str(m.id), [role["id"]])
    now = utcnow()
    db = Database(sb.settings.database.url)
    try:
        async with db.begin() as session:
            ids = await insert_members(session, members, now)
            await session.execute(
                insert(Profile),
                [
                    {
                        "member_id": member_id,
                        "display_name": m.name.title(),
                        "profile_types": ["Developer"],
                        "skills": [],
                        "languages": ["English"],
                        "timezone": "UTC",
                        "wishes": [],
                        "autoform": True,
                        "registered_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for member_id, m in zip(ids, members, strict=True)
                ],
            )
    finally:
        await db.dispose()
    await sb.settle()


async def run(args: argparse.Namespace, report: Report) -> None:
    from bot.services.names import slugify

    config: dict[str, Any] = {}
    if args.headroom is not None:
        config["formation"] = {"channel_headroom": args.headroom}
    async with bench_sandbox(args, config=config) as (sb, startup):
        await bot_channels_made(sb)  # the help queue: a channel made after "ready"
        members = await sb.add_members(args.teams, prefix="creator")
        await register(sb, members)
        names = [f"Crew {i + 1}" for i in range(args.teams)]
        slugs = [slugify(name) for name in names]
        pid = sb.bot_pid
        idle = cpu_seconds(pid)
        await asyncio.sleep(args.idle_seconds)
        idle_rate = (cpu_seconds(pid) - idle) / args.idle_seconds if args.idle_seconds else 0.0
        sb.take_violations()
        requests = sb.rate_limiter.stats["requests"]
        routes_before = sb.rate_limiter.stats.get("by_route", {})

        cpu_start = cpu_seconds(pid)
        started = time.monotonic()
        deadline = started + args.max_wait
        records: list[Any] = []
        visible_s: list[float | None] = [None] * args.teams
        answered_all_s = answered_all_cpu = None
        gap = 1.0 / args.rate if args.rate > 0 else 0.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            while len(records) < args.teams and now - started >= len(records) * gap:
                i = len(records)
                view, data = members[i].slash_data("team create", name=names[i])
                records.append(sb.fire(members[i], view, APPLICATION_COMMAND, data))
            if answered_all_s is None and len(records) == args.teams:
                if all(r.completed or r.followup_ids for r in records):
                    answered_all_s = now - started
                    answered_all_cpu = cpu_seconds(pid) - cpu_start
            pending = [i for i, at in enumerate(visible_s) if at is None and i < len(records)]
            if pending:
                by_name = {c.get("name"): c["id"] for c in sb.guild.channels.values()}
                for i in pending:
                    channel_id = by_name.get(slugs[i])
                    if channel_id and sb.server.can_view(str(members[i].id), channel_id):
                        visible_s[i] = now - started
            if answered_all_s is not None and all(at is not None for at in visible_s):
                break
            await asyncio.sleep(0.02)
        wall = time.monotonic() - started
        cpu_used = cpu_seconds(pid) - cpu_start
        await sb.settle()
        requests = sb.rate_limiter.stats["requests"] - requests
        by_route = {
            route: n - routes_before.get(route, 0)
            for route, n in sb.rate_limiter.stats.get("by_route", {}).items()
            if n > routes_before.get(route, 0)
        }
        linked = 0
        for i, record in enumerate(records):
            original = sb.server.messages.get(record.original_id or "") or {}
            channel_id = next(
                (c["id"] for c in sb.guild.channels.values() if c.get("name") == slugs[i]), None
            )
            if channel_id and f"<#{channel_id}>" in (original.get("content") or ""):
                linked += 1
        kinds = {"channel": 0, "thread": 0}
        for c in sb.guild.channels.values():
            if c.get("name") in set(slugs):
                kinds["thread" if c.get("thread_metadata") else "channel"] += 1
        memory = sb.bot_memory()
        errors = bot_errors(sb)
        violations = sb.take_violations()

    count = args.teams
    answers = [r.responded_mono - r.created_mono for r in records if r.responded_mono is not None]
    seen = [at for at in visible_s if at is not None]
    spaces_all_s = max(seen) if len(seen) == count else None
    net = max(0.0, cpu_used - idle_rate * wall)
    table = report.table(
        f"{count} × /team create at {args.rate:g}/s, {args.latency_ms:g} ms latency",
        ["figure", "value"],
    )
    table.add("first answer, p50 / max (ms)", _pair(summary_ms(answers)))
    table.add("every answer filled in (s after the first click)", answered_all_s)
    table.add("spaces made: channels / threads", f"{kinds['channel']} / {kinds['thread']}")
    table.add("every creator sees their space (s)", spaces_all_s)
    table.add("answers that gained their space's link", f"{linked} / {count}")
    table.add("REST requests by the bot", requests)
    table.add("bot CPU until every answer (s)", answered_all_cpu)
    table.add("bot CPU until every space (s)", cpu_used)
    table.add("bot CPU per interaction (ms)", 1000 * cpu_used / count)
    table.add("bot CPU at rest (ms/s)", 1000 * idle_rate)
    table.add("bot CPU per interaction, net of rest (ms)", 1000 * net / count)
    table.add("bot peak RSS (MB)", mb(memory.get("VmHWM")))
    report.data.update(
        teams=count,
        rate=args.rate,
        answers_ms=summary_ms(answers),
        answered_all_s=answered_all_s,
        spaces=kinds,
        spaces_all_s=spaces_all_s,
        visible=len(seen),
        linked=linked,
        requests=requests,
        requests_by_route=by_route,
        wall_s=wall,
        bot_cpu_answers_s=answered_all_cpu,
        bot_cpu_s=cpu_used,
        bot_cpu_ms_per_interaction=1000 * cpu_used / count,
        bot_idle_cpu_ms_per_s=1000 * idle_rate,
        bot_net_cpu_ms_per_interaction=1000 * net / count,
        bot_peak_rss_mb=mb(memory.get("VmHWM")),
        bot_rss_mb=mb(memory.get("VmRSS")),
        startup_s=startup.ready_s,
        bot_error_lines=len(errors),
        violations=[str(v) for v in violations],
    )
    if spaces_all_s is None:
        report.note(f"{count - len(seen)} creators could not see a space after {wall:.0f} s")
    report.note(
        f"{len(errors)} ERROR lines; {len(violations)} sandbox refusals; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}"
    )
    for line in errors[:5]:
        report.note(f"bot error: {line}")
    report.note(
        "requests by route: "
        + ", ".join(f"{route} {n}" for route, n in sorted(by_route.items(), key=lambda r: -r[1]))
    )


def _pair(summary: dict[str, Any]) -> str:
    p50, top = summary.get("p50"), summary.get("max")
    return "-" if p50 is None else f"{p50:.0f} / {top:.0f}"
