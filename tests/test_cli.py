"""The hackbot command line, run as an organiser would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    from bot.migrations import head

    assert current.stdout.count(head()) == 2  # at head, and head is the latest


def test_commands_json_lists_about_in_both_languages():
    result = hackbot("commands", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    about = next(c for c in data if c["path"] == "about")
    assert about["name"] == {"en": "about", "fr": "a-propos"}
    assert about["audience"] == "everyone"
