"""Start-up work of the real bot: command sync, guild set-up, restarts."""

from __future__ import annotations


async def test_commands_are_synced_once_and_again_when_discord_lost_them(start_sandbox):
    sb = await start_sandbox()
    first = {name: cmd["id"] for name, cmd in ((c["name"], c) for c in sb.commands)}
    assert "about" in first

    await sb.restart_bot()  # same tree: nothing to sync, the same ids
    assert {c["name"]: c["id"] for c in sb.commands} == first

    sb.guild.commands.clear()  # someone removed them (or the bot was re-invited)
    await sb.restart_bot()
    assert {c["name"] for c in sb.commands} == set(first)
    reply = await (await sb.add_member("ana")).slash("about")
    assert reply.embed is not None


def test_settle_memory_freezes_start_up_objects_and_sets_thresholds() -> None:
    # In a child process: freezing the test process's objects would outlive this test.
    import subprocess
    import sys

    code = (
        "import gc; from bot.app import settle_memory, GC_THRESHOLDS; settle_memory(); "
        "print(gc.get_threshold() == GC_THRESHOLDS, gc.get_freeze_count() > 1000)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split() == ["True", "True"]


def test_the_bot_runs_on_uvloop_where_it_is_installed() -> None:
    import sys

    from bot.app import loop_factory

    factory = loop_factory()
    if sys.platform == "win32":
        assert factory is None
    else:
        loop = factory()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()
