"""Backups: consistent copies while the database is written, the CLI, the automatic
timer, and a restored copy the bot runs on."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from bot import cli
from bot.config import default_config_dict, settings_from_dict
from bot.models import Timer
from bot.models.teams import Profile
from bot.services import backup as backup_service
from tests.cogs.test_registration import register

MOMENT = datetime(2026, 10, 9, 18, 30, 5, tzinfo=UTC)


def _settings(tmp_path: Path, **backup):
    config = default_config_dict()
    config["backup"] = backup
    return settings_from_dict(config, tmp_path)


def test_a_copy_taken_while_a_writer_runs_is_one_consistent_snapshot(tmp_path):
    source = tmp_path / "live.sqlite3"
    setup = sqlite3.connect(source)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE ledger (amount INTEGER NOT NULL)")
    setup.commit()
    setup.close()
    stop = threading.Event()

    def writer() -> None:
        conn = sqlite3.connect(source, isolation_level=None, timeout=30)
        n = 0
        while not stop.is_set():
            n += 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO ledger VALUES (?)", (n,))
            conn.execute("INSERT INTO ledger VALUES (?)", (-n,))  # every transaction sums to 0
            conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copies = [tmp_path / f"copy{i}.sqlite3" for i in range(5)]
        for copy in copies:
            assert backup_service.backup_sqlite(source, copy) > 0
    finally:
        stop.set()
        thread.join()
    rows = []
    for copy in copies:
        conn = sqlite3.connect(copy)
        query = "SELECT count(*), coalesce(sum(amount), 0) FROM ledger"
        count, total = conn.execute(query).fetchone()
        conn.close()
        assert count % 2 == 0 and total == 0, (copy, count, total)  # never half a transaction
        rows.append(count)
        assert not copy.with_name(copy.name + ".partial").exists()
    assert rows == sorted(rows)


def test_automatic_copies_are_named_by_time_and_the_oldest_are_pruned(tmp_path):
    settings = _settings(tmp_path, keep=2, directory="saves")
    db = tmp_path / "hackbot.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    made = []
    for minute in range(3):
        result = backup_service.take_backup(settings, MOMENT.replace(minute=minute))
        made.append(result.path)
    assert [p.name for p in made] == [
        "hackbot-20261009-180005.sqlite3",
        "hackbot-20261009-180105.sqlite3",
        "hackbot-20261009-180205.sqlite3",
    ]
    assert made[0].parent == tmp_path / "saves"
    assert result.pruned == (made[0],)
    assert backup_service.existing_backups(tmp_path / "saves") == made[1:]


def test_a_missing_database_is_a_clear_error(tmp_path):
    settings = _settings(tmp_path)
    try:
        backup_service.take_backup(settings, MOMENT)
    except backup_service.BackupError as error:
        assert error.key == "backup.failed" and "no such file" in error.params["reason"]
    else:
        raise AssertionError("no error for a missing database")
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


def test_pg_dump_command_never_contains_the_password():
    command = backup_service.pg_dump_command(
        "postgresql+asyncpg://hackbot:s3cret@db.example.org:5433/event"
    )
    assert command == (
        "pg_dump --format=custom --file=hackbot.dump --host=db.example.org --port=5433"
        " --username=hackbot event"
    )
    assert "s3cret" not in command


def _write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "hackbot.toml"
    path.write_text(f'[event]\nname = "Hack"\nguild_id = 123\n{extra}', encoding="utf-8")
    return path


def test_cli_backup_to_a_file_in_french(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HACKBOT_LANG", "fr")
    monkeypatch.delenv("HACKBOT_DATABASE_URL", raising=False)
    config = _write_config(tmp_path)
    sqlite3.connect(tmp_path / "hackbot.sqlite3").execute("CREATE TABLE t (x)").connection.close()
    out = tmp_path / "copy.sqlite3"
    assert cli.main(["backup", "--config", str(config), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"Sauvegarde écrite : {out} (")
    assert sqlite3.connect(out).execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_cli_backup_for_postgresql_prints_pg_dump(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HACKBOT_LANG", "en")
    monkeypatch.setenv("HACKBOT_DATABASE_URL", "postgresql+asyncpg://ev:pw@pg.local/ev")
    config = _write_config(tmp_path)
    assert cli.main(["backup", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "The database is PostgreSQL" in printed
    assert "pg_dump --format=custom --file=hackbot.dump --host=pg.local --username=ev ev" in printed
    assert "pw" not in printed.replace("pg_dump", "").replace("pg.local", "")


def test_cli_backup_refuses_to_overwrite_the_database(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HACKBOT_LANG", "en")
    monkeypatch.delenv("HACKBOT_DATABASE_URL", raising=False)
    config = _write_config(tmp_path)
    db = tmp_path / "hackbot.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    assert cli.main(["backup", "--config", str(config), "--out", str(db)]) == 1
    assert "The backup failed: the backup would overwrite the database itself" in (
        capsys.readouterr().err
    )


async def test_the_bot_backs_up_on_a_stored_timer_and_a_restored_copy_runs(start_sandbox, tmp_path):
    sb = await start_sandbox({"backup": {"interval_minutes": 30, "keep": 3}})
    ana = await sb.add_member("ana", locale="en-US")
    await register(ana, name="Ana Restored")
    backups = sb.settings.base_dir / "backups"
    assert backup_service.existing_backups(backups) == []
    async with sb.bot.db.read() as session:
        pending = await session.scalar(
            select(func.count()).where(Timer.kind == "backup", Timer.status == "pending")
        )
    assert pending == 1

    # The timer is stored: a restart keeps one pending backup, not two.
    await sb.restart_bot()
    async with sb.bot.db.read() as session:
        pending = await session.scalar(
            select(func.count()).where(Timer.kind == "backup", Timer.status == "pending")
        )
    assert pending == 1

    await sb.advance(minutes=31)
    first = backup_service.existing_backups(backups)
    assert len(first) == 1
    await sb.advance(minutes=30)
    assert len(backup_service.existing_backups(backups)) == 2

    # Restore the first copy into a new place and run the bot on it.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copyfile(first[0], restored / "hackbot.sqlite3")
    sb2 = await start_sandbox(None, tmp_path=restored)
    async with sb2.bot.db.read() as session:
        names = (await session.scalars(select(Profile.display_name))).all()
    assert names == ["Ana Restored"]
    newcomer = await sb2.add_member("newcomer", locale="en-US")
    about = await newcomer.slash("about")
    assert about.ephemeral and about.embed["title"] == "Demo Hackathon"
