"""What the bot knows about its own slash commands: paths, audiences,
localized names, and clickable mentions once Discord gave them ids."""

from __future__ import annotations

from dataclasses import dataclass

from discord import app_commands

from bot.i18n import catalogue, t

AUDIENCES = ("everyone", "participant", "team_member", "captain", "mentor", "judge", "organiser")


def name_key(path: str) -> str:
    return "cmd." + path.replace(" ", ".") + ".name"


def description_key(path: str) -> str:
    return "cmd." + path.replace(" ", ".") + ".description"


def localized_path(path: str, lang: str) -> str:
    """``team create`` → ``équipe créer`` in French (the names Discord shows that user)."""
    parts = path.split(" ")
    names = []
    for i in range(len(parts)):
        key = name_key(" ".join(parts[: i + 1]))
        names.append(t(key, lang) if catalogue().has(key) else parts[i])
    return " ".join(names)


def audience(command: app_commands.Command | app_commands.Group) -> str:
    node: app_commands.Command | app_commands.Group | None = command
    while node is not None:
        value = node.extras.get("audience") if node.extras else None
        if value:
            return value
        node = node.parent
    return "everyone"


@dataclass
class CommandIds:
    """Top-level command ids from the last sync, for ``</path:id>`` mentions."""

    ids: dict[str, int]

    def mention(self, path: str, lang: str) -> str:
        top = path.split(" ")[0]
        if top in self.ids:
            return f"</{path}:{self.ids[top]}>"
        return "/" + localized_path(path, lang)


def leaf_commands(tree: app_commands.CommandTree) -> list[app_commands.Command]:
    return [cmd for cmd in tree.walk_commands() if isinstance(cmd, app_commands.Command)]
