"""The catalogue is complete in both languages and covers every key the code uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import SUPPORTED, Catalogue, catalogue, lang_for, placeholders, t

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("cogs").rglob("*.py")]
LITERAL_KEY = re.compile(r"""\b(?:t|L|_t)\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""")
FSTRING_KEY = re.compile(r"""\b(?:t|L)\(\s*f["']([a-z0-9_.]+)\{""")


def test_every_key_has_both_languages_with_the_same_placeholders():
    entries = catalogue().entries
    assert entries, "the catalogue is empty"
    for key, texts in entries.items():
        for lang in SUPPORTED:
            assert texts.get(lang, "").strip(), f"{key}: missing {lang}"
        assert placeholders(texts["en"]) == placeholders(texts["fr"]), f"{key}: placeholders differ"


def test_every_literal_key_used_in_code_exists():
    missing = []
    for path in SOURCES:
        for key in LITERAL_KEY.findall(path.read_text(encoding="utf-8")):
            if not catalogue().has(key):
                missing.append(f"{path.relative_to(ROOT)}: {key}")
    assert not missing, "keys used in code but not in the catalogue:\n" + "\n".join(missing)


def test_every_dynamic_key_prefix_has_entries():
    prefixes = set()
    for path in SOURCES:
        prefixes.update(FSTRING_KEY.findall(path.read_text(encoding="utf-8")))
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in catalogue().entries), prefix


def test_french_uses_typographic_spaces_before_double_punctuation():
    # "Étape : x" not "Étape: x" — a French reader notices.
    offenders = []
    for key, texts in catalogue().entries.items():
        text = re.sub(r"`[^`]*`|\{[^}]*\}|<[^>]*>|https?://\S+", "", texts["fr"])
        if re.search(r"[^\s\u00a0\u202f]([:;?!])(\s|$)", text):
            offenders.append(f"{key}: {texts['fr']}")
    assert not offenders, "\n".join(offenders)


def test_translate_and_fall_back():
    assert t("error.not_allowed", "fr") != t("error.not_allowed", "en")
    assert "abc123" in t("error.unexpected", "fr", error_id="abc123")
    with pytest.raises(KeyError):
        t("no.such.key", "en")


def test_locale_mapping():
    assert lang_for("fr") == "fr"
    assert lang_for("en-GB") == "en"
    assert lang_for("de", default="fr") == "fr"
    assert lang_for(None) == "en"


def test_catalogue_rejects_a_half_entry(tmp_path):
    (tmp_path / "x.toml").write_text('[a.b]\nen = "x"\nde = "y"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unexpected keys"):
        Catalogue.load(tmp_path)
