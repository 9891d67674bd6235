"""Translation catalogue: every user-facing string, in English and French.

The catalogue lives in ``bot/locales/*.toml``, one file per feature, each
entry holding both languages side by side so a missing translation shows::

    [about.title]
    en = "About {event}"
    fr = "À propos de {event}"

Placeholders use ``str.format`` syntax. A test checks that every key has
both languages with the same placeholders, and that every key the code uses
exists.
"""

from __future__ import annotations

import string
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

SUPPORTED: tuple[str, ...] = ("en", "fr")
DEFAULT = "en"
LOCALES_DIR = Path(__file__).with_name("locales")


class Catalogue:
    def __init__(self, entries: dict[str, dict[str, str]]) -> None:
        self.entries = entries

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalogue:
        entries: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.toml")):
            with path.open("rb") as fh:
                data = tomllib.load(fh)
            _flatten(data, "", entries, path.name)
        return cls(entries)

    def has(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str, lang: str = DEFAULT, **params: Any) -> str:
        try:
            entry = self.entries[key]
        except KeyError:
            raise KeyError(f"missing translation key {key!r}") from None
        text = entry.get(lang) or entry[DEFAULT]
        return text.format(**params) if params else text

    def raw(self, key: str, lang: str) -> str:
        return self.entries[key][lang]


def _flatten(
    node: dict[str, Any], prefix: str, out: dict[str, dict[str, str]], source: str
) -> None:
    if any(lang in node for lang in SUPPORTED):
        extra = set(node) - set(SUPPORTED)
        if extra:
            raise ValueError(f"{source}: {prefix}: unexpected keys {sorted(extra)}")
        if prefix in out:
            raise ValueError(f"{source}: duplicate key {prefix}")
        out[prefix] = {lang: str(text) for lang, text in node.items()}
        return
    for key, value in node.items():
        if not isinstance(value, dict):
            raise ValueError(f"{source}: {prefix}.{key}: expected a table with en/fr")
        _flatten(value, f"{prefix}.{key}" if prefix else key, out, source)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@cache
def catalogue() -> Catalogue:
    return Catalogue.load()


def t(key: str, lang: str = DEFAULT, /, **params: Any) -> str:
    """Translate ``key`` into ``lang`` ("en" or "fr"), filling placeholders."""
    return catalogue().get(key, lang, **params)


def lang_for(locale: object | None, default: str = DEFAULT) -> str:
    """Map a Discord locale (``discord.Locale`` or its string value) to a catalogue language."""
    value = str(getattr(locale, "value", locale) or "")
    if value.startswith("fr"):
        return "fr"
    if value.startswith("en"):
        return "en"
    return default
