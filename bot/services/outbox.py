"""The outbox's rules: what a write is, how a newer one supersedes a pending one, and the
states a write goes through. The worker that sends them is :mod:`bot.outbox`.

Features add writes in the transaction of the change that calls for them::

    async with bot.db.begin() as session:
        result = await registration.register(session, ...)
        await outbox.enqueue(session, now, outbox.role_add(guild, user, role, reason=...))

so a write exists exactly when its change was committed. After the commit the worker
hears of it (``session.info["outbox"]``, read by the database's commit hook) and sends it
when its lane and its priority allow.

Coalescing (:func:`enqueue`): a write with a ``coalesce_key`` meets the pending write of
the same key, if there is one:

* the opposite write (a role granted, then removed; a member added to a thread, then
  removed) cancels it, and neither is sent: nothing changed;
* any other write replaces the pending one's payload, keeping its place in the queue
  (a message edited twice is sent once, as last written).

Nothing here imports discord: payloads are the JSON bodies of Discord's routes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models.outbox import OutboxWrite, Priority, WriteStatus

log = logging.getLogger(__name__)

#: session.info key under which a transaction lists the writes it added (for the worker).
INFO_KEY = "outbox"

#: Writes whose opposite cancels them when both are still pending.
OPPOSITES = {
    "role.add": "role.remove",
    "role.remove": "role.add",
    "thread.add": "thread.remove",
    "thread.remove": "thread.add",
}

#: Pauses before a write refused for a passing reason (5xx, network, 429 past discord.py's
#: own tries) is tried again; after the last it is marked failed.
RETRY_PAUSES_S = (2.0, 5.0, 15.0, 45.0, 120.0, 300.0, 600.0)
ERROR_MAX = 300


@dataclass(frozen=True)
class Write:
    """One write to Discord, before it is stored."""

    kind: str
    lane: str
    payload: dict[str, Any]
    priority: Priority = Priority.NORMAL
    coalesce_key: str | None = None
    batch: str | None = None
    on_done: str | None = None


@dataclass(frozen=True)
class Queued:
    """A stored write, as the worker keeps it in memory."""

    id: int
    lane: str
    priority: int
    kind: str


@dataclass
class Enqueued:
    """What :func:`enqueue` did: the write that will carry the change (the pending one it
    merged into, when coalesced), or None when it cancelled a pending opposite write."""

    queued: Queued | None
    coalesced: bool = False
    cancelled: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------
# Writes, by kind. Lanes follow Discord's rate-limit buckets: one per route and major
# parameter (the guild for member roles, the channel for messages and overwrites).


def role_lane(guild_id: int) -> str:
    return f"roles:{guild_id}"


def _role(
    kind: str,
    guild_id: int,
    user_id: int,
    role_id: int,
    reason: str | None,
    priority: Priority,
    batch: str | None,
) -> Write:
    return Write(
        kind,
        role_lane(guild_id),
        {"guild_id": guild_id, "user_id": user_id, "role_id": role_id, "reason": reason},
        priority,
        coalesce_key=f"role:{guild_id}:{user_id}:{role_id}",
        batch=batch,
    )


def role_add(
    guild_id: int,
    user_id: int,
    role_id: int,
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    batch: str | None = None,
) -> Write:
    return _role("role.add", guild_id, user_id, role_id, reason, priority, batch)


def role_remove(
    guild_id: int,
    user_id: int,
    role_id: int,
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    batch: str | None = None,
) -> Write:
    return _role("role.remove", guild_id, user_id, role_id, reason, priority, batch)


def message_send(
    channel_id: int,
    *,
    content: str | None = None,
    embeds: Sequence[dict[str, Any]] = (),
    components: Sequence[dict[str, Any]] = (),
    mentions: dict[str, Any] | None = None,
    reply_to: int | None = None,
    priority: Priority = Priority.NORMAL,
    batch: str | None = None,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A new message. ``mentions`` is Discord's ``allowed_mentions`` (default: nobody).
    The nonce makes a send repeated after a crash return the first message instead of
    posting a second one. ``ref`` is kept for the ``on_done`` handler. ``key`` names the
    message (e.g. a ticket's card): a newer send of the same key, while this one waits,
    takes its place, and the key tells whether the message was ever asked for."""
    payload: dict[str, Any] = {
        "channel_id": channel_id,
        "nonce": uuid.uuid4().hex[:25],
        "allowed_mentions": mentions or {"parse": []},
    }
    if content:
        payload["content"] = content
    if embeds:
        payload["embeds"] = list(embeds)
    if components:
        # Buttons whose custom ids the bot recognises after a restart (dynamic items).
        payload["components"] = list(components)
    if reply_to is not None:
        payload["message_reference"] = {
            "message_id": reply_to,
            "channel_id": channel_id,
            "fail_if_not_exists": False,
        }
    if ref:
        payload["ref"] = ref
    return Write(
        "message.send",
        f"messages:{channel_id}",
        payload,
        priority,
        coalesce_key=key,
        batch=batch,
        on_done=on_done,
    )


def message_edit(
    channel_id: int,
    message_id: int,
    *,
    content: str | None = None,
    embeds: Sequence[dict[str, Any]] | None = None,
    components: Sequence[dict[str, Any]] | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """An edit of the bot's message; what is None stays as it is (``components=[]``
    removes the buttons). A newer edit of the same message, while this one waits, takes its
    place: the message is edited once, as last written. Nobody is pinged by an edit."""
    payload: dict[str, Any] = {
        "channel_id": channel_id,
        "message_id": message_id,
        "allowed_mentions": {"parse": []},
    }
    if content is not None:
        payload["content"] = content
    if embeds is not None:
        payload["embeds"] = list(embeds)
    if components is not None:
        payload["components"] = list(components)
    return Write(
        "message.edit",
        f"edits:{channel_id}",
        payload,
        priority,
        coalesce_key=f"message:{channel_id}:{message_id}",
    )


def message_delete(
    channel_id: int,
    message_id: int,
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """Delete the bot's message (a message already gone counts as deleted). An edit of it
    still waiting is superseded: it is deleted, not edited first."""
    return Write(
        "message.delete",
        f"deletes:{channel_id}",
        {"channel_id": channel_id, "message_id": message_id, "reason": reason},
        priority,
        coalesce_key=f"message:{channel_id}:{message_id}",
    )


def message_pin(
    channel_id: int,
    message_id: int,
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """Pin the bot's message (pinning a pinned message changes nothing)."""
    return Write(
        "message.pin",
        f"pins:{channel_id}",
        {"channel_id": channel_id, "message_id": message_id, "reason": reason},
        priority,
        coalesce_key=f"pin:{channel_id}:{message_id}",
    )


def overwrite_set(
    channel_id: int,
    target_id: int,
    *,
    allow: int,
    deny: int = 0,
    member: bool = True,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    return Write(
        "overwrite.set",
        f"channel:{channel_id}",
        {
            "channel_id": channel_id,
            "target_id": target_id,
            "allow": allow,
            "deny": deny,
            "type": 1 if member else 0,
            "reason": reason,
        },
        priority,
        coalesce_key=f"overwrite:{channel_id}:{target_id}",
    )


def overwrite_delete(
    channel_id: int,
    target_id: int,
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    return Write(
        "overwrite.delete",
        f"channel:{channel_id}",
        {"channel_id": channel_id, "target_id": target_id, "reason": reason},
        priority,
        coalesce_key=f"overwrite:{channel_id}:{target_id}",
    )


def _thread_member(
    kind: str, thread_id: int, user_id: int, priority: Priority, archived: bool
) -> Write:
    return Write(
        kind,
        f"thread:{thread_id}",
        {"thread_id": thread_id, "user_id": user_id, "unarchive": archived},
        priority,
        coalesce_key=f"thread:{thread_id}:{user_id}",
    )


def thread_add(
    thread_id: int,
    user_id: int,
    *,
    priority: Priority = Priority.NORMAL,
    archived: bool = False,
) -> Write:
    """Add someone to a thread. ``archived``: the thread is known to be archived, so it is
    brought back first (Discord refuses to add members to an archived thread)."""
    return _thread_member("thread.add", thread_id, user_id, priority, archived)


def thread_remove(
    thread_id: int,
    user_id: int,
    *,
    priority: Priority = Priority.NORMAL,
    archived: bool = False,
) -> Write:
    return _thread_member("thread.remove", thread_id, user_id, priority, archived)


def thread_archive(
    thread_id: int, *, reason: str | None = None, priority: Priority = Priority.NORMAL
) -> Write:
    """Archive a thread (unlocked: a member's message, or the bot's, brings it back)."""
    return Write(
        "thread.archive",
        f"thread:{thread_id}",
        {"thread_id": thread_id, "reason": reason},
        priority,
        coalesce_key=f"thread-archive:{thread_id}",
    )


def thread_close(
    thread_id: int, *, content: str, reason: str | None = None, priority: Priority = Priority.NORMAL
) -> Write:
    """Say a last word in a thread, then archive and lock it, in that order (one write: a
    message after the lock would bring the thread back)."""
    return Write(
        "thread.close",
        f"thread:{thread_id}",
        {
            "thread_id": thread_id,
            "content": content,
            "nonce": uuid.uuid4().hex[:25],
            "reason": reason,
        },
        priority,
        coalesce_key=f"thread-close:{thread_id}",
    )


def dm_send(
    user_id: int,
    *,
    content: str,
    components: Sequence[dict[str, Any]] = (),
    fallback_channel_id: int | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """A direct message. When the person does not take direct messages (Discord's 50007)
    and ``fallback_channel_id`` is given, the message is posted there instead, naming and
    notifying only them; otherwise the write is refused for good. The result says which:
    ``{"via": "dm" | "channel", "message_id": ...}``."""
    payload: dict[str, Any] = {
        "user_id": user_id,
        "content": content,
        "nonce": uuid.uuid4().hex[:25],
        "allowed_mentions": {"parse": []},
    }
    if components:
        payload["components"] = list(components)
    if fallback_channel_id is not None:
        payload["fallback_channel_id"] = fallback_channel_id
    return Write("dm.send", f"dm:{user_id}", payload, priority)


def channel_create(
    guild_id: int,
    *,
    name: str,
    type: int,
    parent_id: int | None = None,
    topic: str | None = None,
    overwrites: Sequence[dict[str, Any]] = (),
    tags: Sequence[str] = (),
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A channel in the server (Discord's ``type``: 0 text, 2 voice, 4 category, 15 forum),
    with its permission ``overwrites`` (Discord's form: ``id``, ``type``, ``allow``,
    ``deny``) and, for a forum, its ``tags``. A creation a crash cut is looked for (same
    name, type and category) before another is made. The result is ``{"channel_id": ...}``;
    ``ref`` is kept for the ``on_done`` handler; ``key`` names the creation, so that it is
    never asked for twice."""
    payload: dict[str, Any] = {
        "guild_id": guild_id,
        "name": name[:100],
        "type": type,
        "parent_id": parent_id,
        "permission_overwrites": list(overwrites),
        "reason": reason,
    }
    if topic:
        payload["topic"] = topic
    if tags:
        payload["available_tags"] = [{"name": tag[:20]} for tag in tags]
    if ref:
        payload["ref"] = ref
    return Write(
        "channel.create",
        f"channels:{guild_id}",
        payload,
        priority,
        coalesce_key=key,
        on_done=on_done,
    )


def thread_create(
    parent_id: int,
    *,
    guild_id: int,
    name: str,
    private: bool = True,
    auto_archive: int = 10080,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A thread without a starting message in the channel ``parent_id`` (private ones are
    not invitable: only the bot adds people). At the server's limit of active threads
    Discord refuses it; room is made and it goes again. A creation a crash cut is looked
    for among the server's active threads first. The result is ``{"channel_id": ...}``."""
    payload: dict[str, Any] = {
        "guild_id": guild_id,
        "parent_id": parent_id,
        "name": name[:100],
        "private": private,
        "auto_archive": auto_archive,
        "reason": reason,
    }
    if ref:
        payload["ref"] = ref
    return Write(
        "thread.create",
        f"threads:{parent_id}",
        payload,
        priority,
        coalesce_key=key,
        on_done=on_done,
    )


def channel_edit(
    channel_id: int,
    *,
    name: str | None = None,
    topic: str | None = None,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """Rename a channel or thread (and set a text channel's topic). Discord allows about two
    renames of a channel per 10 minutes: callers keep to that budget; a newer edit of the
    same channel, while this one waits, takes its place."""
    payload: dict[str, Any] = {"channel_id": channel_id, "reason": reason}
    if name is not None:
        payload["name"] = name[:100]
    if topic is not None:
        payload["topic"] = topic
    return Write(
        "channel.edit",
        f"rename:{channel_id}",
        payload,
        priority,
        coalesce_key=f"channel-edit:{channel_id}",
    )


def forum_tags(
    forum_id: int,
    tags: Sequence[dict[str, Any]],
    *,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    key: str | None = None,
) -> Write:
    """Set a forum's tags: the ones it keeps with their ``id``, new ones by ``name`` (20
    characters at most, 20 tags at most). A newer change of the same forum's tags, while
    this one waits, takes its place."""
    return Write(
        "channel.edit",
        f"rename:{forum_id}",
        {
            "channel_id": forum_id,
            "available_tags": [
                {k: v for k, v in tag.items() if k in ("id", "name")} for tag in tags
            ],
            "reason": reason,
        },
        priority,
        coalesce_key=key or f"forum-tags:{forum_id}",
    )


def role_create(
    guild_id: int,
    *,
    name: str,
    permissions: int | None = None,
    mentionable: bool = False,
    hoist: bool = False,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A role in the server. A creation a crash cut is looked for (a role of the same name)
    before another is made. The result is ``{"role_id": ...}``."""
    payload: dict[str, Any] = {
        "guild_id": guild_id,
        "name": name[:100],
        "mentionable": mentionable,
        "hoist": hoist,
        "reason": reason,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    if ref:
        payload["ref"] = ref
    return Write(
        "role.create",
        f"guild-roles:{guild_id}",
        payload,
        priority,
        coalesce_key=key,
        on_done=on_done,
    )


def role_edit(
    guild_id: int,
    role_id: int,
    *,
    permissions: int,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """Give a role these permissions (a newer edit of the role, while this one waits, takes
    its place)."""
    return Write(
        "role.edit",
        f"guild-roles:{guild_id}",
        {
            "guild_id": guild_id,
            "role_id": role_id,
            "permissions": str(permissions),
            "reason": reason,
        },
        priority,
        coalesce_key=f"role-edit:{role_id}",
    )


def role_delete(
    guild_id: int, role_id: int, *, reason: str | None = None, priority: Priority = Priority.NORMAL
) -> Write:
    """Delete a role (one already gone counts as deleted); an edit of it still waiting is
    superseded."""
    return Write(
        "role.delete",
        f"guild-roles:{guild_id}",
        {"guild_id": guild_id, "role_id": role_id, "reason": reason},
        priority,
        coalesce_key=f"role-edit:{role_id}",
    )


def onboarding_edit(
    guild_id: int,
    *,
    prompts: Sequence[dict[str, Any]],
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
) -> Write:
    """Set the server's onboarding questions (all of them: the ones kept and the new). The
    result is ``{"enabled": ...}``, whether onboarding is on."""
    return Write(
        "onboarding.edit",
        f"onboarding:{guild_id}",
        {"guild_id": guild_id, "prompts": list(prompts), "reason": reason},
        priority,
        coalesce_key=f"onboarding:{guild_id}",
    )


def event_create(
    guild_id: int,
    *,
    fields: dict[str, Any],
    start: bool = False,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A scheduled event (Discord's ``fields``: name, description, times, entity), started
    at once when ``start`` (Discord refuses a start time in the past: a phase already
    running is created just ahead, then started). One a crash cut is looked for among the
    server's events (same name and description) first. The result is
    ``{"event_id": ..., "status": ...}``."""
    payload: dict[str, Any] = {"guild_id": guild_id, "fields": fields, "start": start}
    if ref:
        payload["ref"] = ref
    return Write("event.create", f"events:{guild_id}", payload, coalesce_key=key, on_done=on_done)


def event_edit(
    guild_id: int,
    event_id: int,
    *,
    fields: dict[str, Any],
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
) -> Write:
    """Change a scheduled event (``fields`` may hold its ``status``: started, completed); a
    newer edit of the same event, while this one waits, takes its place."""
    payload: dict[str, Any] = {"guild_id": guild_id, "event_id": event_id, "fields": fields}
    if ref:
        payload["ref"] = ref
    return Write(
        "event.edit",
        f"events:{guild_id}",
        payload,
        coalesce_key=f"event:{event_id}",
        on_done=on_done,
    )


def event_delete(guild_id: int, event_id: int) -> Write:
    """Delete a scheduled event (one already gone counts as deleted)."""
    return Write(
        "event.delete",
        f"events:{guild_id}",
        {"guild_id": guild_id, "event_id": event_id},
        coalesce_key=f"event:{event_id}",
    )


async def unfinished(session: AsyncSession, key: str) -> list[int]:
    """The writes of ``key`` still to be carried out (pending, or cut while being sent)."""
    return list(
        (
            await session.scalars(
                select(OutboxWrite.id).where(
                    OutboxWrite.coalesce_key == key,
                    OutboxWrite.status.in_((WriteStatus.PENDING.value, WriteStatus.SENDING.value)),
                )
            )
        ).all()
    )


async def refusal_of(session: AsyncSession, write_id: int) -> str | None:
    """Why Discord refused a write for good (None when it did not)."""
    return await session.scalar(
        select(OutboxWrite.error).where(
            OutboxWrite.id == write_id, OutboxWrite.status == WriteStatus.FAILED.value
        )
    )


async def outcome_of(session: AsyncSession, write_id: int) -> tuple[bool, dict[str, Any] | None]:
    """Whether a write was carried out, and what Discord answered (kept for a write without
    a done handler)."""
    row = (
        await session.execute(
            select(OutboxWrite.status, OutboxWrite.result).where(OutboxWrite.id == write_id)
        )
    ).first()
    if row is None:
        return False, None
    return row.status == WriteStatus.DONE.value, row.result


def post_settle(
    thread_id: int,
    *,
    embeds: Sequence[dict[str, Any]],
    components: Sequence[dict[str, Any]] = (),
    note: str | None = None,
    close: bool = False,
    name: str | None = None,
    applied_tags: Sequence[int] | None = None,
    reopen: bool = False,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
) -> Write:
    """A forum post after a decision or an edit, in order and as one write: brought back
    first when ``reopen`` (a gallery post updated is active again), a note in it (optional),
    its starting message's card updated, its ``name`` and ``applied_tags`` (when given), then
    (``close``) archived and locked. An archived post Discord refuses to change is brought
    back first. Without a note, a newer settle of the same post, while this one waits, takes
    its place."""
    payload: dict[str, Any] = {
        "thread_id": thread_id,
        "embeds": list(embeds),
        "components": list(components),
        "close": close,
        "reason": reason,
    }
    if note:
        payload["note"] = note
        payload["nonce"] = uuid.uuid4().hex[:25]
    if name is not None:
        payload["name"] = name[:100]
    if applied_tags is not None:
        payload["applied_tags"] = [str(tag) for tag in applied_tags]
    if reopen:
        payload["reopen"] = True
    if ref:
        payload["ref"] = ref
    return Write(
        "post.settle",
        f"thread:{thread_id}",
        payload,
        priority,
        coalesce_key=None if note else f"post-settle:{thread_id}",
        on_done=on_done,
    )


def forum_post(
    forum_id: int,
    *,
    guild_id: int,
    name: str,
    embeds: Sequence[dict[str, Any]],
    components: Sequence[dict[str, Any]] = (),
    applied_tags: Sequence[int] = (),
    auto_archive: int = 1440,
    reason: str | None = None,
    priority: Priority = Priority.NORMAL,
    on_done: str | None = None,
    ref: dict[str, Any] | None = None,
    key: str | None = None,
) -> Write:
    """A new post in a forum: a thread named ``name`` whose starting message holds ``embeds``
    and ``components`` (buttons the bot recognises after a restart; pinging nobody). At the
    server's limit of active threads Discord refuses it; room is made and it goes again. One
    a crash cut is looked for among the server's active threads (same forum and name, the
    bot's starting message with the same first embed) before another is made. The result is
    ``{"channel_id": ...}``."""
    payload: dict[str, Any] = {
        "forum_id": forum_id,
        "guild_id": guild_id,
        "name": name[:100],
        "embeds": list(embeds),
        "applied_tags": [str(tag) for tag in applied_tags],
        "auto_archive": auto_archive,
        "reason": reason,
    }
    if components:
        payload["components"] = list(components)
    if ref:
        payload["ref"] = ref
    return Write(
        "forum.post",
        f"threads:{forum_id}",
        payload,
        priority,
        coalesce_key=key,
        on_done=on_done,
    )


# --------------------------------------------------------------------------
# Storing


async def enqueue(session: AsyncSession, now: datetime, write: Write) -> Enqueued:
    """Store ``write`` (or coalesce it with the pending write it supersedes)."""
    return (await enqueue_many(session, now, [write]))[0]


async def enqueue_many(
    session: AsyncSession, now: datetime, writes: Iterable[Write]
) -> list[Enqueued]:
    """Store many writes in one statement (a broadcast's 1,500 destinations, a rush).

    Writes with a coalesce key are matched against the pending writes of the same keys
    first (one query for all of them); the rest are inserted together."""
    writes = list(writes)
    keys = {w.coalesce_key for w in writes if w.coalesce_key}
    pending: dict[str, tuple[int, str, int]] = {}
    if keys:
        rows = await session.execute(
            select(
                OutboxWrite.coalesce_key, OutboxWrite.id, OutboxWrite.kind, OutboxWrite.priority
            ).where(
                OutboxWrite.coalesce_key.in_(keys),
                OutboxWrite.status == WriteStatus.PENDING.value,
            )
        )
        for key, write_id, kind, priority in rows:
            pending[key] = (write_id, kind, priority)
    outcomes: list[Enqueued | None] = [None] * len(writes)
    unkeyed: list[tuple[int, Write]] = []
    for index, write in enumerate(writes):
        key = write.coalesce_key
        if key is None:
            unkeyed.append((index, write))
            continue
        if key not in pending:
            # Stored at once, so that a later write of this call can coalesce with it.
            (queued,) = await _insert(session, now, [write])
            pending[key] = (queued.id, write.kind, queued.priority)
            outcomes[index] = Enqueued(queued)
            continue
        write_id, kind, priority = pending[key]
        if OPPOSITES.get(write.kind) == kind:
            # Granted then removed (or the other way) before anything was sent: nothing to do.
            await _cancel(session, now, [write_id])
            del pending[key]
            outcomes[index] = Enqueued(None, coalesced=True, cancelled=[write_id])
            continue
        # The newer write wins, in the older one's place, as urgent as the more urgent one.
        merged = min(priority, int(write.priority))
        await session.execute(
            update(OutboxWrite)
            .where(OutboxWrite.id == write_id)
            .values(payload=write.payload, kind=write.kind, priority=merged)
        )
        pending[key] = (write_id, write.kind, merged)
        queued = Queued(write_id, write.lane, merged, write.kind)
        if merged < priority:  # the worker moves it up once this is committed
            session.info.setdefault(INFO_KEY, []).append(queued)
        outcomes[index] = Enqueued(queued, coalesced=True)
    if unkeyed:
        stored = await _insert(session, now, [write for _, write in unkeyed])
        for (index, _), queued in zip(unkeyed, stored, strict=True):
            outcomes[index] = Enqueued(queued)
    return [o for o in outcomes if o is not None]


async def _insert(session: AsyncSession, now: datetime, writes: list[Write]) -> list[Queued]:
    rows = [
        {
            "kind": w.kind,
            "lane": w.lane,
            "priority": int(w.priority),
            "payload": w.payload,
            "coalesce_key": w.coalesce_key,
            "batch": w.batch,
            "on_done": w.on_done,
            "status": WriteStatus.PENDING.value,
            "attempts": 0,
            "created_at": now,
        }
        for w in writes
    ]
    ids = (
        await session.scalars(
            insert(OutboxWrite).returning(OutboxWrite.id, sort_by_parameter_order=True), rows
        )
    ).all()
    queued = [Queued(i, w.lane, int(w.priority), w.kind) for i, w in zip(ids, writes, strict=True)]
    session.info.setdefault(INFO_KEY, []).extend(queued)
    return queued


async def _cancel(session: AsyncSession, now: datetime, ids: list[int]) -> None:
    await session.execute(
        update(OutboxWrite)
        .where(OutboxWrite.id.in_(ids), OutboxWrite.status == WriteStatus.PENDING.value)
        .values(status=WriteStatus.CANCELLED.value, done_at=now)
    )


# --------------------------------------------------------------------------
# What follows a write: handlers named by ``Write.on_done``


#: ``handler(session, now, write, result, error)``, run in the transaction that records the
#: write as done (``error`` None, ``result`` what Discord answered, e.g. a message id) or as
#: refused for good (``error`` says why). Pure database work: a feature records the outcome
#: (a delivery sent, a post's id) or stores the writes that come next.
DoneHandler = Callable[
    [AsyncSession, datetime, "Claimed", dict[str, Any] | None, str | None], Awaitable[None]
]
DONE_HANDLERS: dict[str, DoneHandler] = {}
#: The same for many writes at once, ``handler(session, now, outcomes)`` with ``outcomes``
#: a list of ``(write, result, error)``: for a feature that records thousands of outcomes
#: (a broadcast's deliveries) in one statement instead of one each.
DoneManyHandler = Callable[
    [AsyncSession, datetime, list[tuple["Claimed", dict[str, Any] | None, str | None]]],
    Awaitable[None],
]
DONE_MANY_HANDLERS: dict[str, DoneManyHandler] = {}


def on_done(name: str) -> Callable[[DoneHandler], DoneHandler]:
    """Register the handler a write names in ``on_done``."""

    def register(handler: DoneHandler) -> DoneHandler:
        DONE_HANDLERS[name] = handler
        return handler

    return register


def on_done_many(name: str) -> Callable[[DoneManyHandler], DoneManyHandler]:
    """Register the handler a write names in ``on_done``, told of many outcomes at once."""

    def register(handler: DoneManyHandler) -> DoneManyHandler:
        DONE_MANY_HANDLERS[name] = handler
        return handler

    return register


# --------------------------------------------------------------------------
# The worker's side


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    lane: str
    priority: int
    payload: dict[str, Any]
    on_done: str | None
    attempts: int
    resumed: bool  # it was already "sending": a crash cut it, it may have reached Discord


async def load_unfinished(session: AsyncSession) -> list[Queued]:
    """Every write still to do, in order (the worker's start-up load)."""
    rows = await session.execute(
        select(OutboxWrite.id, OutboxWrite.lane, OutboxWrite.priority, OutboxWrite.kind)
        .where(OutboxWrite.status.in_([WriteStatus.PENDING.value, WriteStatus.SENDING.value]))
        .order_by(OutboxWrite.id)
    )
    return [Queued(*row) for row in rows]


async def claim(session: AsyncSession, now: datetime, ids: Sequence[int]) -> list[Claimed]:
    """Mark ``ids`` as being sent (committed before the requests leave) and return them.

    Writes cancelled or coalesced meanwhile are left out; a write already ``sending`` (a
    crash cut it) is returned with ``resumed`` set. Writes whose pause after a failure has
    not ended yet are left out too (the worker keeps them for later)."""
    if not ids:
        return []
    rows = (
        await session.execute(
            select(
                OutboxWrite.id,
                OutboxWrite.kind,
                OutboxWrite.lane,
                OutboxWrite.priority,
                OutboxWrite.payload,
                OutboxWrite.on_done,
                OutboxWrite.attempts,
                OutboxWrite.status,
                OutboxWrite.not_before,
            ).where(
                OutboxWrite.id.in_(ids),
                OutboxWrite.status.in_([WriteStatus.PENDING.value, WriteStatus.SENDING.value]),
            )
        )
    ).all()
    ready = [row for row in rows if row.not_before is None or row.not_before <= now]
    if not ready:
        return []
    await session.execute(
        update(OutboxWrite)
        .where(OutboxWrite.id.in_([row.id for row in ready]))
        .values(status=WriteStatus.SENDING.value, attempts=OutboxWrite.attempts + 1)
    )
    return [
        Claimed(
            row.id,
            row.kind,
            row.lane,
            row.priority,
            row.payload,
            row.on_done,
            row.attempts + 1,
            row.status == WriteStatus.SENDING.value,
        )
        for row in sorted(ready, key=lambda r: r.id)
    ]


async def not_before(session: AsyncSession, ids: Sequence[int]) -> dict[int, datetime]:
    """When writes paused after a failure may be tried again (for the worker's timers)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(OutboxWrite.id, OutboxWrite.not_before).where(
            OutboxWrite.id.in_(ids), OutboxWrite.not_before.is_not(None)
        )
    )
    return {write_id: when for write_id, when in rows}


async def complete(
    session: AsyncSession, now: datetime, write_id: int, result: dict[str, Any] | None
) -> None:
    await session.execute(
        update(OutboxWrite)
        .where(OutboxWrite.id == write_id)
        .values(status=WriteStatus.DONE.value, done_at=now, result=result, error=None)
    )


async def complete_with_results(
    session: AsyncSession, now: datetime, results: Sequence[tuple[int, dict[str, Any] | None]]
) -> None:
    """Mark writes done with what Discord answered (a message's id), in one statement."""
    if results:
        await session.execute(
            update(OutboxWrite),
            [
                {
                    "id": write_id,
                    "status": WriteStatus.DONE.value,
                    "done_at": now,
                    "result": result,
                    "error": None,
                }
                for write_id, result in results
            ],
        )


async def complete_many(session: AsyncSession, now: datetime, ids: Sequence[int]) -> None:
    """Mark writes done that need no result kept (roles, overwrites, edits)."""
    if ids:
        await session.execute(
            update(OutboxWrite)
            .where(OutboxWrite.id.in_(ids))
            .values(status=WriteStatus.DONE.value, done_at=now, error=None)
        )


async def fail(session: AsyncSession, now: datetime, write_id: int, error: str) -> None:
    """Discord refused the write for good (the member left, the channel is gone)."""
    await session.execute(
        update(OutboxWrite)
        .where(OutboxWrite.id == write_id)
        .values(status=WriteStatus.FAILED.value, done_at=now, error=error[:ERROR_MAX])
    )


async def retry_later(
    session: AsyncSession, now: datetime, write_id: int, attempts: int, error: str
) -> datetime | None:
    """Put a write refused for a passing reason back in the queue after a pause growing
    with its attempts; past the last pause, mark it failed and return None."""
    if attempts > len(RETRY_PAUSES_S):
        await fail(session, now, write_id, error)
        return None
    when = now + timedelta(seconds=RETRY_PAUSES_S[attempts - 1])
    await session.execute(
        update(OutboxWrite)
        .where(OutboxWrite.id == write_id)
        .values(status=WriteStatus.PENDING.value, not_before=when, error=error[:ERROR_MAX])
    )
    return when


# --------------------------------------------------------------------------
# Figures


@dataclass(frozen=True)
class BatchProgress:
    batch: str
    done: int
    failed: int
    waiting: int

    @property
    def total(self) -> int:
        return self.done + self.failed + self.waiting


async def batch_progress(session: AsyncSession, batch: str) -> BatchProgress:
    rows = await session.execute(
        select(OutboxWrite.status, func.count())
        .where(OutboxWrite.batch == batch)
        .group_by(OutboxWrite.status)
    )
    counts = dict(rows.all())
    return BatchProgress(
        batch,
        done=counts.get(WriteStatus.DONE.value, 0) + counts.get(WriteStatus.CANCELLED.value, 0),
        failed=counts.get(WriteStatus.FAILED.value, 0),
        waiting=counts.get(WriteStatus.PENDING.value, 0) + counts.get(WriteStatus.SENDING.value, 0),
    )


async def failed_since(session: AsyncSession, since: datetime) -> dict[str, int]:
    """Writes refused for good since ``since``, by kind (for /admin status)."""
    rows = await session.execute(
        select(OutboxWrite.kind, func.count())
        .where(OutboxWrite.status == WriteStatus.FAILED.value, OutboxWrite.done_at >= since)
        .group_by(OutboxWrite.kind)
    )
    return dict(rows.all())


async def purge_done(session: AsyncSession, before: datetime) -> int:
    """Forget finished writes older than ``before`` (failed ones are kept for the record)."""
    result = await session.execute(
        delete(OutboxWrite).where(
            OutboxWrite.status.in_([WriteStatus.DONE.value, WriteStatus.CANCELLED.value]),
            OutboxWrite.done_at < before,
        )
    )
    return int(result.rowcount or 0)
