"""A simulated guild member: slash commands, buttons, selects, modals, messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandbox.driver import components as comp
from sandbox.driver.reply import Reply
from sandbox.driver.views import ChannelView
from sandbox.rules import limits
from sandbox.rules.permissions import P
from sandbox.server import state as st
from sandbox.server.interactions import (
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
)

if TYPE_CHECKING:
    from sandbox.driver.sandbox import ChannelRef, Sandbox

# Option types
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
ATTACHMENT = 11


class SandboxMember:
    """A human member of the sandbox guild, acting through the Discord client."""

    def __init__(self, sb: Sandbox, user_id: str) -> None:
        self._sb = sb
        self.id = int(user_id)

    # -- who -----------------------------------------------------------------------

    @property
    def _key(self) -> str:
        return str(self.id)

    @property
    def user(self) -> dict:
        return self._sb.server.users[self._key]

    @property
    def member(self) -> dict:
        return self._sb.server.member_of(self._sb.guild, self._key)

    @property
    def name(self) -> str:
        return self.user["username"]

    @property
    def display_name(self) -> str:
        return self.member.get("nick") or self.user.get("global_name") or self.name

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    @property
    def locale(self) -> str:
        return self._sb.server.locales.get(self._key, "en-US")

    @locale.setter
    def locale(self, value: str) -> None:
        self._sb.server.locales[self._key] = value

    @property
    def roles(self) -> list[str]:
        """Names of the member's roles (without @everyone)."""
        guild = self._sb.guild
        return [guild.roles[r]["name"] for r in self.member["roles"] if r in guild.roles]

    def has_role(self, name: str) -> bool:
        return name in self.roles

    @property
    def in_guild(self) -> bool:
        return self._key in self._sb.guild.members

    @property
    def dms(self) -> list[dict]:
        """Messages of the DM channel between the bot and this member, oldest first."""
        server = self._sb.server
        for channel in server.dm_channels.values():
            if channel["recipients"][0]["id"] == self._key:
                return server.channel_message_list(channel["id"])
        return []

    def can_view(self, channel: ChannelRef) -> bool:
        return self._sb.can_view(self, channel)

    def can_send(self, channel: ChannelRef) -> bool:
        return self._sb.can_send(self, channel)

    # -- membership (what a moderator or the member does in the client) -------------

    async def add_role(self, role: str | int) -> None:
        server = self._sb.server
        guild = self._sb.guild
        role_id = server.resolve_role(guild, role)["id"]
        server.set_member_roles(guild, self._key, [*self.member["roles"], role_id])
        await self._sb.settle()

    async def remove_role(self, role: str | int) -> None:
        server = self._sb.server
        guild = self._sb.guild
        role_id = server.resolve_role(guild, role)["id"]
        server.set_member_roles(guild, self._key, [r for r in self.member["roles"] if r != role_id])
        await self._sb.settle()

    async def complete_onboarding(
        self, options: list[str | int] | tuple[str | int, ...] = (), *, settle: bool = True
    ) -> None:
        """Answer the server's onboarding prompts (as on joining, or later in Channels &
        Roles), choosing ``options`` by title or id. Discord itself gives the chosen options'
        roles (no request of the bot, none of its rate limits) and sends GUILD_MEMBER_UPDATE.
        ``ValueError`` for what the client refuses (onboarding off, an unknown option, two
        answers to a single-select prompt, a required prompt left out)."""
        guild = self._sb.guild
        by_title: dict[str, list[str]] = {}
        for prompt in guild.onboarding["prompts"]:
            for option in prompt["options"]:
                by_title.setdefault(option["title"], []).append(option["id"])
        ids: list[str] = []
        for choice in options:
            key = str(choice)
            found = by_title.get(key, [key])
            if len(found) > 1:
                raise ValueError(f"several onboarding options are titled {key!r}: give the id")
            ids.append(found[0])
        self._sb.server.complete_onboarding(guild, self._key, ids)
        if settle:
            await self._sb.settle()

    @property
    def completed_onboarding(self) -> bool:
        """Whether the member has the COMPLETED_ONBOARDING flag."""
        from sandbox.server.core import MEMBER_FLAG_COMPLETED_ONBOARDING

        return bool(int(self.member.get("flags") or 0) & MEMBER_FLAG_COMPLETED_ONBOARDING)

    async def set_nick(self, nick: str | None) -> None:
        self.member["nick"] = nick
        self._sb.server.member_update(self._sb.guild, self.member)
        await self._sb.settle()

    async def leave(self) -> None:
        self._sb.server.remove_member(self._sb.guild, self._key)
        await self._sb.settle()

    def close_dms(self, closed: bool = True) -> None:
        """Refuse (or accept again) direct messages from the bot (Discord answers 50007)."""
        if closed:
            self._sb.server.dms_closed.add(self._key)
        else:
            self._sb.server.dms_closed.discard(self._key)

    # -- messages ----------------------------------------------------------------

    async def send(
        self, channel: ChannelRef, content: str, *, reply_to: dict | None = None
    ) -> dict:
        """Post a message as this member (refused, like the client would, where they cannot send)."""
        server = self._sb.server
        view = self._sb.channel(channel)
        if not self.can_send(view):
            raise PermissionError(f"{self.name} cannot send messages in #{view.name}")
        payload: dict[str, Any] = {"content": content}
        if reply_to is not None:
            payload["message_reference"] = {
                "message_id": reply_to["id"],
                "channel_id": reply_to["channel_id"],
            }
        limits.check_message(payload)
        meta = view.data.get("thread_metadata") or {}
        if meta.get("archived"):
            # A member's message brings an unlocked thread back, as on Discord; at the
            # server's limit of active threads the client shows Discord's error instead.
            if meta.get("locked"):
                raise PermissionError(f"#{view.name} is locked: {self.name} cannot post in it")
            limits.check_unarchive(len(self._sb.guild.active_threads()))
            server.update_channel(self._sb.guild, view.data, {"archived": False})
        message = server.build_message(view.data, self.user, payload)
        server.store_message(view.data, message)
        await self._sb.settle()
        return message

    async def react(self, message: dict, emoji: str) -> None:
        from sandbox.server.rest import add_reaction

        view = self._sb.channel(message["channel_id"])
        if not self.can_view(view):
            raise PermissionError(f"{self.name} cannot see #{view.name}")
        add_reaction(self._sb.server, view.data, message, {"id": None, "name": emoji}, self._key)
        await self._sb.settle()

    # -- interactions --------------------------------------------------------------

    def _interaction_channel(self, channel: ChannelRef | None) -> ChannelView:
        view = self._sb.channel(channel) if channel is not None else self._sb.default_channel
        if not self.can_view(view):
            raise PermissionError(
                f"{self.name} cannot see #{view.name}, so cannot use commands there"
            )
        perms = self._sb.permissions(self, view)
        if not perms & P.USE_APPLICATION_COMMANDS:
            raise PermissionError(f"{self.name} may not use application commands in #{view.name}")
        return view

    def _command(self, path: str, kind: int = 1) -> tuple[dict, list[str]]:
        words = path.split()
        if not words:
            raise ValueError("empty command path")
        name, rest = words[0].lstrip("/"), words[1:]
        command = self._sb.find_command(name, kind)
        required = command.get("default_member_permissions")
        if required is not None:
            needed = int(required)
            base = self._sb.server.base_perms(self._sb.guild, self._key)
            if (needed == 0 and not base & P.ADMINISTRATOR) or base & needed != needed:
                raise PermissionError(
                    f"{self.name} does not see /{name}: it needs permissions {needed} "
                    "(default_member_permissions)"
                )
        return command, rest

    def _prepare_options(
        self, command: dict, path: list[str], options: dict[str, Any]
    ) -> dict[str, Any]:
        """Turn members, channels and role names given by a test into the ids Discord sends."""
        declared = command.get("options") or []
        for part in path:
            sub = next((o for o in declared if o.get("name") == part), None)
            if sub is None:
                break
            declared = sub.get("options") or []
        types = {o.get("name"): o.get("type") for o in declared}
        prepared: dict[str, Any] = {}
        for key, value in options.items():
            kind = types.get(key)
            prepared[key] = (
                self._sb.to_id(value, kind) if kind in (USER, CHANNEL, ROLE, MENTIONABLE) else value
            )
        return prepared

    def _resolved(self, options: list[dict]) -> dict:
        server = self._sb.server
        guild = self._sb.guild
        resolved: dict[str, dict] = {}

        def add_user(uid: str) -> None:
            resolved.setdefault("users", {})[uid] = st.public(server.users[uid])
            if uid in guild.members:
                member = st.public(guild.members[uid])
                member.pop("user", None)
                member.pop("deaf", None)
                member.pop("mute", None)
                resolved.setdefault("members", {})[uid] = member

        def walk(items: list[dict]) -> None:
            for option in items:
                if "options" in option:
                    walk(option["options"])
                    continue
                kind = option.get("type")
                value = str(option.get("value"))
                if kind == USER or (kind == MENTIONABLE and value in server.users):
                    add_user(value)
                elif kind == ROLE or (kind == MENTIONABLE and value in guild.roles):
                    resolved.setdefault("roles", {})[value] = st.public(guild.roles[value])
                elif kind == CHANNEL:
                    channel = server.find_channel(value)[1]
                    resolved.setdefault("channels", {})[value] = {
                        "id": value,
                        "name": channel.get("name"),
                        "type": channel["type"],
                        "permissions": str(
                            self._sb.permissions(self, ChannelView(self._sb, value))
                        ),
                        **(
                            {
                                "parent_id": channel.get("parent_id"),
                                "thread_metadata": channel.get("thread_metadata"),
                            }
                            if channel["type"] in st.THREAD_TYPES
                            else {}
                        ),
                    }

        walk(options)
        return resolved

    async def slash(
        self, path: str, *, in_channel: ChannelRef | None = None, **options: Any
    ) -> Reply:
        """Run a slash command the bot registered: ``await ana.slash("team create", name="Owls")``.

        Options are checked against the registered command like Discord's client
        does (a bad value raises ValueError). Members, channels and roles may be
        given as SandboxMember / ChannelView / names. ``in_channel`` is where the
        member types the command (default: ``sb.default_channel``). Waits for the
        bot's answer.
        """
        view, data = self.slash_data(path, in_channel=in_channel, **options)
        return await self._sb.run_interaction(self, view, APPLICATION_COMMAND, data)

    def slash_data(
        self, path: str, *, in_channel: ChannelRef | None = None, **options: Any
    ) -> tuple[ChannelView, dict]:
        """The channel and the interaction ``data`` of :meth:`slash`, checked the same way,
        without sending anything (benchmarks send many with ``sb.fire``)."""
        view = self._interaction_channel(in_channel)
        command, path_rest = self._command(path)
        prepared = self._prepare_options(command, path_rest, options)
        option_list = limits.validate_invocation(
            command, path_rest, prepared, channel_type_of=self._sb.channel_type_of
        )
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": option_list,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        resolved = self._resolved(option_list)
        if resolved:
            data["resolved"] = resolved
        return view, data

    async def context_menu(
        self, name: str, target: SandboxMember | dict, *, in_channel: ChannelRef | None = None
    ) -> Reply:
        """Run a user (target: a member) or message (target: a message dict) context menu command."""
        is_user = isinstance(target, SandboxMember)
        view = self._interaction_channel(
            in_channel if in_channel is not None or is_user else target["channel_id"]
        )
        command, _rest = self._command(name, 2 if is_user else 3)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command["type"],
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if is_user:
            data["target_id"] = target._key
            data["resolved"] = self._resolved([{"type": USER, "value": target._key}])
        else:
            data["target_id"] = target["id"]
            data["resolved"] = {"messages": {target["id"]: st.public(target)}}
        return await self._sb.run_interaction(self, view, APPLICATION_COMMAND, data)

    async def autocomplete(
        self,
        path: str,
        option: str,
        typed: str,
        *,
        in_channel: ChannelRef | None = None,
        **options: Any,
    ) -> list[dict]:
        """The choices the bot suggests while this member types ``typed`` into ``option``."""
        view, data = self.autocomplete_data(path, option, typed, in_channel=in_channel, **options)
        reply = await self._sb.run_interaction(self, view, APPLICATION_COMMAND_AUTOCOMPLETE, data)
        return reply.choices or []

    def autocomplete_data(
        self,
        path: str,
        option: str,
        typed: str,
        *,
        in_channel: ChannelRef | None = None,
        **options: Any,
    ) -> tuple[ChannelView, dict]:
        """The channel and interaction ``data`` of :meth:`autocomplete`, without sending it."""
        view = self._interaction_channel(in_channel)
        command, path_rest = self._command(path)
        prepared = self._prepare_options(command, path_rest, {**options, option: typed})
        option_list = limits.validate_invocation(
            command, path_rest, prepared, focused=option, channel_type_of=self._sb.channel_type_of
        )
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": option_list,
        }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return view, data

    async def click(
        self, message: dict, label: str | None = None, *, custom_id: str | None = None
    ) -> Reply:
        """Press a button on ``message`` (any message dict: a reply's, or one from a channel)."""
        view = self._message_channel(message)
        button = comp.find_button(message.get("components") or [], label, custom_id)
        data = {"custom_id": button["custom_id"], "component_type": comp.BUTTON}
        return await self._sb.run_interaction(self, view, MESSAGE_COMPONENT, data, message=message)

    async def select(self, message: dict, name: str | None, values: list[Any]) -> Reply:
        """Choose in a select menu of ``message`` (by placeholder or custom_id)."""
        view = self._message_channel(message)
        select = comp.find_select(message.get("components") or [], name)
        raw = [self._sb.to_id(v, None) if not isinstance(v, str) else v for v in values]
        if select["type"] in (
            comp.USER_SELECT,
            comp.ROLE_SELECT,
            comp.MENTIONABLE_SELECT,
            comp.CHANNEL_SELECT,
        ):
            kinds = {
                comp.USER_SELECT: USER,
                comp.ROLE_SELECT: ROLE,
                comp.MENTIONABLE_SELECT: MENTIONABLE,
                comp.CHANNEL_SELECT: CHANNEL,
            }
            raw = [self._sb.to_id(v, kinds[select["type"]]) for v in values]
        chosen = comp.select_values(select, raw)
        data: dict[str, Any] = {
            "custom_id": select["custom_id"],
            "component_type": select["type"],
            "values": chosen,
        }
        if select["type"] != comp.STRING_SELECT:
            kind = {
                comp.USER_SELECT: USER,
                comp.ROLE_SELECT: ROLE,
                comp.MENTIONABLE_SELECT: MENTIONABLE,
                comp.CHANNEL_SELECT: CHANNEL,
            }[select["type"]]
            data["resolved"] = self._resolved([{"type": kind, "value": v} for v in chosen])
        return await self._sb.run_interaction(self, view, MESSAGE_COMPONENT, data, message=message)

    async def submit_modal(self, reply: Reply, values: dict[str, Any]) -> Reply:
        """Fill the modal the bot opened in ``reply`` (fields by label) and submit it."""
        modal = reply.modal
        if modal is None:
            raise LookupError(f"the bot did not open a modal ({reply!r})")
        data = {"custom_id": modal["custom_id"], "components": comp.fill_modal(modal, values)}
        view = self._sb.channel(reply.record.channel_id)
        source = None
        if reply.record.source_message_id is not None:
            source = self._sb.server.messages.get(reply.record.source_message_id)
        return await self._sb.run_interaction(self, view, MODAL_SUBMIT, data, message=source)

    def _message_channel(self, message: dict) -> ChannelView:
        view = self._sb.channel(message["channel_id"])
        if message.get("_ephemeral"):
            if message.get("_recipient") != self._key:
                raise PermissionError(f"{self.name} cannot see someone else's ephemeral message")
        elif not self.can_view(view):
            raise PermissionError(f"{self.name} cannot see #{view.name}")
        return view

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SandboxMember) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<SandboxMember {self.name} id={self.id} roles={self.roles}>"
