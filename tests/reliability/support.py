"""Helpers for the fault tests: many teams seeded at once, the bot's database read from the
test (the bot may be another process), many members acting at once without waiting for
the sandbox to settle between steps, and what the bot left in channels."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.clock import utcnow
from bot.db import Database
from bot.models import Broadcast, Member, Profile, Timer
from bot.models.teams import Team, TeamMember
from sandbox.driver.reply import InteractionFailed

EN_FORM = {
    "title": "Project name",
    "pitch": "Pitch (one sentence)",
    "description": "Description",
    "repo_url": "Code repository (link)",
    "demo_url": "Demo or video (link)",
}


def hacking(minutes_left: float = 120, *, opens: tuple[str, ...] = (), **extra: Any) -> dict:
    """One phase that started two hours ago and ends in ``minutes_left`` minutes."""
    now = utcnow()
    data: dict[str, Any] = {
        "phases": [
            {
                "key": "hacking",
                "name": "Hacking",
                "start": (now - timedelta(hours=2)).isoformat(timespec="seconds"),
                "end": (now + timedelta(minutes=minutes_left)).isoformat(timespec="seconds"),
                "opens": [
                    "registration",
                    "team_changes",
                    "help_queue",
                    "submissions",
                    *opens,
                ],
            }
        ],
        "teams": {"min_size": 1, "max_size": 5},
        "timeline": {"countdown": False, "scheduled_events": False},
    }
    data.update(extra)
    return data


def project(i: int, version: int = 1) -> dict[str, str]:
    """What team ``i`` types in its form (``version`` > 1: what it types when it tries again)."""
    suffix = "" if version == 1 else f" (take {version})"
    return {
        "title": f"Project {i:03d}{suffix}",
        "pitch": f"Team {i} counts owls at night",
        "description": f"A camera and a model that count owls for the bird society, team {i}.",
        "repo_url": f"https://github.com/team{i}/project",
        "demo_url": f"https://youtu.be/team{i}",
    }


def form(values: dict[str, str], labels: dict[str, str] = EN_FORM) -> dict[str, str]:
    return {labels[key]: value for key, value in values.items()}


@contextlib.asynccontextmanager
async def bot_database(sb: Any) -> AsyncIterator[Database]:
    """The bot's database, opened by the test (the bot may be another process)."""
    if sb.bot is not None:
        yield sb.bot.db
        return
    db = Database(sb.settings.database.url)
    try:
        yield db
    finally:
        await db.dispose()


@dataclass
class Seeded:
    members: list[Any]  # members[i] is the captain (and only member) of team i
    team_ids: list[int]
    space_ids: list[int]  # the team's channel (or private thread), by team index
    free: list[Any] = field(default_factory=list)  # registered, in no team


async def seed_teams(
    sb: Any,
    db: Database,
    count: int,
    *,
    prefix: str = "hacker",
    free: int = 0,
    open_teams: int = 0,
) -> Seeded:
    """``count`` registered members, each the only member of their own team ``Team i`` with a
    space (``team-<i+1>``), written straight into the bot's database and the server state, as
    the benchmarks do (creating 300 spaces through the bot is not what these tests are about).
    ``free`` more registered members are in no team; the first ``open_teams`` teams take
    members without asking.
    """
    from bench.fanout import make_spaces

    everyone = await sb.add_members(count + free, prefix=prefix)
    members, loners = everyone[:count], everyone[count:]
    spaces, _ = make_spaces(sb, count)
    assert len(spaces) == count, "not enough room for a space per team"
    now = utcnow()
    async with db.begin() as session:
        member_ids = list(
            (
                await session.scalars(
                    insert(Member).returning(Member.id, sort_by_parameter_order=True),
                    [
                        {
                            "discord_id": m.id,
                            "display_name": m.name,
                            "locale": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for m in everyone
                    ],
                )
            ).all()
        )
        await session.execute(
            insert(Profile),
            [
                {
                    "member_id": member_id,
                    "display_name": m.name,
                    "profile_types": ["developer"],
                    "skills": [],
                    "languages": ["en"],
                    "timezone": "UTC",
                    "wishes": [],
                    "registered_at": now,
                    "autoform": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for member_id, m in zip(member_ids, everyone, strict=True)
            ],
        )
        if not count:
            await sb.settle()
            return Seeded([], [], [], loners)
        team_ids = list(
            (
                await session.scalars(
                    insert(Team).returning(Team.id, sort_by_parameter_order=True),
                    [
                        {
                            "name": f"Team {i}",
                            "name_folded": f"team {i}",
                            "slug": f"team-{i + 1}",
                            "description": "",
                            "captain_member_id": member_ids[i],
                            "open": i < open_teams,
                            "looking_for": [],
                            "space_kind": spaces[i][0],
                            "channel_id": spaces[i][1],
                            "created_at": now,
                            "updated_at": now,
                        }
                        for i in range(count)
                    ],
                )
            ).all()
        )
        await session.execute(
            insert(TeamMember),
            [
                {"team_id": team_ids[i], "member_id": member_ids[i], "joined_at": now}
                for i in range(count)
            ],
        )
    # Each member may see their own space, exactly as the space manager grants it (so the
    # bot's start-up drift repair finds nothing to put back).
    from cogs.teams.spaces import member_overwrite

    allow, deny = (str(bits.value) for bits in member_overwrite().pair())
    for member, (kind, channel_id) in zip(members, spaces, strict=True):
        if kind == "channel":
            sb.guild.channels[str(channel_id)]["permission_overwrites"].append(
                {"id": str(member.id), "type": 1, "allow": allow, "deny": deny}
            )
        else:
            thread = sb.server.find_channel(str(channel_id))[1]
            sb.server.add_thread_member(sb.guild, thread, str(member.id))
    await sb.settle()
    return Seeded(members, team_ids, [channel_id for _, channel_id in spaces], loners)


# -- many members at once -------------------------------------------------------------


@dataclass
class Outcome:
    """What one member saw: the answers' texts, or the error that stopped them."""

    texts: list[str] = field(default_factory=list)
    error: str | None = None
    started: bool = False


async def crowd(
    flows: list[Callable[[], Awaitable[list[str]]]],
    *,
    in_flight: int,
    stop: asyncio.Event | None = None,
) -> list[Outcome]:
    """Run ``flows`` with at most ``in_flight`` at a time; a flow that has not started when
    ``stop`` is set does not start. A flow that fails (no answer: the bot is down) records why."""
    gate = asyncio.Semaphore(in_flight)
    outcomes = [Outcome() for _ in flows]

    async def one(index: int) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            outcome = outcomes[index]
            outcome.started = True
            try:
                outcome.texts = await flows[index]()
            except (InteractionFailed, AssertionError, LookupError) as error:
                outcome.error = f"{type(error).__name__}: {str(error)[:200]}"

    await asyncio.gather(*(one(i) for i in range(len(flows))))
    return outcomes


# -- waiting for the bot's background work (read from its database) ----------------------


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, max_s: float = 60.0, step: float = 0.1
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    while not await check():
        assert loop.time() < deadline, f"{what} did not happen within {max_s:.0f} s"
        await asyncio.sleep(step)


async def background_done(sb: Any, db: Database) -> bool:
    """No timer due and unfinished, no broadcast running, no submission whose gallery post or
    receipt is behind, no live help ticket without its card, nothing left in the outbox."""
    from bot.models.help import HelpTicket
    from bot.models.outbox import OutboxWrite
    from bot.models.submissions import Submission

    now = sb.clock.now()
    async with db.read() as session:
        due = await session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.status.in_(("pending", "running")), Timer.due_at <= now)
        )
        running = await session.scalar(
            select(func.count())
            .select_from(Broadcast)
            .where(Broadcast.status.in_(("pending", "running")))
        )
        behind = await session.scalar(
            select(func.count())
            .select_from(Submission)
            .where(
                (Submission.gallery_version < Submission.version)
                | (Submission.receipt_version < Submission.version)
            )
        )
        cardless = await session.scalar(
            select(func.count())
            .select_from(HelpTicket)
            .where(HelpTicket.status.in_(("open", "claimed")), HelpTicket.card_message_id.is_(None))
        )
        unsent = await session.scalar(
            select(func.count())
            .select_from(OutboxWrite)
            .where(OutboxWrite.status.in_(("pending", "sending")))
        )
    return not (due or running or behind or cardless or unsent)


# -- what the bot left in channels ------------------------------------------------------

RECEIPT = re.compile(r"^📬 Submission received: version (\d+),")


def bot_messages(sb: Any, channel: Any) -> list[dict]:
    view = sb.channel(channel)
    if not view.exists:
        return []
    return [m for m in view.messages if m["author"]["id"] == str(sb.bot_user_id)]


def receipts(sb: Any, channel_id: int) -> list[int]:
    """Versions of the receipts in a team's space, in order."""
    found = []
    for message in bot_messages(sb, channel_id):
        match = RECEIPT.match(message.get("content") or "")
        if match:
            found.append(int(match.group(1)))
    return found


def help_cards(sb: Any) -> dict[int, list[dict]]:
    """Ticket number → the card messages for it in the help queue channel."""
    cards: dict[int, list[dict]] = {}
    if not sb.has_channel("help-queue"):
        return cards
    for message in bot_messages(sb, "help-queue"):
        embeds = message.get("embeds") or []
        footer = (embeds[0].get("footer") or {}).get("text", "") if embeds else ""
        match = re.fullmatch(r"Ticket (\d+)", footer)
        if match:
            cards.setdefault(int(match.group(1)), []).append(message)
    return cards
