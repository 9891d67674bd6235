"""CSV exports open in a CSV reader with the right rows, and keep private data out."""

from __future__ import annotations

import csv
import io

from bot.models import Member
from bot.models.submissions import Submission
from bot.models.teams import Registrant
from bot.services import exports as svc
from bot.services import judging
from tests.services.test_judging import NOW, SETTINGS, make_projects, score_all


def read(export: svc.Export) -> list[dict[str, str]]:
    text = export.data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


async def test_every_export_opens_with_the_right_rows(db):
    ids = await make_projects(db, SETTINGS, 3)
    async with db.begin() as session:
        session.add(Member(discord_id=555, display_name="lurker"))  # no profile: not exported
        session.add(Registrant(email_hash="ab" * 32, name="Someone", source_row=2))
        row = await session.get(Submission, ids[0])
        row.title = '=HYPERLINK("http://evil")'  # a formula must not run in a spreadsheet
        row.late_seconds = 12
        row.flags = ["late"]
        row.gallery_thread_id = 777
    async with db.begin() as session:
        review = await judging.next_review(session, SETTINGS, NOW, 900)
    await score_all(db, SETTINGS, review.id, 900, 4)
    async with db.read() as session:
        made = {e.name: e for e in await svc.build(session, SETTINGS)}
    assert set(made) >= {"participants", "teams", "submissions", "scores"}

    people = read(made["participants"])
    assert [p["Display Name"] for p in people] == ["user100", "user101", "user102"]
    assert people[0]["Team"] == "Team 000" and people[0]["Discord ID"] == "100"
    assert made["participants"].rows == 3

    teams = read(made["teams"])
    assert [(t["Team Name"], t["Size"], t["Submitted"]) for t in teams] == [
        ("Team 000", "1", "yes"),
        ("Team 001", "1", "yes"),
        ("Team 002", "1", "yes"),
    ]

    projects = read(made["submissions"])
    assert list(projects[0])[:4] == [
        "Project Title",
        "Submission Url",
        "Project Status",
        "Judging Status",
    ]
    first = projects[0]
    assert first["Project Title"] == '\'=HYPERLINK("http://evil")'
    assert first["Submission Url"] == "https://discord.com/channels/1/777"
    assert first["Project Status"] == "Submitted (Late)" and first["Late By Seconds"] == "12"
    assert first['"Try it out" Links'] == "https://github.com/team0/project"
    assert first["Team Member Names"] == "user100"
    assert projects[1]["Project Status"] == "Submitted" and projects[1]["Flags"] == ""

    scores = read(made["scores"])
    assert len(scores) == 3
    judged = [s for s in scores if s["Score"]]
    assert (
        len(judged) == 1 and judged[0]["Rank"] == "1" and judged[0]["Reviews Or Comparisons"] == "1"
    )

    everything = b"".join(e.data for e in made.values()).decode("utf-8-sig")
    assert (
        "ab" * 32 not in everything and "Someone" not in everything and "lurker" not in everything
    )


async def test_tickets_follow_the_help_queue_tables(db):
    model = svc.ticket_model()
    async with db.read() as session:
        made = await svc.build(session, SETTINGS, ["tickets"])
    if model is None:
        assert made == []
    else:
        assert [e.name for e in made] == ["tickets"] and made[0].rows == 0
        header = next(csv.reader(io.StringIO(made[0].data.decode("utf-8-sig"))))
        assert "status" in header and "team_name" in header
