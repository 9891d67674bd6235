"""The bot asks for the least privilege it needs, and the README says which and why."""

from pathlib import Path

import discord

from bot.permissions import REQUIRED, invite_url, readme_table, required_permissions

ROOT = Path(__file__).resolve().parents[1]


def test_no_administrator_and_every_permission_is_explained():
    perms = required_permissions()
    assert not perms.administrator
    assert not perms.manage_guild
    assert not perms.ban_members and not perms.kick_members
    for name, why in REQUIRED:
        assert getattr(perms, name), name
        assert why.strip()
    assert perms.value == sum(getattr(discord.Permissions, name).flag for name, _ in REQUIRED)


def test_invite_url_requests_commands_and_exactly_these_permissions():
    url = invite_url(1234)
    assert "client_id=1234" in url
    assert "applications.commands" in url
    assert f"permissions={required_permissions().value}" in url


def test_readme_lists_the_permissions():
    assert readme_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_onboarding_invite_adds_only_manage_server():
    with_onboarding = required_permissions(onboarding=True)
    assert with_onboarding.manage_guild and not with_onboarding.administrator
    assert with_onboarding.value == (
        required_permissions().value | discord.Permissions(manage_guild=True).value
    )
    assert f"permissions={with_onboarding.value}" in invite_url(1234, onboarding=True)
