"""The outbox worker: carries out the stored writes (:mod:`bot.services.outbox`) at the
pace Discord allows, the most urgent first.

* **Lanes.** Writes that share one of Discord's rate-limit buckets (a guild's member
  roles, a channel's messages, a channel's permission overwrites) share a lane. A lane
  sends one write at a time; lanes run side by side, at most :data:`MAX_IN_FLIGHT` at
  once and at most the learned global rate per second (Discord: 50 per second per bot).
* **Learned pace.** Every answer Discord gives to the outbox's requests passes through
  :class:`RateLearner` (an aiohttp trace on discord.py's HTTP session): the bucket's
  limit, what remains and when it resets. A lane whose bucket is spent waits for its
  reset without holding a slot; a 429 pauses the lane (or every lane, if global) for the
  time Discord asks. The learned limit and window give each lane's pace, hence the
  estimates people are told. Until a bucket has answered once, the pace is the value
  bot developers commonly observe (:data:`DEFAULT_PACE`).
* **Priority with fairness.** In a lane, urgent writes go before normal ones and normal
  ones before bulk ones; after :data:`FAIR_SHARE` writes of a more urgent kind, a
  waiting bulk write goes once, so bulk work always finishes.
* **Durability.** Writes are claimed (``sending``, committed) before the request leaves
  and marked done after, in batches. A write found ``sending`` at start-up is carried out
  again: member roles, overwrites, thread members and edits are idempotent; a message is
  sent with the same nonce and ``enforce_nonce``, so Discord returns the first message
  instead of posting a second.
* **The invalid-request ban.** 401, 403 and 429 answers are counted over 10 minutes;
  past :data:`INVALID_PAUSE_AT` (a fifth of Discord's 10,000), non-urgent writes pause for
  a minute and the log says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import logging
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.http import Route
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.db import Database
from bot.models.outbox import Priority
from bot.services import outbox as service

if TYPE_CHECKING:
    from discord.http import HTTPClient

log = logging.getLogger(__name__)

#: Writes in flight at once across lanes.
MAX_IN_FLIGHT = 16
#: Requests per second the outbox allows itself, until Discord says otherwise: its
#: documented 50 per second less room for the bot's own reads and answers.
GLOBAL_RATE = 45.0
#: Writes that may start at once when the pace has been idle; beyond that they are spaced
#: evenly (1 / pace apart): a burst of 45 in one instant can reach Discord spread so that
#: two of them fall in one of its one-second windows, past 50.
GLOBAL_BURST = 5.0
#: After this many writes of a more urgent kind in a lane, a waiting bulk write goes once.
FAIR_SHARE = 4
#: Completions are written in batches: at most this long after the write, or this many.
FLUSH_EVERY_S = 0.05
FLUSH_MAX = 200
#: Kinds of write Discord carries out in an archived thread by bringing it back (it counts
#: again among the server's active threads).
BRINGS_THREADS_BACK = frozenset({"message.send", "message.pin", "thread.add", "thread.remove"})
#: How long such a write waits, at the limit, before it looks again (room is being made).
ROOM_WAIT_S = 0.5
#: When no room could be made, such writes go without waiting for this long (they may meet
#: Discord's refusal, and go again after a pause).
NO_ROOM_PAUSE_S = 30.0
#: Discord bans an IP for a while after 10,000 invalid requests (401, 403, 429) in 10 min.
INVALID_WINDOW_S = 600.0
INVALID_PAUSE_AT = 2000
INVALID_PAUSE_S = 60.0
#: Writes finished longer ago than this are forgotten (failed ones are kept).
KEEP_DONE_S = 24 * 3600.0

#: Writes per second per lane before Discord has told us its bucket (what bot developers
#: commonly observe; replaced by what the headers say as soon as a bucket answers).
DEFAULT_PACE: dict[str, tuple[int, float]] = {
    "roles": (10, 10.0),
    "messages": (5, 5.0),
    "edits": (5, 5.0),
    "channel": (5, 1.0),
    "thread": (5, 1.0),
    "channels": (5, 10.0),  # a server's new channels: a slow bucket
}
FALLBACK_PACE = (5, 1.0)

_LANE: contextvars.ContextVar[str | None] = contextvars.ContextVar("outbox_lane", default=None)
#: Set once Discord has answered a write with success. discord.py may then hold the request
#: until its bucket resets (up to the bucket's window) before it returns: the write is done
#: on Discord, and the worker does not count it as busy meanwhile.
#: The bot's clock (Discord's time) for an executor whose write holds times (set per task).
_NOW: contextvars.ContextVar[Callable[[], datetime] | None] = contextvars.ContextVar(
    "outbox_now", default=None
)
_ANSWERED: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "outbox_answered", default=None
)


# --------------------------------------------------------------------------
# What Discord says about its buckets


@dataclass
class Bucket:
    limit: int
    window: float  # seconds: the longest reset-after seen (the window's length)
    remaining: int
    reset_at: float  # monotonic

    @property
    def pace(self) -> float:
        """Writes per second this bucket allows."""
        return self.limit / max(self.window, 0.001)


class RateLearner:
    """Reads the rate-limit headers of the outbox's requests (an aiohttp trace)."""

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.blocked_until: dict[str, float] = {}  # lane -> monotonic
        self.global_until = 0.0
        self.global_rate = GLOBAL_RATE
        self.invalid: deque[float] = deque()
        self.rate_limited = 0
        self.requests = 0

    def trace_config(self) -> aiohttp.TraceConfig:
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_request_end)
        return trace

    async def _on_request_end(
        self,
        _session: aiohttp.ClientSession,
        _context: Any,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        status = params.response.status
        answered = _ANSWERED.get()
        if answered is not None and 200 <= status < 300:
            answered[0] = True
        self.observe(_LANE.get(), status, params.response.headers)

    def observe(self, lane: str | None, status: int, headers: Any) -> None:
        now = time.monotonic()
        if status in (401, 403) or (status == 429 and headers.get("X-RateLimit-Scope") != "shared"):
            self.invalid.append(now)
        if lane is None:
            return
        self.requests += 1
        if status == 429:
            self.rate_limited += 1
            retry = _float(headers.get("Retry-After")) or 1.0
            reset_after = _float(headers.get("X-RateLimit-Reset-After"))
            if reset_after is not None:
                retry = reset_after
            if headers.get("X-RateLimit-Global"):
                self.global_until = max(self.global_until, now + retry)
                self.global_rate = max(1.0, self.global_rate * 0.9)
                log.warning("Discord's global rate limit reached: every lane waits %.1f s", retry)
            else:
                self.blocked_until[lane] = max(self.blocked_until.get(lane, 0.0), now + retry)
        limit = _int(headers.get("X-RateLimit-Limit"))
        remaining = _int(headers.get("X-RateLimit-Remaining"))
        reset_after = _float(headers.get("X-RateLimit-Reset-After"))
        if limit is None or remaining is None or reset_after is None:
            return
        known = self.buckets.get(lane)
        window = max(reset_after, known.window if known else 0.0)
        self.buckets[lane] = Bucket(limit, window, remaining, now + reset_after)
        if remaining <= 0:
            self.blocked_until[lane] = max(self.blocked_until.get(lane, 0.0), now + reset_after)

    def pace(self, lane: str) -> float:
        bucket = self.buckets.get(lane)
        if bucket is not None:
            return bucket.pace
        limit, per = DEFAULT_PACE.get(lane.split(":", 1)[0], FALLBACK_PACE)
        return limit / per

    def invalid_recently(self) -> int:
        cutoff = time.monotonic() - INVALID_WINDOW_S
        while self.invalid and self.invalid[0] < cutoff:
            self.invalid.popleft()
        return len(self.invalid)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------
# Carrying out one write

Executor = Callable[["HTTPClient", dict[str, Any]], Awaitable[dict[str, Any] | None]]
EXECUTORS: dict[str, Executor] = {}


def executor(kind: str) -> Callable[[Executor], Executor]:
    def register(fn: Executor) -> Executor:
        EXECUTORS[kind] = fn
        return fn

    return register


@executor("role.add")
async def _role_add(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.add_role(p["guild_id"], p["user_id"], p["role_id"], reason=p.get("reason"))


@executor("role.remove")
async def _role_remove(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.remove_role(p["guild_id"], p["user_id"], p["role_id"], reason=p.get("reason"))


#: For a write a crash cut (found ``sending`` at start-up: it may have reached Discord),
#: whether Discord already shows its effect, so that it is not sent a second time: False,
#: or True / the result the write would have had (a message's id).
AlreadyDone = Callable[["HTTPClient", dict[str, Any]], Awaitable[bool | dict[str, Any]]]
ALREADY_DONE: dict[str, AlreadyDone] = {}


async def _member_roles(http: HTTPClient, p: dict[str, Any]) -> set[str] | None:
    try:
        member = await http.get_member(p["guild_id"], p["user_id"])
    except discord.HTTPException:
        return None  # the write itself meets the error (the member left...)
    return {str(role) for role in member.get("roles") or []}


async def _role_there(http: HTTPClient, p: dict[str, Any]) -> bool:
    roles = await _member_roles(http, p)
    return roles is not None and str(p["role_id"]) in roles


async def _role_gone(http: HTTPClient, p: dict[str, Any]) -> bool:
    roles = await _member_roles(http, p)
    return roles is not None and str(p["role_id"]) not in roles


# A role write is cheap to check (a GET, outside the member-role bucket) and the crash
# window is wide: discord.py holds the last request of a spent bucket until the bucket
# resets (up to 10 s for roles) before it returns, so the write is still ``sending`` here.
ALREADY_DONE["role.add"] = _role_there
ALREADY_DONE["role.remove"] = _role_gone


def _components_ids(components: Any) -> list[str]:
    ids = []
    for row in components or []:
        for child in row.get("components") or []:
            if child.get("custom_id"):
                ids.append(str(child["custom_id"]))
    return ids


def _same_message(found: dict[str, Any], p: dict[str, Any]) -> bool:
    """Whether the bot's message ``found`` is the one the send ``p`` describes."""
    if not (found.get("author") or {}).get("bot"):
        return False
    if (found.get("content") or "") != (p.get("content") or ""):
        return False
    embeds, wanted = found.get("embeds") or [], p.get("embeds") or []
    if len(embeds) != len(wanted) or any(
        (a.get("title"), a.get("description")) != (b.get("title"), b.get("description"))
        for a, b in zip(embeds, wanted, strict=True)
    ):
        return False
    return _components_ids(found.get("components")) == _components_ids(p.get("components"))


#: Discord's answer to a write in an archived thread.
THREAD_ARCHIVED = 50083

#: How many of a channel's last messages are read to find a send a crash cut.
FIND_LAST = 100


async def _message_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A send a crash cut: its nonce makes Discord return the first message only for a few
    minutes; a bot down longer finds its message among the channel's last ones instead."""
    try:
        recent = await http.logs_from(p["channel_id"], FIND_LAST)
    except discord.HTTPException:
        return False  # the send itself meets the error (channel gone, no access...)
    for found in recent:
        if _same_message(found, p):
            return {"message_id": int(found["id"])}
    return False


ALREADY_DONE["message.send"] = _message_there


@executor("message.send")
async def _message_send(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    keys = ("content", "embeds", "components", "allowed_mentions", "message_reference", "nonce")
    body = {k: p[k] for k in keys if k in p}
    body["enforce_nonce"] = True
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=p["channel_id"])
    data = await http.request(route, json=body)
    return {"message_id": int(data["id"])}


#: Discord's answer to a direct message the person does not accept.
DM_CLOSED = 50007


def _dm_body(p: dict[str, Any]) -> dict[str, Any]:
    body = {k: p[k] for k in ("content", "components", "allowed_mentions", "nonce") if k in p}
    body["enforce_nonce"] = True
    return body


def _fallback_body(p: dict[str, Any]) -> dict[str, Any]:
    """The direct message posted where the person can read it, naming them (and notifying
    only them)."""
    body = _dm_body(p)
    body["content"] = f"<@{p['user_id']}> {p.get('content') or ''}"[:2000]
    body["allowed_mentions"] = {"parse": [], "users": [str(p["user_id"])]}
    return body


async def _dm_channel(http: HTTPClient, user_id: int) -> int:
    return int((await http.start_private_message(user_id))["id"])


async def _dm_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A direct message a crash cut: looked for in the conversation, then where it falls
    back to."""
    try:
        channel_id = await _dm_channel(http, p["user_id"])
    except discord.HTTPException:
        return False
    found = await _message_there(http, {**p, "channel_id": channel_id})
    if found:
        return {"via": "dm", **found}  # type: ignore[dict-item]
    if p.get("fallback_channel_id"):
        body = _fallback_body(p)
        found = await _message_there(http, {**body, "channel_id": p["fallback_channel_id"]})
        if found:
            return {"via": "channel", **found}  # type: ignore[dict-item]
    return False


ALREADY_DONE["dm.send"] = _dm_there


@executor("dm.send")
async def _dm_send(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    try:
        channel_id = await _dm_channel(http, p["user_id"])
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        data = await http.request(route, json=_dm_body(p))
        return {"via": "dm", "message_id": int(data["id"])}
    except discord.HTTPException as error:
        if error.code != DM_CLOSED or not p.get("fallback_channel_id"):
            raise
    fallback = p["fallback_channel_id"]
    # A closed thread (a rejected statement's post, locked meanwhile) is brought back by the
    # message, as on Discord: closed again after it, as it was.
    meta = (await http.get_channel(fallback)).get("thread_metadata") or {}
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=fallback)
    data = await http.request(route, json=_fallback_body(p))
    if meta.get("archived"):
        await http.edit_channel(fallback, archived=True, locked=bool(meta.get("locked")))
    return {"via": "channel", "message_id": int(data["id"])}


@executor("message.edit")
async def _message_edit(http: HTTPClient, p: dict[str, Any]) -> None:
    body = {k: p[k] for k in ("content", "embeds", "components", "allowed_mentions") if k in p}
    route = Route(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        channel_id=p["channel_id"],
        message_id=p["message_id"],
    )
    try:
        await http.request(route, json=body)
    except discord.HTTPException as error:
        if error.code != THREAD_ARCHIVED:
            raise
        # A message in an archived thread (a forum post): brought back, then edited.
        await http.edit_channel(p["channel_id"], archived=False)
        await http.request(route, json=body)


@executor("message.delete")
async def _message_delete(http: HTTPClient, p: dict[str, Any]) -> None:
    try:
        await http.delete_message(p["channel_id"], p["message_id"], reason=p.get("reason"))
    except discord.NotFound:
        pass  # deleted already (by someone, or before a crash)


@executor("message.pin")
async def _message_pin(http: HTTPClient, p: dict[str, Any]) -> None:
    # In a thread (a forum post) archived meanwhile, the pin waits for it to come back.
    await _unarchived(
        http,
        {"thread_id": p["channel_id"]},
        lambda: http.pin_message(p["channel_id"], p["message_id"], reason=p.get("reason")),
    )


@executor("overwrite.set")
async def _overwrite_set(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.edit_channel_permissions(
        p["channel_id"],
        p["target_id"],
        str(p["allow"]),
        str(p["deny"]),
        p["type"],
        reason=p.get("reason"),
    )


@executor("overwrite.delete")
async def _overwrite_delete(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.delete_channel_permissions(p["channel_id"], p["target_id"], reason=p.get("reason"))


async def _unarchived(
    http: HTTPClient, p: dict[str, Any], call: Callable[[], Awaitable[Any]]
) -> None:
    """Run ``call`` on a thread that may be archived: brought back first when the write
    says it is (Discord allows it while there is room for one more active thread), and
    after a refusal that says so."""
    thread_id = p["thread_id"]
    if p.get("unarchive"):
        await http.edit_channel(thread_id, archived=False)
    try:
        await call()
    except discord.HTTPException as error:
        if error.code != THREAD_ARCHIVED:
            raise
        await http.edit_channel(thread_id, archived=False)
        await call()


@executor("thread.add")
async def _thread_add(http: HTTPClient, p: dict[str, Any]) -> None:
    await _unarchived(http, p, lambda: http.add_user_to_thread(p["thread_id"], p["user_id"]))


@executor("thread.remove")
async def _thread_remove(http: HTTPClient, p: dict[str, Any]) -> None:
    await _unarchived(http, p, lambda: http.remove_user_from_thread(p["thread_id"], p["user_id"]))


@executor("thread.close")
async def _thread_close(http: HTTPClient, p: dict[str, Any]) -> None:
    body = {
        "content": p["content"],
        "allowed_mentions": {"parse": []},
        "nonce": p["nonce"],
        "enforce_nonce": True,
    }
    # A message brings an archived (unlocked) thread back; then archive and lock it.
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=p["thread_id"])
    await http.request(route, json=body)
    await http.edit_channel(p["thread_id"], archived=True, locked=True, reason=p.get("reason"))


@executor("post.settle")
async def _post_settle(http: HTTPClient, p: dict[str, Any]) -> None:
    thread_id = p["thread_id"]
    unarchive = {"thread_id": thread_id}
    if p.get("reopen"):
        await http.edit_channel(thread_id, archived=False, reason=p.get("reason"))
    if p.get("note"):
        body = {
            "content": p["note"],
            "allowed_mentions": {"parse": []},
            "nonce": p["nonce"],
            "enforce_nonce": True,
        }
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=thread_id)
        await _unarchived(http, unarchive, lambda: http.request(route, json=body))
    card = Route(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        channel_id=thread_id,
        message_id=thread_id,  # a forum post's starting message has the post's id
    )
    body = {
        "embeds": p["embeds"],
        "components": p["components"],
        "allowed_mentions": {"parse": []},
    }
    await _unarchived(http, unarchive, lambda: http.request(card, json=body))
    fields = {k: p[k] for k in ("name", "applied_tags") if k in p}
    if fields:
        await _unarchived(
            http,
            unarchive,
            lambda: http.edit_channel(thread_id, reason=p.get("reason"), **fields),
        )
    if p.get("close"):
        await http.edit_channel(thread_id, archived=True, locked=True, reason=p.get("reason"))


@executor("thread.archive")
async def _thread_archive(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.edit_channel(p["thread_id"], archived=True, reason=p.get("reason"))


def overwrites_body(
    overwrites: dict[Any, discord.PermissionOverwrite],
) -> list[dict[str, Any]]:
    """Permission overwrites keyed by role or member (anything with an ``id``; roles as
    :class:`discord.Role`) in Discord's form, for a creation stored in the outbox."""
    body: list[dict[str, Any]] = []
    for target, overwrite in overwrites.items():
        allow, deny = overwrite.pair()
        body.append(
            {
                "id": str(target.id),
                "type": 0 if isinstance(target, discord.Role) else 1,
                "allow": str(allow.value),
                "deny": str(deny.value),
            }
        )
    return body


@executor("channel.create")
async def _channel_create(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    data = await http.create_channel(
        p["guild_id"],
        p["type"],
        reason=p.get("reason"),
        name=p["name"],
        parent_id=p.get("parent_id"),
        topic=p.get("topic"),
        permission_overwrites=p.get("permission_overwrites") or None,
        available_tags=p.get("available_tags") or None,
    )
    return {"channel_id": int(data["id"])}


async def _channel_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A channel creation a crash cut: one of the same name, type and category is it."""
    try:
        channels = await http.get_all_guild_channels(p["guild_id"])
    except discord.HTTPException:
        return False
    parent = str(p["parent_id"]) if p.get("parent_id") else None
    for channel in channels:
        if (
            channel.get("name") == p["name"]
            and channel.get("type") == p["type"]
            and (str(channel["parent_id"]) if channel.get("parent_id") else None) == parent
        ):
            return {"channel_id": int(channel["id"])}
    return False


ALREADY_DONE["channel.create"] = _channel_there

PRIVATE_THREAD, PUBLIC_THREAD = 12, 11


@executor("thread.create")
async def _thread_create(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    data = await http.start_thread_without_message(
        p["parent_id"],
        name=p["name"],
        auto_archive_duration=p["auto_archive"],
        type=PRIVATE_THREAD if p["private"] else PUBLIC_THREAD,  # type: ignore[arg-type]
        invitable=False,
        reason=p.get("reason"),
    )
    return {"channel_id": int(data["id"])}


async def _thread_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A thread creation a crash cut: an active thread of the same name in the same channel
    is it (a thread the bot just made is active)."""
    try:
        active = await http.get_active_threads(p["guild_id"])
    except discord.HTTPException:
        return False
    for thread in active.get("threads") or []:
        if str(thread.get("parent_id")) == str(p["parent_id"]) and thread.get("name") == p["name"]:
            return {"channel_id": int(thread["id"])}
    return False


ALREADY_DONE["thread.create"] = _thread_there


@executor("forum.post")
async def _forum_post(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    body = {
        "name": p["name"],
        "auto_archive_duration": p["auto_archive"],
        "applied_tags": p["applied_tags"],
        "message": {
            "embeds": p["embeds"],
            "components": p.get("components") or [],
            "allowed_mentions": {"parse": []},
        },
    }
    route = Route("POST", "/channels/{channel_id}/threads", channel_id=p["forum_id"])
    data = await http.request(route, json=body, reason=p.get("reason"))
    return {"channel_id": int(data["id"])}


async def _post_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A forum post a crash cut: an active post of the same name in the same forum whose
    starting message is the bot's, with the same first embed."""
    try:
        active = await http.get_active_threads(p["guild_id"])
    except discord.HTTPException:
        return False
    wanted = (p["embeds"] or [{}])[0]
    for thread in active.get("threads") or []:
        if str(thread.get("parent_id")) != str(p["forum_id"]) or thread.get("name") != p["name"]:
            continue
        try:
            starter = await http.get_message(thread["id"], thread["id"])
        except discord.HTTPException:
            continue
        embeds = starter.get("embeds") or [{}]
        if (starter.get("author") or {}).get("bot") and (
            embeds[0].get("title"),
            embeds[0].get("description"),
        ) == (wanted.get("title"), wanted.get("description")):
            return {"channel_id": int(thread["id"])}
    return False


ALREADY_DONE["forum.post"] = _post_there


@executor("channel.edit")
async def _channel_edit(http: HTTPClient, p: dict[str, Any]) -> None:
    fields = {k: p[k] for k in ("name", "topic", "available_tags") if k in p}
    try:
        await http.edit_channel(p["channel_id"], reason=p.get("reason"), **fields)
    except discord.HTTPException as error:
        if error.code != THREAD_ARCHIVED:
            raise
        # An archived thread takes a new name only while it is brought back.
        await http.edit_channel(p["channel_id"], reason=p.get("reason"), archived=False, **fields)


@executor("role.create")
async def _role_create(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: p[k] for k in ("name", "mentionable", "hoist") if k in p}
    if "permissions" in p:
        fields["permissions"] = p["permissions"]
    data = await http.create_role(p["guild_id"], reason=p.get("reason"), **fields)
    return {"role_id": int(data["id"])}


async def _role_made(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """A role creation a crash cut: the newest role of that name is it."""
    try:
        roles = await http.get_roles(p["guild_id"])
    except discord.HTTPException:
        return False
    named = [int(role["id"]) for role in roles if role.get("name") == p["name"]]
    return {"role_id": max(named)} if named else False


ALREADY_DONE["role.create"] = _role_made


@executor("role.edit")
async def _role_edit(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.edit_role(
        p["guild_id"], p["role_id"], reason=p.get("reason"), permissions=p["permissions"]
    )


@executor("role.delete")
async def _role_delete(http: HTTPClient, p: dict[str, Any]) -> None:
    try:
        await http.delete_role(p["guild_id"], p["role_id"], reason=p.get("reason"))
    except discord.NotFound:
        pass  # deleted already (by someone, or before a crash)


@executor("onboarding.edit")
async def _onboarding_edit(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    data = await http.edit_guild_onboarding(
        p["guild_id"], prompts=p["prompts"], reason=p.get("reason")
    )
    return {"enabled": bool(data.get("enabled"))}


#: A scheduled event's status: started.
EVENT_ACTIVE = 2


#: Discord refuses an event whose start is in the past: one stored with a start that has
#: come closer than this by the time it is sent (a backlog, a clock jump) goes later by as
#: much, its length kept (a running phase's event is started at once anyway).
EVENT_START_MARGIN = timedelta(seconds=30)


def _ahead(fields: dict[str, Any]) -> dict[str, Any]:
    now = _NOW.get()
    start = fields.get("scheduled_start_time")
    if now is None or not start:
        return fields
    begins = datetime.fromisoformat(start)
    late = now() + EVENT_START_MARGIN - begins
    if late <= timedelta(0):
        return fields
    moved = {**fields, "scheduled_start_time": (begins + late).isoformat()}
    if fields.get("scheduled_end_time"):
        ends = datetime.fromisoformat(fields["scheduled_end_time"])
        moved["scheduled_end_time"] = (ends + late).isoformat()
    return moved


@executor("event.create")
async def _event_create(http: HTTPClient, p: dict[str, Any]) -> dict[str, Any]:
    data = await http.create_guild_scheduled_event(p["guild_id"], **_ahead(p["fields"]))
    event_id, status = int(data["id"]), int(data.get("status") or 1)
    if p.get("start"):
        await http.edit_scheduled_event(p["guild_id"], event_id, status=EVENT_ACTIVE)
        status = EVENT_ACTIVE
    return {"event_id": event_id, "status": status}


async def _event_there(http: HTTPClient, p: dict[str, Any]) -> bool | dict[str, Any]:
    """An event creation a crash cut: the server's event of the same name and description
    is it (as it stands: one not started yet is started by the next sync)."""
    try:
        events = await http.get_scheduled_events(p["guild_id"], False)
    except discord.HTTPException:
        return False
    wanted = p["fields"]
    for event in events:
        if event.get("name") == wanted.get("name") and (event.get("description") or "") == (
            wanted.get("description") or ""
        ):
            return {"event_id": int(event["id"]), "status": int(event.get("status") or 1)}
    return False


ALREADY_DONE["event.create"] = _event_there


@executor("event.edit")
async def _event_edit(http: HTTPClient, p: dict[str, Any]) -> None:
    await http.edit_scheduled_event(p["guild_id"], p["event_id"], **p["fields"])


@executor("event.delete")
async def _event_delete(http: HTTPClient, p: dict[str, Any]) -> None:
    try:
        await http.delete_scheduled_event(p["guild_id"], p["event_id"])
    except discord.NotFound:
        pass  # deleted already (by hand, or before a crash)


#: Discord's answer when a thread would become active past the server's limit (a new
#: thread, or an archived one brought back by a message or a member added).
MAX_ACTIVE_THREADS = 160006


class Permanent(Exception):
    """Discord refused a write for good."""


def classify(error: BaseException) -> tuple[bool, str, float | None]:
    """(retry?, what to record, pause Discord asked for)."""
    if isinstance(error, discord.HTTPException):
        text = f"{error.status} {error.code}: {error.text}"[:300]
        if error.status == 429:
            retry = getattr(error, "retry_after", None)
            return True, text, retry
        if error.status >= 500:
            return True, text, None
        if error.code == MAX_ACTIVE_THREADS:
            return True, text, None  # room is made (on_thread_limit), then it goes again
        return False, text, None
    if isinstance(error, aiohttp.ClientError | OSError | TimeoutError):
        return True, f"{type(error).__name__}: {error}"[:300], None
    return False, f"{type(error).__name__}: {error}"[:300], None


# --------------------------------------------------------------------------
# The worker


@dataclass
class Lane:
    key: str
    queues: tuple[deque[int], deque[int], deque[int]] = field(
        default_factory=lambda: (deque(), deque(), deque())
    )
    in_flight: int = 0
    favoured: int = 0  # more urgent writes sent in a row while bulk ones waited

    def __len__(self) -> int:
        first, second, third = self.queues
        return len(first) + len(second) + len(third)

    def head_priority(self) -> int | None:
        for priority, queue in enumerate(self.queues):
            if queue:
                return priority
        return None

    def pop(self) -> int:
        """The next write: the most urgent, except that a waiting bulk write goes after
        :data:`FAIR_SHARE` more urgent ones."""
        bulk = self.queues[Priority.BULK]
        head = self.head_priority()
        assert head is not None
        if head < Priority.BULK and bulk and self.favoured >= FAIR_SHARE:
            self.favoured = 0
            return bulk.popleft()
        if head < Priority.BULK and bulk:
            self.favoured += 1
        elif head == Priority.BULK:
            self.favoured = 0
        return self.queues[head].popleft()


@dataclass(frozen=True)
class Delivery:
    """What became of a write someone waited a little for: ``done`` (with Discord's answer),
    ``refused`` (for good), or ``pending`` (still on its way, due in about ``eta_s``)."""

    status: str
    result: dict[str, Any] | None = None
    eta_s: float = 0.0


@dataclass(frozen=True)
class KindBacklog:
    kind: str
    waiting: int
    eta_s: float


class Outbox:
    """The worker. ``start`` once the HTTP client is logged in; ``stop`` on close."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.learner = RateLearner()
        self.handlers: dict[str, service.DoneHandler] = {}
        self.http: HTTPClient | None = None
        self._lanes: dict[str, Lane] = {}
        self._where: dict[int, tuple[str, str, int]] = {}  # write id -> (lane, kind, priority)
        self._kinds: Counter[str] = Counter()
        self._delayed: list[tuple[float, int, int]] = []  # (monotonic due, id, priority)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: list[tuple[service.Claimed, dict[str, Any] | None, BaseException | None]] = []
        self._flushed = asyncio.Event()
        self._to_flush = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        # The global pace as a token bucket: GLOBAL_BURST at most, refilled at the pace.
        self._tokens = GLOBAL_BURST
        self._tokens_at = time.monotonic()
        self._paused_until = 0.0
        self.sent = 0
        self.failed = 0
        self._waiters: dict[int, list[asyncio.Future[bool]]] = {}
        self._answered: dict[int, list[bool]] = {}  # write id in flight -> Discord answered
        self._claiming = False
        self._recording = 0  # writes whose outcome is being stored (and their handlers run)
        #: Called when Discord refuses a write because the server holds its limit of active
        #: threads (team spaces set it: they archive the idlest spaces); the write then
        #: goes again after a short pause. True when there is room now.
        self.on_thread_limit: Callable[[], Awaitable[bool]] | None = None
        #: Told of each message the outbox posted (channel id, message id).
        self.on_posted: Callable[[int, int], None] | None = None
        #: Whether a write to this channel would bring an archived thread back while the
        #: server is at its limit of active threads: such a write waits while room is made
        #: (:attr:`on_thread_limit`) instead of meeting Discord's refusal.
        self.would_overflow: Callable[[int], bool] | None = None
        self._room: asyncio.Task[None] | None = None
        self._no_room_until = 0.0  # nothing could be archived: writes meet Discord meanwhile
        db.on_commit(self._on_commit)

    # -- feeding --------------------------------------------------------------------

    def _on_commit(self, info: dict[str, Any]) -> None:
        added = info.pop(service.INFO_KEY, None)
        if added:
            self.add(added)

    def add(self, queued: list[service.Queued]) -> None:
        for q in queued:
            if q.id in self._where:
                self._promote(q)
                continue
            lane = self._lanes.get(q.lane)
            if lane is None:
                lane = self._lanes[q.lane] = Lane(q.lane)
            lane.queues[min(max(q.priority, 0), 2)].append(q.id)
            self._where[q.id] = (q.lane, q.kind, q.priority)
            self._kinds[q.kind] += 1
        self._wake.set()

    def _promote(self, q: service.Queued) -> None:
        """A waiting write coalesced with a more urgent one: it moves to that queue."""
        lane_key, kind, priority = self._where[q.id]
        if q.priority >= priority:
            return
        self._where[q.id] = (lane_key, kind, q.priority)
        lane = self._lanes.get(lane_key)
        if lane is None:
            return
        old = lane.queues[min(max(priority, 0), 2)]
        if q.id in old:  # (not when in flight or paused after a failure)
            old.remove(q.id)
            lane.queues[min(max(q.priority, 0), 2)].append(q.id)

    async def start(self, http: HTTPClient) -> None:
        self.http = http
        async with self.db.read() as session:
            unfinished = await service.load_unfinished(session)
        if unfinished:
            log.info("outbox: %d writes to carry out from before the start", len(unfinished))
        self.add(unfinished)
        self._closing = False
        self._runner = asyncio.create_task(self._run(), name="hackbot-outbox")
        self._flusher = asyncio.create_task(self._flush_loop(), name="hackbot-outbox-flush")
        self._backlog_log = asyncio.create_task(self._log_backlog(), name="hackbot-outbox-log")

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        if self._backlog_log is not None:
            self._backlog_log.cancel()
        for task in (self._runner, self._flusher, self._room):
            if task is not None:
                task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        try:
            await self._flush()
        except Exception:
            log.exception("outbox: could not record the last writes (they are redone at start)")

    async def wait(self, ids: list[int], within: float = 60.0) -> int:
        """Wait until the writes ``ids`` are carried out (or refused for good); how many
        were carried out. For work that needs the result now (room for a thread)."""
        futures = []
        for write_id in ids:
            if write_id not in self._where:
                continue  # already finished (or never known: nothing to wait for)
            future = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(write_id, []).append(future)
            futures.append(future)
        if not futures:
            return len(ids)
        done, _ = await asyncio.wait(futures, timeout=within)
        finished = [f.result() for f in done if not f.cancelled()]
        return sum(1 for ok in finished if ok) + (len(ids) - len(futures))

    async def until_done(
        self, ids: list[int], stopping: Callable[[], bool], check_every: float = 30.0
    ) -> None:
        """Wait until the writes ``ids`` are carried out (or refused for good), however long
        Discord's pace makes it, unless ``stopping()`` says the bot stops meanwhile (the
        writes are then finished at the next start). For work that must follow them in order
        (the next team space is placed knowing the last)."""
        while any(self.pending(i) for i in ids) and not stopping():
            await self.wait(ids, within=check_every)

    async def deliver(self, write: service.Write, within: float) -> Delivery:
        """Store ``write`` and wait up to ``within`` seconds for Discord's answer, for an
        answer that depends on it (an invitation that may not reach its person). The write
        is stored first: it is carried out whatever the wait gives."""
        async with self.db.begin() as session:
            stored = await service.enqueue(session, self.clock.now(), write)
        queued = stored.queued
        if queued is None:
            return Delivery("done")
        await self.wait([queued.id], within=within)
        if queued.id in self._where:
            return Delivery("pending", eta_s=self.estimate(queued))
        async with self.db.read() as session:
            done, result = await service.outcome_of(session, queued.id)
        return Delivery("done", result) if done else Delivery("refused")

    def _resolve(self, write_id: int, ok: bool) -> None:
        for future in self._waiters.pop(write_id, []):
            if not future.done():
                future.set_result(ok)

    # -- figures --------------------------------------------------------------------

    def pending(self, write_id: int) -> bool:
        """Whether the write is still to be carried out (stored, not finished)."""
        return write_id in self._where

    def waiting(self) -> int:
        return len(self._where)

    def busy(self) -> bool:
        """Something is being sent (and Discord has not answered yet), or could be sent
        within a few seconds."""
        if self._claiming or self._done or self._recording:
            return True
        if any(not answered[0] for answered in self._answered.values()):
            return True
        now = time.monotonic()
        if any(due - now < 5.0 for due, _, _ in self._delayed):
            return True
        return any(len(lane) for lane in self._lanes.values())

    def lane_eta(self, lane_key: str, ahead: int) -> float:
        """Seconds until ``ahead`` more writes of a lane are done, at its learned pace: what
        the bucket has left goes now, then ``limit`` writes each time its window resets."""
        now = time.monotonic()
        wait = max(0.0, self.learner.blocked_until.get(lane_key, 0.0) - now)
        bucket = self.learner.buckets.get(lane_key)
        if bucket is None or bucket.limit <= 0:
            return wait + ahead / self.learner.pace(lane_key)
        if wait > 0:
            left, reset = 0, wait
        elif bucket.reset_at > now:  # the window Discord told of is still open
            left, reset = bucket.remaining, bucket.reset_at - now
        else:  # it ended: a fresh one starts with the next write
            left, reset = bucket.limit, bucket.window
        after = ahead - left
        if after <= 0:
            return wait
        return reset + (math.ceil(after / bucket.limit) - 1) * bucket.window

    def estimate(self, queued: service.Queued | None) -> float:
        """Seconds until a write just stored is carried out (0 if it was coalesced away)."""
        if queued is None:
            return 0.0
        lane = self._lanes.get(queued.lane)
        if lane is None:
            return 0.0
        ahead = sum(len(q) for q in lane.queues[: queued.priority + 1]) + lane.in_flight
        # Fair share: bulk writes also go while more urgent ones wait.
        eta = self.lane_eta(queued.lane, ahead)
        total = len(self._where)
        return max(eta, total / self.learner.global_rate)

    def estimate_of(self, write_id: int) -> float:
        """Seconds until a stored write still to be carried out is (0 if it is not known)."""
        where = self._where.get(write_id)
        if where is None:
            return 0.0
        lane, kind, priority = where
        return self.estimate(service.Queued(write_id, lane, priority, kind))

    def backlog(self) -> list[KindBacklog]:
        """What is waiting, by kind, with how long it should take at the learned pace."""
        by_kind: dict[str, float] = {}
        for lane_key, lane in self._lanes.items():
            if not len(lane):
                continue
            eta = self.lane_eta(lane_key, len(lane) + lane.in_flight)
            kinds = {self._where[i][1] for q in lane.queues for i in q if i in self._where}
            for kind in kinds:
                by_kind[kind] = max(by_kind.get(kind, 0.0), eta)
        total_eta = len(self._where) / self.learner.global_rate
        return [
            KindBacklog(kind, count, max(by_kind.get(kind, 0.0), total_eta))
            for kind, count in sorted(self._kinds.items())
            if count > 0
        ]

    # -- the dispatcher ---------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            try:
                started = await self._start_ready()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox: the dispatcher failed; trying again in 1 s")
                await asyncio.sleep(1.0)
                continue
            if started:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            # (asyncio.timeout, not wait_for: wait_for makes a task each time round.)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._next_wake()):
                    await self._wake.wait()

    def _next_wake(self) -> float:
        now = time.monotonic()
        times = [1.0]
        if self._delayed:
            times.append(self._delayed[0][0] - now)
        for lane_key, lane in self._lanes.items():
            if len(lane) and not lane.in_flight:
                until = self.learner.blocked_until.get(lane_key, 0.0)
                if until > now:
                    times.append(until - now)
        if self._paused_until > now:
            times.append(self._paused_until - now)
        if self.learner.global_until > now:
            times.append(self.learner.global_until - now)
        if self._where and self._tokens < 1.0:
            # The global pace is spent: wake when the next write may start.
            times.append((1.0 - self._tokens) / self.learner.global_rate)
        return max(0.005, min(times))

    def _release_delayed(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, write_id, priority = heapq.heappop(self._delayed)
            where = self._where.get(write_id)
            if where is None:
                continue
            lane = self._lanes.get(where[0])
            if lane is None:
                lane = self._lanes[where[0]] = Lane(where[0])
            lane.queues[min(max(priority, 0), 2)].appendleft(write_id)

    def _global_room(self, now: float) -> int:
        if now < self.learner.global_until:
            return 0
        elapsed = max(0.0, now - self._tokens_at)
        self._tokens = min(GLOBAL_BURST, self._tokens + elapsed * self.learner.global_rate)
        self._tokens_at = now
        return int(self._tokens)

    async def _pace(self) -> None:
        """Wait until the global pace lets one more write start."""
        while True:
            now = time.monotonic()
            if self._global_room(now) >= 1:
                return
            wait = (1.0 - self._tokens) / self.learner.global_rate
            if now < self.learner.global_until:
                wait = self.learner.global_until - now
            await asyncio.sleep(max(0.001, wait))

    async def _start_ready(self) -> bool:
        now = time.monotonic()
        self._release_delayed(now)
        # A batch is picked and claimed at once (one scan, one transaction), then started
        # one by one at the global pace (_pace).
        room = MAX_IN_FLIGHT - len(self._tasks)
        if room <= 0 or self._global_room(now) <= 0:
            return False
        paused = now < self._paused_until
        if not paused and self.learner.invalid_recently() >= INVALID_PAUSE_AT:
            self._paused_until = now + INVALID_PAUSE_S
            paused = True
            log.error(
                "outbox: %d invalid requests (401/403/429) in 10 minutes; pausing all but "
                "urgent writes for %.0f s to stay far from Discord's ban",
                self.learner.invalid_recently(),
                INVALID_PAUSE_S,
            )
        candidates: list[tuple[int, int, Lane]] = []
        for lane_key, lane in self._lanes.items():
            if lane.in_flight or not len(lane):
                continue
            if self.learner.blocked_until.get(lane_key, 0.0) > now:
                continue
            head = lane.head_priority()
            assert head is not None
            if paused and head != Priority.URGENT:
                continue
            if self._brings_back_at_limit(lane_key, lane.queues[head][0]):
                self.learner.blocked_until[lane_key] = now + ROOM_WAIT_S
                self._make_thread_room()
                continue
            candidates.append((head, lane.queues[head][0], lane))
        if not candidates:
            self._forget_empty_lanes()
            return False
        picked: list[tuple[int, Lane]] = []
        for _, _, lane in heapq.nsmallest(room, candidates, key=lambda c: (c[0], c[1])):
            picked.append((lane.pop(), lane))
            lane.in_flight += 1
        self._claiming = True
        try:
            claimed = await self._claim([write_id for write_id, _ in picked])
        finally:
            self._claiming = False
        by_id = {c.id: c for c in claimed}
        for write_id, lane in picked:
            write = by_id.get(write_id)
            if write is None:
                lane.in_flight -= 1
                await self._vanished(write_id)
                continue
            await self._pace()
            self._tokens -= 1.0
            task = asyncio.create_task(self._carry_out(write, lane), name="hackbot-job:outbox")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    def _brings_back_at_limit(self, lane_key: str, write_id: int) -> bool:
        if self.would_overflow is None or time.monotonic() < self._no_room_until:
            return False
        where = self._where.get(write_id)
        if where is None or where[1] not in BRINGS_THREADS_BACK:
            return False
        target = lane_key.partition(":")[2]
        return target.isdigit() and self.would_overflow(int(target))

    def _make_thread_room(self) -> None:
        """Archive idle spaces in the background (never in a write's slot: the archiving
        writes need slots of their own)."""
        if self.on_thread_limit is None or (self._room is not None and not self._room.done()):
            return
        self._room = asyncio.create_task(self._thread_room(), name="hackbot-job:thread-room")

    async def _thread_room(self) -> None:
        assert self.on_thread_limit is not None
        room = False
        try:
            room = await self.on_thread_limit()
        except Exception:
            log.exception("outbox: making room for active threads failed")
        if not room:  # nothing idle to archive: waiting would not help
            self._no_room_until = time.monotonic() + NO_ROOM_PAUSE_S
        self._wake.set()

    async def _claim(self, ids: list[int]) -> list[service.Claimed]:
        async with self.db.begin() as session:
            return await service.claim(session, self.clock.now(), ids)

    async def _vanished(self, write_id: int) -> None:
        """Cancelled or coalesced meanwhile, or paused after a failure (claim skips those)."""
        async with self.db.read() as session:
            later = await service.not_before(session, [write_id])
        when = later.get(write_id)
        if when is not None and when > self.clock.now():
            where = self._where.get(write_id)
            if where is not None:
                delay = (when - self.clock.now()).total_seconds()
                heapq.heappush(self._delayed, (time.monotonic() + delay, write_id, where[2]))
                return
        self._forget(write_id)
        self._resolve(write_id, True)  # coalesced away: nothing left to do

    def _forget(self, write_id: int) -> None:
        where = self._where.pop(write_id, None)
        if where is not None:
            self._kinds[where[1]] -= 1
            if self._kinds[where[1]] <= 0:
                del self._kinds[where[1]]

    def _forget_empty_lanes(self) -> None:
        if len(self._lanes) > 1000:
            for key in [
                k for k, lane in self._lanes.items() if not len(lane) and not lane.in_flight
            ]:
                del self._lanes[key]

    async def _carry_out(self, write: service.Claimed, lane: Lane) -> None:
        http = self.http
        assert http is not None
        token: contextvars.Token[str | None] | None = None
        error: BaseException | None = None
        result: dict[str, Any] | None = None
        answered = self._answered[write.id] = [False]
        _ANSWERED.set(answered)  # this task's own context
        _NOW.set(self.clock.now)
        try:
            run = EXECUTORS.get(write.kind)
            if run is None:
                raise Permanent(f"no executor for {write.kind}")
            check = ALREADY_DONE.get(write.kind) if write.resumed else None
            # (Checked outside the lane: that request's bucket is not the lane's.)
            done = False if check is None else await check(http, write.payload)
            if not done:
                answered[0] = False  # the check's own answer is not the write's
                token = _LANE.set(write.lane)
                result = await run(http, write.payload)
            else:
                log.info("outbox: %s #%d was done before the restart", write.kind, write.id)
                if isinstance(done, dict):
                    result = done
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        finally:
            if token is not None:
                _LANE.reset(token)
            self._answered.pop(write.id, None)
            lane.in_flight -= 1
            self._wake.set()
        if (
            error is None
            and self.on_posted is not None
            and result is not None
            and "message_id" in result
            and "channel_id" in write.payload
        ):
            self.on_posted(int(write.payload["channel_id"]), int(result["message_id"]))
        if (
            isinstance(error, discord.HTTPException)
            and error.code == MAX_ACTIVE_THREADS
            and self.on_thread_limit is not None
        ):
            try:
                await self.on_thread_limit()
            except Exception:
                log.exception("outbox: making room for active threads failed")
        self._done.append((write, result, error))
        self._flushed.clear()
        self._to_flush.set()

    # -- recording --------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            if not self._done:
                self._flushed.set()
                # Asleep while nothing is finished (no wake-ups 20 times a second at rest).
                self._to_flush.clear()
                await self._to_flush.wait()
            # A moment for the writes finishing together to be recorded together.
            await asyncio.sleep(FLUSH_EVERY_S)
            if not self._done:
                continue
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox: could not record finished writes; trying again")
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        batch, self._done = self._done[:FLUSH_MAX], self._done[FLUSH_MAX:]
        if not batch:
            return
        self._recording += len(batch)
        try:
            await self._record(batch)
        finally:
            self._recording -= len(batch)

    async def _record(
        self, batch: list[tuple[service.Claimed, dict[str, Any] | None, BaseException | None]]
    ) -> None:
        now = self.clock.now()
        plain: list[int] = []
        results: list[tuple[int, dict[str, Any] | None]] = []
        followed: list[tuple[service.Claimed, dict[str, Any] | None, str | None]] = []
        retries: list[tuple[service.Claimed, datetime]] = []
        try:
            async with self.db.begin() as session:
                for write, result, error in batch:
                    if error is None:
                        # The result (a message's id) is kept on the write only when no
                        # handler records it where the feature reads it, or someone waits
                        # for it (Outbox.deliver): one statement for the rest.
                        if result is None or (
                            write.on_done is not None and write.id not in self._waiters
                        ):
                            plain.append(write.id)
                        else:
                            results.append((write.id, result))
                        if write.on_done is not None:
                            followed.append((write, result, None))
                        continue
                    retry, text, pause = classify(error)
                    if not retry:
                        log.warning(
                            "outbox: %s #%d refused for good: %s", write.kind, write.id, text
                        )
                        await service.fail(session, now, write.id, text)
                        await self._follow_up(session, now, write, None, text)
                        continue
                    when = await service.retry_later(session, now, write.id, write.attempts, text)
                    if when is None:
                        log.error(
                            "outbox: %s #%d failed after %d tries: %s",
                            write.kind,
                            write.id,
                            write.attempts,
                            text,
                        )
                        await self._follow_up(session, now, write, None, text)
                        continue
                    if pause is not None:
                        when = max(when, now)
                    retries.append((write, when))
                await service.complete_many(session, now, plain)
                await service.complete_with_results(session, now, results)
                await self._follow_ups(session, now, followed)
        except BaseException:
            self._done[:0] = batch
            raise
        retried = {write.id for write, _ in retries}
        for write, _, error in batch:
            if error is None:
                self.sent += 1
            elif write.id not in retried:
                self.failed += 1
            if write.id not in retried:
                self._forget(write.id)
                self._resolve(write.id, error is None)
        for write, when in retries:
            delay = max(0.0, (when - now).total_seconds())
            log.info("outbox: %s #%d tried again in %.0f s", write.kind, write.id, delay)
            heapq.heappush(self._delayed, (time.monotonic() + delay, write.id, write.priority))
        self._wake.set()
        if not self._done:
            self._flushed.set()

    def on_done(self, name: str, handler: service.DoneHandler) -> None:
        """A handler for this bot's writes named ``name`` (one that needs the bot: its
        settings, how a feature renders its messages); pure ones register with
        :func:`bot.services.outbox.on_done`. Cogs register theirs when they load, before
        the worker starts."""
        self.handlers[name] = handler

    async def _follow_ups(
        self,
        session: AsyncSession,
        now: datetime,
        outcomes: list[tuple[service.Claimed, dict[str, Any] | None, str | None]],
    ) -> None:
        """The handlers of writes done: those that take many at once are called once per
        name (one statement for a broadcast's thousands of deliveries), the others one
        write at a time."""
        grouped: dict[str, list[tuple[service.Claimed, dict[str, Any] | None, str | None]]] = {}
        for outcome in outcomes:
            name = outcome[0].on_done or ""
            if name in service.DONE_MANY_HANDLERS and name not in self.handlers:
                grouped.setdefault(name, []).append(outcome)
            else:
                await self._follow_up(session, now, *outcome)
        for name, many in grouped.items():
            try:
                async with session.begin_nested():
                    await service.DONE_MANY_HANDLERS[name](session, now, many)
            except Exception:
                log.exception("outbox: the %s handler of %d writes failed", name, len(many))

    async def _follow_up(
        self,
        session: AsyncSession,
        now: datetime,
        write: service.Claimed,
        result: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        """The handler the write names, in a savepoint: one that fails is logged and the
        others of the batch are still recorded."""
        name = write.on_done or ""
        handler = self.handlers.get(name) or service.DONE_HANDLERS.get(name)
        if handler is None:
            many = service.DONE_MANY_HANDLERS.get(name)
            if many is None:
                return

            async def handler(
                session: AsyncSession,
                now: datetime,
                write: service.Claimed,
                result: dict[str, Any] | None,
                error: str | None,
            ) -> None:
                await many(session, now, [(write, result, error)])

        try:
            async with session.begin_nested():
                await handler(session, now, write, result, error)
        except Exception:
            log.exception("outbox: the %s handler of #%d failed", write.on_done, write.id)

    async def idle(self, within: float = 30.0) -> bool:
        """Wait until nothing is waiting or in flight (tests, the demo)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            if not self._where and not self._tasks and not self._done:
                return True
            await asyncio.sleep(0.05)
        return False

    async def purge(self) -> int:
        from datetime import timedelta

        async with self.db.begin() as session:
            return await service.purge_done(
                session, self.clock.now() - timedelta(seconds=KEEP_DONE_S)
            )

    # -- the backlog in the log ---------------------------------------------------------

    #: While writes wait, one INFO line this often (seconds) says what and for how long.
    BACKLOG_LOG_EVERY_S = 60.0
    _backlog_log: asyncio.Task[None] | None = None

    async def _log_backlog(self) -> None:
        """Log the backlog by kind (waiting, estimated seconds) while something waits, so a
        slow rush shows in the log without anyone asking ``/admin status``."""
        while True:
            await asyncio.sleep(self.BACKLOG_LOG_EVERY_S)
            try:
                backlog = self.backlog()
            except Exception:
                log.exception("outbox: could not read the backlog")
                continue
            if backlog:
                log.info(
                    "outbox: waiting %s",
                    ", ".join(f"{b.kind} {b.waiting} (eta {b.eta_s:.0f} s)" for b in backlog),
                )


def eta_text(seconds: float, lang: str) -> str:
    """ "in a few seconds", "in about 12 min", "in about 2 h 05", in ``lang``."""
    from bot.i18n import t

    if seconds < 45:
        return t("outbox.eta.now", lang)
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return t("outbox.eta.minutes", lang, minutes=minutes)
    return t("outbox.eta.hours", lang, hours=minutes // 60, minutes=minutes % 60)
