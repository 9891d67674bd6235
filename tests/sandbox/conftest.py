"""Fixtures for the sandbox's own tests.

* ``openapi_validator``: Discord's OpenAPI description, loaded once per session.
* ``server``: a started :class:`SandboxServer` with one guild; the test fails at
  teardown if the server recorded a refusal the test did not take (``server.reset_violations()``).
* ``connect``: starts plain discord.py bots against ``server`` (``await connect()``).
* ``sb``: a :class:`Sandbox` running the tiny test bot of ``minibot.py``.
* ``start_sandbox``: the shared fixture of :mod:`sandbox.driver.fixtures`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import discord
import pytest
import yarl
from discord.ext import commands

from sandbox import Sandbox
from sandbox.driver.fixtures import start_sandbox  # noqa: F401 - the shared fixture, tested here too
from sandbox.server import SandboxServer
from tests.sandbox import minibot


@pytest.fixture(scope="session")
def openapi_validator():
    from sandbox.rules.openapi import SpecValidator

    return SpecValidator.shared()


def point_discord_at(server: SandboxServer) -> None:
    discord.http.Route.BASE = server.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(server.gateway_url)


@pytest.fixture
async def server(openapi_validator) -> AsyncIterator[SandboxServer]:
    server = SandboxServer()
    server.create_guild(name="Test Guild")
    await server.start()
    point_discord_at(server)
    try:
        yield server
    finally:
        await server.stop()
    leftover = [str(v) for v in server.violations]
    assert not leftover, f"unexpected refusals: {leftover}"


Connect = Callable[..., Awaitable[commands.Bot]]


@pytest.fixture
async def connect(server: SandboxServer) -> AsyncIterator[Connect]:
    started: list[tuple[commands.Bot, asyncio.Task[None]]] = []

    async def make(
        *, intents: discord.Intents | None = None, token: str | None = None, **kwargs
    ) -> commands.Bot:
        if intents is None:
            intents = discord.Intents.default()
            intents.members = True
        bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.05, **kwargs)
        task = asyncio.create_task(bot.start(token or server.token))
        started.append((bot, task))
        waiter = asyncio.ensure_future(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {waiter, task}, timeout=20, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            if task in done:
                task.result()
            raise TimeoutError("bot not ready")
        return bot

    yield make
    for bot, task in started:
        with contextlib.suppress(Exception):
            await bot.close()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 5)


@pytest.fixture
async def sb(openapi_validator) -> AsyncIterator[Sandbox]:
    async with Sandbox.start(bot_factory=minibot.factory()) as sandbox:
        yield sandbox
