"""The sandbox's fault knobs seen from a real client: 429 storms (discord.py waits and retries),
Discord's invalid-request count, interactions that do not wait for the sandbox to settle, and
crash points that SIGKILL the bot process between "Discord did it" and "the bot heard it"."""

from __future__ import annotations

import aiohttp

from sandbox import Sandbox
from sandbox.server import SandboxServer


async def test_a_429_storm_is_retried_by_discord_py_and_counted_as_invalid(
    server: SandboxServer, connect
) -> None:
    bot = await connect()
    channel = bot.get_channel(int(server.guild().channel_by_name("general")["id"]))
    server.faults.reseed(3)
    server.faults.rate_limit_rate = 0.5
    server.faults.rate_limit_retry_after = (0.01, 0.05)
    sent = [await channel.send(f"message {i}") for i in range(4)]  # within 5 per 5 s
    assert [m.content for m in sent] == [f"message {i}" for i in range(4)]
    stormed = server.faults.injected_rate_limits
    assert stormed > 0 and server.stats["storm_rate_limited"] == stormed
    assert server.invalid_requests.count == stormed  # user-scope 429s count
    assert server.invalid_requests.by_status[429] == stormed

    server.faults.rate_limit_scope = "shared"
    await channel.send("shared limits are not the bot's fault")
    extra = server.faults.injected_rate_limits - stormed
    assert server.invalid_requests.count == stormed  # shared-scope 429s do not count
    assert len(server.channel_message_list(channel.id)) == 5
    assert extra >= 0


async def test_a_bad_token_counts_as_an_invalid_request(server: SandboxServer) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            response = await http.get(
                f"{server.api_base}/users/@me", headers={"Authorization": "Bot nope"}
            )
            assert response.status == 401
        ok = await http.get(
            f"{server.api_base}/users/@me", headers={"Authorization": f"Bot {server.token}"}
        )
        assert ok.status == 200
    assert server.invalid_requests.count == 3
    assert dict(server.invalid_requests.by_status) == {401: 3}
    assert len(server.reset_violations()) == 3


async def test_interaction_callbacks_are_never_stormed(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    sb.faults.rate_limit_rate = 1.0  # every request that carries the bot token
    assert (await ana.slash("about")).text == "hello"
    assert sb.faults.injected_rate_limits == 0
    sb.faults.rate_limit_rate = 0.0


async def test_interactions_may_return_without_settling(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    sb.settle_after_interaction = False
    seen: list[bool] = []
    original = sb.settle

    async def watched(**kwargs):
        seen.append(True)
        await original(**kwargs)

    sb.settle = watched  # type: ignore[method-assign]
    assert (await ana.slash("about")).text == "hello"
    assert seen == []
    sb.settle_after_interaction = True
    assert (await ana.slash("about")).text == "hello"
    assert seen == [True]


async def test_a_crash_point_kills_the_bot_process_after_the_message_exists(start_sandbox):
    sb = await start_sandbox(bot_process=True)
    general = sb.channel("general")
    first = sb.bot_process
    crash = sb.crash_after(
        "POST /channels/{channel_id}/messages",
        match=lambda call, result: call.params["channel_id"] == str(general.id),
    )
    # A request with the bot's token, as the bot process sends them.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{sb.server.api_base}/channels/{general.id}/messages",
            json={"content": "last words"},
            headers={"Authorization": f"Bot {sb.server.token}"},
        )
        assert response.status == 200
    await crash.wait(5)
    assert crash.fired and crash.result["content"] == "last words"
    await sb.kill_bot()
    assert first.returncode == -9
    assert general.texts[-1] == "last words"
    await sb.start_bot()
    assert sb.bot_process is not first and sb.bot_process.running
    assert crash.check not in sb.server.after_handled  # one shot


async def test_a_crash_before_point_kills_the_bot_and_drops_the_request(start_sandbox):
    sb = await start_sandbox(bot_process=True)
    general = sb.channel("general")
    before = len(general.messages)
    crash = sb.crash_before(
        "POST /channels/{channel_id}/messages",
        match=lambda call: (call.json or {}).get("content") == "never sent",
    )
    async with aiohttp.ClientSession() as http:
        for content in ("sent", "never sent", "after the crash"):
            await http.post(
                f"{sb.server.api_base}/channels/{general.id}/messages",
                json={"content": content},
                headers={"Authorization": f"Bot {sb.server.token}"},
            )
    await crash.wait(5)
    assert crash.call.json == {"content": "never sent"}
    assert general.texts[before:] == ["sent", "after the crash"]  # one request, not the bot
    await sb.kill_bot()
    assert sb.bot_processes[-1].returncode == -9
    assert crash.check_before not in sb.server.before_handled
