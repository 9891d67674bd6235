"""The hackbot command line, run as an organiser would run it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.migrations import head
from sandbox.server.core import DEFAULT_TOKEN, SandboxServer

ROOT = Path(__file__).resolve().parents[1]


def hackbot(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISCORD_TOKEN", "HACKBOT_CONFIG", "HACKBOT_LANG"}
    }
    base.update(env or {})
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=base,
        cwd=cwd,
        timeout=120,
    )


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hackbot.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = '[event]\nname = "Test Hack"\nguild_id = 123456789012345678\n'


def test_run_without_token_is_one_clear_line(tmp_path):
    config = write_config(tmp_path, GOOD)
    result = hackbot("run", "--config", str(config))
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_with_a_bad_config_names_the_key(tmp_path):
    config = write_config(tmp_path, GOOD + "\n[teams]\nmin_size = 4\nmax_size = 2\n")
    result = hackbot("run", "--config", str(config), env={"DISCORD_TOKEN": "x"})
    assert result.returncode == 2
    assert "teams.max_size" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_the_example():
    result = hackbot("check-config", str(ROOT / "config.example.toml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_config_lists_every_problem_in_french(tmp_path):
    config = write_config(
        tmp_path,
        '[event]\nname = "X"\nguild_id = 1\ntimezone = "Mars/Olympus"\n[teams]\nmax_sise = 3\n',
    )
    result = hackbot("check-config", str(config), env={"HACKBOT_LANG": "fr"})
    assert result.returncode == 1
    assert "event.timezone" in result.stdout
    assert "teams.max_sise" in result.stdout
    assert "max_size" in result.stdout  # the suggestion
    assert "configuration comporte des erreurs" in result.stdout


def test_db_upgrade_then_current(tmp_path):
    config = write_config(tmp_path, GOOD)
    up = hackbot("db", "upgrade", "--config", str(config))
    assert up.returncode == 0, up.stderr
    assert (tmp_path / "hackbot.sqlite3").exists()
    current = hackbot("db", "current", "--config", str(config))
    assert current.returncode == 0, current.stderr
    assert current.stdout.count(head()) == 2  # at head, and head is the latest


def test_commands_json_lists_about_in_both_languages():
    result = hackbot("commands", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    about = next(c for c in data if c["path"] == "about")
    assert about["name"] == {"en": "about", "fr": "a-propos"}
    assert about["audience"] == "everyone"


def test_commands_access_markdown_prints_who_may_do_what():
    result = hackbot("commands", "--access-markdown")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "<!-- access-matrix:start -->"
    assert lines[-1] == "<!-- access-matrix:end -->"
    kick = next(line for line in lines if line.startswith("| `/team kick` |"))
    cells = [cell.strip() for cell in kick.strip("|").split("|")]
    assert cells[1:5] == ["✗ register first", "✗ needs a team", "✗ captain only", "✓ own team"]
    assert any(line.startswith("| every `/admin …` command (") for line in lines)
    assert not any(line.startswith("| `/admin") for line in lines)


# -- against a local Discord ------------------------------------------------------------

GUILD = 123456789012345678


@pytest.fixture
async def discord_server(openapi_validator):
    server = SandboxServer()
    server.create_guild(guild_id=GUILD, name="Test")
    url = await server.start(port=0)
    yield server, url
    await server.stop()


async def run_bot(
    config: Path, url: str, token: str, *, ready: str | None = None, limit: float = 60
):
    """Run ``hackbot run``; with ``ready``, stop it (SIGTERM) once its log shows that line.
    Returns (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in {"HACKBOT_CONFIG", "HACKBOT_LANG"}}
    env.update(DISCORD_TOKEN=token, HACKBOT_DISCORD_API=url, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(config.parent),
    )
    seen = b""
    if ready is not None:
        assert proc.stderr is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while ready.encode() not in seen:
            line = await asyncio.wait_for(proc.stderr.readline(), deadline - loop.time())
            if not line:
                break  # the bot ended first: its log says why
            seen += line
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode, out.decode(), (seen + err).decode()


async def test_run_with_a_rejected_token_is_one_clear_line(tmp_path, discord_server):
    _server, url = discord_server
    config = write_config(tmp_path, GOOD)
    code, out, err = await run_bot(config, url, "not-the-token")
    assert code == 1
    assert "rejected the token" in err
    assert "Traceback" not in err
    assert "not-the-token" not in out + err


async def test_run_refuses_a_database_newer_than_the_code(tmp_path, discord_server):
    _server, url = discord_server
    config = write_config(tmp_path, GOOD)
    assert hackbot("db", "upgrade", "--config", str(config)).returncode == 0
    with sqlite3.connect(tmp_path / "hackbot.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    code, _out, err = await run_bot(config, url, DEFAULT_TOKEN)
    assert code == 1
    assert "9999_from_the_future" in err
    assert "Traceback" not in err


async def test_run_serves_the_guild_and_stops_cleanly_on_sigterm(tmp_path, discord_server):
    server, url = discord_server
    config = write_config(tmp_path, GOOD)
    guild = server.guild(GUILD)
    code, out, err = await run_bot(
        config,
        url,
        DEFAULT_TOKEN,
        ready="hackbot ready",
    )
    assert code == 0, err
    assert DEFAULT_TOKEN not in out + err  # the token never reaches the log
    assert "hackbot ready" in err
    # Ready means served: the commands synced, the bot's channels made (through the outbox).
    assert guild.commands
    names = {c.get("name") for c in guild.channels.values()}
    assert {"announcements", "organisers"} <= names, names
    assert (tmp_path / "hackbot.sqlite3").exists()


def test_a_thread_left_running_after_the_stop_does_not_keep_the_process_alive():
    script = """
import logging, threading, sys
from bot import cli
logging.basicConfig(stream=sys.stderr)
cli.EXIT_GRACE_S = 0.5
threading.Thread(target=threading.Event().wait, name="left-open-worker").start()
cli._exit_guard(3)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 3  # the code the bot ended with, not a new one
    assert "left-open-worker" in done.stderr


async def test_run_in_a_guild_the_bot_was_not_invited_to(tmp_path, discord_server):
    server, url = discord_server
    config = write_config(tmp_path, '[event]\nname = "Test Hack"\nguild_id = 999\n')
    code, _out, err = await run_bot(config, url, DEFAULT_TOKEN)
    assert code == 1
    assert "999" in err and "invite-url" in err
    assert "Traceback" not in err
    assert [v.code for v in server.violations] == [10004]  # GET /guilds/999: Unknown Guild
    server.violations.clear()
