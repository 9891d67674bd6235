"""Names people choose (teams, display names): cleaned, checked, folded, turned into slugs.

* :func:`fold` gives the key two names are compared by: case- and accent-insensitive,
  compatibility forms unified ("Ｏｗｌｓ" = "owls"), spaces collapsed.
* :func:`clean_name` trims, collapses inner whitespace and refuses what must not
  reach Discord: mentions (``@everyone``, ``<@123>``, ``<#1>``, ``<@&1>``), invisible,
  zero-width, bidirectional and control characters, and names outside the length bounds.
* :func:`slugify` makes a channel-safe name (``les-hiboux``); :func:`unique_slug`
  adds ``-2``, ``-3``... when it is taken.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from bot.errors import InvalidInput

# Format (Cf: zero-width, bidi controls, soft hyphen...), controls (Cc), separators other
# than a plain space (line/paragraph), private use and unassigned code points.
_REFUSED_CATEGORIES = frozenset({"Cf", "Cc", "Co", "Cn", "Zl", "Zp"})
# Characters some fonts draw as nothing although Unicode does not class them as format.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")
_MENTION = re.compile(r"@(everyone|here)\b|<(@[!&]?|#)\d+>|<a?:\w+:\d+>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")

SLUG_MAX = 90


def fold(text: str) -> str:
    """The comparison key: NFKD, no combining marks, casefolded, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


def invisible_characters(text: str) -> list[str]:
    """Code points a reader would not see (``U+200B``...), in order of appearance."""
    found = []
    for ch in text:
        if ch in _INVISIBLE or (
            unicodedata.category(ch) in _REFUSED_CATEGORIES and ch not in "\t\n\r"
        ):
            found.append(f"U+{ord(ch):04X}")
    return found


def clean_name(raw: str, *, min_length: int, max_length: int, what: str = "team") -> str:
    """A name as it will be shown, or :class:`InvalidInput` saying what is wrong with it.

    ``what`` picks the message family (``names.<what>.*``).
    """
    text = unicodedata.normalize("NFC", raw or "")
    hidden = invisible_characters(text)
    if hidden:
        raise InvalidInput(f"names.{what}.invisible", codes=", ".join(dict.fromkeys(hidden)))
    text = _SPACES.sub(" ", text).strip()
    if _MENTION.search(text):
        raise InvalidInput(f"names.{what}.mention")
    if len(text) < min_length:
        raise InvalidInput(f"names.{what}.too_short", min=min_length)
    if len(text) > max_length:
        raise InvalidInput(f"names.{what}.too_long", max=max_length, length=len(text))
    if not any(ch.isalnum() for ch in text):
        raise InvalidInput(f"names.{what}.no_letters")
    return text


def slugify(text: str, fallback: str = "team") -> str:
    """Lowercase ASCII letters, digits and dashes (``Les Hiboux !`` → ``les-hiboux``)."""
    ascii_text = fold(text).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_DROP.sub("-", ascii_text).strip("-")[:SLUG_MAX].strip("-")
    return slug or fallback


def unique_slug(base: str, taken: Callable[[str], bool]) -> str:
    """``base``, else ``base-2``, ``base-3``... the first that ``taken`` says is free."""
    if not taken(base):
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: SLUG_MAX - len(suffix)].rstrip("-") + suffix
        if not taken(candidate):
            return candidate
        n += 1
