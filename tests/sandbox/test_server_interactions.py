"""Interactions end to end: a member uses the tiny test bot's commands through the driver."""

from __future__ import annotations

import aiohttp
import discord
import pytest

from sandbox import InteractionFailed, Sandbox


async def test_slash_command_reply_is_in_the_channel(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("about")
    assert reply.text == "hello"
    assert not reply.ephemeral and not reply.deferred
    assert reply.buttons == ["Join", "Details"]
    assert sb.channel("general").messages[-1]["id"] == reply.message["id"]
    assert reply.message["interaction_metadata"]["user"]["id"] == str(ana.id)


async def test_registered_commands_are_what_the_bot_synced(sb: Sandbox) -> None:
    names = {c["name"] for c in sb.commands}
    assert {"about", "slow", "form", "team", "ping", "Greet"} <= names
    team = sb.find_command("team")
    assert {o["name"] for o in team["options"]} == {"create", "join"}


async def test_buttons_and_selects(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    bob = await sb.add_member("bob")
    reply = await ana.slash("about")
    details = await reply.click("Details", by=bob)
    assert details.ephemeral and details.text == "only for you"
    assert "only for you" not in sb.channel("general").texts
    track = await reply.select("Pick a track", ["Climate"])
    assert track.text == "track climate"
    joined = await reply.click("Join")
    assert joined.text == "ana joined"
    assert joined.message["id"] == reply.message["id"]
    assert reply.buttons == []  # the view was removed by the edit
    with pytest.raises(LookupError):
        await reply.click("Join")


async def test_subcommands_and_option_validation(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("team create", name="Owls")
    assert reply.text == "team Owls created" and reply.ephemeral
    with pytest.raises(ValueError, match="name"):
        await ana.slash("team create", name="O")  # min_length 2, checked like Discord's client
    with pytest.raises(ValueError):
        await ana.slash("team create")  # required option missing
    with pytest.raises(ValueError):
        await ana.slash("slow", n=6)  # Range[int, 1, 5]
    with pytest.raises(LookupError):
        await ana.slash("nope")


async def test_autocomplete(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    choices = await ana.autocomplete("team join", "team", "ab")
    assert [c["name"] for c in choices] == ["abacus", "abyss"]
    reply = await ana.slash("team join", team=choices[0]["value"])
    assert reply.text == "joined abacus"


async def test_defer_then_follow_ups(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("slow", n=3)
    assert reply.deferred and reply.ephemeral
    assert reply.text == "done 3"  # the first follow-up filled the "thinking" message
    assert [f.text for f in reply.followups] == ["and one more"]
    # A follow-up is ephemeral only when it says so, whatever the defer was: this one is public.
    assert not reply.followups[0].ephemeral
    assert sb.channel("general").texts == ["and one more"]
    edited = await ana.slash("edit")
    assert edited.deferred and not edited.ephemeral
    assert edited.text == "edited"
    assert sb.channel("general").texts == ["and one more", "edited"]


async def test_modal(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("form")
    assert reply.modal is not None and reply.modal["title"] == "Project"
    with pytest.raises(ValueError, match="required"):
        await ana.submit_modal(reply, {"Pitch": "no title"})
    with pytest.raises(ValueError, match="at most 20"):
        await ana.submit_modal(reply, {"Title": "x" * 21})
    with pytest.raises(ValueError, match="no field"):
        await ana.submit_modal(reply, {"Name": "Owls"})
    saved = await ana.submit_modal(reply, {"Title": "Owls"})
    assert saved.text == "saved Owls / -" and saved.ephemeral


async def test_member_and_channel_options_are_resolved(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    bob = await sb.add_member("bob")
    quiet = await ana.slash("ping", who=bob)
    assert quiet.text == f"hi <@{bob.id}>"
    assert quiet.pinged["users"] == []  # AllowedMentions.none(): nobody notified
    loud = await ana.slash("ping", who="bob", loud=True)
    assert loud.pinged["users"] == [str(bob.id)]
    where = await ana.slash("where", channel="general")
    assert where.text == "#general"


async def test_context_menu(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    bob = await sb.add_member("bob")
    reply = await ana.context_menu("Greet", bob)
    assert reply.text == "hello bob"


async def test_late_answer_misses_the_three_second_deadline(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    sb.expect_violation(10062)
    with pytest.raises(InteractionFailed):
        await ana.slash("late")
    await sb.settle()
    # The bot's late callback was refused with 10062, as on Discord.
    assert len(sb.missed_deadlines) == 1
    assert any(v.code == 10062 for v in sb.violations)


async def test_interaction_answered_twice_is_refused(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("keep")
    record = reply.record
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{sb.server.api_base}/interactions/{record.id}/{record.token}/callback",
            json={"type": 4, "data": {"content": "again"}},
        )
        body = await response.json()
    assert (response.status, body["code"]) == (400, 40060)
    assert [v.code for v in sb.take_violations()] == [40060]


async def test_follow_up_after_fifteen_minutes_is_refused(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    await ana.slash("keep")
    interaction = sb.bot.kept["keep"]
    await interaction.followup.send("still in time", ephemeral=True)
    await sb.advance(minutes=16)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("too late", ephemeral=True)
    assert caught.value.code == 50027
    assert [v.code for v in sb.take_violations()] == [50027]


async def test_command_needs_to_see_the_channel(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    hidden = await sb.create_channel(
        "hidden",
        overwrites=[{"id": str(sb.guild_id), "type": 0, "allow": "0", "deny": str(1 << 10)}],
    )
    with pytest.raises(PermissionError):
        await ana.slash("about", in_channel=hidden)
    assert not sb.can_view(ana, hidden)


async def test_ephemeral_messages_of_someone_else_cannot_be_clicked(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    bob = await sb.add_member("bob")
    reply = await ana.slash("about")
    details = await reply.click("Details")
    with pytest.raises(PermissionError):
        await bob.click(details.message, "Join")


async def test_reply_with_a_file(sb: Sandbox) -> None:
    ana = await sb.add_member("ana")
    reply = await ana.slash("export")
    (attachment,) = reply.message["attachments"]
    assert attachment["filename"] == "scores.csv"
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as response:
        assert await response.read() == b"team,score\nowls,3\n"
