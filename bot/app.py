"""The bot process: resources are built in :func:`create_bot` and handed to
:class:`HackBot`; ``setup_hook`` does the start-up work."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib
import json
import logging
import pkgutil
import signal
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord.ext import commands

import cogs
from bot.clock import Clock, follow_remote_clock
from bot.commands_meta import CommandIds
from bot.config import Settings
from bot.db import Database
from bot.errors import HackbotError
from bot.guild_setup import ensure_structure
from bot.interactions import HackTree
from bot.localization import CatalogueTranslator
from bot.migrations import ensure_schema
from bot.outbox import Outbox
from bot.scheduler import JOB_TASK_PREFIX, TimerScheduler
from bot.services import event as event_service
from bot.services import outbox as outbox_service

log = logging.getLogger(__name__)

COMMANDS_HASH_KEY = "commands_hash"


def point_discord_at(base_url: str) -> None:
    """Send all of discord.py's REST and gateway traffic to ``base_url`` (the sandbox)."""
    base = base_url.rstrip("/")
    discord.http.Route.BASE = f"{base}/api/v10"
    gateway = yarl.URL(
        base.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/gateway"
    )
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway


def cog_modules() -> list[str]:
    """Every cog module in ``cogs/`` (each feature is one module or package)."""
    return sorted(
        f"cogs.{info.name}"
        for info in pkgutil.iter_modules(cogs.__path__)
        if not info.name.startswith("_")
    )


# hackbot never joins voice: silence discord.py's start-up warnings about voice libraries.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (Linux, macOS): the bot's whole work is
    network I/O and callbacks on one loop, which uvloop runs with less CPU per message."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


#: The collector's thresholds once the bot is ready (Python's default: 700, 10, 10). Each
#: interaction leaves short-lived cycles (interaction, view, coroutine objects); collecting
#: the youngest generation every 20,000 allocations instead of 700 lets most of them die
#: before a collection promotes them, so full collections (150-250 ms each with the forms
#: and views members leave open) come rarely. At 200 interactions/s the bench's p99 went
#: from 134 ms to 55 ms.
GC_THRESHOLDS = (20_000, 20, 10)


def settle_memory() -> None:
    """Called once the bot is ready: what start-up loaded (the member cache, cogs, catalogues)
    stays for the whole event, so the collector stops walking it on every full collection
    (with 28,000 cached members a full collection otherwise pauses every handler for tens of
    milliseconds); then the thresholds above."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def intents() -> discord.Intents:
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True  # who left, role changes, display names: team spaces depend on it
    return wanted


class NotInGuild(HackbotError):
    """The configured guild is not one the bot was invited to."""

    key = "app.not_in_guild"


class Refused(discord.DiscordException):
    """Discord refused for good a write the bot needs done now (``why``: its answer)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class HackBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        timers: TimerScheduler,
        outbox: Outbox | None = None,
    ) -> None:
        outbox = outbox or Outbox(db, clock)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=HackTree,
            help_command=None,
            # The outbox learns Discord's buckets from the answers to its own requests.
            http_trace=outbox.learner.trace_config(),
        )
        self.settings = settings
        self.db = db
        self.clock = clock
        self.timers = timers
        #: Every write the bot makes to Discord on its own goes through it (bot/outbox.py).
        self.outbox = outbox
        self.hackbot_ready = asyncio.Event()
        self.command_ids = CommandIds({})
        self._after_ready_task: asyncio.Task[None] | None = None

    @property
    def guild_id(self) -> int:
        return self.settings.event.guild_id

    @property
    def event_guild(self) -> discord.Guild | None:
        return self.get_guild(self.guild_id)

    async def tell_organisers(self, *texts: str) -> bool:
        """Post ``texts`` (each at most one message) in the organisers' channel, through the
        outbox, pinging nobody. False when the server has no such channel (logged)."""
        guild = self.event_guild
        name = self.settings.channels.organisers
        channel = discord.utils.get(guild.text_channels, name=name) if guild else None
        if channel is None:
            log.warning("no #%s channel to tell the organisers: %s", name, " / ".join(texts))
            return False
        writes = [outbox_service.message_send(channel.id, content=text[:2000]) for text in texts]
        async with self.db.begin() as session:
            await outbox_service.enqueue_many(session, self.clock.now(), writes)
        return True

    async def make(self, write: outbox_service.Write) -> dict[str, Any] | None:
        """Have the outbox carry out a write (with a ``key``) whose result the caller needs
        now: wait for Discord, however long its pace makes it, and return the write's result
        (``{}`` for a write without one). A write already asked for under the same key
        (before a restart) is waited for, never asked for twice. None if the bot stopped
        meanwhile; raises :class:`Refused` (with Discord's reason) if Discord refused it for
        good."""
        async with self.db.begin() as session:
            earlier = await outbox_service.unfinished(session, write.coalesce_key or "")
            stored = (
                None if earlier else await outbox_service.enqueue(session, self.clock.now(), write)
            )
        ids = earlier or ([stored.queued.id] if stored and stored.queued else [])
        if not ids:
            return None
        await self.outbox.until_done(ids, self.is_closed)
        if any(self.outbox.pending(i) for i in ids):
            return None
        async with self.db.read() as session:
            done, result = await outbox_service.outcome_of(session, ids[0])
            why = None if done else await outbox_service.refusal_of(session, ids[0])
        if not done:
            raise Refused(why or "refused")
        return result or {}

    async def make_channel(self, write: outbox_service.Write) -> discord.abc.GuildChannel | None:
        """Have the outbox make a channel (``write`` from
        :func:`bot.services.outbox.channel_create`, with a ``key``) that the caller needs
        now (see :meth:`make`), and wait for the gateway to show it. None if the bot
        stopped meanwhile; raises :class:`Refused` if Discord refused it for good."""
        result = await self.make(write)
        if result is None:
            return None
        if "channel_id" not in result:
            raise Refused("refused")
        channel_id = int(result["channel_id"])
        for _ in range(50):
            channel = self.get_channel(channel_id)
            if isinstance(channel, discord.abc.GuildChannel):
                return channel
            await asyncio.sleep(0.1)
        try:
            fetched = await self.fetch_channel(channel_id)
        except discord.HTTPException:
            return None
        return fetched if isinstance(fetched, discord.abc.GuildChannel) else None

    async def make_role(self, write: outbox_service.Write) -> discord.Role | None:
        """Have the outbox make a role (``write`` from
        :func:`bot.services.outbox.role_create`, with a ``key``) that the caller needs now
        (see :meth:`make`), and wait for the gateway to show it. None if the bot stopped
        meanwhile; raises :class:`Refused` if Discord refused it for good."""
        result = await self.make(write)
        guild = self.get_guild(int(write.payload["guild_id"]))
        if result is None or guild is None:
            return None
        role_id = int(result["role_id"])
        for _ in range(50):
            if (role := guild.get_role(role_id)) is not None:
                return role
            await asyncio.sleep(0.1)
        return next((r for r in await guild.fetch_roles() if r.id == role_id), None)

    async def add_forum_tags(
        self, forum: discord.ForumChannel, names: list[str], *, reason: str
    ) -> discord.ForumChannel:
        """Give ``forum`` the tags of ``names`` it lacks (through the outbox, waiting for it:
        a post about to be made needs them) and return it as the gateway shows it after.
        Raises :class:`Refused` if Discord refused it for good."""
        missing = [n for n in names if discord.utils.get(forum.available_tags, name=n) is None]
        if not missing:
            return forum
        kept = [{"id": str(tag.id), "name": tag.name} for tag in forum.available_tags]
        write = outbox_service.forum_tags(
            forum.id,
            [*kept, *({"name": name} for name in missing)],
            reason=reason,
            priority=outbox_service.Priority.URGENT,
        )
        if await self.make(write) is None:
            return forum
        for _ in range(50):
            current = self.get_channel(forum.id)
            if isinstance(current, discord.ForumChannel) and all(
                discord.utils.get(current.available_tags, name=n) for n in missing
            ):
                return current
            await asyncio.sleep(0.1)
        fetched = await self.fetch_channel(forum.id)
        return fetched if isinstance(fetched, discord.ForumChannel) else forum

    async def load_cogs(self) -> None:
        for module in cog_modules():
            await self.load_extension(module)
        await self.tree.set_translator(CatalogueTranslator())

    async def setup_hook(self) -> None:
        await ensure_schema(self.db, auto_upgrade=self.settings.database.auto_migrate)
        async with self.db.begin() as session:
            await event_service.sync_phases(session, self.settings)
        await self.load_cogs()
        # After the cogs: the handlers they register hear of the writes left from before.
        await self.outbox.start(self.http)
        await self.timers.start()
        await self.sync_commands()
        self._after_ready_task = asyncio.create_task(
            self._after_ready(), name="hackbot-after-ready"
        )

    async def sync_commands(self) -> None:
        """Sync the command tree to the event's guild, only when it changed since the last sync."""
        try:
            await self.fetch_guild(self.guild_id, with_counts=False)
        except (discord.NotFound, discord.Forbidden):
            raise NotInGuild(guild_id=self.guild_id) from None
        guild = discord.Object(id=self.guild_id)
        self.tree.copy_global_to(guild=guild)
        translator = self.tree.translator
        assert translator is not None
        payload = [
            await cmd.get_translated_payload(self.tree, translator)
            for cmd in self.tree.get_commands(guild=guild)
        ]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        async with self.db.read() as session:
            previous = await event_service.get_state(session, COMMANDS_HASH_KEY)
        if previous and previous.get("guild") == self.guild_id and previous.get("digest") == digest:
            # Same tree as last time: sync only if Discord lost them (re-invite, manual removal).
            registered = await self.tree.fetch_commands(guild=guild)
            if {command.name for command in registered} == {p["name"] for p in payload}:
                self.command_ids = CommandIds({command.name: command.id for command in registered})
                log.info("commands unchanged since the last sync, not syncing")
                return
        synced = await self.tree.sync(guild=guild)
        ids = {command.name: command.id for command in synced}
        self.command_ids = CommandIds(ids)
        async with self.db.begin() as session:
            await event_service.set_state(
                session,
                COMMANDS_HASH_KEY,
                {"guild": self.guild_id, "digest": digest},
            )
        log.info("synced %d commands to guild %s", len(synced), self.guild_id)

    async def _after_ready(self) -> None:
        await self.wait_until_ready()
        guild = self.event_guild
        if guild is None:
            log.error(
                "the bot is not in the configured guild %s: invite it (see README) or fix event.guild_id",
                self.guild_id,
            )
        else:
            try:
                await ensure_structure(self, guild)
            except Refused as refused:
                log.error(
                    "Discord refused a role or channel hackbot needs (%s): check the bot's "
                    "permissions, then run /admin repair",
                    refused.why,
                )
        self.hackbot_ready.set()
        log.info("hackbot ready for %s", self.settings.event.name)

    async def close(self) -> None:
        if self._after_ready_task is not None:
            self._after_ready_task.cancel()
        await self.timers.stop()
        await self.outbox.stop()
        await super().close()
        # Handlers and background jobs still running end while the database is there: one
        # cancelled after the engine is gone would hang on a connection it cannot close.
        await _settle_own_tasks()
        await self.db.dispose()


#: Names of the tasks that run the bot's code: the ones discord.py starts for handlers
#: (events, commands, components) and the bot's background jobs (they end when idle).
OWN_TASK_PREFIXES = ("discord.py: ", "CommandTree-invoker", "discord-ui-", JOB_TASK_PREFIX)
#: The bot's delayed refreshes: asleep until then, taken up again at the next start.
SLEEPER_PREFIX = "hackbot-later:"
#: How long handlers and jobs in flight may take to finish at a stop before they are cancelled.
SETTLE_S = 5.0


async def _settle_own_tasks() -> None:
    """Let what runs the bot's code finish while the database is still there (a task
    cancelled in a transaction would leave it to be rolled back on a connection being shut
    down); only what is still running after SETTLE_S is cancelled."""
    current = asyncio.current_task()
    running = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in running:
        if task.get_name().startswith(SLEEPER_PREFIX):
            task.cancel()
    own = [task for task in running if task.get_name().startswith(OWN_TASK_PREFIXES)]
    if not own:
        return
    _done, pending = await asyncio.wait(own, timeout=SETTLE_S)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=SETTLE_S)
        log.warning(
            "stop: %d task(s) still running after %.0f s were cancelled: %s",
            len(pending),
            SETTLE_S,
            ", ".join(sorted(task.get_name() for task in pending)),
        )


async def create_bot(
    settings: Settings, *, clock: Clock | None = None, db: Database | None = None
) -> HackBot:
    """Build the bot and its resources. Nothing connects until ``bot.start(token)``."""
    clock = clock or Clock()
    db = db or Database(settings.database.url)
    timers = TimerScheduler(db, clock)
    outbox = Outbox(db, clock)
    outbox.learner.global_rate = float(settings.broadcasts.max_per_second)
    bot = HackBot(settings, db, clock, timers, outbox)
    timers.bind(bot)
    return bot


async def main(settings: Settings, token: str) -> None:
    """Run until Discord rejects us or SIGTERM/SIGINT asks for a clean stop."""
    clock = Clock()
    # Tests and benchmarks that run the bot as a process move its time through the sandbox.
    follower = await follow_remote_clock(clock)
    bot = await create_bot(settings, clock=clock)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def stop() -> None:
        from bot.cli import STOP_GRACE_S, _exit_guard

        if not closing:  # a stop that hangs (a task that never ends) cannot hold the process
            _exit_guard(1, STOP_GRACE_S, "the stop was asked")
        closing.append(asyncio.create_task(bot.close()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop)

    async def settle_when_ready() -> None:
        await bot.hackbot_ready.wait()
        settle_memory()

    # Only in the bot's own process (tests run many bots in one process and must not freeze
    # each other's objects).
    settling = asyncio.create_task(settle_when_ready(), name="hackbot-settle-memory")
    try:
        async with bot:
            await bot.start(token)
    finally:
        settling.cancel()
        # Let a close started by a signal finish (database engine disposed) before the
        # loop ends; otherwise asyncio.run cancels it half-way.
        await asyncio.gather(*closing, return_exceptions=True)
        if follower is not None:
            await follower.stop()
        await _end_leftover_tasks()
        # A task that was still running after the close may have opened a connection again.
        await bot.db.dispose()


async def _end_leftover_tasks(within: float = 10.0) -> None:
    """Cancel what still runs (a handler, a cog's loop) and let it unwind its sessions
    while the loop still runs, instead of leaving it to the loop's last cancellation."""
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in leftover:
        task.cancel()
    if leftover:
        _done, pending = await asyncio.wait(leftover, timeout=within)
        for task in pending:
            log.warning("still running at exit: %s", task.get_name())


def import_cogs() -> None:
    """Import every cog module (for structural checks that do not start the bot)."""
    for module in cog_modules():
        importlib.import_module(module)
