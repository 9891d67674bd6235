"""Every benchmark, at tiny sizes, so that they keep working (the full runs are not for CI).

Each runs ``python -m bench <name>`` as an organiser would, in its own process: the
sandbox there, the bot in a third process. Nothing here asserts on speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import benchmarks

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("HACKBOT_TEST_DATABASE_URL")

TINY = {
    "latency": [
        "--rate", "6", "--seconds", "1", "--members", "12",
        "--max-rate", "9", "--step-seconds", "1", "--latency-ms", "5",
    ],
    "members": ["--members", "1200", "--baseline", "3", "--hold-seconds", "0"],
    "autoform": ["--participants", "300", "--challenges", "6", "--repeat", "1", "--memory"],
    # The largest headroom leaves about 40 channels: the other spaces are private threads.
    "fanout": ["--teams", "60", "--headroom", "450", "--latency-ms", "5"],
    "submit": [
        "--teams", "20", "--window", "12", "--tail", "6", "--late", "2",
        "--challenges", "3", "--latency-ms", "5",
    ],
    # 30 people in 2 s (20 s compressed x10): the member-role bucket does 10 per second.
    "register": [
        "--people", "30", "--period", "20", "--compress", "10", "--latency-ms", "5",
    ],
    # Four channels: under the 5 new channels per 10 s a server may make.
    "teams": ["--teams", "4", "--idle-seconds", "0.5", "--latency-ms", "5"],
    # 20 people in 2 s (20 s compressed x10), each way: the bot's grants, then onboarding.
    "onboarding": [
        "--people", "20", "--period", "20", "--compress", "10", "--latency-ms", "5",
    ],
}  # fmt: skip


def run_bench(name: str, results: Path, *extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "HACKBOT_CONFIG"}}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bench", name, *TINY[name], "--results", str(results), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(results.glob(f"{name}-*.json"))
    assert len(files) == 1, files
    data = json.loads(files[0].read_text())
    assert data["bench"] == name
    assert data["machine"]["cores"] == os.cpu_count()
    assert f"== bench {name}" in done.stdout
    return data


def test_every_benchmark_has_a_smoke_run():
    assert set(benchmarks()) == set(TINY)


def check_latency(data: dict) -> None:
    fixed = data["results"]["fixed"]
    assert fixed["sent"] == 6
    assert fixed["answered"] == fixed["sent"]  # every interaction got an answer
    labels = {a["label"] for a in data["results"]["actions"]}
    # The realistic mix is there (the state it needs was set up at this size too)...
    assert {"about", "register (form opens)", "team join", "help ask"} <= labels
    # ...and every answer is counted under one of its actions.
    assert set(fixed["by_action_ms"]) <= labels
    assert sum(a["count"] for a in fixed["by_action_ms"].values()) == fixed["answered"]
    assert data["results"]["ramp"], "the ceiling search ran at least one step"
    assert data["results"]["violations"] == []
    assert data["results"]["bot_error_lines"] == 0
    assert data["results"]["bot_peak_rss_mb"] > 0


def check_members(data: dict) -> None:
    baseline, big = data["results"]["runs"]
    assert baseline["members"] == 3 + 2  # with the owner and the bot
    assert big["members"] == 1200 + 2
    assert big["member_requests"] >= 1  # a large guild: the bot asked for its members
    assert big["about_answered"] and big["violations"] == [] and big["bot_error_lines"] == 0
    assert big["peak_rss_mb"] >= big["rss_mb"] > 0


def check_autoform(data: dict) -> None:
    results = data["results"]
    assert results["candidates"] == 300
    figures = results["figures"]
    assert figures["placed"] + figures["unplaced"] == 300
    assert figures["min_size"] >= 2 and figures["max_size"] <= 5  # [teams] defaults
    assert figures["wishes"] > 0  # the realistic mix has wishes
    # The confirmed write put every planned person in a team, nobody twice.
    assert results["applied"]["placed"] == figures["placed"] == results["timings"]["placed_in_db"]
    assert results["applied"]["created"] == figures["new_teams"]
    # --memory: the traced pass ran (its figures are what the README quotes).
    assert 0 < results["timings"]["plan_peak_mb"] and 0 < results["timings"]["apply_peak_mb"]


def check_fanout(data: dict) -> None:
    results = data["results"]
    assert results["destinations"] == 60 and results["finished"]
    spaces = results["spaces"]
    assert spaces["channels"] >= 1 and spaces["threads"] >= 1  # both kinds of space
    assert spaces["channels"] + spaces["threads"] == 60
    assert results["exactly_once"] == 60  # every space got the message, once
    assert results["final_text"] == "Done: 60 of 60 delivered, 0 failed."
    assert results["bot_cpu_s"] > 0 and results["bot_peak_rss_mb"] > 0
    assert results["violations"] == [] and results["bot_error_lines"] == 0


def check_submit(data: dict) -> None:
    results = data["results"]
    # Every team that pressed Confirm before the deadline got in, once, and read so.
    assert results["on_time"] == 20 and results["lost"] == [] and results["duplicates"] == []
    assert results["steps_ms"]["confirm (ack)"]["count"] == 22  # the late ones clicked too
    # The late ones were refused, never stored as on time.
    assert results["refused_late"] == 2 and results["late_accepted"] == []
    assert results["missed_deadlines"] == 0
    # The gallery and the receipts caught up: one post each, one receipt in each space.
    assert results["behind"] == 0 and results["gallery_posts"] == 20
    assert results["no_post"] == [] and results["no_receipt"] == [] and results["spaces"] == 22
    assert results["violations"] == [] and results["bot_error_lines"] == 0


def check_register(data: dict, people: int = 30) -> None:
    results = data["results"]
    assert results["compress"] == 10 and results["people"] == people
    # Everyone went through the real form, was told "registered" and got the role, once.
    assert results["registered"] == results["profiles"] == results["registrants"] == people
    assert results["steps_ms"]["form sent: first response (deferral)"]["count"] >= people
    assert results["lost"] == 0 and results["missed_deadlines"] == 0
    assert results["two_welcomes"] == 0
    assert results["without_role"] == 0 and results["duplicate_puts"] == 0
    assert results["puts_for_strangers"] == 0 and results["caught_up"]
    assert results["last_grant_s"] >= results["first_grant_s"] > 0
    assert results["floor_s"] > 0 and results["ratio"] > 0
    assert results["last_eta"]  # the answer said when the access arrives
    # Every role write done (a person who sent the form again may have added one, coalesced
    # or done as well), none left waiting or failed.
    assert set(results["outbox"]) == {"done"} and results["outbox"]["done"] >= people
    assert results["violations"] == [] and results["bot_error_lines"] == 0
    assert results["bot_peak_rss_mb"] > 0 and results["cpu_s"]["bot"] > 0


def check_teams(data: dict) -> None:
    results = data["results"]
    # Every creator was answered, sees their team's space, and the answer gained its link.
    assert results["answers_ms"]["count"] == 4 and results["answered_all_s"] is not None
    assert results["visible"] == results["linked"] == 4 and results["spaces_all_s"] > 0
    assert results["bot_cpu_s"] > 0 and results["bot_peak_rss_mb"] > 0
    assert results["violations"] == [] and results["bot_error_lines"] == 0


def check_onboarding(data: dict) -> None:
    ways = data["results"]["ways"]
    register, onboarding = ways["register"], ways["onboarding"]
    for way in (register, onboarding):
        # Everyone registered through the real form and holds the role at the end.
        assert way["registered"] == way["holders"] == 20 and way["lost"] == way["errors"] == 0
        assert way["last_role_projected_s"] is None and way["last_role_s"] > 0
        assert way["violations"] == [] and way["bot_error_lines"] == 0
    # The bot granted every role, and said there was a wait...
    assert register["role_puts"] == 20 and register["announced_wait"] == 20
    # ...while with onboarding Discord gave them: no grant, no wait announced.
    assert onboarding["role_puts"] == 0 and onboarding["announced_wait"] == 0
    assert onboarding["wait_max_s"] < 1.0


CHECKS = {
    "latency": check_latency,
    "members": check_members,
    "autoform": check_autoform,
    "fanout": check_fanout,
    "submit": check_submit,
    "register": check_register,
    "teams": check_teams,
    "onboarding": check_onboarding,
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_bench_on_sqlite(name, tmp_path):
    CHECKS[name](run_bench(name, tmp_path))


def test_latency_of_one_action_alone(tmp_path):
    """``--only``: the floor every interaction pays (no database work in /schedule)."""
    data = run_bench("latency", tmp_path, "--only", "schedule", "--max-rate", "0")
    assert data["results"]["fixed"]["answered"] == 6
    assert set(data["results"]["fixed"]["by_action_ms"]) == {"schedule"}


def test_fanout_with_an_urgent_write(tmp_path):
    """``--urgent``: a mentor claims a ticket while the broadcast runs and gets into the
    team's space (a thread: the last team's at this size)."""
    data = run_bench("fanout", tmp_path, "--urgent", "--urgent-after", "0.2")
    check_fanout(data)
    urgent = data["results"]["urgent"]
    assert urgent["kind"] == "thread" and urgent["during_broadcast"]
    assert urgent["answered_s"] is not None and urgent["visible_s"] is not None


def test_register_with_a_crash_half_way(tmp_path):
    """``--kill-at``: SIGKILL when half the roles are granted, a new bot process; still
    everyone registered once, with the role once (a write the crash cut is checked, not
    repeated)."""
    data = run_bench("register", tmp_path, "--people", "40", "--period", "30", "--kill-at", "0.5")
    check_register(data, people=40)
    results = data["results"]
    assert results["killed_at_s"] is not None and results["granted_at_kill"] == 20
    assert results["downtime_s"] > 0 and results["restart_s"] > 0


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs HACKBOT_TEST_DATABASE_URL")
def test_autoform_on_postgresql(tmp_path):
    data = run_bench("autoform", tmp_path, "--database", str(PG_URL))
    check_autoform(data)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs HACKBOT_TEST_DATABASE_URL")
def test_submit_on_postgresql(tmp_path):
    data = run_bench("submit", tmp_path, "--database", str(PG_URL))
    check_submit(data)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs HACKBOT_TEST_DATABASE_URL")
def test_latency_on_postgresql(tmp_path):
    data = run_bench("latency", tmp_path, "--database", str(PG_URL))
    check_latency(data)
    assert data["args"]["database"] == PG_URL


# -- event: the whole event at 1 % (the real rate limits off, so that it takes seconds) -------

TINY["event"] = [
    "--scale", "0.01", "--burst-seconds", "10", "--help-seconds", "3",
    "--latency-ms", "5", "--no-rate-limits",
]  # fmt: skip
EVENT_PHASES = [
    "setup",
    "registration",
    "statements",
    "review",
    "teams",
    "mentors",
    "help",
    "submissions",
    "judging",
]


def check_event(data: dict) -> None:
    results = data["results"]
    figures = results["figures"]
    assert figures["participants"] == 280 and figures["teams"] == 15
    phases = {p["name"]: p for p in results["phases"]}
    assert list(phases) == EVENT_PHASES
    # Every phase sent real interactions (setup only gives roles).
    assert all(phases[name]["interactions"] > 0 for name in EVENT_PHASES[1:])
    for phase in phases.values():
        # No unexpected reply, no broken flow, nothing acknowledged and then missing.
        assert phase["unexpected"] == 0 and phase["broken"] == 0, phase["samples"]
        assert not phase["lost"], phase["lost_detail"]
        assert phase["limit_refusals"] == [] and phase["other_refusals"] == []
    checks = results["checks"]
    assert checks["registration"]["profiles"] == 280
    assert checks["statements"]["stored"] == 20 and checks["statements"]["pending_at_end"] == 0
    assert checks["review"]["challenges"] == 1
    teams = checks["teams"]
    assert teams["teams"] >= 10 and teams["spaces"].get("None", 0) == 0
    assert phases["teams"]["facts"]["spaces_job_finished"]
    # Everyone told "submitted" is stored exactly once.
    submitted = checks["submissions"]
    expected = min(figures["submissions"], teams["teams"])
    assert submitted["told_submitted"] == submitted["stored"] == expected
    assert submitted["duplicates"] == 0
    assert checks["judging"]["scored_reviews"] == checks["judging"]["saved_acknowledged"] == 3
    assert results["database_mb"] > 0 and results["bot_peak_rss_mb"] > 0
    assert results["discord_at_end"]["members"] == 280 + 29 + 1 + 4 + 2


CHECKS["event"] = check_event


def test_event_on_sqlite(tmp_path):
    check_event(run_bench("event", tmp_path))


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs HACKBOT_TEST_DATABASE_URL")
def test_event_on_postgresql(tmp_path):
    data = run_bench("event", tmp_path, "--database", str(PG_URL))
    check_event(data)
    assert data["args"]["database"] == PG_URL
