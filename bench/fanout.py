"""``fanout``: an organiser broadcasts to every team's space; how close to the rate limit's floor?

Set-up (not timed): the bot process starts on a fresh database; N teams are written to
it with bulk inserts, and their spaces are made **directly in the sandbox's server
state**, as :class:`cogs.teams.spaces.SpaceManager` would have made them: the same
placement rule (:func:`bot.services.team_spaces.place`: a text channel per team in
"Teams", "Teams 2"... until the channel budget minus ``[formation] channel_headroom``
is used, then a private thread in the hub channel), the same staff overwrites
(@everyone hidden, the bot and the Organiser role allowed), the thread owned by the
bot. Driving the bot's own space manager is not an option at this size: channel
creation is limited to 5 per 10 s per guild, so 400 channels alone would take over
13 minutes. Team members are not added (a broadcast does not look at them).

Discord allows 500 channels (categories included) and 1,000 active threads per server;
teams that fit in neither get no space and are reported (the bot's space manager would
hit the same wall).

Timed: the organiser runs ``/admin broadcast`` to "teams", fills the modal, presses
Confirm; the wall time runs from the Confirm click to the final "Done" edit of the
organiser's message. Reported against the floor the global limit sets (destinations /
``--global-limit``), with the 429s the sandbox sent (``rate_limiter.stats``) and
whether every space got exactly one message.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.harness import Report, bench_sandbox, bot_errors, mb

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


async def run(args: argparse.Namespace, report: Report) -> None:
    config: dict[str, Any] = {}
    if args.max_per_second:
        config["broadcasts"] = {"max_per_second": args.max_per_second}
    if args.headroom is not None:
        config["formation"] = {"channel_headroom": args.headroom}
    async with bench_sandbox(args, config=config) as (sb, startup):
        if args.global_limit != sb.rate_limiter.global_per_second and not args.no_rate_limits:
            sb.rate_limiter.global_per_second = args.global_limit
        began = time.monotonic()
        spaces, counts = make_spaces(sb, args.teams)
        await write_teams(sb.settings.database.url, args.teams, spaces)
        organiser = await sb.add_member("org", roles=[sb.settings.roles.organiser])
        await sb.settle()
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
        sb.take_violations()
        before = dict(sb.rate_limiter.stats)
        # The click is fired without waiting (the driver's click() waits for the whole
        # fan-out to settle); the organiser's message is then read as it is edited.
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
        while time.monotonic() < deadline:
            if first_answer_s is None and record.response_type is not None:
                first_answer_s = time.monotonic() - started
            text = (sb.server.messages.get(message["id"]) or {}).get("content") or ""
            if text != last:
                edits.append((time.monotonic() - started, text))
                last = text
            if text.startswith("Done"):
                break
            await asyncio.sleep(0.01)
        wall = time.monotonic() - started
        await sb.settle()
        stats = sb.rate_limiter.stats
        delivered = [len(sb.channel(channel_id).messages) for _, channel_id in spaces]
        memory = sb.bot_memory()
        errors = bot_errors(sb)
        violations = sb.take_violations()

    destinations = len(spaces)
    floor = destinations / args.global_limit if args.global_limit else 0.0
    limited = stats["rate_limited"] - before["rate_limited"]
    global_limited = stats["global_rate_limited"] - before["global_rate_limited"]
    finished = bool(edits) and edits[-1][1].startswith("Done")
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
        final_text=edits[-1][1] if edits else None,
        progress=[{"at_s": at, "text": text} for at, text in edits],
        setup_s=setup_s,
        startup_s=startup.ready_s,
        bot_peak_rss_mb=mb(memory.get("VmHWM")),
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
