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
    """The configuration cannot be used.

    ``problems`` are :class:`bot.config.Problem` objects (anything with a
    ``render(lang)`` method), all of them, not only the first. ``lang`` is the
    language the configuration asked for when it could be read, so a command
    line can report in the organiser's language. ``str()`` is the English
    report, one ``key: message`` line per problem.
    """

    def __init__(self, problems: list[Any], lang: str = "en") -> None:
        self.problems = list(problems)
        self.lang = lang
        super().__init__(self.render("en"))

    def render(self, lang: str = "en") -> str:
        return "\n".join(problem.render(lang) for problem in self.problems)
