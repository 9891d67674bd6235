"""The ``hackbot`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from bot.errors import ConfigError, HackbotError
from bot.i18n import lang_for, t

log = logging.getLogger("hackbot")


def cli_lang(settings=None) -> str:
    explicit = os.environ.get("HACKBOT_LANG")
    if explicit:
        return lang_for(explicit)
    if settings is not None:
        return settings.event.language
    return lang_for(os.environ.get("LANG", "en"))


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("discord").setLevel(
        logging.WARNING if level.upper() != "DEBUG" else logging.DEBUG
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _load(path: str | None):
    from bot.config import load_settings

    return load_settings(path)


def _fail(message: str, code: int = 2) -> int:
    print(message, file=sys.stderr)
    return code


def _config_problems(error: ConfigError, lang: str) -> str:
    lines = [t("cli.config_invalid", lang)]
    for problem in error.problems:
        lines.append("  " + (problem.render(lang) if hasattr(problem, "render") else str(problem)))
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    import discord

    from bot.app import loop_factory, main, point_discord_at

    lang = cli_lang()
    try:
        settings = _load(args.config)
    except ConfigError as error:
        return _fail(_config_problems(error, lang))
    lang = cli_lang(settings)
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        return _fail(t("cli.no_token", lang))
    api_base = args.api_base or os.environ.get("HACKBOT_DISCORD_API")
    if api_base:
        point_discord_at(api_base)
    setup_logging(args.log_level or settings.logging.level)
    code = 0
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(main(settings, token))
    except discord.LoginFailure:
        code = _fail(t("cli.token_rejected", lang), 1)
    except discord.PrivilegedIntentsRequired:
        code = _fail(t("cli.intents_required", lang), 1)
    except HackbotError as error:
        code = _fail(t(error.key, lang, **error.params), 1)
    except KeyboardInterrupt:
        code = 0
    _exit_guard(code)
    return code


#: Seconds the process may take to end after the bot stopped (threads finishing).
EXIT_GRACE_S = 20.0
#: Seconds a stop asked by SIGTERM or Ctrl-C may take in all before the process ends anyway.
STOP_GRACE_S = 90.0


def _exit_guard(code: int, within: float | None = None, what: str = "the stop") -> None:
    """End the process after ``within`` seconds (EXIT_GRACE_S) if it is still alive then,
    and log the threads left that are not daemons, so a service manager never waits on it.
    Armed when the bot has stopped and everything is stored, and when a stop is asked."""
    import gc
    import threading

    gc.collect()  # connections only garbage held stop their worker threads
    grace = EXIT_GRACE_S if within is None else within

    def force() -> None:
        alive = [
            thread.name
            for thread in threading.enumerate()
            if thread is not threading.current_thread() and not thread.daemon
        ]
        logging.getLogger("hackbot").error(
            "still running %.0f s after %s, ending anyway; threads left: %s",
            grace,
            what,
            ", ".join(alive) or "none",
        )
        logging.shutdown()
        os._exit(code)

    timer = threading.Timer(grace, force)
    timer.daemon = True
    timer.start()


def cmd_check_config(args: argparse.Namespace) -> int:
    from bot.config import check_config

    lang = cli_lang()
    path = args.path
    problems = check_config(path)
    if problems:
        print(t("cli.config_invalid", lang))
        for problem in problems:
            print("  " + problem.render(lang))
        return 1
    print(t("cli.config_ok", lang, path=path or "hackbot.toml"))
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from bot import migrations

    lang = cli_lang()
    try:
        settings = _load(args.config)
    except ConfigError as error:
        return _fail(_config_problems(error, lang))
    lang = cli_lang(settings)
    url = settings.database.url
    try:
        if args.db_command == "upgrade":
            migrations.upgrade(url)
            print(t("cli.db_upgraded", lang, revision=migrations.current(url) or "-"))
        else:
            revision = migrations.current(url)
            print(
                t(
                    "cli.db_current",
                    lang,
                    revision=revision or t("cli.db_empty", lang),
                    head=migrations.head(),
                )
            )
    except HackbotError as error:
        return _fail(t(error.key, lang, **error.params), 1)
    return 0


async def _command_tree():
    """The bot with every cog loaded, never connected: for describing its commands.
    Close it with :func:`_close_offline`."""
    from bot.app import create_bot
    from bot.config import default_config_dict, settings_from_dict
    from bot.db import Database

    settings = settings_from_dict(default_config_dict(), base_dir=Path.cwd())
    bot = await create_bot(settings, db=Database("sqlite+aiosqlite:///:memory:"))
    await bot.load_cogs()
    return bot


async def _close_offline(bot) -> None:
    """Unload the cogs (cancelling any work they scheduled on load) and release the database."""
    for name in list(bot.extensions):
        await bot.unload_extension(name)
    await bot.db.dispose()


def cmd_commands(args: argparse.Namespace) -> int:
    from bot.commands_export import describe, markdown

    async def build():
        bot = await _command_tree()
        try:
            return describe(bot.tree)
        finally:
            await _close_offline(bot)

    data = asyncio.run(build())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    elif args.markdown:
        print(markdown(data))
    elif args.access_markdown:
        from bot import access

        print(access.markdown(data))
    else:
        lang = cli_lang()
        for cmd in data:
            print(f"/{cmd['name'][lang]:<28} {cmd['audience']:<12} {cmd['description'][lang]}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    setup_logging("WARNING" if not args.verbose else "INFO")
    return asyncio.run(run_demo(lang=args.lang or cli_lang(), verbose=args.verbose))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.services.exports import collect, write_files

    lang = cli_lang()
    try:
        settings = _load(args.config)
    except ConfigError as error:
        return _fail(_config_problems(error, lang))
    lang = cli_lang(settings)
    try:
        written = write_files(asyncio.run(collect(settings)), Path(args.out))
    except HackbotError as error:
        return _fail(t(error.key, lang, **error.params), 1)
    for path, rows in written:
        print(t("exports.cli.written", lang, path=path, rows=rows))
    print(t("exports.cli.done", lang, dir=Path(args.out).resolve()))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.clock import utcnow
    from bot.services.backup import NotSqlite, take_backup

    lang = cli_lang()
    try:
        settings = _load(args.config)
    except ConfigError as error:
        return _fail(_config_problems(error, lang))
    lang = cli_lang(settings)
    try:
        result = take_backup(settings, utcnow(), Path(args.out) if args.out else None)
    except NotSqlite as error:
        print(t("backup.cli.postgres", lang, command=error.params["command"]))
        return 0
    except HackbotError as error:
        return _fail(t(error.key, lang, **error.params), 1)
    print(t("backup.cli.written", lang, path=result.path, size=f"{result.size_bytes / 1e6:.1f}"))
    for path in result.pruned:
        print(t("backup.cli.pruned", lang, path=path))
    return 0


def cmd_invite_url(args: argparse.Namespace) -> int:
    from bot.permissions import invite_url

    print(invite_url(args.client_id, onboarding=args.onboarding))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hackbot", description="Run a hackathon from inside Discord."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the bot (token from DISCORD_TOKEN)")
    run.add_argument(
        "--config", help="path to the config file (default: $HACKBOT_CONFIG or ./hackbot.toml)"
    )
    run.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (default: the config's logging.level)"
    )
    run.add_argument(
        "--api-base", help=argparse.SUPPRESS
    )  # the sandbox's address, for tests and benchmarks
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser(
        "demo", help="run the real bot against the local sandbox and print a transcript"
    )
    demo.add_argument(
        "--lang",
        choices=["en", "fr"],
        help="language of the narration (default: HACKBOT_LANG or LANG)",
    )
    demo.add_argument("--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("db_command", choices=["upgrade", "current"])
    db.add_argument("--config")
    db.set_defaults(func=cmd_db)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("path", nargs="?")
    check.set_defaults(func=cmd_check_config)

    cmds = sub.add_parser("commands", help="list every slash command")
    fmt = cmds.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    fmt.add_argument(
        "--access-markdown",
        action="store_true",
        help="who may use each command and button, as the README's table",
    )
    cmds.set_defaults(func=cmd_commands)

    export = sub.add_parser(
        "export", help="write participants, teams, submissions, scores (and tickets) as CSV"
    )
    export.add_argument("--config")
    export.add_argument("--out", default=".", help="directory for the CSV files (default: .)")
    export.set_defaults(func=cmd_export)

    backup = sub.add_parser(
        "backup", help="copy the SQLite database safely, even while the bot runs"
    )
    backup.add_argument("--config")
    backup.add_argument(
        "--out", help="file or folder for the copy (default: the [backup] directory)"
    )
    backup.set_defaults(func=cmd_backup)

    invite = sub.add_parser(
        "invite-url", help="print the link that invites the bot with the permissions it needs"
    )
    invite.add_argument("client_id", type=int, help="the application id from the Developer Portal")
    invite.add_argument(
        "--onboarding",
        action="store_true",
        help="also ask for Manage Server, which [registration] onboarding = true needs",
    )
    invite.set_defaults(func=cmd_invite_url)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
