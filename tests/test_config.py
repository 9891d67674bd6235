"""Configuration: loading, every kind of problem, translations, time zones."""

from __future__ import annotations

import copy
import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import (
    PHASE_FEATURES,
    ConfigError,
    Problem,
    Settings,
    check_config,
    config_keys,
    default_config_dict,
    load_settings,
    settings_from_dict,
)
from bot.i18n import catalogue, placeholders

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"
NO_ENV: dict[str, str] = {}


def config(**sections: Any) -> dict[str, Any]:
    """The minimal valid configuration with some sections replaced or merged in."""
    data = default_config_dict()
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return data


def phase(key: str, start: Any, end: Any = None, **extra: Any) -> dict[str, Any]:
    entry = {"key": key, "name": key.title(), "start": start, **extra}
    if end is not None:
        entry["end"] = end
    return entry


def problems(data: Any, base_dir: Path | str = "/srv/hack", **kwargs: Any) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(data, base_dir, **kwargs)
    assert info.value.problems, "a ConfigError always carries its problems"
    return info.value.problems


def by_path(found: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for problem in found:
        out.setdefault(problem.path, []).append(problem)
    return out


def only(found: list[Problem], path: str) -> Problem:
    matching = by_path(found).get(path, [])
    assert len(matching) == 1, f"expected one problem at {path!r}, got {found}"
    return matching[0]


def write(tmp_path: Path, text: str, name: str = "hackbot.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# Valid configurations


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    settings = settings_from_dict(default_config_dict(), tmp_path)

    assert settings.event.name == "Demo Hackathon"
    assert settings.event.guild_id == 1
    assert settings.event.timezone == "UTC"
    assert settings.event.tz == ZoneInfo("UTC")
    assert settings.event.language == "en"
    assert settings.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/hackbot.sqlite3"
    assert settings.database.auto_migrate is True
    assert settings.database.dialect == "sqlite"
    assert (
        settings.roles.organiser,
        settings.roles.mentor,
        settings.roles.judge,
        settings.roles.participant,
    ) == ("Organiser", "Mentor", "Judge", "Participant")
    assert settings.channels.announcements == "announcements"
    assert settings.channels.help_queue == "help-queue"
    assert settings.channels.organisers == "organisers"
    assert settings.channels.team_category == "Teams"
    assert (settings.teams.min_size, settings.teams.max_size) == (2, 5)
    assert settings.teams.voice_channels is False
    assert settings.logging.level == "INFO"
    assert settings.phases == ()
    assert settings.config_path is None
    assert settings.base_dir == tmp_path.resolve()


def test_default_config_dict_is_a_fresh_copy() -> None:
    first = default_config_dict()
    first["event"]["name"] = "changed"
    assert default_config_dict()["event"]["name"] == "Demo Hackathon"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = settings_from_dict(default_config_dict(), tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.event.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.teams = settings.teams  # type: ignore[misc]


def test_example_file_is_valid_and_its_timeline_is_in_utc() -> None:
    settings = load_settings(EXAMPLE, env=NO_ENV)

    assert settings.config_path == EXAMPLE
    assert settings.event.timezone == "Europe/Paris"
    assert settings.event.language == "fr"
    keys = [p.key for p in settings.phases]
    assert keys == ["registration", "team_formation", "kickoff", "hacking", "judging", "ceremony"]
    hacking = settings.phase("hacking")
    # October 2026 in Paris is summer time (UTC+2): 20:30 local is 18:30 UTC.
    assert hacking.start == datetime(2026, 10, 9, 18, 30, tzinfo=UTC)
    assert hacking.end == datetime(2026, 10, 11, 12, 0, tzinfo=UTC)
    assert hacking.opens == frozenset({"team_changes", "submissions", "help_queue"})
    assert hacking.is_open("submissions") and not hacking.is_open("judging")
    for entry in settings.phases:
        assert entry.start.tzinfo is UTC
        assert entry.end is None or entry.end.tzinfo is UTC
        assert entry.opens <= PHASE_FEATURES
    # The event itself (arrival to ceremony end) lasts 48 hours.
    assert settings.phases[-1].end - settings.phase("team_formation").start == (
        datetime(2026, 10, 3) - datetime(2026, 10, 1)
    )
    assert check_config(EXAMPLE, env=NO_ENV) == []


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    sections = set(re.findall(r"^\[\[?([a-z_]+)\]\]?", text, flags=re.M))
    for key in config_keys():
        section, _, name = key.replace("[]", "").rpartition(".")
        assert section in sections, f"{section} has no table in config.example.toml"
        assert re.search(rf"^#? ?{name} = ", text, flags=re.M), f"{key} is not documented"


def test_phase_lookup_by_key(tmp_path: Path) -> None:
    settings = settings_from_dict(
        config(phases=[phase("one", "2026-01-01T10:00"), phase("two", "2026-01-01T12:00")]),
        tmp_path,
    )
    assert settings.phase("two").start == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert settings.phase("one").end is None
    with pytest.raises(KeyError):
        settings.phase("three")


# ---------------------------------------------------------------------------
# Files


def test_load_settings_default_database_is_next_to_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "event files"
    folder.mkdir()
    path = write(folder, '[event]\nname = "Hack"\nguild_id = 42\n')

    settings = load_settings(path, env=NO_ENV)

    assert settings.config_path == path
    assert settings.base_dir == folder.resolve()
    assert settings.database.url == f"sqlite+aiosqlite:///{folder.resolve()}/hackbot.sqlite3"


def test_relative_sqlite_path_in_the_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    data = config(database={"url": "sqlite+aiosqlite:///data/state.sqlite3"})
    settings = settings_from_dict(data, tmp_path)
    assert settings.database.url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/data/state.sqlite3"

    absolute = config(database={"url": "sqlite+aiosqlite:////var/lib/hack.sqlite3"})
    assert settings_from_dict(absolute, tmp_path).database.url == absolute["database"]["url"]

    memory = config(database={"url": "sqlite+aiosqlite:///:memory:"})
    assert settings_from_dict(memory, tmp_path).database.url == "sqlite+aiosqlite:///:memory:"


def test_environment_database_url_wins_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[event]\nname = "Hack"\nguild_id = 42\n[database]\nurl = "sqlite+aiosqlite:///x.db"\n',
    )
    url = "postgresql+asyncpg://hack:secret@db.example.org:5432/hackbot"

    settings = load_settings(path, env={"HACKBOT_DATABASE_URL": url})

    assert settings.database.url == url
    assert settings.database.dialect == "postgresql"
    # An empty variable is treated as unset.
    assert load_settings(path, env={"HACKBOT_DATABASE_URL": ""}).database.url.endswith(
        f"{tmp_path.resolve()}/x.db"
    )
    # settings_from_dict reads no environment unless given one.
    assert settings_from_dict(default_config_dict(), tmp_path).database.url.startswith("sqlite")


def test_bad_environment_database_url_is_named_by_its_variable(tmp_path: Path) -> None:
    found = problems(default_config_dict(), env={"HACKBOT_DATABASE_URL": "postgresql://h/db"})
    problem = only(found, "HACKBOT_DATABASE_URL")
    assert "postgresql+asyncpg://" in problem.message("en")


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=NO_ENV)
    assert str(path) in str(info.value)
    assert str(path) in info.value.render("fr")
    assert "introuvable" in info.value.render("fr")


def test_path_from_hackbot_config_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[event]\nname = "From env"\nguild_id = 7\n', name="elsewhere.toml")
    settings = load_settings(None, env={"HACKBOT_CONFIG": str(path)})
    assert settings.event.name == "From env"

    missing = tmp_path / "gone.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(None, env={"HACKBOT_CONFIG": str(missing)})
    assert str(missing) in str(info.value)


def test_path_defaults_to_hackbot_toml_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_settings(None, env=NO_ENV)
    message = str(info.value)
    assert str(tmp_path / "hackbot.toml") in message
    assert "HACKBOT_CONFIG" in message

    write(tmp_path, '[event]\nname = "Here"\nguild_id = 9\n')
    settings = load_settings(None, env=NO_ENV)
    assert settings.event.name == "Here"
    assert settings.config_path == tmp_path / "hackbot.toml"


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '[event]\nname = "Hack"\nguild_id = = 3\n')
    found = check_config(path, env=NO_ENV)
    assert len(found) == 1
    problem = found[0]
    assert problem.key == "config.toml_syntax"
    assert (problem.params["line"], problem.params["column"]) == (3, 12)
    assert problem.render("en").startswith(f"{path}, line 3, column 12: invalid TOML")
    assert "ligne 3, colonne 12" in problem.render("fr")


def test_toml_error_at_end_of_document_still_has_a_position(tmp_path: Path) -> None:
    path = write(tmp_path, '[event]\nname = "unterminated')
    (problem,) = check_config(path, env=NO_ENV)
    assert problem.key == "config.toml_syntax"
    assert problem.params["line"] == 2


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "hackbot.toml"
    path.write_bytes('[event]\nname = "Caf\u00e9"\n'.encode("latin-1"))
    (problem,) = check_config(path, env=NO_ENV)
    assert problem.key == "config.file_encoding"
    assert "UTF-8" in problem.render("en")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (problem,) = check_config(tmp_path, env=NO_ENV)
    assert problem.key == "config.file_unreadable"
    assert str(tmp_path) in problem.render("en")


# ---------------------------------------------------------------------------
# Unknown keys and the token


def test_unknown_keys_suggest_the_closest_valid_key() -> None:
    found = problems(
        config(
            event={"langage": "fr"},
            teams={"max_szie": 4},
            chanels={"announcements": "news"},
            phases=[phase("a", "2026-01-01T10:00", strat="x")],
        )
    )
    assert only(found, "event.langage").params == {"suggestion": "event.language"}
    assert only(found, "teams.max_szie").params == {"suggestion": "teams.max_size"}
    assert only(found, "chanels").params == {"suggestion": "channels"}
    assert only(found, "phases[0].strat").params == {"suggestion": "phases[0].start"}
    assert only(found, "event.langage").render("en") == (
        "event.langage: unknown key; did you mean “event.language”?"
    )
    assert len(found) == 4


def test_unknown_key_without_a_close_match_lists_the_valid_ones() -> None:
    problem = only(problems(config(teams={"colour": "blue"})), "teams.colour")
    assert problem.key == "config.unknown_key"
    assert problem.params["known"] == "min_size, max_size, voice_channels"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (config(token="abc"), "token"),
        (config(event={"token": "abc"}), "event.token"),
        (config(event={"discord_token": "abc"}), "event.discord_token"),
        (config(discord={"token": "abc"}), "discord.token"),
        (config(bot={"auth": {"Token": "abc"}}), "bot.auth.Token"),
        (config(phases=[phase("a", "2026-01-01T10:00", token="abc")]), "phases[0].token"),
    ],
)
def test_a_token_anywhere_is_refused_and_points_to_the_environment(
    data: dict[str, Any], path: str
) -> None:
    secret = "abc"
    found = problems(data)
    problem = only(found, path)
    assert problem.key == "config.token"
    assert "DISCORD_TOKEN" in problem.render("en")
    assert "DISCORD_TOKEN" in problem.render("fr")
    for each in found:
        assert secret not in each.render("en")


# ---------------------------------------------------------------------------
# Types


@pytest.mark.parametrize(
    ("section", "values", "path", "expected", "got"),
    [
        ("event", {"guild_id": True}, "event.guild_id", "integer", "boolean"),
        ("event", {"guild_id": "123456"}, "event.guild_id", "integer", "string"),
        ("event", {"guild_id": 12.0}, "event.guild_id", "integer", "number"),
        ("event", {"name": 42}, "event.name", "string", "integer"),
        ("event", {"language": 1}, "event.language", "string", "integer"),
        ("teams", {"min_size": True}, "teams.min_size", "integer", "boolean"),
        ("teams", {"voice_channels": 1}, "teams.voice_channels", "boolean", "integer"),
        ("teams", {"voice_channels": "yes"}, "teams.voice_channels", "boolean", "string"),
        ("database", {"auto_migrate": "true"}, "database.auto_migrate", "boolean", "string"),
        ("roles", {"judge": ["Judge"]}, "roles.judge", "string", "list"),
    ],
)
def test_wrong_types_are_named(
    section: str, values: dict[str, Any], path: str, expected: str, got: str
) -> None:
    problem = only(problems(config(**{section: values})), path)
    assert problem.key == "config.wrong_type"
    assert problem.params["expected"].key == f"config.type.{expected}"
    assert problem.params["got"].key == f"config.type.{got}"


def test_bool_is_not_an_integer_message() -> None:
    problem = only(problems(config(event={"guild_id": True})), "event.guild_id")
    assert problem.render("en") == (
        "event.guild_id: expected a whole number, found a boolean (true or false)"
    )


def test_a_section_that_is_not_a_table() -> None:
    found = problems(config(teams=5, phases={"key": "a"}))
    assert only(found, "teams").params["expected"].key == "config.type.table"
    assert only(found, "phases").params["expected"].key == "config.type.list_of_tables"


def test_opens_must_be_a_list_of_strings() -> None:
    found = problems(config(phases=[phase("a", "2026-01-01T10:00", opens="registration")]))
    problem = only(found, "phases[0].opens")
    assert problem.params["expected"].key == "config.type.list_of_strings"


def test_a_phase_that_is_not_a_table() -> None:
    found = problems(config(phases=["registration"]))
    assert only(found, "phases[0]").params["expected"].key == "config.type.table"


# ---------------------------------------------------------------------------
# Missing keys


def test_missing_event_section_reports_each_required_key() -> None:
    found = problems({})
    assert {p.path for p in found} == {"event.name", "event.guild_id"}
    assert all(p.key == "config.missing" for p in found)


def test_missing_keys_in_a_phase() -> None:
    found = problems(config(phases=[{"opens": ["registration"]}]))
    assert {p.path for p in found} == {"phases[0].key", "phases[0].name", "phases[0].start"}
    assert only(found, "phases[0].start").render("fr") == (
        "phases[0].start: clé obligatoire manquante"
    )


def test_top_level_must_be_a_table() -> None:
    (problem,) = problems(["not", "a", "table"])
    assert problem.params["expected"].key == "config.type.table"


# ---------------------------------------------------------------------------
# Impossible values


@pytest.mark.parametrize(
    ("section", "values", "path", "key"),
    [
        ("event", {"name": ""}, "event.name", "config.blank"),
        ("event", {"name": "   "}, "event.name", "config.blank"),
        ("event", {"name": "x" * 101}, "event.name", "config.too_long"),
        ("event", {"guild_id": 0}, "event.guild_id", "config.guild_id"),
        ("event", {"guild_id": -5}, "event.guild_id", "config.guild_id"),
        ("event", {"guild_id": 2**63}, "event.guild_id", "config.guild_id"),
        ("event", {"timezone": "Mars/Olympus"}, "event.timezone", "config.timezone_unknown"),
        ("event", {"timezone": ""}, "event.timezone", "config.timezone_unknown"),
        ("event", {"timezone": "../../etc/passwd"}, "event.timezone", "config.timezone_unknown"),
        ("event", {"language": "de"}, "event.language", "config.choice"),
        ("teams", {"min_size": 0}, "teams.min_size", "config.too_small"),
        ("teams", {"max_size": 26}, "teams.max_size", "config.too_large"),
        ("roles", {"mentor": ""}, "roles.mentor", "config.blank"),
        ("roles", {"judge": "J" * 101}, "roles.judge", "config.too_long"),
        ("roles", {"participant": "@everyone"}, "roles.participant", "config.role_reserved"),
        ("channels", {"organisers": ""}, "channels.organisers", "config.channel_name"),
        ("channels", {"organisers": "!!!"}, "channels.organisers", "config.channel_name"),
        (
            "channels",
            {"announcements": "a" * 101},
            "channels.announcements",
            "config.channel_name_suggest",
        ),
        ("channels", {"team_category": " "}, "channels.team_category", "config.blank"),
        ("logging", {"level": "VERBOSE"}, "logging.level", "config.choice"),
        ("database", {"url": "hackbot.sqlite3"}, "database.url", "config.database_url_invalid"),
        ("database", {"url": "mysql://u@h/db"}, "database.url", "config.database_scheme"),
        (
            "database",
            {"url": "postgresql+asyncpg:///db"},
            "database.url",
            "config.database_host_missing",
        ),
    ],
)
def test_impossible_values(section: str, values: dict[str, Any], path: str, key: str) -> None:
    problem = only(problems(config(**{section: values})), path)
    assert problem.key == key
    # Every problem renders in both languages without a missing placeholder.
    assert problem.render("en").startswith(f"{path}: ")
    assert problem.render("fr").startswith(f"{path}: ")


def test_timezone_typo_gets_a_suggestion() -> None:
    problem = only(problems(config(event={"timezone": "Europe/Pari"})), "event.timezone")
    assert problem.key == "config.timezone_unknown_suggest"
    assert problem.params["suggestion"] == "Europe/Paris"


def test_language_choice_lists_the_options() -> None:
    problem = only(problems(config(event={"language": "de"})), "event.language")
    assert problem.render("en") == 'event.language: “de” is not allowed; choose one of "en", "fr"'


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://hack@db/hackbot", "postgresql+asyncpg://"),
        ("postgres://hack@db/hackbot", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://hack@db/hackbot", "postgresql+asyncpg://"),
        ("sqlite:///hackbot.sqlite3", "sqlite+aiosqlite://"),
    ],
)
def test_sync_database_drivers_point_to_the_async_one(url: str, expected: str) -> None:
    problem = only(problems(config(database={"url": url})), "database.url")
    assert problem.key == "config.database_scheme_use"
    assert f"use {expected}" in problem.render("en")
    assert f"utilisez {expected}" in problem.render("fr")


def test_database_password_is_never_echoed() -> None:
    found = problems(config(database={"url": "mysql://hack:s3cr3t@db/hackbot"}))
    assert all("s3cr3t" not in p.render(lang) for p in found for lang in ("en", "fr"))


def test_max_size_smaller_than_min_size_is_reported_on_max_size() -> None:
    problem = only(problems(config(teams={"min_size": 4, "max_size": 3})), "teams.max_size")
    assert problem.key == "config.less_than_other"
    assert problem.render("en") == (
        "teams.max_size: must be greater than or equal to teams.min_size (4)"
    )


def test_equal_team_sizes_are_fine(tmp_path: Path) -> None:
    settings = settings_from_dict(config(teams={"min_size": 3, "max_size": 3}), tmp_path)
    assert settings.teams.min_size == settings.teams.max_size == 3


def test_role_names_must_be_distinct_ignoring_case() -> None:
    found = problems(config(roles={"mentor": "Helper", "judge": "helper"}))
    problem = only(found, "roles.judge")
    assert problem.key == "config.duplicate_value"
    assert problem.params["other"] == "roles.mentor"


def test_text_channel_names_must_be_distinct() -> None:
    found = problems(config(channels={"organisers": "announcements"}))
    assert only(found, "channels.organisers").params["other"] == "channels.announcements"


def test_invalid_channel_name_suggests_a_valid_one() -> None:
    problem = only(problems(config(channels={"help_queue": "Help Queue!"})), "channels.help_queue")
    assert problem.key == "config.channel_name_suggest"
    assert problem.params["suggestion"] == "help-queue"


def test_channel_names_accept_lowercase_accents_and_categories_accept_any_text(
    tmp_path: Path,
) -> None:
    data = config(
        channels={
            "announcements": "annonces",
            "help_queue": "file-d_aide",
            "organisers": "équipe-orga",
            "team_category": "Équipes — Saison 2",
        }
    )
    settings = settings_from_dict(data, tmp_path)
    assert settings.channels.organisers == "équipe-orga"
    assert settings.channels.team_category == "Équipes — Saison 2"


# ---------------------------------------------------------------------------
# Phases and time


PARIS = {"timezone": "Europe/Paris"}


def test_phase_times_are_converted_to_utc_across_daylight_saving(tmp_path: Path) -> None:
    data = config(
        event=PARIS,
        phases=[
            # Saturday before the change: UTC+1.
            phase("saturday", "2026-03-28T12:00", "2026-03-28T23:00"),
            # Sunday 29 March 2026, clocks jumped at 02:00 to 03:00: UTC+2.
            phase("sunday", "2026-03-29T12:00"),
        ],
    )
    saturday, sunday = settings_from_dict(data, tmp_path).phases
    assert saturday.start == datetime(2026, 3, 28, 11, tzinfo=UTC)
    assert saturday.end == datetime(2026, 3, 28, 22, tzinfo=UTC)
    assert sunday.start == datetime(2026, 3, 29, 10, tzinfo=UTC)
    assert sunday.start.tzinfo is UTC


def test_a_time_skipped_by_spring_forward_is_a_problem() -> None:
    found = problems(config(event=PARIS, phases=[phase("night", "2026-03-29T02:30")]))
    problem = only(found, "phases[0].start")
    assert problem.key == "config.time_nonexistent"
    assert problem.params == {"value": "2026-03-29T02:30", "timezone": "Europe/Paris"}
    assert "heure d’été" in problem.render("fr")


def test_a_time_repeated_by_fall_back_is_a_problem_unless_the_offset_is_given(
    tmp_path: Path,
) -> None:
    found = problems(config(event=PARIS, phases=[phase("night", "2026-10-25T02:30")]))
    problem = only(found, "phases[0].start")
    assert problem.key == "config.time_ambiguous"

    first = config(event=PARIS, phases=[phase("night", "2026-10-25T02:30+02:00")])
    second = config(event=PARIS, phases=[phase("night", "2026-10-25T02:30+01:00")])
    assert settings_from_dict(first, tmp_path).phases[0].start == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    assert settings_from_dict(second, tmp_path).phases[0].start == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


def test_the_same_wall_time_is_fine_in_a_zone_without_that_change(tmp_path: Path) -> None:
    data = config(event={"timezone": "America/New_York"}, phases=[phase("a", "2026-03-29T02:30")])
    assert settings_from_dict(data, tmp_path).phases[0].start == datetime(
        2026, 3, 29, 6, 30, tzinfo=UTC
    )


def test_native_toml_datetimes_and_explicit_offsets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[event]
name = "Hack"
guild_id = 5
timezone = "Europe/Paris"

[[phases]]
key = "local"
name = "Local"
start = 2026-06-01T09:00:00
end = 2026-06-01T10:00:00Z

[[phases]]
key = "utc"
name = "Zulu"
start = "2026-06-01T10:00Z"
end = "2026-06-01T14:00:00+02:00"
""",
    )
    local, utc = load_settings(path, env=NO_ENV).phases
    assert local.start == datetime(2026, 6, 1, 7, tzinfo=UTC)
    assert local.end == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert utc.start == datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert utc.end == datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-03-20", "config.date_only"),
        ("next friday", "config.datetime_invalid"),
        ("2026-13-01T10:00", "config.datetime_invalid"),
        (20260320, "config.wrong_type"),
    ],
)
def test_bad_phase_times(value: Any, key: str) -> None:
    problem = only(problems(config(phases=[phase("a", value)])), "phases[0].start")
    assert problem.key == key


def test_toml_date_without_time_is_a_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[event]\nname = "Hack"\nguild_id = 5\n[[phases]]\nkey = "a"\nname = "A"\nstart = 2026-03-20\n',
    )
    (problem,) = check_config(path, env=NO_ENV)
    assert (problem.path, problem.key) == ("phases[0].start", "config.date_only")
    assert "2026-03-20T18:00" in problem.render("en")


def test_end_must_be_after_start() -> None:
    found = problems(config(phases=[phase("a", "2026-01-01T10:00", "2026-01-01T10:00")]))
    problem = only(found, "phases[0].end")
    assert problem.key == "config.end_before_start"
    assert problem.params["start"] == "2026-01-01T10:00"


def test_phase_keys_are_slugs_and_unique() -> None:
    found = problems(
        config(
            phases=[
                phase("kick-off", "2026-01-01T10:00"),
                phase("Kick Off", "2026-01-01T11:00"),
                phase("kick-off", "2026-01-01T12:00"),
                phase("x" * 33, "2026-01-01T13:00"),
            ]
        )
    )
    assert only(found, "phases[1].key").key == "config.slug"
    duplicate = only(found, "phases[2].key")
    assert duplicate.key == "config.duplicate_phase_key"
    assert duplicate.params["other"] == "phases[0].key"
    assert only(found, "phases[3].key").key == "config.slug"


def test_unknown_feature_names_the_opens_list_and_suggests() -> None:
    found = problems(
        config(
            phases=[
                phase("a", "2026-01-01T10:00", opens=["registration"]),
                phase("b", "2026-01-01T11:00", opens=["help_queue"]),
                phase("c", "2026-01-01T12:00", opens=["submission", "coffee"]),
            ]
        )
    )
    problems_here = by_path(found)["phases[2].opens"]
    assert len(found) == 2
    assert {p.key for p in problems_here} == {
        "config.feature_unknown_suggest",
        "config.feature_unknown",
    }
    suggest = next(p for p in problems_here if p.key == "config.feature_unknown_suggest")
    assert suggest.params["suggestion"] == "submissions"
    unknown = next(p for p in problems_here if p.key == "config.feature_unknown")
    assert "help_queue" in unknown.render("en") and "coffee" in unknown.render("en")


def test_new_teams_is_its_own_feature_and_needs_team_changes(tmp_path: Path) -> None:
    split = settings_from_dict(
        config(
            phases=[
                phase("teams", "2026-05-01T10:00", opens=["new_teams", "team_changes"]),
                phase("hack", "2026-05-01T12:00", opens=["team_changes", "submissions"]),
            ]
        ),
        tmp_path,
    )
    assert split.phase("hack").opens == frozenset({"team_changes", "submissions"})
    assert "new_teams" in split.phase("teams").opens

    alone = problems(config(phases=[phase("a", "2026-05-01T10:00", opens=["new_teams"])]))
    problem = only(alone, "phases[0].opens")
    assert problem.key == "config.new_teams_without_team_changes"
    assert "team_changes" in problem.render("fr") and "new_teams" in problem.render("en")


def test_a_timeline_written_before_new_teams_existed_keeps_creating_teams(tmp_path: Path) -> None:
    older = settings_from_dict(
        config(
            phases=[
                phase("reg", "2026-05-01T09:00", opens=["registration"]),
                phase("hack", "2026-05-01T12:00", opens=["team_changes", "submissions"]),
            ]
        ),
        tmp_path,
    )
    assert older.phase("reg").opens == frozenset({"registration"})
    assert older.phase("hack").opens == frozenset({"new_teams", "team_changes", "submissions"})


def test_phases_must_be_in_chronological_order() -> None:
    found = problems(
        config(
            event=PARIS,
            phases=[
                phase("a", "2026-05-01T10:00"),
                phase("b", "2026-05-01T11:00"),
                phase("c", "2026-05-01T12:00"),
                phase("d", "2026-05-01T11:30"),
            ],
        )
    )
    problem = only(found, "phases[3].start")
    assert problem.key == "config.phase_order"
    # Quoted back in the event's local time, as the organiser wrote it.
    assert problem.params == {"other": "phases[2].start", "other_value": "2026-05-01T12:00"}
    assert len(found) == 1


def test_two_phases_cannot_start_together() -> None:
    found = problems(
        config(phases=[phase("a", "2026-05-01T10:00"), phase("b", "2026-05-01T10:00")])
    )
    assert only(found, "phases[1].start").key == "config.phase_order"


def test_phases_must_not_overlap_but_may_touch_or_leave_gaps(tmp_path: Path) -> None:
    found = problems(
        config(
            phases=[
                phase("a", "2026-05-01T10:00", "2026-05-01T12:00"),
                phase("b", "2026-05-01T11:00"),
            ]
        )
    )
    problem = only(found, "phases[1].start")
    assert problem.key == "config.phase_overlap"
    assert problem.params["other"] == "phases[0].end"

    touching = config(
        phases=[
            phase("a", "2026-05-01T10:00", "2026-05-01T12:00"),
            phase("b", "2026-05-01T12:00", "2026-05-01T13:00"),
            phase("c", "2026-05-01T15:00"),
        ]
    )
    assert len(settings_from_dict(touching, tmp_path).phases) == 3


def test_order_is_checked_around_a_broken_phase() -> None:
    found = problems(
        config(
            phases=[
                phase("a", "2026-05-01T10:00"),
                phase("b", "not a date"),
                phase("c", "2026-05-01T09:00", opens=["nope"]),
            ]
        )
    )
    assert only(found, "phases[1].start").key == "config.datetime_invalid"
    assert only(found, "phases[2].start").params["other"] == "phases[0].start"
    assert only(found, "phases[2].opens").key == "config.feature_unknown"


def test_phases_are_still_checked_when_the_time_zone_is_wrong() -> None:
    found = problems(
        config(
            event={"timezone": "Nowhere/City"},
            phases=[phase("a", "2026-05-01T10:00"), phase("b", "2026-05-01T09:00")],
        )
    )
    assert {p.path for p in found} == {"event.timezone", "phases[1].start"}


# ---------------------------------------------------------------------------
# Everything at once, and rendering


def test_all_problems_are_collected_together() -> None:
    data = {
        "event": {"name": "", "guild_id": True, "timezone": "Europe/Paris", "langage": "fr"},
        "database": {"url": "postgresql://hack@db/hackbot"},
        "roles": {"mentor": "Judge"},
        "channels": {"help_queue": "Help Queue"},
        "teams": {"min_size": 4, "max_size": 3, "voice_channels": "no"},
        "discord": {"token": "abc.def"},
        "phases": [
            phase("registration", "2026-03-20T09:00", opens=["registraton"]),
            phase("night", "2026-03-29T02:30"),
            phase("registration", "2026-03-21T10:00", "2026-03-21T09:00"),
        ],
    }
    found = problems(data)
    assert sorted(p.path for p in found) == sorted(
        [
            "event.name",
            "event.guild_id",
            "event.langage",
            "database.url",
            "roles.judge",
            "channels.help_queue",
            "teams.max_size",
            "teams.voice_channels",
            "discord",
            "discord.token",
            "phases[0].opens",
            "phases[1].start",
            "phases[2].key",
            "phases[2].end",
        ]
    )


def test_config_error_renders_english_lines_and_french_on_demand() -> None:
    data = config(
        event={"name": "Hack", "language": "fr", "langage": "en"},
        teams={"min_size": 0},
    )
    with pytest.raises(ConfigError) as info:
        settings_from_dict(data, "/srv")
    error = info.value
    assert str(error).splitlines() == [
        "event.langage: unknown key; did you mean “event.language”?",
        "teams.min_size: must be at least 1",
    ]
    # The configuration asked for French: the CLI can report in French.
    assert error.lang == "fr"
    assert error.render("fr").splitlines() == [
        "event.langage: clé inconnue\u202f; vouliez-vous dire «\u00a0event.language\u00a0»\u202f?",
        "teams.min_size: doit valoir au moins 1",
    ]


def test_error_language_falls_back_to_english() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(config(event={"language": "klingon"}), "/srv")
    assert info.value.lang == "en"


def test_check_config_returns_problems_instead_of_raising(tmp_path: Path) -> None:
    path = write(tmp_path, '[event]\nname = "Hack"\nguild_id = -1\n[teams]\nmax_size = 40\n')
    found = check_config(path, env=NO_ENV)
    assert [(p.path, p.key) for p in found] == [
        ("event.guild_id", "config.guild_id"),
        ("teams.max_size", "config.too_large"),
    ]


def test_input_data_is_not_modified(tmp_path: Path) -> None:
    data = config(
        database={"url": "sqlite+aiosqlite:///relative.db"},
        phases=[phase("a", "2026-05-01T10:00", opens=["judging"])],
    )
    before = copy.deepcopy(data)
    settings_from_dict(data, tmp_path)
    assert data == before


def test_every_config_message_exists_in_both_languages() -> None:
    source = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(config\.[a-z_.]+)"', source))
    entries = catalogue().entries
    assert used, "the scan must find the keys the loader uses"
    for key in used:
        assert key in entries, f"{key} is missing from bot/locales/config.toml"
    for key, entry in entries.items():
        if key.startswith("config."):
            assert set(entry) == {"en", "fr"}, key
            assert placeholders(entry["en"]) == placeholders(entry["fr"]), key


def test_french_messages_use_french_typography() -> None:
    for key, entry in catalogue().entries.items():
        if not key.startswith("config."):
            continue
        french = entry["fr"]
        assert " :" not in french and " ;" not in french and " ?" not in french, key
        assert '"' not in french.replace('["a", "b"]', ""), key
        assert "'" not in french, key


def test_settings_field_names_match_the_shared_interface() -> None:
    names = [f.name for f in dataclasses.fields(Settings)]
    assert names[:5] == ["event", "database", "roles", "channels", "teams"]
    assert {"phases", "config_path", "base_dir"} <= set(names)
