import json
from pathlib import Path

import pytest

from sandbox.rules import limits
from sandbox.rules.errors import DiscordError
from sandbox.rules.openapi import SpecValidator, api_path, flatten_errors

AUTH = {"Authorization": "Bot token"}
MESSAGES = "/api/v10/channels/123/messages"
CALLBACK = "/api/v10/interactions/1/tok/callback"
CAPTURED = json.loads(
    (Path(__file__).parent / "data" / "discordpy_requests.json").read_text("utf-8")
)


def send(
    validator, method, path, body=None, *, headers=AUTH, content_type="application/json", query=None
):
    raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    validator.validate(
        method, path, query or {}, headers, raw, content_type if raw is not None else None
    )


def rejected(validator, *args, **kwargs) -> DiscordError:
    with pytest.raises(DiscordError) as info:
        send(validator, *args, **kwargs)
    return info.value


def multipart(parts: list[tuple[str, str | None, bytes]], boundary="XyZ") -> tuple[bytes, str]:
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return b"".join(
        chunks
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_shared_validator_is_loaded_once(spec_validator):
    assert SpecValidator.shared() is spec_validator
    assert spec_validator.load_seconds > 0


def test_valid_create_message_passes(spec_validator):
    send(
        spec_validator,
        "POST",
        MESSAGES,
        {"content": "hello", "tts": False, "embeds": [{"title": "t"}]},
    )


@pytest.mark.parametrize("entry", CAPTURED, ids=[f"{e['method']} {e['path']}" for e in CAPTURED])
def test_discord_py_requests_pass(spec_validator, entry):
    headers = {} if "/interactions/" in entry["path"] or "/webhooks/" in entry["path"] else AUTH
    send(spec_validator, entry["method"], entry["path"], entry["json"], headers=headers)


def test_discord_py_message_and_modal_payloads_pass_limits():
    for entry in CAPTURED:
        body = entry["json"]
        if entry["path"].endswith("/messages") and entry["method"] == "POST":
            limits.check_message(body)
        elif entry["path"].endswith("/callback") and body["type"] == 9:
            limits.check_modal(body["data"])
        elif entry["path"].endswith("/callback") and body["type"] in (4, 7):
            limits.check_message(body["data"], is_edit=body["type"] == 7)
        elif "/commands" in entry["path"]:
            limits.check_command(body)


def test_wrong_types_rejected_with_discord_errors_tree(spec_validator):
    err = rejected(spec_validator, "POST", MESSAGES, {"content": 5})
    assert (err.status, err.code, err.message) == (400, 50035, "Invalid Form Body")
    assert err.errors == {
        "content": {
            "_errors": [
                {"code": "BASE_TYPE_STRING", "message": 'Could not interpret "5" as string.'}
            ]
        }
    }
    err = rejected(spec_validator, "POST", MESSAGES, {"content": "x", "tts": "yes"})
    assert err.errors == {
        "tts": {
            "_errors": [{"code": "BASE_TYPE_BOOLEAN", "message": "Must be either true or false."}]
        }
    }


def test_nested_errors_name_the_field(spec_validator):
    body = {"content": "x", "embeds": [{"title": "ok"}, {"title": 5, "fields": [{"name": "a"}]}]}
    err = rejected(spec_validator, "POST", MESSAGES, body)
    assert err.errors["embeds"]["1"]["title"]["_errors"][0]["code"] == "BASE_TYPE_STRING"
    assert (
        err.errors["embeds"]["1"]["fields"]["0"]["value"]["_errors"][0]["code"]
        == "BASE_TYPE_REQUIRED"
    )
    assert flatten_errors(err.errors) == [
        'In embeds.1.title: Could not interpret "5" as string.',
        "In embeds.1.fields.0.value: This field is required",
    ]


def test_missing_required_field(spec_validator):
    err = rejected(spec_validator, "POST", "/api/v10/guilds/1/channels", {"type": 0})
    assert err.errors == {
        "name": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}
    }


def test_unions_report_the_matching_branch_or_the_discriminator(spec_validator):
    row = {"type": 1, "components": [{"type": 2, "style": 1, "label": 7, "custom_id": "a"}]}
    err = rejected(spec_validator, "POST", MESSAGES, {"components": [row]})
    assert (
        err.errors["components"]["0"]["components"]["0"]["label"]["_errors"][0]["code"]
        == "BASE_TYPE_STRING"
    )
    err = rejected(spec_validator, "POST", MESSAGES, {"components": [{"type": 99}]})
    entry = err.errors["components"]["0"]["type"]["_errors"][0]
    assert entry["code"] == "UNION_TYPE_CHOICES"
    assert "1," in entry["message"]
    err = rejected(spec_validator, "POST", CALLBACK, {"type": 42}, headers={})
    assert err.errors["type"]["_errors"][0]["code"] == "UNION_TYPE_CHOICES"


def test_enum_written_as_union_of_constants(spec_validator):
    modal = {
        "type": 9,
        "data": {
            "title": "t",
            "custom_id": "c",
            "components": [
                {"type": 18, "label": "l", "component": {"type": 4, "custom_id": "x", "style": 9}}
            ],
        },
    }
    err = rejected(spec_validator, "POST", CALLBACK, modal, headers={})
    style = err.errors["data"]["components"]["0"]["component"]["style"]["_errors"][0]
    assert style == {"code": "BASE_TYPE_CHOICES", "message": "Value must be one of {1, 2}."}


def test_invalid_json_is_50109(spec_validator):
    err = rejected(spec_validator, "POST", MESSAGES, b"{not json")
    assert (err.status, err.code) == (400, 50109)


def test_security_needs_authorization_header(spec_validator):
    err = rejected(spec_validator, "POST", MESSAGES, {"content": "x"}, headers={})
    assert (err.status, err.code, err.message) == (401, 0, "401: Unauthorized")
    # Interaction callbacks and webhook-token routes need no bot token.
    send(spec_validator, "POST", CALLBACK, {"type": 5}, headers={})
    send(spec_validator, "POST", "/api/v10/webhooks/1/tok", {"content": "x"}, headers={})


def test_unknown_path_and_method(spec_validator):
    assert rejected(spec_validator, "GET", "/api/v10/nope").status == 404
    err = rejected(spec_validator, "DELETE", "/api/v10/users/@me")
    assert (err.status, err.message) == (405, "405: Method Not Allowed")


def test_path_and_query_parameters(spec_validator):
    err = rejected(spec_validator, "POST", "/api/v10/channels/abc/messages", {"content": "x"})
    assert err.errors == {
        "channel_id": {
            "_errors": [{"code": "NUMBER_TYPE_COERCE", "message": 'Value "abc" is not snowflake.'}]
        }
    }
    err = rejected(spec_validator, "GET", MESSAGES, query={"limit": "500"})
    assert err.errors["limit"]["_errors"][0]["code"] == "NUMBER_TYPE_MAX"
    send(spec_validator, "GET", MESSAGES, query={"limit": "50"})


def test_snowflakes_may_be_integers_and_permissions_strings(spec_validator):
    body = {
        "name": "team",
        "permission_overwrites": [{"id": 42, "type": 0, "allow": "1024", "deny": 0}],
    }
    send(spec_validator, "POST", "/api/v10/guilds/1/channels", body)
    err = rejected(spec_validator, "POST", "/api/v10/guilds/1/roles", {"permissions": "eight"})
    assert "permissions" in err.errors
    err = rejected(
        spec_validator, "POST", "/api/v10/guilds/1/channels", {"name": "x", "parent_id": -5}
    )
    assert "parent_id" in err.errors


def test_encoded_original_message_path(spec_validator):
    send(
        spec_validator,
        "PATCH",
        "/api/v10/webhooks/1/tok/messages/%40original",
        {"content": "x"},
        headers={},
    )


def test_multipart_payload_json_is_validated_as_json(spec_validator):
    body, ctype = multipart(
        [
            (
                "payload_json",
                None,
                b'{"content": "file", "attachments": [{"id": 0, "filename": "a.txt"}]}',
            ),
            ("files[0]", "a.txt", b"hello"),
        ]
    )
    send(spec_validator, "POST", MESSAGES, body, content_type=ctype)
    body, ctype = multipart(
        [("payload_json", None, b'{"tts": 3}'), ("files[0]", "a.txt", b"hello")]
    )
    err = rejected(spec_validator, "POST", MESSAGES, body, content_type=ctype)
    assert err.errors["tts"]["_errors"][0]["code"] == "BASE_TYPE_BOOLEAN"
    # Without payload_json the text fields form the document.
    body, ctype = multipart([("content", None, b"plain form")])
    send(spec_validator, "POST", MESSAGES, body, content_type=ctype)


def test_multipart_only_operation_checks_all_but_body(spec_validator):
    body, ctype = multipart([("name", None, b"sticker"), ("file", "s.png", b"\x89PNG")])
    send(spec_validator, "POST", "/api/v10/guilds/1/stickers", body, content_type=ctype)
    assert (
        rejected(
            spec_validator,
            "POST",
            "/api/v10/guilds/1/stickers",
            body,
            headers={},
            content_type=ctype,
        ).status
        == 401
    )


def test_unsupported_content_type(spec_validator):
    err = rejected(spec_validator, "POST", MESSAGES, b"hi", content_type="text/plain")
    assert err.errors["_errors"][0]["code"] == "CONTENT_TYPE_INVALID"


def test_missing_body(spec_validator):
    err = rejected(spec_validator, "POST", MESSAGES, None)
    assert err.errors["_errors"][0]["code"] == "BASE_TYPE_REQUIRED"


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("/api/v10/channels/1", "/api/v10/channels/1"),
        ("/api/v9/channels/1", "/api/v10/channels/1"),
        ("/channels/1", "/api/v10/channels/1"),
        ("/api/v10/channels/1/messages?limit=5", "/api/v10/channels/1/messages"),
        ("/api/v10/webhooks/1/t/messages/%40original", "/api/v10/webhooks/1/t/messages/@original"),
        ("/api/v10/a%2Fb", "/api/v10/a%2Fb"),
    ],
)
def test_api_path(local, expected):
    assert api_path(local) == expected


@pytest.mark.slow
def test_vendored_spec_passes_full_spec_validation():
    # The shared validator skips openapi-spec-validator at load (~4 s); this proves that is safe.
    validator = SpecValidator(check_spec=True)
    send(validator, "POST", MESSAGES, {"content": "x"})
