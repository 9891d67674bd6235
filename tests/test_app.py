"""Start-up work of the real bot: command sync, guild set-up, restarts."""

from __future__ import annotations


async def test_commands_are_synced_once_and_again_when_discord_lost_them(start_sandbox):
    sb = await start_sandbox()
    first = {name: cmd["id"] for name, cmd in ((c["name"], c) for c in sb.commands)}
    assert "about" in first

    await sb.restart_bot()  # same tree: nothing to sync, the same ids
    assert {c["name"]: c["id"] for c in sb.commands} == first

    sb.guild.commands.clear()  # someone removed them (or the bot was re-invited)
    await sb.restart_bot()
    assert {c["name"] for c in sb.commands} == set(first)
    reply = await (await sb.add_member("ana")).slash("about")
    assert reply.embed is not None
