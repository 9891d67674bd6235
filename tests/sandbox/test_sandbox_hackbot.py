"""Sandbox.start() with the real hackbot: it boots, sets the guild up, and answers."""

from __future__ import annotations

from sandbox import Sandbox

GUILD_ID = 987654321098765432


async def test_hackbot_boots_in_the_sandbox(openapi_validator, tmp_path) -> None:
    async with Sandbox.start(config={"event": {"guild_id": GUILD_ID}}, tmp_path=tmp_path) as sb:
        assert sb.guild_id == GUILD_ID
        assert sb.bot.hackbot_ready.is_set()
        assert (tmp_path / "hackbot.sqlite3").exists()
        assert sb.commands, "the bot synced no command"
        ana = await sb.add_member("ana", locale="fr")
        reply = await ana.slash("about")
        assert reply.all_text
        # A crash and a new process on the same database: it comes back.
        await sb.kill_bot()
        await sb.start_bot()
        assert (await ana.slash("about")).all_text == reply.all_text
        assert sb.missed_deadlines == []
