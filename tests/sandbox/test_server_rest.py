"""The sandbox refuses what Discord refuses: bad schemas, broken limits, missing permissions,
and it rate limits the way discord.py expects."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import discord
import pytest

from sandbox.rules.permissions import P
from sandbox.server import SandboxServer


def auth(server: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bot {server.token}"}


async def test_request_breaking_the_schema_is_refused(server: SandboxServer) -> None:
    general = server.guild().channel_by_name("general")
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.api_base}/channels/{general['id']}/messages",
            json={"content": 5},
            headers=auth(server),
        )
        body = await response.json()
    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert body["code"] == 50035
    assert "content" in body["errors"]
    (violation,) = server.reset_violations()
    assert violation.code == 50035 and violation.body == {"content": 5}
    assert server.channel_message_list(general["id"]) == []


async def test_invalid_json_is_refused(server: SandboxServer) -> None:
    general = server.guild().channel_by_name("general")
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{server.api_base}/channels/{general['id']}/messages",
            data=b"{not json",
            headers={**auth(server), "Content-Type": "application/json"},
        )
        body = await response.json()
    assert (response.status, body["code"]) == (400, 50109)
    assert server.reset_violations()[0].code == 50109


async def test_unknown_route_is_reported(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.get(f"{server.api_base}/no/such/route", headers=auth(server))
    assert response.status == 404
    assert "no such route" in server.reset_violations()[0].message


async def test_message_over_2000_characters_is_refused(server: SandboxServer, connect) -> None:
    bot = await connect()
    channel = bot.get_channel(int(server.guild().channel_by_name("general")["id"]))
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send("x" * 2001)
    assert caught.value.code == 50035
    assert [v.code for v in server.reset_violations()] == [50035]
    await channel.send("x" * 2000)


async def test_fifty_first_channel_in_a_category_is_refused(server: SandboxServer, connect) -> None:
    bot = await connect(max_ratelimit_timeout=None)
    server.rate_limiter.buckets["POST /guilds/{guild_id}/channels"] = (1000, 1.0)
    guild = bot.get_guild(int(server.guild().id))
    category = await guild.create_category("Teams")
    for i in range(50):
        await guild.create_text_channel(f"team-{i}", category=category)
    with pytest.raises(discord.HTTPException) as caught:
        await guild.create_text_channel("team-50", category=category)
    assert caught.value.code == 50035
    assert [v.code for v in server.reset_violations()] == [50035]
    await guild.create_text_channel("team-50")  # outside the category it is fine


async def test_five_hundred_first_channel_is_refused(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    while len(guild_state.guild_channels()) < 500:
        server.create_channel(guild_state, {"name": f"c{len(guild_state.channels)}", "type": 0})
    guild = bot.get_guild(int(guild_state.id))
    with pytest.raises(discord.HTTPException) as caught:
        await guild.create_text_channel("one-too-many")
    assert caught.value.code == 30013
    assert [v.code for v in server.reset_violations()] == [30013]
    # Threads do not count against the 500.
    thread = await guild.text_channels[0].create_thread(name="still fine")
    assert thread.id


async def test_two_hundred_fifty_first_role_is_refused(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    from sandbox.server.state import make_role

    while len(guild_state.roles) < 250:
        role_id = server.new_id()
        guild_state.roles[role_id] = make_role(
            role_id, f"r{len(guild_state.roles)}", permissions=0, position=1
        )
    guild = bot.get_guild(int(guild_state.id))
    with pytest.raises(discord.HTTPException) as caught:
        await guild.create_role(name="one-too-many")
    assert caught.value.code == 30005
    assert [v.code for v in server.reset_violations()] == [30005]


async def test_rate_limited_requests_are_retried_by_discord_py(
    server: SandboxServer, connect
) -> None:
    bot = await connect()
    server.rate_limiter.global_per_second = 3
    guild_state = server.guild()
    channels = [server.create_channel(guild_state, {"name": f"r{i}", "type": 0}) for i in range(6)]
    await asyncio.sleep(1.1)  # a fresh global window
    sent = await asyncio.gather(
        *(bot.get_channel(int(c["id"])).send(f"message {i}") for i, c in enumerate(channels))
    )
    assert len(sent) == 6
    assert server.rate_limiter.stats["global_rate_limited"] >= 1
    assert all(len(server.channel_message_list(c["id"])) == 1 for c in channels)
    assert server.violations == []


async def test_429_carries_the_headers_discord_py_needs(server: SandboxServer) -> None:
    general = server.guild().channel_by_name("general")
    url = f"{server.api_base}/channels/{general['id']}/messages"
    statuses = []
    async with aiohttp.ClientSession() as http:
        for i in range(6):
            response = await http.post(url, json={"content": f"m{i}"}, headers=auth(server))
            statuses.append(response.status)
            body = await response.json()
            if response.status == 429:
                limited_headers, limited_body = response.headers, body
            else:
                assert "X-RateLimit-Bucket" in response.headers
                assert response.headers["X-RateLimit-Limit"] == "5"
    assert statuses == [200] * 5 + [429]
    assert limited_headers["Via"]
    assert float(limited_headers["Retry-After"]) > 0
    assert limited_headers["X-RateLimit-Scope"] == "user"
    assert limited_body["global"] is False and limited_body["retry_after"] > 0
    assert server.violations == []


async def test_injected_server_errors_are_retried(server: SandboxServer, connect) -> None:
    bot = await connect()
    server.faults.fail_next = 1
    channel = bot.get_channel(int(server.guild().channel_by_name("general")["id"]))
    message = await channel.send("after one 500")
    assert message.content == "after one 500"
    assert server.stats["faults"] == 1


async def test_bot_without_manage_channels_cannot_create_channels(
    server: SandboxServer, connect
) -> None:
    server.set_bot_permissions(int(P.VIEW_CHANNEL | P.SEND_MESSAGES))
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    with pytest.raises(discord.Forbidden) as caught:
        await guild.create_text_channel("nope")
    assert caught.value.code == 50013
    with pytest.raises(discord.Forbidden):
        await guild.create_role(name="nope")
    assert [v.code for v in server.reset_violations()] == [50013, 50013]


async def test_bot_cannot_grant_permissions_it_lacks(server: SandboxServer, connect) -> None:
    server.set_bot_permissions(
        int(P.VIEW_CHANNEL | P.SEND_MESSAGES | P.MANAGE_CHANNELS | P.MANAGE_ROLES)
    )
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    overwrites = {guild.default_role: discord.PermissionOverwrite(manage_messages=True)}
    with pytest.raises(discord.Forbidden):
        await guild.create_text_channel("mods", overwrites=overwrites)
    assert [v.code for v in server.reset_violations()] == [50013]


async def test_private_channel_permissions(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    organiser = await guild.create_role(name="Organiser")
    ana = server.add_member(server.guild(), "ana")
    bob = server.add_member(server.guild(), "bob", roles=[str(organiser.id)])
    secret = await guild.create_text_channel(
        "organisers",
        overwrites={
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            organiser: discord.PermissionOverwrite(view_channel=True),
            guild.me: discord.PermissionOverwrite(view_channel=True, send_messages=True),
        },
    )
    assert not server.can_view(ana["user"]["id"], secret.id)
    assert server.can_view(bob["user"]["id"], secret.id)
    assert server.can_send(bob["user"]["id"], secret.id)
    await secret.send("for organisers")
    # Read-only for organisers: the bot takes SEND_MESSAGES away from the role.
    await secret.set_permissions(organiser, view_channel=True, send_messages=False)
    assert server.can_view(bob["user"]["id"], secret.id)
    assert not server.can_send(bob["user"]["id"], secret.id)
    # And when the bot itself may not send, Discord refuses with 50013.
    await secret.set_permissions(guild.me, view_channel=True, send_messages=False)
    with pytest.raises(discord.Forbidden) as caught:
        await secret.send("again")
    assert caught.value.code == 50013
    assert [v.code for v in server.reset_violations()] == [50013]


async def test_role_hierarchy_is_enforced(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    guild = bot.get_guild(int(guild_state.id))
    low = await guild.create_role(name="Participant")
    # An administrator puts a role above the bot's.
    top = server.bot_top_position(guild_state)
    high_id = server.new_id()
    from sandbox.server.state import make_role

    guild_state.roles[high_id] = make_role(high_id, "Admins", permissions=0, position=top + 1)
    ana = server.add_member(guild_state, "ana")
    member = await guild.fetch_member(int(ana["user"]["id"]))
    await member.add_roles(low)
    with pytest.raises(discord.Forbidden):
        await member.add_roles(discord.Object(id=int(high_id)))
    assert [v.code for v in server.reset_violations()] == [50013]


async def test_threads_private_and_forum(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    guild = bot.get_guild(int(guild_state.id))
    ana = server.add_member(guild_state, "ana")
    bob = server.add_member(guild_state, "bob")
    general = guild.get_channel(int(guild_state.channel_by_name("general")["id"]))
    thread = await general.create_thread(name="team-owls", type=discord.ChannelType.private_thread)
    await thread.add_user(discord.Object(id=int(ana["user"]["id"])))
    assert server.can_view(ana["user"]["id"], thread.id)
    assert not server.can_view(bob["user"]["id"], thread.id)
    await thread.send("welcome")
    assert bot.get_channel(thread.id) is not None

    forum = await guild.create_forum("help", available_tags=[discord.ForumTag(name="python")])
    await asyncio.sleep(0.05)
    forum = guild.get_channel(forum.id)
    tag = forum.available_tags[0]
    post = await forum.create_thread(name="stuck", content="it crashes", applied_tags=[tag])
    assert post.thread.applied_tags == [tag]
    assert post.message.content == "it crashes"
    assert server.channel_message_list(str(post.thread.id))[0]["content"] == "it crashes"
    assert guild_state.channels[str(post.thread.id)]["parent_id"] == str(forum.id)

    # Deleting a private thread (by the bot or by hand) announces THREAD_DELETE and forgets it.
    await thread.delete()
    assert str(thread.id) not in guild_state.channels
    await asyncio.sleep(0.05)
    assert bot.get_channel(thread.id) is None


async def test_pins_and_mentions(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    guild = bot.get_guild(int(guild_state.id))
    ana = server.add_member(guild_state, "ana")
    role = await guild.create_role(name="Mentors", mentionable=False)
    channel = guild.get_channel(int(guild_state.channel_by_name("general")["id"]))
    text = f"<@{ana['user']['id']}> {role.mention} @everyone"
    quiet = await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    loud = await channel.send(text)
    assert server.messages[str(quiet.id)]["_pinged"] == {
        "users": [],
        "roles": [],
        "everyone": False,
        "here": False,
    }
    # Without allowed_mentions: users ping, @everyone pings (the bot may mention everyone),
    # and the role pings because MENTION_EVERYONE also covers unmentionable roles.
    pinged = server.messages[str(loud.id)]["_pinged"]
    assert pinged["users"] == [ana["user"]["id"]]
    assert pinged["everyone"] is True
    assert pinged["roles"] == [str(role.id)]
    await loud.pin()
    pins = [m async for m in channel.pins()]
    assert [m.id for m in pins] == [loud.id]
    await loud.unpin()
    assert [m async for m in channel.pins()] == []


async def test_attachments_scheduled_events_and_dms(server: SandboxServer, connect) -> None:
    import datetime as dt

    bot = await connect()
    guild_state = server.guild()
    guild = bot.get_guild(int(guild_state.id))
    channel = guild.get_channel(int(guild_state.channel_by_name("general")["id"]))
    message = await channel.send(
        "scores", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "scores.csv")
    )
    assert message.attachments[0].filename == "scores.csv"
    assert await message.attachments[0].read() == b"a,b\n1,2\n"

    start = discord.utils.utcnow() + dt.timedelta(hours=1)
    event = await guild.create_scheduled_event(
        name="Kick-off",
        start_time=start,
        end_time=start + dt.timedelta(hours=1),
        entity_type=discord.EntityType.external,
        location="Main hall",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    assert [e["name"] for e in guild_state.scheduled_events.values()] == ["Kick-off"]
    await event.edit(name="Opening")
    await event.delete()
    assert guild_state.scheduled_events == {}

    ana = server.add_member(guild_state, "ana")
    user = await bot.fetch_user(int(ana["user"]["id"]))
    await user.send("welcome")
    server.dms_closed.add(ana["user"]["id"])
    with pytest.raises(discord.Forbidden) as caught:
        await user.send("again")
    assert caught.value.code == 50007
    assert [v.code for v in server.reset_violations()] == [50007]


async def test_member_chunk_endpoint_and_member_edits(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild_state = server.guild()
    for i in range(5):
        server.add_member(guild_state, f"m{i}")
    guild = bot.get_guild(int(guild_state.id))
    fetched = [m async for m in guild.fetch_members(limit=None)]
    assert len(fetched) == len(guild_state.members)
    member = next(m for m in fetched if m.name == "m0")
    with pytest.raises(discord.Forbidden):  # not invited with MANAGE_NICKNAMES
        await member.edit(nick="Zero")
    assert [v.code for v in server.reset_violations()] == [50013]
    server.set_bot_permissions(server.bot_permissions | int(P.MANAGE_NICKNAMES))
    await member.edit(nick="Zero")
    assert guild_state.members[str(member.id)]["nick"] == "Zero"
