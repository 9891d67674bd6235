"""Interactions: INTERACTION_CREATE, the callback endpoint, and the interaction webhook.

Discord's rules enforced here:

* the first response must arrive within 3 seconds of the interaction (real time),
  else 404 10062 "Unknown interaction" (recorded as a missed deadline);
* an interaction is answered once (400 40060);
* edits and follow-ups go through the webhook ``/webhooks/{application_id}/{token}``
  for 15 minutes (sandbox clock), then 401 50027 "Invalid Webhook Token";
* the response type must fit the interaction (an autocomplete gets choices, a
  modal cannot answer a modal, ...);
* autocomplete choices: at most 25, names of 1 to 100 characters, values of the focused
  option's type (strings of at most 100 characters, integers, numbers).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError
from sandbox.server import state as st
from sandbox.server.core import MESSAGE_FLAG_EPHEMERAL, MESSAGE_FLAG_LOADING
from sandbox.server.pipeline import Call, route

if TYPE_CHECKING:
    from sandbox.server.core import SandboxServer

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Callback types
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9

ALLOWED_CALLBACKS = {
    APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, MODAL},
    MESSAGE_COMPONENT: {
        CHANNEL_MESSAGE_WITH_SOURCE,
        DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
        MODAL,
    },
    APPLICATION_COMMAND_AUTOCOMPLETE: {APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
    MODAL_SUBMIT: {
        CHANNEL_MESSAGE_WITH_SOURCE,
        DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
        DEFERRED_UPDATE_MESSAGE,
        UPDATE_MESSAGE,
    },
}

TOKEN_LIFETIME = timedelta(minutes=15)
ATTACHMENT_SIZE_LIMIT = limits.UPLOAD_SIZE_MAX


def unknown_interaction() -> DiscordError:
    return DiscordError(404, 10062, "Unknown interaction")


@dataclass
class InteractionRecord:
    id: str
    token: str
    type: int
    payload: dict
    guild_id: str | None
    channel_id: str
    user_id: str
    created_mono: float
    created_at: datetime
    source_message_id: str | None = None
    response_type: int | None = None
    responded_mono: float | None = None
    original_id: str | None = None
    ephemeral: bool = False
    modal: dict | None = None
    choices: list[dict] | None = None
    followup_ids: list[str] = field(default_factory=list)
    missed_deadline: bool = False
    late_callback_at: float | None = None
    completed: bool = (
        False  # the deferred response was filled in (edit of @original or a follow-up)
    )
    _waiters: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(
            (self.payload.get("data") or {}).get("name")
            or (self.payload.get("data") or {}).get("custom_id")
            or ""
        )

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(self, predicate: Any, max_wait: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return bool(predicate())
        return True


class Interactions:
    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.records: dict[str, InteractionRecord] = {}
        self.by_token: dict[str, InteractionRecord] = {}
        self.deadline_s = 3.0
        self.missed: list[InteractionRecord] = []
        self.round_trips: list[float] = []  # seconds from dispatch to first response

    def cancel_all(self) -> None:
        for record in self.records.values():
            record.notify()

    # -- creating interactions (the driver's side) ------------------------------

    def create(
        self,
        *,
        guild: st.GuildState,
        channel: dict,
        user_id: str,
        interaction_type: int,
        data: dict,
        message: dict | None = None,
        locale: str | None = None,
    ) -> InteractionRecord:
        server = self.server
        member = server.member_of(guild, user_id)
        perms = server.channel_perms(guild, user_id, channel)
        app_perms = server.bot_channel_perms(guild, channel)
        interaction_id = server.new_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        channel_payload = st.public(channel)
        channel_payload["permissions"] = str(perms)
        member_payload = st.public(member)
        member_payload["permissions"] = str(perms)
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": server.application_id,
            "type": interaction_type,
            "data": data,
            "guild_id": guild.id,
            "guild": {
                "id": guild.id,
                "locale": guild.data.get("preferred_locale", "en-US"),
                "features": list(guild.data.get("features", [])),
            },
            "channel_id": channel["id"],
            "channel": channel_payload,
            "member": member_payload,
            "token": token,
            "version": 1,
            "app_permissions": str(app_perms),
            "locale": locale or server.locales.get(user_id, "en-US"),
            "guild_locale": guild.data.get("preferred_locale", "en-US"),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": guild.id},
            "context": 0,
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if message is not None:
            payload["message"] = st.public(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=interaction_type,
            payload=payload,
            guild_id=guild.id,
            channel_id=channel["id"],
            user_id=user_id,
            created_mono=time.monotonic(),
            created_at=server.now(),
            source_message_id=message["id"] if message is not None else None,
        )
        self.records[interaction_id] = record
        self.by_token[token] = record
        server.gateway.dispatch("INTERACTION_CREATE", payload)
        server.touch()
        return record

    # -- responses ---------------------------------------------------------------

    def _metadata(self, record: InteractionRecord) -> dict:
        server = self.server
        user = st.public(server.users[record.user_id])
        data = record.payload.get("data") or {}
        metadata: dict[str, Any] = {
            "id": record.id,
            "type": record.type,
            "user": user,
            "authorizing_integration_owners": {"0": record.guild_id} if record.guild_id else {},
        }
        if record.type == APPLICATION_COMMAND:
            metadata["name"] = data.get("name")
            metadata["command_type"] = data.get("type", 1)
        if record.source_message_id:
            metadata["interacted_message_id"] = record.source_message_id
        legacy = {"id": record.id, "type": record.type, "name": data.get("name", ""), "user": user}
        return {"interaction_metadata": metadata, "interaction": legacy}

    def _channel(self, record: InteractionRecord) -> dict:
        return self.server.find_channel(record.channel_id)[1]

    def post_message(
        self,
        record: InteractionRecord,
        payload: dict,
        *,
        loading: bool = False,
        followup: bool = False,
    ) -> dict:
        server = self.server
        channel = self._channel(record)
        flags = int(payload.get("flags") or 0)
        ephemeral = bool(flags & MESSAGE_FLAG_EPHEMERAL)
        if loading:
            flags |= MESSAGE_FLAG_LOADING
        payload = {**payload, "flags": flags}
        message_type = 20 if record.type == APPLICATION_COMMAND and not followup else 0
        extra = {"webhook_id": server.application_id, "application_id": server.application_id}
        extra.update(self._metadata(record))
        message = server.build_message(
            channel, server.bot_user, payload, message_type=message_type, extra=extra
        )
        if ephemeral:
            message["_ephemeral"] = True
            message["_recipient"] = record.user_id
            server.messages[message["id"]] = message
        else:
            server.store_message(channel, message)
        return message

    def check_token(self, record: InteractionRecord) -> None:
        if self.server.now() - record.created_at > TOKEN_LIFETIME:
            raise DiscordError(401, 50027, "Invalid Webhook Token")

    def message_of(self, record: InteractionRecord, message_id: str) -> dict:
        if message_id == "@original":
            if record.original_id is None:
                raise DiscordError(404, 10008, "Unknown Message")
            message_id = record.original_id
        if message_id != record.original_id and message_id not in record.followup_ids:
            raise DiscordError(404, 10008, "Unknown Message")
        message = self.server.messages.get(message_id)
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return message


def _record(call: Call) -> InteractionRecord:
    record = call.server.interactions.records.get(call.param("interaction_id"))
    if record is None or record.token != call.param("interaction_token"):
        raise unknown_interaction()
    return record


def _resource(record: InteractionRecord, callback_type: int, message: dict | None) -> dict:
    body: dict[str, Any] = {
        "interaction": {
            "id": record.id,
            "type": record.type,
            "response_message_loading": callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            "response_message_ephemeral": record.ephemeral,
        }
    }
    if message is not None:
        body["interaction"]["response_message_id"] = message["id"]
    resource: dict[str, Any] = {"type": callback_type}
    if message is not None:
        resource["message"] = st.public(message)
    body["resource"] = resource
    return body


@route("POST", "/interactions/{interaction_id}/{interaction_token}/callback", token_auth=True)
async def interaction_callback(call: Call) -> Any:
    server = call.server
    interactions = server.interactions
    record = _record(call)
    if record.response_type is not None:
        raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
    elapsed = time.monotonic() - record.created_mono
    if elapsed > interactions.deadline_s:
        if not record.missed_deadline:
            record.missed_deadline = True
            interactions.missed.append(record)
        record.late_callback_at = elapsed
        record.notify()
        raise DiscordError(
            404, 10062, f"Unknown interaction (answered after {elapsed:.2f} s; the limit is 3 s)"
        )
    body = call.json if isinstance(call.json, dict) else {}
    callback_type = body.get("type")
    data = body.get("data") or {}
    if callback_type not in ALLOWED_CALLBACKS.get(record.type, set()):
        raise DiscordError(
            400,
            50035,
            "Invalid Form Body",
            {
                "type": {
                    "_errors": [
                        {
                            "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                            "message": f"Callback type {callback_type} is not valid for interaction type {record.type}",
                        }
                    ]
                }
            },
        )
    if (
        callback_type in (UPDATE_MESSAGE, DEFERRED_UPDATE_MESSAGE)
        and record.source_message_id is None
    ):
        raise DiscordError(400, 40064, "Interaction has no message to update")
    message: dict | None = None
    if call.files and callback_type in (CHANNEL_MESSAGE_WITH_SOURCE, UPDATE_MESSAGE):
        from sandbox.server.rest import attachments_from_upload

        kept: list[dict] = []
        source = server.messages.get(record.source_message_id or "")
        if callback_type == UPDATE_MESSAGE and source is not None:
            kept_ids = {str(a.get("id")) for a in data.get("attachments") or []}
            kept = [a for a in source["attachments"] if a["id"] in kept_ids]
        data = {**data, "attachments_resolved": kept + attachments_from_upload(call, data)}
    if callback_type == CHANNEL_MESSAGE_WITH_SOURCE:
        limits.check_message(data, has_files=bool(call.files))
        record.ephemeral = bool(int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
        message = interactions.post_message(record, data)
        record.original_id = message["id"]
    elif callback_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
        flags = int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL
        record.ephemeral = bool(flags)
        message = interactions.post_message(record, {"content": "", "flags": flags}, loading=True)
        record.original_id = message["id"]
    elif callback_type == DEFERRED_UPDATE_MESSAGE:
        record.original_id = record.source_message_id
    elif callback_type == UPDATE_MESSAGE:
        limits.check_message(data, is_edit=True, has_files=bool(call.files))
        source = server.messages.get(record.source_message_id or "")
        if source is None:
            raise DiscordError(404, 10008, "Unknown Message")
        record.ephemeral = bool(source.get("_ephemeral"))
        channel = server.find_channel(source["channel_id"])[1]
        message = server.edit_message(channel, source, data)
        record.original_id = source["id"]
    elif callback_type == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
        choices = data.get("choices") or []
        focused = limits.focused_option_type(record.payload.get("data") or {})
        limits.check_autocomplete_choices(choices, focused)
        record.choices = choices
    elif callback_type == MODAL:
        limits.check_modal(data)
        record.modal = data
    record.response_type = callback_type
    record.responded_mono = time.monotonic()
    interactions.round_trips.append(record.responded_mono - record.created_mono)
    record.notify()
    return _resource(record, callback_type, message)


def _webhook_record(call: Call) -> InteractionRecord:
    server = call.server
    if call.param("webhook_id") != server.application_id:
        raise DiscordError(404, 10015, "Unknown Webhook")
    record = server.interactions.by_token.get(call.param("webhook_token"))
    if record is None:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    server.interactions.check_token(record)
    if record.response_type is None:
        raise DiscordError(404, 10015, "Unknown Webhook")
    return record


def _message_id(call: Call) -> str:
    return call.params.get("message_id", "@original")


@route("POST", "/webhooks/{webhook_id}/{webhook_token}", token_auth=True)
async def followup(call: Call) -> Any:
    from sandbox.server.rest import attachments_from_upload

    server = call.server
    interactions = server.interactions
    record = _webhook_record(call)
    payload = dict(call.json if isinstance(call.json, dict) else {})
    limits.check_message(payload, has_files=bool(call.files))
    if call.files:
        payload["attachments_resolved"] = attachments_from_upload(call, payload)
    original = server.messages.get(record.original_id or "")
    if (
        record.response_type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
        and original is not None
        and original["flags"] & MESSAGE_FLAG_LOADING
    ):
        # The first follow-up after a "thinking" defer fills in the deferred message.
        channel = server.find_channel(original["channel_id"])[1]
        message = server.edit_message(channel, original, payload)
        message["edited_timestamp"] = None
        record.completed = True
    else:
        message = interactions.post_message(record, payload, followup=True)
        record.followup_ids.append(message["id"])
    record.notify()
    if not call.flag("wait"):
        return None
    return st.public(message)


@route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", token_auth=True)
async def get_webhook_message(call: Call) -> Any:
    record = _webhook_record(call)
    return st.public(call.server.interactions.message_of(record, _message_id(call)))


@route("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", token_auth=True)
async def edit_webhook_message(call: Call) -> Any:
    from sandbox.server.rest import attachments_from_upload

    server = call.server
    record = _webhook_record(call)
    message = server.interactions.message_of(record, _message_id(call))
    payload = dict(call.json if isinstance(call.json, dict) else {})
    limits.check_message(payload, is_edit=True, has_files=bool(call.files))
    if call.files:
        kept_ids = {str(a.get("id")) for a in payload.get("attachments") or []}
        kept = [a for a in message["attachments"] if a["id"] in kept_ids]
        payload["attachments_resolved"] = kept + attachments_from_upload(call, payload)
    channel = server.find_channel(message["channel_id"])[1]
    edited = server.edit_message(channel, message, payload)
    if message["id"] == record.original_id:
        record.completed = True
    record.notify()
    return st.public(edited)


@route("DELETE", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", token_auth=True)
async def delete_webhook_message(call: Call) -> Any:
    server = call.server
    record = _webhook_record(call)
    message = server.interactions.message_of(record, _message_id(call))
    channel = server.find_channel(message["channel_id"])[1]
    server.delete_message(channel, message)
    record.notify()
    return None
