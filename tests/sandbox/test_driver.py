"""The driver itself: bot lifecycle, clock, settling, violations, members and channels."""

from __future__ import annotations

import asyncio

import pytest

from sandbox import InteractionFailed, Sandbox
from sandbox.rules.permissions import P
from tests.sandbox import minibot


async def test_kill_then_start_runs_a_new_bot_on_the_same_server(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    first = sb.bot
    await sb.kill_bot()
    assert sb.bot is None
    assert sb.server.gateway.connected_sessions() == []
    with pytest.raises(InteractionFailed):
        await ana.slash("about")  # nobody answers while the bot is down
    await sb.start_bot()
    assert sb.bot is not first
    assert (await ana.slash("about")).text == "hello"
    assert sb.server.gateway.identify_count == 2


async def test_restart_closes_gracefully(sb: Sandbox) -> None:
    await sb.restart_bot()
    assert sb.server.gateway.identify_count == 2
    assert len(sb.server.gateway.connected_sessions()) == 1
    ana = await sb.add_member("ana")
    assert (await ana.slash("about")).text == "hello"


async def test_drop_gateway_and_wait(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    sb.drop_gateway()
    await sb.add_member("bob")  # happens while the bot is away
    await sb.wait_gateway()
    assert sb.server.gateway.resume_count == 1
    guild = sb.bot.get_guild(sb.guild_id)
    assert guild.get_member(sb.member("bob").id) is not None
    assert (await ana.slash("about")).text == "hello"


async def test_advance_moves_the_clock_the_server_uses(sb: Sandbox) -> None:
    before = sb.server.now()
    await sb.advance(hours=2)
    assert (sb.server.now() - before).total_seconds() >= 7200
    assert (sb.clock.now() - sb.server.now()).total_seconds() < 1


async def test_members_roles_and_channels(sb: Sandbox) -> None:
    role = await sb.create_role("Organiser")
    ana = await sb.add_member("ana", roles=["Organiser"], locale="fr")
    assert ana.roles == ["Organiser"] and ana.locale == "fr"
    guild = sb.bot.get_guild(sb.guild_id)
    assert [r.name for r in guild.get_member(ana.id).roles if not r.is_default()] == ["Organiser"]
    private = await sb.create_channel(
        "organisers",
        overwrites=[
            {"id": str(sb.guild_id), "type": 0, "allow": "0", "deny": str(int(P.VIEW_CHANNEL))},
            {"id": role["id"], "type": 0, "allow": str(int(P.VIEW_CHANNEL)), "deny": "0"},
        ],
    )
    bob = await sb.add_member("bob")
    assert sb.can_view(ana, private) and not sb.can_view(bob, "organisers")
    await bob.add_role("Organiser")
    assert bob.can_view(private)
    with pytest.raises(ValueError, match="no role"):
        await sb.add_member("carl", roles=["Nope"])
    with pytest.raises(LookupError):
        sb.channel("nope")
    message = await ana.send(private, "hello team")
    assert sb.channel("organisers").texts == ["hello team"]
    assert message["author"]["id"] == str(ana.id)
    carl = await sb.add_member("carl")
    with pytest.raises(PermissionError):
        await carl.send(private, "x")


async def test_unexpected_violation_fails_the_sandbox_exit(openapi_validator) -> None:
    sb_ctx = Sandbox.start(bot_factory=minibot.factory())
    sb = await sb_ctx.__aenter__()
    bot = sb.bot
    guild = bot.get_guild(sb.guild_id)
    with pytest.raises(Exception):  # noqa: B017 - discord.HTTPException
        await guild.text_channels[0].send("x" * 2001)
    with pytest.raises(AssertionError, match="50035"):
        await sb_ctx.__aexit__(None, None, None)


async def test_expected_violation_passes(openapi_validator) -> None:
    async with Sandbox.start(bot_factory=minibot.factory()) as sb:
        sb.expect_violation(50035)
        guild = sb.bot.get_guild(sb.guild_id)
        with pytest.raises(Exception):  # noqa: B017 - discord.HTTPException
            await guild.text_channels[0].send("x" * 2001)
        assert sb.unexpected_violations() == []


async def test_start_without_bot_and_with_bot_permissions(openapi_validator) -> None:
    async with Sandbox.start(
        bot_factory=minibot.factory(), start_bot=False, bot_permissions=int(P.VIEW_CHANNEL)
    ) as sb:
        assert sb.bot is None
        assert sb.server.bot_permissions == int(P.VIEW_CHANNEL)
        bot = await sb.start_bot()
        assert sb.bot is bot
        me = bot.get_guild(sb.guild_id).me
        assert not me.guild_permissions.manage_channels


async def test_advance_waits_for_work_the_jump_started(openapi_validator) -> None:
    """A bot whose clock jump starts a background task that posts after a while."""

    async def build(sb: Sandbox):
        bot = minibot.MiniBot(sb.guild_id)

        def on_jump() -> None:
            async def announce() -> None:
                await asyncio.sleep(0.2)  # e.g. database work before the first request
                channel = bot.get_guild(sb.guild_id).text_channels[0]
                await channel.send("the deadline passed")

            asyncio.get_running_loop().create_task(announce())

        sb.clock.on_jump(on_jump)
        return bot

    async with Sandbox.start(bot_factory=build) as sb:
        await sb.advance(hours=1)
        assert sb.channel("general").texts == ["the deadline passed"]


async def test_start_sandbox_fixture(start_sandbox, tmp_path) -> None:
    sb = await start_sandbox(bot_factory=minibot.factory())
    assert sb.tmp_dir == tmp_path / "sandbox0"
    ana = await sb.add_member("ana")
    assert (await ana.slash("about")).text == "hello"


async def test_inactive_threads_archive_as_the_clock_moves(sb: Sandbox) -> None:
    general = sb.bot.get_channel(sb.default_channel.id)
    thread = await general.create_thread(name="help-owls", auto_archive_duration=60)
    await sb.advance(minutes=30)
    assert not sb.channel(thread.id).data["thread_metadata"]["archived"]
    await sb.advance(minutes=31)
    assert sb.channel(thread.id).data["thread_metadata"]["archived"]
    # discord.py got the THREAD_UPDATE and, as it does, dropped the archived thread from its cache.
    assert sb.bot.get_channel(thread.id) is None
    await thread.send("back")  # sending unarchives, as on Discord
    await sb.settle()
    assert not sb.channel(thread.id).data["thread_metadata"]["archived"]
    assert sb.bot.get_channel(thread.id) is not None
