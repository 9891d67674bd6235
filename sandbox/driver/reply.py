"""What a member sees after an interaction: :class:`Reply`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.driver import components as comp
from sandbox.server.interactions import (
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    MODAL,
    InteractionRecord,
)

if TYPE_CHECKING:
    from sandbox.driver.member import SandboxMember
    from sandbox.driver.sandbox import Sandbox


class InteractionFailed(AssertionError):
    """The bot did not answer an interaction in time: the member saw "The application did not respond"."""


class Reply:
    """The bot's answer to one interaction, read live from the sandbox.

    For a slash command: the response message (``text``, ``embeds``,
    ``components``, ``ephemeral``), or a ``modal``. For a deferred response,
    the message as edited or filled by the first follow-up. ``followups`` are
    the later follow-up messages, each a :class:`Reply` you can click on too.
    """

    def __init__(
        self,
        sb: Sandbox,
        member: SandboxMember,
        record: InteractionRecord,
        message_id: str | None = None,
    ) -> None:
        self._sb = sb
        self.member = member
        self.record = record
        self._message_id = message_id

    # -- what the member sees ---------------------------------------------------

    @property
    def message(self) -> dict | None:
        message_id = self._message_id or self.record.original_id
        if message_id is None:
            return None
        return self._sb.server.messages.get(message_id)

    @property
    def text(self) -> str:
        message = self.message
        if message is None:
            return ""
        parts = [message.get("content") or ""]
        v2 = comp.text_of(message.get("components") or [])
        if v2:
            parts.append(v2)
        return "\n".join(p for p in parts if p)

    @property
    def embeds(self) -> list[dict]:
        message = self.message
        return list(message.get("embeds") or []) if message else []

    @property
    def embed(self) -> dict | None:
        embeds = self.embeds
        return embeds[0] if embeds else None

    @property
    def embed_text(self) -> str:
        """Every piece of text in the embeds (title, description, fields, footer, author)."""
        lines: list[str] = []
        for embed in self.embeds:
            for key in ("title", "description"):
                if embed.get(key):
                    lines.append(str(embed[key]))
            for field in embed.get("fields") or []:
                lines.append(f"{field.get('name', '')}: {field.get('value', '')}")
            for key in ("footer", "author"):
                sub = embed.get(key) or {}
                if sub.get("text") or sub.get("name"):
                    lines.append(str(sub.get("text") or sub.get("name")))
        return "\n".join(lines)

    @property
    def all_text(self) -> str:
        """``text`` and ``embed_text`` together."""
        return "\n".join(p for p in (self.text, self.embed_text) if p)

    @property
    def components(self) -> list[dict]:
        message = self.message
        return list(message.get("components") or []) if message else []

    @property
    def buttons(self) -> list[str]:
        """Labels of the buttons on the message."""
        return [comp.button_label(b) for b in comp.buttons(self.components)]

    @property
    def ephemeral(self) -> bool:
        message = self.message
        if message is not None:
            return bool(message.get("_ephemeral"))
        return self.record.ephemeral

    @property
    def deferred(self) -> bool:
        return self.record.response_type in (
            DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def modal(self) -> dict | None:
        return self.record.modal if self.record.response_type == MODAL else None

    @property
    def choices(self) -> list[dict] | None:
        if self.record.response_type == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            return list(self.record.choices or [])
        return None

    @property
    def followups(self) -> list[Reply]:
        if self._message_id is not None:
            return []
        return [Reply(self._sb, self.member, self.record, fid) for fid in self.record.followup_ids]

    @property
    def pinged(self) -> dict:
        """Who this message notified: ``{"users": [...], "roles": [...], "everyone", "here"}``."""
        message = self.message
        return dict(message.get("_pinged") or {}) if message else {}

    # -- acting on it ------------------------------------------------------------

    async def click(
        self,
        label: str | None = None,
        *,
        custom_id: str | None = None,
        by: SandboxMember | None = None,
    ) -> Reply:
        """Press a button of this message (by its label, or ``custom_id=``); returns the bot's answer."""
        message = self._require_message()
        return await (by or self.member).click(message, label, custom_id=custom_id)

    async def select(
        self, name: str | None, values: list[Any], *, by: SandboxMember | None = None
    ) -> Reply:
        """Choose ``values`` (option values or labels) in the select menu named by its placeholder
        or custom_id (``None`` when the message has a single select)."""
        message = self._require_message()
        return await (by or self.member).select(message, name, values)

    async def submit(self, values: dict[str, Any], *, by: SandboxMember | None = None) -> Reply:
        """Fill and submit this reply's modal (fields by label)."""
        return await (by or self.member).submit_modal(self, values)

    def _require_message(self) -> dict:
        message = self.message
        if message is None:
            raise LookupError(f"this reply has no message to act on ({self!r})")
        return message

    def __repr__(self) -> str:
        if self.modal is not None:
            return f"<Reply modal {self.modal.get('title')!r}>"
        if self.choices is not None:
            return f"<Reply choices {[c.get('name') for c in self.choices]}>"
        flags = []
        if self.ephemeral:
            flags.append("ephemeral")
        if self.deferred:
            flags.append("deferred")
        head = f"<Reply{' ' + ','.join(flags) if flags else ''} text={self.text[:200]!r}"
        if self.embeds:
            head += f" embeds={[e.get('title') for e in self.embeds]}"
        if self.buttons:
            head += f" buttons={self.buttons}"
        if self.record.followup_ids and self._message_id is None:
            head += f" followups={len(self.record.followup_ids)}"
        return head + ">"
