"""The path every REST request takes: faults, auth, rate limits, OpenAPI validation, handler.

Every answer is also counted against Discord's invalid-request limit
(``server.invalid_requests``, :mod:`sandbox.rules.invalid_requests`). Before the handler,
the callables in ``server.before_handled`` are called with ``(route, call)``; if one
returns True the request is swallowed (never carried out). After a handler succeeds the
callables in ``server.after_handled`` are called with ``(route, call, result)`` before the
answer leaves. The driver's crash points use both.

Handlers are registered with :func:`route` and receive a :class:`Call`. They return a
JSON-able value (200), ``None`` (204) or ``(status, body)``, and raise
:class:`sandbox.rules.errors.DiscordError` to refuse. Every refusal is recorded in
``server.violations`` (except the 429s and 5xx the sandbox injects on purpose). A crash of
the sandbox's own OpenAPI validator is a :class:`~sandbox.rules.errors.SandboxFault`: recorded
with its traceback (``violation.exception``), never served as if the request were valid.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError, RateLimited, SandboxFault

if TYPE_CHECKING:
    from sandbox.server.core import SandboxServer

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"


@dataclass
class Upload:
    index: int
    filename: str
    content_type: str
    data: bytes


@dataclass
class Call:
    server: SandboxServer
    request: web.Request
    template: str
    params: dict[str, str]
    query: dict[str, str]
    json: Any = None
    files: list[Upload] = field(default_factory=list)

    def param(self, name: str) -> str:
        return self.params[name]

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true")


Handler = Callable[[Call], Awaitable[Any]]


@dataclass
class RouteSpec:
    method: str
    template: str
    handler: Handler
    token_auth: bool = False  # interaction callbacks and webhook-token routes carry no bot token


ROUTES: list[RouteSpec] = []


def route(method: str, template: str, *, token_auth: bool = False) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        ROUTES.append(RouteSpec(method, template, func, token_auth))
        return func

    return register


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = dict(headers or {})
    if status == 204 or body is None:
        return web.Response(status=204 if status < 300 else status, headers=all_headers)
    # discord.py only decodes JSON when the content type is exactly "application/json".
    all_headers["Content-Type"] = "application/json"
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


def _major(params: dict[str, str]) -> str:
    for key in ("channel_id", "guild_id"):
        if key in params:
            return params[key]
    if "webhook_token" in params:
        return f"{params.get('webhook_id', '')}/{params['webhook_token']}"
    if "interaction_token" in params:
        return f"{params.get('interaction_id', '')}/{params['interaction_token']}"
    return ""


def _safe_body(call_json: Any, raw: bytes) -> Any:
    if call_json is not None:
        return call_json
    if not raw:
        return None
    return raw[:2000].decode(errors="replace")


async def _read_body(request: web.Request) -> tuple[Any, list[Upload], bytes, str | None]:
    content_type = request.content_type
    if request.method in ("GET", "HEAD") or not request.can_read_body:
        return None, [], b"", None
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise DiscordError(
            413, limits.REQUEST_ENTITY_TOO_LARGE, "Request entity too large"
        ) from exc
    if content_type.startswith("multipart/"):
        payload, files = _parse_multipart(raw, request.headers.get("Content-Type", ""))
        # Discord refuses a file over the upload limit (413 / 40005) or more than 10 files.
        limits.check_uploads([len(upload.data) for upload in files])
        return payload, files, raw, request.headers.get("Content-Type")
    if not raw:
        return None, [], raw, content_type
    try:
        return json.loads(raw), [], raw, content_type
    except ValueError as exc:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc


def _parse_multipart(raw: bytes, content_type: str) -> tuple[Any, list[Upload]]:
    """``payload_json`` and the ``files[n]`` parts of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise DiscordError(
            400,
            50035,
            "Invalid Form Body",
            {"_errors": [{"code": "CONTENT_TYPE_INVALID", "message": "Malformed multipart body."}]},
        )
    payload: Any = None
    files: list[Upload] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        data = part.get_payload(decode=True) or b""
        if name == "payload_json":
            try:
                payload = json.loads(data.decode() or "null")
            except ValueError as exc:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from exc
        elif part.get_filename() is not None:
            match = re.fullmatch(r"files\[(\d+)\]", name)
            index = int(match.group(1)) if match else len(files)
            files.append(
                Upload(
                    index,
                    part.get_filename() or f"file{index}",
                    part.get_content_type(),
                    bytes(data),
                )
            )
    return payload, files


def make_handler(
    server: SandboxServer, spec: RouteSpec
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        server.inflight += 1
        server.touch()
        try:
            return await _pipeline(server, spec, request)
        finally:
            server.inflight -= 1
            server.touch()

    return handle


async def _pipeline(
    server: SandboxServer, spec: RouteSpec, request: web.Request
) -> web.StreamResponse:
    server.stats["requests"] += 1
    params = dict(request.match_info)
    path = request.path
    method = request.method
    server.requests.append((method, spec.template, 0))
    record_index = len(server.requests) - 1

    def done(response: web.StreamResponse) -> web.StreamResponse:
        server.requests[record_index] = (method, spec.template, response.status)
        # Discord's invalid-request limit (401, 403, 429 except shared-scope 429s).
        server.invalid_requests.record(response.status, response.headers.get("X-RateLimit-Scope"))
        return response

    route_key = f"{method} {spec.template}"
    # 1. faults: latency, then injected server errors
    delay = server.faults.delay(route=route_key)
    if delay > 0:
        await asyncio.sleep(delay)
    status = server.faults.pick_error(route=route_key)
    if status:
        server.stats["faults"] += 1
        error = server.faults.error(status)
        return done(json_response(status, error.body()))

    # 2. authentication
    if not spec.token_auth and request.headers.get("Authorization") != f"Bot {server.token}":
        error = DiscordError(401, 0, "401: Unauthorized")
        server.record_violation(method, path, None, 401, 0, error.message)
        return done(json_response(401, error.body()))

    body: Any = None
    raw = b""
    headers: dict[str, str] = {}
    try:
        body, files, raw, content_type = await _read_body(request)
        # 3a. a 429 storm (sb.faults.rate_limit_rate) on the bot's own requests
        if not spec.token_auth:
            stormed = server.faults.pick_rate_limit(route=route_key)
            if stormed is not None:
                server.stats["storm_rate_limited"] += 1
                raise stormed
        # 3. rate limits (interaction callbacks and webhook-token follow-ups skip the global limit)
        if server.rate_limiter is not None:
            sub_bucket = None
            if (
                method == "PATCH"
                and spec.template == "/channels/{channel_id}"
                and isinstance(body, dict)
                and "name" in body
            ):
                from sandbox.rules.ratelimit import CHANNEL_RENAME

                sub_bucket = CHANNEL_RENAME
            headers = server.rate_limiter.hit(
                method,
                spec.template,
                _major(params),
                global_exempt=spec.token_auth,
                sub_bucket=sub_bucket,
            )
        # 4. the request must be one Discord's own schema accepts
        if server.validate:
            from sandbox.rules.openapi import SpecValidator

            SpecValidator.shared().validate(
                method, path, request.query, request.headers, raw or None, content_type
            )
        # 5. the handler, which enforces Discord's limits and permissions
        call = Call(server, request, spec.template, params, dict(request.query), body, files)
        # 5a. observers that may swallow the request (the driver's sb.crash_before: the bot
        # died just before this request reached Discord, which therefore never carries it out)
        if any([hook(route_key, call) for hook in list(server.before_handled)]):
            return done(json_response(503, {"message": "503: Service Unavailable", "code": 0}))
        result = await spec.handler(call)
        # 6. observers of what was done (the driver's crash points: sb.crash_after)
        for hook in list(server.after_handled):
            hook(route_key, call, result)
    except RateLimited as limited:
        server.stats["rate_limited"] += 1
        return done(json_response(429, limited.body(), limited.headers()))
    except DiscordError as error:
        server.record_violation(
            method,
            path,
            _safe_body(body, raw),
            error.status,
            error.code,
            error.message,
            error.errors,
            exception=error.exception if isinstance(error, SandboxFault) else None,
        )
        return done(json_response(error.status, error.body(), headers))
    if isinstance(result, tuple):
        status, payload = result
    else:
        status, payload = (200, result) if result is not None else (204, None)
    return done(json_response(status, payload, headers))


def add_routes(app: web.Application, server: SandboxServer) -> None:
    # Import for the side effect of registering handlers.
    from sandbox.server import interactions, rest  # noqa: F401

    # Literal segments win over placeholders ("/members/search" before "/members/{user_id}").
    def specificity(spec: RouteSpec) -> tuple[int, ...]:
        return tuple(1 if part.startswith("{") else 0 for part in spec.template.split("/"))

    for spec in sorted(ROUTES, key=specificity):
        app.router.add_route(spec.method, API_PREFIX + spec.template, make_handler(server, spec))

    async def not_found(request: web.Request) -> web.StreamResponse:
        server.touch()
        server.record_violation(
            request.method,
            request.path,
            None,
            404,
            0,
            "404: Not Found (no such route in the sandbox)",
        )
        return json_response(404, {"message": "404: Not Found", "code": 0})

    app.router.add_route("*", API_PREFIX + "/{tail:.*}", not_found)
