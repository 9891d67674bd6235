"""Read-only views of what a channel shows, for assertions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.server import state as st

# Default, reply, slash command and context menu messages.
REGULAR_TYPES = frozenset({0, 19, 20, 23})

if TYPE_CHECKING:
    from sandbox.driver.sandbox import Sandbox


class ChannelView:
    """A channel (or thread, or DM) as the sandbox holds it right now.

    ``messages`` are the channel's messages oldest first, as Discord-JSON dicts
    (ephemeral replies are never here). Each message carries ``_pinged``: who the
    message actually notified (``{"users", "roles", "everyone", "here"}``).
    """

    def __init__(self, sb: Sandbox, channel_id: str) -> None:
        self._sb = sb
        self.id = int(channel_id)

    @property
    def _key(self) -> str:
        return str(self.id)

    @property
    def exists(self) -> bool:
        try:
            self._sb.server.find_channel(self._key)
        except Exception:
            return False
        return True

    @property
    def data(self) -> dict:
        return self._sb.server.find_channel(self._key)[1]

    @property
    def name(self) -> str:
        return self.data.get("name") or ""

    @property
    def type(self) -> int:
        return int(self.data["type"])

    @property
    def topic(self) -> str | None:
        return self.data.get("topic")

    @property
    def is_thread(self) -> bool:
        return self.type in st.THREAD_TYPES

    @property
    def parent(self) -> ChannelView | None:
        parent_id = self.data.get("parent_id")
        return ChannelView(self._sb, parent_id) if parent_id else None

    @property
    def overwrites(self) -> list[dict]:
        return list(self.data.get("permission_overwrites", []))

    @property
    def messages(self) -> list[dict]:
        return self._sb.server.channel_message_list(self._key)

    @property
    def last_message(self) -> dict | None:
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def texts(self) -> list[str]:
        """The content of every regular message, oldest first (system messages such as
        "hackbot pinned a message" are in ``messages`` but not here)."""
        return [m["content"] for m in self.messages if m["type"] in REGULAR_TYPES]

    @property
    def pins(self) -> list[dict]:
        server = self._sb.server
        return [
            server.messages[mid]
            for mid, _at in server.pins.get(self._key, [])
            if mid in server.messages
        ]

    @property
    def threads(self) -> list[ChannelView]:
        guild = self._sb.guild
        return [
            ChannelView(self._sb, t["id"]) for t in guild.threads() if t["parent_id"] == self._key
        ]

    @property
    def children(self) -> list[ChannelView]:
        """Channels inside this category."""
        guild = self._sb.guild
        return [
            ChannelView(self._sb, c["id"])
            for c in guild.guild_channels()
            if c.get("parent_id") == self._key
        ]

    @property
    def thread_member_ids(self) -> set[int]:
        members = self._sb.guild.thread_members.get(self._key, {})
        return {int(uid) for uid in members}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChannelView) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        if not self.exists:
            return f"<ChannelView id={self.id} (deleted)>"
        return f"<ChannelView #{self.name} id={self.id} type={self.type} messages={len(self.messages)}>"
