"""Registration rules: profile checks, the registrant list (hashed), skills and time zones."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import settings_from_dict
from bot.errors import Conflict, InvalidInput, NotFound
from bot.models.teams import Profile, Registrant
from bot.services import registration as reg

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def make_settings(mode: str = "open"):
    return settings_from_dict(
        {"event": {"name": "Test", "guild_id": 1}, "registration": {"mode": mode}}, Path(".")
    )


def profile(**changes) -> reg.ProfileInput:
    base = {
        "display_name": "Ana",
        "profile_types": ["design"],
        "languages": ["fr"],
        "timezone": "Europe/Paris",
        "skills": ["figma"],
    }
    return reg.ProfileInput(**{**base, **changes})


async def test_register_then_update(db):
    settings = make_settings()
    async with db.begin() as session:
        first = await reg.register(session, settings, NOW, 10, profile())
    assert first.new
    async with db.begin() as session:
        again = await reg.register(session, settings, NOW, 10, profile(display_name="Ana B."))
    assert not again.new
    async with db.read() as session:
        rows = (await session.scalars(select(Profile))).all()
    assert [(p.display_name, p.timezone, p.autoform) for p in rows] == [
        ("Ana B.", "Europe/Paris", True)
    ]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"profile_types": ["astronaut"]}, "registration.no_profile_type"),
        ({"languages": []}, "registration.no_language"),
        ({"timezone": "Mars/Olympus"}, "registration.bad_timezone"),
        ({"display_name": "@here"}, "names.display.mention"),
        ({"display_name": "x" * 40}, "names.display.too_long"),
    ],
)
async def test_profile_checks(db, changes, key):
    with pytest.raises(InvalidInput) as caught:
        async with db.begin() as session:
            await reg.register(session, make_settings(), NOW, 10, profile(**changes))
    assert caught.value.key == key


def test_skills_and_suggestions():
    assert reg.parse_skills("Python, UX  research; python\n") == ["python", "ux research"]
    with pytest.raises(InvalidInput):
        reg.parse_skills("<@1>")
    with pytest.raises(InvalidInput):
        reg.parse_skills(", ".join(f"s{i}" for i in range(20)))
    counts = Counter({"python": 5, "pytorch": 2, "ux research": 3, "logistics": 1})
    assert reg.suggest_skills(counts, "logistics, py")[:2] == [
        "logistics, python",
        "logistics, pytorch",
    ]
    assert reg.suggest_skills(counts, "rust")[-1] == "rust"  # what was typed, as a last resort


def test_time_zones():
    assert reg.canonical_zone("utc+5:30", NOW) == "UTC+05:30"
    assert reg.canonical_zone("GMT-3", NOW) == "UTC-03:00"
    assert reg.canonical_zone("America/Montreal", NOW) == "America/Montreal"
    assert reg.zone_offset("Europe/Paris", NOW) == 120  # summer time
    assert reg.zone_offset("UTC+15", NOW) is None
    choices = reg.zone_choices("Europe/Paris", NOW)
    assert choices[0] == ("Europe/Paris", "Europe/Paris (UTC+02:00)") and len(choices) <= 25


async def test_registrant_list_by_email_and_by_code(db):
    data = (
        b"email,name,code\n"
        b"ana@example.org,Ana,AB-12-CD\n"
        b"bad,Bob,XY99\n"
        b"sam@example.org,Sam,\n"
        b"\n"
        b"ana@example.org,Ana twice,ZZ99\n"
    )
    async with db.begin() as session:
        report = await reg.import_registrants(session, "email", data, actor=1)
    assert (report.rows, report.added, report.already) == (4, 2, 0)
    assert report.problems == [
        (3, "registration.import_row.bad_email"),
        (6, "registration.import_row.duplicate"),
    ]
    async with db.read() as session:
        stored = (await session.scalars(select(Registrant))).all()
    assert all("example" not in (r.email_hash or "") for r in stored)  # digests only

    settings = make_settings("email")
    with pytest.raises(NotFound):
        async with db.begin() as session:
            await reg.register(session, settings, NOW, 10, profile(), identity="eve@example.org")
    async with db.begin() as session:
        await reg.register(session, settings, NOW, 10, profile(), identity=" ANA@example.org ")
    with pytest.raises(Conflict) as caught:
        async with db.begin() as session:
            await reg.register(session, settings, NOW, 11, profile(), identity="ana@example.org")
    assert caught.value.key == "registration.identity_used.email"

    code_settings = make_settings("code")
    with pytest.raises(Conflict):  # Ana's row, already claimed through her address
        async with db.begin() as session:
            await reg.register(session, code_settings, NOW, 12, profile(), identity="ab12cd")
    async with db.begin() as session:
        await reg.import_registrants(session, "code", b"code;name\nQW-77-ER;Zoe\n", actor=1)
    async with db.begin() as session:
        await reg.register(session, code_settings, NOW, 12, profile(), identity="qw 77 er")
    with pytest.raises(InvalidInput):
        async with db.begin() as session:
            await reg.register(session, code_settings, NOW, 13, profile(), identity="")


async def test_import_refuses_files_without_the_needed_column(db):
    with pytest.raises(InvalidInput) as caught:
        async with db.begin() as session:
            await reg.import_registrants(session, "code", b"email\na@b.cd\n", actor=1)
    assert caught.value.key == "registration.import_no_column.code"
    with pytest.raises(InvalidInput):
        async with db.begin() as session:
            await reg.import_registrants(session, "email", b"\xff\xfe", actor=1)
