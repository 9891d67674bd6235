"""Plain discord.py logs in to the sandbox, gets its guild, and survives gateway trouble."""

from __future__ import annotations

import asyncio

import discord
import pytest

from sandbox.rules.permissions import P
from sandbox.server import SandboxServer


async def wait_for(predicate, *, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_login_ready_and_guild_cache(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    guild = bot.get_guild(int(guild_state.id))
    assert guild is not None and guild.name == "Test Guild"
    assert bot.user is not None and str(bot.user.id) == server.bot_user["id"]
    assert bot.application_id == int(server.application_id)
    assert [c.name for c in guild.text_channels] == ["general"]
    assert guild.me is not None
    bot_role = next(r for r in guild.roles if r.managed)
    assert bot_role.tags is not None and bot_role.tags.bot_id == bot.user.id
    perms = guild.me.guild_permissions.value
    assert perms == server.base_perms(guild_state, server.bot_user["id"])
    assert perms & server.bot_permissions == server.bot_permissions
    assert guild.chunked


async def test_wrong_token_is_a_login_failure(server: SandboxServer) -> None:
    client = discord.Client(intents=discord.Intents.none())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    (violation,) = server.reset_violations()
    assert violation.status == 401
    assert violation.path == "/api/v10/users/@me"


async def test_disallowed_privileged_intent_closes_with_4014(
    server: SandboxServer, connect
) -> None:
    from sandbox.server.gateway import Intent

    server.gateway.allowed_intents &= ~Intent.GUILD_MEMBERS
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await connect()


async def test_events_after_rest_changes_keep_the_cache_right(
    server: SandboxServer, connect
) -> None:
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    category = await guild.create_category("Teams")
    channel = await guild.create_text_channel("owls", category=category)
    role = await guild.create_role(name="Owls")
    member_data = server.add_member(server.guild(), "ana")
    await wait_for(lambda: guild.get_member(int(member_data["user"]["id"])) is not None)
    member = guild.get_member(int(member_data["user"]["id"]))
    await member.add_roles(role)
    await channel.set_permissions(role, view_channel=True)
    await channel.set_permissions(guild.default_role, view_channel=False)
    await wait_for(lambda: role in member.roles)
    cached = guild.get_channel(channel.id)
    await wait_for(lambda: cached.overwrites_for(guild.default_role).view_channel is False)
    assert cached.category == category
    assert not cached.permissions_synced  # its overwrites now differ from the category's
    synced = await guild.create_text_channel("synced", category=category)
    await category.set_permissions(guild.default_role, send_messages=False)
    synced_too = await guild.create_text_channel("synced-too", category=category)
    assert synced.overwrites == {}
    assert synced_too.overwrites_for(guild.default_role).send_messages is False
    assert cached.permissions_for(member).view_channel
    assert server.can_view(member_data["user"]["id"], channel.id)
    # The bot hid the channel from @everyone, itself included: like Discord, it is now locked out.
    assert not server.can_view(server.bot_user["id"], channel.id)
    with pytest.raises(discord.Forbidden):
        await channel.delete()
    (refused,) = server.reset_violations()
    assert (refused.status, refused.code) == (403, 50001)
    # An administrator lets the bot back in.
    server.set_overwrite(
        server.guild(),
        server.find_channel(channel.id)[1],
        str(guild.me.id),
        1,
        int(P.VIEW_CHANNEL),
        0,
    )
    await channel.delete()
    await wait_for(lambda: guild.get_channel(channel.id) is None)
    await role.delete()
    await wait_for(lambda: guild.get_role(role.id) is None)


async def test_large_guild_is_chunked_over_the_gateway(server: SandboxServer, connect) -> None:
    guild_state = server.guild()
    for i in range(300):
        server.add_member(guild_state, f"member{i:03d}")
    bot = await connect()
    guild = bot.get_guild(int(guild_state.id))
    await wait_for(lambda: guild.chunked)
    assert len(guild.members) == len(guild_state.members) == 302
    assert server.gateway.request_members_count >= 1
    found = await guild.query_members("member01", limit=20)
    assert sorted(m.name for m in found) == [f"member{i:03d}" for i in range(10, 20)]


async def test_dropped_gateway_is_resumed_with_missed_events(
    server: SandboxServer, connect
) -> None:
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    assert server.drop_gateway(close_code=None) == 1
    # While the bot is disconnected, things happen in the guild.
    created = server.create_channel(server.guild(), {"name": "while-away", "type": 0})
    await asyncio.wait_for(resumed.wait(), 10)
    await wait_for(lambda: guild.get_channel(int(created["id"])) is not None)
    assert server.gateway.identify_count == 1
    assert server.gateway.resume_count == 1


async def test_unresumable_session_identifies_again(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_id = int(server.guild().id)
    server.drop_gateway(close_code=4000, resumable=False)
    await wait_for(lambda: server.gateway.identify_count == 2)
    await wait_for(lambda: bot.get_guild(guild_id) is not None and bot.is_ready())
    assert server.gateway.resume_count == 0


async def test_message_content_needs_the_intent(server: SandboxServer, connect) -> None:
    intents = discord.Intents.default()
    intents.members = True
    bot = await connect(intents=intents)
    seen: list[discord.Message] = []

    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    bot.add_listener(on_message)
    guild_state = server.guild()
    ana = server.add_member(guild_state, "ana")
    general = guild_state.channel_by_name("general")
    message = server.build_message(general, ana["user"], {"content": "secret plans"})
    server.store_message(general, message)
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].content == ""
    mention = server.build_message(
        general, ana["user"], {"content": f"<@{server.bot_user['id']}> help"}
    )
    server.store_message(general, mention)
    await wait_for(lambda: len(seen) == 2)
    assert seen[1].content.endswith("help")


async def test_bot_does_not_receive_messages_of_channels_it_cannot_see(
    server: SandboxServer, connect
) -> None:
    intents = discord.Intents.default()
    intents.members = True
    intents.message_content = True
    bot = await connect(intents=intents)
    seen: list[discord.Message] = []

    async def on_message(message: discord.Message) -> None:
        seen.append(message)

    bot.add_listener(on_message)
    guild_state = server.guild()
    hidden = server.create_channel(
        guild_state,
        {
            "name": "hidden",
            "type": 0,
            "permission_overwrites": [
                {
                    "id": server.bot_role(guild_state)["id"],
                    "type": 0,
                    "allow": "0",
                    "deny": str(int(P.VIEW_CHANNEL)),
                }
            ],
        },
    )
    ana = server.add_member(guild_state, "ana")
    server.store_message(hidden, server.build_message(hidden, ana["user"], {"content": "psst"}))
    general = guild_state.channel_by_name("general")
    server.store_message(general, server.build_message(general, ana["user"], {"content": "hi"}))
    await wait_for(lambda: len(seen) == 1)
    await asyncio.sleep(0.05)
    assert [m.content for m in seen] == ["hi"]
