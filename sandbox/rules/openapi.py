"""Validate sandbox requests against Discord's own OpenAPI description.

``SpecValidator.shared()`` loads ``sandbox/discord-api-spec/openapi.json`` once
per process with openapi-core and checks each request the way Discord's edge
would: path and method, the ``Authorization: Bot ...`` security requirement,
path and query parameters, and the JSON body. Failures become the errors
Discord sends:

* unknown path -> 404 ``{"message": "404: Not Found", "code": 0}``; known path,
  wrong method -> 405; missing/invalid auth header -> 401;
* bad parameters or body -> 400 ``{"code": 50035, "message": "Invalid Form Body",
  "errors": {...}}`` with the errors tree keyed by the offending field;
* a body that is not JSON -> 400 code 50109;
* the validator itself crashing -> :class:`~sandbox.rules.errors.SandboxFault` (a
  violation with the exception; the request is not carried out).

Multipart requests (discord.py sends files as ``multipart/form-data`` with a
``payload_json`` part and ``files[n]`` parts): the ``payload_json`` part (or,
without it, the text fields) is validated as the operation's JSON body. The few
operations that accept only multipart (sticker and app-attachment uploads) get
their parameters and security checked but not their body.

Two deliberate adjustments to the spec, both matching what Discord accepts:
snowflakes may be JSON integers as well as digit strings (discord.py sends
permission-overwrite ids as integers), and the spec document itself is not
re-validated at load (it is Discord's published file; re-validating it takes
~4 s, see ``check_spec``).

The schema does not encode every documented limit; ``sandbox.rules.limits``
checks those.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.validation.request.exceptions import (
    InvalidParameter,
    InvalidRequestBody,
    MissingParameterError,
    MissingRequestBodyError,
    ParameterValidationError,
    SecurityValidationError,
)
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox.rules.errors import DiscordError, SandboxFault, invalid_form_body

log = logging.getLogger(__name__)

SPEC_PATH = Path(__file__).resolve().parent.parent / "discord-api-spec" / "openapi.json"
HOST_URL = "https://discord.com"
API_PREFIX = "/api/v10"
INVALID_JSON = 50109

_VERSION_PREFIX = re.compile(r"^/api/v\d+(?=/)")


class _Request:
    """The request shape openapi-core validates (its ``Request`` protocol)."""

    def __init__(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Headers,
        body: bytes | None,
        content_type: str,
    ) -> None:
        self.host_url = HOST_URL
        self.path = path
        self.method = method.lower()
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(query)),
            header=headers,
            cookie=ImmutableMultiDict(),
        )


def _query_pairs(query: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    if not query:
        return []
    items = query.items()  # a multidict's items() yields every pair
    return [(str(k), str(v)) for k, v in items]


def api_path(path: str) -> str:
    """``/api/v10/...`` (any version, or none) -> the spec's ``/api/v10/...``."""
    path = path.split("?", 1)[0]
    # Match on the decoded path ("%40original" is "@original"), keeping encoded slashes.
    path = unquote(re.sub("%2[fF]", "%252F", path))
    if _VERSION_PREFIX.match(path):
        return _VERSION_PREFIX.sub(API_PREFIX, path, count=1)
    if not path.startswith("/"):
        path = "/" + path
    return API_PREFIX + path


def _patch_spec(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    # Discord accepts snowflakes as JSON integers too (discord.py sends some that way).
    schemas["SnowflakeType"] = {
        "anyOf": [
            dict(schemas["SnowflakeType"]),
            {"type": "integer", "minimum": 0},
        ]
    }
    # Permission bitfields are documented as strings ("serialized permission bit
    # set") and that is what clients send; the spec types some as integers only.
    digits = {"type": "string", "pattern": "^[0-9]+$"}
    for node in _walk(spec):
        properties = node.get("properties")
        if not isinstance(properties, dict):
            continue
        for name in _PERMISSION_FIELDS & properties.keys():
            prop = properties[name]
            types = prop.get("type")
            if types == "integer" or (isinstance(types, list) and "integer" in types):
                properties[name] = {"anyOf": [prop, digits]}
    return spec


_PERMISSION_FIELDS = frozenset({"permissions", "allow", "deny", "default_member_permissions"})


def _walk(node: Any) -> Iterable[dict]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            yield current
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _always_valid(_value: Any) -> bool:
    return True


class SpecValidator:
    _shared: SpecValidator | None = None
    _shared_lock = threading.Lock()

    def __init__(self, spec_path: str | Path = SPEC_PATH, *, check_spec: bool = False) -> None:
        started = time.perf_counter()
        with open(spec_path, encoding="utf-8") as fh:
            raw = json.load(fh)
        self._spec = _patch_spec(raw)
        options: dict[str, Any] = {
            "extra_format_validators": {"snowflake": _always_valid, "nonce": _always_valid}
        }
        if not check_spec:
            options["spec_validator_cls"] = None
        config = Config(**options)
        self._app = OpenAPI.from_dict(self._spec, config=config)
        self._validator = self._app.request_validator
        self._json_capable = self._json_operations(self._spec)
        self.load_seconds = time.perf_counter() - started
        log.info("Loaded Discord OpenAPI description in %.2f s", self.load_seconds)

    @classmethod
    def shared(cls) -> SpecValidator:
        """The process-wide validator (loaded on first use)."""
        if cls._shared is None:
            with cls._shared_lock:
                if cls._shared is None:
                    cls._shared = cls()
        return cls._shared

    @staticmethod
    def _json_operations(spec: dict) -> list[tuple[re.Pattern[str], str]]:
        """(path regex, method) of operations that take a JSON body."""
        found = []
        for template, item in spec["paths"].items():
            literals = re.split(r"\{[^}]+\}", template)
            regex = re.compile("^" + "[^/]+".join(re.escape(part) for part in literals) + "$")
            for method, operation in item.items():
                if not isinstance(operation, dict) or "requestBody" not in operation:
                    continue
                if "application/json" in operation["requestBody"].get("content", {}):
                    found.append((regex, method.lower()))
        return found

    def _accepts_json(self, method: str, spec_path: str) -> bool:
        relative = spec_path[len(API_PREFIX) :]
        return any(m == method and regex.match(relative) for regex, m in self._json_capable)

    # -- validation --------------------------------------------------------------------

    def validate(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
    ) -> None:
        """Raise the DiscordError real Discord would answer this request with, if any."""
        method = method.lower()
        spec_path = api_path(path)
        header_map = Headers(list(headers.items()) if headers else [])
        media = (content_type or "").split(";", 1)[0].strip().lower()
        skip_body = False
        if not body:
            body = None
        if media == "multipart/form-data" and body is not None:
            if self._accepts_json(method, spec_path):
                body = _multipart_json(body, content_type or "")
                content_type = media = "application/json"
            else:
                # Multipart-only operations (uploads): openapi-core cannot decode
                # these bodies against this spec; check everything but the body.
                skip_body = True
                body, content_type = None, None
        if body is not None and media == "application/json":
            try:
                json.loads(body)
            except ValueError:
                raise DiscordError(
                    400, INVALID_JSON, "The request body contains invalid JSON."
                ) from None
        request = _Request(
            method, spec_path, _query_pairs(query), header_map, body, content_type or ""
        )
        try:
            errors = list(self._validator.iter_errors(request))
        except Exception as exc:
            # A validator bug must neither take the sandbox down nor let an unchecked
            # request through as if it were valid: it is refused as a sandbox fault (a
            # violation carrying the exception, which fails the test).
            log.exception("OpenAPI validation crashed on %s %s", method.upper(), path)
            raise SandboxFault("the OpenAPI request validator", exc) from exc
        if skip_body:
            errors = [
                e for e in errors if not isinstance(e, InvalidRequestBody | MissingRequestBodyError)
            ]
        if errors:
            raise _to_discord_error(errors)


# --- multipart ----------------------------------------------------------------------


def _multipart_json(body: bytes, content_type: str) -> bytes:
    """The JSON document of a multipart request: ``payload_json``, else its text fields."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise invalid_form_body(
            {"_errors": [{"code": "CONTENT_TYPE_INVALID", "message": "Malformed multipart body."}]}
        )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        if name == "payload_json":
            return part.get_payload(decode=True) or b""
        if part.get_filename() is None and not re.fullmatch(r"files\[\d+\]", name):
            payload = part.get_payload(decode=True) or b""
            fields[name] = payload.decode("utf-8", "replace")
    return json.dumps(fields).encode()


# --- errors -------------------------------------------------------------------------


def _type_error(error: SchemaError) -> tuple[str, str]:
    expected = error.validator_value
    kinds = [expected] if isinstance(expected, str) else [k for k in expected if k != "null"]
    kind = kinds[0] if kinds else "null"
    value = error.instance
    if kind == "string":
        return "BASE_TYPE_STRING", f'Could not interpret "{value}" as string.'
    if kind == "integer":
        return "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.'
    if kind == "number":
        return "NUMBER_TYPE_COERCE", f'Value "{value}" is not a valid number.'
    if kind == "boolean":
        return "BASE_TYPE_BOOLEAN", "Must be either true or false."
    if kind == "array":
        return "BASE_TYPE_ARRAY", "Must be an array."
    if kind == "object":
        return "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"
    return "BASE_TYPE_INVALID", error.message


def _schema_error_entries(error: SchemaError, prefix: tuple) -> list[tuple[tuple, str, str]]:
    """(path, code, message) entries for one jsonschema error, Discord-style."""
    path = prefix + tuple(error.absolute_path)
    validator = error.validator
    value = error.validator_value
    if validator in ("oneOf", "anyOf") and error.context:
        return _union_entries(error, prefix)
    if validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [p for p in value if p not in instance] or list(value)
        return [((*path, name), "BASE_TYPE_REQUIRED", "This field is required") for name in missing]
    if validator == "type":
        code, message = _type_error(error)
        return [(path, code, message)]
    if validator in ("maxLength", "maxItems"):
        return [(path, "BASE_TYPE_MAX_LENGTH", f"Must be {value} or fewer in length.")]
    if validator in ("minLength", "minItems"):
        return [(path, "BASE_TYPE_MIN_LENGTH", f"Must be {value} or more in length.")]
    if validator in ("maximum", "exclusiveMaximum"):
        return [(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {value}.")]
    if validator in ("minimum", "exclusiveMinimum"):
        return [(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {value}.")]
    if validator in ("enum", "const"):
        allowed = value if validator == "enum" else [value]
        shown = ", ".join(str(a) for a in allowed)
        return [(path, "BASE_TYPE_CHOICES", f"Value must be one of {{{shown}}}.")]
    if validator in ("pattern", "format"):
        if error.schema.get("format") == "snowflake":
            return [(path, "NUMBER_TYPE_COERCE", f'Value "{error.instance}" is not snowflake.')]
        return [(path, "STRING_TYPE_REGEX", "String value did not match validation regex.")]
    if validator in ("additionalProperties", "unevaluatedProperties"):
        return [(path, "UNKNOWN_FIELD", error.message)]
    return [(path, "BASE_TYPE_INVALID", error.message)]


def _union_entries(error: SchemaError, prefix: tuple) -> list[tuple[tuple, str, str]]:
    """Errors of a oneOf/anyOf, reported like Discord does for its typed unions.

    Branches are told apart by their discriminator (the ``type`` field, or the
    JSON type of the value). If one branch matches the discriminator, its own
    errors are the answer; if none does, the discriminator itself is wrong.
    """
    here = list(error.absolute_path)
    if all(
        list(sub.absolute_path) == here and sub.validator in ("const", "enum")
        for sub in error.context
    ):
        # An enum written as a union of constants (e.g. text input styles).
        choices: list[Any] = []
        for sub in error.context:
            for value in sub.validator_value if sub.validator == "enum" else [sub.validator_value]:
                if value not in choices:
                    choices.append(value)
        shown = ", ".join(str(c) for c in choices)
        return [(prefix + tuple(here), "BASE_TYPE_CHOICES", f"Value must be one of {{{shown}}}.")]
    branches: dict[Any, list[SchemaError]] = {}
    for sub in error.context:
        branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(branch, []).append(sub)

    def discriminator_failed(subs: list[SchemaError]) -> bool:
        for sub in subs:
            sub_path = list(sub.absolute_path)
            if sub_path == here and sub.validator == "type":
                return True
            if sub_path == [*here, "type"]:
                return True
        return False

    candidates = [subs for subs in branches.values() if not discriminator_failed(subs)]
    if candidates:
        chosen = min(candidates, key=len)
        entries: list[tuple[tuple, str, str]] = []
        for sub in chosen:
            entries.extend(_schema_error_entries(sub, prefix))
        return entries
    path = prefix + tuple(here)
    if isinstance(error.instance, dict) and "type" in error.instance:
        values: set[Any] = set()
        for sub in error.context:
            if list(sub.absolute_path) != [*here, "type"]:
                continue
            if sub.validator == "const":
                values.add(sub.validator_value)
            elif sub.validator == "enum":
                values.update(sub.validator_value)
        allowed = sorted(values, key=lambda v: (str(type(v)), v))
        shown = ",".join(str(a) for a in allowed)
        return [
            (
                (*path, "type"),
                "UNION_TYPE_CHOICES",
                f'Value of field "type" must be one of ({shown}).',
            )
        ]
    best = best_match(error.context)
    if best is not None and best.validator not in ("oneOf", "anyOf"):
        return _schema_error_entries(best, prefix)
    return [(path, "UNION_TYPE_CHOICES", "Value does not match any of the accepted types.")]


def _schema_errors(cause: BaseException | None) -> list[SchemaError]:
    if isinstance(cause, InvalidSchemaValue):
        return list(cause.schema_errors)
    return []


def _to_discord_error(errors: list[Exception]) -> DiscordError:
    for error in errors:
        if isinstance(error, PathNotFound | ServerNotFound) and not isinstance(
            error, OperationNotFound
        ):
            return DiscordError(404, 0, "404: Not Found")
        if isinstance(error, OperationNotFound):
            return DiscordError(405, 0, "405: Method Not Allowed")
    if any(isinstance(e, SecurityValidationError) for e in errors):
        return DiscordError(401, 0, "401: Unauthorized")

    tree: dict[str, Any] = {}

    def add(path: tuple, code: str, message: str) -> None:
        node = tree
        for part in path:
            node = node.setdefault(str(part), {})
        # One error per field: a wrong type also fails the field's enum, which
        # would only repeat the same problem.
        if "_errors" not in node:
            node["_errors"] = [{"code": code, "message": message}]

    for error in errors:
        cause = error.__cause__
        if isinstance(error, ParameterValidationError):
            prefix: tuple = (error.name,)
            if isinstance(error, MissingParameterError):
                add(prefix, "BASE_TYPE_REQUIRED", "This field is required")
                continue
            schema_errors = _schema_errors(cause) if isinstance(error, InvalidParameter) else []
            if not schema_errors:
                add(prefix, "BASE_TYPE_INVALID", f"Invalid value: {cause or error}")
            for schema_error in schema_errors:
                for path, code, message in _schema_error_entries(schema_error, prefix):
                    add(path, code, message)
        elif isinstance(cause, MediaTypeNotFound):
            accepted = ", ".join(cause.availableMimetypes)
            add((), "CONTENT_TYPE_INVALID", f"Content-Type must be one of: {accepted}")
        elif isinstance(error, InvalidRequestBody):
            schema_errors = _schema_errors(cause)
            if not schema_errors:
                add((), "BASE_TYPE_INVALID", f"Invalid request body: {cause or error}")
            for schema_error in schema_errors:
                for path, code, message in _schema_error_entries(schema_error, ()):
                    add(path, code, message)
        elif isinstance(error, MissingRequestBodyError):
            add((), "BASE_TYPE_REQUIRED", "A request body is required")
        else:
            add((), "BASE_TYPE_INVALID", str(error))
    return invalid_form_body(tree)


def flatten_errors(errors: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``["In embeds.0.title: Could not interpret ...", ...]``: the errors tree as text."""
    lines = []
    for key, node in errors.items():
        if key == "_errors":
            for item in node:
                lines.append(f"In {prefix or '(body)'}: {item['message']}")
        elif isinstance(node, Mapping):
            lines.extend(flatten_errors(node, f"{prefix}.{key}" if prefix else key))
    return lines
