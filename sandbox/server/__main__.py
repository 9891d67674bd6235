"""Run the sandbox server on its own: ``python -m sandbox.server --port 8765``.

Prints the base URL, the bot token and the command that runs hackbot against it
(``hackbot run --api-base URL`` with ``DISCORD_TOKEN`` and ``HACKBOT_CLOCK_URL``). Move
the sandbox clock (and the bot's) with ``POST /_sandbox/clock {"advance_s": 600}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from sandbox.server.control import ControlServer
from sandbox.server.core import DEFAULT_TOKEN


async def serve(args: argparse.Namespace) -> None:
    from bot.clock import Clock

    clock = Clock()
    server = ControlServer(
        token=args.token,
        validate=not args.no_validate,
        rate_limits=False if args.no_rate_limits else None,
        latency_ms=args.latency_ms,
        clock=clock,
        now=clock.now,
    )
    guild = server.create_guild(guild_id=args.guild_id, name=args.guild_name)
    for index in range(args.members):
        server.add_member(guild, f"member{index}")
    url = await server.start(port=args.port, host=args.host)
    print(f"sandbox Discord at {url} (token {args.token!r}, guild {server.guild().id})", flush=True)
    print(
        f"run the bot: DISCORD_TOKEN={args.token} HACKBOT_CLOCK_URL={server.clock_url} "
        f"python -m bot run --api-base {url} --config <file with event.guild_id = {guild.id}>",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--guild-id", type=int, default=None)
    parser.add_argument("--guild-name", default="Hackathon")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--members", type=int, default=0, help="members in the guild at start")
    parser.add_argument(
        "--no-validate", action="store_true", help="skip OpenAPI validation (benchmarks)"
    )
    parser.add_argument("--no-rate-limits", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
