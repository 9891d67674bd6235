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
