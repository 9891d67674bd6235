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
