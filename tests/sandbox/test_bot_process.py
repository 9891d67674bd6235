"""The real bot as a separate OS process against the sandbox (``bot_process=True``):
commands, crashes (SIGKILL), clean restarts (SIGTERM), the sandbox clock, its log."""

from __future__ import annotations

import asyncio
import os
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import CLOCK_URL_ENV, Clock, ClockFollower, follow_remote_clock, utcnow
from sandbox.driver.process import toml_dumps
from sandbox.server.control import ControlServer
from sandbox.server.core import DEFAULT_TOKEN


def two_phases() -> dict:
    now = utcnow()

    def at(delta: timedelta) -> str:
        return (now + delta).isoformat(timespec="seconds")

    return {
        "event": {"name": "Proc Hack", "timezone": "Europe/Paris"},
        "phases": [
            {
                "key": "registration",
                "name": "Registration",
                "start": at(-timedelta(hours=1)),
                "end": at(timedelta(hours=2)),
                "opens": ["registration"],
            },
            {
                "key": "hacking",
                "name": "Hacking",
                "start": at(timedelta(hours=3)),
                "end": at(timedelta(hours=20)),
                "opens": ["team_changes", "help_queue", "submissions"],
            },
        ],
    }


async def test_about_answers_from_the_bot_process_and_the_clock_moves_it(start_sandbox):
    sb = await start_sandbox(two_phases(), bot_process=True)
    assert sb.bot is None and sb.bot_process is not None and sb.bot_process.running
    assert sb.bot_pid != os.getpid()
    sam = await sb.add_member("sam", locale="en-GB")
    reply = await sam.slash("about")
    assert reply.ephemeral
    assert "We are in the **Registration** phase" in reply.embed["description"]
    camille = await sb.add_member("camille", locale="fr")
    assert (
        "Nous sommes dans l'étape **Registration**"
        in ((await camille.slash("about")).embed["description"])
    )
    # What the bot set up, seen through the sandbox's permission model.
    assert sb.can_view(sam, "announcements") and not sb.can_send(sam, "announcements")
    assert not sb.can_view(sam, "organisers")

    await sb.advance(hours=2, minutes=30)  # the bot process's clock moves too
    assert (await sam.slash("about")).embed["description"].startswith("Next phase: **Hacking**")
    await sb.advance(days=1)
    assert (await sam.slash("about")).embed["description"] == (
        "The event is over. Thank you for taking part!"
    )
    assert reply.pinged == {"users": [], "roles": [], "everyone": False, "here": False}
    memory = sb.bot_memory()
    assert memory["VmHWM"] >= memory["VmRSS"] > 0


async def test_kill_9_then_start_brings_the_bot_back_on_the_same_database(start_sandbox):
    sb = await start_sandbox(two_phases(), bot_process=True)
    ana = await sb.add_member("ana")
    await ana.slash("about")
    channels = sorted(c.name for c in sb.channels)
    first = sb.bot_process

    await sb.kill_bot()
    assert first.returncode == -9  # SIGKILL: nothing ran on the way out
    assert not sb.server.gateway.connected_sessions()

    second = await sb.start_bot()
    assert second is sb.bot_process and second.pid != first.pid
    assert "Registration" in (await ana.slash("about")).embed["description"]
    assert sorted(c.name for c in sb.channels) == channels  # set-up not done twice
    assert "commands unchanged since the last sync" in "\n".join(second.own_lines)


async def test_sigterm_restart_stops_cleanly_and_starts_again(start_sandbox):
    sb = await start_sandbox(two_phases(), bot_process=True)
    lee = await sb.add_member("lee", locale="fr")
    first = sb.bot_process
    await sb.restart_bot()
    assert first.returncode == 0
    stopped = "\n".join(first.own_lines)
    assert "Traceback" not in stopped and " ERROR " not in stopped
    assert sb.bot_process is not first and sb.bot_process.running
    assert "Registration" in (await lee.slash("about")).embed["description"]
    # A clock jump while the new process runs reaches it too.
    await sb.advance(hours=3, minutes=30)
    assert "**Hacking**" in (await lee.slash("about")).embed["description"]


async def test_the_token_never_appears_in_the_bot_log(start_sandbox):
    sb = await start_sandbox(bot_process=True, bot_log_level="DEBUG")
    await (await sb.add_member("kim")).slash("about")
    await sb.restart_bot()
    log = sb.bot_log
    assert "hackbot ready for" in log  # the log was captured
    assert "discord.gateway" in log  # at DEBUG, discord.py's gateway traffic is in it
    assert DEFAULT_TOKEN not in log


async def test_a_bot_process_that_cannot_start_is_reported_with_its_log(
    tmp_path, openapi_validator
):
    from sandbox import Sandbox
    from sandbox.driver.process import BotExited

    # Discord (the sandbox) rejects the token: the bot exits with its own clear message.
    with pytest.raises(BotExited, match="rejected the token"):
        await Sandbox.start(bot_process=True, tmp_path=tmp_path, bot_env={"DISCORD_TOKEN": "nope"})


# -- pieces, without a bot process ---------------------------------------------------------


async def test_a_clock_follower_applies_jumps_runs_listeners_and_acknowledges():
    sandbox_clock = Clock()
    server = ControlServer(validate=False, clock=sandbox_clock, now=sandbox_clock.now)
    server.create_guild()
    await server.start()
    await server.advance_clock(timedelta(hours=1))  # before the follower starts
    bot_clock = Clock()
    jumps: list[timedelta] = []

    async def on_jump() -> None:
        await asyncio.sleep(0.05)  # a listener that takes time (timers being rebuilt)
        jumps.append(bot_clock.offset)

    bot_clock.on_jump(on_jump)
    follower = await follow_remote_clock(bot_clock, {CLOCK_URL_ENV: server.clock_url})
    assert isinstance(follower, ClockFollower)
    try:
        assert bot_clock.offset == timedelta(hours=1)
        version = await server.advance_clock(timedelta(minutes=30, microseconds=7))
        assert await server.control.wait_acked(version, 5)
        # Acknowledged only once the listener finished.
        assert jumps[-1] == timedelta(hours=1, minutes=30, microseconds=7)
        assert bot_clock.offset == sandbox_clock.offset
    finally:
        await follower.stop()
        await server.stop()


async def test_without_the_variable_the_clock_follows_nothing():
    clock = Clock()
    assert await follow_remote_clock(clock, {}) is None
    assert clock.offset == timedelta(0)


async def test_the_control_endpoint_moves_the_clock_of_a_standalone_server():
    import aiohttp

    clock = Clock()
    server = ControlServer(validate=False, clock=clock, now=clock.now)
    server.create_guild()
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(server.clock_url, json={"advance_s": 90}) as response:
                assert response.status == 200
                assert (await response.json()) == {"version": 1, "offset_us": 90_000_000}
            async with http.post(server.clock_url, json={"advance_s": -1}) as response:
                assert response.status == 400
        assert clock.offset == timedelta(seconds=90)
    finally:
        await server.stop()


def test_the_generated_config_file_reads_back_as_the_same_dict():
    data = {
        "event": {"name": 'Hack "n" Town', "guild_id": 12, "language": "fr"},
        "database": {"url": "sqlite+aiosqlite:///x.sqlite3", "auto_migrate": True},
        "teams": {"min_size": 2, "max_size": 5, "weird key": 1.5},
        "phases": [
            {"key": "a", "name": "Été", "start": "2026-01-01T10:00:00+01:00", "opens": ["x"]},
            {"key": "b", "name": "B", "start": datetime(2026, 1, 2, tzinfo=UTC), "opens": []},
        ],
    }
    parsed = tomllib.loads(toml_dumps(data))
    assert parsed["event"] == data["event"]
    assert parsed["teams"] == data["teams"]
    assert parsed["database"] == data["database"]
    assert parsed["phases"][0] == data["phases"][0]
    assert parsed["phases"][1]["start"] == datetime(2026, 1, 2, tzinfo=UTC)
