"""Organiser commands are refused by the bot itself, not only hidden by Discord.

Discord shows /admin only to members with Manage Events (its default permissions);
a member can get Manage Events from another role (a "Staff" role made by hand, a
moderator). The bot must still refuse every organiser command to anyone without
the organiser role. Every such command is taken from the running bot's tree.
"""

from __future__ import annotations

from typing import Any

from bot.commands_export import describe

MANAGE_EVENTS = 1 << 33


def placeholder(option: dict[str, Any], member) -> Any:
    if option["type"] == "member":
        return member
    if option["type"] == "integer":
        return 1
    if option["type"] == "file":
        return None
    choices = option.get("choices") or []
    if choices:
        first = choices[0]
        return first["value"] if isinstance(first, dict) else first
    return "x"


async def test_every_organiser_command_is_refused_to_a_non_organiser_with_manage_events(
    start_sandbox,
):
    sb = await start_sandbox()
    await sb.create_role("Staff", permissions=MANAGE_EVENTS)
    staff = await sb.add_member("staff", roles=["Staff"], locale="fr")
    organiser_commands = [c for c in describe(sb.bot.tree) if c["audience"] == "organiser"]
    assert len(organiser_commands) >= 25
    refused = []
    public_before = [m for m in sb.server.messages.values() if not m.get("_ephemeral")]
    for command in organiser_commands:
        kwargs = {}
        for option in command["options"]:
            if option["required"]:
                value = placeholder(option, staff)
                if value is None:
                    break
                kwargs[option["name"]["en"]] = value
        else:
            reply = await staff.slash(command["path"], **kwargs)
            assert reply.ephemeral, command["path"]
            assert reply.text == "Seuls les organisateurs peuvent utiliser cette commande.", (
                command["path"],
                reply.all_text,
            )
            assert reply.modal is None
            refused.append(command["path"])
    assert len(refused) >= len(organiser_commands) - 1  # a file option cannot be sent here
    # Nothing happened: no public message was posted by these attempts.
    public_after = [m for m in sb.server.messages.values() if not m.get("_ephemeral")]
    assert len(public_after) == len(public_before)


async def test_without_manage_events_discord_hides_admin(start_sandbox):
    sb = await start_sandbox()
    member = await sb.add_member("member")
    try:
        await member.slash("admin phase advance")
    except PermissionError:
        pass
    else:
        raise AssertionError("Discord would not show /admin to a member without Manage Events")
