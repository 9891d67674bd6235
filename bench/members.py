"""``members``: start the bot on a guild of N members; how long until it is ready, and how much
memory does it take with every member cached?

The guild is larger than the bot's ``large_threshold``, so (as on Discord) GUILD_CREATE
carries no member list and the bot asks for all members (op 8) and gets them in
chunks of 1,000. Reported: the time from spawning the process to its IDENTIFY, to its
member request and to "hackbot ready" (guild set up, commands synced, members
chunked), and the bot process's RSS (``VmRSS`` after it settled, ``VmHWM`` peak) from
/proc. A baseline run with a handful of members shows what the members themselves cost.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, mb

DESCRIPTION = "bot start-up time and memory with N guild members cached"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--members", type=int, default=28_000, help="members in the guild (default 28000)"
    )
    parser.add_argument(
        "--baseline",
        type=int,
        default=10,
        help="members in the baseline run (default 10; 0: no baseline run)",
    )
    parser.add_argument(
        "--hold-seconds",
        type=float,
        default=2.0,
        help="how long the ready bot keeps running before its memory is read (default 2)",
    )


async def measure(args: argparse.Namespace, members: int) -> dict[str, Any]:
    async with bench_sandbox(args, members=members) as (sb, startup):
        await asyncio.sleep(args.hold_seconds)
        count = len(sb.guild.members)  # with the guild's owner and the bot
        # It answers with everything cached.
        someone = (await sb.add_members(1, prefix="late"))[0]
        reply = await someone.slash("about")
        memory = sb.bot_memory()
        gateway = sb.server.gateway
        return {
            "members": count,
            "identify_s": startup.identify_s,
            "chunk_request_s": startup.chunk_request_s,
            "ready_s": startup.ready_s,
            "member_requests": gateway.request_members_count,
            "rss_mb": mb(memory.get("VmRSS")),
            "peak_rss_mb": mb(memory.get("VmHWM")),
            "about_answered": reply.embed is not None,
            "bot_error_lines": len(bot_errors(sb)),
            "violations": [str(v) for v in sb.take_violations()],
        }


async def run(args: argparse.Namespace, report: Report) -> None:
    runs: list[dict[str, Any]] = []
    if args.baseline:
        runs.append(await measure(args, args.baseline))
    runs.append(await measure(args, args.members))
    table = report.table(
        "bot start-up and memory (seconds after the process was spawned; MB)",
        [
            "members",
            "IDENTIFY s",
            "member request s",
            "ready s",
            "RSS MB",
            "peak RSS MB",
            "errors",
        ],
    )
    for result in runs:
        table.add(
            result["members"],
            result["identify_s"],
            result["chunk_request_s"],
            result["ready_s"],
            result["rss_mb"],
            result["peak_rss_mb"],
            result["bot_error_lines"] + len(result["violations"]),
        )
    report.data["runs"] = runs
    if len(runs) == 2 and runs[0]["peak_rss_mb"] and runs[1]["peak_rss_mb"]:
        extra = runs[1]["peak_rss_mb"] - runs[0]["peak_rss_mb"]
        count = runs[1]["members"] - runs[0]["members"]
        per_member_kb = extra * 1024 / count if count else 0.0
        report.data["per_member_kb"] = per_member_kb
        report.note(
            f"the {count} extra members cost {extra:.0f} MB of peak RSS ({per_member_kb:.1f} kB each)"
        )
    report.note(
        "ready includes discord.py's guild_ready_timeout (2 s after the last GUILD_CREATE) and "
        f"the guild set-up; {args.latency_ms:g} ms is added to every REST answer; database "
        f"{'PostgreSQL' if args.database else 'SQLite'}"
    )
