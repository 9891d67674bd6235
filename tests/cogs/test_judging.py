"""Judging end to end: rubric cards (menus, save, skip, flags), cards that survive a
restart, pairwise comparisons, /admin judging status, winners and the ceremony revealed
one by one (timed, and by hand), winners placed by hand, and /admin export as CSV
attachments."""

from __future__ import annotations

import csv
import io
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.clock import utcnow
from bot.services import registration as reg
from bot.services import submissions as submission_service
from bot.services import teams as team_service

NOBODY = {"users": [], "roles": [], "everyone": False, "here": False}


def config(mode: str = "rubric", **judging) -> dict:
    now = utcnow()
    return {
        "judging": {"mode": mode, "winners_overall": 2, **judging},
        "judging_criteria": [
            {"key": "impact", "name": "Impact", "weight": 2},
            {"key": "craft", "name": "Craft", "weight": 1},
        ],
        "phases": [
            {
                "key": "judging",
                "name": "Judging",
                "start": (now - timedelta(minutes=5)).isoformat(timespec="seconds"),
                "end": (now + timedelta(hours=3)).isoformat(timespec="seconds"),
                "opens": ["judging", "registration"],
            }
        ],
    }


async def projects(sb, count: int) -> list[int]:
    """Teams and submissions straight in the database (submitting is tested elsewhere)."""
    members = await sb.add_members(count, prefix="maker")
    now = sb.clock.now()
    ids = []
    async with sb.bot.db.begin() as session:
        for i, member in enumerate(members):
            uid = int(member.id)
            await reg.register(
                session,
                sb.settings,
                now,
                uid,
                reg.ProfileInput(member.name, ["developer"], ["en"], "UTC"),
            )
            await team_service.create_team(
                session, sb.settings, now, uid, f"Team {i}", override=True
            )
            content = submission_service.Content(
                f"Project {i}",
                f"Pitch {i} @everyone",
                f"Description of project {i}, long enough.",
                f"https://github.com/t{i}/p",
                "",
            )
            team = await submission_service.require_team(session, uid)
            await submission_service.reopen(session, sb.settings, now, 0, team.id, 60)
            stored = await submission_service.submit(
                session, sb.settings, now, uid, content, base_version=0
            )
            ids.append(stored.submission_id)
    return ids


async def score(card, impact: int, craft: int):
    card = await card.select("Impact: choose a score", [f"Impact: {impact}/5"])
    card = await card.select("Craft: choose a score", [f"Craft: {craft}/5"])
    return await card.click("Save scores")


async def test_rubric_cards_status_winners_and_a_timed_ceremony(start_sandbox, caplog):
    sb = await start_sandbox(config(ceremony_interval_seconds=30))
    await projects(sb, 3)
    org = await sb.add_member("org", roles=["Organiser"])
    judge = await sb.add_member("jo", roles=["Judge"])
    other = await sb.add_member("kim", roles=["Judge"], locale="fr")
    nobody = await sb.add_member("pat")

    refused = await nobody.slash("judge next")
    assert refused.ephemeral and refused.text == "Only judges can do this."

    card = await judge.slash("judge next")
    assert card.ephemeral and card.text.startswith("Round 1: score each criterion from 1 to 5 (0/2")
    assert card.buttons == ["Save scores", "Skip", "🚩 Broken", "🚩 Team absent"]
    first_title = card.embed["title"]
    early = await card.click("Save scores")
    assert early.text == "Score every criterion first (2 left)."
    card = await card.select("Impact: choose a score", ["Impact: 5/5"])
    assert "(1/2 done)" in card.text
    # The card survives a restart: the stored score is still selected, the menus still work.
    await sb.restart_bot()
    resumed = await judge.slash("judge next")
    assert resumed.embed["title"] == first_title and "(1/2 done)" in resumed.text
    done = await score(resumed, 5, 4)
    assert done.text.startswith("✅ Scores saved.\nRound 1")
    assert done.embed["title"] != first_title
    assert "@everyone" in done.embed["description"] and done.pinged == NOBODY
    flagged = await done.click("🚩 Team absent")
    assert flagged.text.startswith("🚩 Flagged as absent for the organisers.")
    last = await score(flagged, 2, 2)
    assert last.text.endswith("Nothing left for you to judge in this round. Thank you!")
    with caplog.at_level(logging.ERROR):
        again = await judge.slash("judge next")  # asked again: the same answer, no card
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert again.ephemeral and not again.buttons and not again.embeds
    assert again.text == "🎉 Nothing left for you to judge in this round. Thank you!"

    # A second judge, in French, starts with the projects nobody has scored yet.
    carte = await other.slash("judge next")
    assert carte.text.startswith("Tour 1 : notez chaque critère de 1 à 5")
    assert carte.embed["title"] != first_title

    status = await org.slash("admin judging status")
    fields = {f["name"]: f["value"] for f in status.embed["fields"]}
    assert status.embed["title"] == "Judging, round 1"
    assert "3 projects · 2 reviews · 2 judges" in status.embed["description"]
    assert "1 flags" in status.embed["description"]
    assert fields["Reviews per project (target 3)"].splitlines() == [
        "0 reviews: 1 projects",
        "1 reviews: 2 projects",
    ]
    assert len(fields["Nobody has judged these yet (1)"].splitlines()) == 1
    assert fields["Ranking so far (all projects)"].startswith(f"1. {first_title}")

    preview = await org.slash("admin judging winners")
    assert preview.buttons == ["Confirm", "Cancel"]
    saved = await preview.click("Confirm")
    assert saved.text.startswith("✅ 2 winners saved.")
    ceremony = await org.slash("admin judging ceremony")
    assert "one every 30 seconds" in ceremony.text
    started = await ceremony.click("Confirm")
    assert started.text.startswith("🎬 The ceremony has started: 2 winners")
    await sb.settle()
    news = sb.channel("announcements")
    reveals = [m for m in news.messages if m["content"].startswith("🏆")]
    assert [m["content"] for m in reveals] == ["🏆 Winner 1 of 2 · Overall · 🥈 place 2"]
    assert all(sb.pinged(m) == NOBODY for m in reveals)
    await sb.restart_bot()  # the next reveal is a stored timer
    await sb.advance(seconds=31)
    reveals = [m for m in news.messages if m["content"].startswith("🏆")]
    assert [m["content"] for m in reveals][-1] == "🏆 Winner 2 of 2 · Overall · 🥇 1st place"
    assert reveals[-1]["embeds"][0]["title"] == first_title
    await sb.advance(minutes=5)
    assert len([m for m in news.messages if m["content"].startswith("🏆")]) == 2  # no repeat


async def test_pairwise_comparisons_and_a_ceremony_by_hand(start_sandbox):
    sb = await start_sandbox(config("pairwise", ceremony_interval_seconds=0))
    await projects(sb, 4)
    org = await sb.add_member("org", roles=["Organiser"], locale="fr")
    judge = await sb.add_member("jo", roles=["Judge"])
    card = await judge.slash("judge next")
    assert card.text.startswith("Round 1: look at this project, then press **Next project**")
    assert card.buttons == ["Next project", "Skip", "🚩 Broken", "🚩 Team absent"]
    card = await card.click("Next project")
    assert card.text.startswith("👀 Noted.\nRound 1: which is better, this project or the previous")
    assert [e["author"]["name"] for e in card.embeds] == ["This project", "Previous project"]
    seen = set()
    lost: set[int] = set()
    while card.buttons and "This one is better" in card.buttons:
        seen.add(card.embeds[0]["title"])
        # Judges prefer the higher project number.
        current = int(card.embeds[0]["title"].split()[-1])
        previous = int(card.embeds[1]["title"].split()[-1])
        lost.add(min(current, previous))
        card = await card.click(
            "This one is better" if current > previous else "The previous one was better"
        )
    # Which pairs one judge compares depends on the judge's own exploration (seeded by their
    # id), so the winner is one of the projects that never lost, not a fixed one.
    undefeated = {f"Project {n}" for n in range(4)} - {f"Project {n}" for n in lost}
    assert card.text.endswith("Nothing left for you to judge in this round. Thank you!")
    status = await org.slash("admin judging status")
    assert "4 projets · 3 comparaisons · 1 jurés" in status.embed["description"]
    winners = await org.slash("admin judging winners")
    first_place = winners.embed["fields"][0]["value"].split("🥇 **")[1].split("**")[0]
    assert first_place in undefeated
    await winners.click("Confirmer")
    ceremony = await org.slash("admin judging ceremony")
    assert "chacun quand vous appuierez sur le bouton" in ceremony.text
    ready = await ceremony.click("Confirmer")
    assert ready.buttons == ["Révéler le lauréat suivant"]
    first = await ready.click("Révéler le lauréat suivant")
    await sb.settle()
    news = [m for m in sb.channel("announcements").messages if m["content"].startswith("🏆")]
    assert [m["content"] for m in news] == ["🏆 Winner 1 of 2 · Overall · 🥈 place 2"]
    assert first.text == "Lauréat 1 sur 2 révélé."
    second = await first.click("Révéler le lauréat suivant")
    await sb.settle()
    news = [m for m in sb.channel("announcements").messages if m["content"].startswith("🏆")]
    assert news[-1]["embeds"][0]["title"] == first_place
    assert second.text == "Lauréat 2 sur 2 révélé." and second.buttons == []


async def test_export_gives_organisers_csv_files_only_they_see(start_sandbox):
    sb = await start_sandbox(config())
    await projects(sb, 2)
    org = await sb.add_member("org", roles=["Organiser"])
    reply = await org.slash("admin export")
    assert reply.ephemeral
    assert reply.text.startswith("📦 Your export:\n• participants.csv: 2 rows\n• teams.csv: 2 rows")
    files = {a["filename"]: a for a in reply.message["attachments"]}
    assert {"participants.csv", "teams.csv", "submissions.csv", "scores.csv"} <= set(files)
    _, _, data = sb.server.attachments[files["submissions.csv"]["id"]]
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["Project Title"] for r in rows] == ["Project 0", "Project 1"]
    assert rows[0]['"Try it out" Links'] == "https://github.com/t0/p"
    one = await org.slash("admin export", what="teams")
    assert [a["filename"] for a in one.message["attachments"]] == ["teams.csv"]
    participant = await sb.add_member("pat")
    with pytest.raises(PermissionError):
        await participant.slash("admin export")
    assert not [m for m in sb.channel("general").messages if m.get("attachments")]


async def test_organisers_place_winners_by_hand_and_the_ceremony_reveals_them(start_sandbox):
    from bot.models.challenges import Challenge
    from bot.models.teams import Team

    sb = await start_sandbox(config(ceremony_interval_seconds=0))
    await projects(sb, 3)
    async with sb.bot.db.begin() as session:
        air = Challenge(slug="clean-air", name="Clean Air", name_folded="clean air", position=0)
        session.add(air)
        await session.flush()
        teams = {t.name: t for t in (await session.scalars(select(Team))).all()}
        teams["Team 0"].challenge_id = teams["Team 1"].challenge_id = air.id
        air_scope, team_ids = f"challenge:{air.id}", {n: str(t.id) for n, t in teams.items()}
    org = await sb.add_member("org", roles=["Organiser"])
    judge = await sb.add_member("jo", roles=["Judge"])
    pat = await sb.add_member("pat")

    choices = await org.autocomplete("admin judging winner-set", "challenge", "")
    assert [c["name"] for c in choices] == ["Overall", "Clean Air"]
    assert [c["value"] for c in choices] == ["overall", air_scope]
    # With the challenge chosen, only its teams are offered (team name — project title).
    choices = await org.autocomplete(
        "admin judging winner-set", "team", "", challenge=air_scope, place=1
    )
    assert [c["name"] for c in choices] == ["Team 0 — Project 0", "Team 1 — Project 1"]

    done = await org.slash(
        "admin judging winner-set", challenge="overall", place=1, team=team_ids["Team 1"]
    )
    assert done.ephemeral and done.pinged == NOBODY
    assert done.text == "✅ **Team 1** (Project 1) now holds Overall · 🥇 1st place."
    assert done.embed["fields"][0]["value"] == "🥇 **Project 1** (Team 1) — *set by hand*"
    done = await org.slash(
        "admin judging winner-set", challenge="overall", place=1, team=team_ids["Team 2"]
    )
    assert done.text.endswith("It replaces **Team 1** there.")
    await org.slash("admin judging winner-set", challenge="overall", place=2, team="Team 1")
    done = await org.slash(
        "admin judging winner-set", challenge="Clean Air", place=1, team=team_ids["Team 0"]
    )
    fields = {f["name"]: f["value"] for f in done.embed["fields"]}
    assert fields == {
        "Overall": "🥇 **Project 2** (Team 2) — *set by hand*\n"
        "🥈 **Project 1** (Team 1) — *set by hand*",
        "Clean Air": "🥇 **Project 0** (Team 0) — *set by hand*",
    }

    # Refusals: clear, private, nothing changed.
    refused = await org.slash(
        "admin judging winner-set", challenge=air_scope, place=2, team=team_ids["Team 2"]
    )
    assert refused.ephemeral
    assert (
        refused.text
        == "**Team 2** is not in the challenge **Clean Air**: only its teams can win it."
    )
    refused = await org.slash("admin judging winner-remove", challenge="overall", place=3)
    assert refused.text == "Nobody holds place 3 there: nothing changed."
    with pytest.raises(PermissionError):  # Discord does not even show /admin to participants
        await pat.slash("admin judging winner-remove", challenge="overall", place=1)

    # A French organiser empties a place.
    org.locale = "fr"
    removed = await org.slash("admin judging winner-remove", challenge="overall", place=2)
    assert (
        removed.text
        == "✅ Classement général · 🥈 2ᵉ place est désormais vide (c'était **Team 1**, Project 1)."
    )
    org.locale = "en-US"

    # Judges score; saving the ranking again would replace what was placed by hand: said.
    card = await judge.slash("judge next")
    for _ in range(3):
        card = await score(card, 3, 3)
    preview = await org.slash("admin judging winners")
    assert "⚠️ Saving replaces the 2 winner(s) placed by hand with </admin judging winner-set" in (
        preview.text
    )
    await preview.click("Cancel")

    # The ceremony reveals the winners placed by hand; while it runs they cannot change.
    ceremony = await org.slash("admin judging ceremony")
    ready = await ceremony.click("Confirm")
    first = await ready.click("Reveal the next winner")
    refused = await org.slash(
        "admin judging winner-set", challenge="overall", place=1, team=team_ids["Team 1"]
    )
    assert refused.text == "A ceremony is running: winners can change once it is over."
    await first.click("Reveal the next winner")
    await sb.settle()
    news = [m for m in sb.channel("announcements").messages if m["content"].startswith("🏆")]
    assert [m["content"] for m in news] == [
        "🏆 Winner 1 of 2 · Challenge **Clean Air** · 🥇 1st place",
        "🏆 Winner 2 of 2 · Overall · 🥇 1st place",
    ]
    assert [m["embeds"][0]["title"] for m in news] == ["Project 0", "Project 2"]

    # Over: a correction still reaches the exports (nothing is announced).
    fixed = await org.slash(
        "admin judging winner-set", challenge="overall", place=2, team=team_ids["Team 0"]
    )
    assert fixed.text.endswith(
        "The ceremony is over: this changes the exports, nothing is announced."
    )
    export = await org.slash("admin export", what="submissions")
    attachment = export.message["attachments"][0]
    _, _, data = sb.server.attachments[attachment["id"]]
    rows = {r["Team"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert rows["Team 0"]["Awards"] == (
        "Winner, Overall, place 2 (set by hand); Winner, Clean Air, place 1 (set by hand)"
    )
    assert rows["Team 1"]["Awards"] == ""
