"""Structural checks on the whole slash-command tree, before any of it reaches a guild."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from discord import app_commands

from bot.cli import _close_offline, _command_tree
from bot.commands_export import README_END, README_START, describe, markdown
from bot.commands_meta import AUDIENCES, audience, description_key, name_key
from bot.i18n import catalogue
from sandbox.rules import limits

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def bot():
    bot = await _command_tree()
    yield bot
    await _close_offline(bot)


async def payloads(bot) -> list[dict]:
    translator = bot.tree.translator
    return [
        await cmd.get_translated_payload(bot.tree, translator) for cmd in bot.tree.get_commands()
    ]


async def test_every_command_payload_passes_discords_limits(bot):
    data = await payloads(bot)
    assert data, "no commands were loaded"
    limits.check_commands_bulk(data)
    for payload in data:
        limits.check_command(payload)


async def test_no_duplicate_names_in_either_language(bot):
    data = await payloads(bot)
    for lang in ("en", "fr"):
        names = [
            p["name"] if lang == "en" else p.get("name_localizations", {}).get("fr", p["name"])
            for p in data
        ]
        assert len(names) == len(set(names)), (
            f"duplicate top-level command names in {lang}: {names}"
        )


async def test_every_command_is_translated_and_has_an_audience(bot):
    for command in bot.tree.walk_commands():
        path = command.qualified_name
        assert catalogue().has(name_key(path)), f"/{path}: name not in the catalogue"
        assert catalogue().has(description_key(path)), f"/{path}: description not in the catalogue"
        assert catalogue().raw(name_key(path), "en") == command.name
        if isinstance(command, app_commands.Command):
            assert audience(command) in AUDIENCES, f"/{path}: unknown audience"
            for param in command.parameters:
                base = f"cmd.{path.replace(' ', '.')}.options.{param.name}"
                assert catalogue().has(base + ".name"), (
                    f"/{path} {param.name}: option name not translated"
                )
                assert catalogue().has(base + ".description"), (
                    f"/{path} {param.name}: option description not translated"
                )


async def test_french_localizations_are_sent_to_discord(bot):
    for payload in await payloads(bot):
        assert "fr" in payload.get("name_localizations", {}), payload["name"]
        assert "fr" in payload.get("description_localizations", {}), payload["name"]


async def test_readme_command_reference_is_in_sync(bot):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(re.escape(README_START) + r".*?" + re.escape(README_END), readme, re.S)
    assert match, "README.md lacks the generated command reference"
    assert match.group(0) == markdown(describe(bot.tree)), (
        "README command reference is stale: run `hackbot commands --markdown` and paste it into README.md"
    )
