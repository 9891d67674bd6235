"""Discord-side glue for the translation catalogue.

Command names, descriptions, option names and choices are declared with
:func:`L`, which carries the catalogue key; :class:`CatalogueTranslator`
gives Discord the French localizations when commands are synced, so a
French client shows ``/a-propos`` for ``/about``.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.i18n import catalogue, lang_for

# Discord locales served by each catalogue language (English is the default text).
LOCALES: dict[str, tuple[discord.Locale, ...]] = {
    "fr": (discord.Locale.french,),
}


def L(key: str) -> app_commands.locale_str:
    """A command string whose English text is the catalogue's and whose key translates it."""
    return app_commands.locale_str(catalogue().raw(key, "en"), key=key)


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        key = string.extras.get("key")
        if not key:
            return None
        for lang, locales in LOCALES.items():
            if locale in locales:
                return catalogue().raw(key, lang)
        return None


def interaction_lang(interaction: discord.Interaction, default: str) -> str:
    """The catalogue language for replies to this interaction (the user's client language)."""
    return lang_for(interaction.locale, default)
