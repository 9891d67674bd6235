"""Guild onboarding: GET/PUT /guilds/{id}/onboarding as Discord documents them, and a member
answering the prompts, upon which the sandbox itself (as Discord does) gives the roles."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from sandbox import Sandbox
from sandbox.rules import limits
from sandbox.rules.errors import DiscordError
from sandbox.rules.permissions import P
from sandbox.server import SandboxServer
from sandbox.server.core import DEFAULT_BOT_PERMISSIONS

ONBOARDING_BOT = DEFAULT_BOT_PERMISSIONS | P.MANAGE_GUILD

EVERYONE_TALKS = ("lobby", "intro", "help", "random", "showcase")


def auth(server: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bot {server.token}"}


def add_role(server: SandboxServer, name: str) -> dict:
    """A role an admin made, below the bot's (position 1, the others move up)."""
    from sandbox.server import state as st

    guild = server.guild()
    for role in guild.roles.values():
        if role["position"] >= 1:
            role["position"] += 1
    role = st.make_role(server.new_id(), name, permissions=0, position=1)
    guild.roles[role["id"]] = role
    return role


def add_channel(server: SandboxServer, name: str, *, everyone_sends: bool = True) -> dict:
    guild = server.guild()
    overwrites = []
    if not everyone_sends:
        overwrites = [{"id": guild.id, "type": 0, "allow": "0", "deny": str(int(P.SEND_MESSAGES))}]
    return server.create_channel(
        guild, {"name": name, "type": 0, "permission_overwrites": overwrites}
    )


def seven_default_channels(server: SandboxServer) -> list[str]:
    """#general and 5 channels @everyone may post in, plus a read-only one: Discord's minimum."""
    guild = server.guild()
    ids = [guild.channel_by_name("general")["id"]]
    ids += [add_channel(server, name)["id"] for name in EVERYONE_TALKS]
    ids.append(add_channel(server, "rules", everyone_sends=False)["id"])
    return ids


async def put(server: SandboxServer, body: dict) -> tuple[int, dict]:
    # Many PUTs in a row here; Discord's bucket for the route is not the subject.
    server.rate_limiter.buckets["PUT /guilds/{guild_id}/onboarding"] = (100, 1.0)
    async with aiohttp.ClientSession() as http:
        response = await http.put(
            f"{server.api_base}/guilds/{server.guild().id}/onboarding",
            json=body,
            headers=auth(server),
        )
        return response.status, await response.json()


def prompt(title: str = "Why are you here?", *options: dict, **flags) -> dict:
    return {
        "id": "0",
        "type": 0,
        "title": title,
        "options": list(options) or [{"title": "Just looking", "channel_ids": []}],
        "single_select": flags.get("single_select", True),
        "required": flags.get("required", False),
        "in_onboarding": flags.get("in_onboarding", True),
    }


# -- the endpoints -----------------------------------------------------------------------------


async def test_get_returns_an_empty_disabled_onboarding(server: SandboxServer, connect) -> None:
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    onboarding = await guild.onboarding()  # discord.py parses Discord's shape
    assert (onboarding.enabled, onboarding.prompts, onboarding.default_channel_ids) == (
        False,
        [],
        set(),
    )
    assert onboarding.mode == discord.OnboardingMode.default


async def test_put_with_discord_py_stores_prompts_and_gives_ids(
    server: SandboxServer, connect
) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    participant = add_role(server, "Participant")
    defaults = seven_default_channels(server)
    bot = await connect()
    guild = bot.get_guild(int(server.guild().id))
    question = discord.OnboardingPrompt(
        type=discord.OnboardingPromptType.multiple_choice,
        title="Are you taking part in the hackathon?",
        options=[
            discord.OnboardingPromptOption(
                title="I take part",
                description="Opens the participant channels",
                emoji="🛠️",
                roles=[discord.Object(int(participant["id"]))],
            )
        ],
        single_select=True,
        required=False,
    )
    result = await guild.edit_onboarding(
        prompts=[question],
        default_channels=[discord.Object(int(c)) for c in defaults],
        enabled=True,
        reason="test",
    )
    assert result.enabled
    (stored,) = result.prompts
    assert stored.id != 0  # discord.py sends the index; Discord gives a snowflake
    (option,) = stored.options
    assert option.role_ids == {int(participant["id"])} and option.title == "I take part"
    again = await guild.onboarding()
    assert [p.id for p in again.prompts] == [stored.id]
    assert again.default_channel_ids == {int(c) for c in defaults}
    # A PUT naming the stored ids keeps them; fields left out stay as they were.
    raw = server.guild().onboarding
    status, body = await put(server, {"prompts": raw["prompts"]})
    assert status == 200
    assert body["prompts"][0]["id"] == str(stored.id)
    assert body["prompts"][0]["options"][0]["id"] == str(option.id)
    assert body["enabled"] is True and len(body["default_channel_ids"]) == 7


async def test_put_needs_manage_guild_and_manage_roles(server: SandboxServer) -> None:
    # hackbot's invite has Manage Roles, not Manage Server.
    status, body = await put(server, {"prompts": [prompt()]})
    assert (status, body["code"]) == (403, 50013)
    server.set_bot_permissions(ONBOARDING_BOT & ~P.MANAGE_ROLES)
    status, body = await put(server, {"prompts": [prompt()]})
    assert (status, body["code"]) == (403, 50013)
    assert [v.code for v in server.reset_violations()] == [50013, 50013]
    server.set_bot_permissions(ONBOARDING_BOT)
    status, _ = await put(server, {"prompts": [prompt()]})
    assert status == 200


async def test_option_roles_must_exist_and_be_below_the_bot(server: SandboxServer) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    guild = server.guild()
    bot_role = server.bot_role(guild)
    status, body = await put(
        server, {"prompts": [prompt("Q", {"title": "A", "role_ids": [bot_role["id"]]})]}
    )
    assert (status, body["code"]) == (403, 50013)
    status, body = await put(server, {"prompts": [prompt("Q", {"title": "A", "role_ids": ["1"]})]})
    assert (status, body["code"]) == (400, 50035)
    assert "role_ids" in body["errors"]["prompts"]["0"]["options"]["0"]
    assert [v.code for v in server.reset_violations()] == [50013, 50035]


async def test_limits_15_prompts_50_options_and_title_lengths(
    server: SandboxServer, openapi_validator
) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    option = {"title": "A"}
    cases = [
        {"prompts": [prompt(f"Q{i}") for i in range(16)]},
        {"prompts": [prompt("Q", *[dict(option) for _ in range(51)])]},
        {"prompts": [prompt("Q" * 101)]},
        {"prompts": [prompt("Q", {"title": "A" * 51})]},
        {"prompts": [prompt("Q", {"title": "A", "description": "d" * 101})]},
        {"prompts": [{**prompt("Q"), "options": []}]},
    ]
    for body in cases:
        status, answer = await put(server, body)
        assert (status, answer["code"]) == (400, 50035), body
    assert [v.code for v in server.reset_violations()] == [50035] * len(cases)
    # The same limits hold without the OpenAPI validation (benchmarks switch it off).
    for body in cases:
        with pytest.raises(DiscordError) as caught:
            limits.check_onboarding(body)
        assert caught.value.code == 50035
    status, _ = await put(
        server,
        {"prompts": [prompt(f"Q{i}", *[dict(option) for _ in range(50)]) for i in range(15)]},
    )
    assert status == 200


async def test_enabling_needs_7_default_channels_5_open_to_everyone(server: SandboxServer) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    defaults = seven_default_channels(server)
    # Six are not enough: 350000, "Cannot enable onboarding, requirements are not met".
    status, body = await put(server, {"enabled": True, "default_channel_ids": defaults[:6]})
    assert (status, body["code"]) == (400, 350000)
    # Seven, but only four that @everyone can post in.
    readonly = [add_channel(server, f"news-{i}", everyone_sends=False)["id"] for i in range(3)]
    status, body = await put(
        server, {"enabled": True, "default_channel_ids": [*defaults[:4], *readonly]}
    )
    assert (status, body["code"]) == (400, 350000)
    assert not server.guild().onboarding["enabled"]  # nothing changed
    status, body = await put(server, {"enabled": True, "default_channel_ids": defaults})
    assert status == 200 and body["enabled"]
    # Once enabled, going below them: 350001, "Cannot update onboarding while below requirements".
    status, body = await put(server, {"default_channel_ids": defaults[:3]})
    assert (status, body["code"]) == (400, 350001)
    assert [v.code for v in server.reset_violations()] == [350000, 350000, 350001]
    # Disabling it lifts the constraints.
    status, body = await put(server, {"enabled": False, "default_channel_ids": defaults[:3]})
    assert status == 200 and not body["enabled"]


async def test_advanced_mode_counts_the_channels_options_give(server: SandboxServer) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    defaults = seven_default_channels(server)
    question = prompt("Q", {"title": "Everything", "channel_ids": defaults[3:]})
    status, body = await put(
        server,
        {"prompts": [question], "default_channel_ids": defaults[:3], "enabled": True, "mode": 1},
    )
    assert status == 200 and body["mode"] == 1
    status, body = await put(server, {"mode": 0})  # default mode counts default channels only
    assert (status, body["code"]) == (400, 350001)
    server.reset_violations()


async def test_a_guild_that_is_not_community_is_refused(server: SandboxServer) -> None:
    server.set_bot_permissions(ONBOARDING_BOT)
    server.guild().data["features"] = []
    status, body = await put(server, {"prompts": [prompt()]})
    # Which code Discord uses here is not documented: the sandbox answers 350000.
    assert (status, body["code"]) == (400, 350000)
    server.reset_violations()


# -- a member answering ------------------------------------------------------------------------


async def enabled_onboarding(sb: Sandbox, *prompts: dict) -> None:
    server = sb.server
    defaults = seven_default_channels(server)
    await sb.set_onboarding(prompts=list(prompts), default_channel_ids=defaults, enabled=True)


async def test_member_completing_onboarding_gets_the_roles_from_discord(sb: Sandbox) -> None:
    participant = await sb.create_role("Participant")
    mentor = await sb.create_role("Mentor")
    await enabled_onboarding(
        sb,
        prompt(
            "Why are you here?",
            {"title": "I take part", "role_ids": [participant["id"]]},
            {"title": "I mentor", "role_ids": [mentor["id"]]},
            single_select=True,
            required=True,
        ),
    )
    ana = await sb.add_member("ana")
    requests = len(sb.server.requests)
    await ana.complete_onboarding(["I take part"])
    assert ana.roles == ["Participant"]
    assert ana.completed_onboarding
    # Discord did it: no request of the bot, none of its rate-limit buckets touched.
    assert len(sb.server.requests) == requests
    # ... and told the bot, as for any role change (discord.py's cache follows).
    member = sb.bot.get_guild(sb.guild_id).get_member(ana.id)
    assert [r.name for r in member.roles if not r.is_default()] == ["Participant"]
    assert member.flags.completed_onboarding
    # Answering again in Channels & Roles swaps the roles.
    await ana.complete_onboarding(["I mentor"])
    assert ana.roles == ["Mentor"]
    assert [r.name for r in member.roles if not r.is_default()] == ["Mentor"]


async def test_the_client_refuses_what_discord_would(sb: Sandbox) -> None:
    participant = await sb.create_role("Participant")
    ana = await sb.add_member("ana")
    with pytest.raises(ValueError, match="not enabled"):
        await ana.complete_onboarding([])
    await enabled_onboarding(
        sb,
        prompt(
            "Why are you here?",
            {"title": "I take part", "role_ids": [participant["id"]]},
            {"title": "Just looking", "channel_ids": []},
            single_select=True,
            required=True,
        ),
    )
    with pytest.raises(ValueError, match="must be answered"):
        await ana.complete_onboarding([])
    with pytest.raises(ValueError, match="one answer"):
        await ana.complete_onboarding(["I take part", "Just looking"])
    with pytest.raises(ValueError, match="no onboarding option"):
        await ana.complete_onboarding(["Something else"])
    assert ana.roles == [] and not ana.completed_onboarding
    await ana.complete_onboarding(["Just looking"])
    assert ana.roles == [] and ana.completed_onboarding


async def test_admin_set_onboarding_checks_discords_rules(sb: Sandbox) -> None:
    with pytest.raises(DiscordError) as caught:
        await sb.set_onboarding(enabled=True)
    assert caught.value.code == 350000
    assert sb.onboarding["enabled"] is False
