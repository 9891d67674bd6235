"""Refusals of the sandbox that mirror Discord's: each test sends what Discord refuses and
checks the answer's HTTP status and Discord's JSON error code, and the recorded violation."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from sandbox.rules.openapi import SpecValidator
from sandbox.server import SandboxServer


def auth(server: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bot {server.token}"}


async def call(
    server: SandboxServer, method: str, path: str, **kwargs: Any
) -> tuple[int, dict | None]:
    """One raw request to the sandbox: (status, JSON body or None)."""
    headers = {**auth(server), **kwargs.pop("headers", {})}
    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, f"{server.api_base}{path}", headers=headers, **kwargs
        ) as response:
            body = await response.json() if response.status != 204 else None
            return response.status, body


def general_id(server: SandboxServer) -> str:
    return server.guild().channel_by_name("general")["id"]


# --- the request validator itself ------------------------------------------------------


class _BrokenValidator:
    def iter_errors(self, _request: Any) -> Any:
        raise RuntimeError("validator bug")


async def test_a_crash_of_the_validator_is_a_violation_not_a_pass(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SpecValidator.shared(), "_validator", _BrokenValidator())
    status, body = await call(
        server, "POST", f"/channels/{general_id(server)}/messages", json={"content": "hi"}
    )
    assert (status, body["code"]) == (400, 0)
    assert "validator" in body["message"]
    (violation,) = server.reset_violations()
    assert violation.status == 400 and "RuntimeError: validator bug" in violation.exception
    assert server.channel_message_list(general_id(server)) == []  # not carried out


# --- uploads ---------------------------------------------------------------------------

MIB = 1024 * 1024


def upload_form(sizes: list[int], content: str = "files") -> aiohttp.FormData:
    import json

    form = aiohttp.FormData()
    attachments = [{"id": i, "filename": f"f{i}.bin"} for i in range(len(sizes))]
    form.add_field(
        "payload_json",
        json.dumps({"content": content, "attachments": attachments}),
        content_type="application/json",
    )
    for i, size in enumerate(sizes):
        form.add_field(
            f"files[{i}]",
            b"x" * size,
            filename=f"f{i}.bin",
            content_type="application/octet-stream",
        )
    return form


async def test_a_file_over_ten_mib_is_413_request_entity_too_large(
    server: SandboxServer,
) -> None:
    path = f"/channels/{general_id(server)}/messages"
    status, body = await call(server, "POST", path, data=upload_form([10 * MIB + 1]))
    assert (status, body["code"], body["message"]) == (413, 40005, "Request entity too large")
    assert [(v.status, v.code) for v in server.reset_violations()] == [(413, 40005)]
    # Each file may weigh the limit: two files of 10 MiB pass (the limit is per file).
    status, body = await call(server, "POST", path, data=upload_form([10 * MIB, 10 * MIB]))
    assert status == 200 and [a["size"] for a in body["attachments"]] == [10 * MIB] * 2
    assert len(server.channel_message_list(general_id(server))) == 1


async def test_more_than_ten_files_are_refused(server: SandboxServer) -> None:
    path = f"/channels/{general_id(server)}/messages"
    status, body = await call(server, "POST", path, data=upload_form([3] * 11))
    assert (status, body["code"]) == (400, 50035)
    assert "attachments" in body["errors"]
    assert [v.code for v in server.reset_violations()] == [50035]
    status, _ = await call(server, "POST", path, data=upload_form([3] * 10))
    assert status == 200


# --- empty messages and edits checked as the whole message ----------------------------

V2 = 1 << 15
V2_BODY = {
    "flags": V2,
    "components": [{"type": 17, "components": [{"type": 10, "content": "a card"}]}],
}


async def test_an_embed_with_no_text_and_no_media_is_an_empty_message(
    server: SandboxServer,
) -> None:
    path = f"/channels/{general_id(server)}/messages"
    status, body = await call(server, "POST", path, json={"embeds": [{"color": 0x5865F2}]})
    assert (status, body["code"], body["message"]) == (400, 50006, "Cannot send an empty message")
    assert [v.code for v in server.reset_violations()] == [50006]
    image = {"color": 1, "image": {"url": "https://example.com/a.png"}}
    assert (await call(server, "POST", path, json={"embeds": [image]}))[0] == 200


async def test_an_edit_that_empties_the_message_is_refused(server: SandboxServer) -> None:
    path = f"/channels/{general_id(server)}/messages"
    _, sent = await call(server, "POST", path, json={"content": "hi", "embeds": [{"title": "t"}]})
    edit = f"{path}/{sent['id']}"
    assert (await call(server, "PATCH", edit, json={"content": ""}))[0] == 200  # the embed stays
    status, body = await call(server, "PATCH", edit, json={"embeds": []})
    assert (status, body["code"]) == (400, 50006)
    status, body = await call(server, "PATCH", edit, json={"embeds": [{"color": 1}]})
    assert (status, body["code"]) == (400, 50006)
    assert [v.code for v in server.reset_violations()] == [50006, 50006]
    assert server.messages[sent["id"]]["embeds"][0]["title"] == "t"  # left as it was


async def test_content_added_to_a_components_v2_message_is_refused(server: SandboxServer) -> None:
    path = f"/channels/{general_id(server)}/messages"
    _, sent = await call(server, "POST", path, json=V2_BODY)
    edit = f"{path}/{sent['id']}"
    status, body = await call(server, "PATCH", edit, json={"content": "plain text"})
    assert (status, body["code"]) == (400, 50035)
    codes = [e["code"] for e in body["errors"]["content"]["_errors"]]
    assert codes == ["MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"]
    # The flag stays whatever the edit says, so taking the components away empties it.
    status, body = await call(server, "PATCH", edit, json={"flags": 0, "components": []})
    assert (status, body["code"]) == (400, 50006)
    assert [v.code for v in server.reset_violations()] == [50035, 50006]
    assert (
        server.messages[sent["id"]]["flags"] & V2 and server.messages[sent["id"]]["content"] == ""
    )
    # A classic message becomes a V2 one when the edit sets the flag and clears the content.
    _, classic = await call(server, "POST", path, json={"content": "old"})
    status, edited = await call(
        server, "PATCH", f"{path}/{classic['id']}", json={**V2_BODY, "content": ""}
    )
    assert status == 200 and edited["flags"] & V2


# --- EMBED_LINKS -------------------------------------------------------------------------


async def test_embeds_need_embed_links_in_the_channel(server: SandboxServer) -> None:
    guild = server.guild()
    channel = guild.channel_by_name("general")
    # @everyone may embed links by default: an overwrite takes it from the bot here.
    server.set_overwrite(guild, channel, server.bot_user["id"], 1, allow=0, deny=1 << 14)
    path = f"/channels/{channel['id']}/messages"
    card = {"embeds": [{"title": "Team Owls"}]}
    status, body = await call(server, "POST", path, json=card)
    assert (status, body["code"], body["message"]) == (403, 50013, "Missing Permissions")
    status, sent = await call(server, "POST", path, json={"content": "plain"})
    assert status == 200
    status, body = await call(server, "PATCH", f"{path}/{sent['id']}", json=card)
    assert (status, body["code"]) == (403, 50013)
    assert [v.code for v in server.reset_violations()] == [50013, 50013]
    assert [m["embeds"] for m in server.channel_message_list(channel["id"])] == [[]]
    server.delete_overwrite(guild, channel, server.bot_user["id"])
    assert (await call(server, "POST", path, json=card))[0] == 200


# --- autocomplete choices ------------------------------------------------------------------


def autocomplete(server: SandboxServer, option_type: int) -> Any:
    """An autocomplete interaction on ``/team join <option>`` (typed "ab") and its callback URL."""
    guild = server.guild()
    ana = server.add_member(guild, "ana")
    focused = {"name": "team", "type": option_type, "value": "ab", "focused": True}
    data = {
        "id": "1",
        "name": "team",
        "type": 1,
        "options": [{"name": "join", "type": 1, "options": [focused]}],
    }
    record = server.interactions.create(
        guild=guild,
        channel=guild.channel_by_name("general"),
        user_id=ana["user"]["id"],
        interaction_type=4,
        data=data,
    )
    return f"/interactions/{record.id}/{record.token}/callback"


def answer(*choices: dict) -> dict:
    return {"type": 8, "data": {"choices": list(choices)}}


@pytest.mark.parametrize(
    "option_type, value, code",
    [
        (3, 7, "BASE_TYPE_STRING"),  # a string option answered with a number
        (3, "x" * 101, "BASE_TYPE_MAX_LENGTH"),
        (4, "7", "NUMBER_TYPE_COERCE"),  # an integer option answered with a string
        (4, 1.5, "NUMBER_TYPE_COERCE"),
        (10, "1.5", "NUMBER_TYPE_COERCE"),
    ],
)
async def test_autocomplete_values_must_fit_the_focused_option(
    server: SandboxServer, option_type: int, value: Any, code: str
) -> None:
    url = autocomplete(server, option_type)
    status, body = await call(server, "POST", url, json=answer({"name": "Owls", "value": value}))
    assert (status, body["code"]) == (400, 50035)
    errors = body["errors"]["data"]["choices"]["0"]["value"]["_errors"]
    assert [e["code"] for e in errors] == [code]
    assert [v.code for v in server.reset_violations()] == [50035]


async def test_autocomplete_choice_names_are_at_most_100_characters(
    server: SandboxServer,
) -> None:
    url = autocomplete(server, 3)
    status, body = await call(server, "POST", url, json=answer({"name": "x" * 101, "value": "v"}))
    assert (status, body["code"]) == (400, 50035)
    assert "name" in body["errors"]["data"]["choices"]["0"]
    assert [v.code for v in server.reset_violations()] == [50035]
    status, _ = await call(
        server, "POST", url, json=answer({"name": "x" * 100, "value": "v" * 100})
    )
    assert status == 200


async def test_autocomplete_values_of_the_right_type_pass(server: SandboxServer) -> None:
    for option_type, value in ((3, "owls"), (4, 7), (10, 1.5), (10, 2)):
        url = autocomplete(server, option_type)
        status, _ = await call(server, "POST", url, json=answer({"name": "n", "value": value}))
        assert status == 200, (option_type, value)


# --- MANAGE_ROLES in permission overwrites ---------------------------------------------

MANAGE_ROLES = 1 << 28


async def test_only_an_administrator_bot_sets_manage_roles_in_an_overwrite(
    server: SandboxServer,
) -> None:
    guild = server.guild()
    channel = guild.channel_by_name("general")
    role = guild.id  # @everyone
    grant = {"type": 0, "allow": str(MANAGE_ROLES), "deny": "0"}
    put = f"/channels/{channel['id']}/permissions/{role}"
    # The bot has MANAGE_ROLES (hackbot's invite) but is no administrator.
    status, body = await call(server, "PUT", put, json=grant)
    assert (status, body["code"]) == (403, 50013)
    created = {"name": "staff", "permission_overwrites": [{"id": role, **grant}]}
    status, body = await call(server, "POST", f"/guilds/{guild.id}/channels", json=created)
    assert (status, body["code"]) == (403, 50013)
    edit = {"permission_overwrites": [{"id": role, **grant}]}
    status, body = await call(server, "PATCH", f"/channels/{channel['id']}", json=edit)
    assert (status, body["code"]) == (403, 50013)
    assert [v.code for v in server.reset_violations()] == [50013] * 3
    assert channel["permission_overwrites"] == []
    # Other permissions it has are fine, and so is MANAGE_ROLES with a MANAGE_ROLES
    # overwrite of its own in the channel (set by a person) ...
    view = {"type": 0, "allow": str(1 << 10), "deny": "0"}
    assert (await call(server, "PUT", put, json=view))[0] == 204
    bot_id = server.bot_user["id"]
    server.set_overwrite(guild, channel, bot_id, 1, allow=MANAGE_ROLES, deny=0)
    assert (await call(server, "PUT", put, json=grant))[0] == 204
    # ... or as an administrator.
    server.set_bot_permissions(1 << 3)
    assert (await call(server, "POST", f"/guilds/{guild.id}/channels", json=created))[0] == 201


# --- channel names -------------------------------------------------------------------------


async def test_text_news_and_forum_channel_names_are_normalised(server: SandboxServer) -> None:
    guild = server.guild()
    path = f"/guilds/{guild.id}/channels"
    server.rate_limiter = None  # channel creation is a slow bucket (5 per 10 s)

    async def create(name: str, kind: int) -> str:
        status, body = await call(server, "POST", path, json={"name": name, "type": kind})
        assert status == 201, body
        return body["name"]

    assert await create("Team  Owls!", 0) == "team-owls"
    assert await create("Joey's Cool Channel", 0) == "joeys-cool-channel"
    assert await create(" -- Café (Équipe) #2 -- ", 5) == "café-équipe-2"
    assert await create("Problem Statements", 15) == "problem-statements"
    assert await create("snake_case-kept 🦉", 0) == "snake_case-kept-🦉"
    # Categories and voice channels keep their names.
    assert await create("Team Spaces", 4) == "Team Spaces"
    assert await create("Team Voice", 2) == "Team Voice"
    channel = guild.channel_by_name("team-owls")
    status, body = await call(
        server, "PATCH", f"/channels/{channel['id']}", json={"name": "Owls 2"}
    )
    assert (status, body["name"]) == (200, "owls-2")
    # Nothing left of the name: refused.
    status, body = await call(server, "POST", path, json={"name": "!!!", "type": 0})
    assert (status, body["code"]) == (400, 50035) and "name" in body["errors"]
    assert [v.code for v in server.reset_violations()] == [50035]


# --- 200 command creations a day -------------------------------------------------------------


async def test_the_two_hundred_and_first_command_create_of_the_day_is_refused(
    server: SandboxServer,
) -> None:
    import datetime as dt

    guild = server.guild()
    path = f"/applications/{server.application_id}/guilds/{guild.id}/commands"
    now = dt.datetime.now(dt.UTC)
    server.set_clock(lambda: now)
    server.command_creates[guild.id] = [now - dt.timedelta(hours=1)] * 199

    def command(name: str) -> dict:
        return {"name": name, "description": "d", "type": 1}

    assert (await call(server, "POST", path, json=command("c199")))[0] == 201
    status, body = await call(server, "POST", path, json=command("c200"))
    assert (status, body["code"]) == (400, 30034)
    assert (
        body["message"] == "Max number of daily application command creates has been reached (200)"
    )
    # Updating a command of the same name is no create; a bulk overwrite's new names are.
    assert (await call(server, "POST", path, json=command("c199")))[0] == 200
    status, body = await call(server, "PUT", path, json=[command("c199"), command("fresh")])
    assert (status, body["code"]) == (400, 30034)
    assert [v.code for v in server.reset_violations()] == [30034, 30034]
    # Global commands count apart, and a day later the guild may create again.
    status, _ = await call(
        server, "POST", f"/applications/{server.application_id}/commands", json=command("g")
    )
    assert status == 201
    server.set_clock(lambda: now + dt.timedelta(hours=23, minutes=1))
    assert (await call(server, "POST", path, json=command("c200")))[0] == 201


# --- forum tags ------------------------------------------------------------------------------


async def test_forum_tag_names_over_twenty_characters_are_refused(server: SandboxServer) -> None:
    guild = server.guild()
    long_tag, fine_tag = {"name": "x" * 21}, {"name": "y" * 20}
    forum = {"name": "help", "type": 15, "available_tags": [fine_tag, long_tag]}
    status, body = await call(server, "POST", f"/guilds/{guild.id}/channels", json=forum)
    assert (status, body["code"]) == (400, 50035)
    errors = body["errors"]["available_tags"]["1"]["name"]["_errors"]
    assert [e["code"] for e in errors] == ["BASE_TYPE_MAX_LENGTH"]
    status, created = await call(
        server, "POST", f"/guilds/{guild.id}/channels", json={**forum, "available_tags": [fine_tag]}
    )
    assert status == 201 and [t["name"] for t in created["available_tags"]] == ["y" * 20]
    tags = [*created["available_tags"], long_tag]
    status, body = await call(
        server, "PATCH", f"/channels/{created['id']}", json={"available_tags": tags}
    )
    assert (status, body["code"]) == (400, 50035) and "available_tags" in body["errors"]
    assert [v.code for v in server.reset_violations()] == [50035, 50035]
