"""Domain errors.

Services raise these; the tree-level error handler turns them into a
translated, ephemeral reply. ``key`` is a catalogue key, ``params`` fill its
placeholders. Services never import ``discord``.
"""

from __future__ import annotations

from typing import Any


class HackbotError(Exception):
    """An error the user caused or can act on: shown to them, translated."""

    key = "error.generic"

    def __init__(self, key: str | None = None, **params: Any) -> None:
        self.key = key or type(self).key
        self.params = params
        super().__init__(f"{self.key} {params}" if params else self.key)


class NotAllowed(HackbotError):
    key = "error.not_allowed"


class NotFound(HackbotError):
    key = "error.not_found"


class InvalidInput(HackbotError):
    key = "error.invalid_input"


class PhaseClosed(HackbotError):
    key = "error.phase_closed"


class Conflict(HackbotError):
    key = "error.conflict"


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` lists (key, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"{key}: {message}" for key, message in problems]
        super().__init__("\n".join(lines))
